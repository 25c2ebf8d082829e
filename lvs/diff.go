package lvs

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// OpKind is what an Op does.
type OpKind uint8

const (
	AddService OpKind = iota + 1
	UpdateService
	DeleteService
	AddDest
	UpdateDest
	DeleteDest
)

func (k OpKind) String() string {
	switch k {
	case AddService:
		return "add service"
	case UpdateService:
		return "update service"
	case DeleteService:
		return "delete service"
	case AddDest:
		return "add destination"
	case UpdateDest:
		return "update destination"
	case DeleteDest:
		return "delete destination"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one change to the kernel table: one netlink request. Service is the
// service to add or the new attributes for UpdateService; for the other kinds
// only its key matters. Dest is the destination to add, delete, or its new
// attributes. Old and OldDest hold the values an update replaces, for the log.
type Op struct {
	Kind    OpKind
	Service Service
	Dest    Destination
	Old     Service
	OldDest Destination
}

// String describes the op for the log: "update destination tcp 192.0.2.100:80 ->
// 198.51.100.11:80 dr weight 1 (was weight 0)".
func (o Op) String() string {
	switch o.Kind {
	case AddService:
		return o.Kind.String() + " " + o.Service.Describe()
	case UpdateService:
		return fmt.Sprintf("%s %s (was %s)", o.Kind, o.Service.Describe(), o.Old.Describe())
	case DeleteService:
		return o.Kind.String() + " " + o.Service.Key.String()
	case AddDest:
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.Service.Key, o.Dest.Describe())
	case UpdateDest:
		return fmt.Sprintf("%s %s -> %s (was %s)", o.Kind, o.Service.Key, o.Dest.Describe(), o.OldDest.Describe())
	case DeleteDest:
		return fmt.Sprintf("%s %s -> %s", o.Kind, o.Service.Key, o.Dest.Addr)
	}
	return o.Kind.String()
}

// Diff returns the ops that turn actual into desired, as few as possible and
// always in the same order: services in Key order, and for each service either
// one DeleteService (the kernel drops its destinations with it: the fast
// withdraw), or AddService followed by its AddDests, or an UpdateService when the
// scheduler, flags, timeout or netmask differ followed by AddDests, then
// UpdateDests (weight, forwarding or thresholds changed in place), then
// DeleteDests, each in address order. Adding before deleting means a service whose
// real servers are being replaced (a sorry server going in, say) is never left
// without one.
//
// Every service in desired is managed. A service only in actual is deleted when
// owned accepts it and left exactly as it is otherwise: that is how another
// tool's services survive. owned must depend on the service's key only.
func Diff(desired, actual Table, owned func(Service) bool) []Op {
	keys := make(map[Key]struct{}, len(desired)+len(actual))
	for k := range desired {
		keys[k] = struct{}{}
	}
	for k := range actual {
		keys[k] = struct{}{}
	}
	sorted := slices.SortedFunc(maps.Keys(keys), Key.Compare)

	var ops []Op
	for _, k := range sorted {
		d, inD := desired[k]
		a, inA := actual[k]
		switch {
		case !inD:
			if owned != nil && owned(a.Service) {
				ops = append(ops, Op{Kind: DeleteService, Service: a.Service.Normalize()})
			}
		case !inA:
			svc := d.Service.Normalize()
			ops = append(ops, Op{Kind: AddService, Service: svc})
			for _, dst := range d.SortedDestinations() {
				ops = append(ops, Op{Kind: AddDest, Service: svc, Dest: dst})
			}
		default:
			ops = diffEntry(ops, d, a)
		}
	}
	return ops
}

func diffEntry(ops []Op, d, a *Entry) []Op {
	svc, old := d.Service.Normalize(), a.Service.Normalize()
	if svc != old {
		ops = append(ops, Op{Kind: UpdateService, Service: svc, Old: old})
	} else if maps.Equal(d.Destinations, a.Destinations) {
		return ops // the common case of a resync: nothing to sort
	}
	var updates, deletes []Op
	for _, dst := range d.SortedDestinations() {
		cur, ok := a.Destinations[dst.Addr]
		switch {
		case !ok:
			ops = append(ops, Op{Kind: AddDest, Service: svc, Dest: dst})
		case cur != dst:
			updates = append(updates, Op{Kind: UpdateDest, Service: svc, Dest: dst, OldDest: cur})
		}
	}
	for _, cur := range a.SortedDestinations() {
		if _, ok := d.Destinations[cur.Addr]; !ok {
			deletes = append(deletes, Op{Kind: DeleteDest, Service: svc, Dest: cur})
		}
	}
	ops = append(ops, updates...)
	return append(ops, deletes...)
}

// Withdraw returns the ops that remove every service of actual that owned accepts
// — one DeleteService each, in Key order — and nothing else. Deleting a
// service deletes its destinations, so this is as fast as a withdraw can be.
//
// Deleting a service that is already gone counts as done (see Kernel.Apply), so
// actual need not be read from the kernel: with a Model, Withdraw(m.Table, m.Owns)
// removes every declared service wherever it stands, without a read — owned is
// exactly the declared services, so nothing else can be ours.
func Withdraw(actual Table, owned func(Service) bool) []Op {
	return Diff(nil, actual, owned)
}

// Errors of ApplyTo, which the Fake returns too. They mirror the kernel's
// EEXIST and ESRCH/ENOENT.
var (
	ErrExists   = errors.New("already exists")
	ErrNotFound = errors.New("not found")
)

// ApplyTo applies op to the in-memory table t, with the kernel's rules: adding
// what exists or changing what does not is an error, and deleting a service
// deletes its destinations. Deleting what is already gone is not an error, as in
// Kernel.Apply. Services are stored normalized.
func ApplyTo(t Table, op Op) error {
	k := op.Service.Key
	e, ok := t[k]
	switch op.Kind {
	case AddService:
		if ok {
			return fmt.Errorf("lvs: %s: service %w", op, ErrExists)
		}
		t.Add(op.Service.Normalize())
		return nil
	case DeleteService:
		delete(t, k)
		return nil
	}
	if !ok {
		if op.Kind == DeleteDest {
			return nil
		}
		return fmt.Errorf("lvs: %s: service %w", op, ErrNotFound)
	}
	_, have := e.Destinations[op.Dest.Addr]
	switch op.Kind {
	case UpdateService:
		e.Service = op.Service.Normalize()
	case AddDest:
		if have {
			return fmt.Errorf("lvs: %s: destination %w", op, ErrExists)
		}
		e.Destinations[op.Dest.Addr] = op.Dest
	case UpdateDest:
		if !have {
			return fmt.Errorf("lvs: %s: destination %w", op, ErrNotFound)
		}
		e.Destinations[op.Dest.Addr] = op.Dest
	case DeleteDest:
		delete(e.Destinations, op.Dest.Addr)
	default:
		return fmt.Errorf("lvs: unknown op kind %d", op.Kind)
	}
	return nil
}
