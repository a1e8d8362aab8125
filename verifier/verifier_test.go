package verifier

import (
	"bytes"
	"cmp"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
	"simkern/pool"
)

// The drivers the tests act for, and the code addresses their calls come
// from: driver images in the system PTE region, so a fault they cause at
// DISPATCH_LEVEL is 0xD1, not the kernel's 0xA.
const (
	acme    = "acme.sys"  // verified unless a row says otherwise
	other   = "other.sys" // never verified unless Drivers is "*"
	acmePC  = 0xfffff880_01000010
	otherPC = 0xfffff880_02000010
	kernPC  = cpu.KernelImageBase + 0x400010
	// nameAddr is what a test passes to Unload as the address of the
	// driver's name; 0xC4/0x62 must hand it back as P2.
	nameAddr = 0xfffff880_01000100
	mib      = 1 << 20
)

// pcOf is the call site of a driver's calls.
func pcOf(driver string) uint64 {
	switch driver {
	case acme:
		return acmePC
	case other:
		return otherPC
	}
	return kernPC
}

var (
	tagAcme = pool.TagOf("Acme")
	tagFrob = pool.TagOf("Frob")
)

// spec describes a test machine and its verifier. The zero value is a
// 16 MiB machine with a 16 MiB pagefile, one CPU, acme.sys verified and
// nothing else turned on.
type spec struct {
	ramBytes   uint64 // 0: 16 MiB
	noPagefile bool
	settings   Settings // Drivers nil: [acme.sys]
	seed       uint64
}

// rig is a machine, its pool, its first CPU and a verifier on the pool.
type rig struct {
	t testing.TB
	m *mm.Machine
	p *pool.Pool
	c *cpu.CPU
	v *Verifier
}

func newRig(t testing.TB, s spec) *rig {
	t.Helper()
	if s.ramBytes == 0 {
		s.ramBytes = 16 * mib
	}
	pagefileBytes := uint64(16 * mib)
	if s.noPagefile {
		pagefileBytes = 0
	}
	if s.settings.Drivers == nil {
		s.settings.Drivers = []string{acme}
	}
	cpus, err := cpu.NewSet(1, 1)
	if err != nil {
		t.Fatalf("cpu.NewSet: %v", err)
	}
	m, err := mm.New(mm.Config{
		RAMBytes:      s.ramBytes,
		PagefileBytes: pagefileBytes,
		PagefilePath:  filepath.Join(t.TempDir(), "pagefile.sys"),
		CPUs:          cpus,
		Rand:          rand.New(rand.NewPCG(s.seed, 7)),
	})
	if err != nil {
		t.Fatalf("mm.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	p, err := pool.New(m, pool.Config{})
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	c := cpus.CPUs[0]
	c.PC = acmePC
	return &rig{t: t, m: m, p: p, c: c, v: New(p, s.settings, s.seed)}
}

// throughDump takes the rig's verifier through gob and back, as a crash
// dump does, and restores it on the rig's pool.
func throughDump(t *testing.T, r *rig) *Verifier {
	t.Helper()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(r.v.Snapshot()); err != nil {
		t.Fatalf("encode: %v", err)
	}
	var snap Snapshot
	if err := gob.NewDecoder(&b).Decode(&snap); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return Restore(r.p, &snap)
}

// poke writes one byte at va, as a driver's stray write would.
func (r *rig) poke(va mm.VA, b byte) {
	r.t.Helper()
	if err := r.m.Write(r.c, va, []byte{b}); err != nil {
		r.t.Fatalf("Write(%v): %v", va, err)
	}
}

// alloc allocates for driver from its call site and fails the test on a
// bugcheck, an injected failure or NULL.
func (r *rig) alloc(driver string, t pool.Type, n uint64, tag pool.Tag) mm.VA {
	r.t.Helper()
	r.c.PC = pcOf(driver)
	va, inj, err := r.v.Allocate(r.c, driver, t, n, tag)
	if err != nil || inj != nil || va == 0 {
		r.t.Fatalf("Allocate(%s, %v, %d, %v) = %v, injection %+v, %v; want an address", driver, t, n, tag, va, inj, err)
	}
	return va
}

// free frees for driver and fails the test on a bugcheck.
func (r *rig) free(driver string, va mm.VA) {
	r.t.Helper()
	r.c.PC = pcOf(driver)
	if err := r.v.Free(r.c, driver, va, 0, false); err != nil {
		r.t.Fatalf("Free(%s, %v): %v", driver, va, err)
	}
}

// raise takes the CPU to level, as KeRaiseIrql would.
func (r *rig) raise(level cpu.IRQL) {
	r.t.Helper()
	simtest.Raise(r.t, r.c, level)
}

// TestBugchecks: each bad call a verified driver can make, and the
// verifier's 0xC4 it amounts to, with all four parameters; an unverified
// driver making the same call gets the pool's own 0xC2.
func TestBugchecks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings Settings // Drivers nil: [acme.sys]
		// setup prepares the machine (allocations, IRQL) and returns the
		// bad call and the bugcheck it must raise.
		setup func(r *rig) (call func() error, want *bugcheck.Error)
	}{
		// Allocation rules: 0xC4 P1 0x01, 0x02 (IRQL, type, bytes).
		{
			name: "a zero-byte allocation is the pool's 0xC2/0, as Driver Verifier raises it (reference 6.2)",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.DispatchLevel)
				return allocCall(r, acme, pool.NonPagedPoolNx, 0, tagAcme),
					bugcheck.New(bugcheck.BadPoolCaller, 0, 0, uint64(pool.NonPagedPoolNx), uint64(tagAcme))
			},
		},
		{
			name: "a paged allocation at DISPATCH_LEVEL is 0xC4/0x01",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.DispatchLevel)
				return allocCall(r, acme, pool.PagedPool, 100, tagAcme),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x01, 2, uint64(pool.PagedPool), 100)
			},
		},
		{
			name:     "a paged allocation at DISPATCH_LEVEL is 0xC4/0x01 with special pool on, not special pool's 0xC1/0x30",
			settings: Settings{Drivers: []string{acme}, SpecialPool: pool.SpecialOverrun},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.DispatchLevel)
				return allocCall(r, acme, pool.PagedPool, 100, tagAcme),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x01, 2, uint64(pool.PagedPool), 100)
			},
		},
		{
			name: "a nonpaged allocation at HIGH_LEVEL is 0xC4/0x02",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.HighLevel)
				return allocCall(r, acme, pool.NonPagedPool, 64, tagAcme),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x02, 15, uint64(pool.NonPagedPool), 64)
			},
		},
		{
			name: "more than a page of must-succeed pool is 0xC4/0x03",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return allocCall(r, acme, pool.NonPagedPoolMustSucceed, 8192, tagAcme),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x03, 0, uint64(pool.NonPagedPoolMustSucceed), 8192)
			},
		},
		{
			name:     "every driver is verified with \"*\"",
			settings: Settings{Drivers: []string{"*"}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.DispatchLevel)
				return allocCall(r, other, pool.PagedPool, 24, tagAcme),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x01, 2, uint64(pool.PagedPool), 24)
			},
		},

		// Free rules: 0xC4 P1 0x10 (nothing returned it), 0x11, 0x12.
		{
			name: "a free of an address inside a block is 0xC4/0x10 with P2..P4 0",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.NonPagedPool, 64, tagAcme)
				return freeCall(r, acme, va+16), bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x10, 0, 0, 0)
			},
		},
		{
			name: "a free of NULL is 0xC4/0x10",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return freeCall(r, acme, 0), bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x10, 0, 0, 0)
			},
		},
		{
			name: "a free of an address no allocation returned is 0xC4/0x10 even at DISPATCH_LEVEL",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.PagedPool, 64, tagAcme)
				r.raise(cpu.DispatchLevel)
				return freeCall(r, acme, va+0x100), bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x10, 0, 0, 0)
			},
		},
		{
			name: "a paged free at DISPATCH_LEVEL is 0xC4/0x11 with the IRQL, the type and the address",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.PagedPool, 200, tagAcme)
				r.raise(cpu.DispatchLevel)
				return freeCall(r, acme, va),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x11, 2, uint64(pool.PagedPool), uint64(va))
			},
		},
		{
			name: "a paged free at DISPATCH_LEVEL of another driver's block is 0xC4/0x11 (the type from the region)",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(other, pool.PagedPool, 200, tagAcme)
				r.raise(cpu.DispatchLevel)
				return freeCall(r, acme, va),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x11, 2, uint64(pool.PagedPool), uint64(va))
			},
		},
		{
			name:     "a special pool paged free at DISPATCH_LEVEL is 0xC4/0x11, not special pool's 0xC1/0x31",
			settings: Settings{Drivers: []string{acme}, SpecialPool: pool.SpecialOverrun},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.PagedPool, 200, tagAcme)
				r.raise(cpu.DispatchLevel)
				return freeCall(r, acme, va),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x11, 2, uint64(pool.PagedPool), uint64(va))
			},
		},
		{
			name: "a nonpaged free above DISPATCH_LEVEL is 0xC4/0x12",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.NonPagedPoolNx, 48, tagAcme)
				r.raise(cpu.CmciLevel)
				return freeCall(r, acme, va),
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x12, 5, uint64(pool.NonPagedPoolNx), uint64(va))
			},
		},

		// Pool tracking at unload: 0xC4/0x62.
		{
			name:     "an unload with two allocations outstanding is 0xC4/0x62 with the name address and the count",
			settings: Settings{Drivers: []string{acme, other}, PoolTracking: true},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(acme, pool.NonPagedPool, 64, tagAcme)
				b := r.alloc(acme, pool.PagedPool, 300, tagAcme)
				r.alloc(acme, pool.NonPagedPool, 5000, tagAcme) // a big allocation counts as one
				r.free(acme, b)
				r.alloc(other, pool.NonPagedPool, 64, tagAcme) // another verified driver's
				return func() error { return r.v.Unload(acme, nameAddr) },
					bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x62, nameAddr, 0, 2)
			},
		},

		// Pool tracking at free: 0xC4/0x51 for bytes written past the end.
		{
			name:     "a small block freed after a write one byte past its end is 0xC4/0x51",
			settings: Settings{Drivers: []string{acme}, PoolTracking: true},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.NonPagedPool, 40, tagAcme)
				r.poke(va+40, 0xee)
				return freeCall(r, acme, va), bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x51, uint64(va), uint64(va+40), 40)
			},
		},
		{
			name:     "a big paged allocation freed after an overrun is 0xC4/0x51 at the first damaged byte",
			settings: Settings{Drivers: []string{acme}, PoolTracking: true},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.PagedPool, 5000, tagAcme)
				r.poke(va+5003, 0xee)
				return freeCall(r, acme, va), bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x51, uint64(va), uint64(va+5003), 5000)
			},
		},

		// Unverified drivers meet the pool's own checks.
		{
			name: "an unverified driver's paged allocation at DISPATCH_LEVEL is the pool's 0xC2/8",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.DispatchLevel)
				return allocCall(r, other, pool.PagedPool, 100, tagAcme),
					bugcheck.New(bugcheck.BadPoolCaller, 8, 2, uint64(pool.PagedPool), 100)
			},
		},
		{
			name:     "the kernel is never verified, even with \"*\": 0xC2/8",
			settings: Settings{Drivers: []string{"*"}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.raise(cpu.DispatchLevel)
				return allocCall(r, "", pool.PagedPool, 100, tagAcme),
					bugcheck.New(bugcheck.BadPoolCaller, 8, 2, uint64(pool.PagedPool), 100)
			},
		},
		{
			name: "an unverified driver's zero-byte allocation is the pool's 0xC2/0",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return allocCall(r, other, pool.PagedPool, 0, tagAcme),
					bugcheck.New(bugcheck.BadPoolCaller, 0, 0, uint64(pool.PagedPool), uint64(tagAcme))
			},
		},
		{
			name: "an unverified driver's paged free at DISPATCH_LEVEL is the pool's 0xC2/9",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(acme, pool.PagedPool, 100, tagAcme)
				r.raise(cpu.DispatchLevel)
				return freeCall(r, other, va), bugcheck.New(bugcheck.BadPoolCaller, 9, 2, uint64(pool.PagedPool), uint64(va))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: tc.settings})
			call, want := tc.setup(r)
			err := call()
			simtest.WantBugcheck(t, err, want)
			if h := r.m.Halted(); h == nil || h.Code != want.Code || h.P != want.P {
				t.Errorf("machine halted with %v, want %v", h, want)
			}
		})
	}
}

// allocCall is the Allocate call of a bugcheck row, from driver's call site.
func allocCall(r *rig, driver string, t pool.Type, n uint64, tag pool.Tag) func() error {
	return func() error {
		r.c.PC = pcOf(driver)
		va, inj, err := r.v.Allocate(r.c, driver, t, n, tag)
		if err == nil {
			return fmt.Errorf("Allocate returned %v, injection %+v and no bugcheck", va, inj)
		}
		return err
	}
}

// freeCall is the Free call of a bugcheck row.
func freeCall(r *rig, driver string, va mm.VA) func() error {
	return func() error {
		r.c.PC = pcOf(driver)
		return r.v.Free(r.c, driver, va, 0, false)
	}
}

// driverNamed returns the verifier's record of name.
func driverNamed(t *testing.T, v *Verifier, name string) *Driver {
	t.Helper()
	for _, d := range v.Drivers() {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("the verifier has no record of %s", name)
	return nil
}

// TestPoolTrackingRecordsOutstandingAllocations: each verified driver's
// live allocations, in address order, with what was asked for, whoever
// frees them.
func TestPoolTrackingRecordsOutstandingAllocations(t *testing.T) {
	r := newRig(t, spec{settings: Settings{Drivers: []string{acme, other}, PoolTracking: true}})
	var want []Allocation
	add := func(driver string, typ pool.Type, n uint64) mm.VA {
		va := r.alloc(driver, typ, n, tagAcme)
		if driver == acme {
			want = append(want, Allocation{VA: va, Bytes: n, Tag: tagAcme, Type: typ, Caller: pcOf(driver)})
		}
		return va
	}
	drop := func(va mm.VA) {
		want = slices.DeleteFunc(want, func(a Allocation) bool { return a.VA == va })
	}

	a := add(acme, pool.NonPagedPool, 64)
	b := add(acme, pool.PagedPool, 300)
	c := add(acme, pool.NonPagedPool, 32)
	d := add(acme, pool.NonPagedPool, 100)
	mine := add(other, pool.NonPagedPool, 64)
	r.free(acme, b)  // by itself
	r.free(other, c) // by a verified driver that did not allocate it
	r.c.PC = kernPC  // by the kernel, which is never verified
	if err := r.v.Free(r.c, "", d, tagAcme, true); err != nil {
		t.Fatalf("the kernel's free of %v: %v", d, err)
	}
	drop(b)
	drop(c)
	drop(d)
	e := add(acme, pool.NonPagedPool, 32) // likely c's block again, from the lookaside list

	got := driverNamed(t, r.v, acme).Allocations()
	byVA := func(x, y Allocation) int { return cmp.Compare(x.VA, y.VA) }
	slices.SortFunc(want, byVA)
	if !slices.Equal(got, want) {
		t.Errorf("acme.sys Allocations() =\n  %+v\nwant (address order)\n  %+v", got, want)
	}
	if !slices.IsSortedFunc(got, byVA) {
		t.Errorf("Allocations() not in address order: %+v", got)
	}
	if n := len(driverNamed(t, r.v, acme).Outstanding); n != 2 {
		t.Errorf("acme.sys has %d outstanding allocations, want 2 (a and e)", n)
	}
	if o := driverNamed(t, r.v, other).Allocations(); len(o) != 1 || o[0].VA != mine {
		t.Errorf("other.sys Allocations() = %+v, want only %v", o, mine)
	}
	if ad := driverNamed(t, r.v, acme); ad.NonPaged.Bytes != 64+32 || ad.Paged.Bytes != 0 {
		t.Errorf("acme.sys holds %d nonpaged and %d paged bytes, want 96 and 0", ad.NonPaged.Bytes, ad.Paged.Bytes)
	}
	s := r.v.Stats
	if s.NonPaged.Allocations != 3 || s.NonPaged.Bytes != 64+32+64 || s.NonPaged.PeakAllocations != 4 || s.Paged.Allocations != 0 || s.Paged.PeakBytes != 300 {
		t.Errorf("stats %+v: want 3 nonpaged allocations (160 bytes) now, a peak of 4, no paged now and a paged peak of 300 bytes", s)
	}

	// Freed by someone else, e still counts against acme.sys until freed.
	r.free(other, e)
	r.free(other, a)
	if err := r.v.Unload(acme, nameAddr); err != nil {
		t.Fatalf("unload with everything freed by another driver: %v", err)
	}
	if !driverNamed(t, r.v, acme).Unloaded {
		t.Error("acme.sys not marked unloaded")
	}
}

// TestUnloadWithoutBugcheck: unloads that must not halt the machine.
func TestUnloadWithoutBugcheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings Settings
		driver   string // allocates two blocks and unloads
		freeAll  bool
	}{
		{"a driver that freed everything unloads", Settings{Drivers: []string{acme}, PoolTracking: true}, acme, true},
		{"without pool tracking leaks are not checked", Settings{Drivers: []string{acme}}, acme, false},
		{"an unverified driver's leaks are not checked", Settings{Drivers: []string{acme}, PoolTracking: true}, other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: tc.settings})
			x := r.alloc(tc.driver, pool.NonPagedPool, 64, tagAcme)
			y := r.alloc(tc.driver, pool.PagedPool, 64, tagAcme)
			if tc.freeAll {
				r.free(tc.driver, x)
				r.free(tc.driver, y)
			}
			if err := r.v.Unload(tc.driver, nameAddr); err != nil {
				t.Fatalf("Unload: %v", err)
			}
			if h := r.m.Halted(); h != nil {
				t.Fatalf("machine halted: %v", h)
			}
			d := driverNamed(t, r.v, tc.driver)
			if !d.Unloaded {
				t.Error("not marked unloaded")
			}
			if !tc.settings.PoolTracking && len(d.Outstanding) != 0 {
				t.Errorf("without pool tracking %d allocations recorded, want none", len(d.Outstanding))
			}
		})
	}
}

// lowResources runs n allocations by acme.sys (sizes, tags and call
// sites varying with i) through a fresh verifier seeded with seed, and
// returns the injections and which allocations were failed.
func lowResources(t *testing.T, r *rig, lr LowResources, seed uint64, n int) ([]Injection, []int) {
	t.Helper()
	v := New(r.p, Settings{Drivers: []string{acme}, LowResources: &lr}, seed)
	var failed []int
	var injections []Injection
	for i := range n {
		r.c.PC = acmePC + uint64(i%7)*0x10
		size := uint64(16 + i%5*40)
		va, inj, err := v.Allocate(r.c, acme, pool.NonPagedPool, size, tagAcme)
		switch {
		case err != nil:
			t.Fatalf("seed %d allocation %d: %v", seed, i, err)
		case inj != nil:
			if va != 0 {
				t.Fatalf("seed %d allocation %d: injection %+v returned %v, want NULL", seed, i, *inj, va)
			}
			if inj.Number != len(failed)+1 || inj.Why != "probability" || inj.Bytes != size || inj.Caller != r.c.PC || inj.Driver != acme {
				t.Fatalf("seed %d allocation %d: injection %+v, want number %d, probability, %d bytes from %#x", seed, i, *inj, len(failed)+1, size, r.c.PC)
			}
			failed = append(failed, i)
			injections = append(injections, *inj)
		case va == 0:
			t.Fatalf("seed %d allocation %d: NULL without an injection on a machine with room", seed, i)
		default:
			if err := v.Free(r.c, acme, va, 0, false); err != nil {
				t.Fatalf("seed %d free %d: %v", seed, i, err)
			}
		}
	}
	if v.Stats.FailedDeliberately != uint64(len(failed)) || v.Stats.AllocationsFailed != uint64(len(failed)) {
		t.Fatalf("seed %d: stats %+v, want %d failed deliberately", seed, v.Stats, len(failed))
	}
	return injections, failed
}

// TestLowResourcesProbabilityIsWithinBounds: over 200 seeds of 100
// allocations at p = 0.06, the failure rate is close to 6%. With 20,000
// trials the standard deviation is 0.0017, so 0.045..0.075 is about nine
// of them either way: only a wrong probability fails this.
func TestLowResourcesProbabilityIsWithinBounds(t *testing.T) {
	const seeds, perSeed, p = 200, 100, 0.06
	r := newRig(t, spec{})
	failed := 0
	counts := map[int]bool{}
	for seed := uint64(1); seed <= seeds; seed++ {
		_, f := lowResources(t, r, LowResources{Probability: p}, seed, perSeed)
		failed += len(f)
		counts[len(f)] = true
	}
	rate := float64(failed) / (seeds * perSeed)
	if rate < 0.045 || rate > 0.075 {
		t.Errorf("%d of %d allocations failed: rate %.4f, want 0.045..0.075 around %v", failed, seeds*perSeed, rate, p)
	}
	if len(counts) < 4 {
		t.Errorf("only %d distinct failure counts over %d seeds: the seed does not seem to matter", len(counts), seeds)
	}
}

// TestLowResourcesIsReproducedBySeed: the same seed fails the same
// allocations with the same injections, whatever the pool holds; another
// seed fails others.
func TestLowResourcesIsReproducedBySeed(t *testing.T) {
	lr := LowResources{Probability: 0.2}
	fresh := newRig(t, spec{})
	injA, failedA := lowResources(t, fresh, lr, 42, 200)

	busy := newRig(t, spec{seed: 99}) // another machine seed, a pool with blocks in it
	for range 50 {
		busy.alloc(other, pool.PagedPool, 100, tagFrob)
	}
	injB, failedB := lowResources(t, busy, lr, 42, 200)
	if !slices.Equal(failedA, failedB) || !slices.Equal(injA, injB) {
		t.Errorf("seed 42 failed allocations %v, then %v", failedA, failedB)
	}
	if len(failedA) == 0 {
		t.Fatal("seed 42 failed nothing at p = 0.2")
	}
	_, failedC := lowResources(t, fresh, lr, 43, 200)
	if slices.Equal(failedA, failedC) {
		t.Errorf("seeds 42 and 43 both failed %v", failedA)
	}
}

// TestLowResourcesSelection: which allocations low resources simulation
// may fail (after, tags, systematic), at probability 1 where it applies.
func TestLowResourcesSelection(t *testing.T) {
	type call struct {
		driver string
		pc     uint64
		tag    pool.Tag
		fail   string // "": succeeds; else the injection's Why
	}
	frobProtected := tagFrob | pool.ProtectedTag
	sys := func(pc uint64) call { return call{acme, pc, tagAcme, "systematic"} }
	ok := func(pc uint64) call { return call{acme, pc, tagAcme, ""} }
	for _, tc := range []struct {
		name  string
		lr    LowResources
		calls []call
	}{
		{
			name: "after lets the first 3 allocations of verified drivers through",
			lr:   LowResources{Probability: 1, After: 3},
			calls: []call{
				{acme, acmePC, tagAcme, ""}, {other, otherPC, tagAcme, ""}, {acme, acmePC, tagAcme, ""},
				{other, otherPC, tagAcme, ""}, {acme, acmePC, tagAcme, ""},
				{acme, acmePC, tagAcme, "probability"}, {other, otherPC, tagAcme, ""}, {acme, acmePC, tagAcme, "probability"},
			},
		},
		{
			name: "tags fail only allocations with those tags, protected or not",
			lr:   LowResources{Probability: 1, Tags: []pool.Tag{tagFrob, pool.TagOf("Bar")}},
			calls: []call{
				{acme, acmePC, tagAcme, ""}, {acme, acmePC, tagFrob, "probability"}, {acme, acmePC, pool.TagOf("Frog"), ""},
				{acme, acmePC, frobProtected, "probability"}, {acme, acmePC, pool.TagOf("Bar"), "probability"},
			},
		},
		{
			name: "systematic fails each call site the first time only, ignoring the probability",
			lr:   LowResources{Probability: 0.5, Systematic: true},
			calls: []call{
				sys(acmePC), sys(acmePC + 0x10), ok(acmePC), sys(acmePC + 0x20), ok(acmePC + 0x10),
				ok(acmePC), ok(acmePC + 0x20), ok(acmePC + 0x10), ok(acmePC), ok(acmePC),
				ok(acmePC), ok(acmePC + 0x20), ok(acmePC + 0x20), ok(acmePC + 0x10), sys(acmePC + 0x30),
				ok(acmePC + 0x30), ok(acmePC + 0x30), ok(acmePC + 0x10), ok(acmePC), ok(acmePC + 0x20),
			},
		},
		{
			name: "systematic with tags marks a site only when its tag is eligible",
			lr:   LowResources{Systematic: true, Tags: []pool.Tag{tagFrob}},
			calls: []call{
				{acme, acmePC, tagAcme, ""}, {acme, acmePC, tagFrob, "systematic"}, {acme, acmePC, tagFrob, ""},
			},
		},
		{
			name: "systematic after 2 fails each site at its first call once the first 2 calls have passed",
			lr:   LowResources{Systematic: true, After: 2},
			calls: []call{
				ok(acmePC), ok(acmePC + 0x10), sys(acmePC), sys(acmePC + 0x10), ok(acmePC), ok(acmePC + 0x10),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: Settings{Drivers: []string{acme}, LowResources: &tc.lr}})
			var wantInj []Injection
			var events uint64 // one per call of a verified driver: an allocation or an injection
			for i, c := range tc.calls {
				if c.driver == acme {
					events++
				}
				r.c.PC = c.pc
				va, inj, err := r.v.Allocate(r.c, c.driver, pool.NonPagedPool, 64, c.tag)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if c.fail == "" {
					if inj != nil || va == 0 {
						t.Fatalf("call %d (%s at %#x, %v): got %v, injection %+v; want an address", i, c.driver, c.pc, c.tag, va, inj)
					}
					continue
				}
				want := Injection{Number: len(wantInj) + 1, Event: events, Driver: c.driver, Caller: c.pc, Type: pool.NonPagedPool, Bytes: 64, Tag: c.tag, Why: c.fail}
				wantInj = append(wantInj, want)
				if inj == nil || va != 0 || *inj != want {
					t.Fatalf("call %d (%s at %#x, %v): got %v, injection %+v; want NULL from injection %+v", i, c.driver, c.pc, c.tag, va, inj, want)
				}
			}
			if r.v.Stats.FailedDeliberately != uint64(len(wantInj)) {
				t.Errorf("FailedDeliberately = %d, want %d", r.v.Stats.FailedDeliberately, len(wantInj))
			}
			slices.Reverse(wantInj)
			if got, total := r.v.InjectionLog(len(wantInj) + 1); !slices.Equal(got, wantInj) || total != uint64(len(wantInj)) {
				t.Errorf("InjectionLog = %+v (%d in all), want %+v", got, total, wantInj)
			}
		})
	}
}

// Low resources simulation never fails a must-succeed request: failing it
// is the bugcheck 0x41, not a NULL a driver could handle.
func TestLowResourcesSparesMustSucceed(t *testing.T) {
	r := newRig(t, spec{settings: Settings{Drivers: []string{acme}, LowResources: &LowResources{Probability: 1}}})
	for range 3 {
		va, inj, err := r.v.Allocate(r.c, acme, pool.NonPagedPoolMustSucceed, 100, tagAcme)
		if err != nil || inj != nil || va == 0 {
			t.Fatalf("must-succeed allocation: %v, injection %+v, %v; want an address", va, inj, err)
		}
	}
	if va, inj, _ := r.v.Allocate(r.c, acme, pool.NonPagedPool, 100, tagAcme); va != 0 || inj == nil {
		t.Errorf("an ordinary allocation at probability 1: %v, injection %+v; want NULL, injected", va, inj)
	}
}

// TestSpecialPoolPlacement: a verified driver's eligible allocation gets
// a special pool page, against its end with the guard after (overrun) or
// at its start with the guard before (underrun).
func TestSpecialPoolPlacement(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    pool.SpecialMode
		driver  string
		bytes   uint64
		special bool
		offset  uint64 // of the data in its page
		guard   int64  // the guard page, in pages from the data page
	}{
		{"overrun puts 100 bytes against the end of the page, 16-byte aligned", pool.SpecialOverrun, acme, 100, true, 4096 - 112, +1},
		{"overrun puts 4080 bytes after the header", pool.SpecialOverrun, acme, 4080, true, 16, +1},
		{"underrun puts 100 bytes at the start of the page", pool.SpecialUnderrun, acme, 100, true, 0, -1},
		{"a request of more than 4080 bytes is not eligible", pool.SpecialOverrun, acme, 4081, false, 0, 0},
		{"an unverified driver gets the normal pool", pool.SpecialOverrun, other, 100, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: Settings{Drivers: []string{acme}, SpecialPool: tc.mode, PoolTracking: true}})
			va := r.alloc(tc.driver, pool.NonPagedPool, tc.bytes, tagAcme)
			isSpecial := mm.RegionOf(va) == mm.RegionSpecialPool
			if isSpecial != tc.special {
				t.Fatalf("allocation at %v (%v): special %v, want %v", va, mm.RegionOf(va), isSpecial, tc.special)
			}
			s := r.v.Stats
			if tc.driver == acme {
				wantSP := uint64(0)
				if tc.special {
					wantSP = 1
				}
				if s.SucceededSpecialPool != wantSP || s.AllocationsSucceeded != 1 {
					t.Errorf("stats %+v, want %d special pool allocation(s)", s, wantSP)
				}
				if f := r.p.SpecialStats().Fallbacks; f != 0 {
					t.Errorf("%d special pool fallbacks, want none", f)
				}
				if a := driverNamed(t, r.v, acme).Allocations(); len(a) != 1 || a[0].Special != tc.special {
					t.Errorf("tracked %+v, want one allocation with Special %v", a, tc.special)
				}
			}
			if !tc.special {
				return
			}
			if off := uint64(va.PageOffset()); off != tc.offset {
				t.Errorf("data at page offset %#x, want %#x", off, tc.offset)
			}
			a, ok := r.p.SpecialAt(va)
			if !ok || a.VA != va || a.Mode != tc.mode || a.Bytes != tc.bytes {
				t.Fatalf("SpecialAt(%v) = %+v, %v", va, a, ok)
			}
			if want := va.PageBase() + mm.VA(tc.guard*mm.PageBytes); a.Guard != want {
				t.Errorf("guard page %v, want %v", a.Guard, want)
			}
			r.free(acme, va)
			if n := len(driverNamed(t, r.v, acme).Outstanding); n != 0 || r.p.SpecialStats().Frees != 1 {
				t.Errorf("after the free: %d tracked, special pool stats %+v", n, r.p.SpecialStats())
			}
		})
	}
}

// TestSpecialPoolFallsBackWhenExhausted: on a 2 MiB machine special pool
// serves allocations until fewer than 256 pages are available, then every
// eligible request falls back to the normal pool, and is counted.
func TestSpecialPoolFallsBackWhenExhausted(t *testing.T) {
	const n = 400
	r := newRig(t, spec{ramBytes: 2 * mib, noPagefile: true, settings: Settings{Drivers: []string{acme}, SpecialPool: pool.SpecialOverrun}})
	special, firstFallback := 0, -1
	for i := range n {
		avail := r.m.Stats().Available()
		va := r.alloc(acme, pool.NonPagedPool, 64, tagAcme)
		switch mm.RegionOf(va) {
		case mm.RegionSpecialPool:
			if firstFallback >= 0 {
				t.Fatalf("allocation %d got special pool after allocation %d fell back", i, firstFallback)
			}
			special++
		case mm.RegionNonPagedPool:
			if firstFallback < 0 {
				firstFallback = i
				if avail >= 256 {
					t.Errorf("allocation %d fell back with %d pages available, want fewer than 256", i, avail)
				}
			}
		default:
			t.Fatalf("allocation %d at %v in %v", i, va, mm.RegionOf(va))
		}
	}
	if special == 0 || firstFallback < 0 {
		t.Fatalf("%d special pool allocations, first fallback %d: want some of each", special, firstFallback)
	}
	s := r.v.Stats
	if s.SucceededSpecialPool != uint64(special) || s.AllocationsSucceeded != n {
		t.Errorf("stats %+v, want %d in special pool of %d", s, special, n)
	}
	if f := r.p.SpecialStats().Fallbacks; f != uint64(n-special) {
		t.Errorf("pool counts %d fallbacks, want %d", f, n-special)
	}
}

// TestForceIrqlChecking: a driver (or the kernel) reads a resident paged
// page at DISPATCH_LEVEL. The page is in memory, so the read works; with
// IRQL checking a verified driver's or the kernel's raise trims it first,
// so the read is 0xD1 (the kernel's, 0xA).
func TestForceIrqlChecking(t *testing.T) {
	for _, tc := range []struct {
		name     string
		checking bool
		driver   string
		to       cpu.IRQL
		// outcome
		raises, trims uint64
		want          func(va mm.VA) *bugcheck.Error // nil: the read works
	}{
		{
			name: "without irql_checking the resident page reads fine", driver: acme, to: cpu.DispatchLevel, raises: 1,
		},
		{
			name: "with irql_checking the raise trims it and the read is 0xD1", checking: true, driver: acme, to: cpu.DispatchLevel,
			raises: 1, trims: 1,
			want: func(va mm.VA) *bugcheck.Error {
				return bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, uint64(va), 2, 0, acmePC)
			},
		},
		{
			name: "a raise to APC_LEVEL trims nothing", checking: true, driver: acme, to: cpu.ApcLevel, raises: 1,
		},
		{
			name: "an unverified driver's raise trims nothing", checking: true, driver: other, to: cpu.DispatchLevel,
		},
		{
			// The scenario format's "whenever IRQL is raised": a kernel
			// step's raise trims too, though it is not counted as a
			// verified driver's, and the kernel's own read is then 0xA.
			name: "the kernel's raise trims too, and its read is 0xA", checking: true, driver: "", to: cpu.DispatchLevel,
			trims: 1,
			want: func(va mm.VA) *bugcheck.Error {
				return bugcheck.New(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 0, kernPC)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: Settings{Drivers: []string{acme}, IRQLChecking: tc.checking}})
			va := r.alloc(tc.driver, pool.PagedPool, 64, tagAcme)
			if err := r.m.Write(r.c, va, []byte("config")); err != nil {
				t.Fatal(err)
			}
			r.raise(tc.to)
			r.v.IrqlChanged(r.c, tc.driver, cpu.PassiveLevel)
			if s := r.v.Stats; s.RaiseIrqls != tc.raises || s.Trims != tc.trims {
				t.Errorf("RaiseIrqls %d, Trims %d; want %d, %d", s.RaiseIrqls, s.Trims, tc.raises, tc.trims)
			}
			if valid := r.m.PTE(va).Valid(); valid != (tc.trims == 0) {
				t.Errorf("after the raise the page's PTE valid = %v, want %v", valid, tc.trims == 0)
			}
			buf := make([]byte, 6)
			r.c.PC = pcOf(tc.driver)
			err := r.m.Read(r.c, va, buf)
			if tc.want != nil {
				simtest.WantBugcheck(t, err, tc.want(va))
				return
			}
			if err != nil || string(buf) != "config" {
				t.Fatalf("read %q, %v; want \"config\"", buf, err)
			}
		})
	}
}

// A verified driver that frees the same small block twice is caught by
// the verifier, 0xC4/0x13 (the header's address and its first eight
// bytes), before the pool's own 0xC2/7, whether the block sits on a
// lookaside list or a free list; not 0xC4/0x10, since the address was an
// allocation's. Special pool reports its own (0xC1/0x20).
func TestDoubleFreeByAVerifiedDriver(t *testing.T) {
	c413 := func(va mm.VA, h uint64) *bugcheck.Error {
		return bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x13, 0, uint64(va-pool.HeaderBytes), h)
	}
	for _, tc := range []struct {
		name     string
		settings Settings
		size     uint64
		want     func(va mm.VA, h uint64) *bugcheck.Error
	}{
		{
			name:     "a small block on a lookaside list",
			settings: Settings{Drivers: []string{acme}, PoolTracking: true},
			size:     64,
			want:     c413,
		},
		{
			name:     "a small block on a free list, without pool tracking",
			settings: Settings{Drivers: []string{acme}},
			size:     700,
			want:     c413,
		},
		{
			name:     "special pool: special pool's own 0xC1/0x20, the freed page being no-access",
			settings: Settings{Drivers: []string{acme}, SpecialPool: pool.SpecialOverrun},
			size:     64,
			want: func(va mm.VA, _ uint64) *bugcheck.Error {
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), 0, 0, 0x20)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: tc.settings})
			r.alloc(acme, pool.NonPagedPool, 16, tagAcme) // so the block is not the page's first, and a free list keeps it
			va := r.alloc(acme, pool.NonPagedPool, tc.size, tagAcme)
			r.alloc(acme, pool.NonPagedPool, 16, tagAcme)
			r.free(acme, va)
			var h uint64
			if mm.RegionOf(va) != mm.RegionSpecialPool {
				w, ok := r.m.PeekU64(va - pool.HeaderBytes)
				if h := pool.HeaderFromWord0(w); !ok || h.Allocated() || tc.size > 488 && !h.Free() {
					t.Fatalf("the freed block's header cannot be read, or is not on the list the case is for: %#x", w)
				}
				h = w
			}
			r.c.PC = acmePC
			err := r.v.Free(r.c, acme, va, 0, false)
			simtest.WantBugcheck(t, err, tc.want(va, h))
		})
	}
}

// Without pool tracking, a verified driver's overrun is left to the pool's
// own canary check at free: 0x19/0x21, not 0xC4/0x51.
func TestOverrunWithoutPoolTrackingIsThePools(t *testing.T) {
	r := newRig(t, spec{settings: Settings{Drivers: []string{acme}}})
	va := r.alloc(acme, pool.NonPagedPool, 40, tagAcme)
	r.poke(va+40, 0xee)
	err := freeCall(r, acme, va)()
	var b *bugcheck.Error
	if !errors.As(err, &b) || b.Code != bugcheck.BadPoolHeader || b.P[0] != 0x21 || b.P[1] != uint64(va) {
		t.Errorf("free after an overrun: %v, want 0x19/0x21 for %v", err, va)
	}
}

// poolStep is one call in a TestDriverPoolUse row: driver allocates bytes
// from pool, or (bytes 0) frees the row's allocation number free, counted
// from 0 in the order the row allocated them.
type poolStep struct {
	driver string
	pool   pool.Type
	bytes  uint64
	free   int
}

func allocStep(driver string, t pool.Type, n uint64) poolStep {
	return poolStep{driver: driver, pool: t, bytes: n}
}
func freeStep(driver string, i int) poolStep { return poolStep{driver: driver, free: i} }

// TestDriverPoolUse: a verified driver's counters, nonpaged and paged
// apart, after a sequence of allocations and frees: what it holds now and
// the most it held at once, which frees never lower. The counters survive
// a snapshot, as a crash dump carries them.
func TestDriverPoolUse(t *testing.T) {
	tracking := Settings{Drivers: []string{acme, other}, PoolTracking: true}
	np, paged := pool.NonPagedPool, pool.PagedPool
	for _, tc := range []struct {
		name     string
		settings Settings
		steps    []poolStep

		// acme.sys's counters after the steps.
		wantNonPaged, wantPaged PoolUse
	}{
		{
			name:     "nonpaged and paged are counted apart, and the peaks stay after everything is freed",
			settings: tracking,
			steps: []poolStep{allocStep(acme, np, 64), allocStep(acme, paged, 300), allocStep(acme, np, 32), allocStep(acme, paged, 100),
				freeStep(acme, 0), freeStep(acme, 1), freeStep(acme, 2), freeStep(acme, 3)},
			wantNonPaged: PoolUse{PeakAllocations: 2, PeakBytes: 96},
			wantPaged:    PoolUse{PeakAllocations: 2, PeakBytes: 400},
		},
		{
			name:     "a peak is the most held at once, not the sum of everything allocated",
			settings: tracking,
			steps:    []poolStep{allocStep(acme, np, 100), freeStep(acme, 0), allocStep(acme, np, 40), allocStep(acme, np, 40), freeStep(acme, 2)},
			// 100 bytes in one allocation, later 80 in two.
			wantNonPaged: PoolUse{Allocations: 1, Bytes: 40, PeakAllocations: 2, PeakBytes: 100},
		},
		{
			name:     "frees by another driver and by the kernel count against the driver that allocated",
			settings: tracking,
			steps: []poolStep{allocStep(acme, np, 64), allocStep(acme, np, 48), allocStep(acme, paged, 200), allocStep(other, np, 500),
				freeStep(other, 0), freeStep("", 2)},
			wantNonPaged: PoolUse{Allocations: 1, Bytes: 48, PeakAllocations: 2, PeakBytes: 112},
			wantPaged:    PoolUse{PeakAllocations: 1, PeakBytes: 200},
		},
		{
			name:         "without pool tracking the counters are kept all the same",
			settings:     Settings{Drivers: []string{acme}},
			steps:        []poolStep{allocStep(acme, np, 64), allocStep(acme, paged, 32), freeStep(acme, 0)},
			wantNonPaged: PoolUse{PeakAllocations: 1, PeakBytes: 64},
			wantPaged:    PoolUse{Allocations: 1, Bytes: 32, PeakAllocations: 1, PeakBytes: 32},
		},
		{
			name:         "an allocation low resources simulation failed is not counted",
			settings:     Settings{Drivers: []string{acme}, PoolTracking: true, LowResources: &LowResources{Systematic: true}},
			steps:        []poolStep{allocStep(acme, np, 64), allocStep(acme, np, 64), allocStep(acme, np, 16)}, // the first fails
			wantNonPaged: PoolUse{Allocations: 2, Bytes: 80, PeakAllocations: 2, PeakBytes: 80},
		},
		{
			name:         "a large allocation counts the bytes asked for, not its pages",
			settings:     tracking,
			steps:        []poolStep{allocStep(acme, np, 10000), allocStep(acme, paged, 5000)},
			wantNonPaged: PoolUse{Allocations: 1, Bytes: 10000, PeakAllocations: 1, PeakBytes: 10000},
			wantPaged:    PoolUse{Allocations: 1, Bytes: 5000, PeakAllocations: 1, PeakBytes: 5000},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, spec{settings: tc.settings})
			var vas []mm.VA // 0 for an allocation that failed
			for _, s := range tc.steps {
				if s.bytes == 0 {
					r.free(s.driver, vas[s.free])
					continue
				}
				r.c.PC = pcOf(s.driver)
				va, _, err := r.v.Allocate(r.c, s.driver, s.pool, s.bytes, tagAcme)
				if err != nil {
					t.Fatalf("Allocate(%s, %v, %d): %v", s.driver, s.pool, s.bytes, err)
				}
				vas = append(vas, va)
			}
			d := driverNamed(t, r.v, acme)
			if d.NonPaged != tc.wantNonPaged || d.Paged != tc.wantPaged {
				t.Errorf("acme.sys counts\n  nonpaged %+v\n  paged    %+v\nwant\n  nonpaged %+v\n  paged    %+v",
					d.NonPaged, d.Paged, tc.wantNonPaged, tc.wantPaged)
			}

			// The slow way: the drivers' current counts add up to the
			// verifier's totals.
			var sum PoolUses
			for _, d := range r.v.Drivers() {
				sum.NonPaged.Allocations += d.NonPaged.Allocations
				sum.NonPaged.Bytes += d.NonPaged.Bytes
				sum.Paged.Allocations += d.Paged.Allocations
				sum.Paged.Bytes += d.Paged.Bytes
			}
			s := r.v.Stats
			if sum.NonPaged.Allocations != s.NonPaged.Allocations || sum.NonPaged.Bytes != s.NonPaged.Bytes ||
				sum.Paged.Allocations != s.Paged.Allocations || sum.Paged.Bytes != s.Paged.Bytes {
				t.Errorf("drivers hold %d nonpaged allocations (%d bytes) and %d paged (%d bytes); the totals say %d (%d), %d (%d)",
					sum.NonPaged.Allocations, sum.NonPaged.Bytes, sum.Paged.Allocations, sum.Paged.Bytes,
					s.NonPaged.Allocations, s.NonPaged.Bytes, s.Paged.Allocations, s.Paged.Bytes)
			}

			restored := driverNamed(t, throughDump(t, r), acme)
			if restored.NonPaged != d.NonPaged || restored.Paged != d.Paged {
				t.Errorf("restored from a snapshot: nonpaged %+v, paged %+v; the live verifier has %+v, %+v",
					restored.NonPaged, restored.Paged, d.NonPaged, d.Paged)
			}
		})
	}
}
