package scenario

import (
	"io"
	"slices"

	"simkern/bugcheck"
	"simkern/kd"
)

// Session is a run that advances one step at a time: what `simkern kd
// scenario.yaml` drives. Run is a session stepped to the end.
//
// A run is deterministic, so going back is going forward again: GoTo
// rebuilds the machine from the scenario and the seed and runs the first n
// steps with their output discarded. No kernel debugger travels in time;
// a simulator that never reads the clock can.
type Session struct {
	r    *runner
	next *Step // the step Step runs next, nil when the run is over
}

// NewSession builds the machine and prints the run's header.
func NewSession(s *Scenario, opt Options) (*Session, error) {
	r, err := newRunner(s, opt)
	if err != nil {
		return nil, err
	}
	sess := &Session{r: r}
	sess.next = r.sched.next()
	return sess, nil
}

// Next returns the step Step would run, or nil at the end or after a
// bugcheck.
func (sess *Session) Next() *Step {
	if sess.r.bc != nil || sess.r.hostErr != nil || sess.r.limitErr != nil {
		return nil
	}
	return sess.next
}

// Step runs the next step and returns it, or nil when there is none.
func (sess *Session) Step() *Step {
	step := sess.Next()
	if step == nil {
		return nil
	}
	sess.r.runStep(step)
	sess.next = sess.r.sched.next()
	return step
}

// RunTo steps until n steps have run, the run ends or the machine
// bugchecks, whichever comes first.
func (sess *Session) RunTo(n uint64) {
	for sess.Executed() < n && sess.Step() != nil {
	}
}

// Executed returns the steps run so far.
func (sess *Session) Executed() uint64 { return sess.r.executed }

// Target is the debugger's view of the session's machine.
func (sess *Session) Target() *kd.Target { return sess.r.kd }

// SetOutput redirects the step reports.
func (sess *Session) SetOutput(w io.Writer) {
	sess.r.out.w = w
	if sess.r.out.enc != nil {
		sess.r.out.setJSON(w)
	}
}

// Finish checks the end-of-run expectations and prints the summary and
// outcome. Call it once, when Step returns nil.
func (sess *Session) Finish() *Outcome {
	return sess.r.finish()
}

// Close releases the machine's pagefile.
func (sess *Session) Close() { sess.r.m.Close() }

// GoTo returns a session rebuilt from scratch and run quietly to n steps
// (or to its end, or its bugcheck, if that comes first), and closes the
// receiver; output resumes to w. On an error the receiver is untouched.
func (sess *Session) GoTo(n uint64, w io.Writer) (*Session, error) {
	quiet := sess.r.opt
	quiet.Out = io.Discard
	ns, err := NewSession(sess.r.s, quiet)
	if err != nil {
		return nil, err
	}
	ns.RunTo(n)
	ns.SetOutput(w)
	sess.Close() // only now: a failed rebuild leaves the old session whole
	return ns, nil
}

// Halted returns the bugcheck the session's machine stopped with, or nil.
func (sess *Session) Halted() *bugcheck.Error { return sess.r.bc }

// Dump captures the session's machine as a crash dump. Write it with
// kd.WriteDump before the session runs on: the pages stay in the machine.
func (sess *Session) Dump() *kd.Dump {
	r := sess.r
	s, opt := r.s, r.opt
	d := &kd.Dump{
		Simkern: opt.Version, ScenarioFile: s.File, Scenario: s.Raw, Seed: s.Seed(opt),
		Steps: r.executed, CPU: r.kd.CPU, Names: kd.Bindings(r.names), Declared: s.Names, Bugcheck: r.bc, Machine: r.m.Snapshot(), Pool: r.p.Snapshot(),
		Modules: slices.Clone(r.st.modules),
	}
	if r.v != nil {
		d.Verifier = r.v.Snapshot()
	}
	if r.bc != nil {
		d.Analysis = r.analysis(r.bc)
	}
	return d
}
