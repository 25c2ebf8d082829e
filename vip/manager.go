package vip

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultStateFile is where the daemon records the VIPs it added. /run is a tmpfs: after a
// reboot the file is gone, and so are the addresses it described.
const DefaultStateFile = "/run/hadirector/vips.json"

// maxLabelLen is the longest IPv4 address label the kernel takes (IFNAMSIZ-1).
const maxLabelLen = 15

var (
	// ErrLabel is returned for an IPv4 address label that does not start with the
	// interface name or is longer than 15 bytes.
	ErrLabel = errors.New("vip: bad address label")
	// ErrStateFile marks a failure to write the state file. The address operation itself
	// went ahead (a VIP that cannot be recorded is still claimed: failing over matters more
	// than the bookkeeping), so a caller may log it and carry on.
	ErrStateFile = errors.New("vip: state file not written")
)

// errNoInterface is what addrOps return when the interface does not exist.
var errNoInterface = errors.New("no such interface")

// errExists is what addrOps.add returns when the kernel already has the address.
var errExists = errors.New("address already present")

// addrOps is the kernel side of a Manager: netlink on Linux, a map in unit tests.
type addrOps interface {
	// list returns the addresses on ifname, or errNoInterface.
	list(ifname string) ([]netip.Prefix, error)
	// add adds p to ifname; o's label and broadcast apply to IPv4 only.
	add(ifname string, p netip.Prefix, o AddrOptions) error
	// del removes p from ifname; an address already gone is not an error.
	del(ifname string, p netip.Prefix) error
	// routeAdd adds r, or returns errRouteExists.
	routeAdd(r Route) error
	// routeDel removes r; a route already gone is not an error.
	routeDel(r Route) error
	// ruleAdd adds r, or returns errRouteExists; ruleDel removes it (gone is no error).
	ruleAdd(r Rule) error
	ruleDel(r Rule) error
	close() error
}

// AddrOptions are what `ip addr add` takes besides the address.
type AddrOptions struct {
	// Label (e.g. "eth0:1") applies to IPv4 addresses.
	Label string
	// Scope is the address scope (unix.RT_SCOPE_*); 0 is global.
	Scope uint8
	// Broadcast is the IPv4 broadcast address; the zero Addr sets none.
	Broadcast netip.Addr
}

// Manager adds and removes VIPs and remembers, in a state file, which addresses it added,
// so that a restarted daemon knows which addresses are its own. It is safe for concurrent
// use.
type Manager struct {
	path string
	log  *slog.Logger
	ops  addrOps

	mu    sync.Mutex
	owned map[string]map[netip.Addr]record // interface → address → what we added
	// routes are the routes we added (AddRoutes).
	routes []Route
	rules  []Rule
}

type record struct {
	Prefix netip.Prefix `json:"prefix"`
	Label  string       `json:"label,omitempty"`
}

// stateFile is the JSON on disk.
type stateFile struct {
	Version int          `json:"version"`
	VIPs    []stateEntry `json:"vips"`
	Routes  []Route      `json:"routes,omitempty"`
	Rules   []Rule       `json:"rules,omitempty"`
}

type stateEntry struct {
	Interface string `json:"interface"`
	record
}

const stateVersion = 1

func newManager(stateFile string, log *slog.Logger, ops addrOps) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{path: stateFile, log: log, ops: ops, owned: map[string]map[netip.Addr]record{}}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

// Close releases the netlink sockets. The state file stays: it is for the next run.
func (m *Manager) Close() error { return m.ops.close() }

// Add claims vips on ifname and returns those it added. An address the interface already
// has is neither an error nor added again, and is not recorded as ours unless it already
// was (an address put there by hand stays the administrator's). label (e.g. "eth0:1")
// applies to IPv4 addresses, as in `ip addr add … label`; IPv6 addresses have no labels
// and are added with IFA_F_NODAD, so they are usable at once instead of tentative for the
// duration of duplicate address detection (the old master still holds the address, and
// would make DAD fail).
//
// Each new address is recorded in the state file before it is added, so a crash in between
// leaves at worst a record of an address that is not there, never an address that is not
// recorded. Per-VIP failures do not stop the others; the error joins them.
func (m *Manager) Add(ifname string, vips []netip.Prefix, label string) (added []netip.Prefix, err error) {
	return m.AddWith(ifname, vips, AddrOptions{Label: label})
}

// AddWith is Add with the address options of o (keepalived's virtual_ipaddress "label",
// "scope" and "brd").
func (m *Manager) AddWith(ifname string, vips []netip.Prefix, o AddrOptions) (added []netip.Prefix, err error) {
	label := o.Label
	m.mu.Lock()
	defer m.mu.Unlock()

	if label != "" && (!strings.HasPrefix(label, ifname) || len(label) > maxLabelLen) {
		// vishvananda/netlink used to make this check and no longer does; the kernel takes
		// any label, but `ip` and keepalived expect the interface-name prefix.
		return nil, fmt.Errorf("vip: add on %s: %w %q: must start with the interface name and be at most %d bytes",
			ifname, ErrLabel, label, maxLabelLen)
	}
	present, err := m.present(ifname)
	if err != nil {
		return nil, fmt.Errorf("vip: add on %s: %w", ifname, err)
	}
	var errs []error
	var todo []netip.Prefix
	for _, p := range vips {
		p, perr := checkPrefix(p)
		if perr != nil {
			errs = append(errs, fmt.Errorf("vip: add %s on %s: %w", p, ifname, perr))
			continue
		}
		if cur, ok := present[p.Addr()]; ok {
			if cur.Bits() != p.Bits() {
				m.log.Warn("VIP already on the interface with another prefix length; left as it is",
					"vip", p, "interface", ifname, "present", cur)
			}
			continue
		}
		if slices.ContainsFunc(todo, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			continue // listed twice
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return nil, errors.Join(errs...)
	}

	for _, p := range todo {
		m.record(ifname, p, labelFor(p, label))
	}
	stateErr := m.save()

	unrecorded := false
	for _, p := range todo {
		po := o
		if !p.Addr().Is4() {
			po.Label, po.Broadcast = "", netip.Addr{}
		}
		err := m.ops.add(ifname, p, po)
		switch {
		case errors.Is(err, errExists):
			// Appeared since we listed: someone else's, not ours.
			m.forget(ifname, p.Addr())
			unrecorded = true
		case err != nil:
			m.forget(ifname, p.Addr())
			unrecorded = true
			errs = append(errs, fmt.Errorf("vip: add %s on %s: %w", p, ifname, err))
		default:
			added = append(added, p)
			m.log.Debug("VIP added", "vip", p, "interface", ifname)
		}
	}
	if unrecorded {
		stateErr = cmp.Or(stateErr, m.save())
	}
	return added, errors.Join(append(errs, stateErr)...)
}

// Remove removes those of vips that are recorded as ours from ifname and returns the
// addresses it removed. An address that is not ours (added by hand, or owned by the
// interface) is left alone; an address that is already gone is not an error.
func (m *Manager) Remove(ifname string, vips []netip.Prefix) (removed []netip.Prefix, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	present, err := m.present(ifname)
	if err != nil {
		return nil, fmt.Errorf("vip: remove on %s: %w", ifname, err)
	}
	var errs []error
	changed := false
	for _, p := range vips {
		a := p.Addr().Unmap()
		if _, ours := m.owned[ifname][a]; !ours {
			if _, ok := present[a]; ok {
				m.log.Debug("VIP not added by us; left in place", "vip", p, "interface", ifname)
			}
			continue
		}
		if cur, ok := present[a]; ok {
			if err := m.ops.del(ifname, cur); err != nil {
				// Keep the record: the address is still there and still ours.
				errs = append(errs, fmt.Errorf("vip: remove %s on %s: %w", cur, ifname, err))
				continue
			}
			removed = append(removed, cur)
			m.log.Debug("VIP removed", "vip", cur, "interface", ifname)
		}
		m.forget(ifname, a)
		changed = true
	}
	if changed {
		errs = append(errs, m.save())
	}
	return removed, errors.Join(errs...)
}

// CleanupStale is crash recovery at start-up: it removes from ifname every one of the
// configured vips that is present (a crashed run — or keepalived — leaves them behind, and
// a backup that holds a VIP answers ARP for it), and forgets their records. An address that
// is present but not recorded is removed too, because configuration makes it ours; that is
// logged at warn level. When owner is true (priority 255: the addresses belong to the
// interface in its own right) nothing is removed.
func (m *Manager) CleanupStale(ifname string, vips []netip.Prefix, owner bool) (removed []netip.Prefix, err error) {
	if owner {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	present, err := m.present(ifname)
	if err != nil {
		return nil, fmt.Errorf("vip: cleanup on %s: %w", ifname, err)
	}
	var errs []error
	changed := false
	for _, p := range vips {
		a := p.Addr().Unmap()
		_, recorded := m.owned[ifname][a]
		if cur, ok := present[a]; ok {
			if !recorded {
				m.log.Warn("configured VIP present but not in the state file; removing it as stale",
					"vip", cur, "interface", ifname, "state_file", m.path)
			}
			if err := m.ops.del(ifname, cur); err != nil {
				errs = append(errs, fmt.Errorf("vip: remove stale %s on %s: %w", cur, ifname, err))
				continue
			}
			removed = append(removed, cur)
		}
		if recorded {
			m.forget(ifname, a)
			changed = true
		}
	}
	if changed {
		errs = append(errs, m.save())
	}
	return removed, errors.Join(errs...)
}

// Has reports whether ifname has the address p with p's prefix length.
func (m *Manager) Has(ifname string, p netip.Prefix) (bool, error) {
	m.mu.Lock() // also serializes use of the netlink socket
	defer m.mu.Unlock()
	addrs, err := m.ops.list(ifname)
	if errors.Is(err, errNoInterface) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("vip: list addresses on %s: %w", ifname, err)
	}
	want := netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
	return slices.Contains(addrs, want), nil
}

// Recorded returns the addresses recorded as added by us on ifname, sorted. The director
// can remove those it no longer has in its configuration.
func (m *Manager) Recorded(ifname string) []netip.Prefix {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netip.Prefix
	for _, r := range m.owned[ifname] {
		out = append(out, r.Prefix)
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

// present returns ifname's addresses by address. A missing interface has none: its
// addresses went with it, which is what Remove and CleanupStale want to know.
func (m *Manager) present(ifname string) (map[netip.Addr]netip.Prefix, error) {
	addrs, err := m.ops.list(ifname)
	if errors.Is(err, errNoInterface) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[netip.Addr]netip.Prefix, len(addrs))
	for _, p := range addrs {
		out[p.Addr()] = p
	}
	return out, nil
}

func checkPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, ErrBadVIP
	}
	a, err := checkVIP(p.Addr())
	if err != nil {
		return p, err
	}
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	return netip.PrefixFrom(a, bits), nil
}

func labelFor(p netip.Prefix, label string) string {
	if p.Addr().Is4() {
		return label
	}
	return ""
}

func (m *Manager) record(ifname string, p netip.Prefix, label string) {
	if m.owned[ifname] == nil {
		m.owned[ifname] = map[netip.Addr]record{}
	}
	m.owned[ifname][p.Addr()] = record{Prefix: p, Label: label}
}

func (m *Manager) forget(ifname string, a netip.Addr) {
	delete(m.owned[ifname], a)
	if len(m.owned[ifname]) == 0 {
		delete(m.owned, ifname)
	}
}

// load reads the state file, creating it (and its directory, 0755) if it does not exist,
// so that a state directory we cannot write fails at start-up rather than at failover.
func (m *Manager) load() error {
	b, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(m.path)
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("vip: state directory: %w", err)
			}
			// MkdirAll's mode is filtered by the umask; the brief is 0755 whatever it is.
			if err := os.Chmod(dir, 0o755); err != nil {
				return fmt.Errorf("vip: state directory: %w", err)
			}
		}
		if err := m.save(); err != nil {
			return err
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("vip: read state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil || st.Version != stateVersion {
		// Writes are atomic, so this is damage from outside. Refusing to start would turn a
		// bookkeeping problem into an outage; configured VIPs are cleaned up regardless of
		// the file (CleanupStale), so keep the evidence and start afresh.
		aside := m.path + ".corrupt"
		m.log.Warn("unreadable VIP state file; moved aside, starting with no recorded VIPs",
			"state_file", m.path, "moved_to", aside, "err", cmp.Or(err, fmt.Errorf("version %d", st.Version)))
		if err := os.Rename(m.path, aside); err != nil {
			return fmt.Errorf("vip: move aside unreadable state file: %w", err)
		}
		return m.save()
	}
	for _, e := range st.VIPs {
		p, err := checkPrefix(e.Prefix)
		if e.Interface == "" || err != nil {
			m.log.Warn("ignoring bad entry in the VIP state file", "state_file", m.path, "interface", e.Interface, "vip", e.Prefix)
			continue
		}
		m.record(e.Interface, p, e.Label)
	}
	for _, r := range st.Routes {
		if !r.Dst.IsValid() {
			m.log.Warn("ignoring bad route in the VIP state file", "state_file", m.path, "route", r)
			continue
		}
		m.routes = append(m.routes, r)
	}
	m.rules = append(m.rules, st.Rules...)
	return nil
}

// save writes the state atomically: a temporary file in the same directory, renamed over
// the old one. There is no fsync: the file has to survive a crash of the process (the page
// cache does that), not of the machine (which takes the addresses with it).
func (m *Manager) save() error {
	st := stateFile{Version: stateVersion, VIPs: []stateEntry{}}
	for ifname, recs := range m.owned {
		for _, r := range recs {
			st.VIPs = append(st.VIPs, stateEntry{Interface: ifname, record: r})
		}
	}
	slices.SortFunc(st.VIPs, func(a, b stateEntry) int {
		return cmp.Or(strings.Compare(a.Interface, b.Interface), comparePrefix(a.Prefix, b.Prefix))
	})
	st.Routes = slices.Clone(m.routes)
	slices.SortFunc(st.Routes, compareRoute)
	st.Rules = slices.Clone(m.rules)
	slices.SortFunc(st.Rules, func(a, b Rule) int { return strings.Compare(a.String(), b.String()) })
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrStateFile, m.path, err)
	}
	b = append(b, '\n')
	if err := writeAtomic(m.path, b, 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrStateFile, err)
	}
	return nil
}

func writeAtomic(path string, b []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	err = cmp.Or(err, f.Chmod(mode), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
