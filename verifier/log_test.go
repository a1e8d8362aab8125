package verifier

import (
	"slices"
	"testing"

	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
	"simkern/pool"
)

// TestPoolLog: the pool log records a verified driver's allocations and
// frees, and the kernel's or another driver's free of a block a verified
// driver allocated, newest first, numbered by event; an unverified
// driver's own blocks and a free that bugchecks are not logged.
func TestPoolLog(t *testing.T) {
	r := newRig(t, spec{ramBytes: 32 * mib})
	a := r.alloc(acme, pool.NonPagedPool, 100, tagAcme)
	b := r.alloc(acme, pool.PagedPool, 8000, tagAcme)   // a big allocation
	o := r.alloc(other, pool.NonPagedPool, 50, tagFrob) // not verified: not logged
	k := r.alloc("", pool.NonPagedPool, 60, tagFrob)    // the kernel's: not logged
	r.free(other, a)                                    // a verified driver's block: logged
	r.free(acme, k)                                     // by a verified driver: logged, with the block's size
	r.free(other, o)                                    // neither: not logged
	r.free("", b)                                       // the kernel frees acme's block: logged
	want := []PoolLogEntry{
		{Event: 5, VA: b, Bytes: 8000, Caller: kernPC, Free: true},
		{Event: 4, VA: k, Bytes: 60, Caller: acmePC, Free: true},
		{Event: 3, VA: a, Bytes: 100, Caller: otherPC, Free: true},
		{Event: 2, VA: b, Bytes: 8000, Caller: acmePC},
		{Event: 1, VA: a, Bytes: 100, Caller: acmePC},
	}
	got, total := r.v.PoolLog(10)
	if !slices.Equal(got, want) || total != 5 {
		t.Errorf("PoolLog(10) = %+v (%d in all)\nwant %+v (5)", got, total, want)
	}
	if got, _ := r.v.PoolLog(2); !slices.Equal(got, want[:2]) {
		t.Errorf("PoolLog(2) = %+v, want the newest two %+v", got, want[:2])
	}

	// A second free of a is 0xC4/0x13 for a verified driver: the machine
	// halts, and the log still ends at the first free.
	r.c.PC = acmePC
	if err := r.v.Free(r.c, acme, a, 0, false); err == nil {
		t.Fatal("freeing a twice: no bugcheck")
	}
	if got, total := r.v.PoolLog(10); !slices.Equal(got, want) || total != 5 {
		t.Errorf("after the double free PoolLog = %+v (%d in all), want it unchanged", got, total)
	}
}

// TestPoolLogKeepsTheLast: past PoolLogEntries entries the oldest go, and
// the total still counts them.
func TestPoolLogKeepsTheLast(t *testing.T) {
	r := newRig(t, spec{})
	const pairs = PoolLogEntries/2 + 3
	var last mm.VA
	for range pairs {
		last = r.alloc(acme, pool.NonPagedPool, 32, tagAcme)
		r.free(acme, last)
	}
	all, total := r.v.PoolLog(PoolLogEntries + 10)
	if len(all) != PoolLogEntries || total != 2*pairs {
		t.Fatalf("PoolLog kept %d of %d entries, want %d of %d", len(all), total, PoolLogEntries, 2*pairs)
	}
	if newest, oldest := all[0], all[len(all)-1]; newest.Event != 2*pairs || !newest.Free || newest.VA != last || oldest.Event != 2*pairs-PoolLogEntries+1 {
		t.Errorf("newest %+v, oldest %+v; want events %d (the last free, of %v) and %d", newest, oldest, 2*pairs, last, 2*pairs-PoolLogEntries+1)
	}
}

// TestIrqlLog: a verified driver's raises and lowers are logged with the
// levels on both sides; only raises count as RaiseIrqls; an unverified
// driver's changes are not logged.
func TestIrqlLog(t *testing.T) {
	r := newRig(t, spec{})
	change := func(driver string, to cpu.IRQL) {
		t.Helper()
		old := r.c.IRQL()
		r.c.PC = pcOf(driver)
		if to >= old {
			simtest.Raise(t, r.c, to)
		} else if err := r.c.Lower(to); err != nil {
			t.Fatal(err)
		}
		r.v.IrqlChanged(r.c, driver, old)
	}
	change(acme, cpu.DispatchLevel)
	change(other, cpu.HighLevel)
	change(other, cpu.DispatchLevel)
	change(acme, cpu.PassiveLevel)
	want := []IrqlLogEntry{
		{Event: 2, Caller: acmePC, Old: cpu.DispatchLevel, New: cpu.PassiveLevel},
		{Event: 1, Caller: acmePC, Old: cpu.PassiveLevel, New: cpu.DispatchLevel},
	}
	if got, total := r.v.IrqlLog(4); !slices.Equal(got, want) || total != 2 {
		t.Errorf("IrqlLog(4) = %+v (%d in all), want %+v", got, total, want)
	}
	if r.v.Stats.RaiseIrqls != 1 {
		t.Errorf("RaiseIrqls = %d, want 1 (acme's raise; its lower is not one)", r.v.Stats.RaiseIrqls)
	}
}

// TestLogsInSnapshot: a crash dump carries the three logs and their
// totals, so !verifier 4, 8 and 0x80 read the same on the dump.
func TestLogsInSnapshot(t *testing.T) {
	r := newRig(t, spec{settings: Settings{LowResources: &LowResources{Systematic: true}}})
	r.c.PC = acmePC
	if va, inj, err := r.v.Allocate(r.c, acme, pool.NonPagedPool, 40, tagAcme); va != 0 || inj == nil || err != nil {
		t.Fatalf("the first allocation at a site: %v, %+v, %v; want an injected NULL", va, inj, err)
	}
	r.free(acme, r.alloc(acme, pool.PagedPool, 70, tagAcme))
	simtest.Raise(t, r.c, cpu.ApcLevel)
	r.v.IrqlChanged(r.c, acme, cpu.PassiveLevel)

	back := throughDump(t, r)
	pl, pn := r.v.PoolLog(10)
	il, in := r.v.IrqlLog(10)
	jl, jn := r.v.InjectionLog(10)
	bpl, bpn := back.PoolLog(10)
	bil, bin := back.IrqlLog(10)
	bjl, bjn := back.InjectionLog(10)
	if len(pl) != 2 || len(il) != 1 || len(jl) != 1 {
		t.Fatalf("the live verifier logged %d pool operations, %d IRQL changes, %d injections; want 2, 1, 1", len(pl), len(il), len(jl))
	}
	if !slices.Equal(bpl, pl) || bpn != pn || !slices.Equal(bil, il) || bin != in || !slices.Equal(bjl, jl) || bjn != jn {
		t.Errorf("restored logs differ:\npool %+v (%d), want %+v (%d)\nirql %+v (%d), want %+v (%d)\ninjections %+v (%d), want %+v (%d)",
			bpl, bpn, pl, pn, bil, bin, il, in, bjl, bjn, jl, jn)
	}
	if back.logs.events != 4 {
		t.Errorf("restored event count %d, want 4", back.logs.events)
	}
}

// TestLowerDoesNotTrim: Force IRQL Checking trims on a verified driver's
// raise to DISPATCH_LEVEL or above, not on its lower that lands there: the
// lower is logged, but neither counted as a raise nor trimmed on.
func TestLowerDoesNotTrim(t *testing.T) {
	r := newRig(t, spec{settings: Settings{IRQLChecking: true}})
	va := r.alloc(acme, pool.PagedPool, 64, tagAcme)
	r.poke(va, 1) // resident and dirty
	r.c.PC = otherPC
	simtest.Raise(t, r.c, cpu.HighLevel)
	r.v.IrqlChanged(r.c, other, cpu.PassiveLevel) // not verified: no trim
	r.c.PC = acmePC
	if err := r.c.Lower(cpu.DispatchLevel); err != nil {
		t.Fatal(err)
	}
	r.v.IrqlChanged(r.c, acme, cpu.HighLevel)
	if s := r.v.Stats; s.Trims != 0 || s.RaiseIrqls != 0 || !r.m.PTE(va).Valid() {
		t.Errorf("after acme.sys lowered to DISPATCH_LEVEL: Trims %d, RaiseIrqls %d, page valid %v; want 0, 0, true",
			s.Trims, s.RaiseIrqls, r.m.PTE(va).Valid())
	}
	if log, _ := r.v.IrqlLog(4); len(log) != 1 || log[0].Old != cpu.HighLevel || log[0].New != cpu.DispatchLevel {
		t.Errorf("IrqlLog = %+v, want the lower alone", log)
	}
}
