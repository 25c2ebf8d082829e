package leakcheck

import (
	"strings"
	"testing"
	"time"
)

// TestLeftover: a goroutine started after the snapshot and still blocked is reported with
// its stack; once it ends, nothing is; goroutines from before the snapshot never are.
func TestLeftover(t *testing.T) {
	before := make(chan struct{})
	go func() { <-before }()
	defer close(before)

	s := Take()
	release := make(chan struct{})
	ended := make(chan struct{})
	go func() { defer close(ended); blockedHere(release) }()
	left := s.Leftover(50 * time.Millisecond)
	if len(left) != 1 || !strings.Contains(left[0], "leakcheck.blockedHere") {
		t.Fatalf("leftover while blocked: %q", left)
	}
	close(release)
	<-ended
	if left := s.Leftover(Timeout); len(left) != 0 {
		t.Fatalf("leftover after it ended: %q", left)
	}
}

func blockedHere(c chan struct{}) { <-c }
