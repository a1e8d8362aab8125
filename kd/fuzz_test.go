package kd

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"simkern/pool"
	"simkern/verifier"
)

// FuzzCommands: no command line, however odd, makes the debugger panic or
// print without bound, and no command changes what a later one sees (the
// machine's and the pool's counters stay as they were). The seeds are the
// commands of the golden transcript, and a few that push arguments to
// their edges.
func FuzzCommands(f *testing.F) {
	fx := newFixture(f)
	c := fx.m.CPUs.CPUs[0]
	v := verifier.New(fx.p, verifier.Settings{Drivers: []string{"acme.sys"}, PoolTracking: true, SpecialPool: pool.SpecialOverrun}, 1)
	fx.t.Verifier = v
	if va, _, err := v.Allocate(c, "acme.sys", pool.NonPagedPool, 64, pool.TagOf("Acme")); err != nil || va == 0 {
		f.Fatalf("a verified allocation: %v, %v", va, err)
	} else {
		fx.names["special"] = uint64(va)
	}
	golden, err := os.Open("testdata/commands.txt")
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(golden)
	for sc.Scan() {
		if cmd, ok := strings.CutPrefix(sc.Text(), "0: kd> "); ok {
			f.Add(cmd)
		}
	}
	golden.Close()
	for _, cmd := range []string{"!verifier 0xf", "!verifier 3 acme.sys", "!pte special", "!pool special", "db -1 L10000",
		"!pte 0 ffffffffffffffff", "dq 0xfffffffffffffff8 Lffffffff", "!poolused 1 ????", "!irql -1", "!pool irp+-10 1",
		"!verifier 0x80", "!verifier 0x80 -1", "!verifier 0x80 0", "!verifier 0x80 special", "!verifier 4 0xffffffffffffffff",
		"!verifier 8 foo", "!verifier 0x8c 3"} {
		f.Add(cmd)
	}
	stats, totals := fx.m.Stats(), fx.p.Totals()
	f.Fuzz(func(t *testing.T, line string) {
		var out strings.Builder
		fx.t.Run(&out, line)
		if out.Len() > 64<<20 {
			t.Fatalf("%q printed %d MiB", line, out.Len()>>20)
		}
		if fx.m.Stats() != stats || fx.p.Totals() != totals {
			t.Fatalf("%q changed the machine: stats %+v, pool %+v; were %+v, %+v", line, fx.m.Stats(), fx.p.Totals(), stats, totals)
		}
	})
}
