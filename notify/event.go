package notify

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind says what changed state: a VRRP instance, a sync group, a real server, a virtual
// server's quorum, or a VIP announced over BGP.
type Kind uint8

const (
	Instance Kind = iota
	Group
	RealServer
	BGP // Name is the prefix
	// Quorum: a virtual server gained (Up) or lost (Down) quorum; the hooks are its
	// quorum_up and quorum_down, run with no words appended, as keepalived runs them.
	Quorum
)

// String is the word keepalived uses for the kind in notify arguments and FIFO lines.
func (k Kind) String() string {
	switch k {
	case Instance:
		return "INSTANCE"
	case Group:
		return "GROUP"
	case RealServer:
		return "REALSERVER"
	case BGP:
		return "BGP"
	case Quorum:
		return "VS"
	}
	return "UNKNOWN"
}

// State is the state an event reports, spelled as keepalived passes it to scripts.
type State string

const (
	Master State = "MASTER"
	Backup State = "BACKUP"
	Fault  State = "FAULT"
	Stop   State = "STOP"
	Up     State = "UP"
	Down   State = "DOWN"
	// A [[bgp.vip]] announced to, or withdrawn from, the BGP routers.
	Announce State = "ANNOUNCE"
	Withdraw State = "WITHDRAW"
)

// Hooks are the command lines configured for the state an event reports. The caller picks
// Specific (notify_master, notify_backup, notify_fault, notify_stop, notify_up or
// notify_down) from its configuration; Generic is the instance's or group's `notify`.
type Hooks struct {
	Specific string
	Generic  string
	Timeout  time.Duration // 0 = Options.DefaultTimeout
}

// Event is one state change to report. Submit takes ownership of VIPs: the caller must
// not change the slice afterwards.
type Event struct {
	Kind      Kind
	Name      string // instance or group name; for a real server an optional label
	State     State
	PrevState State // empty when unknown (the first state after start)
	Priority  int   // instances only: groups always report 0, as keepalived does
	VIPs      []netip.Prefix
	VRID      int    // instances; 0 = unknown
	Interface string // instances; empty = unknown

	// Real servers and quorum. A virtual server is either VirtualServer or, when FWMark is
	// non-zero, a firewall mark.
	VirtualServer netip.AddrPort
	FWMark        uint32
	Protocol      string // "tcp" (default), "udp" or "sctp": only the FIFO line shows it
	RealServer    netip.AddrPort

	Hooks Hooks
}

// key identifies the queue that orders an event's hooks.
func (ev *Event) key() string {
	switch ev.Kind {
	case RealServer:
		return "REALSERVER " + ev.virtualServer() + " " + ev.RealServer.String()
	case Quorum:
		return "VS " + ev.virtualServer()
	}
	return ev.Kind.String() + " " + ev.Name
}

func (ev *Event) priority() int {
	if ev.Kind == Group {
		return 0
	}
	return ev.Priority
}

// virtualServer is the virtual server as the appended arguments and the environment show
// it: "192.0.2.100:80", "[2001:db8::1]:80" or "fwmark:7".
func (ev *Event) virtualServer() string {
	if ev.FWMark != 0 {
		return "fwmark:" + strconv.FormatUint(uint64(ev.FWMark), 10)
	}
	return ev.VirtualServer.String()
}

// appendedArgs are the words added after the configured arguments of a hook. keepalived
// adds `INSTANCE|GROUP <name> <state> <priority>` to the generic `notify` only. For real
// servers hadirector's schema appends `REALSERVER <vs> <rs> UP|DOWN` to notify_up and
// notify_down (keepalived 2.2 appends nothing there; extra trailing words are harmless to
// scripts that read $1..$n).
func (ev *Event) appendedArgs(generic bool) []string {
	switch ev.Kind {
	case RealServer:
		return []string{"REALSERVER", ev.virtualServer(), ev.RealServer.String(), string(ev.State)}
	case BGP:
		// Like a real server's: notify_announce and notify_withdraw get BGP <prefix> <state>.
		return []string{"BGP", ev.Name, string(ev.State)}
	}
	if !generic || ev.Kind == Quorum {
		return nil
	}
	return []string{ev.Kind.String(), ev.Name, string(ev.State), strconv.Itoa(ev.priority())}
}

// cleanPath is the whole inherited environment a hook gets besides the HADIRECTOR_ facts:
// the daemon's own environment is none of the script's business.
const cleanPath = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

// env is the environment of every hook run for ev.
func (ev *Event) env() []string {
	env := []string{
		cleanPath,
		"HADIRECTOR_TYPE=" + ev.Kind.String(),
		"HADIRECTOR_STATE=" + string(ev.State),
	}
	add := func(k, v string) {
		if v != "" {
			env = append(env, "HADIRECTOR_"+k+"="+v)
		}
	}
	add("NAME", ev.Name)
	add("PREV_STATE", string(ev.PrevState))
	switch ev.Kind {
	case RealServer:
		add("VIRTUALSERVER", ev.virtualServer())
		add("REALSERVER", ev.RealServer.String())
		add("PROTOCOL", ev.protocol())
	case BGP:
	case Quorum:
		add("VIRTUALSERVER", ev.virtualServer())
		add("PROTOCOL", ev.protocol())
	default:
		add("PRIORITY", strconv.Itoa(ev.priority()))
		if ev.VRID > 0 {
			add("VRID", strconv.Itoa(ev.VRID))
		}
		add("INTERFACE", ev.Interface)
		if len(ev.VIPs) > 0 {
			vips := make([]string, len(ev.VIPs))
			for i, p := range ev.VIPs {
				vips[i] = p.String()
			}
			add("VIPS", strings.Join(vips, " "))
		}
	}
	return env
}

func (ev *Event) protocol() string {
	if ev.Protocol == "" {
		return "tcp"
	}
	return ev.Protocol
}

// fifoLine is the line keepalived writes to notify_fifo for ev:
//
//	INSTANCE "VI_1" MASTER 100
//	GROUP "VG_1" BACKUP 0
//	RS [198.51.100.11]:tcp:80 [192.0.2.100]:tcp:80 UP
//	VS [192.0.2.100]:tcp:80 DOWN
//
// (real servers: address, then virtual server, each as [addr]:proto:port; a firewall-mark
// virtual server is "FWM 7").
func (ev *Event) fifoLine() []byte {
	var b []byte
	switch ev.Kind {
	case Quorum:
		b = append(b, "VS "...)
		b = appendVS(b, ev)
		b = append(b, ' ')
		b = append(b, ev.State...)
	case RealServer:
		b = append(b, "RS "...)
		b = appendTrio(b, ev.RealServer, ev.protocol())
		b = append(b, ' ')
		b = appendVS(b, ev)
		b = append(b, ' ')
		b = append(b, ev.State...)
	default:
		b = append(b, ev.Kind.String()...)
		b = append(b, " \""...)
		b = append(b, ev.Name...)
		b = append(b, "\" "...)
		b = append(b, ev.State...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(ev.priority()), 10)
	}
	return append(b, '\n')
}

// appendVS appends the event's virtual server as fifoLine writes it.
func appendVS(b []byte, ev *Event) []byte {
	if ev.FWMark != 0 {
		b = append(b, "FWM "...)
		return strconv.AppendUint(b, uint64(ev.FWMark), 10)
	}
	return appendTrio(b, ev.VirtualServer, ev.protocol())
}

func appendTrio(b []byte, ap netip.AddrPort, proto string) []byte {
	b = append(b, '[')
	b = ap.Addr().AppendTo(b)
	b = append(b, "]:"...)
	b = append(b, proto...)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(ap.Port()), 10)
}

// hookName is the configuration keyword of a hook, for logs.
func (ev *Event) hookName(generic bool) string {
	if generic {
		return "notify"
	}
	if ev.Kind == Quorum {
		return "quorum_" + strings.ToLower(string(ev.State))
	}
	return "notify_" + strings.ToLower(string(ev.State))
}

// logAttrs are the stable log attributes naming what the event is about.
func (ev *Event) logAttrs() []any {
	switch ev.Kind {
	case Group:
		return []any{"group", ev.Name}
	case RealServer:
		return []any{"service", ev.virtualServer(), "backend", ev.RealServer.String()}
	case Quorum:
		return []any{"service", ev.virtualServer()}
	}
	return []any{"instance", ev.Name}
}
