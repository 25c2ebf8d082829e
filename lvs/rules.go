package lvs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// WriteRules writes t in the form `ipvsadm -Sn` saves and `ipvsadm -R` restores,
// preceded by a `--set` line when timeouts has a non-zero field:
//
//	--set 30 5 60
//	-A -t 192.0.2.100:80 -s rr -p 300
//	-a -t 192.0.2.100:80 -r 198.51.100.11:80 -g -w 1
//
// The options come in ipvsadm 1.31's order (tunnel destinations with --tun-type
// ipip); unlike ipvsadm -S it also writes thresholds (-x, -y), so that what it writes
// restores to t.
func WriteRules(w io.Writer, t Table, timeouts Timeouts) error {
	bw := bufio.NewWriter(w)
	if timeouts != (Timeouts{}) {
		fmt.Fprintf(bw, "--set %d %d %d\n", int64(timeouts.TCP/time.Second), int64(timeouts.TCPFin/time.Second), int64(timeouts.UDP/time.Second))
	}
	for _, k := range t.Keys() {
		e := t[k]
		svc := e.Service.Normalize()
		name := ruleServiceName(k)
		fmt.Fprintf(bw, "-A %s -s %s", name, svc.Scheduler)
		if svc.Flags&FlagPersistent != 0 {
			fmt.Fprintf(bw, " -p %d", int64(svc.Timeout/time.Second))
			if svc.Netmask != svc.Family.Bits() {
				if svc.Family == IPv4 {
					fmt.Fprintf(bw, " -M %s", maskString(svc.Netmask))
				} else {
					fmt.Fprintf(bw, " -M %d", svc.Netmask)
				}
			}
		}
		if svc.Flags&FlagOnePacket != 0 {
			fmt.Fprint(bw, " -o")
		}
		if f := SchedulerFlagNames(svc.Scheduler, svc.Flags); len(f) > 0 {
			fmt.Fprintf(bw, " -b %s", strings.Join(f, ","))
		}
		fmt.Fprint(bw, "\n")
		for _, d := range e.SortedDestinations() {
			fmt.Fprintf(bw, "-a %s -r %s %s -w %d", name, ipvsadmAddr(d.Addr), ruleForwarding(d.Forwarding), d.Weight)
			if d.UpperThreshold != 0 {
				fmt.Fprintf(bw, " -x %d", d.UpperThreshold)
			}
			if d.LowerThreshold != 0 {
				fmt.Fprintf(bw, " -y %d", d.LowerThreshold)
			}
			if d.Forwarding == ForwardTunnel {
				fmt.Fprint(bw, " --tun-type ipip")
			}
			fmt.Fprint(bw, "\n")
		}
	}
	return bw.Flush()
}

func ruleServiceName(k Key) string {
	if k.IsFWMark() {
		if k.Family == IPv6 {
			return fmt.Sprintf("-f %d -6", k.FWMark)
		}
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	opt := "--sctp-service"
	switch k.Protocol {
	case TCP:
		opt = "-t"
	case UDP:
		opt = "-u"
	}
	return opt + " " + ipvsadmAddr(k.Addr)
}

func ruleForwarding(f Forwarding) string {
	switch f {
	case ForwardNAT:
		return "-m"
	case ForwardTunnel:
		return "-i"
	}
	return "-g"
}

// ParseRules reads ipvsadm commands — the lines of `ipvsadm -Sn` or of a script
// of ipvsadm calls, with or without the leading "ipvsadm" — into a table and
// timeouts. It understands -A (--add-service), -a (--add-server), --set and -C
// (--clear, ignored), with -t -u --sctp-service -f -6 -s -p -M -b -o -r -g -m -i
// -w -x -y and their long forms. As in ipvsadm, a real server without a port
// takes the service's port, -p without a timeout means 300 seconds, and the
// defaults are scheduler wlc, forwarding -g and weight 1. Blank lines and # comments
// are skipped. Errors name the line.
func ParseRules(r io.Reader) (Table, Timeouts, error) {
	t := Table{}
	var to Timeouts
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		f := strings.Fields(text)
		if len(f) > 0 && (f[0] == "ipvsadm" || strings.HasSuffix(f[0], "/ipvsadm")) {
			f = f[1:]
		}
		if len(f) == 0 {
			continue
		}
		if err := parseRule(t, &to, f); err != nil {
			return nil, Timeouts{}, fmt.Errorf("lvs: rules line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, Timeouts{}, fmt.Errorf("lvs: rules: %w", err)
	}
	return t, to, nil
}

type ruleArgs struct {
	cmd     string
	svcKind string // "-t", "-u", "--sctp-service", "-f"
	svcArg  string
	v6      bool
	opts    map[string]string
	flags   map[string]bool
}

var ruleLong = map[string]string{
	"--add-service": "-A", "--add-server": "-a", "--clear": "-C",
	"--tcp-service": "-t", "--udp-service": "-u", "--fwmark-service": "-f", "--ipv6": "-6",
	"--scheduler": "-s", "--persistent": "-p", "--netmask": "-M", "--sched-flags": "-b", "--ops": "-o",
	"--real-server": "-r", "--gatewaying": "-g", "--masquerading": "-m", "--ipip": "-i",
	"--weight": "-w", "--u-threshold": "-x", "--l-threshold": "-y",
}

func parseRule(t Table, to *Timeouts, f []string) error {
	if f[0] == "--set" {
		if len(f) != 4 {
			return errors.New("--set needs three timeouts: tcp tcpfin udp")
		}
		var v [3]time.Duration
		for i, s := range f[1:] {
			n, err := strconv.ParseUint(s, 10, 31)
			if err != nil {
				return fmt.Errorf("--set: bad timeout %q", s)
			}
			v[i] = time.Duration(n) * time.Second
		}
		*to = Timeouts{TCP: v[0], TCPFin: v[1], UDP: v[2]}.Merge(*to)
		return nil
	}
	a := ruleArgs{opts: map[string]string{}, flags: map[string]bool{}}
	for i := 0; i < len(f); i++ {
		opt := f[i]
		if l, ok := ruleLong[opt]; ok {
			opt = l
		}
		next := func() (string, error) {
			if i+1 >= len(f) {
				return "", fmt.Errorf("%s needs an argument", f[i])
			}
			i++
			return f[i], nil
		}
		switch opt {
		case "-A", "-a", "-C":
			if a.cmd != "" {
				return fmt.Errorf("two commands: %s and %s", a.cmd, opt)
			}
			a.cmd = opt
		case "-t", "-u", "--sctp-service", "-f":
			if a.svcKind != "" {
				return errors.New("more than one service")
			}
			v, err := next()
			if err != nil {
				return err
			}
			a.svcKind, a.svcArg = opt, v
		case "-6":
			a.v6 = true
		case "-g", "-m", "-i", "-o":
			a.flags[opt] = true
		case "-p":
			a.flags[opt] = true
			if i+1 < len(f) && !strings.HasPrefix(f[i+1], "-") {
				i++
				a.opts[opt] = f[i]
			}
		case "--tun-type":
			// ipvsadm 1.31 saves tunnel destinations with their type; plain
			// IP-in-IP is the only one the model has.
			v, err := next()
			if err != nil {
				return err
			}
			if v != "ipip" {
				return fmt.Errorf("--tun-type %s is not supported (ipip only)", v)
			}
			a.opts[opt] = v
		case "-s", "-M", "-b", "-r", "-w", "-x", "-y":
			v, err := next()
			if err != nil {
				return err
			}
			a.opts[opt] = v
		default:
			return fmt.Errorf("unknown option %q", f[i])
		}
	}
	switch a.cmd {
	case "-C":
		return nil
	case "":
		return errors.New("no command (-A, -a, --set)")
	}
	k, err := a.key()
	if err != nil {
		return err
	}
	if a.cmd == "-A" {
		if _, dup := t[k]; dup {
			return fmt.Errorf("service %s is added twice", k)
		}
		svc, err := a.service(k)
		if err != nil {
			return err
		}
		t.Add(svc)
		return nil
	}
	e, ok := t[k]
	if !ok {
		return fmt.Errorf("real server of %s, which is not added before", k)
	}
	d, err := a.dest(k)
	if err != nil {
		return err
	}
	if _, dup := e.Destinations[d.Addr]; dup {
		return fmt.Errorf("real server %s of %s is added twice", d.Addr, k)
	}
	e.Destinations[d.Addr] = d
	return nil
}

func (a ruleArgs) key() (Key, error) {
	switch a.svcKind {
	case "":
		return Key{}, errors.New("no service (-t, -u, --sctp-service, -f)")
	case "-f":
		n, err := strconv.ParseUint(a.svcArg, 10, 32)
		if err != nil || n == 0 {
			return Key{}, fmt.Errorf("bad fwmark %q", a.svcArg)
		}
		fam := IPv4
		if a.v6 {
			fam = IPv6
		}
		return MarkKey(fam, uint32(n)), nil
	}
	ap, err := parseHostPort(a.svcArg, 0)
	if err != nil {
		return Key{}, err
	}
	p := map[string]Protocol{"-t": TCP, "-u": UDP, "--sctp-service": SCTP}[a.svcKind]
	return AddrKey(p, ap), nil
}

// parseHostPort parses "addr:port", "[v6]:port", "addr" or "[v6]" (port def).
func parseHostPort(s string, def uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(h)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q (numeric addresses only)", s)
	}
	return netip.AddrPortFrom(a.Unmap(), def), nil
}

func (a ruleArgs) service(k Key) (Service, error) {
	for _, o := range []string{"-r", "-w", "-x", "-y", "--tun-type"} {
		if _, ok := a.opts[o]; ok {
			return Service{}, fmt.Errorf("%s belongs to -a, not -A", o)
		}
	}
	svc := Service{Key: k, Scheduler: a.opts["-s"]}
	if b, ok := a.opts["-b"]; ok {
		for _, n := range strings.Split(b, ",") {
			switch n {
			case "sh-fallback", "mh-fallback", "flag-1":
				svc.Flags |= FlagSched1
			case "sh-port", "mh-port", "flag-2":
				svc.Flags |= FlagSched2
			case "flag-3":
				svc.Flags |= FlagSched3
			default:
				return Service{}, fmt.Errorf("unknown scheduler flag %q", n)
			}
		}
	}
	if a.flags["-p"] {
		svc.Flags |= FlagPersistent
		svc.Timeout = 300 * time.Second
		if v, ok := a.opts["-p"]; ok {
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil || n == 0 {
				return Service{}, fmt.Errorf("bad persistence timeout %q", v)
			}
			svc.Timeout = time.Duration(n) * time.Second
		}
	}
	if m, ok := a.opts["-M"]; ok {
		if k.Family == IPv6 {
			n, err := strconv.Atoi(m)
			if err != nil || n < 1 || n > 128 {
				return Service{}, fmt.Errorf("bad IPv6 netmask %q", m)
			}
			svc.Netmask = n
		} else {
			ma, err := netip.ParseAddr(m)
			if err != nil || !ma.Is4() {
				return Service{}, fmt.Errorf("bad netmask %q", m)
			}
			b := ma.As4()
			n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			ones := bits.LeadingZeros32(^n)
			if ones < 32 && n<<ones != 0 {
				return Service{}, fmt.Errorf("netmask %q is not contiguous", m)
			}
			svc.Netmask = ones
		}
	}
	if a.flags["-o"] {
		svc.Flags |= FlagOnePacket
	}
	for _, fl := range []string{"-g", "-m", "-i"} {
		if a.flags[fl] {
			return Service{}, fmt.Errorf("%s belongs to -a, not -A", fl)
		}
	}
	return svc.Normalize(), nil
}

func (a ruleArgs) dest(k Key) (Destination, error) {
	for _, o := range []string{"-s", "-M", "-b"} {
		if _, ok := a.opts[o]; ok {
			return Destination{}, fmt.Errorf("%s belongs to -A, not -a", o)
		}
	}
	if _, ok := a.opts["--tun-type"]; ok && !a.flags["-i"] {
		return Destination{}, errors.New("--tun-type needs -i")
	}
	if a.flags["-p"] || a.flags["-o"] {
		return Destination{}, errors.New("-p and -o belong to -A, not -a")
	}
	r, ok := a.opts["-r"]
	if !ok {
		return Destination{}, errors.New("-a needs -r")
	}
	addr, err := parseHostPort(r, k.Addr.Port())
	if err != nil {
		return Destination{}, err
	}
	d := Destination{Addr: addr, Weight: 1}
	n := 0
	for fl, fwd := range map[string]Forwarding{"-g": ForwardDR, "-m": ForwardNAT, "-i": ForwardTunnel} {
		if a.flags[fl] {
			d.Forwarding = fwd
			n++
		}
	}
	if n > 1 {
		return Destination{}, errors.New("more than one of -g, -m, -i")
	}
	num := func(o string, limit uint64) (uint64, error) {
		v, ok := a.opts[o]
		if !ok {
			return 0, nil
		}
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil || x > limit {
			return 0, fmt.Errorf("bad %s %q", o, v)
		}
		return x, nil
	}
	w, err := num("-w", 65535)
	if err != nil {
		return Destination{}, err
	}
	if _, ok := a.opts["-w"]; ok {
		d.Weight = int(w)
	}
	x, err := num("-x", 1<<32-1)
	if err != nil {
		return Destination{}, err
	}
	y, err := num("-y", 1<<32-1)
	if err != nil {
		return Destination{}, err
	}
	d.UpperThreshold, d.LowerThreshold = uint32(x), uint32(y)
	return d, nil
}
