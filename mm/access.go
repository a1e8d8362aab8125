package mm

import (
	"encoding/binary"

	"simkern/cpu"
)

// Reads and writes through translation. Each access first asks the CPU's
// TLB; a hit costs one compare and touches the frame's bytes directly. A
// miss, or a write to a page whose D bit is still clear, takes
// translateSlow, which walks the tables, resolves a fault if there is one,
// sets A and D, and fills the TLB. A halted machine has empty TLBs (Halt
// flushes them), so the hit paths need not ask whether it halted: every
// access of a halted machine misses and gets the bugcheck from the slow
// path.

// ReadU64 reads the little-endian u64 at va. The TLB-hit path is a few
// instructions; everything else is readU64Slow.
func (m *Machine) ReadU64(c *cpu.CPU, va VA) (uint64, error) {
	if va&7 == 0 {
		if d := c.TLB.Cached(uint64(va), false); d != nil {
			return binary.LittleEndian.Uint64(d[va&(PageBytes-8):]), nil
		}
	}
	return m.readU64Slow(c, va)
}

func (m *Machine) readU64Slow(c *cpu.CPU, va VA) (uint64, error) {
	off := va.PageOffset()
	if off > PageBytes-8 { // it straddles two pages
		var b [8]byte
		if err := m.Read(c, va, b[:]); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	// The TLB was asked once already: walk without asking again.
	data, err := m.translateSlow(c, va, false)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(data[off:]), nil
}

// WriteU64 writes v little-endian at va, as cheaply as ReadU64 on a TLB
// hit to a page whose D bit is set.
func (m *Machine) WriteU64(c *cpu.CPU, va VA, v uint64) error {
	if va&7 == 0 {
		if d := c.TLB.Cached(uint64(va), true); d != nil {
			binary.LittleEndian.PutUint64(d[va&(PageBytes-8):], v)
			return nil
		}
	}
	return m.writeU64Slow(c, va, v)
}

func (m *Machine) writeU64Slow(c *cpu.CPU, va VA, v uint64) error {
	off := va.PageOffset()
	if off > PageBytes-8 { // it straddles two pages
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		return m.Write(c, va, b[:])
	}
	data, err := m.translateSlow(c, va, true)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(data[off:], v)
	return nil
}

// Read copies len(buf) bytes from va, page by page.
func (m *Machine) Read(c *cpu.CPU, va VA, buf []byte) error {
	for len(buf) > 0 {
		data, err := m.Page(c, va, false)
		if err != nil {
			return err
		}
		n := copy(buf, data[va.PageOffset():])
		buf = buf[n:]
		va += VA(n)
	}
	return nil
}

// Write copies data to va, page by page.
func (m *Machine) Write(c *cpu.CPU, va VA, data []byte) error {
	for len(data) > 0 {
		page, err := m.Page(c, va, true)
		if err != nil {
			return err
		}
		n := copy(page[va.PageOffset():], data)
		data = data[n:]
		va += VA(n)
	}
	return nil
}

// Fill writes n copies of b at va.
func (m *Machine) Fill(c *cpu.CPU, va VA, b byte, n uint64) error {
	for n > 0 {
		page, err := m.Page(c, va, true)
		if err != nil {
			return err
		}
		chunk := page[va.PageOffset():]
		if uint64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		for i := range chunk {
			chunk[i] = b
		}
		n -= uint64(len(chunk))
		va += VA(len(chunk))
	}
	return nil
}

// Page returns the bytes of the page holding va, ready for reading or
// (with write) writing, resolving any page fault on the way; it is what
// one access costs, for code that then makes many in the same page. On
// an error (the machine halted) the bytes are nil.
//
// The bytes are valid until the next call into the machine that can take
// a frame (an access to another page, an allocation, a trim or a
// page-out), because that may trim and reuse this page's frame. Callers
// use them for the accesses of one operation within one page, nothing
// more.
//
// They come as a slice of PageBytes, not a pointer to the frame's array:
// Go checks a pointer for nil by reading through it, a read of the page's
// first cache line (a host cache miss of its own when the access is
// elsewhere in the page) in every function that takes one, where a
// slice's bounds check compares its length and reads nothing.
func (m *Machine) Page(c *cpu.CPU, va VA, write bool) ([]byte, error) {
	if d := c.TLB.Cached(uint64(va), write); d != nil {
		return d[:], nil
	}
	d, err := m.translateSlow(c, va, write)
	if d == nil {
		return nil, err
	}
	return d[:], nil
}

// translateSlow is Page after the TLB has been asked: it walks the
// tables, and counts the TLB miss that made it walk.
func (m *Machine) translateSlow(c *cpu.CPU, va VA, write bool) (*[PageBytes]byte, error) {
	if m.halted != nil {
		return nil, m.halted
	}
	c.TLB.Misses++
	for range 2 { // a resolved fault is followed by one more walk
		leaf, p, missing, ok := m.walk(va)
		if va.Canonical() && p.Valid() && (!ok || m.badFrame(p)) {
			return nil, m.Halt(corruptPTE(missing.EntryAddress(va), p))
		}
		// walk looks at bits 47-12 only, so a non-canonical address would
		// reach the page of its canonical twin: let fault refuse it.
		if ok && p.Valid() && va.Canonical() {
			table := m.frameData(leaf)
			i := LevelPTE.index(va)
			np := p | pteAccessed
			if write {
				np |= pteDirty
			}
			if np != p {
				writePTE(table, i, np)
			}
			data := m.frameData(p.Frame())
			// A write into a page table (through the self-map, as a
			// scenario's write: may do) can change any translation, so
			// each one comes here, never a TLB hit, and every CPU's TLB
			// is flushed before the caller writes.
			inTable := m.entry(p.Frame()).PageTable
			if write && inTable {
				m.CPUs.FlushAll()
			}
			c.TLB.Insert(uint64(va), data, np.Dirty() && !inTable)
			return data, nil
		}
		if err := m.fault(c, va, write, p, missing, ok); err != nil {
			return nil, m.Halt(err)
		}
	}
	panic("mm: a resolved page fault left the PTE invalid at " + va.String())
}
