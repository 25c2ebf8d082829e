package director

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/internal/leakcheck"
	"github.com/hadirector/hadirector/vip"
	"github.com/hadirector/hadirector/vrrp"
)

// TestEffectsJoinTimers: an effects worker that has finished (its instance removed by a
// reload, or stopped at shutdown) leaves no timer behind — here the burst that answers a
// lower-priority master one advert interval later, while the director runs on.
func TestEffectsJoinTimers(t *testing.T) {
	cfg := parse(t, `
[[vrrp_instance]]
name = "VI_1"
interface = "eth0"
virtual_router_id = 51
priority = 100
version = 3
advert_int = "40s"
virtual_ipaddress = ["192.0.2.100/24"]
`)
	d := &Director{log: slog.New(slog.DiscardHandler), clock: systemClock{}}
	in := &instance{d: d, cfg: &cfg.Instances[0], sp: newSpec(&cfg.Instances[0])}
	in.sp.vipAddrs = nil // no announcer here: the bursts themselves send nothing
	e := newEffects(in)
	e.master = true
	ctx, cancel := context.WithCancel(context.Background()) // the director's: still running
	defer cancel()

	base := leakcheck.Take()
	go e.run(ctx)
	e.push(effect{kind: effAnnounce, assert: true})
	e.close()
	<-e.done
	base.Verify(t)
}

// TestEffectsFinishAfterClose: a worker that finds its instance closed with work still
// queued (shutdown queues the last transition and closes at once, while the worker may
// still be busy) does the work and ends. It did the work and then waited for a wake-up
// that closing had already spent: shutdown waited its whole second, logged "effects
// still running", and went on without it (seen as a hang of TestSyncGroup on the fake
// clock, 3 runs in 40).
func TestEffectsFinishAfterClose(t *testing.T) {
	// No GARP repeat: its timer would wake the worker.
	cfg := parse(t, strings.Replace(vrrpConfig(51, "192.0.2.100/24"), `status_socket = ""`, "status_socket = \"\"\ngarp_master_delay = \"0s\"", 1))
	os := newFakeOS()
	addrs := &blockingAddrs{fakeOS: os, entered: make(chan struct{}), release: make(chan struct{})}
	d := &Director{log: slog.New(slog.DiscardHandler), clock: systemClock{}, vips: addrs, notify: os}
	in := &instance{d: d, cfg: &cfg.Instances[0], sp: newSpec(&cfg.Instances[0]), announcer: &fakeAnnouncer{log: os.log}}
	e := newEffects(in)
	ctx, cancel := context.WithCancel(context.Background()) // the director's: still running
	defer cancel()
	go e.run(ctx)
	e.push(effect{kind: effTransition, from: vrrp.Backup, to: vrrp.Master})
	<-addrs.entered // the worker is busy with the transition
	e.push(effect{kind: effAnnounce})
	e.close()
	close(addrs.release)
	select {
	case <-e.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not end after its last effect")
	}
	inOrder(t, os.log.since(0, false), "garp", "notify INSTANCE VI_1 MASTER", "garp")
}

// blockingAddrs is the fake whose first Add waits for release.
type blockingAddrs struct {
	*fakeOS
	entered, release chan struct{}
	once             sync.Once
}

func (b *blockingAddrs) AddWith(ifname string, vips []netip.Prefix, o vip.AddrOptions) ([]netip.Prefix, error) {
	b.once.Do(func() { close(b.entered); <-b.release })
	return b.fakeOS.AddWith(ifname, vips, o)
}
