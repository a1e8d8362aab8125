package mm

import (
	"fmt"
	"math/rand/v2"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/pagefile"
)

// Snapshot is the machine's bookkeeping as a crash dump holds it: every
// frame that was ever handed out (its PFN entry), the free lists, the
// address-space bookkeeping, the counters, the CPUs and the pagefile's.
// The frames' bytes are not in it: ForEachFrameBytes reads them from the
// machine a page at a time, and RestoreFrameBytes puts them back, so a
// dump never holds a second copy of memory. TLBs are caches and are not
// kept. A restored machine answers every debugger question as the
// original did; it is for looking at, not for running on (injected faults
// and the random generator are not kept).
type Snapshot struct {
	Frames            uint64
	Nodes             []NodeSnapshot
	Standby, Modified ListSnapshot
	WorkingSet        ListSnapshot
	ActiveNonpageable uint64
	PML4              PFN
	Entries           []FrameSnapshot // frames ever handed out, ascending
	Regions           []RegionSnapshot
	CommitPages       uint64
	CommitLimitPages  uint64
	Stats             Stats
	Halted            *bugcheck.Error
	Pagefile          *pagefile.Snapshot // nil: no pagefile
	CPUs              []CPUSnapshot

	machine *Machine // taken from it; nil in a decoded snapshot
}

// NodeSnapshot is one NUMA node's share of the frames.
type NodeSnapshot struct {
	First, Next, End uint64
	Zeroed, Free     ListSnapshot
}

// ListSnapshot is a frame list's head, tail and count.
type ListSnapshot struct {
	Head, Tail uint32
	Count      uint64
}

// FrameSnapshot is one frame's PFN entry.
type FrameSnapshot struct {
	PFN                           PFN
	Flink, Blink                  uint32
	State                         PageState
	Pageable, PageTable, Modified bool
	VA                            VA
	Slot                          uint64
	HasBytes                      bool // false: never written, reads as zeros
}

// RegionSnapshot is one pool region's address-space bookkeeping.
type RegionSnapshot struct {
	Region Region
	Next   VA
	Mapped uint64
	Free   []ExtentSnapshot
	Idle   [][]ExtentSnapshot
}

// ExtentSnapshot is a run of pages.
type ExtentSnapshot struct {
	Base  VA
	Pages uint64
}

// CPUSnapshot is one processor.
type CPUSnapshot struct {
	IRQL cpu.IRQL
	PC   uint64
}

func listSnap(l pfnList) ListSnapshot { return ListSnapshot{l.head, l.tail, l.count} }
func listRestore(s ListSnapshot) pfnList {
	return pfnList{head: s.Head, tail: s.Tail, count: s.Count}
}

func extents(s *extentSet) []ExtentSnapshot {
	var out []ExtentSnapshot
	s.byAddr.Ascend(func(e extent) bool {
		out = append(out, ExtentSnapshot{e.base, e.pages})
		return true
	})
	return out
}

// Snapshot copies the machine's bookkeeping. It changes nothing.
func (m *Machine) Snapshot() *Snapshot {
	s := &Snapshot{
		Frames: m.frames, Standby: listSnap(m.standby), Modified: listSnap(m.modified),
		WorkingSet: listSnap(m.workingSet), ActiveNonpageable: m.activeNonpageable,
		PML4: m.pml4, CommitPages: m.commitPages, CommitLimitPages: m.commitLimitPages,
		Stats: m.stats, Halted: m.halted,
		machine: m,
	}
	entries := uint64(0)
	for _, n := range m.nodes {
		entries += n.next - n.first
	}
	s.Entries = make([]FrameSnapshot, 0, entries)
	for i := range m.nodes {
		n := &m.nodes[i]
		s.Nodes = append(s.Nodes, NodeSnapshot{n.first, n.next, n.end, listSnap(n.zeroed), listSnap(n.free)})
		for f := n.first; f < n.next; f++ {
			e := m.entry(PFN(f))
			s.Entries = append(s.Entries, FrameSnapshot{PFN: PFN(f), Flink: e.flink, Blink: e.blink, State: e.State,
				Pageable: e.Pageable, PageTable: e.PageTable, Modified: e.Modified, VA: e.VA, Slot: e.Slot,
				HasBytes: m.peekFrame(PFN(f)) != nil})
		}
	}
	for r := RegionPagedPool; r < numRegions; r++ {
		v := m.regions[r]
		rs := RegionSnapshot{Region: r, Next: v.next, Mapped: v.mapped, Free: extents(&v.free)}
		for i := range v.idle {
			rs.Idle = append(rs.Idle, extents(&v.idle[i]))
		}
		s.Regions = append(s.Regions, rs)
	}
	for _, c := range m.CPUs.CPUs {
		s.CPUs = append(s.CPUs, CPUSnapshot{IRQL: c.IRQL(), PC: c.PC})
	}
	if m.Pagefile != nil {
		s.Pagefile = m.Pagefile.Snapshot()
	}
	return s
}

// ForEachFrameBytes calls fn with the bytes of each frame s marks
// HasBytes, in the order of s.Entries (ascending). The bytes are the
// machine's own, not a copy: fn may read them during the call only.
// Preconditions: s was taken by Snapshot, and its machine has not
// changed since.
func (s *Snapshot) ForEachFrameBytes(fn func(f PFN, b *[PageBytes]byte) error) error {
	for _, e := range s.Entries {
		if e.HasBytes {
			if err := fn(e.PFN, s.machine.peekFrame(e.PFN)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore builds a machine from a snapshot, with its pagefile in a
// temporary file (or at pagefilePath). It checks what it can of the
// snapshot's consistency, so a damaged dump is an error, not a panic.
// The frames read as zeros until RestoreFrameBytes gives them their bytes,
// and the pagefile's slots until pagefile.RestoreSlotBytes gives them theirs.
func Restore(s *Snapshot, pagefilePath string) (*Machine, error) {
	bad := func(format string, args ...any) (*Machine, error) {
		return nil, fmt.Errorf("damaged machine snapshot: "+format, args...)
	}
	if s.Frames < MinRAMBytes/PageBytes || s.Frames > MaxRAMBytes/PageBytes {
		return bad("%d frames", s.Frames)
	}
	if len(s.CPUs) < 1 || len(s.Nodes) < 1 {
		return bad("%d CPUs, %d NUMA nodes", len(s.CPUs), len(s.Nodes))
	}
	cpus, err := cpu.NewSet(len(s.CPUs), len(s.Nodes))
	if err != nil {
		return bad("%v", err)
	}
	for i, c := range s.CPUs {
		if c.IRQL > cpu.MaxIRQL {
			return bad("CPU %d at IRQL %d", i, c.IRQL)
		}
		cpus.CPUs[i].SetIRQL(c.IRQL)
		cpus.CPUs[i].PC = c.PC
	}
	m := &Machine{CPUs: cpus, Rand: rand.New(rand.NewPCG(0, 0)), frames: s.Frames, pml4: s.PML4, activeNonpageable: s.ActiveNonpageable,
		commitPages: s.CommitPages, commitLimitPages: s.CommitLimitPages,
		stats: s.Stats, halted: s.Halted}
	m.chunks = make([]*frameChunk, (m.frames+chunkFrames-1)/chunkFrames)
	m.standby, m.modified, m.workingSet = listRestore(s.Standby), listRestore(s.Modified), listRestore(s.WorkingSet)
	prevEnd := uint64(0)
	for _, n := range s.Nodes {
		if n.First < prevEnd || n.First > n.Next || n.Next > n.End || n.End > m.frames {
			return bad("node frames %d..%d..%d", n.First, n.Next, n.End)
		}
		prevEnd = n.End
		m.nodes = append(m.nodes, nodeFrames{first: n.First, next: n.Next, end: n.End, zeroed: listRestore(n.Zeroed), free: listRestore(n.Free)})
	}
	// The entries are the frames each node has handed out, First up to
	// Next, node by node, as Snapshot lists them: no frame twice, none
	// left out, so they cost what the machine they describe holds.
	i := 0
	for _, n := range m.nodes {
		for f := n.first; f < n.next; f++ {
			if i == len(s.Entries) {
				return bad("%d frame entries, fewer than the frames handed out", len(s.Entries))
			}
			fs := s.Entries[i]
			i++
			if fs.PFN != PFN(f) || fs.State > StateActive {
				return bad("frame %#x", uint64(fs.PFN))
			}
			e := m.entry(fs.PFN)
			*e = PFNEntry{flink: fs.Flink, blink: fs.Blink, State: fs.State, Pageable: fs.Pageable, PageTable: fs.PageTable,
				Modified: fs.Modified, VA: fs.VA, Slot: fs.Slot}
		}
	}
	if i != len(s.Entries) {
		return bad("%d frame entries, more than the frames handed out", len(s.Entries))
	}
	if uint64(s.PML4) >= m.frames {
		return bad("PML4 frame %#x", uint64(s.PML4))
	}
	for r := RegionPagedPool; r < numRegions; r++ {
		m.regions[r] = newVARegion(r, len(m.nodes))
	}
	for _, rs := range s.Regions {
		if rs.Region < RegionPagedPool || rs.Region >= numRegions {
			return bad("region %d", rs.Region)
		}
		v := m.regions[rs.Region]
		v.next, v.mapped = rs.Next, rs.Mapped
		for _, e := range rs.Free {
			v.free.insert(extent{e.Base, e.Pages})
		}
		if len(rs.Idle) > len(v.idle) {
			return bad("idle lists for %d nodes", len(rs.Idle))
		}
		for i, list := range rs.Idle {
			for _, e := range list {
				v.idle[i].insert(extent{e.Base, e.Pages})
			}
		}
	}
	if s.Pagefile != nil {
		pf, err := pagefile.Restore(s.Pagefile, pagefilePath)
		if err != nil {
			return nil, err
		}
		m.Pagefile = pf
	}
	return m, nil
}

// RestoreFrameBytes gives frame f of a machine Restore built the bytes
// ForEachFrameBytes gave for it.
// Preconditions: f < Frames().
func (m *Machine) RestoreFrameBytes(f PFN, b *[PageBytes]byte) { *m.frameData(f) = *b }
