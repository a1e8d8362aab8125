package pool

import (
	"cmp"
	"slices"

	"simkern/mm"
)

// What the debugger reads of the pool. Everything here peeks: it never
// faults a page in or changes a counter.

// BlockState is how !pool describes a block.
type BlockState uint8

// Block states: on a free list, in use, or parked on a lookaside list.
const (
	BlockFree BlockState = iota
	BlockAllocated
	BlockLookaside
)

// Block is one block of a small-block page.
type Block struct {
	VA        mm.VA  // the header's address
	Header    Header // as found in memory
	Size      uint64 // bytes, header included
	PrevSize  uint64 // bytes
	State     BlockState
	Requested uint64 // bytes asked for (allocated blocks)
	Owner     uint64 // code address of the allocator (allocated blocks)
}

// WalkProblem is where a page walk broke, in !pool's terms.
type WalkProblem struct {
	At       mm.VA
	Zero     bool   // "Bad allocation size @X, zero is invalid"
	TooLarge bool   // "Bad allocation size @X, too large"
	LastSize uint64 // "Bad previous allocation size @X, last size was N" (units)
}

// PageKind says what a pool page holds.
type PageKind uint8

// Page kinds.
const (
	KindNone       PageKind = iota // not a pool page
	KindSmall                      // small blocks
	KindBig                        // part of a big allocation
	KindDescriptor                 // a descriptor's list heads
	KindSpecial                    // the data page of a live special pool allocation
)

// Classify returns what the page holding va is to the pool, and the big
// allocation holding va when there is one. For a special pool data page
// the allocation comes in BigAllocation's fields (VA the data, Pages 1);
// SpecialAt has the rest. A guard page or a freed special page is
// KindNone: nothing there can be read.
func (p *Pool) Classify(va mm.VA) (PageKind, BigAllocation) {
	if isSpecial(va) {
		if a, ok := p.special.live[va.PageBase()]; ok {
			return KindSpecial, BigAllocation{VA: a.VA, Tag: a.Tag, Bytes: a.Bytes, Pages: 1, Type: a.Type, Owner: a.Owner}
		}
		return KindNone, BigAllocation{}
	}
	if b, ok := p.big.containing(va); ok {
		return KindBig, b
	}
	pi := p.pageOf(va)
	if pi == nil {
		return KindNone, BigAllocation{}
	}
	switch pi.kind {
	case pageSmall:
		return KindSmall, BigAllocation{}
	case pageDescriptor:
		return KindDescriptor, BigAllocation{}
	}
	return KindNone, BigAllocation{}
}

// BlockHolding returns the data address of the allocation or block that
// holds va, by the pool's own records rather than the headers in memory,
// which a corruption may have changed: a big or special allocation's
// address, or the data of the small block whose header or data va is in.
// It returns va itself where no block is.
func (p *Pool) BlockHolding(va mm.VA) mm.VA {
	if kind, a := p.Classify(va); kind == KindBig || kind == KindSpecial {
		return a.VA
	}
	pi := p.pageOf(va)
	if pi == nil || pi.kind != pageSmall {
		return va
	}
	for u := unitOf(va); ; u-- { // the page start is always a recorded start
		if pi.starts.has(u) {
			return va.PageBase() + mm.VA(u)*UnitBytes + HeaderBytes
		}
	}
}

// RecordedBlockSize returns the size, in units, that the pool's records
// give the small block whose header is at va: the distance to the next
// recorded block start, or to the page end. False when no block starts at
// va. A header whose BlockSize differs was damaged after the pool wrote it.
func (p *Pool) RecordedBlockSize(va mm.VA) (Units, bool) {
	pi := p.pageOf(va)
	if pi == nil || pi.kind != pageSmall || va%UnitBytes != 0 || !pi.starts.has(unitOf(va)) {
		return 0, false
	}
	u := unitOf(va) + 1
	for u < PageUnits && !pi.starts.has(u) {
		u++
	}
	return u - unitOf(va), true
}

// ExpectedCanary returns the canary bytes the small or big allocation
// whose data is at data and that asked for requested bytes should hold
// after them, as a little-endian number of as many bytes as the canary
// has (up to 8), for the debugger to set against what it finds.
func (p *Pool) ExpectedCanary(data mm.VA, requested uint64) uint64 {
	n := canaryLen(requested, p.roomOf(data, requested))
	if n == 0 {
		return 0
	}
	return p.canary(data) & (1<<(8*n) - 1)
}

// Canary returns where the canary of the live small or big allocation
// whose data is at data lies, and its length in bytes: 0 when the block
// leaves no room for one, or data starts no such allocation (special pool
// keeps a pattern instead).
func (p *Pool) Canary(data mm.VA) (at mm.VA, n uint64) {
	if isSpecial(data) {
		return 0, 0
	}
	requested, _ := p.allocationAt(data)
	if requested == 0 {
		return 0, 0
	}
	return data + mm.VA(requested), canaryLen(requested, p.roomOf(data, requested))
}

// PageBlocks walks the small-block page holding va from its start. It
// returns the blocks up to the first inconsistency, described by problem,
// and resident false when the page is not in memory.
func (p *Pool) PageBlocks(va mm.VA) (blocks []Block, problem *WalkProblem, resident bool) {
	page := va.PageBase()
	pi := p.pageOf(page)
	if !p.m.Resident(page) {
		return nil, nil, false
	}
	var last uint8
	for at := page; at < page+mm.PageBytes; {
		h, ok := p.PeekHeader(at)
		if !ok {
			return blocks, nil, false
		}
		switch {
		case h.BlockSize == 0:
			return blocks, &WalkProblem{At: at, Zero: true}, true
		case at.PageOffset()+uint64(h.BlockSize)*UnitBytes > mm.PageBytes:
			return blocks, &WalkProblem{At: at, TooLarge: true}, true
		case h.PreviousSize != last:
			return blocks, &WalkProblem{At: at, LastSize: uint64(last)}, true
		}
		b := Block{VA: at, Header: h, Size: uint64(h.BlockSize) * UnitBytes, PrevSize: uint64(h.PreviousSize) * UnitBytes}
		switch {
		case h.Allocated():
			b.State = BlockAllocated
			if pi != nil && pi.blocks != nil {
				r := pi.blocks[unitOf(at)]
				b.Requested, b.Owner = r.requested(), p.sites.at(r.site()).owner
			}
		case h.OnLookaside():
			b.State = BlockLookaside
		}
		blocks = append(blocks, b)
		last = h.BlockSize
		at += mm.VA(h.BlockSize) * UnitBytes
	}
	return blocks, nil, true
}

// SmallPages returns the addresses of every small-block page of the pool
// in region r (mm.RegionNonPagedPool or mm.RegionPagedPool), in order.
func (p *Pool) SmallPages(r mm.Region) []mm.VA {
	var out []mm.VA
	for page := range p.smallPages() {
		if mm.RegionOf(page) == r {
			out = append(out, page)
		}
	}
	return out
}

// Lookaside returns processor cpuNumber's lookaside list for class (0
// nonpaged, 1 nonpaged NX, 2 paged) and block size u units.
func (p *Pool) Lookaside(cpuNumber, class int, u Units) *LookasideList {
	c := p.m.CPUs.CPUs[cpuNumber]
	return &c.Pool.(*prcb).lists[class][u-1]
}

// Totals sums the descriptors: what !vm and the run summary print.
type Totals struct {
	NonPagedPages    uint64 `json:"nonpaged_pages"` // small-block pages
	PagedPages       uint64 `json:"paged_pages"`
	NonPagedBigPages uint64 `json:"nonpaged_big_pages"`
	PagedBigPages    uint64 `json:"paged_big_pages"`
	NonPagedBytes    uint64 `json:"nonpaged_bytes"` // block bytes in use
	PagedBytes       uint64 `json:"paged_bytes"`
	RunningAllocs    uint64 `json:"running_allocs"`
	RunningDeAllocs  uint64 `json:"running_deallocs"`
	Failures         uint64 `json:"failures"`
}

// Totals returns the pool-wide counters.
func (p *Pool) Totals() Totals {
	var t Totals
	for _, d := range p.descs {
		if d.Type == PagedPool {
			t.PagedPages += d.TotalPages
			t.PagedBigPages += d.TotalBigPages
			t.PagedBytes += d.TotalBytes
		} else {
			t.NonPagedPages += d.TotalPages
			t.NonPagedBigPages += d.TotalBigPages
			t.NonPagedBytes += d.TotalBytes
		}
		t.RunningAllocs += d.RunningAllocs
		t.RunningDeAllocs += d.RunningDeAllocs
	}
	t.Failures = p.Failures
	return t
}

// IsBlockStart reports whether va is where a block's data starts: an
// allocated block, or one freed but not yet merged into a neighbour or
// handed out again (on a lookaside or free list, or a special pool page
// waiting for reuse). The verifier uses it to tell a double free, which
// the pool itself reports, from a free of an address no allocation ever
// returned.
func (p *Pool) IsBlockStart(va mm.VA) bool {
	if _, ok := p.big.get(va); ok {
		return true
	}
	if mm.RegionOf(va) == mm.RegionSpecialPool {
		page := va.PageBase()
		if a, ok := p.special.live[page]; ok && a.VA == va {
			return true
		}
		a, ok := p.special.freed[page]
		return ok && a.VA == va
	}
	return p.pageOf(va).holdsBlockAt(va)
}

// BlockType returns the pool type of the block at va: the type it was
// allocated with for big and special pool allocations, its descriptor's
// (NonPagedPool, NonPagedPoolNx or PagedPool) for a small block.
func (p *Pool) BlockType(va mm.VA) (Type, bool) {
	if b, ok := p.big.get(va); ok {
		return b.Type, true
	}
	if a, ok := p.SpecialAt(va); ok {
		return a.Type, true
	}
	if pi := p.pageOf(va); pi != nil && pi.kind == pageSmall {
		return p.descs[pi.desc].Type, true
	}
	return 0, false
}

// Outstanding is an allocation not freed yet, as the pool's own records
// know it: no memory is read, so a block paged out is listed like any.
type Outstanding struct {
	VA    mm.VA
	Bytes uint64 // requested
	Tag   Tag    // the tag asked for
	Owner uint64 // code address of the allocator
}

// OutstandingAllocations lists every allocation not freed yet, small, big
// and special, in address order, at most limit of them (0: all), and
// counts them all. With a limit it holds at most twice that many at a
// time, so a report of the first few leaks of millions of blocks costs no
// host memory per block.
func (p *Pool) OutstandingAllocations(limit int) (list []Outstanding, total int) {
	var out []Outstanding
	byVA := func(a, b Outstanding) int { return cmp.Compare(a.VA, b.VA) }
	add := func(o Outstanding) {
		total++
		out = append(out, o)
		if limit > 0 && len(out) == 2*limit {
			slices.SortFunc(out, byVA)
			out = out[:limit]
		}
	}
	for page, pi := range p.smallPages() {
		for k := Units(0); k < PageUnits; k++ {
			if r := pi.blocks[k]; r.requested() != 0 {
				data := page + mm.VA(k+1)*UnitBytes
				s := p.sites.at(r.site())
				add(Outstanding{VA: data, Bytes: r.requested(), Tag: s.tag, Owner: s.owner})
			}
		}
	}
	for _, b := range p.BigAllocations() {
		add(Outstanding{VA: b.VA, Bytes: b.Bytes, Tag: b.Tag, Owner: b.Owner})
	}
	for _, a := range p.SpecialAllocations() {
		add(Outstanding{VA: a.VA, Bytes: a.Bytes, Tag: a.Tag, Owner: a.Owner})
	}
	slices.SortFunc(out, byVA)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, total
}
