package e2e

import (
	"syscall"
	"testing"
	"time"
)

// TestBackupStall stops the backup (SIGSTOP) for several Master_Down_Intervals while the
// master keeps advertising, then lets it go on, as a host that stalls it (an overloaded
// machine, a VM paused by its hypervisor) would. The adverts it missed wait in its socket,
// the last of them sent well within Master_Down_Interval: it reads them before it acts on
// its overdue timer, so it does not take over.
func TestBackupStall(t *testing.T) {
	p := newPair(t, 150, 100, "", "")
	p.elect()
	for round := range 5 {
		mark := len(p.b.transitions())
		if err := p.b.proc.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * p.b.mdi())
		if err := p.b.proc.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * interval)
		if tr := p.b.transitions()[mark:]; len(tr) > 0 {
			t.Fatalf("round %d: b changed state after a stall: %+v", round, tr)
		}
	}
}
