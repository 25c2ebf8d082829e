package healthcheck

import "testing"

func TestTracker(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rise, fall int
		up         bool
		results    string // T pass, F fail
		changes    string // '^' up, 'v' down, '.' no change, per result
	}{
		{"fall 3", 1, 3, true, "FFFF", "..v."},
		{"fall 3 interrupted", 1, 3, true, "FFTFFF", ".....v"},
		{"rise 2 from down", 2, 1, false, "TFTTT", "...^."},
		{"start down rise 1", 1, 1, false, "TFT", "^v^"},
		{"zero means one", 0, 0, true, "FTF", "v^v"},
		{"agreeing results reset", 3, 3, true, "TTFFTFFF", ".......v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(tc.rise, tc.fall, tc.up)
			if tr.Up() != tc.up {
				t.Fatalf("start-up state %v, want %v", tr.Up(), tc.up)
			}
			var got []byte
			for _, r := range tc.results {
				ok := r == 'T'
				switch {
				case !tr.Observe(ok):
					got = append(got, '.')
				case tr.Up():
					got = append(got, '^')
				default:
					got = append(got, 'v')
				}
			}
			if string(got) != tc.changes {
				t.Errorf("changes %q, want %q", got, tc.changes)
			}
		})
	}
}

func TestTrackerPending(t *testing.T) {
	tr := NewTracker(2, 3, true)
	for i, want := range []int{1, 2, 0} {
		tr.Observe(false)
		if tr.Pending() != want {
			t.Errorf("after %d failures Pending = %d, want %d", i+1, tr.Pending(), want)
		}
	}
	if tr.Up() {
		t.Fatal("still up after fall failures")
	}
	tr.Observe(true)
	if tr.Pending() != 1 {
		t.Errorf("Pending = %d after one success toward rise 2", tr.Pending())
	}
}
