package mm

import "fmt"

// FlipBit flips one bit of physical memory, as a failing DIMM would: bit
// (0..63) of the u64 at word (0..511) of frame f. Nothing notices until
// something reads those bytes: that is the point. A frame never used
// reads as zero until written, so flipping one materialises it.
func (m *Machine) FlipBit(f PFN, word int, bit uint8) error {
	if uint64(f) >= m.frames || word < 0 || word >= PageBytes/8 || bit > 63 {
		return fmt.Errorf("mm: no bit %d of word %d in frame %#x (the machine has %#x frames)", bit, word, uint64(f), m.frames)
	}
	d := m.frameData(f)
	d[word*8+int(bit/8)] ^= 1 << (bit % 8)
	if m.entry(f).PageTable {
		m.CPUs.FlushAll() // the flip may have changed a translation
	}
	return nil
}
