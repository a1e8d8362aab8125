package pool

import (
	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/mm"
)

// Code addresses of the pool routines, inside the pool's part of the
// kernel image (cpu.PoolCodeStart to cpu.PoolCodeEnd). While the pool
// runs, the CPU's PC is one of these, so a fault inside the pool blames
// the kernel (0x50's P3), and one at a raised IRQL is 0xC5, as on Windows.
const (
	PCExAllocatePoolWithTag = cpu.PoolCodeStart + 0x1010
	PCExFreePoolWithTag     = cpu.PoolCodeStart + 0x2350
)

// Allocate is ExAllocatePoolWithTag on CPU c, called from the code at
// c.PC. It returns the block's address, or 0 (NULL) when memory runs out,
// which is not an error. The error is the bugcheck a bad request or a
// corrupt pool amounts to; the machine has halted then.
func (p *Pool) Allocate(c *cpu.CPU, t Type, n uint64, tag Tag) (mm.VA, error) {
	if e := p.m.Halted(); e != nil {
		return 0, e
	}
	caller := c.PC
	if err := checkIrqlForAllocate(c, t, n); err != nil {
		return 0, p.halt(err)
	}
	if err := checkRequest(t, n, tag, caller); err != nil {
		return 0, p.halt(err)
	}
	c.PC = PCExAllocatePoolWithTag
	va, err := p.allocate(c, t, n, tag, caller)
	c.PC = caller
	if err != nil {
		return 0, p.halt(err)
	}
	if va == 0 {
		p.Failures++
		if t.MustSucceed() {
			// P1 is what could not be had: the bytes of a big request,
			// the page a small one needed. P2 and P3 count all of
			// nonpaged pool: every node's descriptors, NX ones too (WRK,
			// with one descriptor, passes its totals).
			want := n
			if n <= MaxSmallBytes {
				want = mm.PageBytes
			}
			tot := p.Totals()
			return 0, p.halt(bugcheck.New(bugcheck.MustSucceedPoolEmpty, want, tot.NonPagedPages, tot.NonPagedBigPages, p.m.Stats().Available()).At("ExAllocatePoolWithTag: must succeed"))
		}
		return 0, nil
	}
	if p.cfg.VerifyEveryOp {
		if err := p.ValidateAll(); err != nil {
			return 0, p.halt(err)
		}
	}
	return va, nil
}

func (p *Pool) allocate(c *cpu.CPU, t Type, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	if n > MaxSmallBytes {
		return p.allocateBig(c, t, n, tag, caller)
	}
	d := p.descriptorFor(c, t)
	u := unitsFor(n)
	if u <= LookasideMaxUnits && !p.cfg.NoLookaside {
		r := c.Pool.(*prcb)
		r.tick()
		if va := r.lists[lookasideClass(d)][u-1].pop(); va != 0 {
			return p.reuse(c, d, va, t, n, tag, caller)
		}
	}
	return p.allocateSmall(c, d, t, u, n, tag, caller)
}

// Free is ExFreePool.
func (p *Pool) Free(c *cpu.CPU, va mm.VA) error { return p.free(c, va, 0, false) }

// FreeWithTag is ExFreePoolWithTag: tag must be the allocation's (with or
// without the protected bit). Tag 0 checks nothing, as in Windows, where
// ExFreePool is ExFreePoolWithTag(P, 0).
func (p *Pool) FreeWithTag(c *cpu.CPU, va mm.VA, tag Tag) error { return p.free(c, va, tag, true) }

func (p *Pool) free(c *cpu.CPU, va mm.VA, tag Tag, withTag bool) error {
	if e := p.m.Halted(); e != nil {
		return e
	}
	caller := c.PC
	c.PC = PCExFreePoolWithTag
	var err error
	switch {
	case isSpecial(va):
		err = p.freeSpecial(c, va, tag, withTag)
	case va.PageOffset() == 0:
		err = p.freeBig(c, va, tag, withTag)
	default:
		err = p.freeSmall(c, va, tag, withTag)
	}
	c.PC = caller
	if err == nil && p.cfg.VerifyEveryOp {
		err = p.ValidateAll()
	}
	return p.halt(err)
}

// halt stops the machine for a bugcheck and passes any error through.
func (p *Pool) halt(err error) error { return p.m.HaltOn(err) }

// Owner returns the code address that allocated the block at va, or 0.
func (p *Pool) Owner(va mm.VA) uint64 {
	_, owner := p.allocationAt(va)
	return owner
}

// Requested returns the bytes asked for by the allocation at va, or 0.
func (p *Pool) Requested(va mm.VA) uint64 {
	n, _ := p.allocationAt(va)
	return n
}

// allocationAt returns the bytes requested and the allocator's code
// address of the allocation whose data starts at va, or zeros.
func (p *Pool) allocationAt(va mm.VA) (requested, owner uint64) {
	if isSpecial(va) {
		if a, ok := p.special.live[va.PageBase()]; ok && a.VA == va {
			return a.Bytes, a.Owner
		}
		return 0, 0
	}
	if b, ok := p.big.get(va); ok {
		return b.Bytes, b.Owner
	}
	pi := p.pageOf(va)
	if !pi.holdsBlockAt(va) {
		return 0, 0
	}
	r := pi.blocks[unitOf(va)-1]
	return r.requested(), p.sites.at(r.site()).owner
}

// unitOf returns the unit index of va within its page.
func unitOf(va mm.VA) Units { return Units(va.PageOffset() / UnitBytes) }
