package pool

import (
	"encoding/binary"

	"cmp"
	"fmt"
	"slices"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/mm"
)

// Special pool: Driver Verifier's allocator for the drivers it verifies.
// Each allocation gets a page of its own next to a no-access guard page;
// doc.go ("Special pool") has the layout and the life of a page pair.

// SpecialMode says which side of the data the guard page is on.
type SpecialMode uint8

// Special pool modes. Overrun ("verify end", the default) puts the data
// against the end of its page, the guard page after it; underrun ("verify
// start") puts the data at the start of its page, the guard page before.
const (
	SpecialOverrun SpecialMode = iota + 1
	SpecialUnderrun
)

// String names the mode as the verifier settings do.
func (m SpecialMode) String() string {
	switch m {
	case SpecialOverrun:
		return "overrun"
	case SpecialUnderrun:
		return "underrun"
	}
	return fmt.Sprintf("SpecialMode(%d)", uint8(m))
}

// MaxSpecialBytes is the largest request special pool takes: a page less
// its header (4080). Larger requests are not eligible.
const MaxSpecialBytes = mm.PageBytes - HeaderBytes

// SpecialReuseDelay is how many later special frees a freed page pair
// waits for before its address space goes back to mm, on a machine whose
// commit limit is at least 64 MiB. A smaller machine waits for fewer (see
// specialDelayFor), so that waiting pairs never hold more than 1/32 of
// its commit.
const SpecialReuseDelay = 256

// specialMinAvailablePages: special pool takes no page while mm has fewer
// frames than this available (zeroed, free or standby), so that it never
// takes the last of memory; the request falls back to the normal pool.
const specialMinAvailablePages = 256

// The special pool header: 16 bytes at the start of the data page in
// overrun mode, at its end in underrun mode.
//
//	+0x0 Bytes   : 16 bits  the bytes requested
//	+0x2 Pattern : 8 bits   the byte the rest of the page is filled with
//	+0x3 Flags   : 8 bits   0x1 paged pool type, 0x2 underrun mode
//	+0x4 PoolTag : 32 bits
//	+0x8 Data    : 64 bits  the allocation's address
const (
	specialFlagPaged    = 0x1
	specialFlagUnderrun = 0x2
)

// SpecialAllocation is one special pool allocation, live or freed.
type SpecialAllocation struct {
	VA    mm.VA // the data
	Page  mm.VA // the data page
	Guard mm.VA // the guard page
	Bytes uint64
	Tag   Tag
	Type  Type
	Owner uint64 // code address of the allocator
	Mode  SpecialMode
}

// pair returns the lower page of the allocation's page pair.
func (a SpecialAllocation) pair() mm.VA { return min(a.Page, a.Guard) }

// header returns the address of the allocation's header.
func (a SpecialAllocation) header() mm.VA {
	if a.Mode == SpecialUnderrun {
		return a.Page + mm.PageBytes - HeaderBytes
	}
	return a.Page
}

// specialGuard is the guard page of the data page page in mode m: after
// it for overruns, before it for underruns.
func specialGuard(page mm.VA, m SpecialMode) mm.VA {
	if m == SpecialUnderrun {
		return page - mm.PageBytes
	}
	return page + mm.PageBytes
}

// specialDataVA is where n bytes go on page in mode m: against the end of
// the page, 16-byte aligned, or at its start.
func specialDataVA(page mm.VA, n uint64, m SpecialMode) mm.VA {
	if m == SpecialUnderrun {
		return page
	}
	return (page + mm.PageBytes - mm.VA(n)) &^ (UnitBytes - 1)
}

// SpecialStats counts what special pool has done and holds.
type SpecialStats struct {
	Allocations       uint64 `json:"allocations"` // allocations special pool served
	Frees             uint64 `json:"frees"`
	Fallbacks         uint64 `json:"fallbacks"`           // eligible requests it had no room for
	PagesInUse        uint64 `json:"pages_in_use"`        // data pages of live allocations
	FreedPagesWaiting uint64 `json:"freed_pages_waiting"` // freed page pairs whose reuse is delayed
}

// specialPool is the pool's record of special pool.
//
// Invariant: every reserved page pair is either live (its data page in
// live, valid, or for paged pool possibly out of memory) or waiting (its
// data page in freed and in queue, no-access); its guard page is in
// guards, no-access, in both cases.
// Invariant: len(queue) <= delay.
type specialPool struct {
	live   map[mm.VA]SpecialAllocation // by data page
	freed  map[mm.VA]SpecialAllocation // waiting pairs, by data page
	guards map[mm.VA]mm.VA             // guard page -> its data page
	queue  []mm.VA                     // data pages of waiting pairs, oldest first
	delay  int

	allocations, frees, fallbacks uint64
}

func (s *specialPool) init(delay int) {
	s.live = map[mm.VA]SpecialAllocation{}
	s.freed = map[mm.VA]SpecialAllocation{}
	s.guards = map[mm.VA]mm.VA{}
	s.delay = delay
}

// specialDelayFor returns the reuse delay on m: SpecialReuseDelay, or as
// many pairs as fit in 1/32 of the commit limit (two pages each), at
// least 8.
func specialDelayFor(m *mm.Machine) int {
	_, limit := m.Commit()
	return int(min(SpecialReuseDelay, max(8, limit/64)))
}

// isSpecial reports whether va is in the special pool region.
func isSpecial(va mm.VA) bool {
	return va-mm.RegionSpecialPool.Base() < mm.VA(mm.RegionSpecialPool.Bytes())
}

// AllocateSpecial is ExAllocatePoolWithTag through special pool for a
// verified driver (c.PC is the caller). ok is false when the request is
// not eligible (n is 0 or more than MaxSpecialBytes) or special pool is
// exhausted (no address space, commit or frame, or fewer than 256
// available pages): the caller then uses the normal pool, and an
// exhausted special pool counts a fallback. err is a bugcheck (the machine
// has halted): 0xC1 with P4 0x30 for the IRQL rules, and the tag rules of
// Allocate.
func (p *Pool) AllocateSpecial(c *cpu.CPU, t Type, n uint64, tag Tag, mode SpecialMode) (va mm.VA, ok bool, err error) {
	if e := p.m.Halted(); e != nil {
		return 0, false, e
	}
	if mode != SpecialOverrun && mode != SpecialUnderrun {
		panic(fmt.Sprintf("pool: AllocateSpecial with mode %v", mode))
	}
	if n == 0 || n > MaxSpecialBytes {
		return 0, false, nil
	}
	caller := c.PC
	if err := checkIrqlForSpecialAllocate(c, t, n); err != nil {
		return 0, false, p.halt(err)
	}
	if err := checkRequest(t, n, tag, caller); err != nil {
		return 0, false, p.halt(err)
	}
	c.PC = PCExAllocatePoolWithTag
	va, err = p.allocateSpecial(c, t, n, tag, mode, caller)
	c.PC = caller
	if err != nil {
		return 0, false, p.halt(err)
	}
	if va == 0 {
		p.special.fallbacks++
		return 0, false, nil
	}
	if p.cfg.VerifyEveryOp {
		if err := p.ValidateAll(); err != nil {
			return 0, false, p.halt(err)
		}
	}
	return va, true, nil
}

// allocateSpecial maps a page pair and lays the allocation out on its data
// page: the pattern everywhere, then the header. It returns 0 when special
// pool has no room.
func (p *Pool) allocateSpecial(c *cpu.CPU, t Type, n uint64, tag Tag, mode SpecialMode, caller uint64) (mm.VA, error) {
	if s := p.m.Stats(); s.Available() < specialMinAvailablePages {
		return 0, nil
	}
	nx := p.descriptorFor(c, t).NX
	pair := p.m.AllocateSpecialPair(c.Node, nx, mode == SpecialUnderrun, t.Paged())
	if pair == 0 {
		return 0, nil
	}
	page := pair
	if mode == SpecialUnderrun {
		page += mm.PageBytes
	}
	guard := specialGuard(page, mode)
	a := SpecialAllocation{VA: specialDataVA(page, n, mode), Page: page, Guard: guard, Bytes: n, Tag: tag, Type: t, Owner: caller, Mode: mode}
	if err := p.m.Fill(c, page, p.specialPattern(page), mm.PageBytes); err != nil {
		return 0, err
	}
	h := p.specialHeader(a)
	if err := p.m.Write(c, a.header(), h[:]); err != nil {
		return 0, err
	}
	sp := &p.special
	sp.live[page] = a
	sp.guards[guard] = page
	sp.allocations++
	p.tags.alloc(tag, t.Paged(), mm.PageBytes)
	return a.VA, nil
}

// specialPattern is the fill byte of a data page: a hash of the page's
// address and the per-boot secret, never 0 (a zeroed page must not pass).
func (p *Pool) specialPattern(page mm.VA) byte {
	if b := byte(p.canary(page) >> 56); b != 0 {
		return b
	}
	return 0xa5
}

// specialHeader returns the 16 header bytes of a.
func (p *Pool) specialHeader(a SpecialAllocation) [HeaderBytes]byte {
	var h [HeaderBytes]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(a.Bytes))
	h[2] = p.specialPattern(a.Page)
	if a.Type.Paged() {
		h[3] |= specialFlagPaged
	}
	if a.Mode == SpecialUnderrun {
		h[3] |= specialFlagUnderrun
	}
	binary.LittleEndian.PutUint32(h[4:], uint32(a.Tag))
	binary.LittleEndian.PutUint64(h[8:], uint64(a.VA))
	return h
}

// freeSpecial frees the special pool allocation whose data is at va. The
// order of the checks: the address (checkSpecialFreeAddress), the IRQL
// (0xC1/0x31), the tag (0xC2/0xA), and the bytes around the data (0xC1/0x23,
// 0x24).
func (p *Pool) freeSpecial(c *cpu.CPU, va mm.VA, tag Tag, withTag bool) error {
	sp := &p.special
	a, ok := sp.live[va.PageBase()]
	if err := checkSpecialFreeAddress(a, ok, va); err != nil {
		return err
	}
	if err := checkIrqlForSpecialFree(c, a.Type, va); err != nil {
		return err
	}
	if err := checkFreeTag(va, a.Tag, tag, withTag); err != nil {
		return err
	}
	if err := p.checkSpecialPattern(c, a); err != nil {
		return err
	}
	p.releaseSpecial(a)
	return nil
}

// releaseSpecial retires a freed allocation: its data page loses its
// frame and becomes no-access, and its pair waits in the queue; the
// oldest waiting pairs beyond the delay go back to mm.
func (p *Pool) releaseSpecial(a SpecialAllocation) {
	sp := &p.special
	delete(sp.live, a.Page)
	p.m.SetNoAccess(a.Page)
	sp.freed[a.Page] = a
	sp.queue = append(sp.queue, a.Page)
	sp.frees++
	p.tags.free(a.Tag, a.Type.Paged(), mm.PageBytes)
	for len(sp.queue) > sp.delay {
		old := sp.freed[sp.queue[0]]
		sp.queue = sp.queue[1:]
		delete(sp.freed, old.Page)
		delete(sp.guards, old.Guard)
		p.m.FreePages(old.pair(), 2)
	}
}

// specialFault is the memory manager's question about a not-valid page of
// the special pool region: a guard page is 0xD6 (0xCD when kernel code
// made the access), a freed data page 0xD5 (0xCC). P1 the address, P2 0
// for a read and 1 for a write, P3 the code address, P4 0. Anything else
// is not special pool's to judge: nil.
func (p *Pool) specialFault(c *cpu.CPU, va mm.VA, write bool) *bugcheck.Error {
	page := va.PageBase()
	sp := &p.special
	kernel := cpu.InKernel(c.PC)
	var code bugcheck.Code
	var site string
	if _, ok := sp.guards[page]; ok {
		code, site = bugcheck.DriverPageFaultBeyondEndOfAllocation, "specialFault: guard page"
		if kernel {
			code = bugcheck.PageFaultBeyondEndOfAllocation
		}
	} else if _, ok := sp.freed[page]; ok {
		code, site = bugcheck.DriverPageFaultInFreedSpecialPool, "specialFault: freed page"
		if kernel {
			code = bugcheck.PageFaultInFreedSpecialPool
		}
	} else {
		return nil
	}
	return bugcheck.New(code, uint64(va), mm.WriteBit(write), c.PC, 0).At(site)
}

// SpecialStats returns special pool's counters.
func (p *Pool) SpecialStats() SpecialStats {
	sp := &p.special
	return SpecialStats{Allocations: sp.allocations, Frees: sp.frees, Fallbacks: sp.fallbacks,
		PagesInUse: uint64(len(sp.live)), FreedPagesWaiting: uint64(len(sp.queue))}
}

// SpecialAllocations returns the live special pool allocations in address
// order.
func (p *Pool) SpecialAllocations() []SpecialAllocation {
	out := make([]SpecialAllocation, 0, len(p.special.live))
	for _, a := range p.special.live {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y SpecialAllocation) int { return cmp.Compare(x.Page, y.Page) })
	return out
}

// SpecialFreed reports whether va is on the data page of a freed special
// pool allocation whose reuse is still held back: a no-access page, as a
// guard page is, but one a touch of reports as freed (0xD5/0xCC).
func (p *Pool) SpecialFreed(va mm.VA) bool {
	_, ok := p.special.freed[va.PageBase()]
	return ok
}

// SpecialAt returns the live special pool allocation whose data page or
// guard page holds va.
func (p *Pool) SpecialAt(va mm.VA) (SpecialAllocation, bool) {
	page := va.PageBase()
	if data, ok := p.special.guards[page]; ok {
		page = data
	}
	a, ok := p.special.live[page]
	return a, ok
}
