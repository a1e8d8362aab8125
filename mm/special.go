package mm

import "fmt"

// Special pool support. The pool places each special allocation on a page
// of its own next to a guard page, both in RegionSpecialPool; mm maps the
// pair and turns pages into no-access pages. What a fault on them means is
// the pool's to say (Machine.SpecialPoolFault).
//
// A pair's life, as its two PTEs see it:
//
//	AllocateSpecialPair   data: valid (a nonpaged frame)  guard: no-access
//	                      or demand-zero (pageable)
//	SetNoAccess(data)     data: no-access, frame freed    guard: no-access
//	FreePages(pair, 2)    both zero; the address space goes back to the region
//
// A pageable data page (special pool for a paged pool request) lives like a
// paged pool page in between: in the working set once touched, trimmed,
// written to the pagefile and faulted back, so paged special pool touched
// at DISPATCH_LEVEL after a trim is the same 0xA/0xD1 as paged pool.
//
// Accounting: every non-zero PTE of a pool region counts as mapped and is
// charged to commit, so a pair costs two pages of commit from
// AllocateSpecialPair to FreePages, whether or not a frame backs a page.
// Only the data page of a live allocation holds a frame (or, paged out, a
// pagefile slot). (Windows charges
// the guard page no commit; simkern keeps one rule for every region: the
// pages a region's PTEs describe are the pages it has charged.)

// NoAccessPTE is the software PTE of a page that is reserved but must not
// be touched: a guard page, or freed special pool. Any access faults.
func NoAccessPTE() PTE { return DemandZeroPTE(ProtNoAccess) }

// AllocateSpecialPair reserves two pages of the special pool region and
// returns the address of the first: a data page and a no-access guard
// page, the guard first when guardFirst, else the data page first. The
// data page is backed by a nonpaged frame (from node first), or with
// pageable by a demand-zero PTE, as a paged pool page is. nx maps the data
// page no-execute. It returns 0 when commit, address space or physical
// memory runs out. A nonpaged frame's bytes are not cleared: the caller
// fills the page.
func (m *Machine) AllocateSpecialPair(node int, nx, guardFirst, pageable bool) VA {
	const pages = 2
	v := m.regions[RegionSpecialPool]
	if m.halted != nil {
		return 0
	}
	if node < 0 || node >= len(m.nodes) {
		node = 0
	}
	va, ok := m.chargeAndReserve(v, pages)
	if !ok {
		return 0
	}
	data, guard := va, va+PageBytes
	if guardFirst {
		data, guard = guard, data
	}
	undo := func() { m.giveBack(v, va, pages, pages) }
	// The guard's tables first: they may take frames, and a frame for the
	// data page is the last thing taken, so a failure gives none back.
	leaf, ok := m.ensureTables(guard)
	if !ok {
		undo()
		return 0
	}
	writePTE(m.frameData(leaf), LevelPTE.index(guard), NoAccessPTE())
	m.CPUs.Shootdown(uint64(guard))
	if !m.mapPage(data, pageable, node, nx) {
		undo()
		return 0
	}
	v.mapped += pages
	m.stats.PagesAllocated += pages
	return va
}

// SetNoAccess makes the mapped page holding va inaccessible: its frame or
// pagefile slot, if it has one, is freed (its bytes are gone for good) and
// its PTE becomes a no-access PTE, so the next touch faults. The page stays
// mapped and charged until FreePages releases it.
//
// Preconditions: va is in the special pool region, and its page was
// mapped by AllocateSpecialPair and not yet freed.
func (m *Machine) SetNoAccess(va VA) {
	if RegionOf(va) != RegionSpecialPool || va >= m.regions[RegionSpecialPool].next {
		panic(fmt.Sprintf("mm: SetNoAccess(%v): not a special pool page ever mapped", va))
	}
	if m.releaseBacking(va.PageBase(), m.pteOf(va)) {
		m.setPTE(va.PageBase(), NoAccessPTE())
	}
}
