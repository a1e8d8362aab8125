package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"simkern/bugcheck"
	"simkern/examples"
	"simkern/kd"
	"simkern/mm"
	"simkern/verifier"
)

// Tests of the verifier: section as a run sees it, and the helpers the
// fault tests (faults_test.go) share. A scenario here is a YAML string
// run on a fresh machine; expected parameters that are addresses come
// from the names the run bound (Session.Bound).

// Code addresses the runner gives steps (blame.go), recomputed by hand:
// drivers load 16 MiB apart from FFFFF880`01000000 in the order they are
// listed, and the k-th step of the file (from 0) runs at +0x10*(k+1).
const (
	firstDriverImage = 0xfffff880_01000000
	// firstDriverName is where 0xC4/0x62 says the first driver's name sits.
	firstDriverName = firstDriverImage + 0x100
)

// stepPC is the code address of the k-th step (from 0, in file order) of
// the first listed driver.
func stepPC(k int) uint64 { return firstDriverImage + 0x10*uint64(k+1) }

// loadInline parses a scenario given as text, failing the test on a load
// error.
func loadInline(t *testing.T, name, src string) *Scenario {
	t.Helper()
	s, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return s
}

// startInline starts a session of s writing to a buffer; the session is
// closed when the test ends.
func startInline(t *testing.T, s *Scenario, opt Options) (*Session, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	opt.Out = &out
	sess, err := NewSession(s, opt)
	if err != nil {
		t.Fatalf("NewSession(%s): %v", s.File, err)
	}
	t.Cleanup(sess.Close)
	return sess, &out
}

// runInline runs s to its end and returns the session (for its names and
// machine), the outcome and the output.
func runInline(t *testing.T, s *Scenario, opt Options) (*Session, *Outcome, string) {
	t.Helper()
	sess, out := startInline(t, s, opt)
	for sess.Step() != nil {
	}
	o := sess.Finish()
	return sess, o, out.String()
}

// outputHas fails the test for each of wants that out does not contain.
func outputHas(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q\n%s", want, out)
		}
	}
}

// bound returns the address a name was bound to, failing the test if it
// never was.
func bound(t *testing.T, sess *Session, name string) uint64 {
	t.Helper()
	v, ok := sess.r.lookup(name)
	if !ok {
		t.Fatalf("%s was never bound", name)
	}
	return v
}

// events decodes a JSON Lines run.
func events(t *testing.T, out string) []Event {
	t.Helper()
	var evs []Event
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var e Event
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("decoding the JSON output: %v\n%s", err, out)
		}
		evs = append(evs, e)
	}
	return evs
}

// injections returns the injection events of a JSON run, in order.
func injections(t *testing.T, out string) []injection {
	t.Helper()
	var ins []injection
	for _, e := range events(t, out) {
		if e.Event == "injection" {
			if e.Injection == nil {
				t.Fatalf("an injection event without its injection:\n%s", out)
			}
			ins = append(ins, *e.Injection)
		}
	}
	return ins
}

// checkBugcheck fails the test unless the run halted with want: the code
// and all four parameters.
func checkBugcheck(t *testing.T, o *Outcome, want *bugcheck.Error, out string) {
	t.Helper()
	switch got := o.Bugcheck; {
	case got == nil:
		t.Fatalf("the run ended without a bugcheck (exit %d, failures %q), want %v\n%s", o.Exit, o.Failures, want, out)
	case got.Code != want.Code || got.P != want.P:
		t.Fatalf("bugcheck %v (at %s), want %v\n%s", got, got.Site, want, out)
	}
}

// irqlCheckingScenario is the irql-checking example's bug: acme.sys reads
// resident paged pool at DISPATCH_LEVEL. %s is the verifier's extra
// setting.
const irqlCheckingScenario = `
name: irql
machine: {ram: 16MiB}
drivers: [acme.sys]
verifier:
  drivers: [acme.sys]
  %s
steps:
  - alloc: {pool: PagedPool, size: 64, tag: Acme, as: buf}
    driver: acme.sys
  - write: {at: buf, data: "config"}
    driver: acme.sys
  - irql: DISPATCH_LEVEL
    driver: acme.sys
  - read: {at: buf, length: 6, driver: acme.sys, expect: "config"}
`

// TestIRQLCheckingCatchesAResidentPageBug: the same scenario runs clean
// without irql_checking and halts with 0xD1 with it.
func TestIRQLCheckingCatchesAResidentPageBug(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setting string
		wantD1  bool
	}{
		{"without irql_checking the read of the resident page works", "pool_tracking: false", false},
		{"irql_checking: false is the same", "irql_checking: false", false},
		{"with irql_checking the raise trims the page and the read is 0xD1", "irql_checking: true", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "irql.yaml", fmt.Sprintf(irqlCheckingScenario, tc.setting))
			sess, o, out := runInline(t, s, Options{})
			if !tc.wantD1 {
				if o.Bugcheck != nil || o.Exit != ExitOK || len(o.Failures) != 0 {
					t.Fatalf("outcome %+v, want a clean run (exit 0)\n%s", o, out)
				}
				if v := sess.Target().Verifier; v.Stats.RaiseIrqls != 1 || v.Stats.Trims != 0 {
					t.Errorf("verifier stats %+v: want 1 raise, no trim", v.Stats)
				}
				return
			}
			buf := bound(t, sess, "buf")
			// P4: the read is the file's 4th step, acme.sys+0x40.
			checkBugcheck(t, o, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, buf, 2, 0, stepPC(3)), out)
			if o.Exit != ExitFailed {
				t.Errorf("exit %d, want %d: nothing expected the bugcheck", o.Exit, ExitFailed)
			}
			if v := sess.Target().Verifier; v.Stats.RaiseIrqls != 1 || v.Stats.Trims != 1 {
				t.Errorf("verifier stats %+v: want 1 raise, 1 trim", v.Stats)
			}
		})
	}
}

// TestLowResourcesDefaults: low_resources given without a probability
// fails 6% of allocations, as Windows' default of 600 in 10,000.
func TestLowResourcesDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        *verifier.LowResources // nil: off
	}{
		{"an empty value is every default", "low_resources:", &verifier.LowResources{Probability: 0.06}},
		{"true is every default", "low_resources: true", &verifier.LowResources{Probability: 0.06}},
		{"an empty map is every default", "low_resources: {}", &verifier.LowResources{Probability: 0.06}},
		{"after alone keeps the default probability", "low_resources: {after: 3}", &verifier.LowResources{Probability: 0.06, After: 3}},
		{"systematic keeps the default probability", "low_resources: {systematic: true}", &verifier.LowResources{Probability: 0.06, Systematic: true}},
		{"a probability is taken as given", "low_resources: {probability: 0.5}", &verifier.LowResources{Probability: 0.5}},
		{"false is off", "low_resources: false", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "lr.yaml", fmt.Sprintf(`
name: lr
drivers: [acme.sys]
verifier:
  drivers: [acme.sys]
  %s
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Acme}
    driver: acme.sys
`, tc.value))
			got := s.Verifier.LowResources
			if (got == nil) != (tc.want == nil) || got != nil && (got.Probability != tc.want.Probability ||
				got.After != tc.want.After || got.Systematic != tc.want.Systematic || len(got.Tags) != 0) {
				t.Fatalf("LowResources = %+v, want %+v", got, tc.want)
			}
			vs := verifierSettings(s.Verifier).LowResources
			if (vs == nil) != (tc.want == nil) || vs != nil && (vs.Probability != tc.want.Probability || vs.After != tc.want.After || vs.Systematic != tc.want.Systematic) {
				t.Errorf("the verifier is given %+v, want %+v", vs, tc.want)
			}
		})
	}
}

// TestLowResourcesDefaultRateInARun: 2,000 allocations of a workload
// under the default probability fail about 6% of the time (the standard
// deviation is 0.0053; the bounds are about four of them).
func TestLowResourcesDefaultRateInARun(t *testing.T) {
	s := loadInline(t, "rate.yaml", `
name: rate
machine: {ram: 16MiB, seed: 7}
drivers: [acme.sys]
verifier:
  drivers: [acme.sys]
  low_resources:
steps:
  - workload: {ops: 4000, pool: NonPagedPool, sizes: 16-256, live: 2000}
    driver: acme.sys
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Exit != ExitOK {
		t.Fatalf("outcome %+v\n%s", o, out)
	}
	st := sess.Target().Verifier.Stats
	rate := float64(st.FailedDeliberately) / float64(st.AllocationsAttempted)
	if st.AllocationsAttempted < 2000 || rate < 0.04 || rate > 0.08 {
		t.Errorf("%d of %d allocations failed deliberately (%.4f), want about 0.06", st.FailedDeliberately, st.AllocationsAttempted, rate)
	}
}

// exampleCase is an example scenario and the bugcheck it must end in.
type exampleCase struct {
	name string
	want func(t *testing.T, sess *Session) *bugcheck.Error
}

// TestVerifierAndFaultExamples: each example halts with the bugcheck its
// expect: names, and with every parameter, including those the file
// leaves out.
func TestVerifierAndFaultExamples(t *testing.T) {
	const (
		c4 = bugcheck.DriverVerifierDetectedViolation
		d1 = bugcheck.DriverIrqlNotLessOrEqual
	)
	for _, tc := range []exampleCase{
		{"special-pool-overrun", func(t *testing.T, sess *Session) *bugcheck.Error {
			// The write of one byte past the end (the 4th step) touches the guard page.
			return bugcheck.New(bugcheck.DriverPageFaultBeyondEndOfAllocation, bound(t, sess, "buf")+48, 1, stepPC(3), 0)
		}},
		{"special-pool-use-after-free", func(t *testing.T, sess *Session) *bugcheck.Error {
			// The read (the 4th step) of the freed, no-access page.
			return bugcheck.New(bugcheck.DriverPageFaultInFreedSpecialPool, bound(t, sess, "buf"), 0, stepPC(3), 0)
		}},
		{"leak-at-unload", func(t *testing.T, sess *Session) *bugcheck.Error {
			// a and c are left of a, b and c.
			return bugcheck.New(c4, 0x62, firstDriverName, 0, 2)
		}},
		{"low-resources", func(t *testing.T, sess *Session) *bugcheck.Error {
			if ctx := bound(t, sess, "ctx"); ctx != 0 {
				t.Errorf("ctx = %#x, want the injected NULL", ctx)
			}
			// The write through ctx (the 3rd step) at DISPATCH_LEVEL.
			return bugcheck.New(d1, 0, 2, 1, stepPC(2))
		}},
		{"irql-checking", func(t *testing.T, sess *Session) *bugcheck.Error {
			return bugcheck.New(d1, bound(t, sess, "buf"), 2, 0, stepPC(3))
		}},
		{"pagefile-read-error", func(t *testing.T, sess *Session) *bugcheck.Error {
			return inpageError(t, sess, "buf", 0xC000009C)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, ok := examples.Read(tc.name)
			if !ok {
				t.Fatalf("no example %s", tc.name)
			}
			s := loadInline(t, tc.name+".yaml", string(data))
			sess, o, out := runInline(t, s, Options{})
			checkBugcheck(t, o, tc.want(t, sess), out)
			if o.Exit != ExitOK || len(o.Failures) != 0 {
				t.Errorf("exit %d, failures %q: the example's expect: should hold", o.Exit, o.Failures)
			}
		})
	}
}

// inpageError is the 0x7A a failed read of name's page must be: P1 the
// PTE's address, P2 the status, P3 the PTE (still the pagefile PTE, as
// the page never came back), P4 the address.
func inpageError(t *testing.T, sess *Session, name string, status uint64) *bugcheck.Error {
	t.Helper()
	va := mm.VA(bound(t, sess, name))
	pte := sess.Target().Machine.PTE(va)
	if !pte.Software() || pte.Slot() == 0 {
		t.Errorf("%s's PTE %#x after the failed read: want a pagefile PTE", name, uint64(pte))
	}
	return bugcheck.New(bugcheck.KernelDataInpageError, uint64(mm.LevelPTE.EntryAddress(va)), status, uint64(pte), uint64(va))
}

// TestVerifierListsEveryVerifiedDriver: !verifier lists each verified
// driver the file declares from the start, whether drivers names it or
// says "*", and lists no unverified one, even before any allocation.
func TestVerifierListsEveryVerifiedDriver(t *testing.T) {
	for _, tc := range []struct {
		drivers string
		listed  []string
		absent  []string
	}{
		{`"*"`, []string{"acme.sys", "beta.sys"}, nil},
		{`[beta.sys]`, []string{"beta.sys"}, []string{"acme.sys"}},
	} {
		t.Run(tc.drivers, func(t *testing.T) {
			s := loadInline(t, "list.yaml", `
name: list
drivers: [acme.sys, beta.sys]
verifier: {drivers: `+tc.drivers+`}
steps:
  - kd: "!verifier 1"
`)
			_, o, out := runInline(t, s, Options{})
			if o.Exit != ExitOK {
				t.Fatalf("outcome %+v\n%s", o, out)
			}
			for _, d := range tc.listed {
				row := fmt.Sprintf("%016x %-17s%08x       %08x    %s\n", 0, "Loaded", 0, 0, d)
				if !strings.Contains(out, row) {
					t.Errorf("no row %q in\n%s", row, out)
				}
			}
			for _, d := range tc.absent {
				if strings.Contains(out, "    "+d+"\n") {
					t.Errorf("unverified %s is listed:\n%s", d, out)
				}
			}
		})
	}
}

// !vm's Pool line counts every pool call, as the summary does: those
// special pool served (no descriptor counts them), and the NULLs Driver
// Verifier returned without asking the pool.
func TestVMCountsEveryPoolCall(t *testing.T) {
	s := loadInline(t, "vm.yaml", `name: vm
machine: {ram: 16MiB}
drivers: [v.sys]
verifier:
  drivers: [v.sys]
  special_pool: overrun
  low_resources: {probability: 0.5, tags: [Fail]}
steps:
  - alloc: {as: a, pool: NonPagedPool, size: 64, tag: Spcl, driver: v.sys}
  - alloc: {as: b, pool: PagedPool, size: 64, tag: Spcl, driver: v.sys}
  - alloc: {as: c, pool: NonPagedPool, size: 64, tag: Krnl}
  - repeat:
      times: 20
      steps:
        - alloc: {pool: NonPagedPool, size: 32, tag: Fail, driver: v.sys}
  - free: a
  - kd: "!vm"
`)
	_, o, out := runInline(t, s, Options{})
	if o.Bugcheck != nil {
		t.Fatalf("unexpected %v\n%s", o.Bugcheck, out)
	}
	var allocs, frees, null uint64
	i := strings.Index(out, "pool calls")
	if _, err := fmt.Sscanf(out[i:], "pool calls %d to allocate (%d returned NULL), %d to free", &allocs, &null, &frees); err != nil {
		t.Fatalf("no pool calls line: %v\n%s", err, out)
	}
	if null == 0 || null == 20 {
		t.Fatalf("%d of 20 allocations failed: the test wants some of each\n%s", null, out)
	}
	want := fmt.Sprintf("Pool: %d allocations, %d frees, %d failed\n", allocs-null, frees, null)
	if !strings.Contains(out, want) {
		t.Errorf("!vm does not say %q\n%s", want, out)
	}
	var pages uint64
	i = strings.Index(out, "special pool   ")
	if _, err := fmt.Sscanf(out[i:], "special pool %d pages in use", &pages); err != nil || pages < 2 {
		t.Fatalf("the summary's special pool line: %d pages, %v\n%s", pages, err, out)
	}
	if want := fmt.Sprintf("Special Pool: %12d   (%8d Kb)\n", pages, pages*4); !strings.Contains(out, want) {
		t.Errorf("!vm does not say %q\n%s", want, out)
	}
}

// A paged special pool page in the pagefile cannot be read, so !pool and
// !poolfind cannot say what it holds, as for any paged pool page; back in
// memory, both find it again.
func TestSpecialPoolPageOutOfMemoryIsNotDescribed(t *testing.T) {
	s := loadInline(t, "sp.yaml", `name: sp
machine: {ram: 16MiB}
drivers: [v.sys]
verifier: {drivers: [v.sys], special_pool: overrun}
steps:
  - alloc: {as: a, pool: PagedPool, size: 200, tag: SpPg, driver: v.sys}
  - page_out: all
  - kd: "!pool a"
  - kd: "!poolfind SpPg 2"
  - read: {at: a, length: 1}
  - kd: "!pool a"
  - kd: "!poolfind SpPg 2"
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Bugcheck != nil {
		t.Fatalf("unexpected %v\n%s", o.Bugcheck, out)
	}
	a := mm.VA(bound(t, sess, "a"))
	described := fmt.Sprintf("%s size: c8 paged special pool, Tag is SpPg", a)
	out, back, _ := strings.Cut(out, "read: {at: a")
	outputHas(t, out, "Address "+a.String()+" could not be read", a.PageBase().String()+": page not in memory, not searched")
	if strings.Contains(out, described) {
		t.Errorf("paged out: the allocation is described from a page not in memory\n%s", out)
	}
	if strings.Count(back, described) != 2 {
		t.Errorf("back in memory: !pool and !poolfind should both show %q\n%s", described, back)
	}
}

// TestVerifierLogsInARun: a run feeds the verifier's logs (its driver's
// allocations, frees and IRQL changes), !verifier names the frames by the
// run's driver images, and a dump of the halted machine answers the same.
func TestVerifierLogsInARun(t *testing.T) {
	s := loadInline(t, "logs.yaml", `name: logs
drivers: [other.sys, acme.sys]
verifier: {drivers: [acme.sys]}
steps:
  - alloc: {pool: NonPagedPool, size: 100, tag: Acme, as: a, driver: acme.sys}
  - irql: DISPATCH_LEVEL
    driver: acme.sys
  - free: a
    driver: acme.sys
  - irql: PASSIVE_LEVEL
  - free: a
    driver: acme.sys
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Bugcheck == nil || o.Bugcheck.Code != bugcheck.DriverVerifierDetectedViolation {
		t.Fatalf("the second free: %v, want 0xC4\n%s", o.Bugcheck, out)
	}
	a := bound(t, sess, "a")
	acme := uint64(firstDriverImage + 0x01000000) // the second listed driver
	want := map[string]string{
		fmt.Sprintf("!verifier 0x80 %x", a): fmt.Sprintf("Pool block %016x, Size 0000000000000064, Processor 0, Time stamp 0000000000000003\n"+
			"fffff80002bb2350 nt!ExFreePoolWithTag\n%016x acme.sys+0x30\n", a, acme+0x30) +
			"======================================================================\n" +
			fmt.Sprintf("Pool block %016x, Size 0000000000000064, Processor 0, Time stamp 0000000000000001\n"+
				"fffff80002bb1010 nt!ExAllocatePoolWithTag\n%016x acme.sys+0x10\n", a, acme+0x10),
		// The kernel's lower is not logged: only acme.sys is verified.
		"!verifier 8": fmt.Sprintf("0x1 logged, the last 0x1 kept, 0x1 shown\n\nOld irql: 00000000\nNew irql: 00000002\n"+
			"Processor: 00000000\nTime stamp: 0000000000000002\n\n    %016x acme.sys+0x20\n", acme+0x20),
	}
	var file bytes.Buffer
	if err := kd.WriteDump(&file, sess.Dump()); err != nil {
		t.Fatal(err)
	}
	_, dump, err := kd.ReadDump(&file)
	if err != nil {
		t.Fatal(err)
	}
	for cmd, w := range want {
		var live, dumped strings.Builder
		sess.r.kd.Run(&live, cmd)
		dump.Run(&dumped, cmd)
		if !strings.Contains(live.String(), w) {
			t.Errorf("%s printed\n%s\nwant it to hold\n%s", cmd, live.String(), w)
		}
		if dumped.String() != live.String() {
			t.Errorf("%s on the dump printed\n%s\nthe live machine\n%s", cmd, dumped.String(), live.String())
		}
	}
}

// TestIrqlCheckingOnAKernelRaise: with irql_checking, an irql: step
// without driver: trims as a verified driver's does (the format's
// "whenever IRQL is raised"), so the driver's read of its paged buffer at
// DISPATCH_LEVEL is 0xD1; an unverified driver's raise trims nothing.
func TestIrqlCheckingOnAKernelRaise(t *testing.T) {
	const src = `name: dpc
drivers: [dpc.sys, other.sys]
verifier: {drivers: [dpc.sys], irql_checking: true}
steps:
  - alloc: {pool: PagedPool, size: 64, tag: Dpc, as: buf, driver: dpc.sys}
  - write: {at: buf, data: "ctx", driver: dpc.sys}
  - irql: DISPATCH_LEVEL%s
  - read: {at: buf, length: 3, driver: dpc.sys}
`
	for _, tc := range []struct {
		name, raiser string
		want         bool // 0xD1
	}{
		{"the kernel's raise", "", true},
		{"the verified driver's raise", "\n    driver: dpc.sys", true},
		{"an unverified driver's raise", "\n    driver: other.sys", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess, o, out := runInline(t, loadInline(t, "dpc.yaml", fmt.Sprintf(src, tc.raiser)), Options{})
			if !tc.want {
				if o.Bugcheck != nil {
					t.Fatalf("bugcheck %v, want the read to work\n%s", o.Bugcheck, out)
				}
				return
			}
			buf := bound(t, sess, "buf")
			if b := o.Bugcheck; b == nil || b.Code != bugcheck.DriverIrqlNotLessOrEqual || b.P[0] != buf || b.P[1] != 2 {
				t.Fatalf("bugcheck %v, want 0xD1 on buf at DISPATCH_LEVEL\n%s", b, out)
			}
		})
	}
}

// A file without a drivers: list declares a driver by naming it: the
// images load in the order of first mention (verifier.drivers, then the
// steps), a driver's bad access is 0xD1 naming it, and its verifier
// settings apply.
func TestDriversWithoutAList(t *testing.T) {
	s := loadInline(t, "implicit.yaml", `
name: implicit
verifier: {drivers: [beta.sys], pool_tracking: true}
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Acme, as: a}
    driver: acme.sys
  - alloc: {pool: NonPagedPool, size: 64, tag: Beta, as: b}
    driver: beta.sys
  - free: a
    driver: acme.sys
  - unload: acme.sys
  - unload: beta.sys
`)
	if want := []string{"beta.sys", "acme.sys"}; !slices.Equal(s.Drivers, want) {
		t.Fatalf("Drivers = %q, want %q", s.Drivers, want)
	}
	_, o, out := runInline(t, s, Options{})
	// beta.sys, verified, leaks b at its unload (step 4); its name sits
	// in its image, the first loaded.
	checkBugcheck(t, o, bugcheck.New(bugcheck.DriverVerifierDetectedViolation, 0x62, firstDriverName, 0, 1), out)
	outputHas(t, out, "MODULE_NAME:  beta")

	s = loadInline(t, "d1.yaml", `
name: d1
steps:
  - alloc: {pool: PagedPool, size: 64, tag: Acme, as: a}
    driver: acme.sys
  - page_out: a
  - irql: DISPATCH_LEVEL
  - read: {at: a, length: 1}
    driver: acme.sys
`)
	sess, o, out := runInline(t, s, Options{})
	checkBugcheck(t, o, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, bound(t, sess, "a"), 2, 0, stepPC(3)), out)
}

// An irql step says what irql_checking's trim took, and why nothing on a
// machine without a pagefile, where the resident page's bug goes unseen.
func TestIrqlCheckingSaysWhatItTrimmed(t *testing.T) {
	for _, tc := range []struct {
		machine, want string
		bugcheck      bool
	}{
		{"machine: {ram: 16MiB}", "-> CPU 0: PASSIVE_LEVEL -> DISPATCH_LEVEL; irql_checking trimmed 1 pageable page\n", true},
		{"machine: {ram: 16MiB, pagefile: 0}", "-> CPU 0: PASSIVE_LEVEL -> DISPATCH_LEVEL; irql_checking trims nothing: the machine has no pagefile\n", false},
	} {
		src := strings.Replace(fmt.Sprintf(irqlCheckingScenario, "irql_checking: true"), "machine: {ram: 16MiB}", tc.machine, 1)
		_, o, out := runInline(t, loadInline(t, "irql.yaml", src), Options{})
		outputHas(t, out, tc.want)
		if (o.Bugcheck != nil) != tc.bugcheck {
			t.Errorf("%s: bugcheck %v, want one: %v", tc.machine, o.Bugcheck, tc.bugcheck)
		}
	}
}
