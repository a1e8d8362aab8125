package scenario

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Round-robin takes the threads in turn, one step each, and a thread that
// has finished drops out without disturbing the order of the others.
func TestRoundRobinOrder(t *testing.T) {
	for _, lengths := range [][]int{{1, 2, 2}, {1, 3, 3}, {2, 4, 4}, {1, 1, 3, 3}, {3, 1, 3}, {3, 3, 3}, {4, 1, 2, 1}} {
		t.Run(fmt.Sprint(lengths), func(t *testing.T) {
			// Each step is on a line of its own; remember whose it is.
			var b strings.Builder
			b.WriteString("name: rr\nmachine: {cpus: 1}\nthreads:\n")
			owner := map[int]string{}
			line := 4
			for th, n := range lengths {
				fmt.Fprintf(&b, "  - name: t%d\n    steps:\n", th)
				line += 2
				for i := range n {
					b.WriteString("      - irql: PASSIVE_LEVEL\n")
					owner[line] = fmt.Sprintf("t%d.%d", th, i)
					line++
				}
			}
			s, err := Parse("rr.yaml", []byte(b.String()))
			if err != nil {
				t.Fatal(err)
			}
			sess, err := NewSession(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			var got []string
			for step := sess.Step(); step != nil; step = sess.Step() {
				got = append(got, owner[step.Pos.Line])
			}
			// The order round-robin promises: pass after pass over the
			// threads still running.
			var want []string
			for i := range slices.Max(lengths) {
				for th, n := range lengths {
					if i < n {
						want = append(want, fmt.Sprintf("t%d.%d", th, i))
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("ran %v, want %v", got, want)
			}
		})
	}
}

// A name another thread has not bound yet fails each step that uses it,
// whatever its verb, and an expected parameter naming it fails too.
func TestNameUsedBeforeAnotherThreadBindsIt(t *testing.T) {
	s := loadInline(t, "unbound.yaml", `name: unbound
machine: {cpus: 1}
threads:
  - name: early
    steps:
      - trim: buf
      - free: buf+0x10
      - alloc: {pool: NonPagedPool, size: 16, as: x}
      - free: x
      - free: x
  - name: late
    steps:
      - irql: PASSIVE_LEVEL
      - irql: PASSIVE_LEVEL
      - irql: PASSIVE_LEVEL
      - irql: PASSIVE_LEVEL
      - irql: PASSIVE_LEVEL
      - alloc: {pool: NonPagedPool, size: 16, as: buf}
expect:
  bugcheck: {code: 0xC2, p1: 7, p4: buf+8}
`)
	_, o, _ := runInline(t, s, Options{})
	want := []string{
		"unbound.yaml:6:9: trim: buf: buf is not bound yet: no alloc bound it before this step ran",
		"unbound.yaml:7:9: free: buf+0x10: buf is not bound yet: no alloc bound it before this step ran",
		"expected P4 = buf+0x8, but buf was never bound",
	}
	if !slices.Equal(o.Failures, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(o.Failures, "\n"), strings.Join(want, "\n"))
	}
}

// TestStepsKnowTheirThread: every step of a thread, those inside its
// repeats included, carries the thread's name, which the step line and
// the JSON step event show even when threads share a CPU.
func TestStepsKnowTheirThread(t *testing.T) {
	s := loadInline(t, "threads.yaml", `name: threads
threads:
  - name: reader
    steps:
      - repeat: {times: 1, steps: [{trim: all}]}
  - steps:
      - trim: all
`)
	if got := s.Threads[0].Steps[0].Repeat.Steps[0].Thread; got != "reader" {
		t.Errorf("a step in the first thread's repeat has Thread %q, want reader", got)
	}
	if got := s.Threads[1].Steps[0].Thread; got != "t2" {
		t.Errorf("the unnamed second thread's step has Thread %q, want t2", got)
	}
	_, o, out := runInline(t, s, Options{})
	if o.Exit != ExitOK || !strings.Contains(out, "trim: all  [reader, cpu 0]\n") || !strings.Contains(out, "trim: all  [t2, cpu 0]\n") {
		t.Errorf("exit %d; want both threads named in their step lines:\n%s", o.Exit, out)
	}
}

// TestRepeatsThatRunNothingAreSkipped: a repeat whose passes run no step
// (its body's only repeats run zero times) is skipped whole, on the
// loader's count of the steps a pass runs. It used to make every pass, so
// a million by a million passes of nothing took half an hour.
func TestRepeatsThatRunNothingAreSkipped(t *testing.T) {
	// The scheduler goes by the count, not by looking into the body: told
	// a pass runs nothing, it never enters it.
	leaf := Step{Verb: "trim", Trim: &Target{All: true}}
	th := &thread{stack: []frame{{steps: []Step{{Verb: "repeat", Repeat: &RepeatStep{Times: 3, Steps: []Step{leaf}, BodySteps: 0}}}}}}
	if st := th.next(); st != nil {
		t.Fatalf("next entered a repeat whose passes run nothing and returned %s", st.Verb)
	}

	s := loadInline(t, "empty.yaml", `name: empty
steps:
  - repeat: {times: 1000000, steps: [{repeat: {times: 1000000, steps: [{repeat: {times: 0, steps: [{trim: all}]}}]}}]}
  - repeat: {times: 2, steps: [{repeat: {times: 1000000, steps: [{repeat: {times: 0, steps: [{trim: all}]}}]}}, {trim: all}]}
`)
	_, o, out := runInline(t, s, Options{})
	if o.Exit != ExitOK || o.Steps != 2 {
		t.Errorf("exit %d after %d steps, want 0 after the 2 trims:\n%s", o.Exit, o.Steps, out)
	}
}

// TestRunStopsAtSteps: Run with a step limit runs that many steps, and the
// reproduce line says so; without one it runs to the end.
func TestRunStopsAtSteps(t *testing.T) {
	s := loadInline(t, "five.yaml", "name: five\nsteps:\n  - repeat: {times: 5, steps: [{trim: all}]}\n")
	for _, tc := range []struct {
		opt  Options
		want uint64
		line string
	}{
		{Options{}, 5, "reproduce: simkern run five.yaml --seed 1\n"},
		{Options{Steps: 3, StepsSet: true}, 3, "reproduce: simkern run five.yaml --seed 1 --steps 3\n"},
	} {
		var out strings.Builder
		tc.opt.Out = &out
		o, err := Run(s, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if o.Steps != tc.want || !strings.Contains(out.String(), tc.line) {
			t.Errorf("Run with %+v ran %d steps, want %d, and printed\n%s\nwant the line %q", tc.opt, o.Steps, tc.want, out.String(), tc.line)
		}
	}
}

// TestShellQuote: a reproduce line's path pastes into a shell as is.
func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"examples/overrun.yaml", "examples/overrun.yaml"},
		{"/tmp/a-b_c.d/x@1,2+3=4%5:6.yaml", "/tmp/a-b_c.d/x@1,2+3=4%5:6.yaml"},
		{"sp ace/my race.yaml", "'sp ace/my race.yaml'"},
		{"it's.yaml", `'it'\''s.yaml'`},
		{"a;b$(c).yaml", "'a;b$(c).yaml'"},
		{"", "''"},
		{"-x.yaml", "./-x.yaml"}, // not read as a flag
		{"-it's.yaml", `'./-it'\''s.yaml'`},
	} {
		if got := ShellQuote(tc.in); got != tc.want {
			t.Errorf("ShellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
