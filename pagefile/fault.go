package pagefile

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// Op is the kind of a pagefile operation.
type Op uint8

const (
	OpRead Op = iota
	OpWrite
	numOps
)

// String returns "read" or "write".
func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// StatusDeviceDataError is STATUS_DEVICE_DATA_ERROR, the status a Fault
// reports when it names none.
const StatusDeviceDataError uint32 = 0xC000009C

// Fault is an injected I/O failure. Exactly one of Nth or Probability is
// set.
type Fault struct {
	Op Op

	// Nth fails the Nth operation of this kind, 1-based and counted over
	// the pagefile's life (failed operations included). It fires once; a
	// Fault whose Nth has already gone by never fires.
	Nth uint64

	// Probability, in (0, 1], fails each operation of this kind with this
	// probability, drawn from Config.Rand.
	Probability float64

	// Status is the NTSTATUS reported; 0 means StatusDeviceDataError.
	Status uint32
}

// IOError is a failed slot read or write caused by an injected Fault.
type IOError struct {
	Op        Op
	Slot      uint64
	Status    uint32 // NTSTATUS, e.g. 0xC000009C
	Injection int    // faults are numbered 1, 2, 3... in the order they fired
}

// Error reads "pagefile read of slot 12 failed: status 0xc000009c (injected fault #1)".
func (e *IOError) Error() string {
	s := fmt.Sprintf("pagefile %s of slot %d failed: status 0x%08x", e.Op, e.Slot, e.Status)
	if e.Injection > 0 {
		s += fmt.Sprintf(" (injected fault #%d)", e.Injection)
	}
	return s
}

// faultSet holds the active faults of one Op.
type faultSet struct {
	// nth holds the Nth faults that have not fired or gone by, by Nth and
	// then in injection order once sorted; Inject appends and leaves
	// sorting to the next operation, so many injections cost one sort.
	nth    []Fault
	sorted bool

	// prob holds the probability faults, in injection order. One draw per
	// operation is shared among them: fault i fires when the draw falls in
	// [sum of the earlier probabilities, that sum + its own), so each fires
	// at its own rate as long as the rates add up to at most 1.
	prob []Fault
}

// Inject adds a fault; it fires on a later Read or Write. It panics on a
// Fault that sets neither or both of Nth and Probability, a probability
// outside (0, 1], a probability fault when Config.Rand is nil, or an
// unknown Op: each is a bug in the caller (the scenario loader validates
// user input).
func (p *Pagefile) Inject(f Fault) {
	if f.Op >= numOps {
		panic(fmt.Sprintf("pagefile: Inject: unknown op %d", f.Op))
	}
	if f.Status == 0 {
		f.Status = StatusDeviceDataError
	}
	set := &p.faults[f.Op]
	switch {
	case f.Nth != 0 && f.Probability != 0:
		panic(fmt.Sprintf("pagefile: Inject: %s fault sets both Nth (%d) and Probability (%g)", f.Op, f.Nth, f.Probability))
	case f.Nth != 0:
		set.nth = append(set.nth, f)
		set.sorted = false
	case f.Probability != 0:
		if !(f.Probability > 0 && f.Probability <= 1) { // NaN fails too
			panic(fmt.Sprintf("pagefile: Inject: %s fault probability %g outside (0, 1]", f.Op, f.Probability))
		}
		if p.rand == nil {
			panic(fmt.Sprintf("pagefile: Inject: %s fault with probability %g but Config.Rand is nil", f.Op, f.Probability))
		}
		set.prob = append(set.prob, f)
	default:
		panic(fmt.Sprintf("pagefile: Inject: %s fault sets neither Nth nor Probability", f.Op))
	}
}

// fire is the injection seam: it is asked once before every operation,
// after the operation was counted (n is its 1-based number among those of
// its kind), and returns the failure to report or nil. It allocates only
// when a fault fires.
func (p *Pagefile) fire(op Op, n, slot uint64) *IOError {
	set := &p.faults[op]
	// Draw first, whatever the Nth faults decide, so the generator moves
	// by exactly one per operation while a probability fault is active.
	draw := -1.0
	if len(set.prob) > 0 {
		draw = p.rand.Float64()
	}
	if !set.sorted {
		slices.SortStableFunc(set.nth, func(a, b Fault) int { return cmp.Compare(a.Nth, b.Nth) })
		set.sorted = true
	}
	// Operations are numbered upwards, so the faults numbered below n have
	// gone by (or shared the Nth of one that fired) and never will fire.
	for len(set.nth) > 0 && set.nth[0].Nth < n {
		set.nth = set.nth[1:]
	}
	if len(set.nth) > 0 && set.nth[0].Nth == n {
		f := set.nth[0]
		set.nth = set.nth[1:]
		return p.fired(f, slot)
	}
	if draw >= 0 {
		lo := 0.0
		for _, f := range set.prob {
			if draw >= lo && draw < lo+f.Probability {
				return p.fired(f, slot)
			}
			lo += f.Probability
		}
	}
	return nil
}

func (p *Pagefile) fired(f Fault, slot uint64) *IOError {
	p.injections++
	return &IOError{Op: f.Op, Slot: slot, Status: f.Status, Injection: p.injections}
}
