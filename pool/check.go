package pool

import (
	"encoding/binary"
	"errors"
	"math/bits"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/mm"
)

// The rules the pool enforces, grouped as Windows' own checks group them
// (checkHeader, ExpCheckPoolHeader's; checkPageWalk, ExpCheckPoolBlocks';
// checkFreeListLinks, ExpCheckPoolLinks'), each ending in the bugcheck
// Windows raises with its four parameters. Most take the bytes of
// the page they judge: the live allocator passes the page it translated,
// the validator behind !poolval a copy it peeked (bytesOf with no CPU), so
// the same rules serve both.

// errNotResident stops a peeking check at a page that is not in memory.
var errNotResident = errors.New("pool: page not resident")

// bytesOf returns the bytes of the page holding va, for reading: through
// the CPU (c not nil), or a peeked copy for the validator (c nil), which
// never faults. The live pointer is good until the next access to another
// page (see mm.Machine.Page).
func (p *Pool) bytesOf(c *cpu.CPU, va mm.VA) ([]byte, error) {
	if c == nil {
		if p.m.Peek(va.PageBase(), p.peekPage[:]) != mm.PageBytes {
			return nil, errNotResident
		}
		return p.peekPage[:], nil
	}
	return p.m.Page(c, va, false)
}

// checkIrqlForAllocate: paged pool above APC_LEVEL, nonpaged above
// DISPATCH_LEVEL (0xC2/8).
func checkIrqlForAllocate(c *cpu.CPU, t Type, n uint64) error {
	if irql := c.IRQL(); irql > t.MaxIRQL() {
		return bugcheck.New(bugcheck.BadPoolCaller, 8, uint64(irql), uint64(t), n).At("checkIrqlForAllocate")
	}
	return nil
}

// checkIrqlForFree: the same limits for a free (0xC2/9).
func checkIrqlForFree(c *cpu.CPU, t Type, va mm.VA) error {
	if irql := c.IRQL(); irql > t.MaxIRQL() {
		return bugcheck.New(bugcheck.BadPoolCaller, 9, uint64(irql), uint64(t), uint64(va)).At("checkIrqlForFree")
	}
	return nil
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
	case tag&^ProtectedTag == 0:
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
// protected tag must be freed with it (0xC2/0xA: the address, the
// allocation's tag, the tag freed with; both without the protected bit when
// the allocation's tag has it, as ExFreePoolWithTag strips them before it
// compares). ExFreePool is ExFreePoolWithTag with tag 0, which asks for no
// check: it is checked only for protected tags.
func checkFreeTag(va mm.VA, allocated, freed Tag, withTag bool) error {
	if !withTag {
		freed = 0
	}
	protected := allocated&ProtectedTag != 0
	if freed != 0 && freed&^ProtectedTag != allocated&^ProtectedTag || freed == 0 && protected {
		if protected {
			allocated &^= ProtectedTag
			freed &^= ProtectedTag
		}
		return bugcheck.New(bugcheck.BadPoolCaller, 0xA, uint64(va), uint64(allocated), uint64(freed)).At("checkFreeTag")
	}
	return nil
}

// checkNotFreed: the block being freed must be in use (0xC2/7).
func checkNotFreed(va mm.VA, h hdr) error {
	if !h.allocated() {
		return bugcheck.New(bugcheck.BadPoolCaller, 7, 0, uint64(h.ulong1()), uint64(va)).At("checkNotFreed")
	}
	return nil
}

// checkCanary: the bytes after the requested size must still hold the
// block's canary (0x19/0x21: the address, the bytes requested, the value
// found). The canary is as long as the block leaves room for, up to 8,
// and never leaves the page: a small block does not, and a big
// allocation's canary sits in the slack of its last page.
func (p *Pool) checkCanary(c *cpu.CPU, data mm.VA, requested, room uint64) error {
	if room == requested {
		return nil
	}
	page, err := p.bytesOf(c, data+mm.VA(requested))
	if err != nil {
		return err
	}
	return p.checkCanaryIn(page, data, requested, room)
}

// checkCanaryIn is checkCanary on the bytes of the page holding the canary.
func (p *Pool) checkCanaryIn(page []byte, data mm.VA, requested, room uint64) error {
	n := canaryLen(requested, room)
	off := (data + mm.VA(requested)).PageOffset()
	want := p.canary(data)
	var found uint64
	if n == canaryBytes {
		found = binary.LittleEndian.Uint64(page[off:])
	} else {
		for i := range n {
			found |= uint64(page[off+i]) << (8 * i)
		}
		want &= 1<<(8*n) - 1
	}
	if found != want {
		return bugcheck.New(bugcheck.BadPoolHeader, 0x21, uint64(data), requested, found).At("checkCanary")
	}
	return nil
}

// canaryLen is the length of the canary after requested bytes of data in
// room: 8, or what the few largest small sizes leave.
func canaryLen(requested, room uint64) uint64 { return min(canaryBytes, room-requested) }

// roomOf returns the data bytes of the live small or big allocation at
// data that asked for requested: where its canary must end.
func (p *Pool) roomOf(data mm.VA, requested uint64) uint64 {
	if b, ok := p.big.get(data); ok {
		return b.Pages * mm.PageBytes
	}
	return roomFor(requested)
}

// putCanary writes the canary after the requested bytes, into the bytes
// of the page that holds it.
func (p *Pool) putCanary(page []byte, data mm.VA, requested, room uint64) {
	n := canaryLen(requested, room)
	off := (data + mm.VA(requested)).PageOffset()
	k := p.canary(data)
	if n == canaryBytes {
		binary.LittleEndian.PutUint64(page[off:], k)
		return
	}
	for i := range n {
		page[off+i] = byte(k >> (8 * i))
	}
}

// Overrun returns the address of the first byte after the live small or
// big allocation at va that no longer holds its canary, reading through c
// (it may fault a paged page in); 0 when the canary is whole, or va starts
// no such allocation. Driver Verifier's pool tracking asks it before a
// verified driver's free (0xC4/0x51).
func (p *Pool) Overrun(c *cpu.CPU, va mm.VA) (mm.VA, error) {
	if isSpecial(va) {
		return 0, nil // special pool checks its own pattern
	}
	requested, _ := p.allocationAt(va)
	if requested == 0 {
		return 0, nil
	}
	n := canaryLen(requested, p.roomOf(va, requested))
	at := va + mm.VA(requested)
	page, err := p.bytesOf(c, at)
	if err != nil {
		return 0, err
	}
	k := p.canary(va)
	for i := range n {
		if page[at.PageOffset()+i] != byte(k>>(8*i)) {
			return at + mm.VA(i), nil
		}
	}
	return 0, nil
}

// checkFreeListLinks: the entries on both sides of entry must point back
// at it (0x19/3: the entry, what its Flink's Blink and its Blink's Flink
// hold).
func checkFreeListLinks(entry mm.VA, flinkBlink, blinkFlink uint64) error {
	if mm.VA(flinkBlink) != entry || mm.VA(blinkFlink) != entry {
		return bugcheck.New(bugcheck.BadPoolHeader, 3, uint64(entry), flinkBlink, blinkFlink).At("checkFreeListLinks")
	}
	return nil
}

// checkHeader: a block's header must agree with itself and its neighbours
// (ExpCheckPoolHeader), read from the bytes of its page. atFree turns a
// disagreeing next header into the 0x20 form the free path reports.
//
//	BlockSize 0                                   0x19/8
//	PreviousSize 0 but not at the page start      0x19/7
//	PreviousSize reaching before the page         0x19/6
//	the previous block's size or index disagrees  0x19/5
//	the block running past the page end           0x19/9
//	the next block's PreviousSize disagrees       0x19/5, or 0x19/0x20 at free
//
// It reads the neighbours' PreviousSize, PoolIndex and BlockSize bytes
// straight from the page; offsets are masked to the page, which they are
// inside once the range checks before them pass.
func checkHeader(page []byte, entry mm.VA, h hdr, atFree bool) error {
	off := entry.PageOffset()
	prevBytes := uint64(h.previousSize()) * UnitBytes
	prev := entry - mm.VA(prevBytes)
	switch {
	case h.blockSize() == 0:
		return bugcheck.New(bugcheck.BadPoolHeader, 8, 0, 0, uint64(entry)).At("checkHeader: zero block size")
	case h.previousSize() == 0 && off != 0:
		return bugcheck.New(bugcheck.BadPoolHeader, 7, 0, 0, uint64(entry)).At("checkHeader: alignment")
	case prevBytes > off:
		return bugcheck.New(bugcheck.BadPoolHeader, 6, uint64(prev), 0, uint64(entry)).At("checkHeader: previous block before the page")
	case h.previousSize() != 0 && (page[(off-prevBytes+2)&pageMask] != h.previousSize() || page[(off-prevBytes+1)&pageMask] != h.poolIndex()):
		return bugcheck.New(bugcheck.BadPoolHeader, 5, uint64(prev), 0, uint64(entry)).At("checkHeader: previous block disagrees")
	}
	nextOff := off + uint64(h.blockSize())*UnitBytes
	next := entry + mm.VA(h.blockSize())*UnitBytes
	if nextOff == mm.PageBytes {
		return nil // the block ends the page
	}
	if nextOff > mm.PageBytes {
		return bugcheck.New(bugcheck.BadPoolHeader, 9, uint64(next), 0, uint64(entry)).At("checkHeader: past the page end")
	}
	if page[nextOff&pageMask] != h.blockSize() || page[(nextOff+1)&pageMask] != h.poolIndex() {
		if atFree {
			return bugcheck.New(bugcheck.BadPoolHeader, 0x20, uint64(entry), uint64(next), uint64(h.ulong1())).At("checkHeader: next block disagrees at free")
		}
		return bugcheck.New(bugcheck.BadPoolHeader, 5, uint64(next), 0, uint64(entry)).At("checkHeader: next block disagrees")
	}
	return nil
}

// checkPageWalk: walking the page's headers from its start must reach the
// page end exactly and pass the block at entry (0x19/0xA: the entry, and
// the page that should hold it). starts are the page's recorded block
// starts (pageInfo.starts).
//
// The walk is a chain of reads, each address taken from the header read
// before it. When entry is a recorded start and the headers at the
// recorded starts lead each to the next and the last to the page end, the
// walk would visit exactly those headers and succeed; that is checked
// first, with reads that do not wait on each other. Any other case is
// walked, for the verdict.
func checkPageWalk(page []byte, entry mm.VA, starts *unitSet) error {
	if entry%UnitBytes == 0 && starts.has(unitOf(entry)) && startsChain(page, starts) {
		return nil
	}
	at := walkBlocks(page, 0, entry.PageOffset())
	if at != entry.PageOffset() || walkBlocks(page, at, mm.PageBytes) != mm.PageBytes {
		return bugcheck.New(bugcheck.BadPoolHeader, 0xA, uint64(entry), 0, uint64(entry.PageBase())).At("checkPageWalk")
	}
	return nil
}

// startsChain reports whether the first recorded start is the page start
// and the BlockSize at each leads to the next, and from the last to the
// page end.
func startsChain(page []byte, starts *unitSet) bool {
	want := uint64(0) // where the previous block says the next starts
	for i, w := range starts {
		for ; w != 0; w &= w - 1 {
			off := uint64(i*64+bits.TrailingZeros64(w)) * UnitBytes
			if off != want {
				return false
			}
			want = off + uint64(page[(off+2)&pageMask])*UnitBytes
		}
	}
	return want == mm.PageBytes
}

// walkBlocks follows the BlockSize fields of a page's headers from offset
// off until it reaches end or a zero size, and returns where it stopped.
func walkBlocks(page []byte, off, end uint64) uint64 {
	for off < end {
		size := uint64(page[(off+2)&pageMask]) // BlockSize; off+2 is inside the page
		if size == 0 {
			break
		}
		off += size * UnitBytes
	}
	return off
}

// checkFreeAddress is the bugcheck for freeing an address that is not the
// start of a pool block: 0xC2/0x41286 for a later page of a big paged
// allocation (P4: its page offset from the start of paged pool, as
// MiFreePoolPages reports it), 0x99 anywhere else inside a pool page or
// big allocation (a pointer into the middle of a block), 0x44 / 0x48 in a
// nonpaged / paged pool page that no allocation owns, 0x42 elsewhere in
// the system half, and 0x40 (P3: where the system half starts) for a
// user-mode address.
func (p *Pool) checkFreeAddress(va mm.VA, pi *pageInfo) error {
	big, inBig := p.big.containing(va)
	switch {
	case va.Canonical() && !va.Kernel():
		return bugcheck.New(bugcheck.BadPoolCaller, 0x40, uint64(va), uint64(mm.SystemRangeStart), 0).At("checkFreeAddress: user-mode address")
	case inBig && va != big.VA && va.PageOffset() == 0 && mm.RegionOf(va) == mm.RegionPagedPool:
		pages := uint64(va-mm.RegionPagedPool.Base()) >> mm.PageShift
		return bugcheck.New(bugcheck.BadPoolCaller, 0x41286, 0, 0, pages).At("checkFreeAddress: inside a paged allocation")
	case inBig || pi != nil && pi.kind != pageNone:
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
	if irql := c.IRQL(); irql > t.MaxIRQL() {
		return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(irql), uint64(t), n, 0x30).At("checkIrqlForSpecialAllocate")
	}
	return nil
}

// checkSpecialFreeAddress: va must start a live special allocation; a is
// the live allocation on va's page, if ok. A page with none, a double free
// included (the freed page's PTE is no-access, which MmFreeSpecialPool
// looks at first), is 0xC1/0x20 (P1 the address). On an overrun page the
// bytes from va to the page end are what the allocation would have been
// given: fewer than requested is 0xC1/0x21, more than requested plus a
// header 0x22 (P1 the address, P2 the bytes requested, P3 those bytes).
// Any other wrong address, on an underrun page say, is 0x20.
func checkSpecialFreeAddress(a SpecialAllocation, ok bool, va mm.VA) error {
	if ok && a.VA == va {
		return nil
	}
	if ok && a.Mode == SpecialOverrun {
		given := mm.PageBytes - va.PageOffset()
		switch {
		case a.Bytes > given:
			return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), a.Bytes, given, 0x21).At("checkSpecialFreeAddress: inside the data")
		case a.Bytes+HeaderBytes < given:
			return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), a.Bytes, given, 0x22).At("checkSpecialFreeAddress: before the data")
		}
	}
	return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), 0, 0, 0x20).At("checkSpecialFreeAddress")
}

// checkIrqlForSpecialFree: the same for a free (0xC1/0x31: the IRQL, the
// pool type, the address).
func checkIrqlForSpecialFree(c *cpu.CPU, t Type, va mm.VA) error {
	if irql := c.IRQL(); irql > t.MaxIRQL() {
		return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(irql), uint64(t), uint64(va), 0x31).At("checkIrqlForSpecialFree")
	}
	return nil
}

// checkSpecialPattern: every byte of the data page outside the data must
// be as the allocation left it, the header included. The first damaged
// byte (P2) before the data is 0xC1/0x23, after it 0xC1/0x24; P1 is the
// allocation's address. With a nil CPU it only peeks.
func (p *Pool) checkSpecialPattern(c *cpu.CPU, a SpecialAllocation) error {
	buf, err := p.bytesOf(c, a.Page)
	if err != nil {
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
