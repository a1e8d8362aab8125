package mm

import (
	"fmt"
	"math/rand/v2"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/pagefile"
)

// Snapshot is the machine's bookkeeping as a crash dump holds it: the
// free lists, the address-space bookkeeping, the counters, the CPUs and
// the pagefile's. Neither the PFN entries nor the frames' bytes are in it,
// since both grow with the frames handed out: ForEachFrame reads each
// frame's entry and bytes from the machine one frame at a time, and
// RestoreFrames puts them back, so a dump never holds a second copy of
// the PFN database or of memory. TLBs are caches and are not kept. A
// restored machine answers every debugger question as the original did;
// it is for looking at, not for running on (injected faults and the random
// generator are not kept).
type Snapshot struct {
	Frames            uint64
	Nodes             []NodeSnapshot
	Standby, Modified ListSnapshot
	WorkingSet        ListSnapshot
	ActiveNonpageable uint64
	PML4              PFN
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

// FrameSnapshot is one frame's PFN entry, as ForEachFrame gives it and
// RestoreFrames takes it.
type FrameSnapshot struct {
	PFN                           PFN
	Flink, Blink                  uint32
	State                         PageState
	Pageable, PageTable, Modified bool
	VA                            VA
	Slot                          uint64
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
	for _, n := range m.nodes {
		s.Nodes = append(s.Nodes, NodeSnapshot{n.first, n.next, n.end, listSnap(n.zeroed), listSnap(n.free)})
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

// HandedOut returns the number of frames s's nodes have handed out: the
// frames ForEachFrame gives and RestoreFrames takes.
func (s *Snapshot) HandedOut() uint64 {
	n := uint64(0)
	for _, node := range s.Nodes {
		n += node.Next - node.First
	}
	return n
}

// ForEachFrame calls fn with the PFN entry of each frame ever handed out,
// node by node in ascending order, read from the machine's PFN database,
// and the frame's bytes, or nil for a frame never written (it reads as
// zeros). The bytes are the machine's own, not a copy: fn may read them
// during the call only. It changes nothing and allocates nothing.
// Preconditions: s was taken by Snapshot, and its machine has not
// changed since.
func (s *Snapshot) ForEachFrame(fn func(e FrameSnapshot, b *[PageBytes]byte) error) error {
	m := s.machine
	for _, n := range m.nodes {
		for f := PFN(n.first); f < PFN(n.next); f++ {
			e := &m.chunks[f/chunkFrames].pfn[f%chunkFrames] // a frame handed out has its chunk
			fs := FrameSnapshot{PFN: f, Flink: e.flink, Blink: e.blink, State: e.State,
				Pageable: e.Pageable, PageTable: e.PageTable, Modified: e.Modified, VA: e.VA, Slot: e.Slot}
			if err := fn(fs, m.peekFrame(f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restore builds a machine from a snapshot, with its pagefile in a
// temporary file (or at pagefilePath). It checks what it can of the
// snapshot's consistency, so a damaged dump is an error, not a panic.
// The machine is not whole until RestoreFrames has given the frames
// handed out their PFN entries and bytes, and pagefile.RestoreSlots the
// pagefile its slots: until then, use it for nothing else.
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

// RestoreFrames gives a machine Restore built the PFN entry and the bytes
// (nil: none) of each frame handed out, taken from next, which returns
// them in the order ForEachFrame gave them; the bytes need only last until
// the next call. It checks each entry is the frame due and in a state that
// exists, so a damaged dump is an error, and a dump costs what the machine
// it describes holds: no frame twice, none left out or never handed out.
// An error next returns ends it, as is.
// Preconditions: called once, on a machine Restore returned.
func (m *Machine) RestoreFrames(next func() (FrameSnapshot, *[PageBytes]byte, error)) error {
	for _, n := range m.nodes {
		for f := PFN(n.first); f < PFN(n.next); f++ {
			fs, b, err := next()
			if err != nil {
				return err
			}
			if fs.PFN != f {
				return fmt.Errorf("damaged machine snapshot: the entry of frame %#x where frame %#x's is due", uint64(fs.PFN), uint64(f))
			}
			if fs.State > StateActive {
				return fmt.Errorf("damaged machine snapshot: frame %#x in state %d", uint64(f), fs.State)
			}
			*m.entry(f) = PFNEntry{flink: fs.Flink, blink: fs.Blink, State: fs.State, Pageable: fs.Pageable,
				PageTable: fs.PageTable, Modified: fs.Modified, VA: fs.VA, Slot: fs.Slot}
			if b != nil {
				*m.frameData(f) = *b
			}
		}
	}
	return nil
}
