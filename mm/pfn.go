package mm

import "fmt"

// PageState is the list a frame is on, or Active when it is mapped.
type PageState uint8

// Frame states. Untouched frames have never been handed out: they read as
// zero, have no PFN entry materialised yet, and count as zeroed.
const (
	StateZeroed PageState = iota
	StateFree
	StateStandby
	StateModified
	StateActive
)

// String names the state as !pfn prints it.
func (s PageState) String() string {
	return [...]string{"Zeroed", "Free", "Standby", "Modified", "Active"}[s]
}

// noFrame ends a list.
const noFrame = ^uint32(0)

// PFNEntry is the PFN database entry of one frame.
type PFNEntry struct {
	// flink and blink link the frame into the list its State names
	// (Zeroed, Free, Standby, Modified), or into the system working
	// set when it is Active and Pageable.
	flink, blink uint32

	State PageState

	// Pageable frames back paged pool; they are on the working-set list
	// while Active and may be trimmed. Page-table and nonpaged frames are
	// never trimmed.
	Pageable  bool
	PageTable bool

	// Modified: the frame's bytes differ from its pagefile copy (or it
	// has none). A trimmed modified frame goes to the Modified list.
	Modified bool

	// VA is the address this frame maps while Active or in transition;
	// its PTE is the one at LevelPTE.EntryAddress(VA) (PteAddress in
	// Windows' MMPFN).
	VA VA

	// Slot is the pagefile slot holding a copy of the frame (0: none).
	// It stays reserved while the page is clean in memory so a clean
	// page can be dropped without a write.
	Slot uint64
}

// pfnList is a doubly linked list of frames threaded through PFN entries.
type pfnList struct {
	head, tail uint32
	count      uint64
}

func newList() pfnList { return pfnList{head: noFrame, tail: noFrame} }

// frameChunk holds the PFN entries and bytes of chunkFrames consecutive
// frames. Chunks, and each frame's bytes, are made on first use, so a
// large machine that touches little costs little (see mheap.arenas in the
// Go runtime for the same idea).
const chunkFrames = 512

type frameChunk struct {
	pfn  [chunkFrames]PFNEntry
	data [chunkFrames]*[PageBytes]byte
}

// entry returns the PFN entry of f, materialising its chunk.
func (m *Machine) entry(f PFN) *PFNEntry {
	c := m.chunks[f/chunkFrames]
	if c == nil {
		c = m.newChunk(f)
	}
	return &c.pfn[f%chunkFrames]
}

func (m *Machine) newChunk(f PFN) *frameChunk {
	c := &frameChunk{}
	for i := range c.pfn {
		c.pfn[i].flink, c.pfn[i].blink = noFrame, noFrame
	}
	m.chunks[f/chunkFrames] = c
	return c
}

// frameData returns the bytes of frame f, materialising them.
func (m *Machine) frameData(f PFN) *[PageBytes]byte {
	c := m.chunks[f/chunkFrames]
	if c == nil {
		c = m.newChunk(f)
	}
	d := c.data[f%chunkFrames]
	if d == nil {
		d = new([PageBytes]byte)
		c.data[f%chunkFrames] = d
	}
	return d
}

// peekFrame returns f's bytes if they exist, or nil for a never-touched
// (all-zero) frame. It never materialises anything.
func (m *Machine) peekFrame(f PFN) *[PageBytes]byte {
	if c := m.chunks[f/chunkFrames]; c != nil {
		return c.data[f%chunkFrames]
	}
	return nil
}

func (m *Machine) pushTail(l *pfnList, f PFN) {
	e := m.entry(f)
	e.flink, e.blink = noFrame, l.tail
	if l.tail == noFrame {
		l.head = uint32(f)
	} else {
		m.entry(PFN(l.tail)).flink = uint32(f)
	}
	l.tail = uint32(f)
	l.count++
}

func (m *Machine) unlink(l *pfnList, f PFN) {
	e := m.entry(f)
	if e.blink == noFrame {
		l.head = e.flink
	} else {
		m.entry(PFN(e.blink)).flink = e.flink
	}
	if e.flink == noFrame {
		l.tail = e.blink
	} else {
		m.entry(PFN(e.flink)).blink = e.blink
	}
	e.flink, e.blink = noFrame, noFrame
	l.count--
}

// popHead removes and returns the oldest frame of l.
func (m *Machine) popHead(l *pfnList) (PFN, bool) {
	if l.head == noFrame {
		return 0, false
	}
	f := PFN(l.head)
	m.unlink(l, f)
	return f, true
}

// listOf returns the list frame f belongs to in its state, e's.
func (m *Machine) listOf(f PFN, e *PFNEntry) *pfnList {
	switch e.State {
	case StateZeroed:
		return &m.nodes[m.nodeOf(f)].zeroed
	case StateFree:
		return &m.nodes[m.nodeOf(f)].free
	case StateStandby:
		return &m.standby
	case StateModified:
		return &m.modified
	case StateActive:
		if e.Pageable {
			return &m.workingSet
		}
	}
	return nil
}

// setState moves f from its list to the tail of the list for s and
// pageable. A frame's list, or the Active nonpageable count, follows from
// State and Pageable together, so both change here; only activate, for a
// frame off every list, sets them itself.
func (m *Machine) setState(f PFN, s PageState, pageable bool) {
	e := m.entry(f)
	if l := m.listOf(f, e); l != nil {
		m.unlink(l, f)
	} else if e.State == StateActive {
		m.activeNonpageable--
	}
	e.State, e.Pageable = s, pageable
	if l := m.listOf(f, e); l != nil {
		m.pushTail(l, f)
	} else {
		m.activeNonpageable++
	}
}

// nodeOf returns the NUMA node owning frame f: the node i whose range
// [i*frames/nodes, (i+1)*frames/nodes), as New rounds it, holds f. That is
// the largest i with i*frames < (f+1)*nodes.
func (m *Machine) nodeOf(f PFN) int {
	return int(((uint64(f)+1)*uint64(len(m.nodes)) - 1) / m.frames)
}

// FrameInfo is what !pfn shows of one frame.
type FrameInfo struct {
	PFN        PFN
	State      PageState
	Pageable   bool
	PageTable  bool
	Modified   bool
	VA         VA
	PTEAddress VA
	Slot       uint64
	Node       int
	Touched    bool // false: never handed out, reads as zero
}

// Frame returns the PFN database view of f.
func (m *Machine) Frame(f PFN) (FrameInfo, error) {
	if uint64(f) >= m.frames {
		return FrameInfo{}, fmt.Errorf("0x%x is not a valid page frame number (the machine has 0x%x frames)", uint64(f), m.frames)
	}
	fi := FrameInfo{PFN: f, Node: m.nodeOf(f)}
	n := &m.nodes[fi.Node]
	if uint64(f) >= n.next {
		fi.State = StateZeroed
		return fi, nil
	}
	e := m.entry(f)
	fi.Touched = true
	fi.State, fi.Pageable, fi.PageTable, fi.Modified, fi.Slot = e.State, e.Pageable, e.PageTable, e.Modified, e.Slot
	if e.State == StateActive || e.State == StateStandby || e.State == StateModified {
		fi.VA = e.VA
		fi.PTEAddress = LevelPTE.EntryAddress(e.VA)
	}
	return fi, nil
}
