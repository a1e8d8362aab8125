package mm

import (
	"fmt"

	"simkern/internal/invariants"
	"simkern/pagefile"
)

// Stats counts what the memory manager has done and holds. Page counts
// are in pages.
type Stats struct {
	// Frames by state. Untouched frames count as Zeroed.
	Frames            uint64 `json:"frames"`
	Zeroed            uint64 `json:"zeroed"`
	Free              uint64 `json:"free"`
	Standby           uint64 `json:"standby"`
	Modified          uint64 `json:"modified"`
	ActivePageable    uint64 `json:"active_pageable"`
	ActiveNonpageable uint64 `json:"active_nonpageable"`
	PageTablePages    uint64 `json:"page_table_pages"`

	SoftFaults       uint64 `json:"soft_faults"`
	HardFaults       uint64 `json:"hard_faults"`
	DemandZeroFaults uint64 `json:"demand_zero_faults"`
	Trimmed          uint64 `json:"trimmed"`
	Repurposed       uint64 `json:"repurposed"`
	Evicted          uint64 `json:"evicted"`
	PagesWritten     uint64 `json:"pages_written"`
	WriteErrors      uint64 `json:"write_errors"` // the pagefile's counts
	ReadErrors       uint64 `json:"read_errors"`
	PagefileFull     uint64 `json:"pagefile_full"`
	FramesZeroed     uint64 `json:"frames_zeroed"`

	PagesAllocated    uint64         `json:"pages_allocated"`
	PagedPoolPages    uint64         `json:"paged_pool_pages"`
	NonPagedPoolPages uint64         `json:"nonpaged_pool_pages"` // mapped, idle included
	IdleNonPagedPages uint64         `json:"idle_nonpaged_pages"`
	CommitPages       uint64         `json:"commit_pages"`
	CommitLimitPages  uint64         `json:"commit_limit_pages"`
	CommitFailures    uint64         `json:"commit_failures"`
	LastWriteStatus   uint32         `json:"last_write_status"`
	Pagefile          pagefile.Stats `json:"pagefile"`
	HasPagefile       bool           `json:"has_pagefile"`
}

// Stats returns the current counters.
func (m *Machine) Stats() Stats {
	s := m.stats
	s.Frames = m.frames
	for i := range m.nodes {
		n := &m.nodes[i]
		s.Zeroed += n.zeroed.count + (n.end - n.next)
		s.Free += n.free.count
	}
	s.Standby, s.Modified = m.standby.count, m.modified.count
	s.ActivePageable, s.ActiveNonpageable = m.workingSet.count, m.activeNonpageable
	s.PagedPoolPages = m.regions[RegionPagedPool].mapped
	s.NonPagedPoolPages = m.regions[RegionNonPagedPool].mapped
	s.IdleNonPagedPages = m.regions[RegionNonPagedPool].idlePages()
	s.CommitPages, s.CommitLimitPages = m.commitPages, m.commitLimitPages
	if m.Pagefile != nil {
		s.Pagefile = m.Pagefile.Stats()
		s.HasPagefile = true
		s.ReadErrors, s.WriteErrors = s.Pagefile.ReadErrors, s.Pagefile.WriteErrors
	}
	return s
}

// Available returns the frames that could be handed out without writing
// anything: zeroed, free and standby.
func (s Stats) Available() uint64 { return s.Zeroed + s.Free + s.Standby }

// CheckInvariants verifies the frame ledger: every frame is in exactly one
// state, each list's count matches its links, and the pagefile slot a
// frame keeps is recorded as held by that frame's page. A failure is a
// simkern bug. It runs only when built with -tags invariants.
func (m *Machine) CheckInvariants() {
	if !invariants.Enabled {
		return
	}
	s := m.Stats()
	sum := s.Zeroed + s.Free + s.Standby + s.Modified + s.ActivePageable + s.ActiveNonpageable
	if sum != s.Frames {
		panic(fmt.Sprintf("mm: frame ledger: %d frames accounted for, %d exist (%+v)", sum, s.Frames, s))
	}
	lists := []*pfnList{&m.standby, &m.modified, &m.workingSet}
	for i := range m.nodes {
		lists = append(lists, &m.nodes[i].zeroed, &m.nodes[i].free)
	}
	for _, l := range lists {
		var n uint64
		prev := noFrame
		for f := l.head; f != noFrame; f = m.entry(PFN(f)).flink {
			e := m.entry(PFN(f))
			if e.blink != prev {
				panic(fmt.Sprintf("mm: list link broken at frame %#x", f))
			}
			if e.Slot != 0 && m.Pagefile.Owner(e.Slot) != slotOwner(e.VA, true) {
				panic(fmt.Sprintf("mm: frame %#x keeps slot %d for %v, but the slot's owner is %#x", f, e.Slot, e.VA, m.Pagefile.Owner(e.Slot)))
			}
			prev = f
			n++
			if n > l.count {
				break
			}
		}
		if n != l.count || l.tail != prev {
			panic(fmt.Sprintf("mm: list holds %d frames by its links, %d by its count", n, l.count))
		}
	}
}
