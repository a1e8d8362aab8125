package pagefile

import (
	"fmt"
	"math/bits"

	"simkern/internal/invariants"
)

// The slot bitmap: two levels, chunks allocated on first use. See doc.go,
// "The sparse bitmap".
const (
	chunkWords = 64
	chunkSlots = chunkWords * 64 // 4096 slots (16 MiB of pagefile) per chunk
)

// slotChunk is one piece of the bitmap, covering chunkSlots slots starting
// at a multiple of chunkSlots.
type slotChunk struct {
	// Bit b of words[w] is set iff slot chunkBase+w*64+b is in use.
	// Invariant: bits for slot 0 and for slots >= Pagefile.slots are never set.
	words [chunkWords]uint64

	// Invariant: used == the number of bits set in words, and used > 0 for
	// a chunk reachable from Pagefile.chunks.
	used uint32

	// owners[i] is what the caller said holds slot chunkBase+i.
	// Invariant: 0 for a slot not in use.
	owners [chunkSlots]uint64
}

// slotBitmap tracks which slots are in use.
type slotBitmap struct {
	// slots is the number of slots, slot 0 included. Invariant: >= 2.
	slots uint64

	// chunks[i] covers slots [i*chunkSlots, (i+1)*chunkSlots), or is nil
	// when none of them is in use. len(chunks) == ceil(slots/chunkSlots).
	chunks []*slotChunk

	// spare is an empty chunk kept from the last release, so a slot that
	// goes in and out does not allocate a chunk each time. May be nil.
	spare *slotChunk

	// hint is the lowest slot that may be free.
	// Invariant: 1 <= hint <= slots, and every slot in [1, hint) is in use.
	hint uint64

	// used counts the slots in use; peak is the highest used has been.
	// Invariant: used == the sum of chunks[i].used; used <= slots-1.
	used, peak uint64
}

func newSlotBitmap(slots uint64) slotBitmap {
	return slotBitmap{
		slots:  slots,
		chunks: make([]*slotChunk, (slots+chunkSlots-1)/chunkSlots),
		hint:   1,
	}
}

// inUse reports whether slot is allocated. Slot 0 and slots out of range
// never are.
func (m *slotBitmap) inUse(slot uint64) bool {
	if slot == 0 || slot >= m.slots {
		return false
	}
	c := m.chunks[slot/chunkSlots]
	if c == nil {
		return false
	}
	i := slot % chunkSlots
	return c.words[i/64]&(1<<(i%64)) != 0
}

// allocate takes the lowest free slot.
func (m *slotBitmap) allocate() (uint64, bool) {
	for ci := m.hint / chunkSlots; ci < uint64(len(m.chunks)); ci++ {
		base := ci * chunkSlots
		from := uint64(0) // first slot within the chunk worth looking at
		if m.hint > base {
			from = m.hint - base
		}
		c := m.chunks[ci]
		if c == nil {
			return m.take(ci, base+from)
		}
		if c.used == chunkSlots {
			continue
		}
		for w := from / 64; w < chunkWords; w++ {
			free := ^c.words[w]
			if w == from/64 {
				free &^= 1<<(from%64) - 1 // below the hint: all in use
			}
			if free != 0 {
				return m.take(ci, base+w*64+uint64(bits.TrailingZeros64(free)))
			}
		}
	}
	m.hint = m.slots
	return 0, false
}

// owner returns what holds slot, 0 when it is not in use.
func (m *slotBitmap) owner(slot uint64) uint64 {
	if !m.inUse(slot) {
		return 0
	}
	return m.chunks[slot/chunkSlots].owners[slot%chunkSlots]
}

// setOwner records what holds slot. Preconditions: slot is in use.
func (m *slotBitmap) setOwner(slot, owner uint64) {
	m.chunks[slot/chunkSlots].owners[slot%chunkSlots] = owner
}

// take marks slot, found free by allocate, in use. slot may be past the
// end of the pagefile (the last chunk is partial), and then it is full.
func (m *slotBitmap) take(ci, slot uint64) (uint64, bool) {
	if slot >= m.slots {
		m.hint = m.slots
		return 0, false
	}
	c := m.chunks[ci]
	if c == nil {
		c, m.spare = m.spare, nil
		if c == nil {
			c = new(slotChunk)
		}
		m.chunks[ci] = c
	}
	i := slot % chunkSlots
	c.words[i/64] |= 1 << (i % 64)
	c.used++
	m.used++
	m.peak = max(m.peak, m.used)
	m.hint = slot + 1
	if invariants.Enabled {
		m.checkChunk(ci)
	}
	return slot, true
}

// release frees slot. Preconditions: slot is in use (the caller checked).
func (m *slotBitmap) release(slot uint64) {
	ci := slot / chunkSlots
	c := m.chunks[ci]
	i := slot % chunkSlots
	c.words[i/64] &^= 1 << (i % 64)
	c.owners[i] = 0
	c.used--
	m.used--
	m.hint = min(m.hint, slot)
	if invariants.Enabled {
		m.checkChunk(ci)
	}
	if c.used == 0 {
		// Every word is zero again, so the chunk can be reused as it is.
		m.chunks[ci] = nil
		m.spare = c
	}
}

// forEach calls fn for each slot in use, in ascending order, until fn
// returns false.
func (m *slotBitmap) forEach(fn func(slot uint64) bool) {
	for ci, c := range m.chunks {
		if c == nil {
			continue
		}
		for w := range c.words {
			for word := c.words[w]; word != 0; {
				b := uint64(bits.TrailingZeros64(word))
				word &= word - 1
				if !fn(uint64(ci)*chunkSlots + uint64(w)*64 + b) {
					return
				}
			}
		}
	}
}

// checkChunk panics if chunk ci's count disagrees with its bits. It costs
// a pass over the chunk, so it runs only under invariants.
func (m *slotBitmap) checkChunk(ci uint64) {
	c := m.chunks[ci]
	n := 0
	for _, w := range c.words {
		n += bits.OnesCount64(w)
	}
	if uint32(n) != c.used {
		panic(fmt.Sprintf("pagefile: chunk %d believes %d slots are in use; its bitmap holds %d", ci, c.used, n))
	}
}

// check panics if any invariant of the bitmap is broken. It walks every
// chunk; tests and the fuzzer call it.
func (m *slotBitmap) check() {
	if m.hint < 1 || m.hint > m.slots {
		panic(fmt.Sprintf("pagefile: hint %d outside [1, %d]", m.hint, m.slots))
	}
	var total uint64
	for ci, c := range m.chunks {
		if c == nil {
			continue
		}
		if c.used == 0 {
			panic(fmt.Sprintf("pagefile: chunk %d is empty but still reachable", ci))
		}
		m.checkChunk(uint64(ci))
		// Owners are checked here only: a pass over them costs 64 times
		// the words', too much for every take and release.
		for i, o := range c.owners {
			if o != 0 && c.words[i/64]&(1<<(i%64)) == 0 {
				panic(fmt.Sprintf("pagefile: free slot %d has owner %#x", uint64(ci)*chunkSlots+uint64(i), o))
			}
		}
		total += uint64(c.used)
	}
	if total != m.used {
		panic(fmt.Sprintf("pagefile: bitmap believes %d slots are in use; its chunks hold %d", m.used, total))
	}
	if m.inUse(0) || (m.chunks[0] != nil && m.chunks[0].words[0]&1 != 0) {
		panic("pagefile: reserved slot 0 is marked in use")
	}
	if last := m.chunks[len(m.chunks)-1]; last != nil {
		for s := m.slots; s < uint64(len(m.chunks))*chunkSlots; s++ {
			i := s % chunkSlots
			if last.words[i/64]&(1<<(i%64)) != 0 {
				panic(fmt.Sprintf("pagefile: slot %d is past the end (%d slots) but marked in use", s, m.slots))
			}
		}
	}
	for s := uint64(1); s < m.hint; s++ {
		if !m.inUse(s) {
			panic(fmt.Sprintf("pagefile: slot %d is free but below the hint %d", s, m.hint))
		}
	}
	if m.spare != nil && (m.spare.used != 0 || m.spare.words != [chunkWords]uint64{} || m.spare.owners != [chunkSlots]uint64{}) {
		panic("pagefile: the spare chunk is not empty")
	}
}
