//go:build linux

package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear histogram of durations: 16 sub-buckets per power of two, so a
// quantile is reported within 1/16 (6%) above its true value, in constant memory
// however many checks are recorded.
type hist struct {
	counts [1024]uint64
	n      uint64
	max    time.Duration
}

func bucket(v uint64) int {
	if v < 16 {
		return int(v)
	}
	e := bits.Len64(v) - 5
	return e*16 + int(v>>e)
}

// upper is the largest value in bucket i.
func upper(i int) uint64 {
	if i < 16 {
		return uint64(i)
	}
	e := i/16 - 1
	m := uint64(i%16 + 16)
	return (m+1)<<e - 1
}

func (h *hist) add(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the q-quantile (0 < q ≤ 1), rounded up to its bucket's bound.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	var c uint64
	for i, k := range h.counts {
		c += k
		if c >= rank {
			return min(time.Duration(upper(i)), h.max)
		}
	}
	return h.max
}
