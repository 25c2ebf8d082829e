package healthcheck

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	key, id int
	index   int
}

func newItemHeap() minHeap[*item] {
	return newMinHeap(func(a, b *item) bool { return a.key < b.key }, func(x *item, i int) { x.index = i })
}

// refHeap is the same heap on container/heap, which minHeap must match step for step.
type refHeap []*item

func (h refHeap) Len() int           { return len(h) }
func (h refHeap) Less(i, j int) bool { return h[i].key < h[j].key }
func (h refHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index, h[j].index = i, j }
func (h *refHeap) Push(x any)        { x.(*item).index = len(*h); *h = append(*h, x.(*item)) }
func (h *refHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	x.index = -1
	return x
}

func checkIndexes(t *testing.T, h *minHeap[*item]) {
	t.Helper()
	s := h.Items()
	if h.Len() != len(s) {
		t.Fatalf("Len %d, %d items", h.Len(), len(s))
	}
	for i, x := range s {
		if x.index != i {
			t.Fatalf("element %d (key %d) records index %d", i, x.key, x.index)
		}
		if i > 0 && x.key < s[(i-1)/2].key {
			t.Fatalf("element %d (key %d) is before its parent (key %d)", i, x.key, s[(i-1)/2].key)
		}
	}
	if len(s) > 0 && h.Min() != s[0] {
		t.Fatal("Min is not the first element")
	}
}

// Taking the least element until none is left sorts, whatever was pushed and removed.
func TestMinHeapSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		h := newItemHeap()
		var want []int
		n := r.IntN(100)
		for i := range n {
			x := &item{key: r.IntN(20 + round), id: i}
			h.Push(x)
			want = append(want, x.key)
			checkIndexes(t, &h)
		}
		// Remove a few from anywhere.
		for range r.IntN(n/2 + 1) {
			x := h.Remove(r.IntN(h.Len()))
			if x.index != -1 {
				t.Fatalf("removed element records index %d", x.index)
			}
			want = slices.Delete(want, slices.Index(want, x.key), slices.Index(want, x.key)+1)
			checkIndexes(t, &h)
		}
		slices.Sort(want)
		var got []int
		for h.Len() > 0 {
			got = append(got, h.Remove(0).key)
			checkIndexes(t, &h)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: got %v, want %v", round, got, want)
		}
	}
}

// The same random operations on minHeap and on container/heap leave the elements in the
// same positions, ties included: the monitor's order of equal slots is unchanged.
func TestMinHeapMatchesContainerHeap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 100 {
		h := newItemHeap()
		var ref refHeap
		mine := map[int]*item{} // by id, minHeap's copy
		theirs := map[int]*item{}
		next := 0
		same := func(op string) {
			t.Helper()
			s := h.Items()
			if len(s) != len(ref) {
				t.Fatalf("round %d after %s: %d elements, reference %d", round, op, len(s), len(ref))
			}
			for i := range s {
				if s[i].id != ref[i].id || s[i].key != ref[i].key || s[i].index != ref[i].index {
					t.Fatalf("round %d after %s: position %d holds %+v, reference %+v", round, op, i, *s[i], *ref[i])
				}
			}
			checkIndexes(t, &h)
		}
		for range 300 {
			switch op := r.IntN(10); {
			case op < 4 || h.Len() == 0:
				k := r.IntN(8) // few keys: many ties
				a, b := &item{key: k, id: next}, &item{key: k, id: next}
				mine[next], theirs[next] = a, b
				next++
				h.Push(a)
				heap.Push(&ref, b)
				same("push")
			case op < 6:
				i := r.IntN(h.Len())
				a, b := h.Remove(i), heap.Remove(&ref, i).(*item)
				if a.id != b.id {
					t.Fatalf("round %d: Remove(%d) = id %d, reference %d", round, i, a.id, b.id)
				}
				same("remove")
			case op < 9:
				i, k := r.IntN(h.Len()), r.IntN(8)
				h.Items()[i].key, ref[i].key = k, k
				h.Fix(i)
				heap.Fix(&ref, i)
				same("fix")
			default:
				for i, x := range h.Items() {
					k := r.IntN(8)
					x.key, ref[i].key = k, k
				}
				h.Init()
				heap.Init(&ref)
				same("init")
			}
		}
	}
}

// BenchmarkHeap is the scheduler's pattern: the least element gets a later key and is
// fixed in place, among 10 000.
func BenchmarkHeap(b *testing.B) {
	const n = 10_000
	keys := func() []int {
		r := rand.New(rand.NewPCG(5, 6))
		k := make([]int, n)
		for i := range k {
			k[i] = r.IntN(n)
		}
		return k
	}
	b.Run("minHeap", func(b *testing.B) {
		h := newItemHeap()
		for i, k := range keys() {
			h.Push(&item{key: k, id: i})
		}
		for b.Loop() {
			h.Min().key += n
			h.Fix(0)
		}
	})
	b.Run("container-heap", func(b *testing.B) {
		var h refHeap
		for i, k := range keys() {
			heap.Push(&h, &item{key: k, id: i})
		}
		for b.Loop() {
			h[0].key += n
			heap.Fix(&h, 0)
		}
	})
}
