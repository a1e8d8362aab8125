package pool

import (
	"encoding/binary"

	"simkern/mm"
)

// Units counts 16-byte pool blocks (POOL_BLOCK_SIZE on x64), header
// included.
type Units uint32

// Block geometry on x64.
const (
	UnitBytes   = 16                       // sizeof(POOL_HEADER) == sizeof(LIST_ENTRY)
	HeaderBytes = 16                       // the _POOL_HEADER before every small block
	PageUnits   = mm.PageBytes / UnitBytes // 256
	MaxUnits    = 255                      // BlockSize is 8 bits
	// MaxSmallBytes is the largest request carved from a pool page
	// (POOL_BUDDY_MAX): larger ones get whole pages.
	MaxSmallBytes = mm.PageBytes - 2*UnitBytes // 4064
	canaryBytes   = 8
	// pageMask keeps an offset inside a page's bytes: indexing with
	// off&pageMask, where off is known to be inside, spares a bounds check.
	pageMask = mm.PageBytes - 1
)

// The PoolType byte of a header (WRK's encoding): an allocated block holds
// its base type plus one with the in-use bit set; a block on a lookaside
// list keeps the type but clears the in-use bit (so !pool prints
// "(Free )"); a block on a free list holds 0.
const (
	poolInUse      = 0x4
	headerTypeMask = 0x1 | 0x8 | 0x20 | 0x40 // base, quota, session, verifier
)

func headerTypeAllocated(t Type) uint8 { return uint8(uint32(t)&headerTypeMask+1) | poolInUse }

// Header is the x64 _POOL_HEADER:
//
//	+0x0 PreviousSize : 8 bits  size of the block before, in units (0: first in page)
//	+0x1 PoolIndex    : 8 bits  which descriptor owns the block
//	+0x2 BlockSize    : 8 bits  this block's size in units, header included
//	+0x3 PoolType     : 8 bits  0 free, else base type + 1, 0x4 = in use
//	+0x4 PoolTag      : 32 bits
//	+0x8 ProcessBilled: 64 bits (quota owner; 0, simkern has no quota)
type Header struct {
	PreviousSize  uint8
	PoolIndex     uint8
	BlockSize     uint8
	PoolType      uint8
	PoolTag       Tag
	ProcessBilled uint64
}

// Ulong1 is the first 32 bits, as WinDbg and the 0xC2 parameters show them.
func (h Header) Ulong1() uint32 { return h.hdr().ulong1() }

func (h Header) hdr() hdr {
	return makeHdr(h.PreviousSize, h.PoolIndex, h.BlockSize, h.PoolType, h.PoolTag)
}

// HeaderFromWord0 decodes the first eight bytes of a header.
func HeaderFromWord0(w uint64) Header {
	h := hdr(w)
	return Header{PreviousSize: h.previousSize(), PoolIndex: h.poolIndex(), BlockSize: h.blockSize(), PoolType: h.poolType(), PoolTag: h.tag()}
}

// Allocated reports the in-use bit.
func (h Header) Allocated() bool { return h.hdr().allocated() }

// OnLookaside reports a freed block parked on a lookaside list: its type
// is set but its in-use bit is clear.
func (h Header) OnLookaside() bool { return h.PoolType != 0 && !h.Allocated() }

// Free reports a block on a free list (or a one-unit fragment).
func (h Header) Free() bool { return h.hdr().free() }

// hdr is the first eight bytes of a header as stored (Ulong1, then the
// tag; what a bugcheck parameter shows as a header's contents): what the
// allocator reads, checks and writes. It stays one register, where a
// Header built field by field and passed on goes through the stack, and
// its 16-byte copies wait on the byte stores before them.
type hdr uint64

func makeHdr(previousSize, poolIndex, blockSize, poolType uint8, tag Tag) hdr {
	return hdr(uint64(previousSize) | uint64(poolIndex)<<8 | uint64(blockSize)<<16 | uint64(poolType)<<24 | uint64(tag)<<32)
}

func (w hdr) previousSize() uint8 { return uint8(w) }
func (w hdr) poolIndex() uint8    { return uint8(w >> 8) }
func (w hdr) blockSize() uint8    { return uint8(w >> 16) }
func (w hdr) poolType() uint8     { return uint8(w >> 24) }
func (w hdr) tag() Tag            { return Tag(w >> 32) }
func (w hdr) ulong1() uint32      { return uint32(w) }
func (w hdr) allocated() bool     { return w.poolType()&poolInUse != 0 }
func (w hdr) free() bool          { return w.poolType() == 0 }

// withBlockSize returns w with its BlockSize set to u.
func (w hdr) withBlockSize(u Units) hdr { return w&^(0xff<<16) | hdr(uint8(u))<<16 }

// hdrAt reads the header at offset off of a page's bytes (the first eight
// bytes, enough for every check; ProcessBilled is read only by dt).
func hdrAt(page []byte, off uint64) hdr { return hdr(binary.LittleEndian.Uint64(page[off:])) }

// putHdr writes the first eight bytes of a header at offset off of a
// page's bytes.
func putHdr(page []byte, off uint64, w hdr) { binary.LittleEndian.PutUint64(page[off:], uint64(w)) }

// PeekHeader reads a header without faulting, for the debugger; false
// when any of its 16 bytes cannot be read.
func (p *Pool) PeekHeader(va mm.VA) (Header, bool) {
	w, ok := p.m.PeekU64(va)
	billed, ok2 := p.m.PeekU64(va + 8)
	if !ok || !ok2 {
		return Header{}, false
	}
	h := HeaderFromWord0(w)
	h.ProcessBilled = billed
	return h, true
}

// unitsFor returns the block size for a request of n bytes: the header,
// the data, and room for the canary after it, rounded up to whole units
// and capped at MaxUnits (the last few small sizes get a shorter canary).
func unitsFor(n uint64) Units {
	u := Units((HeaderBytes + n + canaryBytes + UnitBytes - 1) / UnitBytes)
	return min(u, MaxUnits)
}

// roomFor returns the data bytes of the block a request of n small bytes
// gets: where its canary must end.
func roomFor(n uint64) uint64 { return uint64(unitsFor(n))*UnitBytes - HeaderBytes }
