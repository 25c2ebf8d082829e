//go:build vmtest

package vm

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTransientMaster: the master stalls (SIGSTOP) just long enough for the backup's
// Master_Down_Interval to expire, and resumes while the backup is still programming IPVS.
// The backup yields at the master's first advert; the LAN must end up pointing at the
// master. Before the fix, the ex-backup went on to claim the VIP and send its gratuitous
// ARPs after the master's re-announcement, then dropped the VIP: the client's neighbour
// entry pointed at a node without the VIP, and traffic was blackholed until the entry
// expired (seconds). A large table on the backup makes its IPVS sync slow enough for the
// master's advert to arrive before the VIP would be claimed.
func TestTransientMaster(t *testing.T) {
	p := newPair(t)
	for _, n := range []*node{p.a, p.b} {
		n.write(conf{bulk: 500})
	}
	p.elect()
	a, b := p.a, p.b
	if _, err := p.client.get(web, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	aMark, bMark := a.mark(), b.mark()
	if err := a.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			a.proc.Signal(syscall.SIGCONT)
		}
	}()
	if _, _, err := b.proc.WaitFor(bMark, func(l string) bool { return strings.Contains(l, `"to":"MASTER"`) }, b.mdi()+slack+grace); err != nil {
		t.Fatalf("b did not take over from the stopped master: %v", err)
	}
	if err := a.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	eventually(t, slack, "b yields: backup, without the VIP and our services", func() bool {
		return b.state() == "BACKUP" && !b.hasVIP() && len(b.ours()) == 0
	})
	claimed := "claimed the VIP and sent gratuitous ARPs before yielding"
	if _, ok := b.logFind(bMark, func(l logLine) bool { return strings.HasPrefix(l.Msg, "left master before claiming") }); ok {
		claimed = "yielded before claiming the VIP"
	}
	t.Logf("transient master b %s", claimed)
	// The master's re-announcement comes one advert interval after it saw b.
	eventually(t, advertInt+slack, "client's neighbour entry for the VIP points at a", func() bool {
		mac, _, ok := p.client.h.Neighbor(vip)
		return ok && mac.String() == a.h.MAC().String()
	})
	if _, err := p.client.get(web, 2*time.Second); err != nil {
		t.Errorf("request through the VIP after the episode: %v", err)
	}
	if tr := a.transitions(aMark); len(tr) > 0 {
		t.Errorf("a changed state: %+v", tr)
	}
}
