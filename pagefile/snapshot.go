package pagefile

import "fmt"

// Snapshot is the pagefile's bookkeeping as a crash dump holds it: the
// slots in use, their owners, and the counters. The slots' bytes are not
// in it: ForEachSlotBytes reads them from the host file a slot at a time,
// and RestoreSlotBytes puts them back. Injected faults are not kept: a
// dump is for looking at, not for running on.
type Snapshot struct {
	Bytes  uint64
	Slots  []uint64 // in use, ascending
	Owners []uint64 // Owners[i] owns Slots[i]
	Stats  Stats

	pagefile *Pagefile // taken from it; nil in a decoded snapshot
}

// Snapshot lists the slots in use. It changes nothing.
func (p *Pagefile) Snapshot() *Snapshot {
	s := &Snapshot{Bytes: p.bitmap.slots * SlotBytes, Stats: p.Stats(), pagefile: p,
		Slots: make([]uint64, 0, p.bitmap.used), Owners: make([]uint64, 0, p.bitmap.used)}
	p.ForEachUsed(func(slot uint64) bool {
		s.Slots = append(s.Slots, slot)
		s.Owners = append(s.Owners, p.bitmap.owner(slot))
		return true
	})
	return s
}

// ForEachSlotBytes calls fn with the bytes of each slot in s.Slots, in
// order. It reads the host file directly, so the counters and injected
// faults are untouched. The bytes are valid during the call only.
// Preconditions: s was taken by Snapshot, and its pagefile has not
// changed since.
func (s *Snapshot) ForEachSlotBytes(fn func(slot uint64, b *[SlotBytes]byte) error) error {
	p := s.pagefile
	for _, slot := range s.Slots {
		if err := p.readAt(slot); err != nil {
			return fmt.Errorf("pagefile: snapshot of slot %d: %w", slot, err)
		}
		if err := fn(slot, &p.scratch); err != nil {
			return err
		}
	}
	return nil
}

// Restore opens a new pagefile (a temporary file unless path is given)
// with the slots s lists in use. They read as zeros until
// RestoreSlotBytes gives them their bytes.
func Restore(s *Snapshot, path string) (*Pagefile, error) {
	if len(s.Owners) != len(s.Slots) {
		return nil, fmt.Errorf("pagefile: snapshot has %d slots but %d owners", len(s.Slots), len(s.Owners))
	}
	p, err := Open(Config{Bytes: s.Bytes, Path: path})
	if err != nil {
		return nil, err
	}
	prev := uint64(0)
	for i, slot := range s.Slots {
		if slot <= prev || slot >= p.bitmap.slots {
			p.Close()
			return nil, fmt.Errorf("pagefile: snapshot slot %d is out of order or out of range", slot)
		}
		prev = slot
		if s.Owners[i] == 0 {
			p.Close()
			return nil, fmt.Errorf("pagefile: snapshot slot %d has owner 0", slot)
		}
		p.bitmap.take(slot/chunkSlots, slot)
		p.bitmap.setOwner(slot, s.Owners[i])
	}
	p.bitmap.hint = 1
	for p.bitmap.hint < p.bitmap.slots && p.bitmap.inUse(p.bitmap.hint) {
		p.bitmap.hint++
	}
	p.bitmap.peak = max(s.Stats.Peak, p.bitmap.used)
	p.reads, p.writes, p.readErrors, p.writeErrors = s.Stats.Reads, s.Stats.Writes, s.Stats.ReadErrors, s.Stats.WriteErrors
	return p, nil
}

// RestoreSlotBytes gives slot of a pagefile Restore built the bytes
// ForEachSlotBytes gave for it. Unlike Write, it counts nothing.
// Preconditions: slot is in use.
func (p *Pagefile) RestoreSlotBytes(slot uint64, b *[SlotBytes]byte) error {
	if !p.bitmap.inUse(slot) {
		p.misuse("restoring", slot)
	}
	if _, err := p.file.WriteAt(b[:], int64(slot*SlotBytes)); err != nil {
		return fmt.Errorf("pagefile: restoring slot %d: %w", slot, err)
	}
	return nil
}
