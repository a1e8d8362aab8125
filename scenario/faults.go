package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"simkern/bugcheck"
	"simkern/mm"
	"simkern/pagefile"
	"simkern/pool"
	"simkern/verifier"
)

// Fault injection, as the run sees it: the verifier's low-resources
// failures, the pagefile's I/O errors and bit flips in RAM are numbered
// in one sequence, logged as events, and listed in a bugcheck report with
// the ones that touched the failing step marked.

// injection is one injected fault of the run.
type injection struct {
	Number int    `json:"number"`
	Kind   string `json:"kind"` // low_resources, pagefile_read_error, pagefile_write_error, bit_flip
	Driver string `json:"driver,omitempty"`
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Step   string `json:"step,omitempty"`
	Name   string `json:"name,omitempty"` // the name an injected NULL was bound to
	Detail string `json:"detail"`
}

// recentInjections is how many of the last injections a bugcheck's
// report lists.
const recentInjections = 100

// injections counts the faults injected so far.
func (r *runner) injections() int { return int(r.recent.Total()) }

func (r *runner) addInjection(in injection) {
	in.Number = r.injections() + 1
	r.recent.Add(in)
	if in.Name != "" {
		r.named[in.Number] = in
	}
	r.out.injection(in)
}

// bindName records that name now holds what an alloc returned: NULL from
// injection number inj, or (0) anything else.
func (r *runner) bindName(name string, inj int) {
	if old, ok := r.nullNames[name]; ok {
		delete(r.named, old)
		delete(r.nullNames, name)
	}
	if inj != 0 {
		r.nullNames[name] = inj
	}
}

// injected records a low-resources failure the verifier made in step.
func (r *runner) injected(step *Step, inj *verifier.Injection, name string) {
	in := injection{Kind: "low_resources", Driver: inj.Driver, Name: name,
		Detail: fmt.Sprintf("NULL returned to %s for %d bytes of %s, tag %s (%s)", inj.Driver, inj.Bytes, inj.Type, inj.Tag, inj.Why)}
	if step != nil {
		in.File, in.Line, in.Step = step.Pos.File, step.Pos.Line, step.Line
	}
	r.addInjection(in)
	if name != "" {
		r.bindName(name, r.injections())
	}
}

// armFaults sets up the scenario's hardware faults: the pagefile's, and
// the bit flips by the step they come before.
func (r *runner) armFaults() {
	for i, f := range r.s.Faults {
		var op pagefile.Op
		switch f.Kind {
		case "pagefile_read_error":
			op = pagefile.OpRead
		case "pagefile_write_error":
			op = pagefile.OpWrite
		case "bit_flip":
			if r.flips == nil {
				r.flips = map[uint64][]int{}
			}
			r.flips[uint64(f.Step)] = append(r.flips[uint64(f.Step)], i)
			continue
		default:
			continue
		}
		if f.Nth == 0 && f.Probability == 0 {
			continue // probability: 0 never fires
		}
		if r.m.Pagefile != nil {
			r.m.Pagefile.Inject(pagefile.Fault{Op: op, Nth: f.Nth, Probability: f.Probability, Status: f.Status})
		}
	}
}

// beforeStep flips the bits due before the step about to run (the
// executed count, from 1), in the order the file lists them. (Looking
// them up, not going through every fault at every step: 50,000 faults
// and a long repeat took hours.)
func (r *runner) beforeStep(step *Step, n uint64) {
	var targets flipTargets
	for _, i := range r.flips[n] {
		f := r.s.Faults[i]
		frame, anyPage := r.flipFrame(f, &targets)
		word := r.faultRng.IntN(mm.PageBytes / 8)
		var bit uint8
		if f.Bit != nil {
			bit = *f.Bit
		} else {
			bit = uint8(r.faultRng.IntN(64))
		}
		if err := r.m.FlipBit(frame, word, bit); err != nil {
			continue // the loader keeps frame below the RAM
		}
		targets.flipped(r.m, frame)
		detail := fmt.Sprintf("bit %d of the u64 at offset 0x%x of frame 0x%x flipped before this step", bit, word*8, uint64(frame))
		if anyPage {
			detail += " (no page of small pool blocks was in memory: a frame of all RAM)"
		}
		r.addInjection(injection{Kind: "bit_flip", File: step.Pos.File, Line: step.Pos.Line, Step: step.Line, Detail: detail})
	}
}

// flipTargets are the pages of small pool blocks in memory, listed once
// for all the flips due before a step (listing them for each flip took
// minutes for 60,000 flips over a large pool), and again after a flip in a
// page table, which may have changed which pages are in memory.
type flipTargets struct {
	pages  []mm.VA
	listed bool
}

// flipped learns of a bit flipped in frame: in a page table, it may have
// changed which pages are in memory, so they are listed again.
func (t *flipTargets) flipped(m *mm.Machine, frame mm.PFN) {
	if fi, _ := m.Frame(frame); fi.PageTable {
		t.listed = false
	}
}

// flipFrame picks the frame of a bit flip: the one given, else a random
// page of small pool blocks (where header checks can notice), else, when
// none is in memory, a random frame of all RAM; anyPage says it was that.
func (r *runner) flipFrame(f Fault, t *flipTargets) (frame mm.PFN, anyPage bool) {
	if f.Frame != nil {
		return mm.PFN(*f.Frame), false
	}
	if !t.listed {
		t.pages, t.listed = t.pages[:0], true
		for _, reg := range []mm.Region{mm.RegionNonPagedPool, mm.RegionPagedPool} {
			for _, p := range r.p.SmallPages(reg) {
				if r.m.PTE(p).Valid() {
					t.pages = append(t.pages, p)
				}
			}
		}
	}
	pages := t.pages
	if len(pages) == 0 {
		return mm.PFN(r.faultRng.Uint64N(r.m.Frames())), true
	}
	return r.m.PTE(pages[r.faultRng.IntN(len(pages))]).Frame(), false
}

// afterStep logs the pagefile errors the step's I/O ran into: the reads
// from the memory statistics before and after it (without a pagefile,
// both hold zero pagefile counters), the writes as mm reported each one
// with its status. A failed read halts the machine with 0x7A, whose P2 is
// the read's status; err is what the step ended with.
func (r *runner) afterStep(step *Step, before, after mm.Stats, err error) {
	detail := "a pagefile read failed during this step"
	if b := (*bugcheck.Error)(nil); errors.As(err, &b) && b.Code == bugcheck.KernelDataInpageError {
		detail = fmt.Sprintf("%s (status 0x%x)", detail, b.P[1])
	}
	for range after.Pagefile.ReadErrors - before.Pagefile.ReadErrors {
		r.addInjection(injection{Kind: "pagefile_read_error", Driver: step.Driver, File: step.Pos.File, Line: step.Pos.Line, Step: step.Line,
			Detail: detail})
	}
	for _, status := range r.failedWrites {
		r.addInjection(injection{Kind: "pagefile_write_error", Driver: step.Driver, File: step.Pos.File, Line: step.Pos.Line, Step: step.Line,
			Detail: fmt.Sprintf("a pagefile write failed during this step (status 0x%x); the page stays modified and is retried", status)})
	}
	r.failedWrites = r.failedWrites[:0]
}

// stepNames returns the names the step's address operands use.
func stepNames(step *Step) []string {
	var out []string
	add := func(a Addr) {
		if !a.IsLiteral {
			out = append(out, a.Name)
		}
	}
	switch {
	case step.Read != nil:
		add(step.Read.At)
	case step.Write != nil:
		add(step.Write.At)
	case step.Free != nil:
		add(step.Free.At)
	}
	return out
}

// injectionReport lists the injections before a bugcheck, marking those
// that touched the failing step: a NULL it then used, its driver, or the
// I/O error behind an in-page failure.
func (r *runner) injectionReport() string {
	if r.injections() == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d before the bugcheck", r.injections())
	used := map[string]bool{}
	if r.cur != nil {
		for _, n := range stepNames(r.cur) {
			used[n] = true
		}
	}
	// The NULLs the failing step's names still hold, then the last ones,
	// in order.
	last := r.recent.All()
	var list []injection
	for n := range used {
		if in, ok := r.named[r.nullNames[n]]; ok && in.Number < last[0].Number {
			list = append(list, in)
		}
	}
	slices.SortFunc(list, func(a, b injection) int { return cmp.Compare(a.Number, b.Number) })
	if first := r.injections() - r.recent.Len() + 1; first > 1 {
		fmt.Fprintf(&b, " (the last %d listed", r.recent.Len())
		if len(list) > 0 {
			b.WriteString(", and those the failing step's names hold")
		}
		b.WriteString(")")
	}
	list = append(list, last...)
	for _, in := range list {
		fmt.Fprintf(&b, "\n    injection #%d: %s at %s:%d", in.Number, in.Detail, in.File, in.Line)
		switch {
		case in.Name != "" && used[in.Name] && r.nullNames[in.Name] == in.Number:
			fmt.Fprintf(&b, " -> %s (= 0) used at %s:%d  <== touched the failing step", in.Name, r.cur.Pos.File, r.cur.Pos.Line)
		case in.Kind == "pagefile_read_error" && r.bc != nil && r.bc.Code == bugcheck.KernelDataInpageError:
			b.WriteString("  <== the in-page read that failed")
		case in.Driver != "" && r.cur != nil && in.Driver == r.cur.Driver:
			b.WriteString("  <== same driver as the failing step")
		}
	}
	return b.String()
}

// verifierSettings translates the scenario's verifier: section.
func verifierSettings(v *Verifier) verifier.Settings {
	s := verifier.Settings{Drivers: v.Drivers, PoolTracking: v.PoolTracking, IRQLChecking: v.IRQLChecking, LowResources: v.LowResources}
	switch v.SpecialPool {
	case "overrun":
		s.SpecialPool = pool.SpecialOverrun
	case "underrun":
		s.SpecialPool = pool.SpecialUnderrun
	}
	return s
}
