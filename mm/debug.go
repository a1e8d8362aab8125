package mm

import "encoding/binary"

// What the debugger reads. Nothing here faults, materialises memory or
// changes any state: a debugger looks, it does not touch.

// PTEEntry is one level of a translation as !pte prints it.
type PTEEntry struct {
	Level   Level
	Address VA   // where the entry lives (self-map address)
	Value   PTE  // its contents
	Present bool // false: a table above it is missing, so it has no contents
}

// PTEChain returns va's PXE, PPE, PDE and PTE.
func (m *Machine) PTEChain(va VA) [4]PTEEntry {
	var out [4]PTEEntry
	f := m.pml4
	present := true
	for l := LevelPXE; l <= LevelPTE; l++ {
		out[l] = PTEEntry{Level: l, Address: l.EntryAddress(va), Present: present}
		if !present {
			continue
		}
		p := readPTE(m.frameOrZero(f), l.index(va))
		out[l].Value = p
		if !p.Valid() || m.badFrame(p) {
			present = false
			continue
		}
		f = p.Frame()
	}
	return out
}

// PTE returns va's leaf PTE, or 0 when a table above it is missing.
func (m *Machine) PTE(va VA) PTE { return m.pteOf(va) }

// Resident reports whether va's page is in memory: valid, or a transition
// page whose frame still holds its bytes.
func (m *Machine) Resident(va VA) bool {
	p := m.pteOf(va)
	return p.Valid() || p.Transition()
}

// Peek copies bytes from va into buf without faulting, as a debugger reads
// memory. It stops at the first page that is not resident and returns the
// bytes copied.
func (m *Machine) Peek(va VA, buf []byte) int {
	done := 0
	for done < len(buf) {
		p := m.pteOf(va)
		if !p.Valid() && !p.Transition() || m.badFrame(p) {
			break
		}
		n := copy(buf[done:], m.frameOrZero(p.Frame())[va.PageOffset():])
		done += n
		va += VA(n)
	}
	return done
}

// PeekU64 reads a u64 as Peek does; ok is false if it is not resident.
func (m *Machine) PeekU64(va VA) (v uint64, ok bool) {
	var b [8]byte
	if m.Peek(va, b[:]) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// Commit returns the committed pages and the commit limit.
func (m *Machine) Commit() (pages, limit uint64) { return m.commitPages, m.commitLimitPages }
