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
	Frames, Zeroed, Free, Standby, Modified, Bad uint64
	ActivePageable, ActiveNonpageable            uint64
	PageTablePages                               uint64

	SoftFaults, HardFaults, DemandZeroFaults uint64
	Trimmed, Repurposed, Evicted             uint64
	PagesWritten, WriteErrors, ReadErrors    uint64
	PagefileFull                             uint64
	FramesZeroed                             uint64

	PagesAllocated                    uint64
	PagedPoolPages, NonPagedPoolPages uint64 // mapped, idle included
	IdleNonPagedPages                 uint64
	CommitPages, CommitLimitPages     uint64
	CommitFailures                    uint64
	LastWriteStatus                   uint32
	Pagefile                          pagefile.Stats
	HasPagefile                       bool
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
	s.Standby, s.Modified, s.Bad = m.standby.count, m.modified.count, m.bad.count
	s.ActivePageable, s.ActiveNonpageable = m.workingSet.count, m.activeNonpageable
	s.PagedPoolPages = m.regions[RegionPagedPool].mapped
	s.NonPagedPoolPages = m.regions[RegionNonPagedPool].mapped
	s.IdleNonPagedPages = m.regions[RegionNonPagedPool].idlePages()
	s.CommitPages, s.CommitLimitPages = m.commitPages, m.commitLimitPages
	s.LastWriteStatus = m.lastWriteStatus
	if m.Pagefile != nil {
		s.Pagefile = m.Pagefile.Stats()
		s.HasPagefile = true
	}
	return s
}

// Available returns the frames that could be handed out without writing
// anything: zeroed, free and standby.
func (s Stats) Available() uint64 { return s.Zeroed + s.Free + s.Standby }

// CheckInvariants verifies the frame ledger: every frame is in exactly one
// state, and each list's count matches its links. A failure is a simkern
// bug. It runs only when built with -tags invariants.
func (m *Machine) CheckInvariants() {
	if !invariants.Enabled {
		return
	}
	s := m.Stats()
	sum := s.Zeroed + s.Free + s.Standby + s.Modified + s.Bad + s.ActivePageable + s.ActiveNonpageable
	if sum != s.Frames {
		panic(fmt.Sprintf("mm: frame ledger: %d frames accounted for, %d exist (%+v)", sum, s.Frames, s))
	}
	lists := []*pfnList{&m.standby, &m.modified, &m.bad, &m.workingSet}
	for i := range m.nodes {
		lists = append(lists, &m.nodes[i].zeroed, &m.nodes[i].free)
	}
	for _, l := range lists {
		var n uint64
		prev := noFrame
		for f := l.head; f != noFrame; f = m.entry(PFN(f)).flink {
			if m.entry(PFN(f)).blink != prev {
				panic(fmt.Sprintf("mm: list link broken at frame %#x", f))
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
