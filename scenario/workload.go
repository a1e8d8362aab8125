package scenario

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"simkern/cpu"
	"simkern/mm"
	"simkern/pool"
)

// workloadResult is what a workload: or replay: step did.
type workloadResult struct {
	Allocs   uint64 `json:"allocs"`
	Frees    uint64 `json:"frees"`
	Failures uint64 `json:"failures"` // allocations that returned NULL
	PeakLive uint64 `json:"peak_live"`
	Left     uint64 `json:"left"` // still allocated at the end (keep: true, or a trace's leaks)
}

func (w *workloadResult) String() string {
	s := "-> " + Plural(w.Allocs, "allocation") + ", " + Plural(w.Frees, "free")
	if w.Failures > 0 {
		s += fmt.Sprintf(", %d returned NULL", w.Failures)
	}
	s += fmt.Sprintf(", peak %d live", w.PeakLive)
	if w.Left > 0 {
		s += fmt.Sprintf(", %d kept", w.Left)
	}
	return s
}

// workload runs a workload: step, the same shape of work as the host
// baseline in the benchmark: allocate until live blocks are alive, then
// alternately free a random live block and allocate a new one until ops
// operations are done, then free what is left unless keep.
func (r *runner) workload(c *cpu.CPU, driver string, w *WorkloadStep) (result, error) {
	res := result{workload: &workloadResult{}}
	wr := res.workload
	live := make([]liveBlock, 0, min(w.Live, 1<<20))
	rng := workloadRand{r.rng.Uint64()}
	span := w.MaxSize - w.MinSize + 1
	var scratch []byte
	// filled: live blocks were alive once, and the churn began; from then
	// on the operations alternate, free first. An allocation that returns
	// NULL still takes its turn (and its operation), so failures thin the
	// live set out instead of stretching the fill. A free's turn with
	// nothing live allocates instead, which can put two allocations in a
	// row: the live set still never passes live blocks (a full set frees).
	filled, freeTurn := false, true
	for i := uint64(0); i < w.Ops; i++ {
		n := uint64(len(live))
		if !filled && n == w.Live {
			filled = true
		}
		allocate := n < w.Live && (!filled || n == 0 || !freeTurn)
		if filled {
			freeTurn = !freeTurn
		}
		if allocate {
			size := w.MinSize + rng.below(span)
			va, err := r.allocateCounted(c, driver, w.Pool, size, w.Tag, wr)
			if err != nil {
				return res, err
			}
			if va == 0 {
				continue
			}
			if w.Verify {
				if err := r.fillPattern(c, va, size, &scratch); err != nil {
					return res, err
				}
			}
			live = append(live, liveBlock{va, size})
			wr.PeakLive = max(wr.PeakLive, uint64(len(live)))
			continue
		}
		k := rng.below(n)
		if err := r.freeLive(c, driver, live[k], w.Verify, &scratch); err != nil {
			return res, err
		}
		live[k] = live[n-1]
		live = live[:n-1]
		wr.Frees++
	}
	if w.Keep {
		wr.Left = uint64(len(live))
	} else {
		for len(live) > 0 {
			if err := r.freeLive(c, driver, live[len(live)-1], w.Verify, &scratch); err != nil {
				return res, err
			}
			live = live[:len(live)-1]
			wr.Frees++
		}
	}
	res.text = wr.String()
	return res, nil
}

// liveBlock is a block a workload holds: its address and size.
type liveBlock struct {
	va mm.VA
	n  uint64
}

// freeLive frees a workload's block, first checking its pattern when the
// workload verifies.
func (r *runner) freeLive(c *cpu.CPU, driver string, b liveBlock, verify bool, scratch *[]byte) error {
	if verify {
		r.bytesMoved += b.n
		for off := uint64(0); off < b.n; off += patternChunk {
			buf := chunkOf(scratch, b.n-off)
			if err := r.m.Read(c, b.va+mm.VA(off), buf); err != nil {
				return err
			}
			if i := checkPattern(b.va, off, buf); i >= 0 {
				return fmt.Errorf("workload: the block at %s lost its pattern at byte %d", b.va, i)
			}
		}
	}
	return r.free(c, driver, b.va, 0, false)
}

// workloadRand is a workload's own generator (splitmix64), seeded with one
// draw from the run's stream. A workload draws once per operation, and
// this keeps a draw to a few instructions, so the pool's work is what a
// workload measures.
type workloadRand struct{ state uint64 }

// below returns a number in [0, n), n > 0, by Lemire's multiply-shift
// (the tiny bias, under n/2^64, does not matter for a workload).
func (g *workloadRand) below(n uint64) uint64 {
	g.state += 0x9e3779b97f4a7c15
	z := g.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	hi, _ := bits.Mul64(z, n)
	return hi
}

// allocateCounted is one allocation of a workload or a replay: it logs an
// injected failure and counts the allocation and any NULL in wr.
func (r *runner) allocateCounted(c *cpu.CPU, driver string, t pool.Type, n uint64, tag pool.Tag, wr *workloadResult) (mm.VA, error) {
	va, inj, err := r.allocate(c, driver, t, n, tag)
	if err != nil {
		return 0, err
	}
	if inj != nil {
		r.injected(r.cur, inj, "")
	}
	wr.Allocs++
	if va == 0 {
		wr.Failures++
	}
	return va, nil
}

// The verify pattern: each byte depends on the block's address and its
// offset, so a block that receives another's bytes is caught too.
func patternByte(va mm.VA, i int) byte { return byte(uint64(va)>>4) ^ byte(i) ^ byte(i>>8) ^ 0x5a }

// patternChunk is how much of a block's pattern is written or checked
// at a time: a 4 GiB block needs no 4 GiB buffer.
const patternChunk = 64 << 10

// chunkOf returns the scratch buffer cut to the next chunk of a block
// with left bytes still to go.
func chunkOf(scratch *[]byte, left uint64) []byte {
	if *scratch == nil {
		*scratch = make([]byte, patternChunk)
	}
	return (*scratch)[:min(left, patternChunk)]
}

func (r *runner) fillPattern(c *cpu.CPU, va mm.VA, n uint64, scratch *[]byte) error {
	r.bytesMoved += n
	for off := uint64(0); off < n; off += patternChunk {
		buf := chunkOf(scratch, n-off)
		for i := range buf {
			buf[i] = patternByte(va, int(off)+i)
		}
		if err := r.m.Write(c, va+mm.VA(off), buf); err != nil {
			return err
		}
	}
	return nil
}

// checkPattern returns the offset in the block of the first byte of buf,
// the block's bytes from off, that does not hold the pattern, or -1.
func checkPattern(va mm.VA, off uint64, buf []byte) int {
	for i, b := range buf {
		if b != patternByte(va, int(off)+i) {
			return int(off) + i
		}
	}
	return -1
}

// replay runs a trace file's operations: from memory when the loader
// kept them, else as it reads the file again. An allocation that returned
// NULL makes the matching free a no-op, as a driver checking for NULL
// would. A second free of an ID frees the address its first one freed.
func (r *runner) replay(c *cpu.CPU, driver string, rp *ReplayStep) (result, error) {
	res := result{workload: &workloadResult{}}
	wr := res.workload
	ids := make(map[uint64]mm.VA) // live IDs whose allocation succeeded
	var freed recentFrees         // for a trace that frees an ID twice
	recall := rp.file.recall
	run := func(op TraceOp) error {
		oc := c
		if op.CPUSet && op.CPU != c.Number {
			oc = r.cpus.CPUs[op.CPU]
			oc.PC = c.PC // the trace's driver runs there too
		}
		if op.Alloc {
			if recall {
				freed.forget(op.ID)
			}
			va, err := r.allocateCounted(oc, driver, op.Pool, op.Size, op.Tag, wr)
			if err != nil {
				return err
			}
			if va == 0 {
				delete(ids, op.ID) // freeing it later is a no-op
				return nil
			}
			ids[op.ID] = va
			wr.PeakLive = max(wr.PeakLive, uint64(len(ids)))
			return nil
		}
		va, ok := ids[op.ID]
		if ok {
			delete(ids, op.ID)
		} else if recall {
			va, _ = freed.get(op.ID) // a double free, or 0 for a NULL
		}
		if recall {
			freed.add(op.ID, va)
		}
		if va == 0 {
			return nil
		}
		if err := r.free(oc, driver, va, 0, false); err != nil {
			return err
		}
		wr.Frees++
		return nil
	}
	var err error
	if tf := rp.file; tf.kept != nil || tf.ops == 0 {
		for _, op := range tf.kept {
			if err = run(op); err != nil {
				break
			}
		}
	} else {
		err = r.replayFile(rp, run)
	}
	for _, oc := range r.cpus.CPUs {
		if oc != c {
			oc.PC = cpu.KernelImageBase
		}
	}
	if err != nil {
		return res, err
	}
	wr.Left = uint64(len(ids))
	res.text = wr.String()
	return res, nil
}

// replayFile reads a trace the loader did not keep and hands its
// operations to run. The file must be the one the loader read: a size
// that differs fails the step before anything runs; no more operations
// than the loader counted run; and different bytes fail it at the end,
// once what was read has run.
func (r *runner) replayFile(rp *ReplayStep, run func(TraceOp) error) error {
	tf := rp.file
	changed := func(how string, args ...any) error {
		return fmt.Errorf("the trace %s changed since the scenario was loaded: %s", rp.Path, fmt.Sprintf(how, args...))
	}
	f, size, err := openTrace(rp.FS, rp.Path)
	if err != nil {
		return fmt.Errorf("%v (it was read when the scenario was loaded)", err)
	}
	defer f.Close()
	if size != tf.size {
		return changed("it held %d bytes, now %d", tf.size, size)
	}
	h := sha256.New()
	n := uint64(0)
	_, err = parseTrace(rp.Path, io.TeeReader(f, h), len(r.cpus.CPUs), tf.recall, func(op TraceOp) error {
		if n++; n > tf.ops {
			return changed("it held %d operations, now more", tf.ops)
		}
		return run(op)
	})
	if bad := (*Error)(nil); errors.As(err, &bad) {
		return changed("%v", err)
	}
	if err != nil {
		return err
	}
	if n != tf.ops {
		return changed("it held %d operations, now %d", tf.ops, n)
	}
	if [sha256.Size]byte(h.Sum(nil)) != tf.sum {
		return changed("its bytes differ (the operations read from it ran)")
	}
	return nil
}
