package pagefile

import "fmt"

// Snapshot is the pagefile's bookkeeping as a crash dump holds it: its
// size and its counters, Stats.Used among them, the number of slots in
// use. The slots themselves are not in it, since they grow with the pages
// written out: ForEachSlot reads each slot in use, its owner and its
// bytes, from the pagefile a slot at a time, and RestoreSlots puts them
// back. Injected faults are not kept: a dump is for looking at, not for
// running on.
type Snapshot struct {
	Bytes uint64
	Stats Stats

	pagefile *Pagefile // taken from it; nil in a decoded snapshot
}

// SlotSnapshot is one slot in use and its owner, as ForEachSlot gives it
// and RestoreSlots takes it.
type SlotSnapshot struct {
	Slot, Owner uint64
}

// Snapshot takes the pagefile's counters. It changes nothing.
func (p *Pagefile) Snapshot() *Snapshot {
	return &Snapshot{Bytes: p.bitmap.slots * SlotBytes, Stats: p.Stats(), pagefile: p}
}

// ForEachSlot calls fn with each slot in use, in ascending order, its
// owner and its bytes. It reads the host file directly, so the counters
// and injected faults are untouched. The bytes are valid during the call
// only.
// Preconditions: s was taken by Snapshot, and its pagefile has not
// changed since.
func (s *Snapshot) ForEachSlot(fn func(slot SlotSnapshot, b *[SlotBytes]byte) error) error {
	p := s.pagefile
	var err error
	p.ForEachUsed(func(slot uint64) bool {
		if err = p.readAt(slot); err != nil {
			err = fmt.Errorf("pagefile: snapshot of slot %d: %w", slot, err)
			return false
		}
		err = fn(SlotSnapshot{slot, p.bitmap.owner(slot)}, &p.scratch)
		return err == nil
	})
	return err
}

// Restore opens a new pagefile (a temporary file unless path is given)
// with s's size and counters, and no slot in use until RestoreSlots gives
// it the s.Stats.Used slots ForEachSlot gave.
func Restore(s *Snapshot, path string) (*Pagefile, error) {
	p, err := Open(Config{Bytes: s.Bytes, Path: path})
	if err != nil {
		return nil, err
	}
	if s.Stats.Used >= p.bitmap.slots {
		p.Close()
		return nil, fmt.Errorf("pagefile: snapshot has %d slots in use of %d", s.Stats.Used, p.bitmap.slots)
	}
	p.bitmap.peak = s.Stats.Peak
	p.reads, p.writes, p.readErrors, p.writeErrors = s.Stats.Reads, s.Stats.Writes, s.Stats.ReadErrors, s.Stats.WriteErrors
	return p, nil
}

// RestoreSlots gives a pagefile Restore built the n slots in use its
// snapshot counted (Stats.Used), taken from next, which returns each slot,
// its owner and its bytes in the order ForEachSlot gave them; the bytes
// need only last until the next call. Slots must ascend within the
// pagefile and have an owner, so a damaged dump is an error. An error
// next returns ends it, as is; so does the host failing a write. Unlike
// Write, it counts nothing.
// Preconditions: called once, on a pagefile Restore returned.
func (p *Pagefile) RestoreSlots(n uint64, next func() (SlotSnapshot, *[SlotBytes]byte, error)) error {
	prev := uint64(0)
	for range n {
		s, b, err := next()
		if err != nil {
			return err
		}
		if s.Slot <= prev || s.Slot >= p.bitmap.slots {
			return fmt.Errorf("pagefile: snapshot slot %d is out of order or out of range", s.Slot)
		}
		prev = s.Slot
		if s.Owner == 0 {
			return fmt.Errorf("pagefile: snapshot slot %d has owner 0", s.Slot)
		}
		p.bitmap.take(s.Slot/chunkSlots, s.Slot)
		p.bitmap.setOwner(s.Slot, s.Owner)
		if _, err := p.file.WriteAt(b[:], int64(s.Slot*SlotBytes)); err != nil {
			return fmt.Errorf("pagefile: restoring slot %d: %w", s.Slot, err)
		}
	}
	p.bitmap.hint = 1
	for p.bitmap.hint < p.bitmap.slots && p.bitmap.inUse(p.bitmap.hint) {
		p.bitmap.hint++
	}
	p.bitmap.peak = max(p.bitmap.peak, p.bitmap.used)
	return nil
}
