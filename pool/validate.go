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
func (p *Pool) ValidatePage(va mm.VA) error {
	page := va.PageBase()
	pi := p.pageOf(page)
	if pi == nil || pi.kind != pageSmall {
		return nil
	}
	err := p.validatePage(page, pi)
	if errors.Is(err, errNotResident) {
		return nil
	}
	return err
}

func (p *Pool) validatePage(page mm.VA, pi *pageInfo) error {
	at := page
	for at < page+mm.PageBytes {
		h, err := p.header(nil, at)
		if err != nil {
			return err
		}
		if err := p.checkHeader(nil, at, h, false); err != nil {
			return err
		}
		switch {
		case h.Free() && h.BlockSize != 1:
			if err := p.checkFreeListLinks(nil, at+HeaderBytes); err != nil {
				return err
			}
		case h.Allocated():
			n := uint64(pi.blocks.requested[unitOf(at)])
			if err := p.checkCanary(nil, at+HeaderBytes, n, roomFor(n)); err != nil {
				return err
			}
		}
		at += mm.VA(h.BlockSize) * UnitBytes
	}
	return p.checkPageWalk(nil, page)
}

// ValidateAll validates every small-block page of both pools.
func (p *Pool) ValidateAll() error {
	for r := range p.pages {
		rp := &p.pages[r]
		for i := range rp.pages {
			if rp.pages[i].kind != pageSmall {
				continue
			}
			if err := p.ValidatePage(rp.base + mm.VA(i)*mm.PageBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckInvariants verifies the pool's own bookkeeping against the bytes in
// memory: the blocks the headers describe are the blocks the pool
// recorded, and the tag table's bytes equal the blocks in use. A failure is
// a simkern bug and panics. It runs only with -tags invariants.
func (p *Pool) CheckInvariants() {
	if !invariants.Enabled {
		return
	}
	want := map[Tag][2]uint64{} // nonpaged, paged bytes in use
	for r := range p.pages {
		rp := &p.pages[r]
		for i := range rp.pages {
			pi := &rp.pages[i]
			if pi.kind != pageSmall {
				continue
			}
			page := rp.base + mm.VA(i)*mm.PageBytes
			paged := p.descs[pi.desc].Type == PagedPool
			for at := page; at < page+mm.PageBytes; {
				h, ok := p.PeekHeader(at)
				if !ok {
					break // paged out: nothing to compare without faulting
				}
				if !pi.blocks.isStart(unitOf(at)) {
					panic(fmt.Sprintf("pool: header at %v is not a recorded block start", at))
				}
				if h.Allocated() {
					w := want[h.PoolTag&^ProtectedTag]
					w[b2i(paged)] += uint64(h.BlockSize) * UnitBytes
					want[h.PoolTag&^ProtectedTag] = w
				}
				if h.BlockSize == 0 {
					panic(fmt.Sprintf("pool: zero block size at %v", at))
				}
				at += mm.VA(h.BlockSize) * UnitBytes
			}
		}
	}
	for _, b := range p.BigAllocations() {
		w := want[b.Tag&^ProtectedTag]
		w[b2i(b.Type.Paged())] += b.Pages * mm.PageBytes
		want[b.Tag&^ProtectedTag] = w
	}
	pagedOut := p.anyPagedOut()
	for _, s := range p.Tags() {
		w := want[s.Tag]
		if s.NonPagedBytes != w[0] || !pagedOut && s.PagedBytes != w[1] {
			panic(fmt.Sprintf("pool: tag %q: tracker believes %d nonpaged + %d paged bytes; blocks hold %d + %d",
				s.Tag, s.NonPagedBytes, s.PagedBytes, w[0], w[1]))
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// anyPagedOut reports whether some paged pool page is not resident, in
// which case its headers cannot be counted without faulting.
func (p *Pool) anyPagedOut() bool {
	rp := &p.pages[1]
	for i := range rp.pages {
		if rp.pages[i].kind == pageSmall && !p.m.Resident(rp.base+mm.VA(i)*mm.PageBytes) {
			return true
		}
	}
	return false
}
