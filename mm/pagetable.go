package mm

import "encoding/binary"

func readPTE(table *[PageBytes]byte, i uint64) PTE {
	return PTE(binary.LittleEndian.Uint64(table[i*8:]))
}

func writePTE(table *[PageBytes]byte, i uint64, p PTE) {
	binary.LittleEndian.PutUint64(table[i*8:], uint64(p))
}

// table returns the bytes of a page-table frame, or a shared zero page for
// a frame never written (a zero table maps nothing).
func (m *Machine) table(f PFN) *[PageBytes]byte {
	if d := m.peekFrame(f); d != nil {
		return d
	}
	return &zeroPage
}

var zeroPage [PageBytes]byte

// walk follows va down the page tables. It returns the leaf table frame
// and va's PTE there, or the level whose entry is not valid (the PTE of
// that level is returned then). ok is true when the walk reached the leaf.
func (m *Machine) walk(va VA) (leaf PFN, pte PTE, missing Level, ok bool) {
	f := m.pml4
	for l := LevelPXE; l < LevelPTE; l++ {
		p := readPTE(m.table(f), l.index(va))
		if !p.Valid() {
			return 0, p, l, false
		}
		f = p.Frame()
	}
	return f, readPTE(m.table(f), LevelPTE.index(va)), LevelPTE, true
}

// ensureTables makes sure every table above va's PTE exists and returns
// the leaf table's frame. Table frames are nonpageable and zeroed.
func (m *Machine) ensureTables(va VA) (PFN, bool) {
	f := m.pml4
	for l := LevelPXE; l < LevelPTE; l++ {
		t := m.frameData(f)
		i := l.index(va)
		p := readPTE(t, i)
		if !p.Valid() {
			// A page table is memory like any other: it is charged
			// against the commit limit, so that the frames cannot run out
			// while commit still says there is room.
			if !m.charge(1) {
				return 0, false
			}
			nf, ok := m.getFrame(m.nodeOf(f), true)
			if !ok {
				m.commitPages--
				return 0, false
			}
			e := m.entry(nf)
			e.PageTable = true
			e.VA = (l + 1).EntryAddress(va).PageBase()
			m.stats.PageTablePages++
			p = tablePTE(nf)
			writePTE(t, i, p)
		}
		f = p.Frame()
	}
	return f, true
}

// setPTE writes va's PTE, whose tables must exist, and shoots down the
// old translation on every CPU.
func (m *Machine) setPTE(va VA, p PTE) {
	leaf, _, _, ok := m.walk(va)
	if !ok {
		panic("mm: setPTE on an address without page tables: " + va.String())
	}
	writePTE(m.frameData(leaf), LevelPTE.index(va), p)
	m.CPUs.Shootdown(uint64(va))
}

// pteOf returns va's PTE, or 0 when a table above it is missing.
func (m *Machine) pteOf(va VA) PTE {
	_, p, _, ok := m.walk(va)
	if !ok {
		return 0
	}
	return p
}
