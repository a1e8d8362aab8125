package pagefile

import "fmt"

// Snapshot is the pagefile as a crash dump holds it: the slots in use,
// their bytes, and the counters. Injected faults are not kept: a dump is
// for looking at, not for running on.
type Snapshot struct {
	Bytes  uint64
	Slots  []uint64 // in use, ascending
	Data   [][]byte // Data[i] holds Slots[i]
	Owners []uint64 // Owners[i] owns Slots[i]; empty in dumps older than owners
	Stats  Stats
}

// Snapshot copies every slot in use. It reads the host file directly, so
// the counters and injected faults are untouched.
func (p *Pagefile) Snapshot() (*Snapshot, error) {
	s := &Snapshot{Bytes: p.bitmap.slots * SlotBytes, Stats: p.Stats()}
	var err error
	p.ForEachUsed(func(slot uint64) bool {
		if err = p.readAt(slot); err != nil {
			err = fmt.Errorf("pagefile: snapshot of slot %d: %w", slot, err)
			return false
		}
		s.Slots = append(s.Slots, slot)
		s.Owners = append(s.Owners, p.bitmap.owner(slot))
		s.Data = append(s.Data, append([]byte(nil), p.scratch[:]...))
		return true
	})
	return s, err
}

// Restore opens a new pagefile (a temporary file unless path is given)
// holding what s holds.
func Restore(s *Snapshot, path string) (*Pagefile, error) {
	if len(s.Slots) != len(s.Data) || len(s.Owners) != 0 && len(s.Owners) != len(s.Slots) {
		return nil, fmt.Errorf("pagefile: snapshot has %d slots but %d slot contents and %d owners", len(s.Slots), len(s.Data), len(s.Owners))
	}
	p, err := Open(Config{Bytes: s.Bytes, Path: path})
	if err != nil {
		return nil, err
	}
	prev := uint64(0)
	for i, slot := range s.Slots {
		if slot <= prev || slot >= p.bitmap.slots || len(s.Data[i]) != SlotBytes {
			p.Close()
			return nil, fmt.Errorf("pagefile: snapshot slot %d is out of order, out of range or not %d bytes", slot, SlotBytes)
		}
		prev = slot
		p.bitmap.take(slot/chunkSlots, slot)
		if len(s.Owners) > 0 {
			p.bitmap.setOwner(slot, s.Owners[i])
		}
		if _, err := p.file.WriteAt(s.Data[i], int64(slot*SlotBytes)); err != nil {
			p.Close()
			return nil, fmt.Errorf("pagefile: restoring slot %d: %w", slot, err)
		}
	}
	p.bitmap.hint = 1
	for p.bitmap.hint < p.bitmap.slots && p.bitmap.inUse(p.bitmap.hint) {
		p.bitmap.hint++
	}
	p.bitmap.peak = max(s.Stats.Peak, p.bitmap.used)
	p.reads, p.writes, p.readErrors, p.writeErrors = s.Stats.Reads, s.Stats.Writes, s.Stats.ReadErrors, s.Stats.WriteErrors
	return p, nil
}
