package verifier

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/invariants"
	"simkern/mm"
	"simkern/pool"
)

// Settings say what the verifier checks, and for whom.
type Settings struct {
	Drivers      []string         // the verified drivers; "*" is every driver
	SpecialPool  pool.SpecialMode // 0: off
	PoolTracking bool
	IRQLChecking bool
	LowResources *LowResources // nil: off
}

// LowResources is Low Resources Simulation: which allocations to fail.
type LowResources struct {
	Probability float64    // per allocation, 0..1
	After       uint64     // allocations let through first (counted per verifier)
	Tags        []pool.Tag // empty: every tag
	Systematic  bool       // fail the first allocation at each call site, once
}

// Allocation is an outstanding allocation of a verified driver.
type Allocation struct {
	VA      mm.VA
	Bytes   uint64
	Tag     pool.Tag
	Type    pool.Type
	Caller  uint64 // code address of the allocating call
	Special bool   // placed in special pool
}

// Injection is one allocation failed on purpose.
type Injection struct {
	Number int    // from 1, in order
	Event  uint64 // the logs' event number
	Driver string
	Caller uint64
	CPU    int
	Type   pool.Type
	Bytes  uint64
	Tag    pool.Tag
	Why    string // "probability", "systematic"
}

// Driver is what the verifier knows of one driver.
type Driver struct {
	Name        string
	Unloaded    bool
	Outstanding map[mm.VA]Allocation // with pool tracking

	// NonPaged and Paged count every allocation the driver made through
	// the verifier, with pool tracking or without, until it is freed
	// (by whoever frees it).
	PoolUses
}

// PoolUses is the use of each pool.
type PoolUses struct{ NonPaged, Paged PoolUse }

// use is the record of the pool that t allocates from.
func (u *PoolUses) use(t pool.Type) *PoolUse {
	if t.Paged() {
		return &u.Paged
	}
	return &u.NonPaged
}

// PoolUse is a driver's use of one pool: the individual counters Windows
// keeps per verified driver, which !verifier 3 prints.
//
// Invariant: PeakAllocations >= Allocations and PeakBytes >= Bytes; a
// peak never goes down, so it still shows what freed allocations held.
type PoolUse struct {
	Allocations, Bytes         uint64 // outstanding; Bytes as requested
	PeakAllocations, PeakBytes uint64 // the most outstanding at any one time
}

// add counts an allocation of n bytes.
func (u *PoolUse) add(n uint64) {
	u.Allocations++
	u.Bytes += n
	u.PeakAllocations = max(u.PeakAllocations, u.Allocations)
	u.PeakBytes = max(u.PeakBytes, u.Bytes)
}

// remove counts the free of an allocation of n bytes that add counted.
func (u *PoolUse) remove(n uint64) {
	if invariants.Enabled && (u.Allocations == 0 || u.Bytes < n) {
		panic(fmt.Sprintf("verifier: freeing %d bytes from a driver's record of %d allocations holding %d bytes", n, u.Allocations, u.Bytes))
	}
	u.Allocations--
	u.Bytes -= n
}

// Stats are the counters !verifier prints.
type Stats struct {
	RaiseIrqls, Trims    uint64
	AllocationsAttempted uint64
	AllocationsSucceeded uint64
	SucceededSpecialPool uint64
	AllocationsWithNoTag uint64
	AllocationsFailed    uint64 // NULL returned, injected or not
	FailedDeliberately   uint64 // injected
	PoolUses                    // every verified driver's, together
}

// Verifier is Driver Verifier on one machine.
type Verifier struct {
	Settings Settings
	Stats    Stats

	p       *pool.Pool
	m       *mm.Machine
	rng     *rand.Rand
	all     bool
	drivers map[string]*Driver
	// live holds every outstanding allocation of a verified driver,
	// whoever frees it: the record that finds a free's pool type and a
	// free of an address no allocation returned.
	live      map[mm.VA]liveAllocation
	sites     map[uint64]bool // systematic mode: call sites already failed
	seenAlloc uint64          // allocations by verified drivers, for After
	logs      logs
}

// New starts the verifier on a pool; seed feeds its random choices.
func New(p *pool.Pool, s Settings, seed uint64) *Verifier {
	v := &Verifier{Settings: s, p: p, m: p.Machine(), rng: rand.New(rand.NewPCG(seed, 0x7665726966696572)), // "verifier"
		drivers: map[string]*Driver{}, live: map[mm.VA]liveAllocation{}, sites: map[uint64]bool{}, logs: newLogs()}
	for _, d := range s.Drivers {
		if d == "*" {
			v.all = true
			continue
		}
		v.driver(d)
	}
	return v
}

func (v *Verifier) driver(name string) *Driver {
	d := v.drivers[name]
	if d == nil {
		d = &Driver{Name: name, Outstanding: map[mm.VA]Allocation{}}
		v.drivers[name] = d
	}
	return d
}

// Load tells the verifier that driver is loaded, so that a verified
// driver is listed (with empty counters) before its first allocation, as
// Windows lists every verified driver it has seen load.
func (v *Verifier) Load(driver string) {
	if v.Verified(driver) {
		v.driver(driver)
	}
}

// Verified reports whether driver's calls are checked. The kernel itself
// ("") never is.
func (v *Verifier) Verified(driver string) bool {
	return driver != "" && (v.all || slices.Contains(v.Settings.Drivers, driver))
}

// Drivers returns what the verifier knows of each driver, by name.
func (v *Verifier) Drivers() []*Driver {
	out := make([]*Driver, 0, len(v.drivers))
	for _, d := range v.drivers {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Driver) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Allocate is ExAllocatePoolWithTag called by driver on c (c.PC is the
// call site). It returns the address (0 for NULL), the injection that
// made it NULL if one did, and the bugcheck if the call was bad.
func (v *Verifier) Allocate(c *cpu.CPU, driver string, t pool.Type, n uint64, tag pool.Tag) (mm.VA, *Injection, error) {
	if !v.Verified(driver) || n == 0 { // zero bytes: the pool's own 0xC2/0
		va, err := v.p.Allocate(c, t, n, tag)
		return va, nil, err
	}
	v.Stats.AllocationsAttempted++
	if tag&^pool.ProtectedTag == 0 {
		v.Stats.AllocationsWithNoTag++
	}
	if err := v.checkAllocate(c, t, n); err != nil {
		return 0, nil, v.halt(err)
	}
	if inj := v.inject(c, driver, t, n, tag); inj != nil {
		v.Stats.AllocationsFailed++
		return 0, inj, nil
	}
	var va mm.VA
	special := false
	if mode := v.Settings.SpecialPool; mode != 0 {
		sva, ok, err := v.p.AllocateSpecial(c, t, n, tag, mode)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			va, special = sva, true
			v.Stats.SucceededSpecialPool++
		}
	}
	if va == 0 {
		var err error
		if va, err = v.p.Allocate(c, t, n, tag); err != nil {
			return 0, nil, err
		}
	}
	if va == 0 {
		v.Stats.AllocationsFailed++
		return 0, nil, nil
	}
	v.Stats.AllocationsSucceeded++
	v.track(driver, Allocation{VA: va, Bytes: n, Tag: tag, Type: t, Caller: c.PC, Special: special})
	v.logPool(c, va, n, false)
	return va, nil, nil
}

// checkAllocate: the verifier's own rules (0xC4): the IRQL, and at most a
// page of must-succeed pool (0x03; the reference names no parameters, so
// they are those of 0x01 and 0x02: IRQL, pool type, bytes). A zero-byte
// request is left to the pool, whose 0xC2/0 is what Driver Verifier raises
// for it (the reference's corrections, 6.2).
func (v *Verifier) checkAllocate(c *cpu.CPU, t pool.Type, n uint64) error {
	irql := uint64(c.IRQL())
	tooHigh := c.IRQL() > t.MaxIRQL()
	switch {
	case tooHigh && t.Paged():
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x01, irql, uint64(t), n).At("verifier: paged allocation above APC_LEVEL")
	case tooHigh:
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x02, irql, uint64(t), n).At("verifier: nonpaged allocation above DISPATCH_LEVEL")
	case t.MustSucceed() && n > mm.PageBytes:
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x03, irql, uint64(t), n).At("verifier: more than a page of must-succeed pool")
	}
	return nil
}

// inject decides whether Low Resources Simulation fails this allocation.
func (v *Verifier) inject(c *cpu.CPU, driver string, t pool.Type, n uint64, tag pool.Tag) *Injection {
	lr := v.Settings.LowResources
	if lr == nil || t.MustSucceed() { // a must-succeed request cannot be failed
		return nil
	}
	v.seenAlloc++
	if v.seenAlloc <= lr.After {
		return nil
	}
	if len(lr.Tags) > 0 && !slices.Contains(lr.Tags, tag&^pool.ProtectedTag) {
		return nil
	}
	why := ""
	switch {
	case lr.Systematic:
		if !v.sites[c.PC] {
			v.sites[c.PC] = true
			why = "systematic"
		}
	case lr.Probability > 0 && v.rng.Float64() < lr.Probability:
		why = "probability"
	}
	if why == "" {
		return nil
	}
	// The log keeps the last few: a run may inject millions.
	v.Stats.FailedDeliberately++
	in := Injection{Number: int(v.Stats.FailedDeliberately), Event: v.logs.event(), Driver: driver, Caller: c.PC, CPU: c.Number,
		Type: t, Bytes: n, Tag: tag, Why: why}
	v.logs.injections.Add(in)
	return &in
}

// liveAllocation is an outstanding allocation and the driver that made it.
type liveAllocation struct {
	Allocation
	driver *Driver
}

func (v *Verifier) track(driver string, a Allocation) {
	d := v.driver(driver)
	v.live[a.VA] = liveAllocation{a, d}
	if v.Settings.PoolTracking {
		d.Outstanding[a.VA] = a
	}
	d.use(a.Type).add(a.Bytes)
	v.Stats.use(a.Type).add(a.Bytes)
}

// untrack forgets a, the record of the allocation at va just freed.
func (v *Verifier) untrack(va mm.VA, a liveAllocation) {
	delete(v.live, va)
	delete(a.driver.Outstanding, va)
	a.driver.use(a.Type).remove(a.Bytes)
	v.Stats.use(a.Type).remove(a.Bytes)
}

// Free is ExFreePool (withTag false) or ExFreePoolWithTag called by driver.
// The pool log records it when driver is verified or a verified driver
// made the allocation.
func (v *Verifier) Free(c *cpu.CPU, driver string, va mm.VA, tag pool.Tag, withTag bool) error {
	verified := v.Verified(driver)
	a, tracked := v.live[va] // the checks, the free and the log all ask
	if verified {
		if err := v.checkFree(c, va, a, tracked); err != nil {
			return v.halt(err)
		}
		if err := v.checkOverrun(c, va, a, tracked); err != nil {
			return v.halt(err)
		}
	}
	n := a.Bytes
	if verified && !tracked {
		n = v.p.Requested(va)
	}
	var err error
	if withTag {
		err = v.p.FreeWithTag(c, va, tag)
	} else {
		err = v.p.Free(c, va)
	}
	if err != nil {
		return err
	}
	if tracked {
		v.untrack(va, a)
	}
	if verified || tracked {
		v.logPool(c, va, n, true)
	}
	return nil
}

// checkFree: a verified driver may free only what an allocation returned
// (0xC4/0x10), at an IRQL its pool type allows (0xC4/0x11, 0x12), and not
// a small block whose header says it is free already (0xC4/0x13: the
// header's address and its first eight bytes; simkern never raises the
// other code the reference gives for this, 0x14). A special pool
// allocation freed twice is left to special pool (0xC1/0x20).
// a is the verifier's record of the allocation at va, when tracked.
func (v *Verifier) checkFree(c *cpu.CPU, va mm.VA, a liveAllocation, tracked bool) error {
	if !v.p.IsBlockStart(va) {
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x10, 0, 0, 0).At("verifier: free of an address no allocation returned")
	}
	t, ok := a.Type, tracked
	if !ok {
		t, ok = v.p.BlockType(va)
	}
	if !ok {
		return nil // a freed special pool page: the pool's own checks report it
	}
	irql := uint64(c.IRQL())
	tooHigh := c.IRQL() > t.MaxIRQL()
	switch {
	case tooHigh && t.Paged():
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x11, irql, uint64(t), uint64(va)).At("verifier: paged free above APC_LEVEL")
	case tooHigh:
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x12, irql, uint64(t), uint64(va)).At("verifier: nonpaged free above DISPATCH_LEVEL")
	}
	if kind, _ := v.p.Classify(va); kind != pool.KindSmall {
		return nil
	}
	// A small block: its header says whether it was freed already. It is
	// read through c, at an IRQL the checks above allowed for its type.
	header := va - pool.HeaderBytes
	w, err := v.p.Machine().ReadU64(c, header)
	if err != nil || pool.HeaderFromWord0(w).Allocated() {
		return err
	}
	return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x13, 0, uint64(header), w).At("verifier: free of pool already freed")
}

// checkOverrun: with pool tracking, a verified driver's allocation freed
// after bytes past its end were written is 0xC4/0x51 (the allocation, the
// first byte written past its end, the bytes it was charged for), caught
// before the pool's own canary check would raise 0x19/0x21. Special pool
// allocations are left to special pool's pattern check.
func (v *Verifier) checkOverrun(c *cpu.CPU, va mm.VA, a liveAllocation, tracked bool) error {
	if !v.Settings.PoolTracking || !tracked || a.Special {
		return nil
	}
	at, err := v.p.Overrun(c, va)
	if err != nil || at == 0 {
		return err
	}
	return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x51, uint64(va), uint64(at), a.Bytes).At("verifier: freed after writing past the end")
}

// IrqlChanged is called after driver ("" for the kernel) raised or
// lowered c's IRQL from old (a raise when the new level is not lower). A
// verified driver's change is logged, and a raise counted.
//
// A raise to DISPATCH_LEVEL or above is Force IRQL Checking's moment:
// every pageable page is trimmed (on a machine without a pagefile, none
// is: mm trims nothing there). Windows trims on a verified driver's raise;
// simkern also on the kernel's, as the scenario format promises a trim
// "whenever IRQL is raised": a scenario's kernel steps stand for the
// system around the driver (a DPC about to call it, say). Only a driver
// the verifier does not check raises without a trim. A trim is counted
// whatever it took, as Windows counts them. IrqlChanged returns whether
// it trimmed, and the pages it took.
func (v *Verifier) IrqlChanged(c *cpu.CPU, driver string, old cpu.IRQL) (trimmed bool, pages int) {
	verified := v.Verified(driver)
	if verified {
		v.logs.irql.Add(IrqlLogEntry{Event: v.logs.event(), Caller: c.PC, CPU: c.Number, Old: old, New: c.IRQL()})
	}
	if c.IRQL() < old {
		return false, 0
	}
	if verified {
		v.Stats.RaiseIrqls++
	}
	if v.Settings.IRQLChecking && c.IRQL() >= cpu.DispatchLevel && (verified || driver == "") {
		v.Stats.Trims++
		return true, v.m.TrimAll()
	}
	return false, 0
}

// Unload checks a driver's unload: with pool tracking, any allocation it
// still holds is 0xC4/0x62 (P2 the address of the driver's name, P4 the
// number of allocations not freed).
func (v *Verifier) Unload(driver string, nameAddress uint64) error {
	d := v.driver(driver)
	d.Unloaded = true
	if !v.Verified(driver) || !v.Settings.PoolTracking || len(d.Outstanding) == 0 {
		return nil
	}
	return v.halt(bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x62, nameAddress, 0, uint64(len(d.Outstanding))).At("verifier: pool tracking at unload"))
}

// Allocations returns a driver's outstanding allocations in address order.
func (d *Driver) Allocations() []Allocation {
	out := make([]Allocation, 0, len(d.Outstanding))
	for _, a := range d.Outstanding {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Allocation) int { return cmp.Compare(a.VA, b.VA) })
	return out
}

func (v *Verifier) halt(err error) error { return v.m.HaltOn(err) }
