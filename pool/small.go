package pool

import (
	"simkern/cpu"
	"simkern/mm"
)

// Small blocks: carved from pool pages, found again through the free
// lists, merged with free neighbours when freed.

// commit finishes an allocation of u units at entry: the header says it is
// in use, the canary follows the requested bytes, and the counters and the
// pool's own record learn of it.
func (p *Pool) commit(c *cpu.CPU, d *Descriptor, pi *pageInfo, entry mm.VA, h Header, t Type, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	h.PoolType = headerTypeAllocated(t)
	h.PoolTag = tag
	if err := p.m.WriteU64(c, entry, h.word0()); err != nil {
		return 0, err
	}
	data := entry + HeaderBytes
	if err := p.writeCanary(c, data, n, roomFor(n)); err != nil {
		return 0, err
	}
	k := unitOf(entry)
	pi.blocks.requested[k] = uint16(n)
	pi.blocks.owner[k] = caller
	bytes := uint64(h.BlockSize) * UnitBytes
	d.RunningAllocs++
	d.TotalBytes += bytes
	p.tags.alloc(tag, d.Type == PagedPool, bytes)
	return data, nil
}

// reuse hands out a block popped from a lookaside list.
func (p *Pool) reuse(c *cpu.CPU, d *Descriptor, data mm.VA, t Type, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	entry := data - HeaderBytes
	h, err := p.readHeader(c, entry)
	if err != nil {
		return 0, err
	}
	if err := p.checkHeader(c, entry, h, false); err != nil {
		return 0, err
	}
	return p.commit(c, d, p.pageOf(entry), entry, h, t, n, tag, caller)
}

// allocateSmall takes u units from d's free lists, splitting a larger
// block, or from a new page. It returns 0 when no memory is left.
func (p *Pool) allocateSmall(c *cpu.CPU, d *Descriptor, t Type, u Units, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	block, size, err := p.popFree(c, d, u)
	if err != nil {
		return 0, err
	}
	if block == 0 {
		block, err = p.newPage(c, d)
		if err != nil || block == 0 {
			return 0, err
		}
		size = PageUnits
	}
	pi := p.pageOf(block)
	var h Header
	if size == PageUnits {
		// A new page: its remainder becomes a free block tagged 'Free'
		// (a fresh page has no stale tag to show).
		h = Header{PoolIndex: d.Index, PoolTag: freeTag}
	} else {
		if h, err = p.readHeader(c, block); err != nil {
			return 0, err
		}
		if err := p.checkHeader(c, block, h, false); err != nil {
			return 0, err
		}
	}
	entry := block
	if rest := size - u; rest > 0 {
		// Split. The first block of a page keeps the front (so the page
		// start stays allocated); any other block gives its back part,
		// leaving the front where it was on the page.
		frag := Header{PreviousSize: h.PreviousSize, PoolIndex: d.Index, BlockSize: uint8(rest), PoolTag: h.PoolTag}
		var after mm.VA
		if block.PageOffset() == 0 {
			frag.PreviousSize = uint8(u)
			h.BlockSize = uint8(u)
			fragAt := block + mm.VA(u)*UnitBytes
			if err := p.writeHeader(c, fragAt, frag); err != nil {
				return 0, err
			}
			pi.blocks.setStart(unitOf(fragAt))
			if err := p.insertFree(c, d, fragAt, rest, false); err != nil {
				return 0, err
			}
			after = fragAt + mm.VA(rest)*UnitBytes
			if err := p.setPreviousSize(c, after, rest); err != nil {
				return 0, err
			}
		} else {
			if err := p.writeHeader(c, block, frag); err != nil {
				return 0, err
			}
			if err := p.insertFree(c, d, block, rest, false); err != nil {
				return 0, err
			}
			entry = block + mm.VA(rest)*UnitBytes
			h = Header{PreviousSize: uint8(rest), PoolIndex: d.Index, BlockSize: uint8(u)}
			pi.blocks.setStart(unitOf(entry))
			after = entry + mm.VA(u)*UnitBytes
			if err := p.setPreviousSize(c, after, u); err != nil {
				return 0, err
			}
		}
	}
	h.BlockSize = uint8(u)
	h.ProcessBilled = 0
	if err := p.m.WriteU64(c, entry+8, 0); err != nil {
		return 0, err
	}
	return p.commit(c, d, pi, entry, h, t, n, tag, caller)
}

// freeTag marks the free remainder of a new page.
var freeTag = TagOf("Free")

// setPreviousSize updates the PreviousSize of the block at va, unless va
// is the end of its page.
func (p *Pool) setPreviousSize(c *cpu.CPU, va mm.VA, u Units) error {
	if va.PageOffset() == 0 {
		return nil
	}
	w, err := p.m.ReadU64(c, va)
	if err != nil {
		return err
	}
	return p.m.WriteU64(c, va, w&^0xff|uint64(uint8(u)))
}

// newPage maps a page for d and records it; it returns 0 when mm has none.
func (p *Pool) newPage(c *cpu.CPU, d *Descriptor) (mm.VA, error) {
	page := p.m.AllocatePages(d.Region, 1, d.Node, d.NX)
	if page == 0 {
		return 0, nil
	}
	var b *blockMeta
	if n := len(p.freeMeta); n > 0 {
		b = p.freeMeta[n-1]
		p.freeMeta = p.freeMeta[:n-1]
	} else {
		b = new(blockMeta)
	}
	b.setStart(0)
	p.regionPagesOf(page).set(page, pageInfo{kind: pageSmall, desc: p.descIndex(d), blocks: b})
	d.TotalPages++
	return page, nil
}

func (p *Pool) descIndex(d *Descriptor) uint8 {
	for i, x := range p.descs {
		if x == d {
			return uint8(i)
		}
	}
	panic("pool: unknown descriptor")
}

// releasePage gives a wholly free page back to mm.
func (p *Pool) releasePage(d *Descriptor, page mm.VA) {
	rp := p.regionPagesOf(page)
	pi := rp.info(page)
	*pi.blocks = blockMeta{}
	p.freeMeta = append(p.freeMeta, pi.blocks)
	*pi = pageInfo{}
	p.m.FreePages(page, 1)
	d.TotalPages--
}

// freeSmall frees the small block whose data is at va.
func (p *Pool) freeSmall(c *cpu.CPU, va mm.VA, tag Tag, withTag bool) error {
	pi := p.pageOf(va)
	if pi == nil || pi.kind != pageSmall || va%UnitBytes != 0 || !pi.blocks.isStart(unitOf(va)-1) {
		return p.badFree(va, pi)
	}
	d := p.descs[pi.desc]
	if err := checkIrqlForFree(c, d.Type, va); err != nil {
		return err
	}
	entry := va - HeaderBytes
	h, err := p.readHeader(c, entry)
	if err != nil {
		return err
	}
	if err := checkNotFreed(va, h); err != nil {
		return err
	}
	if err := checkFreeTag(va, h.PoolTag, tag, withTag); err != nil {
		return err
	}
	k := unitOf(entry)
	n := uint64(pi.blocks.requested[k])
	if err := p.checkCanary(c, va, n, roomFor(n)); err != nil {
		return err
	}
	if err := p.checkHeader(c, entry, h, true); err != nil {
		return err
	}
	u := Units(h.BlockSize)
	bytes := uint64(u) * UnitBytes
	pi.blocks.requested[k] = 0
	pi.blocks.owner[k] = 0
	d.RunningDeAllocs++
	d.TotalBytes -= bytes
	p.tags.free(h.PoolTag, d.Type == PagedPool, bytes)

	// A lookaside list keeps the block whole, its in-use bit cleared, for
	// this CPU's next allocation of the same size: only a block from this
	// CPU's own node, so nonpaged memory stays local.
	if u <= LookasideMaxUnits && !p.cfg.NoLookaside && (d.Type == PagedPool || d.Node == c.Node) {
		r := c.Pool.(*prcb)
		r.tick()
		l := &r.lists[lookasideClass(d)][u-1]
		if l.Len() < l.Depth {
			h.PoolType &^= poolInUse
			if err := p.m.WriteU64(c, entry, h.word0()); err != nil {
				return err
			}
			l.push(va)
			return nil
		}
		l.TotalFrees++
	}
	if err := p.checkPageWalk(c, entry); err != nil {
		return err
	}
	return p.coalesce(c, d, pi, entry, h)
}

// coalesce merges the block being freed with free neighbours and puts the
// result on its free list, or gives the page back when it is wholly free.
func (p *Pool) coalesce(c *cpu.CPU, d *Descriptor, pi *pageInfo, entry mm.VA, h Header) error {
	start, size, prevSize := entry, Units(h.BlockSize), h.PreviousSize
	next := entry + mm.VA(size)*UnitBytes
	if next.PageOffset() != 0 {
		nh, err := p.readHeader(c, next)
		if err != nil {
			return err
		}
		if nh.Free() {
			if err := p.removeFree(c, d, next, Units(nh.BlockSize)); err != nil {
				return err
			}
			size += Units(nh.BlockSize)
			pi.blocks.clearStart(unitOf(next))
		}
	}
	if h.PreviousSize != 0 {
		prev := entry - mm.VA(h.PreviousSize)*UnitBytes
		ph, err := p.readHeader(c, prev)
		if err != nil {
			return err
		}
		if ph.Free() {
			if err := p.removeFree(c, d, prev, Units(ph.BlockSize)); err != nil {
				return err
			}
			size += Units(ph.BlockSize)
			pi.blocks.clearStart(unitOf(entry))
			start, prevSize = prev, ph.PreviousSize
		}
	}
	if start.PageOffset() == 0 && size == PageUnits {
		p.releasePage(d, start)
		return nil
	}
	merged := Header{PreviousSize: prevSize, PoolIndex: d.Index, BlockSize: uint8(size), PoolTag: h.PoolTag}
	if err := p.m.WriteU64(c, start, merged.word0()); err != nil {
		return err
	}
	if err := p.setPreviousSize(c, start+mm.VA(size)*UnitBytes, size); err != nil {
		return err
	}
	return p.insertFree(c, d, start, size, true)
}
