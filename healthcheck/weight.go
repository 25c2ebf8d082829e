package healthcheck

import (
	"context"
	"fmt"
	"math"
	"time"
)

// WeightChecker is a Checker whose passing checks also say what the real server's weight
// should be (keepalived's misc_dynamic and weighted FILE_CHECK). The Monitor calls
// CheckWeight instead of Check and reports changes of the weight (Options.OnWeight,
// Transition.Weight, Stats.Weight).
type WeightChecker interface {
	Checker
	CheckWeight(ctx context.Context) (Weight, error)
}

// WeightKind says how a Weight relates to the real server's configured weight.
type WeightKind uint8

const (
	// WeightConfigured: the configured weight, unchanged (the zero Weight).
	WeightConfigured WeightKind = iota
	// WeightAbsolute: Value is the weight (misc_dynamic: exit code − 2).
	WeightAbsolute
	// WeightOffset: Value is added to the configured weight (FILE_CHECK: the file's
	// number × weight, negated with reverse).
	WeightOffset
)

// Weight is a passing check's say on its real server's weight.
type Weight struct {
	Kind  WeightKind
	Value int64
}

func (w Weight) String() string {
	switch w.Kind {
	case WeightAbsolute:
		return fmt.Sprint(w.Value)
	case WeightOffset:
		return fmt.Sprintf("%+d", w.Value)
	}
	return "configured"
}

// Offset is the change w makes to the configured weight (keepalived's cur_weight).
func (w Weight) Offset(configured int) int64 {
	switch w.Kind {
	case WeightAbsolute:
		return w.Value - int64(configured)
	case WeightOffset:
		return w.Value
	}
	return 0
}

// EffectiveWeight is the weight for IPVS of a real server with the configured weight and
// the weights of its passing checks: the configured weight plus every check's offset,
// clamped to 0..2³¹−1, as keepalived's effective_weight and real_weight compute it.
func EffectiveWeight(configured int, checks ...Weight) int {
	w := int64(configured)
	for _, c := range checks {
		w += c.Offset(configured)
	}
	return int(min(max(w, 0), math.MaxInt32))
}

// WeightChange is a change of an up target's weight without a change of its state.
type WeightChange struct {
	Target   ID
	From, To Weight
	At       time.Time
}
