package scenario

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/ring"
	"simkern/kd"
	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// Options are the command line's say in a run.
type Options struct {
	Seed    uint64 // with SeedSet, overrides machine.seed
	SeedSet bool
	JSON    bool // JSON Lines events instead of text
	Quiet   bool // text: only the header, the outcome and a bugcheck report
	Tags    *kd.PoolTags
	Version string
	Out     io.Writer // the report; nil discards it

	// PagefilePath is the host file the pagefile lives in; "" is a
	// temporary file that leaves nothing behind (pagefile.Config.Path).
	PagefilePath string

	// Command is the command the header's reproduce line starts with;
	// "" means "simkern run FILE". The built-in tour sets "simkern run".
	Command string

	// Steps, with StepsSet, is the --steps limit the run is under: Run
	// stops there, and the reproduce line repeats it (a Session's caller
	// stops the run itself; see RunTo).
	Steps    uint64
	StepsSet bool
}

// Outcome is how a run ended.
type Outcome struct {
	Bugcheck *bugcheck.Error // nil: no bugcheck
	Failures []string        // expectations that did not hold
	Steps    uint64          // steps executed
	Exit     int             // 0 ok, 1 bugcheck or failed expectation
	// Host is a failure of the host under the run (a pagefile write the
	// disk refused): the run stopped after the step that met it, and
	// nothing else of the Outcome says how the scenario ends.
	Host error
	// Limit is a limit of a run that the run passed (MaxRangePages,
	// MaxBytesMoved): it
	// stopped at the step that passed it, and, as with Host, nothing else
	// of the Outcome says how the scenario ends. The file is at fault:
	// exit 2.
	Limit error
}

// The work a run may do beyond its steps and operations, which the loader
// counts: steps whose cost grows with a size would otherwise let a few
// lines run for days.
const (
	// MaxRangePages bounds the pages a run may map, unmap, trim or page
	// out range by range (mm.Machine.RangePages), 4 TiB of them: such a
	// step costs time for every page of its range, touched or not (a
	// repeat of 4 GiB allocations).
	MaxRangePages = 1 << 30
	// MaxBytesMoved bounds the bytes a run's reads, writes and workload
	// patterns move, and its kd: commands print or search, 64 GiB (a
	// repeat of 16 MiB reads, or of !poolfind over a large pool).
	MaxBytesMoved = 1 << 36
)

// maxRangePages and maxBytesMoved are the limits; tests lower them.
var (
	maxRangePages uint64 = MaxRangePages
	maxBytesMoved uint64 = MaxBytesMoved
)

// The errors of a run that passed a limit.
var (
	errRangeLimit = errors.New("the run has mapped, unmapped, trimmed or paged out ranges of more than 2^30 pages (4 TiB) in all, the most a run may do")
	errBytesLimit = errors.New("the run has read, written, filled with a workload's pattern, or printed or searched with kd commands more than 64 GiB in all, the most a run may move")
)

// overLimit returns the error of a limit the run has passed, or nil.
func (r *runner) overLimit() error {
	switch {
	case r.m.RangePages() > maxRangePages:
		return errRangeLimit
	case r.bytesMoved > maxBytesMoved:
		return errBytesLimit
	}
	return nil
}

// Exit statuses, as the scenario format defines them.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// Seed returns the seed a run of s uses under opt.
func (s *Scenario) Seed(opt Options) uint64 {
	if opt.SeedSet {
		return opt.Seed
	}
	return s.Machine.Seed
}

// runner is one run of a scenario.
type runner struct {
	s    *Scenario
	opt  Options
	out  *reporter
	cpus *cpu.Set
	m    *mm.Machine
	p    *pool.Pool
	kd   *kd.Target
	st   *sites
	rng  *rand.Rand // the workload and schedule stream, from the seed
	// faultRng draws what bit flips leave to chance, apart from rng, so
	// adding a fault does not change the rest of the run.
	faultRng *rand.Rand

	calls Calls // the pool calls the steps made

	sched *scheduler
	v     *verifier.Verifier // nil: no verifier: section
	names map[string]uint64
	// recent keeps the last recentInjections of the faults injected (and
	// counts them all) and named those whose NULL a name still holds, for
	// a bugcheck's report: a run may inject millions. nullNames maps such
	// a name to its injection's number.
	recent    ring.Ring[injection]
	named     map[int]injection
	nullNames map[string]int
	flips     map[uint64][]int // bit_flip faults (indexes into s.Faults) by the step they precede
	// failedWrites holds the status of each pagefile write that failed
	// during the running step, in order (mm's WriteFailed).
	failedWrites []uint32
	failures     []string
	executed     uint64
	bc           *bugcheck.Error
	hostErr      error  // the host failed the machine's pagefile: the run stopped
	limitErr     error  // the run passed a limit (overLimit): it stopped
	bytesMoved   uint64 // by reads, writes, workload patterns and kd commands: see MaxBytesMoved
	cur          *Step  // the step running, for the bugcheck report
}

// Run builds the machine s describes and runs it, to its end or
// opt.Steps steps. The error is for the host (a pagefile that cannot be
// created); everything the simulated machine does, bugchecks included,
// is in the Outcome and the output.
func Run(s *Scenario, opt Options) (*Outcome, error) {
	sess, err := NewSession(s, opt)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	limit := uint64(math.MaxUint64)
	if opt.StepsSet {
		limit = opt.Steps
	}
	sess.RunTo(limit)
	return sess.Finish(), nil
}

// newRunner builds the machine and pool of s, ready to run its first step.
func newRunner(s *Scenario, opt Options) (*runner, error) {
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	seed := s.Seed(opt)
	cpus, err := cpu.NewSet(s.Machine.CPUs, s.Machine.NUMANodes)
	if err != nil {
		return nil, err
	}
	machineRand := rand.New(rand.NewPCG(seed, 0x73696d6b65726e)) // "simkern"
	m, err := mm.New(mm.Config{RAMBytes: s.Machine.RAM, PagefileBytes: s.Machine.Pagefile, PagefilePath: opt.PagefilePath,
		CPUs: cpus, Rand: machineRand})
	if err != nil {
		return nil, err
	}
	p, err := pool.New(m, pool.Config{})
	if err != nil {
		m.Close()
		return nil, err
	}
	r := &runner{
		s: s, opt: opt, cpus: cpus, m: m, p: p,
		st:       newSites(s),
		rng:      rand.New(rand.NewPCG(seed, 0x776f726b6c6f6164)), // "workload"
		faultRng: rand.New(rand.NewPCG(seed, 0x6661756c7473)),     // "faults"
		names:    map[string]uint64{}, nullNames: map[string]int{}, named: map[int]injection{},
		recent: ring.New[injection](recentInjections),
	}
	if s.Verifier != nil {
		r.v = verifier.New(p, verifierSettings(s.Verifier), seed)
		for _, d := range s.Drivers {
			r.v.Load(d)
		}
	}
	r.armFaults()
	m.WriteFailed = func(status uint32) { r.failedWrites = append(r.failedWrites, status) }
	r.kd = &kd.Target{Machine: m, Pool: p, Tags: opt.Tags, Names: r.lookup, Declared: s.declares, Analysis: r.currentAnalysis, Verifier: r.v, Symbol: r.st.symbol}
	r.sched = newScheduler(s, r.rng)
	r.out = newReporter(r, opt)
	r.out.start(seed)
	return r, nil
}

func (r *runner) lookup(name string) (uint64, bool) {
	v, ok := r.names[name]
	return v, ok
}

func (r *runner) currentAnalysis() string {
	if r.bc == nil {
		return ""
	}
	return r.analysis(r.bc)
}

// runStep runs one leaf step and reports whether the machine is still up.
func (r *runner) runStep(step *Step) bool {
	r.executed++
	r.cur = step
	r.kd.CPU = step.CPU // the debugger's processor is the last step's
	r.beforeStep(step, r.executed)
	before := r.m.Stats()
	c := r.cpus.CPUs[step.CPU]
	c.PC = r.st.pc(step)
	res, err := r.exec(c, step)
	if h := r.m.Halted(); err == nil && h != nil {
		err = h // the step halted the machine without an access failing: a trim that met corrupt page tables
	}
	c.PC = cpu.KernelImageBase
	after := r.m.Stats()
	res.faults = Faults{Soft: after.SoftFaults - before.SoftFaults, Hard: after.HardFaults - before.HardFaults,
		DemandZero: after.DemandZeroFaults - before.DemandZeroFaults}
	r.afterStep(step, before, after, err)
	if he := r.m.HostError(); he != nil {
		// Not the scenario's doing: whatever the step met after it (a
		// 0x7A for a read) is the host's disk speaking.
		r.hostErr = fmt.Errorf("%s: %s: %w", step.Pos, step.Line, he)
		return false
	}
	if err := r.overLimit(); err != nil {
		r.limitErr = fmt.Errorf("%s: %s: %w", step.Pos, step.Line, err)
		return false
	}
	if b := (*bugcheck.Error)(nil); errors.As(err, &b) {
		r.bc = b
		r.out.step(step, c, res)
		return false
	}
	if err != nil {
		res.failed = err.Error()
		r.failures = append(r.failures, fmt.Sprintf("%s: %s: %s", step.Pos, step.Line, err))
	}
	r.out.step(step, c, res)
	return true
}

// thread is one simulated thread: its own stack of step lists, so a
// repeat inside it unrolls lazily. A scenario with steps: is one thread.
type thread struct {
	stack []frame
}

type frame struct {
	steps []Step
	i     int
	left  int // repeats of this frame still to run after the current pass
}

// next returns the thread's next leaf step, or nil when it is done.
func (th *thread) next() *Step {
	for len(th.stack) > 0 {
		f := &th.stack[len(th.stack)-1]
		if f.i == len(f.steps) {
			if f.left > 0 {
				f.left--
				f.i = 0
				continue
			}
			th.stack = th.stack[:len(th.stack)-1]
			continue
		}
		step := &f.steps[f.i]
		f.i++
		if step.Repeat != nil {
			if step.Repeat.Times > 0 && step.Repeat.BodySteps > 0 {
				th.stack = append(th.stack, frame{steps: step.Repeat.Steps, left: step.Repeat.Times - 1})
			}
			continue
		}
		return step
	}
	return nil
}

// scheduler interleaves the threads one step at a time: in turn
// (round-robin) or by a draw from the seed (random).
type scheduler struct {
	live   []*thread
	turn   int
	random *rand.Rand // nil: round-robin
}

func newScheduler(s *Scenario, rng *rand.Rand) *scheduler {
	sc := &scheduler{}
	if len(s.Threads) == 0 {
		sc.live = []*thread{{stack: []frame{{steps: s.Steps}}}}
		return sc
	}
	for i := range s.Threads {
		sc.live = append(sc.live, &thread{stack: []frame{{steps: s.Threads[i].Steps}}})
	}
	if s.Schedule == "random" {
		sc.random = rng
	}
	return sc
}

// next returns the next leaf step to run, or nil when every thread is done.
func (sc *scheduler) next() *Step {
	for len(sc.live) > 0 {
		k := sc.turn % len(sc.live)
		if sc.random != nil {
			k = sc.random.IntN(len(sc.live))
		}
		step := sc.live[k].next()
		if step == nil {
			// The thread after the finished one moves into its slot,
			// and it is that thread's turn.
			sc.live = append(sc.live[:k], sc.live[k+1:]...)
			sc.turn = k
			continue
		}
		sc.turn = k + 1
		return step
	}
	return nil
}

// finish checks the expectations that concern the end of the run and
// prints the summary and the outcome.
func (r *runner) finish() *Outcome {
	if r.hostErr != nil {
		return &Outcome{Steps: r.executed, Exit: ExitFailed, Host: r.hostErr}
	}
	if r.limitErr != nil {
		return &Outcome{Steps: r.executed, Exit: ExitUsage, Limit: r.limitErr}
	}
	o := &Outcome{Bugcheck: r.bc, Steps: r.executed}
	if e := r.s.Expect; e != nil && e.Bugcheck != nil {
		if msg := r.matchBugcheck(e.Bugcheck); msg != "" {
			r.failures = append(r.failures, msg)
		}
	} else if r.bc != nil {
		r.failures = append(r.failures, "the machine bugchecked and nothing expected it")
	}
	o.Failures = r.failures
	if len(o.Failures) > 0 {
		o.Exit = ExitFailed
	}
	r.out.finish(o)
	return o
}

// matchBugcheck compares the run's bugcheck with the expected one.
func (r *runner) matchBugcheck(want *ExpectBugcheck) string {
	if r.bc == nil {
		return fmt.Sprintf("expected bugcheck 0x%X, but the run ended without one", want.Code)
	}
	if uint32(r.bc.Code) != want.Code {
		return fmt.Sprintf("expected bugcheck 0x%X, got 0x%X (%s)", want.Code, uint32(r.bc.Code), r.bc.Code.Name())
	}
	// Every parameter that disagrees is named, so one run shows them all.
	var wrong []string
	for i, v := range want.P {
		if v == nil {
			continue
		}
		va, err := r.addr(*v)
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("P%d = %s, but %s was never bound", i+1, v, v.Name))
			continue
		}
		w := uint64(va)
		switch {
		case r.bc.P[i] == w:
		case v.IsLiteral:
			wrong = append(wrong, fmt.Sprintf("P%d = %s, got 0x%x", i+1, v, r.bc.P[i]))
		default:
			wrong = append(wrong, fmt.Sprintf("P%d = %s (0x%x), got 0x%x", i+1, v, w, r.bc.P[i]))
		}
	}
	if len(wrong) == 0 {
		return ""
	}
	return "expected " + strings.Join(wrong, "; ")
}
