package lvs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// FormatOptions choose Format's output.
type FormatOptions struct {
	// Info fills the header line; the zero Info prints version 0.0.0.
	Info Info
	// Stats prints the counters (ipvsadm -Ln --stats) instead of the
	// scheduler, flags, weights and connection counts (ipvsadm -Ln).
	Stats bool
	// Exact prints counters in full instead of with K/M/G/T (ipvsadm --exact).
	Exact bool
	// JSON prints the Listing as JSON instead.
	JSON bool
	// Owned, if set, marks the services that are ours in the JSON form.
	Owned func(Service) bool
	// Timeouts, if set, are included in the JSON form.
	Timeouts *Timeouts
}

// Format writes t with its stats (which may be nil) the way `ipvsadm -Ln` (or
// `ipvsadm -Ln --stats`) prints the kernel table, column for column, or as JSON.
func Format(w io.Writer, t Table, st Stats, opts FormatOptions) error {
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(NewListing(t, st, opts))
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "IP Virtual Server version %s (size=%d)\n", versionOr(opts.Info.Version), opts.Info.ConnTableSize)
	if opts.Stats {
		fmt.Fprintf(bw, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	} else {
		fmt.Fprint(bw, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
	for _, k := range t.Keys() {
		e := t[k]
		svc := e.Service.Normalize()
		ss := st[k]
		if ss == nil {
			ss = &ServiceStats{}
		}
		if opts.Stats {
			fmt.Fprintf(bw, "%-33s", ipvsadmServiceName(svc.Key))
			writeCounters(bw, ss.Counters, opts.Exact)
		} else {
			fmt.Fprintf(bw, "%s %s", ipvsadmServiceName(svc.Key), svc.Scheduler)
			if f := SchedulerFlagNames(svc.Scheduler, svc.Flags); len(f) > 0 {
				fmt.Fprintf(bw, " (%s)", strings.Join(f, ","))
			}
			if svc.Flags&FlagPersistent != 0 {
				fmt.Fprintf(bw, " persistent %d", int64(svc.Timeout/time.Second))
				if svc.Netmask != svc.Family.Bits() {
					if svc.Family == IPv4 {
						fmt.Fprintf(bw, " mask %s", maskString(svc.Netmask))
					} else {
						fmt.Fprintf(bw, " mask %d", svc.Netmask)
					}
				}
			}
			if svc.Flags&FlagOnePacket != 0 {
				fmt.Fprint(bw, " ops")
			}
		}
		fmt.Fprint(bw, "\n")
		for _, d := range e.SortedDestinations() {
			ds := ss.Dests[d.Addr]
			if opts.Stats {
				fmt.Fprintf(bw, "  -> %-28s", ipvsadmAddr(d.Addr))
				writeCounters(bw, ds.Counters, opts.Exact)
				fmt.Fprint(bw, "\n")
			} else {
				fmt.Fprintf(bw, "  -> %-28s %-7s %-6d %-10d %-10d\n", ipvsadmAddr(d.Addr),
					d.Forwarding.ipvsadmName(), d.Weight, ds.ActiveConns, ds.InactiveConns)
			}
		}
	}
	return bw.Flush()
}

func versionOr(v string) string {
	if v == "" {
		return "0.0.0"
	}
	return v
}

// ipvsadmServiceName is the first column: "TCP  192.0.2.100:80", "FWM  7 IPv6".
func ipvsadmServiceName(k Key) string {
	if k.IsFWMark() {
		if k.Family == IPv6 {
			return fmt.Sprintf("FWM  %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM  %d", k.FWMark)
	}
	return fmt.Sprintf("%-4s %s", strings.ToUpper(k.Protocol.String()), ipvsadmAddr(k.Addr))
}

// ipvsadmAddr is AddrPort.String with ipvsadm's form for IPv6: [addr]:port.
func ipvsadmAddr(a netip.AddrPort) string {
	if a.Addr().Is6() {
		return "[" + a.Addr().String() + "]:" + fmt.Sprint(a.Port())
	}
	return a.String()
}

func maskString(bits int) string {
	var b [4]byte
	for i := range bits {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b).String()
}

func writeCounters(w io.Writer, c Counters, exact bool) {
	for _, v := range []uint64{c.Conns, c.PacketsIn, c.PacketsOut, c.BytesIn, c.BytesOut} {
		fmt.Fprint(w, largeNum(v, exact))
	}
}

// largeNum is ipvsadm's print_largenum: 9 columns, with K, M, G or T once the
// number no longer fits.
func largeNum(v uint64, exact bool) string {
	if exact {
		s := fmt.Sprint(v)
		return fmt.Sprintf("%*s", max(9, len(s)+1), s)
	}
	switch {
	case v < 100_000_000:
		return fmt.Sprintf("%9d", v)
	case v < 1_000_000_000:
		return fmt.Sprintf("%8dK", v/1_000)
	case v < 100_000_000_000:
		return fmt.Sprintf("%8dM", v/1_000_000)
	case v < 100_000_000_000_000:
		return fmt.Sprintf("%8dG", v/1_000_000_000)
	}
	return fmt.Sprintf("%8dT", v/1_000_000_000_000)
}

// Listing is the JSON form of a table: `hadirector lvs --json` and status.
type Listing struct {
	Version       string           `json:"version"`
	ConnTableSize int              `json:"conn_table_size"`
	Timeouts      *ListingTimeouts `json:"timeouts,omitempty"`
	Services      []ListingService `json:"services"`
}

// ListingTimeouts are the kernel's connection timeouts in seconds.
type ListingTimeouts struct {
	TCP    int64 `json:"tcp"`
	TCPFin int64 `json:"tcpfin"`
	UDP    int64 `json:"udp"`
}

// ListingService is one service of a Listing.
type ListingService struct {
	Name           string   `json:"name"` // Key.String
	Family         string   `json:"family"`
	Protocol       string   `json:"protocol,omitempty"`
	Address        string   `json:"address,omitempty"`
	FWMark         uint32   `json:"fwmark,omitempty"`
	Scheduler      string   `json:"scheduler"`
	SchedulerFlags []string `json:"scheduler_flags,omitempty"`
	Persistent     bool     `json:"persistent"`
	// PersistenceTimeout is in seconds.
	PersistenceTimeout int64                `json:"persistence_timeout,omitempty"`
	PersistenceNetmask int                  `json:"persistence_netmask,omitempty"`
	OnePacket          bool                 `json:"one_packet"`
	Owned              *bool                `json:"owned,omitempty"`
	Stats              Counters             `json:"stats"`
	Destinations       []ListingDestination `json:"destinations"`
}

// ListingDestination is one destination of a ListingService.
type ListingDestination struct {
	Address        string    `json:"address"`
	Forwarding     string    `json:"forwarding"`
	Weight         int       `json:"weight"`
	UpperThreshold uint32    `json:"upper_threshold"`
	LowerThreshold uint32    `json:"lower_threshold"`
	Stats          DestStats `json:"stats"`
}

// NewListing builds the JSON form of t, in ipvsadm's order.
func NewListing(t Table, st Stats, opts FormatOptions) Listing {
	l := Listing{Version: versionOr(opts.Info.Version), ConnTableSize: opts.Info.ConnTableSize, Services: []ListingService{}}
	if to := opts.Timeouts; to != nil {
		l.Timeouts = &ListingTimeouts{TCP: int64(to.TCP / time.Second), TCPFin: int64(to.TCPFin / time.Second), UDP: int64(to.UDP / time.Second)}
	}
	for _, k := range t.Keys() {
		e := t[k]
		svc := e.Service.Normalize()
		ls := ListingService{
			Name:           k.String(),
			Family:         k.Family.String(),
			FWMark:         k.FWMark,
			Scheduler:      svc.Scheduler,
			SchedulerFlags: SchedulerFlagNames(svc.Scheduler, svc.Flags),
			Persistent:     svc.Flags&FlagPersistent != 0,
			OnePacket:      svc.Flags&FlagOnePacket != 0,
			Destinations:   []ListingDestination{},
		}
		if !k.IsFWMark() {
			ls.Protocol = k.Protocol.String()
			ls.Address = k.Addr.String()
		}
		if ls.Persistent {
			ls.PersistenceTimeout = int64(svc.Timeout / time.Second)
			ls.PersistenceNetmask = svc.Netmask
		}
		if opts.Owned != nil {
			o := opts.Owned(svc)
			ls.Owned = &o
		}
		ss := st[k]
		if ss != nil {
			ls.Stats = ss.Counters
		}
		for _, d := range e.SortedDestinations() {
			ld := ListingDestination{
				Address:        d.Addr.String(),
				Forwarding:     d.Forwarding.String(),
				Weight:         d.Weight,
				UpperThreshold: d.UpperThreshold,
				LowerThreshold: d.LowerThreshold,
			}
			if ss != nil {
				ld.Stats = ss.Dests[d.Addr]
			}
			ls.Destinations = append(ls.Destinations, ld)
		}
		l.Services = append(l.Services, ls)
	}
	return l
}
