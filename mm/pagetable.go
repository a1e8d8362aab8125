package mm

import (
	"encoding/binary"

	"simkern/bugcheck"
)

func readPTE(table *[PageBytes]byte, i uint64) PTE {
	return PTE(binary.LittleEndian.Uint64(table[i*8:]))
}

func writePTE(table *[PageBytes]byte, i uint64, p PTE) {
	binary.LittleEndian.PutUint64(table[i*8:], uint64(p))
}

// frameOrZero returns the bytes of frame f for reading, or a shared zero
// page for a frame never written: a page table that maps nothing, a data
// page that holds zeros.
func (m *Machine) frameOrZero(f PFN) *[PageBytes]byte {
	if d := m.peekFrame(f); d != nil {
		return d
	}
	return &zeroPage
}

var zeroPage [PageBytes]byte

// walk follows va down the page tables. It returns the leaf table frame
// and va's PTE there, or the level whose entry stopped the walk and that
// entry: one not valid, or one valid but naming no frame of the machine
// (corrupt, see corruptPTE). ok is true when the walk reached the leaf.
func (m *Machine) walk(va VA) (leaf PFN, pte PTE, missing Level, ok bool) {
	f := m.pml4
	for l := LevelPXE; l < LevelPTE; l++ {
		p := readPTE(m.frameOrZero(f), l.index(va))
		if !p.Valid() || m.badFrame(p) {
			return 0, p, l, false
		}
		f = p.Frame()
	}
	return f, readPTE(m.frameOrZero(f), LevelPTE.index(va)), LevelPTE, true
}

// Page tables are memory like any other: a stray write through the
// self-map or a bit flip can put anything in them. So the memory manager
// never follows a table entry it cannot vouch for: a valid or transition
// entry must name one of the machine's frames (badFrame), a transition
// PTE the frame in transition for its address, a pagefile PTE a slot its
// page owns outright (slotHolds), and an idle nonpaged page given back
// must still be mapped to a nonpageable frame. An entry that does not is
// MEMORY_MANAGEMENT 0x41792, a corrupted PTE, when the processor or the
// memory manager meets it; page tables missing under a page the PFN
// database says is mapped are 0x61941, a corrupt paging hierarchy.
// Windows raises these two for the same finds (docs/mm.md says where
// simkern looks).

// badFrame reports whether p, read as a valid or transition entry, names
// a frame past the machine's memory.
func (m *Machine) badFrame(p PTE) bool { return uint64(p.Frame()) >= m.frames }

// corruptPTE is the bugcheck for the entry p found at address at.
func corruptPTE(at VA, p PTE) *bugcheck.Error {
	return bugcheck.New(bugcheck.MemoryManagement, 0x41792, uint64(at), uint64(p)&0xffffffff, uint64(p)>>32).At("MiCheckPte: corrupted PTE")
}

// corruptTables is the bugcheck for a page the PFN database maps whose
// page tables are gone.
func corruptTables(va VA) *bugcheck.Error {
	return bugcheck.New(bugcheck.MemoryManagement, 0x61941, uint64(va), 0, 0).At("MiLocatePte: paging hierarchy corrupt")
}

// ensureTables makes sure every table above va's PTE exists and returns
// the leaf table's frame. Table frames are nonpageable and zeroed.
func (m *Machine) ensureTables(va VA) (PFN, bool) {
	f := m.pml4
	for l := LevelPXE; l < LevelPTE; l++ {
		t := m.frameData(f)
		i := l.index(va)
		p := readPTE(t, i)
		if p.Valid() && m.badFrame(p) {
			m.Halt(corruptPTE(l.EntryAddress(va), p))
			return 0, false
		}
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
			// A TLB may hold this frame for writing under another address
			// (a PTE a corruption pointed at it while it was free): from
			// now on writes to it must walk, and flush (translateSlow).
			m.CPUs.FlushAll()
			p = tablePTE(nf)
			writePTE(t, i, p)
		}
		f = p.Frame()
	}
	return f, true
}

// setPTE writes va's PTE and shoots down the old translation on every
// CPU. va is a page the memory manager mapped, so its tables exist unless
// something wrote over them: then the machine halts (corruptTables).
func (m *Machine) setPTE(va VA, p PTE) {
	leaf, _, _, ok := m.walk(va)
	if !ok {
		m.Halt(corruptTables(va))
		return
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
