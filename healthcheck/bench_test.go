package healthcheck

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTCPCheck measures one TCP check against a loopback listener (the listener's
// accept loop runs in the same process, so the CPU per op covers both ends).
func BenchmarkTCPCheck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr, err := netipAddrPort(ln.Addr())
	if err != nil {
		b.Fatal(err)
	}
	c := &TCP{Addr: addr, Timeout: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if err := c.Check(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the user+system time of the test process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func netipAddrPort(a net.Addr) (netip.AddrPort, error) { return netip.ParseAddrPort(a.String()) }
