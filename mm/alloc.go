package mm

import "fmt"

// AllocatePages maps pages of new virtual memory in region r (the paged or
// nonpaged pool) and returns its base, or 0 when commit, address space or
// physical memory runs out. Nonpaged pages get frames now, from node
// first; paged pages start as demand-zero PTEs and get a frame on first
// touch. nx maps the pages no-execute.
func (m *Machine) AllocatePages(r Region, pages uint64, node int, nx bool) VA {
	if r >= numRegions || m.regions[r] == nil || pages == 0 || m.halted != nil {
		return 0
	}
	v := m.regions[r]
	if node < 0 || node >= len(m.nodes) {
		node = 0
	}
	if v.idle != nil {
		if va, ok := v.idle[node].take(pages); ok {
			m.setNX(va, pages, nx)
			return va
		}
	}
	va, ok := m.chargeAndReserve(v, pages)
	if !ok {
		return 0
	}
	m.rangePages += pages
	for i := uint64(0); i < pages; i++ {
		page := va + VA(i*PageBytes)
		if !m.mapPage(page, r.Pageable(), node, nx) {
			m.giveBack(v, va, pages, i)
			return 0
		}
	}
	v.mapped += pages
	m.stats.PagesAllocated += pages
	return va
}

// chargeAndReserve takes commit and address space of v for pages, or
// neither.
func (m *Machine) chargeAndReserve(v *vaRegion, pages uint64) (VA, bool) {
	if !m.charge(pages) {
		return 0, false
	}
	va, ok := v.reserve(pages)
	if !ok {
		m.commitPages -= pages
	}
	return va, ok
}

// giveBack undoes the last chargeAndReserve for a run whose first mapped
// pages were mapped before something failed.
func (m *Machine) giveBack(v *vaRegion, va VA, pages, mapped uint64) {
	m.unmapRange(va, mapped)
	v.unreserve(va, pages)
	m.commitPages -= pages
}

// HandedOut reports whether an allocation has ever held the page at va,
// whether or not one holds it now: what tells a freed page from one never
// mapped when its PTE reads zero.
func (m *Machine) HandedOut(va VA) bool {
	r := RegionOf(va)
	return r < numRegions && m.regions[r] != nil && va < m.regions[r].next
}

// mapPage maps one page: a frame now, or a demand-zero PTE if pageable.
func (m *Machine) mapPage(va VA, pageable bool, node int, nx bool) bool {
	leaf, ok := m.ensureTables(va)
	if !ok {
		return false
	}
	var p PTE
	if pageable {
		// The protection remembers nx until the first touch.
		p = DemandZeroPTE(protFor(nx))
	} else {
		f, ok := m.getFrame(node, false)
		if !ok {
			return false
		}
		m.entry(f).VA = va
		p = ValidPTE(f, nx)
	}
	writePTE(m.frameData(leaf), LevelPTE.index(va), p)
	m.CPUs.Shootdown(uint64(va))
	return true
}

// setNX rewrites the NX bit of mapped pages being reused.
func (m *Machine) setNX(va VA, pages uint64, nx bool) {
	m.rangePages += pages
	for i := uint64(0); i < pages; i++ {
		page := va + VA(i*PageBytes)
		p := m.pteOf(page)
		np := p &^ pteNoExecute
		if nx {
			np |= pteNoExecute
		}
		if np != p {
			m.setPTE(page, np)
		}
	}
}

// FreePages gives back pages that AllocatePages returned. Paged pages are
// unmapped: their PTEs become zero, so a later touch is 0x50. Nonpaged
// pages stay mapped and idle for the next AllocatePages on their node, so a
// stale read of freed nonpaged pool returns old bytes, as on Windows.
func (m *Machine) FreePages(va VA, pages uint64) {
	r := RegionOf(va)
	v := m.regions[r]
	if v == nil || va.PageOffset() != 0 {
		panic(fmt.Sprintf("mm: FreePages(%v, %d): not pool pages", va, pages))
	}
	if v.idle != nil {
		p := m.pteOf(va)
		if !p.Valid() || m.badFrame(p) {
			m.Halt(corruptPTE(LevelPTE.EntryAddress(va), p))
			return
		}
		v.idle[m.nodeOf(p.Frame())].insert(extent{va, pages})
		return
	}
	m.release(v, extent{va, pages})
}

// release unmaps the pages of e and gives back their address space and
// commit.
func (m *Machine) release(v *vaRegion, e extent) {
	m.unmapRange(e.base, e.pages)
	v.free.insert(e)
	v.mapped -= e.pages
	m.commitPages -= e.pages
}

// unmapRange zeroes the PTEs of pages and frees what backs them: frames
// go to the free list and pagefile slots are released.
func (m *Machine) unmapRange(va VA, pages uint64) {
	m.rangePages += pages
	for i := uint64(0); i < pages; i++ {
		page := va + VA(i*PageBytes)
		p := m.pteOf(page)
		if !m.releaseBacking(page, p) {
			return
		}
		if p != 0 {
			m.setPTE(page, 0)
		}
	}
}

// releaseBacking frees what holds page's bytes, as its PTE p says: a
// frame (valid, or in transition on a list) or a pagefile slot. A PTE
// naming a frame that is not page's, or a slot page does not own outright
// (slotHolds), is corrupt: the machine halts, nothing is freed, and it
// reports false.
func (m *Machine) releaseBacking(page VA, p PTE) bool {
	switch {
	case p.Valid() || p.Transition():
		if m.badFrame(p) || m.entry(p.Frame()).VA != page {
			m.Halt(corruptPTE(LevelPTE.EntryAddress(page), p))
			return false
		}
		m.releaseFrame(p.Frame())
	case p.Software() && p.Slot() != 0:
		if !m.slotHolds(p.Slot(), page) {
			m.Halt(corruptPTE(LevelPTE.EntryAddress(page), p))
			return false
		}
		m.Pagefile.Release(p.Slot())
	}
	return true
}

// charge takes pages of commit, giving back idle nonpaged pages if that
// makes it fit.
func (m *Machine) charge(pages uint64) bool {
	// Compare against the room left (commitPages never passes the limit)
	// so that a huge request cannot wrap the sum around.
	if room := m.commitLimitPages - m.commitPages; pages > room {
		m.releaseIdle(pages - room)
	}
	if pages > m.commitLimitPages-m.commitPages {
		m.stats.CommitFailures++
		return false
	}
	m.commitPages += pages
	return true
}

// releaseIdle unmaps idle nonpaged pages, lowest run first, until at
// least pages are released or none is left (a run goes whole, so it may
// release more), and returns how many it released. An idle page must
// still be what FreePages left, mapped to a nonpageable frame: one whose
// PTE a corruption changed halts the machine (0x1A/0x41792) before
// anything is freed, and releaseIdle reports 0, since what it backs (a
// pagefile slot a fault is about to read, say) is not the memory
// manager's to give.
func (m *Machine) releaseIdle(pages uint64) uint64 {
	v := m.regions[RegionNonPagedPool]
	var done uint64
	for n := range v.idle {
		for done < pages {
			e, ok := v.idle[n].lowest()
			if !ok {
				break
			}
			for i := range e.pages {
				page := e.base + VA(i*PageBytes)
				if p := m.pteOf(page); !p.Valid() || m.badFrame(p) || m.entry(p.Frame()).Pageable {
					m.Halt(corruptPTE(LevelPTE.EntryAddress(page), p))
					return 0
				}
			}
			m.release(v, e)
			done += e.pages
		}
	}
	return done
}
