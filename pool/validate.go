package pool

import (
	"errors"
	"fmt"

	"simkern/internal/invariants"
	"simkern/mm"
)

// ValidatePage walks every header of the small-block page holding va, the
// walk behind !poolval, and returns the first problem as the bugcheck it
// amounts to: header rules, free-list links of free blocks, canaries of
// allocated blocks, and a walk that must end at the page end. It only
// peeks, so a page that is not in memory is skipped and validating never
// changes what the machine does next.
//
// For the data page of a special pool allocation it checks the header and
// the pattern around the data instead (0xC1/0x23, 0x24).
func (p *Pool) ValidatePage(va mm.VA) error {
	page := va.PageBase()
	var err error
	if isSpecial(va) {
		if a, ok := p.special.live[page]; ok {
			err = p.checkSpecialPattern(nil, a)
		}
	} else if pi := p.pageOf(page); pi != nil && pi.kind == pageSmall {
		err = p.validatePage(page, pi)
	}
	if errors.Is(err, errNotResident) {
		return nil // paged out: nothing to look at, nothing wrong
	}
	return err
}

func (p *Pool) validatePage(page mm.VA, pi *pageInfo) error {
	bytes, err := p.bytesOf(nil, page)
	if err != nil {
		return err
	}
	for off := uint64(0); off < mm.PageBytes; {
		at := page + mm.VA(off)
		h := hdrAt(bytes, off)
		if err := checkHeader(bytes, at, h, false); err != nil {
			return err
		}
		switch {
		case h.free() && h.blockSize() != 1:
			if err := p.peekLinks(at + HeaderBytes); err != nil {
				return err
			}
		case h.allocated():
			n := pi.blocks[unitOf(at)].requested()
			if err := p.checkCanaryIn(bytes, at+HeaderBytes, n, roomFor(n)); err != nil {
				return err
			}
		}
		off += uint64(h.blockSize()) * UnitBytes
	}
	return checkPageWalk(bytes, page, &pi.starts)
}

// ValidateAll validates every small-block page of both pools, then the
// canary of every big allocation and every special pool allocation, each
// in address order. Like ValidatePage it only peeks: what is paged out is
// skipped.
func (p *Pool) ValidateAll() error {
	if err := p.validateSmallPages(); err != nil {
		return err
	}
	if err := p.validateBigCanaries(); err != nil {
		return err
	}
	if len(p.special.live) == 0 {
		return nil
	}
	for _, a := range p.SpecialAllocations() {
		if err := p.checkSpecialPattern(nil, a); err != nil && !errors.Is(err, errNotResident) {
			return err
		}
	}
	return nil
}

// validateBigCanaries checks the canary in the slack of each big
// allocation's last page (0x19/0x21), as the free will.
func (p *Pool) validateBigCanaries() error {
	var err error
	p.big.t.Ascend(func(b BigAllocation) bool {
		if e := p.checkCanary(nil, b.VA, b.Bytes, b.Pages*mm.PageBytes); e != nil && !errors.Is(e, errNotResident) {
			err = e
		}
		return err == nil
	})
	return err
}

func (p *Pool) validateSmallPages() error {
	for page := range p.smallPages() {
		if err := p.ValidatePage(page); err != nil {
			return err
		}
	}
	return nil
}

// CheckInvariants verifies the pool's own bookkeeping against the bytes in
// memory, and panics on a mismatch, which is a simkern bug. It runs only
// with -tags invariants. For every resident small-block page:
//
//	the headers the walk finds are exactly the recorded block starts
//	a block has a requested size recorded iff its header says in use
//
// and for the pool as a whole:
//
//	each descriptor's page counts and running counts match its pages
//	every block on a lookaside list is a parked block of the list's size,
//	  on one list only, and every parked block is on a list
//	every free list links only free blocks of its size, its hint bit is
//	  set, and together the lists hold every free block of two units or more
//	the tag table's bytes equal the blocks in use (a special pool
//	  allocation counts a page)
//	special pool's records agree with the PTEs (checkSpecialInvariants)
//
// Paged pool pages that are not resident cannot be read without faulting;
// the counts that need them are skipped while any is out.
func (p *Pool) CheckInvariants() {
	if !invariants.Enabled {
		return
	}
	type descCount struct {
		pages, inUse, bytes uint64
	}
	counts := make([]descCount, len(p.descs))
	want := map[Tag][2]int64{} // nonpaged, paged bytes in use
	addTagBytes := func(tag Tag, paged bool, bytes uint64) {
		w := want[tag&^ProtectedTag]
		if paged {
			w[1] += int64(bytes)
		} else {
			w[0] += int64(bytes)
		}
		want[tag&^ProtectedTag] = w
	}
	parked := map[mm.VA]Units{} // blocks whose header says lookaside
	freeBlocks := map[mm.VA]Units{}
	pagedOut := p.anyPagedOut()
	for page, pi := range p.smallPages() {
		paged := p.descs[pi.desc].Type == PagedPool
		dc := &counts[pi.desc]
		dc.pages++
		if !p.m.Resident(page) {
			continue // paged out: nothing to compare without faulting
		}
		var walked unitSet
		for at := page; at < page+mm.PageBytes; {
			h, ok := p.PeekHeader(at)
			if !ok {
				panic(fmt.Sprintf("pool: resident page %v stopped being readable at %v", page, at))
			}
			u := unitOf(at)
			if !pi.starts.has(u) {
				panic(fmt.Sprintf("pool: header at %v is not a recorded block start", at))
			}
			if h.BlockSize == 0 {
				panic(fmt.Sprintf("pool: zero block size at %v", at))
			}
			walked.add(u)
			if req := pi.blocks[u].requested(); h.Allocated() != (req != 0) {
				panic(fmt.Sprintf("pool: block at %v: header %+v, but %d bytes recorded as requested", at, h, req))
			}
			switch {
			case h.Allocated():
				bytes := uint64(h.BlockSize) * UnitBytes
				addTagBytes(h.PoolTag, paged, bytes)
				dc.inUse++
				dc.bytes += bytes
			case h.OnLookaside():
				parked[at+HeaderBytes] = Units(h.BlockSize)
			case h.BlockSize > 1:
				freeBlocks[at] = Units(h.BlockSize)
			}
			at += mm.VA(h.BlockSize) * UnitBytes
		}
		if walked != pi.starts {
			panic(fmt.Sprintf("pool: page %v: recorded block starts %x, the headers start blocks at %x", page, pi.starts, walked))
		}
	}
	for _, a := range p.special.live {
		addTagBytes(a.Tag, a.Type.Paged(), mm.PageBytes)
	}
	p.checkSpecialInvariants()

	// Descriptors, and the tag bytes of big allocations.
	bigPages := make([]uint64, len(p.descs))
	bigCount := make([]uint64, len(p.descs))
	for _, b := range p.BigAllocations() {
		pi := p.pageOf(b.VA)
		if pi == nil || pi.kind != pageBigFirst {
			panic(fmt.Sprintf("pool: big allocation at %v has no first-page record", b.VA))
		}
		bigPages[pi.desc] += b.Pages
		bigCount[pi.desc]++
		addTagBytes(b.Tag, b.Type.Paged(), b.Pages*mm.PageBytes)
	}
	for i, d := range p.descs {
		dc := counts[i]
		if d.TotalPages != dc.pages || d.TotalBigPages != bigPages[i] {
			panic(fmt.Sprintf("pool: descriptor %d (%v node %d): counts %d small and %d big pages; the pool holds %d and %d",
				i, d.Type, d.Node, d.TotalPages, d.TotalBigPages, dc.pages, bigPages[i]))
		}
		if d.Type == PagedPool && pagedOut {
			continue
		}
		if live := d.RunningAllocs - d.RunningDeAllocs; live != dc.inUse+bigCount[i] {
			panic(fmt.Sprintf("pool: descriptor %d (%v node %d): %d allocations outstanding by its counters; blocks hold %d",
				i, d.Type, d.Node, live, dc.inUse+bigCount[i]))
		}
		if d.TotalBytes != dc.bytes+bigPages[i]*mm.PageBytes {
			panic(fmt.Sprintf("pool: descriptor %d (%v node %d): TotalBytes %d; blocks hold %d",
				i, d.Type, d.Node, d.TotalBytes, dc.bytes+bigPages[i]*mm.PageBytes))
		}
	}

	// Lookaside lists.
	onLists := map[mm.VA]bool{}
	for _, c := range p.m.CPUs.CPUs {
		r := c.Pool.(*prcb)
		for class := range r.lists {
			for u := range r.lists[class] {
				for _, va := range r.lists[class][u].blocks {
					if onLists[va] {
						panic(fmt.Sprintf("pool: %v is on two lookaside lists", va))
					}
					onLists[va] = true
					if !p.pageOf(va).holdsBlockAt(va) {
						panic(fmt.Sprintf("pool: lookaside block %v is not a block start", va))
					}
					if !p.m.Resident(va) {
						continue
					}
					if got, ok := parked[va]; !ok || got != Units(u+1) {
						h, _ := p.PeekHeader(va - HeaderBytes)
						panic(fmt.Sprintf("pool: %v on CPU %d's %d-unit lookaside list has header %+v", va, c.Number, u+1, h))
					}
				}
			}
		}
	}
	for va := range parked {
		if !onLists[va] {
			panic(fmt.Sprintf("pool: %v is marked as on a lookaside list but is on none", va))
		}
	}

	// Free lists.
	for _, d := range p.descs {
		if d.Type == PagedPool && pagedOut {
			continue
		}
		for u := Units(2); u <= MaxUnits; u++ {
			head := d.listHead(u)
			n := 0
			for e, ok := p.m.PeekU64(head); mm.VA(e) != head; e, ok = p.m.PeekU64(mm.VA(e)) {
				if !ok {
					panic(fmt.Sprintf("pool: free list %d of %v node %d runs into unreadable memory", u, d.Type, d.Node))
				}
				block := mm.VA(e) - HeaderBytes
				if got, found := freeBlocks[block]; !found || got != u {
					panic(fmt.Sprintf("pool: free list %d of %v node %d links %v, which is not a free %d-unit block", u, d.Type, d.Node, block, u))
				}
				if p.descs[p.pageOf(block).desc] != d {
					panic(fmt.Sprintf("pool: free list %d of %v node %d links %v of another descriptor", u, d.Type, d.Node, block))
				}
				delete(freeBlocks, block)
				if n++; n > PageUnits*pageChunk*(len(p.pages[0].chunks)+len(p.pages[1].chunks)) {
					panic(fmt.Sprintf("pool: free list %d of %v node %d loops", u, d.Type, d.Node))
				}
			}
			if n > 0 && !d.nonEmpty.has(u-1) {
				panic(fmt.Sprintf("pool: free list %d of %v node %d holds %d blocks but its hint bit is clear", u, d.Type, d.Node, n))
			}
		}
	}
	for block, u := range freeBlocks {
		if d := p.descs[p.pageOf(block).desc]; d.Type != PagedPool || !pagedOut {
			panic(fmt.Sprintf("pool: free %d-unit block %v is on no free list", u, block))
		}
	}

	// Tags.
	for _, s := range p.Tags() {
		w := want[s.Tag]
		if s.NonPagedBytes != w[0] || !pagedOut && s.PagedBytes != w[1] {
			panic(fmt.Sprintf("pool: tag %q: tracker believes %d nonpaged + %d paged bytes; blocks hold %d + %d",
				s.Tag, s.NonPagedBytes, s.PagedBytes, w[0], w[1]))
		}
		delete(want, s.Tag)
	}
	for tag, w := range want {
		if w[0] != 0 || !pagedOut && w[1] != 0 {
			panic(fmt.Sprintf("pool: tag %q: blocks hold %d nonpaged + %d paged bytes, and the tracker has no row", tag, w[0], w[1]))
		}
	}
}

// anyPagedOut reports whether some paged pool page is not resident, in
// which case its headers cannot be counted without faulting.
func (p *Pool) anyPagedOut() bool {
	for page := range p.smallPages() {
		if !p.m.Resident(page) {
			return true // nonpaged pages always are: this is a paged one
		}
	}
	return false
}

// checkSpecialInvariants: every live allocation has a data page that can
// be touched (valid, or for paged pool out of memory but not no-access)
// and a no-access guard, laid out as its mode says; every waiting pair is
// no-access on both pages and in the queue once; the counters agree.
func (p *Pool) checkSpecialInvariants() {
	sp := &p.special
	noAccess := func(va mm.VA) bool { return p.m.PTE(va) == mm.NoAccessPTE() }
	for page, a := range sp.live {
		if a.Page != page || a.VA != specialDataVA(page, a.Bytes, a.Mode) || a.Bytes == 0 || a.Bytes > MaxSpecialBytes {
			panic(fmt.Sprintf("pool: special allocation %+v recorded at page %v", a, page))
		}
		if want := specialGuard(page, a.Mode); a.Guard != want {
			panic(fmt.Sprintf("pool: special allocation %+v: guard should be %v", a, want))
		}
		data := p.m.PTE(page)
		if !data.Valid() && (!a.Type.Paged() || data == 0 || noAccess(page)) || !noAccess(a.Guard) || sp.guards[a.Guard] != page {
			panic(fmt.Sprintf("pool: special allocation %+v: data PTE %#x, guard PTE %#x, guard record %v",
				a, uint64(p.m.PTE(page)), uint64(p.m.PTE(a.Guard)), sp.guards[a.Guard]))
		}
		if _, dup := sp.freed[page]; dup {
			panic(fmt.Sprintf("pool: special page %v is both live and freed", page))
		}
	}
	if len(sp.queue) != len(sp.freed) || len(sp.queue) > sp.delay {
		panic(fmt.Sprintf("pool: special pool: %d pairs queued, %d freed records, delay %d", len(sp.queue), len(sp.freed), sp.delay))
	}
	seen := map[mm.VA]bool{}
	for _, page := range sp.queue {
		a, ok := sp.freed[page]
		if !ok || seen[page] {
			panic(fmt.Sprintf("pool: special pool queue holds %v: freed record %v, seen before %v", page, ok, seen[page]))
		}
		seen[page] = true
		if !noAccess(page) || !noAccess(a.Guard) || sp.guards[a.Guard] != page {
			panic(fmt.Sprintf("pool: freed special page %v: PTE %#x, guard %v PTE %#x", page, uint64(p.m.PTE(page)), a.Guard, uint64(p.m.PTE(a.Guard))))
		}
	}
	if len(sp.guards) != len(sp.live)+len(sp.freed) {
		panic(fmt.Sprintf("pool: special pool: %d guard pages for %d live and %d freed pairs", len(sp.guards), len(sp.live), len(sp.freed)))
	}
	if sp.allocations-sp.frees != uint64(len(sp.live)) {
		panic(fmt.Sprintf("pool: special pool: %d allocations - %d frees, but %d live", sp.allocations, sp.frees, len(sp.live)))
	}
}
