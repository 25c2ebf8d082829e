package bench

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMsJSONRoundTrip(t *testing.T) {
	for _, m := range []Ms{NotSeen, 0, Ms(1234567 * time.Nanosecond), Ms(3612 * time.Millisecond), Ms(-5 * time.Microsecond)} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var got Ms
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		// MarshalJSON keeps 4 decimals of a millisecond: 100 ns.
		if d := time.Duration(got - m); d < -100 || d > 100 {
			t.Errorf("%v → %s → %v", time.Duration(m), b, time.Duration(got))
		}
	}
	var m Ms
	if err := json.Unmarshal([]byte(`"x"`), &m); err == nil {
		t.Error("a string decoded as milliseconds")
	}
}

func TestSummarise(t *testing.T) {
	st := Summarise([]Ms{Ms(3 * time.Millisecond), NotSeen, Ms(1 * time.Millisecond), Ms(2 * time.Millisecond), Ms(10 * time.Millisecond)})
	if st.N != 4 || st.Median != Ms(2500*time.Microsecond) || st.Worst != Ms(10*time.Millisecond) || st.Best != Ms(time.Millisecond) {
		t.Errorf("Summarise = %+v", st)
	}
	if st := Summarise([]Ms{NotSeen}); st.N != 0 || st.Median.Seen() {
		t.Errorf("Summarise of nothing seen = %+v", st)
	}
}
