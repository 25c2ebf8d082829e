package healthcheck

// minHeap is a binary min-heap of elements that record their own position (through
// setIndex, -1 once they leave), so that their owner can Fix or Remove them where they are.
//
// It moves elements as container/heap does, step for step, so elements that compare equal
// come out in the same order as they did with it; it shifts a hole instead of swapping,
// which records each position once instead of twice. The order and the position are
// funcs rather than methods of T because Go compiles a method call on a type parameter
// through a dictionary, slower here than calling a func value (figures in README.md).
type minHeap[T any] struct {
	items    []T
	less     func(a, b T) bool
	setIndex func(x T, i int)
}

func newMinHeap[T any](less func(a, b T) bool, setIndex func(x T, i int)) minHeap[T] {
	return minHeap[T]{less: less, setIndex: setIndex}
}

// Len is the number of elements.
func (h *minHeap[T]) Len() int { return len(h.items) }

// Min is the least element; the heap must not be empty.
func (h *minHeap[T]) Min() T { return h.items[0] }

// Items are the elements in heap order, for reading or changing in place before Init.
func (h *minHeap[T]) Items() []T { return h.items }

// Init restores the heap order after elements were changed in place.
func (h *minHeap[T]) Init() {
	n := len(h.items)
	for i := n/2 - 1; i >= 0; i-- {
		h.down(i, n)
	}
}

// Push adds x.
func (h *minHeap[T]) Push(x T) {
	h.items = append(h.items, x)
	h.up(len(h.items)-1, x)
}

// Remove takes out and returns the element at position i.
func (h *minHeap[T]) Remove(i int) T {
	s := h.items
	n := len(s) - 1
	x := s[i]
	if n != i {
		// As container/heap: the last element takes i's place and moves from there.
		last := s[n]
		s[i] = last
		h.setIndex(last, i)
		if !h.down(i, n) {
			h.up(i, last)
		}
	}
	var zero T
	s[n] = zero // no reference from the spare capacity
	h.items = s[:n]
	h.setIndex(x, -1)
	return x
}

// Fix restores the heap order after the element at position i changed its key.
func (h *minHeap[T]) Fix(i int) {
	if !h.down(i, len(h.items)) {
		h.up(i, h.items[i])
	}
}

// Clear empties the heap and returns what it held, in heap order. The elements keep the
// positions they had.
func (h *minHeap[T]) Clear() []T {
	s := h.items
	h.items = nil
	return s
}

// up moves x, at position j, towards the root while it is less than its parent.
func (h *minHeap[T]) up(j int, x T) {
	s := h.items
	for j > 0 {
		i := (j - 1) / 2 // parent
		if !h.less(x, s[i]) {
			break
		}
		s[j] = s[i]
		h.setIndex(s[j], j)
		j = i
	}
	s[j] = x
	h.setIndex(x, j)
}

// down moves the element at i0 towards the leaves of s[:n] while a child is less than it,
// and reports whether it moved.
func (h *minHeap[T]) down(i0, n int) bool {
	s := h.items
	x := s[i0]
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && h.less(s[j2], s[j1]) {
			j = j2 // right child
		}
		if !h.less(s[j], x) {
			break
		}
		s[i] = s[j]
		h.setIndex(s[i], i)
		i = j
	}
	s[i] = x
	h.setIndex(x, i)
	return i > i0
}
