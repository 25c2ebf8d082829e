package director

import (
	"context"
	"log/slog"
	"testing"

	"github.com/hadirector/hadirector/internal/leakcheck"
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
