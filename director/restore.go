package director

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// watchAddrs puts back an address of a master's that someone else deleted (`ip addr
// del`, another tool): the master would keep advertising and answer nothing for it.
func (d *Director) watchAddrs(ctx context.Context) error {
	run, err := d.ifaces.WatchAddrs(ctx, func(ifname string, p netip.Prefix) {
		d.post(func(time.Time) { d.addrRemoved(ifname, p) })
	}, func(err error) {
		if ctx.Err() == nil {
			d.log.Error("netlink address updates", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("director: subscribe to address updates: %w", err)
	}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); run() }()
	return nil
}

// addrRemoved runs on the loop: the instance whose address p on ifname is queues its
// restoration, which its effects worker does only while master (and so never fights the
// worker's own removal, which comes before it in the queue).
func (d *Director) addrRemoved(ifname string, p netip.Prefix) {
	for _, in := range d.instances {
		for _, s := range in.sp.sets {
			if s.iface == ifname && slices.Contains(s.vips, p) {
				in.effects.push(effect{kind: effRestore, sp: in.sp, gone: []addrSet{{iface: s.iface, opts: s.opts, vips: []netip.Prefix{p}}}})
				return
			}
		}
	}
}
