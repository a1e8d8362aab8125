package pool

import (
	"encoding/binary"

	"simkern/cpu"
	"simkern/mm"
)

// Small blocks: carved from pool pages, found again through the free
// lists, merged with free neighbours when freed.

// handOut finishes an allocation of the block at entry, whose page bytes
// are page (translated for writing): the header says it is in use, the
// canary follows the requested bytes, and the counters and the pool's own
// record learn of it.
func (p *Pool) handOut(page []byte, d *Descriptor, pi *pageInfo, entry mm.VA, h hdr, t Type, n uint64, tag Tag, caller uint64) mm.VA {
	h = makeHdr(h.previousSize(), h.poolIndex(), h.blockSize(), headerTypeAllocated(t), tag)
	putHdr(page, entry.PageOffset(), h)
	data := entry + HeaderBytes
	p.putCanary(page, data, n, roomFor(n))
	k := unitOf(entry)
	pi.blocks[k] = makeRecord(n, p.sites.intern(allocSite{caller, tag}))
	bytes := uint64(h.blockSize()) * UnitBytes
	d.RunningAllocs++
	d.TotalBytes += bytes
	p.tags.alloc(tag, d.Type == PagedPool, bytes)
	return data
}

// reuse hands out a block popped from a lookaside list. Its header still
// holds its size and neighbours; only the type and tag change.
func (p *Pool) reuse(c *cpu.CPU, d *Descriptor, data mm.VA, t Type, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	entry := data - HeaderBytes
	page, err := p.m.Page(c, entry, false)
	if err != nil {
		return 0, err
	}
	h := hdrAt(page, entry.PageOffset())
	if err := checkHeader(page, entry, h, false); err != nil {
		return 0, err
	}
	if page, err = p.m.Page(c, entry, true); err != nil {
		return 0, err
	}
	return p.handOut(page, d, p.pageOf(entry), entry, h, t, n, tag, caller), nil
}

// allocateSmall takes u units from d's free lists, splitting a larger
// block, or from a new page. It returns 0 when no memory is left.
//
// A split writes the block's page first (both headers, the next block's
// PreviousSize), then links the remainder into its free list, which
// touches other pages, and only then hands the block out.
func (p *Pool) allocateSmall(c *cpu.CPU, d *Descriptor, t Type, u Units, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	block, size, err := p.popFree(c, d, u)
	if err != nil {
		return 0, err
	}
	fresh := block == 0
	if fresh {
		block, err = p.newPage(c, d)
		if err != nil || block == 0 {
			return 0, err
		}
		size = PageUnits
	}
	var h hdr
	if fresh {
		// The remainder of a new page becomes a free block tagged 'Free'
		// (a fresh page has no stale tag to show).
		h = makeHdr(0, d.Index, 0, 0, freeTag)
	} else {
		page, err := p.m.Page(c, block, false)
		if err != nil {
			return 0, err
		}
		h = hdrAt(page, block.PageOffset())
		if err := checkHeader(page, block, h, false); err != nil {
			return 0, err
		}
	}
	page, err := p.m.Page(c, block, true)
	if err != nil {
		return 0, err
	}
	pi := p.pageOf(block)
	entry, frag, rest := block, block, size-u
	if rest > 0 {
		// Split. The first block of a page keeps the front (so the page
		// start stays allocated); any other block gives its back part,
		// leaving the front where it was on the page.
		fh := makeHdr(h.previousSize(), d.Index, uint8(rest), 0, h.tag())
		after := block + mm.VA(size)*UnitBytes
		if block.PageOffset() == 0 {
			frag = block + mm.VA(u)*UnitBytes
			fh = makeHdr(uint8(u), d.Index, uint8(rest), 0, h.tag())
			setPreviousSize(page, after, rest)
		} else {
			entry = block + mm.VA(rest)*UnitBytes
			h = makeHdr(uint8(rest), d.Index, 0, 0, 0)
			setPreviousSize(page, after, u)
		}
		putHdr(page, frag.PageOffset(), fh)
		binary.LittleEndian.PutUint64(page[frag.PageOffset()+8:], 0) // ProcessBilled
		pi.starts.add(unitOf(frag))
		pi.starts.add(unitOf(entry))
	}
	h = h.withBlockSize(u)
	binary.LittleEndian.PutUint64(page[entry.PageOffset()+8:], 0) // ProcessBilled
	if rest > 0 {
		// The page's headers agree before the remainder is linked, as
		// ReactOS's split leaves them: the new block is cut to size but
		// still free, so if linking halts the machine, no allocation is
		// recorded that Allocate never returned.
		putHdr(page, entry.PageOffset(), h)
		if err := p.insertFree(c, d, frag, rest, false); err != nil {
			return 0, err
		}
		// Linking touched other pages: translate this one again.
		if page, err = p.m.Page(c, entry, true); err != nil {
			return 0, err
		}
	}
	return p.handOut(page, d, pi, entry, h, t, n, tag, caller), nil
}

// freeTag marks the free remainder of a new page.
var freeTag = TagOf("Free")

// setPreviousSize updates the PreviousSize of the block at va, in the
// bytes of its page, unless va is the end of that page.
func setPreviousSize(page []byte, va mm.VA, u Units) {
	if off := va.PageOffset(); off != 0 {
		page[off] = uint8(u)
	}
}

// newPage maps a page for d and records it; it returns 0 when mm has none.
func (p *Pool) newPage(c *cpu.CPU, d *Descriptor) (mm.VA, error) {
	page := p.m.AllocatePages(d.Region, 1, d.Node, d.NX)
	if page == 0 {
		return 0, nil
	}
	var b []blockRecord
	if n := len(p.freeMeta); n > 0 {
		b = p.freeMeta[n-1]
		p.freeMeta = p.freeMeta[:n-1]
	} else {
		b = make([]blockRecord, PageUnits)
	}
	pi := pageInfo{kind: pageSmall, desc: d.slot, blocks: b}
	pi.starts.add(0)
	p.regionPagesOf(page).set(page, pi)
	d.TotalPages++
	return page, nil
}

// releasePage gives a wholly free page back to mm.
func (p *Pool) releasePage(d *Descriptor, page mm.VA) {
	rp := p.regionPagesOf(page)
	pi := rp.info(page)
	clear(pi.blocks)
	p.freeMeta = append(p.freeMeta, pi.blocks)
	*pi = pageInfo{}
	p.m.FreePages(page, 1)
	d.TotalPages--
}

// freeSmall frees the small block whose data is at va.
func (p *Pool) freeSmall(c *cpu.CPU, va mm.VA, tag Tag, withTag bool) error {
	pi := p.pageOf(va)
	if !pi.holdsBlockAt(va) {
		return p.checkFreeAddress(va, pi)
	}
	d := p.descs[pi.desc]
	if err := checkIrqlForFree(c, d.Type, va); err != nil {
		return err
	}
	entry := va - HeaderBytes
	page, err := p.m.Page(c, entry, false)
	if err != nil {
		return err
	}
	h := hdrAt(page, entry.PageOffset())
	if err := checkNotFreed(va, h); err != nil {
		return err
	}
	if err := checkFreeTag(va, h.tag(), tag, withTag); err != nil {
		return err
	}
	k := unitOf(entry)
	n := pi.blocks[k].requested()
	if err := p.checkCanaryIn(page, va, n, roomFor(n)); err != nil {
		return err
	}
	if err := checkHeader(page, entry, h, true); err != nil {
		return err
	}
	u := Units(h.blockSize())
	bytes := uint64(u) * UnitBytes
	pi.blocks[k] = 0
	d.RunningDeAllocs++
	d.TotalBytes -= bytes
	p.tags.free(h.tag(), d.Type == PagedPool, bytes)

	// A lookaside list keeps the block whole, its in-use bit cleared, for
	// this CPU's next allocation of the same size: only a block from this
	// CPU's own node, so nonpaged memory stays local.
	if u <= LookasideMaxUnits && !p.cfg.NoLookaside && (d.Type == PagedPool || d.Node == c.Node) {
		r := c.Pool.(*prcb)
		r.tick()
		l := &r.lists[lookasideClass(d)][u-1]
		if l.Len() < l.Depth {
			if page, err = p.m.Page(c, entry, true); err != nil {
				return err
			}
			page[entry.PageOffset()+3] = h.poolType() &^ poolInUse
			l.push(va)
			return nil
		}
		l.TotalFrees++ // a miss: the list is full
	}
	if err := checkPageWalk(page, entry, &pi.starts); err != nil {
		return err
	}
	return p.coalesce(c, d, pi, page, entry, h)
}

// coalesce merges the block being freed with free neighbours and puts the
// result on its free list, or gives the page back when it is wholly free.
// page is the block's page, as read by the free.
func (p *Pool) coalesce(c *cpu.CPU, d *Descriptor, pi *pageInfo, page []byte, entry mm.VA, h hdr) error {
	start, size, prevSize := entry, Units(h.blockSize()), h.previousSize()
	next := entry + mm.VA(size)*UnitBytes
	var nh, ph hdr
	if next.PageOffset() != 0 {
		nh = hdrAt(page, next.PageOffset())
	}
	prev := entry - mm.VA(h.previousSize())*UnitBytes
	if h.previousSize() != 0 {
		ph = hdrAt(page, prev.PageOffset())
	}
	// Unlinking the neighbours touches other pages (and, in paged pool,
	// may page this one out): page is not used again until re-translated.
	if next.PageOffset() != 0 && nh.free() {
		if err := p.removeFree(c, d, next, Units(nh.blockSize())); err != nil {
			return err
		}
		size += Units(nh.blockSize())
		pi.starts.remove(unitOf(next))
	}
	if h.previousSize() != 0 && ph.free() {
		if err := p.removeFree(c, d, prev, Units(ph.blockSize())); err != nil {
			return err
		}
		size += Units(ph.blockSize())
		pi.starts.remove(unitOf(entry))
		start, prevSize = prev, ph.previousSize()
	}
	if start.PageOffset() == 0 && size == PageUnits {
		p.releasePage(d, start)
		return nil
	}
	page, err := p.m.Page(c, start, true)
	if err != nil {
		return err
	}
	putHdr(page, start.PageOffset(), makeHdr(prevSize, d.Index, uint8(size), 0, h.tag()))
	setPreviousSize(page, start+mm.VA(size)*UnitBytes, size)
	return p.insertFree(c, d, start, size, true)
}
