package mm

import (
	"fmt"
	"math/rand/v2"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/pagefile"
)

// Snapshot is the whole machine as a crash dump holds it: every frame that
// was ever handed out (its PFN entry and bytes), the free lists, the
// address-space bookkeeping, the counters, the CPUs and the pagefile. TLBs
// are caches and are not kept. A restored machine answers every debugger
// question as the original did; it is for looking at, not for running on
// (injected faults and the random generator are not kept).
type Snapshot struct {
	Frames            uint64
	Nodes             []NodeSnapshot
	Standby, Modified ListSnapshot
	Bad, WorkingSet   ListSnapshot
	ActiveNonpageable uint64
	PML4              PFN
	Entries           []FrameSnapshot // frames ever handed out, ascending
	Regions           []RegionSnapshot
	CommitPages       uint64
	CommitLimitPages  uint64
	LastWriteStatus   uint32
	Stats             Stats
	Halted            *bugcheck.Error
	Pagefile          *pagefile.Snapshot // nil: no pagefile
	CPUs              []CPUSnapshot
	NUMANodes         int
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

// FrameSnapshot is one frame's PFN entry and bytes (nil: never written).
type FrameSnapshot struct {
	PFN                           PFN
	Flink, Blink                  uint32
	State                         PageState
	Pageable, PageTable, Modified bool
	VA                            VA
	Slot                          uint64
	Data                          []byte
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

// Snapshot copies the machine. It changes nothing.
func (m *Machine) Snapshot() (*Snapshot, error) {
	s := &Snapshot{
		Frames: m.frames, Standby: listSnap(m.standby), Modified: listSnap(m.modified),
		Bad: listSnap(m.bad), WorkingSet: listSnap(m.workingSet), ActiveNonpageable: m.activeNonpageable,
		PML4: m.pml4, CommitPages: m.commitPages, CommitLimitPages: m.commitLimitPages,
		LastWriteStatus: m.lastWriteStatus, Stats: m.stats, Halted: m.halted, NUMANodes: len(m.nodes),
	}
	for i := range m.nodes {
		n := &m.nodes[i]
		s.Nodes = append(s.Nodes, NodeSnapshot{n.first, n.next, n.end, listSnap(n.zeroed), listSnap(n.free)})
		for f := n.first; f < n.next; f++ {
			e := m.entry(PFN(f))
			fs := FrameSnapshot{PFN: PFN(f), Flink: e.flink, Blink: e.blink, State: e.State, Pageable: e.Pageable,
				PageTable: e.PageTable, Modified: e.Modified, VA: e.VA, Slot: e.Slot}
			if d := m.peekFrame(PFN(f)); d != nil {
				fs.Data = append([]byte(nil), d[:]...)
			}
			s.Entries = append(s.Entries, fs)
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
		ps, err := m.Pagefile.Snapshot()
		if err != nil {
			return nil, err
		}
		s.Pagefile = ps
	}
	return s, nil
}

// Restore builds a machine from a snapshot, with its pagefile in a
// temporary file (or at pagefilePath). It checks what it can of the
// snapshot's consistency, so a damaged dump is an error, not a panic.
func Restore(s *Snapshot, pagefilePath string) (*Machine, error) {
	bad := func(format string, args ...any) (*Machine, error) {
		return nil, fmt.Errorf("mm: damaged snapshot: "+format, args...)
	}
	if s.Frames < MinRAMBytes/PageBytes || s.Frames > MaxRAMBytes/PageBytes {
		return bad("%d frames", s.Frames)
	}
	if len(s.CPUs) < 1 || s.NUMANodes < 1 || len(s.Nodes) != s.NUMANodes {
		return bad("%d CPUs, %d NUMA nodes, %d node records", len(s.CPUs), s.NUMANodes, len(s.Nodes))
	}
	cpus, err := cpu.NewSet(len(s.CPUs), s.NUMANodes)
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
		commitPages: s.CommitPages, commitLimitPages: s.CommitLimitPages, lastWriteStatus: s.LastWriteStatus,
		stats: s.Stats, halted: s.Halted}
	m.chunks = make([]*frameChunk, (m.frames+chunkFrames-1)/chunkFrames)
	m.standby, m.modified, m.bad, m.workingSet = listRestore(s.Standby), listRestore(s.Modified), listRestore(s.Bad), listRestore(s.WorkingSet)
	for _, n := range s.Nodes {
		if n.First > n.Next || n.Next > n.End || n.End > m.frames {
			return bad("node frames %d..%d..%d", n.First, n.Next, n.End)
		}
		m.nodes = append(m.nodes, nodeFrames{first: n.First, next: n.Next, end: n.End, zeroed: listRestore(n.Zeroed), free: listRestore(n.Free)})
	}
	for _, fs := range s.Entries {
		if uint64(fs.PFN) >= m.frames || fs.Data != nil && len(fs.Data) != PageBytes || fs.State > StateBad {
			return bad("frame %#x", uint64(fs.PFN))
		}
		e := m.entry(fs.PFN)
		*e = PFNEntry{flink: fs.Flink, blink: fs.Blink, State: fs.State, Pageable: fs.Pageable, PageTable: fs.PageTable,
			Modified: fs.Modified, VA: fs.VA, Slot: fs.Slot}
		if fs.Data != nil {
			copy(m.frameData(fs.PFN)[:], fs.Data)
		}
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
