package pagefile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
)

// SlotBytes is the size of a slot: one page.
const SlotBytes = 4096

// MaxSlots bounds a pagefile: a pagefile PTE keeps the slot in 32 bits
// (mm/pte.go, Windows' PageFileHigh), so slot 1<<32 could not be named.
const MaxSlots = 1 << 32

// Config describes the pagefile to open.
type Config struct {
	// Bytes is the size, rounded down to whole slots. It must hold at
	// least 2 slots (slot 0 is reserved) and at most MaxSlots.
	Bytes uint64

	// Path is the host file, created or truncated; "" makes a temporary
	// file (os.CreateTemp) that leaves nothing behind: its name is removed
	// at once where the host allows an open file to lose its name (Unix),
	// so even a killed run leaves no file, and by Close elsewhere.
	Path string

	// Rand is the machine's seeded generator, drawn from by probability
	// faults. It may be nil if no probability fault is injected.
	Rand *rand.Rand
}

// Pagefile is the simulated pagefile. See doc.go for the design.
type Pagefile struct {
	file *os.File // nil once closed
	path string
	temp bool // Close removes path (a temporary file Open could not unlink)

	// bitmap says which slots are in use. Slot 0 never is.
	bitmap slotBitmap

	rand *rand.Rand

	// faults[op] are the injected faults still able to fire;
	// injections counts those that have fired.
	faults     [numOps]faultSet
	injections int

	// Operation counters, failed operations included in reads and writes.
	reads, writes, readErrors, writeErrors uint64

	// scratch receives a Read from the host, so a failed host read leaves
	// the caller's buffer untouched.
	scratch [SlotBytes]byte
}

// Open creates the host file, sized (sparsely) to cfg.Bytes rounded down
// to whole slots, with every slot free and reading as zeros.
func Open(cfg Config) (*Pagefile, error) {
	slots := cfg.Bytes / SlotBytes
	if slots < 2 {
		return nil, fmt.Errorf("pagefile: %d bytes is %d slots of %d bytes; want at least 2 (slot 0 is reserved)", cfg.Bytes, slots, SlotBytes)
	}
	if slots > MaxSlots {
		return nil, fmt.Errorf("pagefile: %d bytes is %d slots; want at most %d (a pagefile PTE holds a 32-bit slot)", cfg.Bytes, slots, uint64(MaxSlots))
	}
	p := &Pagefile{bitmap: newSlotBitmap(slots), rand: cfg.Rand}
	var err error
	if cfg.Path == "" {
		p.file, err = os.CreateTemp("", "simkern-pagefile-*.sys")
		p.temp = err == nil && os.Remove(p.file.Name()) != nil
	} else {
		p.file, err = os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("pagefile: %w", err)
	}
	p.path = p.file.Name()
	if err := p.file.Truncate(int64(slots * SlotBytes)); err != nil {
		_ = p.Close()
		return nil, fmt.Errorf("pagefile: sizing %s to %d bytes: %w", p.path, slots*SlotBytes, err)
	}
	return p, nil
}

// Close closes the host file, removing a temporary one Open could not
// unlink. Calling it again does nothing.
func (p *Pagefile) Close() error {
	if p.file == nil {
		return nil
	}
	err := p.file.Close()
	p.file = nil
	if p.temp {
		err = errors.Join(err, os.Remove(p.path))
	}
	if err != nil {
		return fmt.Errorf("pagefile: close: %w", err)
	}
	return nil
}

// Slots returns the number of slots, the reserved slot 0 included.
func (p *Pagefile) Slots() uint64 { return p.bitmap.slots }

// Allocate takes the lowest free slot for owner, a nonzero word the
// caller chooses (mm: the page the slot holds). ok is false when every
// slot is in use.
func (p *Pagefile) Allocate(owner uint64) (slot uint64, ok bool) {
	if owner == 0 {
		panic("pagefile: Allocate for owner 0")
	}
	if slot, ok = p.bitmap.allocate(); ok {
		p.bitmap.setOwner(slot, owner)
	}
	return slot, ok
}

// Owner returns the owner slot was allocated for or last given, or 0 when
// slot is not in use.
func (p *Pagefile) Owner(slot uint64) uint64 { return p.bitmap.owner(slot) }

// SetOwner gives slot, which is in use, a new nonzero owner.
func (p *Pagefile) SetOwner(slot, owner uint64) {
	if owner == 0 {
		panic("pagefile: SetOwner to owner 0")
	}
	if !p.bitmap.inUse(slot) {
		p.misuse("setting the owner", slot)
	}
	p.bitmap.setOwner(slot, owner)
}

// Release frees slot.
// Preconditions: slot is in use (so it is neither 0 nor out of range).
func (p *Pagefile) Release(slot uint64) {
	if !p.bitmap.inUse(slot) {
		p.misuse("release", slot)
	}
	p.bitmap.release(slot)
}

// InUse reports whether slot is allocated. Slot 0 never is.
func (p *Pagefile) InUse(slot uint64) bool { return p.bitmap.inUse(slot) }

// Read copies slot into buf. A slot never written reads as zeros. On
// failure buf is unchanged and the error is an *IOError if a Fault fired,
// or the host's error wrapped.
// Preconditions: slot is in use.
func (p *Pagefile) Read(slot uint64, buf *[SlotBytes]byte) error {
	if !p.bitmap.inUse(slot) {
		p.misuse("read", slot)
	}
	p.reads++
	if len(p.faults[OpRead].nth)+len(p.faults[OpRead].prob) > 0 {
		if e := p.fire(OpRead, p.reads, slot); e != nil {
			p.readErrors++
			return e
		}
	}
	if err := p.readAt(slot); err != nil {
		p.readErrors++
		return fmt.Errorf("pagefile: read of slot %d: %w", slot, err)
	}
	*buf = p.scratch
	return nil
}

// Write copies buf into slot. On failure the error is an *IOError if a
// Fault fired (and the slot keeps its old contents), or the host's error
// wrapped (and the slot may have been written in part).
// Preconditions: slot is in use.
func (p *Pagefile) Write(slot uint64, buf *[SlotBytes]byte) error {
	if !p.bitmap.inUse(slot) {
		p.misuse("write", slot)
	}
	p.writes++
	if len(p.faults[OpWrite].nth)+len(p.faults[OpWrite].prob) > 0 {
		if e := p.fire(OpWrite, p.writes, slot); e != nil {
			p.writeErrors++
			return e
		}
	}
	if p.file == nil {
		p.writeErrors++
		return fmt.Errorf("pagefile: write of slot %d: %w", slot, os.ErrClosed)
	}
	if _, err := p.file.WriteAt(buf[:], int64(slot*SlotBytes)); err != nil {
		p.writeErrors++
		return fmt.Errorf("pagefile: write of slot %d: %w", slot, err)
	}
	return nil
}

// readAt reads slot into p.scratch.
func (p *Pagefile) readAt(slot uint64) error {
	if p.file == nil {
		return os.ErrClosed
	}
	_, err := p.file.ReadAt(p.scratch[:], int64(slot*SlotBytes))
	return err
}

// misuse reports a slot used against the rules, which is a simkern bug.
func (p *Pagefile) misuse(op string, slot uint64) {
	why := "which is not allocated"
	switch {
	case slot == 0:
		why = "which is reserved (slot 0 means demand zero)"
	case slot >= p.bitmap.slots:
		why = fmt.Sprintf("which is out of range (the pagefile has %d slots)", p.bitmap.slots)
	}
	panic(fmt.Sprintf("pagefile: %s of slot %d, %s: simkern bug", op, slot, why))
}

// Stats is a snapshot of the pagefile's counters.
type Stats struct {
	Slots       uint64 `json:"slots"`        // total, the reserved slot 0 included
	Used        uint64 `json:"used"`         // slots in use now
	Peak        uint64 `json:"peak"`         // the most slots in use at once
	Reads       uint64 `json:"reads"`        // Read calls, failed ones included
	Writes      uint64 `json:"writes"`       // Write calls, failed ones included
	ReadErrors  uint64 `json:"read_errors"`  // Reads that failed (injected or host)
	WriteErrors uint64 `json:"write_errors"` // Writes that failed (injected or host)
}

// Stats returns the counters.
func (p *Pagefile) Stats() Stats {
	return Stats{
		Slots:       p.bitmap.slots,
		Used:        p.bitmap.used,
		Peak:        p.bitmap.peak,
		Reads:       p.reads,
		Writes:      p.writes,
		ReadErrors:  p.readErrors,
		WriteErrors: p.writeErrors,
	}
}

// ForEachUsed calls fn for each slot in use, in ascending order, until fn
// returns false. fn must not Allocate or Release.
func (p *Pagefile) ForEachUsed(fn func(slot uint64) bool) { p.bitmap.forEach(fn) }
