//go:build linux

package main

import (
	"strings"
	"testing"
	"time"
)

func TestHist(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.07 {
			t.Errorf("quantile(%v) = %v, want %v within +7%%", tc.q, got, tc.want)
		}
	}
	if h.max != time.Second {
		t.Errorf("max %v", h.max)
	}
	for v := uint64(0); v < 1<<20; v += 7 {
		if b := bucket(v); upper(b) < v || (b > 0 && upper(b-1) >= v) {
			t.Fatalf("value %d in bucket %d with bounds (%d, %d]", v, b, upper(b-1), upper(b))
		}
	}
}

func TestKeepalivedConf(t *testing.T) {
	o := options{interval: time.Second, timeout: time.Second, perAddr: 100, basePort: 20000}
	c := keepalivedConf(o, 150)
	for _, want := range []string{"delay_loop 1", "lb_kind NAT", "real_server 127.1.0.1 20000 {", "real_server 127.1.0.2 20049 {", "TCP_CHECK {", "connect_timeout 1"} {
		if !strings.Contains(c, want) {
			t.Errorf("keepalived.conf lacks %q", want)
		}
	}
	if backendAddr(149, 100, 20000).String() != "127.1.0.2:20049" || backendAddr(250*100, 100, 20000).String() != "127.1.1.1:20000" {
		t.Error("backendAddr")
	}
}
