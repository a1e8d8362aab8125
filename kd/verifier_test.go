package kd

import (
	"fmt"
	"strings"
	"testing"

	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// acmePC is the code address acme.sys's calls come from: in its image, so
// the allocation table's CallersAddress column is a driver's.
const acmePC = 0xfffff880_01000010

// verifierFixture is kd_test.go's fixture with Driver Verifier on for
// acme.sys, which then allocates a (64 bytes, nonpaged), b (300, paged),
// c (32, nonpaged) and d (128, nonpaged) and frees b and d.
func verifierFixture(t *testing.T, s verifier.Settings) (f *fixture, a, c mm.VA) {
	t.Helper()
	f = newFixture(t)
	v := verifier.New(f.p, s, 1)
	f.t.Verifier = v
	cp := f.m.CPUs.CPUs[0]
	cp.PC = acmePC
	alloc := func(ty pool.Type, n uint64) mm.VA {
		va, inj, err := v.Allocate(cp, "acme.sys", ty, n, pool.TagOf("Acme"))
		if err != nil || inj != nil || va == 0 {
			t.Fatalf("Allocate(%v, %d) = %v, injection %+v, %v", ty, n, va, inj, err)
		}
		return va
	}
	a = alloc(pool.NonPagedPool, 64)
	b := alloc(pool.PagedPool, 300)
	c = alloc(pool.NonPagedPool, 32)
	d := alloc(pool.NonPagedPool, 128)
	for _, va := range []mm.VA{b, d} {
		if err := v.Free(cp, "acme.sys", va, 0, false); err != nil {
			t.Fatalf("Free(%v): %v", va, err)
		}
	}
	return f, a, c
}

// counters is what !verifier 3 acme.sys prints above its table after
// verifierFixture's calls: 2 nonpaged allocations of 0x60 bytes in all
// now, 3 of 0xe0 at the peak; no paged one now, one of 300 (0x12c) bytes
// at the peak.
const counters = `Current Pool Allocations  00000002    00000000
Current Pool Bytes        00000060    00000000
Peak Pool Allocations     00000003    00000001
Peak Pool Bytes           000000e0    0000012c
`

// allocationRow is one row of !verifier 3's allocation table.
func allocationRow(va mm.VA, n uint64) string {
	return fmt.Sprintf("%016x     0x%08x     Acme      %016x\n", uint64(va), n, uint64(acmePC))
}

// TestVerifierDriverSection: !verifier 3 DRIVER prints the driver's
// counters in the layout of Windows 7's !verifier (nonpaged then paged,
// peaks kept after frees), then a blank line and the allocation table.
func TestVerifierDriverSection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings verifier.Settings
		want     func(a, c mm.VA) string
	}{
		{
			name:     "with pool tracking: the counters, a blank line, the outstanding allocations",
			settings: verifier.Settings{Drivers: []string{"acme.sys"}, PoolTracking: true},
			want: func(a, c mm.VA) string {
				return counters + "\nPoolAddress  SizeInBytes    Tag       CallersAddress\n" + allocationRow(a, 64) + allocationRow(c, 32)
			},
		},
		{
			name:     "without pool tracking: the same counters, and no table",
			settings: verifier.Settings{Drivers: []string{"acme.sys"}},
			want: func(mm.VA, mm.VA) string {
				return counters + "\n(pool tracking is off: allocations are not recorded per driver)\n"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, a, c := verifierFixture(t, tc.settings)
			if got, want := f.run(t, "!verifier 3 acme.sys"), tc.want(a, c); got != want {
				t.Errorf("!verifier 3 acme.sys printed\n%s\nwant\n%s", got, want)
			}
			if got, want := f.run(t, "!verifier 3 ACME.SYS"), tc.want(a, c); got != want {
				t.Errorf("!verifier 3 ACME.SYS printed\n%s\nwant, as in lower case,\n%s", got, want)
			}
		})
	}
}

// TestVerifierFlag2ListsEachDriversSection: with flags 1 and 2 and no
// driver name, each verified driver's section follows its line in the
// Driver Verification List, between blank lines; without both it does
// not (2 alone needs 1's list of drivers). A
// driver the verifier does not check has no section to ask for.
func TestVerifierFlag2ListsEachDriversSection(t *testing.T) {
	f, a, c := verifierFixture(t, verifier.Settings{Drivers: []string{"acme.sys"}, PoolTracking: true})
	line := fmt.Sprintf("%016x %-17s%08x       %08x    %s\n", 0, "Loaded", 0x60, 0, "acme.sys")
	section := counters + "\nPoolAddress  SizeInBytes    Tag       CallersAddress\n" + allocationRow(a, 64) + allocationRow(c, 32)
	// 0xf adds the fault injection and IRQL logs (bits 4 and 8) after the list.
	logs := "\nResource fault injection history: 0x0 injected, the last 0x0 kept, 0x0 shown\n" +
		"\nIRQL changes by verified drivers: 0x0 logged, the last 0x0 kept, 0x0 shown\n"
	for cmd, end := range map[string]string{"!verifier 0xf": logs, "!verifier 3": ""} {
		if out := f.run(t, cmd); !strings.HasSuffix(out, line+"\n"+section+"\n"+end) {
			t.Errorf("%s printed\n%s\nwant it to end with the driver's line, then its section between blank lines:\n%s", cmd, out, line+"\n"+section+"\n"+end)
		}
	}
	for _, cmd := range []string{"!verifier", "!verifier 1", "!verifier 2"} {
		if out := f.run(t, cmd); !strings.HasSuffix(out, line) {
			t.Errorf("%s printed\n%s\nwant it to end with the driver's line", cmd, out)
		}
	}
	if err := f.t.Verifier.Unload("other.sys", 0); err != nil {
		t.Fatal(err)
	}
	if out := f.run(t, "!verifier 3 other.sys"); !strings.Contains(out, "other.sys is not a verified driver") {
		t.Errorf("!verifier 3 other.sys (unverified, unloaded) printed\n%s", out)
	}
}

// A dump carries the counters: !verifier and !verifier 3 on it answer as
// the live machine did, peaks included.
func TestVerifierOnADump(t *testing.T) {
	f, _, _ := verifierFixture(t, verifier.Settings{Drivers: []string{"acme.sys"}, PoolTracking: true})
	d := dumpOf(f.m, f.p, f.names)
	d.Verifier = f.t.Verifier.Snapshot()
	_, dt := open(t, encode(t, d))
	for _, cmd := range []string{"!verifier", "!verifier 3 acme.sys", "!verifier 0x80", "!verifier 0xf"} {
		if live, dumped := f.run(t, cmd), runOn(dt, cmd); live != dumped {
			t.Errorf("%s: the dump answers differently from the live machine\n--- live\n%s--- dump\n%s", cmd, live, dumped)
		}
	}
	if got := runOn(dt, "!verifier 3 acme.sys"); !strings.HasPrefix(got, counters) {
		t.Errorf("!verifier 3 acme.sys on the dump printed\n%s\nwant it to start with\n%s", got, counters)
	}
}

// TestVerifierLogs: !verifier 0x80, 4 and 8 print the verifier's logs,
// newest first, each record with its processor, its time stamp (the
// logs' shared event number) and the frames simkern knows: the pool
// routine and its caller, named by the run's driver images.
func TestVerifierLogs(t *testing.T) {
	// The fixture's four allocations and two frees are events 1 to 6;
	// low resources fails every allocation after those four.
	f, a, c := verifierFixture(t, verifier.Settings{Drivers: []string{"acme.sys"}, LowResources: &verifier.LowResources{Probability: 1, After: 4}})
	f.t.Symbol = func(pc uint64) string {
		return Symbol([]Module{{Name: "acme.sys", Base: 0xfffff880_01000000, Size: 0x1000000}}, pc)
	}
	v, cp := f.t.Verifier, f.m.CPUs.CPUs[0]
	cp.PC = acmePC + 0x20 // 7: an injected failure
	if va, inj, err := v.Allocate(cp, "acme.sys", pool.PagedPool, 200, pool.TagOf("Acme")); va != 0 || inj == nil || err != nil {
		t.Fatalf("Allocate after the first four = %v, %+v, %v; want an injected NULL", va, inj, err)
	}
	cp.PC = acmePC + 0x30 // 8: a raise
	simtest.Raise(t, cp, cpu.DispatchLevel)
	v.IrqlChanged(cp, "acme.sys", cpu.PassiveLevel)
	cp.PC = acmePC + 0x40 // 9: a freed
	if err := v.Free(cp, "acme.sys", a, 0, false); err != nil {
		t.Fatal(err)
	}
	cp.PC = acmePC + 0x50 // 10: a lower
	if err := cp.Lower(cpu.PassiveLevel); err != nil {
		t.Fatal(err)
	}
	v.IrqlChanged(cp, "acme.sys", cpu.DispatchLevel)

	const (
		sep   = "======================================================================\n"
		alloc = "fffff80002bb1010 nt!ExAllocatePoolWithTag\n"
		free  = "fffff80002bb2350 nt!ExFreePoolWithTag\n"
	)
	logHead := func(parsing string) string {
		return "Log of recent kernel pool Allocate and Free operations:\n\nThere are up to 0x10000 entries in the log.\n\n" + parsing + "\n\n"
	}
	block := func(va mm.VA, size, event int) string {
		return fmt.Sprintf("Pool block %016x, Size %016x, Processor 0, Time stamp %016x\n", uint64(va), size, event)
	}
	end := "Finished parsing all pool tracking information.\n"
	for _, tc := range []struct{ cmd, want string }{
		{"!verifier 0x80 1", logHead("Parsing 0x00000001 log entries.") +
			sep + block(a, 0x40, 9) + free + "fffff88001000050 acme.sys+0x50\n" + end},
		{fmt.Sprintf("!verifier 0x80 %x", uint64(a+0x3f)), logHead(fmt.Sprintf("Parsing 0x00000007 log entries, searching for address 0x%x.", uint64(a+0x3f))) +
			sep + block(a, 0x40, 9) + free + "fffff88001000050 acme.sys+0x50\n" +
			sep + block(a, 0x40, 1) + alloc + "fffff88001000010 acme.sys+0x10\n" + end},
		{fmt.Sprintf("!verifier 0x80 %x", uint64(c)), logHead(fmt.Sprintf("Parsing 0x00000007 log entries, searching for address 0x%x.", uint64(c))) +
			sep + block(c, 0x20, 3) + alloc + "fffff88001000010 acme.sys+0x10\n" + end},
		{fmt.Sprintf("!verifier 0x80 %x", uint64(a+0x40)), logHead(fmt.Sprintf("Parsing 0x00000007 log entries, searching for address 0x%x.", uint64(a+0x40))) +
			"No entry found.\n" + end},
		{"!verifier 4", "Resource fault injection history: 0x1 injected, the last 0x1 kept, 0x1 shown\n\n" +
			"Injection 0x1, Processor 0, Time stamp 0000000000000007\n" +
			"    NULL for 0xc8 bytes of PagedPool, tag Acme (probability)\n" +
			"    " + alloc + "    fffff88001000030 acme.sys+0x30\n"},
		{"!verifier 8", "IRQL changes by verified drivers: 0x2 logged, the last 0x2 kept, 0x2 shown\n\n" +
			"Old irql: 00000002\nNew irql: 00000000\nProcessor: 00000000\nTime stamp: 000000000000000a\n\n    fffff88001000060 acme.sys+0x60\n\n" +
			"Old irql: 00000000\nNew irql: 00000002\nProcessor: 00000000\nTime stamp: 0000000000000008\n\n    fffff88001000040 acme.sys+0x40\n"},
		{"!verifier 8 1", "IRQL changes by verified drivers: 0x2 logged, the last 0x2 kept, 0x1 shown\n\n" +
			"Old irql: 00000002\nNew irql: 00000000\nProcessor: 00000000\nTime stamp: 000000000000000a\n\n    fffff88001000060 acme.sys+0x60\n"},
	} {
		if got := f.run(t, tc.cmd); got != tc.want {
			t.Errorf("%s printed\n%s\nwant\n%s", tc.cmd, got, tc.want)
		}
	}
	if got := f.run(t, "!verifier 0x80"); strings.Count(got, sep) != 7 || !strings.HasPrefix(got, logHead("Parsing 0x00000007 log entries.")+sep+block(a, 0x40, 9)) {
		t.Errorf("!verifier 0x80 printed\n%s\nwant all seven entries, newest (a's free) first", got)
	}
}

// TestVerifierLogBounds: combined flags show the last four records of the
// injection and IRQL logs, not all of them; a pool log that overflowed
// says how many entries were overwritten; a dump written before simkern
// kept logs says it has none rather than showing empty ones.
func TestVerifierLogBounds(t *testing.T) {
	f, _, _ := verifierFixture(t, verifier.Settings{Drivers: []string{"acme.sys"}, LowResources: &verifier.LowResources{Probability: 1, After: 4}})
	v, cp := f.t.Verifier, f.m.CPUs.CPUs[0]
	cp.PC = acmePC
	for i := range 6 {
		if va, inj, err := v.Allocate(cp, "acme.sys", pool.NonPagedPool, 16, pool.TagOf("Acme")); va != 0 || inj == nil || err != nil {
			t.Fatalf("allocation %d: %v, %+v, %v; want an injected NULL", i, va, inj, err)
		}
		old := cp.IRQL()
		if old == cpu.PassiveLevel {
			simtest.Raise(t, cp, cpu.DispatchLevel)
		} else if err := cp.Lower(cpu.PassiveLevel); err != nil {
			t.Fatal(err)
		}
		v.IrqlChanged(cp, "acme.sys", old)
	}
	out := f.run(t, "!verifier 0xf")
	for _, want := range []string{"Resource fault injection history: 0x6 injected, the last 0x6 kept, 0x4 shown\n",
		"IRQL changes by verified drivers: 0x6 logged, the last 0x6 kept, 0x4 shown\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("!verifier 0xf lacks %q\n%s", want, out)
		}
	}
	if n, m := strings.Count(out, "\nInjection 0x"), strings.Count(out, "\nOld irql: "); n != 4 || m != 4 {
		t.Errorf("!verifier 0xf shows %d injections and %d IRQL changes, want 4 of each\n%s", n, m, out)
	}

	// Overflow the pool log: the fixture logged 6 entries; 0x10000 more.
	v.Settings.LowResources = nil
	for range verifier.PoolLogEntries / 2 {
		va, _, err := v.Allocate(cp, "acme.sys", pool.NonPagedPool, 16, pool.TagOf("Acme"))
		if err != nil || va == 0 {
			t.Fatalf("Allocate: %v, %v", va, err)
		}
		if err := v.Free(cp, "acme.sys", va, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	if out := f.run(t, "!verifier 0x80 1"); !strings.HasSuffix(out, "(0x6 older entries were overwritten)\nFinished parsing all pool tracking information.\n") {
		t.Errorf("!verifier 0x80 1 after 0x10006 entries printed\n%s", out)
	}

}
