package mm

// The working-set trimmer, the modified page writer and page-out. A halted
// machine does none of them: its memory stays as the bugcheck left it, for
// the debugger to read.

// trimPage takes one Active pageable frame out of memory: its PTE becomes
// a transition PTE and the frame goes to the modified list if it is dirty
// or has no pagefile copy, else to the standby list. It reads the frame's
// own PTE, even when the caller holds one: a bit flip may have pointed
// another PTE at this frame, and only the owner's says if it is dirty.
func (m *Machine) trimPage(f PFN) {
	e := m.entry(f)
	p := m.pteOf(e.VA)
	e.Modified = e.Modified || p.Dirty()
	m.setPTE(e.VA, TransitionPTE(f, protFor(p.NoExecute())))
	if e.Modified || e.Slot == 0 {
		m.setState(f, StateModified, true)
	} else {
		m.setState(f, StateStandby, true)
	}
	m.stats.Trimmed++
}

// trimOldest trims up to n pages, oldest first, and returns how many.
// Without a pagefile nothing pageable can leave memory (the scenario
// format's promise for machine.pagefile: 0), so no trim takes anything.
func (m *Machine) trimOldest(n int) int {
	if m.Pagefile == nil {
		return 0
	}
	done := 0
	for ; done < n && m.workingSet.head != noFrame; done++ {
		m.trimPage(PFN(m.workingSet.head))
	}
	return done
}

// TrimAll trims every pageable page: the whole system working set.
func (m *Machine) TrimAll() int {
	if m.halted != nil {
		return 0
	}
	return m.trimOldest(int(m.workingSet.count))
}

// Trim trims the resident pageable pages of [va, va+pages) and returns
// how many it trimmed.
func (m *Machine) Trim(va VA, pages uint64) int {
	if m.halted != nil || m.Pagefile == nil {
		return 0
	}
	m.rangePages += pages
	done := 0
	for i := uint64(0); i < pages; i++ {
		page := va.PageBase() + VA(i*PageBytes)
		p := m.pteOf(page)
		if !p.Valid() {
			continue
		}
		if m.badFrame(p) {
			m.Halt(corruptPTE(LevelPTE.EntryAddress(page), p))
			return done
		}
		if e := m.entry(p.Frame()); e.State == StateActive && e.Pageable {
			m.trimPage(p.Frame())
			done++
		}
	}
	return done
}

// writeModified runs the modified page writer over up to n frames, oldest
// first: each gets a pagefile slot (its old one if it has one), is written,
// and moves to standby. A failed write leaves the frame dirty at the tail
// of the modified list, to be tried again later. It returns the pages
// written.
func (m *Machine) writeModified(n int) int {
	if m.Pagefile == nil {
		return 0
	}
	written := 0
	for tries := min(uint64(n), m.modified.count); tries > 0; tries-- {
		f := PFN(m.modified.head)
		if m.writePage(f) {
			written++
		} else { // a failed writePage leaves f on the modified list
			m.unlink(&m.modified, f)
			m.pushTail(&m.modified, f)
		}
	}
	return written
}

// writePage writes one modified frame to the pagefile and puts it on the
// standby list. It reports false when the pagefile is full or the write
// failed.
func (m *Machine) writePage(f PFN) bool {
	e := m.entry(f)
	if e.Slot == 0 {
		slot, ok := m.Pagefile.Allocate(slotOwner(e.VA, true))
		if !ok {
			m.stats.PagefileFull++
			return false
		}
		e.Slot = slot
	}
	if err := m.Pagefile.Write(e.Slot, m.frameData(f)); err != nil {
		m.noteIO(err)
		m.stats.LastWriteStatus = ioStatus(err)
		if m.WriteFailed != nil {
			m.WriteFailed(m.stats.LastWriteStatus)
		}
		return false
	}
	e.Modified = false
	m.setState(f, StateStandby, true)
	m.stats.PagesWritten++
	return true
}

// WriteModified writes every modified page it can and returns how many.
func (m *Machine) WriteModified() int {
	if m.halted != nil {
		return 0
	}
	return m.writeModified(int(m.modified.count))
}

// WriteModifiedRange runs the modified page writer over the pages of
// [va, va+pages) that wait on the modified list: each is written to the
// pagefile and moves to standby, keeping its frame, so the next touch is a
// soft fault. A page whose write fails stays modified. It returns the
// pages written.
func (m *Machine) WriteModifiedRange(va VA, pages uint64) int {
	if m.halted != nil || m.Pagefile == nil {
		return 0
	}
	written := 0
	m.eachInTransition(va, pages, func(f PFN) {
		if m.entry(f).State == StateModified && m.writePage(f) {
			written++
		}
	})
	return written
}

// eachInTransition calls fn with the frame of each page of [va, va+pages)
// whose PTE is in transition (trimmed, its frame on the standby or
// modified list), after vouching for the PTE: one that does not name the
// frame in transition for its page is a corrupted PTE, which halts the
// machine (0x1A/0x41792) and ends the walk, as does a halt in fn.
func (m *Machine) eachInTransition(va VA, pages uint64, fn func(PFN)) {
	m.rangePages += pages
	for i := uint64(0); i < pages && m.halted == nil; i++ {
		page := va.PageBase() + VA(i*PageBytes)
		p := m.pteOf(page)
		if !p.Transition() {
			continue
		}
		if !m.inTransition(page, p) {
			m.Halt(corruptPTE(LevelPTE.EntryAddress(page), p))
			return
		}
		fn(p.Frame())
	}
}

// evict drops a standby frame: the page now lives only in its pagefile
// slot, so the next touch is a hard fault.
func (m *Machine) evict(f PFN) {
	m.leaveInPagefile(f)
	m.setState(f, StateFree, false)
	e := m.entry(f)
	e.Modified, e.VA, e.Slot = false, 0, 0
	m.stats.Evicted++
}

// leaveInPagefile hands a standby frame's page over to its pagefile slot:
// the transition PTE becomes a pagefile PTE, and the slot is no longer
// held by a frame. The caller then reuses or frees the frame.
func (m *Machine) leaveInPagefile(f PFN) {
	e := m.entry(f)
	m.setPTE(e.VA, PagefilePTE(e.Slot, m.pteOf(e.VA).Protection()))
	m.Pagefile.SetOwner(e.Slot, slotOwner(e.VA, false))
}

// A slot's owner, as mm records it in the pagefile: the page whose copy
// it holds, plus slotHeldByFrame while a frame still holds that page
// (resident, standby or modified), when the page's PTE is valid or in
// transition and no pagefile PTE may name the slot. A pagefile PTE is
// followed only to a slot that its own page owns outright (slotHolds): a
// PTE copied from another page, or left stale, is a corrupted PTE, never
// two frames sharing one slot.
const slotHeldByFrame = 1

func slotOwner(page VA, held bool) uint64 {
	if held {
		return uint64(page) | slotHeldByFrame
	}
	return uint64(page)
}

// slotHolds reports whether a pagefile PTE of page may name slot: the slot
// is in use and holds page's copy, and no frame holds it.
func (m *Machine) slotHolds(slot uint64, page VA) bool {
	return m.Pagefile != nil && m.Pagefile.Owner(slot) == slotOwner(page, false)
}

// PageOut trims the pages of [va, va+pages), writes the dirty ones and
// evicts them all, so each comes back with a hard fault. Pages whose write
// fails stay on the modified list. It returns the pages evicted.
func (m *Machine) PageOut(va VA, pages uint64) int {
	if m.halted != nil {
		return 0
	}
	m.Trim(va, pages)
	done := 0
	m.eachInTransition(va, pages, func(f PFN) {
		if m.entry(f).State == StateModified && (m.Pagefile == nil || !m.writePage(f)) {
			return
		}
		m.evict(f)
		done++
	})
	return done
}

// PageOutAll trims every pageable page, writes every modified page and
// evicts every standby page.
func (m *Machine) PageOutAll() int {
	if m.halted != nil {
		return 0
	}
	m.TrimAll()
	m.WriteModified()
	done := 0
	for m.standby.head != noFrame {
		m.evict(PFN(m.standby.head))
		done++
	}
	return done
}
