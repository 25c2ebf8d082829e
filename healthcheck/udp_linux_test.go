package healthcheck

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/lab"
)

// TestUDPHostUnreachable: a UDP check of an address where no host answers ARP fails with
// host unreachable (the kernel's own ICMP error once neighbour resolution gives up, about
// 3 s), as keepalived's does with IP_RECVERR, although no reply is required — on its own and
// on the engine, from a lab host.
func TestUDPHostUnreachable(t *testing.T) {
	l := lab.New(t)
	checker := l.Host("checker", "192.0.2.1/24", "2001:db8::1/64")
	e, err := newConnEngine(SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, a := range []string{"192.0.2.9:53", "[2001:db8::9]:53"} {
		c := &UDP{Addr: netip.MustParseAddrPort(a), Timeout: 30 * time.Second}
		wg.Add(2)
		go func() {
			defer wg.Done()
			var err error
			checker.Do(func() error { err = c.Check(context.Background()); return nil })
			errs <- err
		}()
		go func() {
			defer wg.Done()
			got := make(chan error, 1)
			p := c.probe()
			checker.Do(func() error {
				e.exchange(p.addr, p.bindTo, p.x, time.Now().Add(c.Timeout), func(err error, _ time.Time) { got <- p.failure(err, c.Timeout) })
				return nil
			})
			errs <- <-got
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		wantReason(t, err, ReasonUnreachable, "udp ", "no route to host")
	}
}
