package scenario

import (
	"bytes"
	"fmt"
	"strings"

	"simkern/cpu"
	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// result is what a step did, for the report.
type result struct {
	text   string // one line for the text report ("buf = fffff8a0...")
	output string // a kd command's output
	failed string // an expectation of the step that did not hold
	note   string // what the run shows that no check will: unseenOverrun

	address  uint64
	hasAddr  bool
	name     string
	bytes    uint64
	data     []byte
	faults   Faults // the page faults the step caused
	pages    int
	irqlFrom cpu.IRQL
	irqlTo   cpu.IRQL
	workload *workloadResult
}

// Plural counts n of what: "1 page", "2 pages".
func Plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// addr resolves an address operand: a literal, or a bound name plus its
// offset. The one error is a name no step has bound yet.
func (r *runner) addr(a Addr) (mm.VA, error) {
	if a.IsLiteral {
		return mm.VA(a.Literal), nil
	}
	base, ok := r.names[a.Name]
	if !ok {
		return 0, fmt.Errorf("%s is not bound yet: no alloc bound it before this step ran", a.Name)
	}
	return mm.VA(base + uint64(a.Offset)), nil
}

// unseenOverrun explains a write of n bytes at va that reached into a
// block's canary and left it as it was, having written the very bytes it
// held (one byte in 256 does, for a canary that comes from the seed). No
// check can see such an overrun, and a scenario that has one most likely
// expects a check to, so the report says why none will. The canary lies
// in a page the write touched, so reading it through c faults nothing.
func (r *runner) unseenOverrun(c *cpu.CPU, va mm.VA, n uint64) string {
	if n == 0 {
		return ""
	}
	for _, x := range [2]mm.VA{va, va + mm.VA(n-1)} { // the blocks the write starts and ends in
		data := r.p.BlockHolding(x)
		at, size := r.p.Canary(data)
		if size == 0 || va >= at+mm.VA(size) || at >= va+mm.VA(n) {
			continue
		}
		if damaged, err := r.p.Overrun(c, data); err != nil || damaged != 0 {
			continue // a check will see it
		}
		return fmt.Sprintf("note: the write went past the %s of the block at %s into its canary, "+
			"but wrote what the canary held there (the canary comes from the seed): no check will see this overrun",
			Plural(uint64(at-data), "byte"), data)
	}
	return ""
}

// exec runs one leaf step on c. A bugcheck comes back as the error (the
// machine has halted); any other error is a failed expectation.
func (r *runner) exec(c *cpu.CPU, step *Step) (result, error) {
	var res result
	switch step.Verb {
	case "alloc":
		a := step.Alloc
		va, inj, err := r.allocate(c, step.Driver, a.Pool, a.Size, a.Tag)
		if err != nil {
			return res, err
		}
		if inj != nil {
			r.injected(step, inj, a.As)
		}
		if a.As != "" {
			r.names[a.As] = uint64(va)
			if inj == nil {
				r.bindName(a.As, 0)
			}
		}
		res.address, res.hasAddr, res.name, res.bytes = uint64(va), true, a.As, a.Size
		label := "-> "
		if a.As != "" {
			label += a.As + " = "
		}
		if va == 0 {
			res.text = label + "NULL (out of memory)"
			if inj != nil {
				res.text = fmt.Sprintf("%sNULL (injected failure #%d)", label, r.injections())
			}
			return res, nil
		}
		res.text = fmt.Sprintf("%s%s  (%s, %d bytes)", label, va, a.Pool, a.Size)
		if a.ExpectNull {
			return res, fmt.Errorf("expected NULL, got %s", va)
		}
	case "free":
		f := step.Free
		va, err := r.addr(f.At)
		if err != nil {
			return res, err
		}
		err = r.free(c, step.Driver, va, f.Tag, f.WithTag)
		res.address, res.hasAddr = uint64(va), true
		if err == nil {
			res.text = "-> freed " + va.String()
		}
		return res, err
	case "write":
		w := step.Write
		va, err := r.addr(w.At)
		if err != nil {
			return res, err
		}
		res.address, res.hasAddr, res.bytes = uint64(va), true, uint64(len(w.Data))
		r.bytesMoved += uint64(len(w.Data))
		if err := r.m.Write(c, va, w.Data); err != nil {
			return res, err
		}
		res.text = fmt.Sprintf("-> wrote %s at %s", Plural(uint64(len(w.Data)), "byte"), va)
		res.note = r.unseenOverrun(c, va, uint64(len(w.Data)))
	case "read":
		rd := step.Read
		va, err := r.addr(rd.At)
		if err != nil {
			return res, err
		}
		buf := make([]byte, rd.Length)
		res.address, res.hasAddr, res.bytes = uint64(va), true, rd.Length
		r.bytesMoved += rd.Length
		if err := r.m.Read(c, va, buf); err != nil {
			return res, err
		}
		res.data = buf
		res.text = fmt.Sprintf("-> %s", showBytes(buf))
		if rd.HasExpect && !bytes.Equal(buf, rd.Expect) {
			return res, fmt.Errorf("read %s, expected %s", showBytes(buf), showBytes(rd.Expect))
		}
	case "irql":
		to := *step.IRQL
		res.irqlFrom, res.irqlTo = c.IRQL(), to
		var err error
		if to >= c.IRQL() {
			_, err = c.Raise(to)
		} else {
			err = c.Lower(to)
		}
		if err != nil {
			return res, err
		}
		res.text = fmt.Sprintf("-> CPU %d: %s -> %s", c.Number, res.irqlFrom, to)
		if r.v == nil {
			return res, nil
		}
		// Force IRQL Checking's trim is what a scenario with it is about:
		// the report says what it took, and why nothing, without a pagefile.
		switch trimmed, pages := r.v.IrqlChanged(c, step.Driver, res.irqlFrom); {
		case trimmed && r.m.Pagefile == nil:
			res.text += "; irql_checking trims nothing: the machine has no pagefile"
		case trimmed:
			res.text += "; irql_checking trimmed " + Plural(uint64(pages), "pageable page")
		}
		return res, nil
	case "trim":
		n, err := r.pageOp(step.Trim, r.m.TrimAll, r.m.Trim)
		res.pages = n
		res.text = "-> " + Plural(uint64(n), "page") + " trimmed"
		return res, err
	case "page_out":
		n, err := r.pageOp(step.PageOut, r.m.PageOutAll, r.m.PageOut)
		res.pages = n
		res.text = "-> " + Plural(uint64(n), "page") + " written out and evicted"
		return res, err
	case "write_modified":
		n, err := r.pageOp(step.WriteModified, r.m.WriteModified, r.m.WriteModifiedRange)
		res.pages = n
		res.text = "-> " + Plural(uint64(n), "page") + " written to the pagefile, now on standby"
		return res, err
	case "kd":
		var b strings.Builder
		examined := r.kd.Examined
		r.kd.Run(&b, step.KD)
		res.output = b.String()
		r.bytesMoved += uint64(len(res.output)) + r.kd.Examined - examined
	case "unload":
		if r.v != nil {
			if err := r.v.Unload(step.Unload, r.st.nameAddress(step.Unload)); err != nil {
				return res, err
			}
		}
		res.text = "-> " + step.Unload + " unloaded"
	case "workload":
		return r.workload(c, step.Driver, step.Workload)
	case "replay":
		return r.replay(c, step.Driver, step.Replay)
	}
	return res, nil
}

// pageOp runs trim: or page_out: on everything or on one allocation's
// pages.
func (r *runner) pageOp(t *Target, all func() int, some func(mm.VA, uint64) int) (int, error) {
	if t.All {
		return all(), nil
	}
	va, err := r.addr(Addr{Name: t.Name})
	if err != nil {
		return 0, err
	}
	n := r.p.Requested(va)
	if n == 0 {
		n = 1
	}
	first := va.PageBase()
	last := (va + mm.VA(n) - 1).PageBase()
	return some(first, uint64(last-first)/mm.PageBytes+1), nil
}

// showBytes prints bytes as text when they are printable, else as hex.
func showBytes(b []byte) string {
	const max = 32
	cut := b
	if len(cut) > max {
		cut = cut[:max]
	}
	printable := true
	for _, c := range cut {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	var s string
	if printable {
		s = fmt.Sprintf("%q", cut)
	} else {
		s = fmt.Sprintf("% x", cut)
	}
	if len(b) > max {
		s += fmt.Sprintf(" ... (%d bytes)", len(b))
	}
	return s
}

// allocate is ExAllocatePoolWithTag for driver, through the verifier when
// there is one.
func (r *runner) allocate(c *cpu.CPU, driver string, t pool.Type, n uint64, tag pool.Tag) (va mm.VA, inj *verifier.Injection, err error) {
	if r.v != nil {
		va, inj, err = r.v.Allocate(c, driver, t, n, tag)
	} else {
		va, err = r.p.Allocate(c, t, n, tag)
	}
	if err == nil {
		r.calls.Allocs++
		if va == 0 {
			r.calls.Null++
		}
	}
	if err == nil {
		err = r.overLimit() // a workload or trace stops here; runStep ends the run
	}
	return va, inj, err
}

// free is ExFreePool or ExFreePoolWithTag for driver.
func (r *runner) free(c *cpu.CPU, driver string, va mm.VA, tag pool.Tag, withTag bool) error {
	var err error
	switch {
	case r.v != nil:
		err = r.v.Free(c, driver, va, tag, withTag)
	case withTag:
		err = r.p.FreeWithTag(c, va, tag)
	default:
		err = r.p.Free(c, va)
	}
	if err == nil {
		r.calls.Frees++
	}
	if err == nil {
		err = r.overLimit()
	}
	return err
}
