package pool

import (
	"encoding/binary"
	"errors"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/mm"
)

// The rules the pool enforces, one function each, each ending in the
// bugcheck Windows raises with its four parameters. They read memory
// through read64, which with a nil CPU only peeks: the same rules serve
// the live allocator and the validator behind !poolval.

// errNotResident stops a peeking check at a page that is not in memory.
var errNotResident = errors.New("pool: page not resident")

func (p *Pool) read64(c *cpu.CPU, va mm.VA) (uint64, error) {
	if c == nil {
		v, ok := p.m.PeekU64(va)
		if !ok {
			return 0, errNotResident
		}
		return v, nil
	}
	return p.m.ReadU64(c, va)
}

func (p *Pool) header(c *cpu.CPU, va mm.VA) (Header, error) {
	w, err := p.read64(c, va)
	return headerFromWord0(w), err
}

// readBytes reads len(b) bytes at va (any alignment).
func (p *Pool) readBytes(c *cpu.CPU, va mm.VA, b []byte) error {
	if c == nil {
		if p.m.Peek(va, b) != len(b) {
			return errNotResident
		}
		return nil
	}
	return p.m.Read(c, va, b)
}

// bytesOf returns the bytes of the page holding va: through the CPU for
// the live allocator (one translation for all the accesses a check makes
// in that page; write marks it dirty), or a peeked copy for the validator
// (c nil). Every page-local rule reads through it, so the two share one
// implementation. The live pointer is good until the next access to
// another page (see mm.Machine.Page).
func (p *Pool) bytesOf(c *cpu.CPU, va mm.VA, write bool) (*[mm.PageBytes]byte, error) {
	if c == nil {
		if p.m.Peek(va.PageBase(), p.peekPage[:]) != mm.PageBytes {
			return nil, errNotResident
		}
		return &p.peekPage, nil
	}
	return p.m.Page(c, va, write)
}

// headerAt decodes the header at offset off of a page's bytes.
func headerAt(page *[mm.PageBytes]byte, off uint64) Header {
	return headerFromWord0(binary.LittleEndian.Uint64(page[off:]))
}

// checkIrqlForAllocate: paged pool above APC_LEVEL, nonpaged above
// DISPATCH_LEVEL (0xC2/8).
func checkIrqlForAllocate(c *cpu.CPU, t Type, n uint64) error {
	if irql := c.IRQL(); irql > maxIrqlFor(t) {
		return bugcheck.New(bugcheck.BadPoolCaller, 8, uint64(irql), uint64(t), n).At("checkIrqlForAllocate")
	}
	return nil
}

// checkIrqlForFree: the same limits for a free (0xC2/9).
func checkIrqlForFree(c *cpu.CPU, t Type, va mm.VA) error {
	if irql := c.IRQL(); irql > maxIrqlFor(t) {
		return bugcheck.New(bugcheck.BadPoolCaller, 9, uint64(irql), uint64(t), uint64(va)).At("checkIrqlForFree")
	}
	return nil
}

func maxIrqlFor(t Type) cpu.IRQL {
	if t.Paged() {
		return cpu.ApcLevel
	}
	return cpu.DispatchLevel
}

// bigTag is 'BIG ', the tag Windows reserves for untracked big pages.
var bigTag = TagOf("BIG ")

// checkRequest: no zero-byte requests (0xC2/0), no tag 0 (0x9B), no 'BIG '
// (0x9C), and a tag needs a letter or a digit (0x9D). A retail kernel lets
// zero bytes and tag 0 through; simkern raises them as a checked build
// does (docs/pool.md).
func checkRequest(t Type, n uint64, tag Tag, caller uint64) error {
	switch {
	case n == 0:
		return bugcheck.New(bugcheck.BadPoolCaller, 0, 0, uint64(t), uint64(tag)).At("checkRequest: zero bytes")
	case tag == 0:
		return bugcheck.New(bugcheck.BadPoolCaller, 0x9B, uint64(t), n, caller).At("checkRequest: tag 0")
	case tag&^ProtectedTag == bigTag:
		return bugcheck.New(bugcheck.BadPoolCaller, 0x9C, uint64(t), n, caller).At("checkRequest: tag BIG")
	case !tagHasAlnum(tag):
		return bugcheck.New(bugcheck.BadPoolCaller, 0x9D, uint64(tag), uint64(t), caller).At("checkRequest: tag without letters or digits")
	}
	return nil
}

func tagHasAlnum(tag Tag) bool {
	for i := 0; i < 32; i += 8 {
		b := byte(tag >> i)
		if b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' {
			return true
		}
	}
	return false
}

// checkFreeTag: ExFreePoolWithTag must name the allocation's tag, and a
// protected tag must be freed with it (0xC2/0xA). ExFreePool is
// ExFreePoolWithTag with tag 0, which asks for no check: it is checked
// only for protected tags.
func checkFreeTag(va mm.VA, allocated, freed Tag, withTag bool) error {
	if !withTag {
		freed = 0
	}
	if freed != 0 && freed&^ProtectedTag != allocated&^ProtectedTag ||
		freed == 0 && allocated&ProtectedTag != 0 {
		return bugcheck.New(bugcheck.BadPoolCaller, 0xA, uint64(va), uint64(allocated), uint64(freed)).At("checkFreeTag")
	}
	return nil
}

// checkNotFreed: the block being freed must be in use (0xC2/7).
func checkNotFreed(va mm.VA, h Header) error {
	if !h.Allocated() {
		return bugcheck.New(bugcheck.BadPoolCaller, 7, 0, uint64(h.Ulong1()), uint64(va)).At("checkNotFreed")
	}
	return nil
}

// checkCanary: the bytes after the requested size must still hold the
// block's canary (0x19/0x21: the address, the bytes requested, the value
// found). The canary is as long as the block leaves room for, up to 8,
// and never leaves the page: a small block does not, and a big
// allocation's canary sits in the slack of its last page.
func (p *Pool) checkCanary(c *cpu.CPU, data mm.VA, requested, room uint64) error {
	n := min(canaryBytes, room-requested)
	if n == 0 {
		return nil
	}
	at := data + mm.VA(requested)
	page, err := p.bytesOf(c, at, false)
	if err != nil {
		return err
	}
	var found, want uint64
	k := p.canary(data)
	for i := uint64(0); i < n; i++ {
		found |= uint64(page[at.PageOffset()+i]) << (8 * i)
		want |= k & (0xff << (8 * i))
	}
	if found != want {
		return bugcheck.New(bugcheck.BadPoolHeader, 0x21, uint64(data), requested, found).At("checkCanary")
	}
	return nil
}

// writeCanary writes the canary after the requested bytes.
func (p *Pool) writeCanary(c *cpu.CPU, data mm.VA, requested, room uint64) error {
	n := min(canaryBytes, room-requested)
	if n == 0 {
		return nil
	}
	at := data + mm.VA(requested)
	page, err := p.m.Page(c, at, true)
	if err != nil {
		return err
	}
	k := p.canary(data)
	for i := uint64(0); i < n; i++ {
		page[at.PageOffset()+i] = byte(k >> (8 * i))
	}
	return nil
}

// checkHeader: a block's header must agree with itself and its neighbours
// (ExpCheckPoolHeader). atFree turns a disagreeing next header into the
// 0x20 form the free path reports.
//
//	BlockSize 0                                   0x19/8
//	PreviousSize 0 but not at the page start      0x19/7
//	PreviousSize reaching before the page         0x19/6
//	the previous block's size or index disagrees  0x19/5
//	the block running past the page end           0x19/9
//	the next block's PreviousSize disagrees       0x19/5, or 0x19/0x20 at free
func (p *Pool) checkHeader(c *cpu.CPU, entry mm.VA, h Header, atFree bool) error {
	page, err := p.bytesOf(c, entry, false)
	if err != nil {
		return err
	}
	if h.BlockSize == 0 {
		return bugcheck.New(bugcheck.BadPoolHeader, 8, 0, 0, uint64(entry)).At("checkHeaderSize")
	}
	if h.PreviousSize == 0 {
		if entry.PageOffset() != 0 {
			return bugcheck.New(bugcheck.BadPoolHeader, 7, 0, 0, uint64(entry)).At("checkHeaderAlignment")
		}
	} else {
		prev := entry - mm.VA(h.PreviousSize)*UnitBytes
		if uint64(h.PreviousSize)*UnitBytes > entry.PageOffset() {
			return bugcheck.New(bugcheck.BadPoolHeader, 6, uint64(prev), 0, uint64(entry)).At("checkHeaderNeighbours")
		}
		if ph := headerAt(page, prev.PageOffset()); ph.BlockSize != h.PreviousSize || ph.PoolIndex != h.PoolIndex {
			return bugcheck.New(bugcheck.BadPoolHeader, 5, uint64(prev), 0, uint64(entry)).At("checkHeaderNeighbours")
		}
	}
	next := entry + mm.VA(h.BlockSize)*UnitBytes
	if next.PageOffset() == 0 {
		return nil // the block ends the page
	}
	if next.PageBase() != entry.PageBase() {
		return bugcheck.New(bugcheck.BadPoolHeader, 9, uint64(next), 0, uint64(entry)).At("checkHeaderNeighbours")
	}
	if nh := headerAt(page, next.PageOffset()); nh.PreviousSize != h.BlockSize || nh.PoolIndex != h.PoolIndex {
		if atFree {
			return bugcheck.New(bugcheck.BadPoolHeader, 0x20, uint64(entry), uint64(next), uint64(h.Ulong1())).At("checkNextHeaderAtFree")
		}
		return bugcheck.New(bugcheck.BadPoolHeader, 5, uint64(next), 0, uint64(entry)).At("checkHeaderNeighbours")
	}
	return nil
}

// checkPageWalk: walking the page's headers from its start must reach the
// page end exactly and pass the block at entry (0x19/0xA: the entry, and
// the page that should hold it).
func (p *Pool) checkPageWalk(c *cpu.CPU, entry mm.VA) error {
	page, err := p.bytesOf(c, entry, false)
	if err != nil {
		return err
	}
	off, want, found := uint64(0), entry.PageOffset(), false
	for off < mm.PageBytes {
		if off == want {
			found = true
		}
		size := uint64(page[off+2]) // BlockSize
		if size == 0 {
			break
		}
		off += size * UnitBytes
	}
	if off != mm.PageBytes || !found {
		return bugcheck.New(bugcheck.BadPoolHeader, 0xA, uint64(entry), 0, uint64(entry.PageBase())).At("checkPageWalk")
	}
	return nil
}

// badFree is the bugcheck for freeing an address that is not the start of
// a pool block: 0xC2/0x99 inside a pool page or big allocation (a pointer
// into the middle of a block), 0x44 / 0x48 in a nonpaged / paged pool page
// that no allocation owns, 0x42 outside the pools.
func (p *Pool) badFree(va mm.VA, pi *pageInfo) error {
	switch {
	case pi != nil && pi.kind != pageNone:
		return bugcheck.New(bugcheck.BadPoolCaller, 0x99, uint64(va), 0, 0).At("checkFreeAddress: inside a block")
	case mm.RegionOf(va) == mm.RegionNonPagedPool:
		return bugcheck.New(bugcheck.BadPoolCaller, 0x44, uint64(va), 0, 0).At("checkFreeAddress: not allocated")
	case mm.RegionOf(va) == mm.RegionPagedPool:
		return bugcheck.New(bugcheck.BadPoolCaller, 0x48, uint64(va), 0, 0).At("checkFreeAddress: not allocated")
	}
	return bugcheck.New(bugcheck.BadPoolCaller, 0x42, uint64(va), 0, 0).At("checkFreeAddress: not pool")
}

// Special pool's rules. Special pool raises 0xC1 where the normal pool
// raises 0xC2 or 0x19.

// checkIrqlForSpecialAllocate: the IRQL limits of checkIrqlForAllocate
// (0xC1/0x30: the IRQL, the pool type, the bytes).
func checkIrqlForSpecialAllocate(c *cpu.CPU, t Type, n uint64) error {
	if irql := c.IRQL(); irql > maxIrqlFor(t) {
		return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(irql), uint64(t), n, 0x30).At("checkIrqlForSpecialAllocate")
	}
	return nil
}

// checkIrqlForSpecialFree: the same for a free (0xC1/0x31: the IRQL, the
// pool type, the address).
func checkIrqlForSpecialFree(c *cpu.CPU, t Type, va mm.VA) error {
	if irql := c.IRQL(); irql > maxIrqlFor(t) {
		return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(irql), uint64(t), uint64(va), 0x31).At("checkIrqlForSpecialFree")
	}
	return nil
}

// checkSpecialPattern: every byte of the data page outside the data must
// be as the allocation left it, the header included. The first damaged
// byte (P2) before the data is 0xC1/0x23, after it 0xC1/0x24; P1 is the
// allocation's address. With a nil CPU it only peeks.
func (p *Pool) checkSpecialPattern(c *cpu.CPU, a SpecialAllocation) error {
	buf := &p.special.scratch
	if err := p.readBytes(c, a.Page, buf[:]); err != nil {
		return err
	}
	pattern := p.specialPattern(a.Page)
	h := p.specialHeader(a)
	hOff := a.header().PageOffset()
	dataOff := a.VA.PageOffset()
	dataEnd := dataOff + a.Bytes
	for off := uint64(0); off < mm.PageBytes; off++ {
		if off == dataOff {
			off = dataEnd - 1
			continue
		}
		want := pattern
		if off >= hOff && off < hOff+HeaderBytes {
			want = h[off-hOff]
		}
		if buf[off] == want {
			continue
		}
		sub, site := uint64(0x24), "checkSpecialPattern: after the data"
		if off < dataOff {
			sub, site = 0x23, "checkSpecialPattern: before the data"
		}
		return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(a.VA), uint64(a.Page)+off, 0, sub).At(site)
	}
	return nil
}
