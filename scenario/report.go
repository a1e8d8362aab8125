package scenario

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/dustin/go-humanize"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/mm"
	"simkern/pool"
)

// Event is one line of --json output (JSON Lines). Fields are documented
// in docs/json.md and keep their names across versions; new ones may be
// added. Numbers that are addresses or bugcheck values are hex strings
// ("0xfffffa8000001010"), since JSON numbers cannot hold every u64.
type Event struct {
	Event string `json:"event"` // start, step, injection, injections_unlisted, bugcheck, summary, end

	// start
	Simkern     string   `json:"simkern,omitempty"`
	Scenario    string   `json:"scenario,omitempty"`
	SHA256      string   `json:"sha256,omitempty"`
	Seed        *uint64  `json:"seed,omitempty"`
	Description string   `json:"description,omitempty"`
	Machine     *Machine `json:"machine,omitempty"`

	// step
	Seq     uint64  `json:"seq,omitempty"`
	File    string  `json:"file,omitempty"`
	Line    int     `json:"line,omitempty"`
	Col     int     `json:"col,omitempty"`
	Verb    string  `json:"verb,omitempty"`
	Step    string  `json:"step,omitempty"`
	CPU     *int    `json:"cpu,omitempty"`
	Thread  string  `json:"thread,omitempty"` // the threads: entry's name
	Driver  string  `json:"driver,omitempty"`
	IRQL    *int    `json:"irql,omitempty"`
	PC      string  `json:"pc,omitempty"`
	Name    string  `json:"name,omitempty"`
	Address string  `json:"address,omitempty"`
	Bytes   *uint64 `json:"bytes,omitempty"`
	Data    string  `json:"data,omitempty"` // hex of the bytes read
	Pages   *int    `json:"pages,omitempty"`
	Faults  *Faults `json:"faults,omitempty"`
	Output  string  `json:"output,omitempty"` // kd output
	Result  string  `json:"result,omitempty"` // the text report's line
	Failed  string  `json:"failed,omitempty"` // an expectation that did not hold
	Note    string  `json:"note,omitempty"`   // what no check will see (an overrun that left the canary as it was)

	Workload *workloadResult `json:"workload,omitempty"`

	// injection: a fault injected on purpose (low resources, pagefile
	// I/O errors, bit flips)
	Injection *injection `json:"injection,omitempty"`
	// injections_unlisted: how many more injections the step made than
	// it lists
	Unlisted uint64 `json:"unlisted,omitempty"`

	// bugcheck
	Code     string   `json:"code,omitempty"`
	CodeName string   `json:"code_name,omitempty"`
	Params   []string `json:"params,omitempty"`
	Meanings []string `json:"meanings,omitempty"`
	Check    string   `json:"check,omitempty"`
	Faulting string   `json:"faulting_ip,omitempty"`
	Analysis string   `json:"analysis,omitempty"`

	// summary and end
	Summary  *Summary `json:"summary,omitempty"`
	Outcome  string   `json:"outcome,omitempty"` // completed, bugcheck, failed
	Failures []string `json:"failures,omitempty"`
	Exit     *int     `json:"exit,omitempty"`
}

// Faults counts the page faults of a step.
type Faults struct {
	Soft       uint64 `json:"soft,omitempty"`
	Hard       uint64 `json:"hard,omitempty"`
	DemandZero uint64 `json:"demand_zero,omitempty"`
}

// String lists the faults for a step's line: "1 soft fault, 2 hard faults".
func (f Faults) String() string {
	var parts []string
	if f.Soft > 0 {
		parts = append(parts, Plural(f.Soft, "soft fault"))
	}
	if f.Hard > 0 {
		parts = append(parts, Plural(f.Hard, "hard fault"))
	}
	if f.DemandZero > 0 {
		parts = append(parts, Plural(f.DemandZero, "demand-zero fault"))
	}
	return strings.Join(parts, ", ")
}

// Summary is the state of the machine when the run ended.
type Summary struct {
	Steps uint64      `json:"steps"`
	Calls Calls       `json:"calls"`
	Pool  pool.Totals `json:"pool"`
	// Special is special pool's use, which Pool does not count; nil when
	// the run placed nothing there.
	Special *pool.SpecialStats `json:"special_pool,omitempty"`
	Tags    []SummaryTag       `json:"tags"`
	Memory  mm.Stats           `json:"memory"`
	Leaks   []SummaryLeak      `json:"leaks,omitempty"`
	// StillAllocated counts every block still allocated; Leaks lists the
	// first maxLeaks of them.
	StillAllocated int              `json:"still_allocated"`
	Lookaside      []LookasideTotal `json:"lookaside,omitempty"`
}

// Calls counts the ExAllocatePoolWithTag and ExFreePool(WithTag) calls a
// run's steps made that returned: special pool ones, and allocations that
// returned NULL (injected by the verifier or not), included. The pool's own
// counters (Summary.Pool) count only what reached its descriptors.
type Calls struct {
	Allocs uint64 `json:"allocs"`
	Frees  uint64 `json:"frees"`
	Null   uint64 `json:"null"` // allocations that returned NULL
}

// SummaryTag is one tag's use at the end; signed, as pool.TagStats is.
type SummaryTag struct {
	Tag           string `json:"tag"`
	NonPagedAlloc int64  `json:"nonpaged_allocs"`
	NonPagedBytes int64  `json:"nonpaged_bytes"`
	PagedAllocs   int64  `json:"paged_allocs"`
	PagedBytes    int64  `json:"paged_bytes"`
}

// SummaryLeak is a block still allocated at the end, with the step that
// allocated it.
type SummaryLeak struct {
	Address string `json:"address"`
	Tag     string `json:"tag"`
	Bytes   uint64 `json:"bytes"`
	By      string `json:"allocated_by"`
}

// LookasideTotal sums one CPU's lookaside counters.
type LookasideTotal struct {
	CPU       int    `json:"cpu"`
	Allocates uint64 `json:"allocates"`
	Hits      uint64 `json:"hits"`
}

// reporter writes a run's output, as text or as JSON Lines.
type reporter struct {
	r   *runner
	w   io.Writer
	enc *json.Encoder
	seq uint64
	// pending holds injections not reported yet, at most
	// maxListedInjections of them; unlisted counts the rest.
	pending  []injection
	unlisted uint64
}

// maxListedInjections is how many injections one step lists; a workload
// may inject millions, which are counted instead.
const maxListedInjections = 1000

func newReporter(r *runner, opt Options) *reporter {
	rep := &reporter{r: r, w: opt.Out}
	if opt.JSON {
		rep.setJSON(opt.Out)
	}
	return rep
}

func (rep *reporter) emit(e Event) { _ = rep.enc.Encode(e) }

// injection records an injected fault. It is reported right after the
// report of the step it happened in; a bit flip, which happens before
// its step runs, is reported after that step too.
func (rep *reporter) injection(in injection) {
	if len(rep.pending) == maxListedInjections {
		rep.unlisted++
		return
	}
	rep.pending = append(rep.pending, in)
}

// flushInjections reports the injections recorded since the last step.
func (rep *reporter) flushInjections() {
	for i := range rep.pending {
		in := &rep.pending[i]
		if rep.enc != nil {
			rep.emit(Event{Event: "injection", Injection: in})
		} else if !rep.r.opt.Quiet {
			fmt.Fprintf(rep.w, "      ! injection #%d: %s\n", in.Number, in.Detail)
		}
	}
	rep.pending = rep.pending[:0]
	if n := rep.unlisted; n > 0 {
		if rep.enc != nil {
			rep.emit(Event{Event: "injections_unlisted", Unlisted: n})
		} else if !rep.r.opt.Quiet {
			fmt.Fprintf(rep.w, "      ! %d more injections in this step, not listed (a step lists at most %d)\n", n, maxListedInjections)
		}
		rep.unlisted = 0
	}
}

// setJSON points the JSON encoder, if any, at w.
func (rep *reporter) setJSON(w io.Writer) {
	rep.enc = json.NewEncoder(w)
	rep.enc.SetEscapeHTML(false) // "->" stays readable
}

func (rep *reporter) start(seed uint64) {
	s, opt := rep.r.s, rep.r.opt
	if rep.enc != nil {
		m := s.Machine
		m.Seed = seed
		rep.emit(Event{Event: "start", Simkern: opt.Version, Scenario: s.Name, File: s.File, SHA256: s.Hash,
			Seed: &seed, Description: strings.TrimSpace(s.Description), Machine: &m})
		return
	}
	fmt.Fprintf(rep.w, "simkern %s  scenario %q  file %s  sha256 %s  seed %d\n", opt.Version, s.Name, s.File, ShortHash(s.Hash), seed)
	command := opt.Command
	if command == "" {
		command = "simkern run " + ShellQuote(s.File)
	}
	fmt.Fprintf(rep.w, "reproduce: %s --seed %d", command, seed)
	if opt.StepsSet {
		fmt.Fprintf(rep.w, " --steps %d", opt.Steps)
	}
	fmt.Fprintln(rep.w)
	if d := strings.TrimSpace(s.Description); d != "" && !opt.Quiet {
		for _, line := range strings.Split(d, "\n") {
			fmt.Fprintf(rep.w, "  %s\n", line)
		}
	}
	m := s.Machine
	fmt.Fprintf(rep.w, "machine: %s RAM, %s pagefile, %s, %s\n\n", humanize.IBytes(m.RAM), pagefileText(m.Pagefile),
		Plural(uint64(m.CPUs), "CPU"), Plural(uint64(m.NUMANodes), "NUMA node"))
}

func pagefileText(n uint64) string {
	if n == 0 {
		return "no"
	}
	return humanize.IBytes(n)
}

// ShellQuote quotes s, a path, for a POSIX shell when it holds more than
// letters, digits and the punctuation paths use, so a reproduce line
// pastes as is; a relative path that starts with - gets ./ before it, or
// the command would read it as a flag.
func ShellQuote(s string) string {
	if strings.HasPrefix(s, "-") {
		s = "./" + s
	}
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShortHash is the first 12 hex digits of a sha256, as reports print it.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// step reports one executed step.
func (rep *reporter) step(step *Step, c *cpu.CPU, res result) {
	rep.seq++
	if rep.enc != nil {
		num, irql := c.Number, int(c.IRQL())
		e := Event{Event: "step", Seq: rep.seq, File: step.Pos.File, Line: step.Pos.Line, Col: step.Pos.Col,
			Verb: step.Verb, Step: step.Line, CPU: &num, Thread: step.Thread, Driver: step.Driver, IRQL: &irql,
			PC: fmt.Sprintf("0x%x", rep.r.st.pc(step)), Name: res.name, Output: res.output,
			Result: res.text, Failed: res.failed, Note: res.note, Workload: res.workload}
		if res.hasAddr {
			e.Address = fmt.Sprintf("0x%x", res.address)
		}
		if res.bytes > 0 {
			b := res.bytes
			e.Bytes = &b
		}
		if res.data != nil {
			e.Data = hex.EncodeToString(res.data)
		}
		if step.Verb == "trim" || step.Verb == "page_out" || step.Verb == "write_modified" {
			p := res.pages
			e.Pages = &p
		}
		if f := res.faults; f != (Faults{}) {
			e.Faults = &f
		}
		rep.emit(e)
		rep.flushInjections()
		return
	}
	defer rep.flushInjections()
	if rep.r.opt.Quiet {
		if res.failed != "" {
			fmt.Fprintf(rep.w, "%s: %s: expectation failed: %s\n", step.Pos, step.Line, res.failed)
		}
		return
	}
	where := fmt.Sprintf("%s:%d", step.Pos.File, step.Pos.Line)
	ctx := ""
	switch {
	case step.Thread != "":
		ctx = fmt.Sprintf("  [%s, cpu %d]", step.Thread, c.Number)
	case rep.r.s.Machine.CPUs > 1:
		ctx = fmt.Sprintf("  [cpu %d]", c.Number)
	}
	fmt.Fprintf(rep.w, "#%-4d %s  %s%s\n", rep.seq, where, step.Line, ctx)
	if res.output != "" {
		fmt.Fprintf(rep.w, "%d: kd> %s\n%s", c.Number, step.KD, res.output)
		if !strings.HasSuffix(res.output, "\n") {
			fmt.Fprintln(rep.w)
		}
	}
	line := res.text
	if f := res.faults.String(); f != "" {
		if line != "" {
			line += "  "
		}
		line += "[" + f + "]"
	}
	if line != "" {
		fmt.Fprintf(rep.w, "      %s\n", line)
	}
	if res.note != "" {
		fmt.Fprintf(rep.w, "      %s\n", res.note)
	}
	if res.failed != "" {
		fmt.Fprintf(rep.w, "      EXPECTATION FAILED: %s\n", res.failed)
	}
}

// finish prints the bugcheck report, the summary and the outcome.
func (rep *reporter) finish(o *Outcome) {
	r := rep.r
	sum := r.summary()
	outcome := "completed"
	switch {
	case o.Bugcheck != nil:
		outcome = "bugcheck"
	case len(o.Failures) > 0:
		outcome = "failed"
	}
	if rep.enc != nil {
		if b := o.Bugcheck; b != nil {
			meanings := b.Code.ArgMeanings(b.P)
			e := Event{Event: "bugcheck", Code: fmt.Sprintf("0x%x", uint32(b.Code)), CodeName: b.Code.Name(),
				Check: b.Site, Faulting: r.faultingIP(b), Analysis: r.analysis(b)}
			for i, p := range b.P {
				e.Params = append(e.Params, fmt.Sprintf("0x%x", p))
				e.Meanings = append(e.Meanings, meanings[i])
			}
			if r.cur != nil {
				e.File, e.Line, e.Col, e.Step = r.cur.Pos.File, r.cur.Pos.Line, r.cur.Pos.Col, r.cur.Line
			}
			rep.emit(e)
		}
		rep.emit(Event{Event: "summary", Summary: sum})
		exit := o.Exit
		rep.emit(Event{Event: "end", Outcome: outcome, Failures: o.Failures, Exit: &exit})
		return
	}
	if b := o.Bugcheck; b != nil {
		fmt.Fprintf(rep.w, "\n*** The machine halted at %s: %s\n\n", r.cur.Pos, r.cur.Line)
		fmt.Fprintf(rep.w, "%s\n", b)
		fmt.Fprintln(rep.w, r.analysis(b))
	}
	if !r.opt.Quiet {
		rep.printSummary(sum)
	}
	switch outcome {
	case "completed":
		fmt.Fprintf(rep.w, "Outcome: completed, every expectation held (exit %d)\n", o.Exit)
	case "bugcheck":
		fmt.Fprintf(rep.w, "Outcome: bugcheck 0x%X %s", uint32(o.Bugcheck.Code), o.Bugcheck.Code.Name())
		if len(o.Failures) == 0 {
			fmt.Fprintf(rep.w, ", as expected (exit %d)\n", o.Exit)
		} else {
			fmt.Fprintf(rep.w, " (exit %d)\n", o.Exit)
		}
	default:
		fmt.Fprintf(rep.w, "Outcome: expectations failed (exit %d)\n", o.Exit)
	}
	for _, f := range o.Failures {
		fmt.Fprintf(rep.w, "  - %s\n", f)
	}
}

// summary gathers the end state.
func (r *runner) summary() *Summary {
	s := &Summary{Steps: r.executed, Calls: r.calls, Pool: r.p.Totals(), Memory: r.m.Stats(), Tags: []SummaryTag{}}
	if sp := r.p.SpecialStats(); sp.Allocations > 0 {
		s.Special = &sp
	}
	for _, t := range r.p.Tags() {
		if t.NonPagedOutstanding() == 0 && t.PagedOutstanding() == 0 && t.NonPagedBytes == 0 && t.PagedBytes == 0 {
			continue // all zero: a renamed block's tag may hold blocks and no bytes, or bytes and no blocks
		}
		s.Tags = append(s.Tags, SummaryTag{Tag: t.Tag.String(), NonPagedAlloc: t.NonPagedOutstanding(),
			NonPagedBytes: t.NonPagedBytes, PagedAllocs: t.PagedOutstanding(), PagedBytes: t.PagedBytes})
	}
	for _, c := range r.cpus.CPUs {
		var lt LookasideTotal
		lt.CPU = c.Number
		for class := 0; class < pool.LookasideClasses; class++ {
			for u := pool.Units(1); u <= pool.LookasideMaxUnits; u++ {
				l := r.p.Lookaside(c.Number, class, u)
				lt.Allocates += l.TotalAllocates
				lt.Hits += l.AllocateHits
			}
		}
		s.Lookaside = append(s.Lookaside, lt)
	}
	s.Leaks, s.StillAllocated = r.leaks()
	return s
}

// maxLeaks is how many of the blocks still allocated at the end a summary
// lists.
const maxLeaks = 20

// leaks lists the blocks still allocated at the end (the first maxLeaks
// in address order), each with the step that allocated it: a leak, or a
// workload's keep: true, is visible with its line. It counts them all.
func (r *runner) leaks() ([]SummaryLeak, int) {
	var out []SummaryLeak
	list, total := r.p.OutstandingAllocations(maxLeaks)
	for _, a := range list {
		out = append(out, SummaryLeak{Address: fmt.Sprintf("0x%x", uint64(a.VA)), Tag: a.Tag.String(), Bytes: a.Bytes, By: r.st.where(a.Owner)})
	}
	return out, total
}

// signedBytes prints a byte count that may be negative (SummaryTag's).
func signedBytes(n int64) string {
	if n < 0 {
		return "-" + humanize.IBytes(uint64(-n))
	}
	return humanize.IBytes(uint64(n))
}

func (rep *reporter) printSummary(s *Summary) {
	w := rep.w
	fmt.Fprintf(w, "\nSummary\n")
	fmt.Fprintf(w, "  steps run      %d\n", s.Steps)
	p := s.Pool
	fmt.Fprintf(w, "  nonpaged pool  %s in use (%s of blocks, %s)\n", humanize.IBytes(p.NonPagedBytes), Plural(p.NonPagedPages, "page"), Plural(p.NonPagedBigPages, "big page"))
	fmt.Fprintf(w, "  paged pool     %s in use (%s of blocks, %s)\n", humanize.IBytes(p.PagedBytes), Plural(p.PagedPages, "page"), Plural(p.PagedBigPages, "big page"))
	if sp := s.Special; sp != nil {
		fmt.Fprintf(w, "  special pool   %s in use (%s, %d freed; %s held back from reuse)\n",
			Plural(sp.PagesInUse, "page"), Plural(sp.Allocations, "allocation"), sp.Frees, Plural(sp.FreedPagesWaiting, "freed page"))
	}
	// Calls, not allocations: a call that returned NULL allocated nothing
	// (!vm's Pool line counts what the pool allocated).
	fmt.Fprintf(w, "  pool calls     %d to allocate (%d returned NULL), %d to free\n", s.Calls.Allocs, s.Calls.Null, s.Calls.Frees)
	if len(s.Tags) > 0 {
		fmt.Fprintf(w, "  in use by tag  %-4s  %8s %10s  %8s %10s\n", "Tag", "NP allocs", "NP used", "P allocs", "P used")
		for _, t := range s.Tags {
			fmt.Fprintf(w, "                 %-4s  %8d %10s  %8d %10s\n", t.Tag, t.NonPagedAlloc, signedBytes(t.NonPagedBytes), t.PagedAllocs, signedBytes(t.PagedBytes))
		}
	}
	for _, l := range s.Leaks {
		fmt.Fprintf(w, "  still allocated %s %s %d bytes, by %s\n", l.Address, l.Tag, l.Bytes, l.By)
	}
	if more := s.StillAllocated - len(s.Leaks); more > 0 {
		fmt.Fprintf(w, "  still allocated ... and %d more (%d in all; the first %d by address are listed)\n", more, s.StillAllocated, len(s.Leaks))
	}
	m := s.Memory
	fmt.Fprintf(w, "  page faults    %d soft, %d hard, %d demand-zero\n", m.SoftFaults, m.HardFaults, m.DemandZeroFaults)
	fmt.Fprintf(w, "  paging         %d trimmed, %d written to the pagefile, %d repurposed, %d evicted\n", m.Trimmed, m.PagesWritten, m.Repurposed, m.Evicted)
	if m.HasPagefile {
		fmt.Fprintf(w, "  pagefile       %s used of %s (peak %s), %s%s, %s%s\n",
			humanize.IBytes(m.Pagefile.Used*mm.PageBytes), humanize.IBytes((m.Pagefile.Slots-1)*mm.PageBytes),
			humanize.IBytes(m.Pagefile.Peak*mm.PageBytes), Plural(m.Pagefile.Reads, "read"), failedOf(m.Pagefile.ReadErrors),
			Plural(m.Pagefile.Writes, "write"), failedOf(m.Pagefile.WriteErrors))
	}
	fmt.Fprintf(w, "  memory         %d frames: %d active (%d pageable), %d standby, %d modified, %d free, %d zeroed\n",
		m.Frames, m.ActivePageable+m.ActiveNonpageable, m.ActivePageable, m.Standby, m.Modified, m.Free, m.Zeroed)
	fmt.Fprintf(w, "  commit         %s of %s\n\n", humanize.IBytes(m.CommitPages*mm.PageBytes), humanize.IBytes(m.CommitLimitPages*mm.PageBytes))
}

// failedOf says how many of a count of pagefile I/Os failed, when any did.
func failedOf(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d failed)", n)
}

// faultingIP names the code that was running when the machine halted:
// the step's line or, when the bugcheck names the pool manager's own code
// as what touched memory (0xC5 always does), that routine and the step
// that called it.
func (r *runner) faultingIP(b *bugcheck.Error) string {
	if r.cur == nil {
		return ""
	}
	step := r.st.where(r.st.pc(r.cur))
	if a, ok := accessOf(b); ok && cpu.InPoolCode(a.code) {
		return r.st.symbol(a.code) + "  called by " + step
	}
	return step
}

// access is the memory access a bugcheck's parameters describe.
type access struct {
	write bool
	code  uint64 // the address of the code that made it
}

// accessOf reads the access from the parameters of the codes that give
// one: where each puts the read/write flag and the code address.
func accessOf(b *bugcheck.Error) (access, bool) {
	switch b.Code {
	case bugcheck.IrqlNotLessOrEqual, bugcheck.DriverIrqlNotLessOrEqual, bugcheck.DriverCorruptedExpool:
		return access{write: b.P[2]&1 != 0, code: b.P[3]}, true // P3 bit 0
	case bugcheck.PageFaultInNonpagedArea:
		return access{write: b.P[1] == 2, code: b.P[2]}, true
	case bugcheck.PageFaultInFreedSpecialPool, bugcheck.DriverPageFaultInFreedSpecialPool,
		bugcheck.PageFaultBeyondEndOfAllocation, bugcheck.DriverPageFaultBeyondEndOfAllocation:
		return access{write: b.P[1] == 1, code: b.P[2]}, true // special pool: P2 is 0 for a read, 1 for a write
	}
	return access{}, false
}

// analysis is !analyze -v with simkern's details: the faulting step, the
// pool region and owner of an address parameter, the IRQL.
func (r *runner) analysis(b *bugcheck.Error) string {
	var d []bugcheck.Detail
	c := r.cpus.CPUs[0]
	if r.cur != nil {
		c = r.cpus.CPUs[r.cur.CPU]
	}
	if a, ok := accessOf(b); ok {
		kind := "READ_ADDRESS"
		if a.write {
			kind = "WRITE_ADDRESS"
		}
		d = append(d, bugcheck.Detail{Key: kind, Value: fmt.Sprintf("%016x %s", b.P[0], mm.RegionOf(mm.VA(b.P[0])))})
	}
	d = append(d, bugcheck.Detail{Key: "CURRENT_IRQL", Value: fmt.Sprintf("%d", c.IRQL())})
	if ip := r.faultingIP(b); ip != "" {
		d = append(d, bugcheck.Detail{Key: "FAULTING_IP", Value: ip})
	}
	for i, p := range b.P {
		block := r.p.BlockHolding(mm.VA(p))
		if owner := r.p.Owner(block); owner != 0 {
			v := fmt.Sprintf("%016x allocated by %s", uint64(block), r.st.where(owner))
			switch va := mm.VA(p); {
			case va == block-pool.HeaderBytes:
				v += fmt.Sprintf("; Arg%d %016x is its header", i+1, p)
			case va < block:
				v += fmt.Sprintf("; Arg%d %016x is %#x bytes before it", i+1, p, uint64(block-va))
			case va > block:
				v += fmt.Sprintf("; Arg%d %016x is %#x bytes into it", i+1, p, uint64(va-block))
			}
			d = append(d, bugcheck.Detail{Key: "POOL_BLOCK", Value: v})
			break
		}
	}
	if rep := r.injectionReport(); rep != "" {
		d = append(d, bugcheck.Detail{Key: "FAULT_INJECTIONS", Value: rep})
	}
	// The module to blame: the driver the step ran as, or the one it
	// unloads (pool tracking's leak at unload names it in P2).
	var module string
	if r.cur != nil {
		module = cmp.Or(r.cur.Driver, r.cur.Unload)
	}
	if module != "" {
		d = append(d, bugcheck.Detail{Key: "MODULE_NAME", Value: strings.TrimSuffix(module, ".sys")},
			bugcheck.Detail{Key: "IMAGE_NAME", Value: module})
	}
	return b.Analysis(d...)
}
