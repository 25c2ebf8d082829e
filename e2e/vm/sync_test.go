//go:build vmtest

package vm

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadirector/hadirector/lvs"
)

// Connection sync ([lvs.sync_daemon]): 100 long-lived TCP connections through the VIP,
// each exchanging a line with its real server every 100 ms, and the master loses power
// (kill -9 and its LAN cable pulled). The survivors are the connections that go on
// working through the new master. The directors have a dedicated sync link (sync0,
// 203.0.113.0/30) for the kernel's sync daemons.

const (
	echoPort   = 7000 // the long-lived connections' service
	flows      = 100
	flowPause  = 100 * time.Millisecond
	syncSource = 8 // client source addresses (192.0.2.51-58): persistence is per client address
)

var echo = netip.AddrPortFrom(vip, echoPort)

// syncCase is one failover set-up and its outcome.
type syncCase struct {
	name       string
	sync       bool   // [lvs.sync_daemon] on sync0
	onBackup   string // "" = the default (keep with sync, withdraw without)
	sloppy     bool   // sysctl_sloppy_tcp = "on"
	sched      string // of the echo service; "" = rr
	flags      string // its scheduler_flags, TOML
	persistent bool   // the echo service has persistence_timeout 300s
	// preemptWait > 0: [lvs.sync_daemon] preempt_wait; after the failover a comes back
	// and must wait that long before it preempts, with the connections synced back to it.
	preemptWait time.Duration
}

func (c syncCase) conf() conf {
	var l string
	if c.onBackup != "" {
		l += fmt.Sprintf("on_backup = %q\n", c.onBackup)
	}
	if c.sloppy {
		l += "sysctl_sloppy_tcp = \"on\"\n"
	}
	if c.sync {
		l += "\n[lvs.sync_daemon]\ninterface = \"sync0\"\ninstance = \"VI_1\"\n"
		if c.preemptWait > 0 {
			l += fmt.Sprintf("preempt_wait = %q\n", c.preemptWait)
		}
	}
	sched := c.sched
	if sched == "" {
		sched = "rr"
	}
	vs := fmt.Sprintf("\n[[virtual_server]]\naddress = %q\nprotocol = \"tcp\"\nscheduler = %q\nforwarding = \"dr\"\n", echo, sched)
	if c.flags != "" {
		vs += "scheduler_flags = " + c.flags + "\n"
	}
	if c.persistent {
		vs += "persistence_timeout = \"300s\"\n"
	}
	for i := range rsAddrs {
		vs += fmt.Sprintf("  [[virtual_server.real_server]]\n  address = %q\n", rsAddr(i, echoPort))
	}
	return conf{lvs: l, moreVS: vs}
}

// outcome is what a failover did to the connections.
type outcome struct {
	survived, total int
	why             map[string]int // how the others ended
	sticky          int            // of syncSource clients, how many kept their real server on :8080
	synced          int            // echo connection entries on the backup before the failover
	bound           int            // connections b counts on its echo real servers after the failover
}

// TestSyncFailover: with connection sync every connection survives the master's power
// loss, with and without persistence, and persistence templates carry over (a client
// keeps its real server). With on_backup = "withdraw" it finds out what the entries
// synced to a backup without the services are worth once it becomes master.
func TestSyncFailover(t *testing.T) {
	for _, c := range []syncCase{
		{name: "sync", sync: true, preemptWait: 6 * time.Second},
		{name: "sync-persistent", sync: true, persistent: true},
		{name: "sync-withdraw", sync: true, onBackup: "withdraw"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := runSyncCase(t, c)
			switch c.name {
			case "sync", "sync-persistent":
				if o.survived != o.total {
					t.Errorf("%d of %d connections survived the failover with connection sync; want all (others: %v)", o.survived, o.total, o.why)
				}
				if o.sticky != syncSource {
					t.Errorf("%d of %d clients kept their real server on the persistent service across the failover; want all", o.sticky, syncSource)
				}
				if o.bound != o.total {
					t.Errorf("b binds %d of %d synced connections to its real servers; want all (on_backup = keep)", o.bound, o.total)
				}
			case "sync-withdraw":
				// Entries synced into a table without the services have no real server
				// bound: established DR connections still forward (the entry carries the
				// real server's address and forwarding method), but a persistence template
				// without one is invalid to the scheduler, which starts a new one — so
				// on_backup defaults to "keep" with sync.
				if o.survived != o.total {
					t.Errorf("on_backup = withdraw: %d of %d connections survived (others: %v)", o.survived, o.total, o.why)
				}
				if o.bound != 0 || o.sticky != 0 {
					t.Errorf("on_backup = withdraw: b binds %d synced connections and %d/%d clients kept their real server; "+
						"the kernel was seen to bind none and keep none (if this changed, on_backup need not default to keep with sync)",
						o.bound, o.sticky, syncSource)
				}
				t.Logf("on_backup = withdraw: %d/%d connections survived, %d bound to a real server; %d/%d clients kept their real server",
					o.survived, o.total, o.bound, o.sticky, syncSource)
			}
		})
	}
}

// TestSyncNone: the figures without connection sync, for the README's table: the new
// master's stack resets every connection it has no entry for; with sloppy_tcp it
// schedules them afresh (round robin: about half land on their real server), and with
// mh + mh-port every one does.
func TestSyncNone(t *testing.T) {
	for _, c := range []syncCase{
		{name: "none"},
		{name: "sloppy-rr", sloppy: true},
		{name: "sloppy-mh", sloppy: true, sched: "mh", flags: `["mh-port"]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := runSyncCase(t, c)
			switch c.name {
			case "none":
				if o.survived != 0 {
					t.Errorf("%d connections survived without sync or sloppy_tcp; the new master's stack should reset them all", o.survived)
				}
			case "sloppy-rr":
				if o.survived == 0 || o.survived == o.total {
					t.Errorf("sloppy_tcp with rr: %d of %d survived; want some but not all (rr reschedules)", o.survived, o.total)
				}
			case "sloppy-mh":
				if o.survived != o.total {
					t.Errorf("sloppy_tcp with mh + mh-port: %d of %d survived; want all (consistent hashing)", o.survived, o.total)
				}
			}
		})
	}
}

// runSyncCase builds the pair with the sync link, opens the connections, pulls the
// master's plug and counts the survivors.
func runSyncCase(t *testing.T, c syncCase) outcome {
	p := newPair(t)
	a, b := p.a, p.b
	syncLink(t, a, b)
	for _, n := range []*node{a, b} {
		n.write(c.conf())
	}
	var sources []netip.Addr
	for i := range syncSource {
		s := netip.AddrFrom4([4]byte{192, 0, 2, byte(51 + i)})
		p.client.h.MustRun(t, "ip", "addr", "add", s.String()+"/24", "dev", "eth0")
		sources = append(sources, s)
	}
	for i, r := range p.rs {
		startEcho(t, r, rsAddr(i, echoPort).Port())
	}
	p.elect()
	eventually(t, 5*time.Second, "a programs the echo service", func() bool { return len(a.view()[svcName(echo)]) == 2 })
	if c.sync {
		eventually(t, 5*time.Second, "a runs the master sync daemon, b the backup daemon", func() bool {
			sa, sb := a.status().LVS.SyncDaemon, b.status().LVS.SyncDaemon
			return sa != nil && sb != nil && sa.Role == "master" && sb.Role == "backup" &&
				len(sa.Running) == 1 && len(sb.Running) == 1
		})
	}

	// Who serves each client on the persistent HTTP service before the failover.
	before := map[netip.Addr]string{}
	for _, s := range sources {
		rs, err := p.client.getFrom(s, sticky)
		if err != nil {
			t.Fatalf("sticky request from %s: %v", s, err)
		}
		before[s] = rs
	}

	fs := make([]*flow, flows)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for i := range fs {
		f, err := p.client.openFlow(sources[i%len(sources)], echo)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		fs[i] = f
		t.Cleanup(func() { f.conn.Close() })
		wg.Go(func() { f.run(stop) })
	}
	served := map[string]int{}
	for _, f := range fs {
		served[f.rs]++
	}
	// Several exchanges each, so that every entry has passed the master daemon's sync
	// threshold (the 3rd packet; then every 50th).
	time.Sleep(2 * time.Second)
	o := outcome{total: flows, why: map[string]int{}}
	if c.sync {
		o.synced = strings.Count(b.h.MustRun(t, "ipvsadm", "-Lnc"), echo.String())
	}
	for _, f := range fs {
		if _, err := f.state(); err != nil {
			t.Fatalf("a connection failed before the failover: %v", err)
		}
	}

	p.client.h.PrimeNeighbor(vip)
	bMark := b.mark()
	a.proc.Kill()
	a.h.CablePull()
	eventually(t, b.mdi()+slack, "b master with the echo service", func() bool {
		return b.state() == "MASTER" && b.hasVIP() && len(b.view()[svcName(echo)]) == 2
	})
	tr, ok := b.becameMaster(bMark)
	if !ok {
		t.Fatal("b logged no transition to MASTER")
	}
	// Every connection either fails or completes an exchange through b (a request sent
	// after b took over: a is unplugged). Retransmissions back off to about 6 s after a
	// gap of Master_Down_Interval.
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		done := 0
		for _, f := range fs {
			if last, err := f.state(); err != nil || last.After(tr.Time) {
				done++
			}
		}
		if done == len(fs) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, f := range fs {
		last, err := f.state()
		switch {
		case err != nil:
			o.why[classify(err)]++
		case last.After(tr.Time):
			o.survived++
		default:
			o.why["stalled"]++
		}
	}
	// The connection entries b's table binds to its real servers (counted in their
	// active/inactive connections); entries without a real server still forward, but
	// are not counted.
	if _, stats, err := b.k.Snapshot(); err == nil && stats[lvs.AddrKey(lvs.TCP, echo)] != nil {
		for _, d := range stats[lvs.AddrKey(lvs.TCP, echo)].Dests {
			o.bound += int(d.ActiveConns + d.InactiveConns)
		}
	}
	// In reverse order: b's round robin starts afresh where a's did, so without the
	// templates every client would get the other real server.
	for _, s := range slices.Backward(sources) {
		rs, err := p.client.getFrom(s, sticky)
		if err != nil {
			t.Errorf("sticky request from %s after the failover: %v", s, err)
			continue
		}
		if rs == before[s] {
			o.sticky++
		}
	}
	if c.preemptWait > 0 {
		preemptBack(t, p, c.preemptWait, fs)
	}
	var sd string
	if st := b.status().LVS.SyncDaemon; st != nil {
		sd = fmt.Sprintf("; b's sync daemon role %s (%d switches), kernel runs %d", st.Role, st.Switches, len(st.Running))
	}
	t.Logf("%s: %d/%d connections survived the failover (others: %v); %d/%d clients kept their real server on %s; "+
		"before: connections per real server %v, %d echo entries synced to b; after: b counts %d connections on its real servers%s",
		c.name, o.survived, o.total, o.why, o.sticky, syncSource, sticky, served, o.synced, o.bound, sd)
	return o
}

// preemptBack restarts a after its power loss (rebooted: no VIP, but its stale table and
// master sync daemon still in the kernel) and checks that it joins as backup (swapping the
// stale master daemon for the backup daemon), waits preempt_wait before it preempts, and
// that the connections that survived the failover survive the preemption too.
func preemptBack(t *testing.T, p *pair, wait time.Duration, fs []*flow) {
	t.Helper()
	a, b := p.a, p.b
	a.h.MustRun(t, "ip", "addr", "del", vip.String()+"/24", "dev", "eth0")
	a.h.CablePlug()
	alive := 0
	for _, f := range fs {
		if _, err := f.state(); err == nil {
			alive++
		}
	}
	a.start()
	eventually(t, wait+a.mdi()+slack, "a preempts after preempt_wait: a master, b backup", func() bool {
		return a.state() == "MASTER" && b.state() == "BACKUP" && a.hasVIP()
	})
	joined, ok := a.logFind(0, func(l logLine) bool { return l.Msg == "state transition" && l.From == "INIT" })
	master, ok2 := a.becameMaster(0)
	if !ok || !ok2 {
		t.Fatal("a logged no INIT and MASTER transitions")
	}
	held := master.Time.Sub(joined.Time)
	t.Logf("a rejoined as %s and preempted %v later (preempt_wait %v)", joined.To, held.Round(time.Millisecond), wait)
	// The log lines come a little after the instants the state machine used.
	if joined.To != "BACKUP" || held < wait-100*time.Millisecond {
		t.Errorf("a joined as %s and preempted after %v; want BACKUP and at least preempt_wait %v", joined.To, held, wait)
	}
	eventually(t, 5*time.Second, "a runs only the master sync daemon, b only the backup daemon", func() bool {
		sa, sb := a.status().LVS.SyncDaemon, b.status().LVS.SyncDaemon
		return sa.Role == "master" && sb.Role == "backup" && len(sa.Running) == 1 && sa.Running[0].Role == 1 &&
			len(sb.Running) == 1 && sb.Running[0].Role == 2
	})
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) {
		done := 0
		for _, f := range fs {
			if last, err := f.state(); err != nil || last.After(master.Time) {
				done++
			}
		}
		if done == len(fs) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	survived, why := 0, map[string]int{}
	for _, f := range fs {
		switch last, err := f.state(); {
		case err != nil:
			why[classify(err)]++
		case last.After(master.Time):
			survived++
		default:
			why["stalled"]++
		}
	}
	t.Logf("preemption back to a: %d of the %d connections alive before it kept working (others: %v)", survived, alive, why)
	if survived != alive {
		t.Errorf("%d of %d connections survived the preemption back to a; want all", survived, alive)
	}
}

// syncLink joins the directors with a veth pair of their own, sync0, addressed
// 203.0.113.1/30 and .2 (the sync daemons bind to the interface's address).
func syncLink(t *testing.T, a, b *node) {
	t.Helper()
	out, err := exec.Command("ip", "link", "add", "sync0", "netns", a.h.NS(), "type", "veth", "peer", "name", "sync0", "netns", b.h.NS()).CombinedOutput()
	if err != nil {
		t.Fatalf("sync link: %v: %s", err, out)
	}
	for i, n := range []*node{a, b} {
		n.h.MustRun(t, "ip", "addr", "add", fmt.Sprintf("203.0.113.%d/30", i+1), "dev", "sync0")
		n.h.MustRun(t, "ip", "link", "set", "sync0", "up")
	}
}

// startEcho serves, on port of the real server's namespace, lines answered with the real
// server's name.
func startEcho(t *testing.T, r *realServer, port uint16) {
	t.Helper()
	var ln net.Listener
	if err := r.h.Do(func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("%s: echo: %v", r.name, err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				br := bufio.NewReader(c)
				for {
					if _, err := br.ReadString('\n'); err != nil {
						c.Close()
						return
					}
					if _, err := fmt.Fprintln(c, r.name); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// getFrom makes one request on a new connection from source address src and returns
// who answered.
func (c *client) getFrom(src netip.Addr, to netip.AddrPort) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.dialFrom(ctx, src, to)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	var body string
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		body = sc.Text() // the last line is the real server's name
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return strings.TrimSpace(body), nil
}

func (c *client) dialFrom(ctx context.Context, src netip.Addr, to netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := c.h.Do(func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		conn, err = d.DialContext(ctx, "tcp4", to.String())
		return err
	})
	return conn, err
}

// flow is one long-lived connection exchanging a line with its real server every
// flowPause; it stops at the first failure.
type flow struct {
	conn net.Conn
	br   *bufio.Reader
	rs   string // who answers

	mu     sync.Mutex
	lastOK time.Time
	err    error
}

func (c *client) openFlow(src netip.Addr, to netip.AddrPort) (*flow, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.dialFrom(ctx, src, to)
	if err != nil {
		return nil, err
	}
	f := &flow{conn: conn, br: bufio.NewReader(conn)}
	if f.rs, err = f.exchange(5 * time.Second); err != nil {
		conn.Close()
		return nil, err
	}
	f.lastOK = time.Now()
	return f, nil
}

func (f *flow) exchange(timeout time.Duration) (string, error) {
	_ = f.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintln(f.conn, "ping"); err != nil {
		return "", err
	}
	line, err := f.br.ReadString('\n')
	return strings.TrimSpace(line), err
}

func (f *flow) run(stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(flowPause):
		}
		// Long enough for TCP's retransmissions to outlast the failover.
		rs, err := f.exchange(30 * time.Second)
		if err == nil && rs != f.rs {
			err = fmt.Errorf("answered by %s instead of %s", rs, f.rs)
		}
		f.mu.Lock()
		if err != nil {
			f.err = err
		} else {
			f.lastOK = time.Now()
		}
		f.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (f *flow) state() (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastOK, f.err
}

func classify(err error) string {
	s := err.Error()
	for _, k := range []string{"reset", "refused", "timeout", "answered by", "EOF", "closed"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}
