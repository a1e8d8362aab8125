package kd

import (
	"fmt"
	"strings"
	"testing"

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
	for _, cmd := range []string{"!verifier 0xf", "!verifier 3"} {
		if out := f.run(t, cmd); !strings.HasSuffix(out, line+"\n"+section+"\n") {
			t.Errorf("%s printed\n%s\nwant it to end with the driver's line, then its section between blank lines:\n%s", cmd, out, line+"\n"+section)
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
	for _, cmd := range []string{"!verifier", "!verifier 3 acme.sys"} {
		if live, dumped := f.run(t, cmd), runOn(dt, cmd); live != dumped {
			t.Errorf("%s: the dump answers differently from the live machine\n--- live\n%s--- dump\n%s", cmd, live, dumped)
		}
	}
	if got := runOn(dt, "!verifier 3 acme.sys"); !strings.HasPrefix(got, counters) {
		t.Errorf("!verifier 3 acme.sys on the dump printed\n%s\nwant it to start with\n%s", got, counters)
	}
}
