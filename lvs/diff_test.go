package lvs

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

var (
	vip80  = AddrKey(TCP, netip.MustParseAddrPort("192.0.2.100:80"))
	vip443 = AddrKey(TCP, netip.MustParseAddrPort("192.0.2.100:443"))
	rs11   = netip.MustParseAddrPort("198.51.100.11:80")
	rs12   = netip.MustParseAddrPort("198.51.100.12:80")
	rs13   = netip.MustParseAddrPort("198.51.100.13:80")
)

func seedTable() Table {
	t := Table{}
	t.Add(Service{Key: vip80, Scheduler: "rr", Flags: FlagPersistent, Timeout: 300 * time.Second},
		Destination{Addr: rs11, Weight: 1}, Destination{Addr: rs12, Weight: 1})
	return t
}

func TestDiffFromEmptyAddsServiceBeforeDestinations(t *testing.T) {
	ops := Diff(seedTable(), Table{}, nil)
	want := []OpKind{AddService, AddDest, AddDest}
	if got := opKinds(ops); !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	if ops[1].Dest.Addr != rs11 || ops[2].Dest.Addr != rs12 {
		t.Errorf("destinations not in address order: %v", ops)
	}
}

func TestDiffUpdatesInPlace(t *testing.T) {
	actual := seedTable()
	desired := seedTable()
	e := desired[vip80]
	e.Service.Scheduler = "wrr"
	d := e.Destinations[rs11]
	d.Weight = 0
	d.Forwarding = ForwardNAT
	e.Destinations[rs11] = d
	d = e.Destinations[rs12]
	d.UpperThreshold, d.LowerThreshold = 100, 50
	e.Destinations[rs12] = d

	ops := Diff(desired, actual, keysOf(desired))
	want := []OpKind{UpdateService, UpdateDest, UpdateDest}
	if got := opKinds(ops); !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v: %v", got, want, ops)
	}
	if ops[0].Old.Scheduler != "rr" || ops[0].Service.Scheduler != "wrr" {
		t.Errorf("update service: %v", ops[0])
	}
	if ops[1].OldDest.Weight != 1 || ops[1].Dest.Weight != 0 {
		t.Errorf("update dest: %v", ops[1])
	}
}

func TestDiffAddsBeforeDeletes(t *testing.T) {
	// Quorum lost: the sorry server replaces both real servers. The pool must
	// never be empty in between.
	actual := seedTable()
	desired := seedTable()
	sorry := netip.MustParseAddrPort("198.51.100.250:80")
	desired[vip80].Destinations = map[netip.AddrPort]Destination{sorry: {Addr: sorry, Weight: 1}}
	ops := Diff(desired, actual, keysOf(desired))
	want := []OpKind{AddDest, DeleteDest, DeleteDest}
	if got := opKinds(ops); !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
}

func TestDiffDeletesWholeServiceOnly(t *testing.T) {
	actual := seedTable()
	ops := Diff(Table{}, actual, keysOf(actual))
	if len(ops) != 1 || ops[0].Kind != DeleteService || ops[0].Service.Key != vip80 {
		t.Fatalf("ops %v, want one delete service", ops)
	}
}

func TestDiffLeavesForeignServices(t *testing.T) {
	actual := seedTable()
	foreign := AddrKey(UDP, netip.MustParseAddrPort("203.0.113.5:53"))
	actual.Add(Service{Key: foreign, Scheduler: "wlc"}, Destination{Addr: netip.MustParseAddrPort("203.0.113.9:53"), Weight: 3})
	desired := seedTable()
	if ops := Diff(desired, actual, keysOf(desired)); len(ops) != 0 {
		t.Fatalf("foreign service touched: %v", ops)
	}
	if ops := Withdraw(actual, keysOf(desired)); len(ops) != 1 || ops[0].Service.Key != vip80 {
		t.Fatalf("withdraw: %v", ops)
	}
}

func TestDiffNormalizesKernelEcho(t *testing.T) {
	desired := seedTable()
	actual := seedTable()
	e := actual[vip80]
	e.Service.Flags |= FlagHashed
	e.Service.Netmask = 32
	e.Service.Timeout += 300 * time.Millisecond
	if ops := Diff(desired, actual, nil); len(ops) != 0 {
		t.Fatalf("hashed flag / default netmask not normalized: %v", ops)
	}
	// Non-persistent: timeout and netmask are ignored.
	desired[vip80].Service.Flags = 0
	actual[vip80].Service.Flags = FlagHashed
	actual[vip80].Service.Timeout = 77 * time.Second
	actual[vip80].Service.Netmask = 24
	if ops := Diff(desired, actual, nil); len(ops) != 0 {
		t.Fatalf("non-persistent timeout/netmask compared: %v", ops)
	}
}

func TestOpString(t *testing.T) {
	ops := Diff(seedTable(), Table{}, nil)
	want := []string{
		"add service tcp 192.0.2.100:80 rr persistent 300",
		"add destination tcp 192.0.2.100:80 -> 198.51.100.11:80 dr weight 1",
		"add destination tcp 192.0.2.100:80 -> 198.51.100.12:80 dr weight 1",
	}
	for i, op := range ops {
		if op.String() != want[i] {
			t.Errorf("op %d: %q, want %q", i, op, want[i])
		}
	}
	up := Op{Kind: UpdateDest, Service: seedTable()[vip80].Service, Dest: Destination{Addr: rs11, Weight: 0}, OldDest: Destination{Addr: rs11, Weight: 1}}
	if got, want := up.String(), "update destination tcp 192.0.2.100:80 -> 198.51.100.11:80 dr weight 0 (was 198.51.100.11:80 dr weight 1)"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// The properties, over seeded random models with foreign services mixed in:
// applying Diff's ops to actual gives desired for our services and leaves the
// foreign ones exactly as they were; a second Diff is empty; the ops are
// deterministic, grouped per service in key order, with a service's add before
// its destinations and no destination op for a service being deleted; every
// update changes something.
func TestDiffProperties(t *testing.T) {
	seeds := 3000
	if testing.Short() {
		seeds = 300
	}
	o := genOptions{maxServices: 12, maxDests: 6}
	fo := o
	fo.foreign = true
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 0x1d15))
		var desired, actual, foreign Table
		desired = randTable(r, o)
		foreign = randTable(r, fo)
		switch seed % 3 {
		case 0:
			actual = mutate(r, desired, o)
		case 1:
			actual = randTable(r, o) // unrelated
		default:
			actual = Table{}
		}
		// Some of actual's services are ours but no longer desired (deleted from
		// the config): they go. The foreign ones stay.
		oursInActual := actual.Clone()
		owned := keysOf(desired, oursInActual)
		actual = merge(actual, foreign)
		before := actual.Clone()

		ops := Diff(desired, actual, owned)
		if again := Diff(desired, before, owned); !reflect.DeepEqual(ops, again) {
			t.Fatalf("seed %d: Diff is not deterministic", seed)
		}
		checkOpShape(t, seed, ops, desired, before)

		got := actual.Clone()
		for _, op := range ops {
			if err := ApplyTo(got, op); err != nil {
				t.Fatalf("seed %d: %v\nops: %v", seed, err, ops)
			}
		}
		want := merge(desired, foreign)
		if !got.Equal(want) {
			t.Fatalf("seed %d: applying the ops did not give desired + foreign\nops: %v", seed, ops)
		}
		for k, e := range foreign {
			if !reflect.DeepEqual(got[k], e) {
				t.Fatalf("seed %d: foreign service %s changed", seed, k)
			}
		}
		if again := Diff(desired, got, owned); len(again) != 0 {
			t.Fatalf("seed %d: second diff not empty: %v", seed, again)
		}

		// One weight change is one op.
		if k, d, ok := oneDest(desired); ok {
			changed := got.Clone()
			d.Weight = (d.Weight + 1) % 101
			changed[k].Destinations[d.Addr] = d
			ops := Diff(changed, got, owned)
			if len(ops) != 1 || ops[0].Kind != UpdateDest || ops[0].Dest != d {
				t.Fatalf("seed %d: one weight change gave %v", seed, ops)
			}
		}

		// Withdraw removes exactly our services, one op each.
		w := Withdraw(got, owned)
		gone := got.Clone()
		for _, op := range w {
			if op.Kind != DeleteService || !owned(op.Service) {
				t.Fatalf("seed %d: withdraw op %v", seed, op)
			}
			if err := ApplyTo(gone, op); err != nil {
				t.Fatal(err)
			}
		}
		if len(w) != len(desired) || !gone.Equal(foreign) {
			t.Fatalf("seed %d: withdraw left %d services, want the %d foreign", seed, len(gone), len(foreign))
		}
	}
}

func checkOpShape(t *testing.T, seed int, ops []Op, desired, actual Table) {
	t.Helper()
	var last Key
	seen := map[Key]bool{}
	deleted := map[Key]bool{}
	for i, op := range ops {
		k := op.Service.Key
		if i > 0 && k != last {
			if seen[k] {
				t.Fatalf("seed %d: ops of %s are not contiguous", seed, k)
			}
			if k.Compare(last) < 0 {
				t.Fatalf("seed %d: services not in key order: %s after %s", seed, k, last)
			}
		}
		seen[k], last = true, k
		a, inA := actual[k]
		d := desired[k]
		switch op.Kind {
		case AddService:
			if inA {
				t.Fatalf("seed %d: add of existing %s", seed, k)
			}
		case DeleteService:
			deleted[k] = true
		case UpdateService:
			if a.Service.Normalize() == op.Service {
				t.Fatalf("seed %d: no-op %v", seed, op)
			}
		case UpdateDest:
			if a.Destinations[op.Dest.Addr] == op.Dest || d.Destinations[op.Dest.Addr] != op.Dest {
				t.Fatalf("seed %d: bad %v", seed, op)
			}
		case AddDest, DeleteDest:
		default:
			t.Fatalf("seed %d: kind %v", seed, op.Kind)
		}
		if deleted[k] && op.Kind != DeleteService {
			t.Fatalf("seed %d: %v after the service was deleted", seed, op)
		}
	}
}

func TestApplyToKernelRules(t *testing.T) {
	tab := seedTable()
	svc := tab[vip80].Service
	for _, tc := range []struct {
		op   Op
		fail bool
	}{
		{Op{Kind: AddService, Service: svc}, true},
		{Op{Kind: AddDest, Service: svc, Dest: Destination{Addr: rs11}}, true},
		{Op{Kind: UpdateDest, Service: svc, Dest: Destination{Addr: rs13}}, true},
		{Op{Kind: AddDest, Service: Service{Key: vip443}, Dest: Destination{Addr: rs11}}, true},
		{Op{Kind: UpdateService, Service: Service{Key: vip443}}, true},
		{Op{Kind: DeleteDest, Service: svc, Dest: Destination{Addr: rs13}}, false},
		{Op{Kind: DeleteDest, Service: Service{Key: vip443}, Dest: Destination{Addr: rs13}}, false},
		{Op{Kind: DeleteService, Service: Service{Key: vip443}}, false},
	} {
		if err := ApplyTo(tab.Clone(), tc.op); (err != nil) != tc.fail {
			t.Errorf("%v: err %v, want failure %v", tc.op, err, tc.fail)
		}
	}
	c := tab.Clone()
	if err := ApplyTo(c, Op{Kind: DeleteService, Service: svc}); err != nil || len(c) != 0 {
		t.Fatalf("delete service: %v, %d left", err, len(c))
	}
}

func BenchmarkDiff1000x10(b *testing.B) {
	desired := bigTable(1000, 10)
	actual := desired.Clone()
	owned := keysOf(desired)
	b.ResetTimer()
	for b.Loop() {
		if ops := Diff(desired, actual, owned); len(ops) != 0 {
			b.Fatal(ops)
		}
	}
}

// bigTable is n services with m destinations each: 192.0.2.x and 2001:db8::
// ports, real servers in 198.51.100.0/24.
func bigTable(n, m int) Table {
	t := Table{}
	for i := range n {
		k := AddrKey(TCP, netip.AddrPortFrom(nthAddr(netip.MustParseAddr("192.0.2.0"), 1+i%250), uint16(1000+i/250)))
		e := t.Add(Service{Key: k, Scheduler: "wrr"})
		for j := range m {
			a := netip.AddrPortFrom(nthAddr(netip.MustParseAddr("198.51.100.0"), 1+j), 80)
			e.Destinations[a] = Destination{Addr: a, Weight: 1 + j}
		}
	}
	return t
}
