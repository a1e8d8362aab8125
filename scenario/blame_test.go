package scenario

import (
	"fmt"
	"strings"
	"testing"
)

// Every step maps to an address of its own and back, until an image runs
// out of addresses; past that, a shared address names no line rather
// than a wrong one.
func TestBlameAddressesMapBackToTheirSteps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		driver string
		steps  int
		cap    uint64
	}{
		{"kernel steps that fit", "", 1000, kernelSites},
		{"driver steps that fit", "d.sys", 1000, driverSites},
		{"more kernel steps than the kernel range holds", "", int(kernelSites) + 10, kernelSites},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scenario{Steps: make([]Step, tc.steps)}
			if tc.driver != "" {
				s.Drivers = []string{tc.driver}
			}
			for i := range s.Steps {
				s.Steps[i] = Step{Verb: "trim", Driver: tc.driver, Pos: Pos{File: "f.yaml", Line: i + 1}}
			}
			st := newSites(s)
			for i := range s.Steps {
				step := &s.Steps[i]
				got := st.step(st.pc(step))
				shared := uint64(i)%tc.cap+tc.cap < uint64(tc.steps)
				switch {
				case shared && got != nil:
					t.Fatalf("step %d shares its address with another, yet maps to line %d", i, got.Pos.Line)
				case !shared && got != step:
					t.Fatalf("step %d (line %d) maps back to %v", i, step.Pos.Line, got)
				}
			}
		})
	}
}

// TestAliasedListsAreNumberedOnce: lists reached again through aliases
// (here 2^27 paths to the innermost, under repeats with times: 0, so the
// step limits see nothing to run) are numbered once, so the run starts at
// once instead of walking every path.
func TestAliasedListsAreNumberedOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: x\nsteps:\n  - trim: all\n  - repeat:\n      times: 0\n      steps: &l0 [{trim: all}, {trim: all}]\n")
	for i := 1; i < 28; i++ {
		fmt.Fprintf(&b, "  - repeat:\n      times: 0\n      steps: &l%d [{repeat: {times: 0, steps: *l%d}}, {repeat: {times: 0, steps: *l%d}}]\n", i, i-1, i-1)
	}
	s, err := Parse("bomb.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	st := newSites(s)
	if n := len(st.steps); n > 2000 {
		t.Errorf("%d step sites for a file of 84 steps, read in a few hundred contexts", n)
	}
	o, err := Run(s, Options{})
	if err != nil || o.Exit != ExitOK || o.Steps != 1 {
		t.Fatalf("Run: %+v, %v; want one step run", o, err)
	}
}

// TestPoolBlockNamesItsAllocation: the analysis's POOL_BLOCK names the step
// that allocated the block a parameter points into, by the pool's records,
// even when a corruption made the headers claim otherwise.
func TestPoolBlockNamesItsAllocation(t *testing.T) {
	s := loadInline(t, "blame.yaml", `name: blame
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Aaaa, as: a}
  - alloc: {pool: NonPagedPool, size: 64, tag: Bbbb, as: b}
  - alloc: {pool: NonPagedPool, size: 64, tag: Cccc, as: c}
  - write: {at: b-16, u64: 0}
  - write: {at: a-16, u64: 0x0000000000ff0000}
  - free: c
`)
	_, o, out := runInline(t, s, Options{})
	if o.Bugcheck == nil || o.Bugcheck.Code != 0x19 {
		t.Fatalf("outcome %+v, want 0x19\n%s", o, out)
	}
	// P2 is the header; the line names the block by its data address.
	want := fmt.Sprintf("POOL_BLOCK:  %016x allocated by nt+0x400030  (blame.yaml:5: alloc: {pool: NonPagedPool, size: 64, tag: Cccc, as: c}); Arg2 %016x is its header\n", o.Bugcheck.P[1]+16, o.Bugcheck.P[1])
	if !strings.Contains(out, want) {
		t.Errorf("the analysis lacks\n%s\n%s", want, out)
	}
}

// TestPoolBlockIsTheBlockNotTheParameter: a parameter inside a block (a
// big paged allocation whose last page could not be read back when its
// free read the canary: 0x7A, Arg4 the canary's address) names the block
// by its start, and says where in it the parameter points.
func TestPoolBlockIsTheBlockNotTheParameter(t *testing.T) {
	s := loadInline(t, "inpage.yaml", `name: inpage
faults:
  - pagefile_read_error: {nth: 1}
steps:
  - alloc: {pool: PagedPool, size: 10000, tag: Big7, as: b}
  - write: {at: b, fill: 0x41, length: 10000}
  - page_out: b
  - free: b
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Bugcheck == nil || o.Bugcheck.Code != 0x7A {
		t.Fatalf("outcome %+v, want 0x7A\n%s", o, out)
	}
	b := bound(t, sess, "b")
	want := fmt.Sprintf("POOL_BLOCK:  %016x allocated by nt+0x400010  (inpage.yaml:5: alloc: {pool: PagedPool, size: 10000, tag: Big7, as: b}); Arg4 %016x is 0x2710 bytes into it\n", b, b+10000)
	if !strings.Contains(out, want) {
		t.Errorf("the analysis lacks\n%s\n%s", want, out)
	}
}
