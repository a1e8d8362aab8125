package kd

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strings"

	"simkern/bugcheck"
	"simkern/mm"
	"simkern/pagefile"
	"simkern/pool"
	"simkern/verifier"
)

// A crash dump file is the magic "SIMKDUMP", a little-endian u32 format
// version, then one gzip stream: the Dump, gob-encoded, whose snapshots
// hold the machine's and the pagefile's bookkeeping but nothing that
// grows with the frames or slots in use; then a frame record
// (frameRecordBytes) for each frame the machine's nodes have handed out,
// ascending, each followed by the frame's page when its flags say it has
// bytes; then a slot record (slotRecordBytes: slot, owner, page) for each
// pagefile slot in use, ascending. docs/dumps.md describes it. Entries and
// pages go one at a time between the machine's PFN database, its frames,
// its pagefile and the file, so writing or reading a dump costs the
// machine plus the bookkeeping the Dump holds, never a second copy of its
// PFN database or its memory. A dump holds the whole machine, so it answers
// every command exactly as the live machine did when it was written.
const (
	dumpMagic   = "SIMKDUMP"
	DumpVersion = 5 // 5: PFN entries and pagefile slots are records after the Dump; 4: the verifier's pool counters are records per pool; 3: the pages follow the Dump as records of their own

	// A frame record, little-endian: PFN u64, Flink u32, Blink u32, VA
	// u64, Slot u64, State u8, then a byte of frame flags.
	frameRecordBytes = 8 + 4 + 4 + 8 + 8 + 1 + 1
	// A slot record, little-endian: slot u64, owner u64 (its head), the page.
	slotHeadBytes   = 8 + 8
	slotRecordBytes = slotHeadBytes + pagefile.SlotBytes
)

// Frame flags: the last byte of a frame record.
const (
	framePageable  = 1 << 0
	framePageTable = 1 << 1
	frameModified  = 1 << 2
	frameHasBytes  = 1 << 3                                                         // the frame's page follows its record; without it the frame reads as zeros
	frameFlags     = framePageable | framePageTable | frameModified | frameHasBytes // every flag there is
)

// putFrameRecord fills r with e's record.
func putFrameRecord(r *[frameRecordBytes]byte, e mm.FrameSnapshot, hasBytes bool) {
	le := binary.LittleEndian
	le.PutUint64(r[0:], uint64(e.PFN))
	le.PutUint32(r[8:], e.Flink)
	le.PutUint32(r[12:], e.Blink)
	le.PutUint64(r[16:], uint64(e.VA))
	le.PutUint64(r[24:], e.Slot)
	r[32] = byte(e.State)
	r[33] = 0
	if e.Pageable {
		r[33] |= framePageable
	}
	if e.PageTable {
		r[33] |= framePageTable
	}
	if e.Modified {
		r[33] |= frameModified
	}
	if hasBytes {
		r[33] |= frameHasBytes
	}
}

// frameRecord reads the record putFrameRecord wrote, or fails for flags
// it never sets.
func frameRecord(r *[frameRecordBytes]byte) (e mm.FrameSnapshot, hasBytes bool, err error) {
	le := binary.LittleEndian
	e = mm.FrameSnapshot{PFN: mm.PFN(le.Uint64(r[0:])), Flink: le.Uint32(r[8:]), Blink: le.Uint32(r[12:]),
		VA: mm.VA(le.Uint64(r[16:])), Slot: le.Uint64(r[24:]), State: mm.PageState(r[32])}
	flags := r[33]
	if flags&^frameFlags != 0 {
		return e, false, fmt.Errorf("frame %#x's record has flags %#x", uint64(e.PFN), flags)
	}
	e.Pageable, e.PageTable, e.Modified = flags&framePageable != 0, flags&framePageTable != 0, flags&frameModified != 0
	return e, flags&frameHasBytes != 0, nil
}

// Dump is everything a crash dump holds.
type Dump struct {
	Simkern      string // the version that wrote it
	ScenarioFile string
	Scenario     []byte // the scenario file as run
	Seed         uint64
	Steps        uint64          // steps executed when it was written
	CPU          int             // the processor the debugger starts on: the last step's
	Names        []Binding       // in name order, so a dump's bytes are reproducible
	Declared     []string        // every name the scenario binds, bound yet or not, in name order (Target.Declared)
	Bugcheck     *bugcheck.Error // nil: written at the end of a run
	Analysis     string          // !analyze -v as the run printed it
	Modules      []Module        // the drivers' images, for Target.Symbol

	// What the Target is restored from. ReadDump leaves them nil: the
	// Target holds what they held.
	Machine  *mm.Snapshot
	Pool     *pool.Snapshot
	Verifier *verifier.Snapshot // nil: the run had no verifier
}

// Binding is a scenario name and the address it was bound to.
type Binding struct {
	Name string
	Addr uint64
}

// Bindings turns a name map into the sorted list a Dump holds.
func Bindings(names map[string]uint64) []Binding {
	out := make([]Binding, 0, len(names))
	for n, a := range names {
		out = append(out, Binding{n, a})
	}
	slices.SortFunc(out, func(a, b Binding) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// WriteDump writes d to w, reading the PFN entries, the pages and the
// pagefile's slots from the machine d.Machine was taken from, which must
// not have changed since. It changes nothing in it.
func WriteDump(w io.Writer, d *Dump) error {
	var head [12]byte
	copy(head[:], dumpMagic)
	binary.LittleEndian.PutUint32(head[8:], DumpVersion)
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	bw := bufio.NewWriterSize(zw, 64<<10) // records are small: gzip takes them in batches
	if err := gob.NewEncoder(bw).Encode(d); err != nil {
		return err
	}
	var rec [frameRecordBytes]byte
	err := d.Machine.ForEachFrame(func(e mm.FrameSnapshot, b *[mm.PageBytes]byte) error {
		putFrameRecord(&rec, e, b != nil)
		if _, err := bw.Write(rec[:]); err != nil || b == nil {
			return err
		}
		_, err := bw.Write(b[:])
		return err
	})
	if err == nil && d.Machine.Pagefile != nil {
		var slotHead [slotHeadBytes]byte
		err = d.Machine.Pagefile.ForEachSlot(func(s pagefile.SlotSnapshot, b *[pagefile.SlotBytes]byte) error {
			binary.LittleEndian.PutUint64(slotHead[0:], s.Slot)
			binary.LittleEndian.PutUint64(slotHead[8:], s.Owner)
			if _, err := bw.Write(slotHead[:]); err != nil {
				return err
			}
			_, err := bw.Write(b[:])
			return err
		})
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return err
	}
	return zw.Close()
}

// IsDump reports whether a file's first bytes are a dump's magic (a file
// cut inside the magic counts: it is a truncated dump, not a scenario).
func IsDump(head []byte) bool {
	n := min(len(head), len(dumpMagic))
	return n >= 4 && string(head[:n]) == dumpMagic[:n]
}

// ErrNotDump says a file is not a simkern dump at all.
var ErrNotDump = errors.New("not a simkern crash dump (no SIMKDUMP header)")

// HostError is ReadDump failing for the host's sake (no temporary file
// for the pagefile, say), not the dump's.
type HostError struct{ Err error }

func (e HostError) Error() string { return e.Err.Error() }
func (e HostError) Unwrap() error { return e.Err }

// ReadDump reads a dump and restores its machine, pool and verifier as a
// Target, refusing a truncated, corrupt or wrong-version file with an
// error that says which. Each PFN entry and page goes straight from the
// file into the restored machine, so reading costs little more than the
// Target holds.
// The Dump it returns is the record: its Machine, Pool and Verifier are
// nil. Close the Target's machine with Target.Machine.Close.
func ReadDump(r io.Reader) (d *Dump, t *Target, err error) {
	br := bufio.NewReader(r)
	var head [12]byte
	if n, err := io.ReadFull(br, head[:]); err != nil {
		if IsDump(head[:n]) {
			return nil, nil, fmt.Errorf("truncated dump: the header ends after %d bytes", n)
		}
		return nil, nil, ErrNotDump
	}
	if string(head[:8]) != dumpMagic {
		return nil, nil, ErrNotDump
	}
	version := binary.LittleEndian.Uint32(head[8:])
	if version != DumpVersion {
		return nil, nil, fmt.Errorf("dump format version %d; this simkern reads version %d", version, DumpVersion)
	}
	file := &fileCount{r: br}
	zr, err := gzip.NewReader(file)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("truncated dump: it ends inside the compressed header")
		}
		return nil, nil, fmt.Errorf("corrupt dump: %v", err)
	}
	zr.Multistream(false) // bytes after the stream are damage, not another stream
	var restored *Target
	defer func() {
		// gob panics on some malformed inputs; a dump is input, so that is
		// an error, never a crash.
		if p := recover(); p != nil {
			d, t, err = nil, nil, fmt.Errorf("corrupt dump: %v", p)
		}
		if err != nil && restored != nil {
			restored.Machine.Close()
		}
	}()
	// Read straight from the stream, through a limit: first the Dump's,
	// then, once it has said how many records follow, theirs. So a dump
	// that claims to expand to gigabytes costs no more than it really
	// holds. gob reads zb as it is (it is an io.ByteReader), so the
	// records after the Dump are left in it.
	exp := &expansion{r: zr, file: file, guard: true}
	lr := &io.LimitedReader{R: exp, N: maxHeaderBytes}
	zb := bufio.NewReader(lr)
	over := fmt.Sprintf("its record takes more than %d MiB", maxHeaderBytes>>20)
	// damaged reads the stream to its end before blaming cause: that checks
	// its checksum, and tells a file cut short (truncated) from a whole one
	// that holds damage. A read the limit cut short is the limit's fault.
	damaged := func(cause error) error {
		if exp.tripped {
			return fmt.Errorf("corrupt dump: its record expands more than %d times, far past what simkern writes", maxDumpExpansion)
		}
		if lr.N == 0 {
			return fmt.Errorf("corrupt dump: %s", over)
		}
		if _, err := io.Copy(io.Discard, lr); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("truncated dump: %v", err)
			}
			return fmt.Errorf("corrupt dump: %v", err)
		}
		return cause
	}
	d = new(Dump)
	if err := gob.NewDecoder(zb).Decode(d); err != nil {
		return nil, nil, damaged(fmt.Errorf("corrupt dump: %v", err))
	}
	if d.Machine == nil || d.Pool == nil {
		return nil, nil, damaged(fmt.Errorf("corrupt dump: no machine or pool in it"))
	}
	if restored, err = d.restore(); err != nil {
		return nil, nil, damaged(err)
	}
	// The Target holds what the snapshots held, and the pool's is several
	// times the size of the pool's own records: let them go and collect
	// them now, so the frames the pages fill take their memory rather than
	// grow the heap past it.
	ms := d.Machine
	d.Machine, d.Pool, d.Verifier = nil, nil, nil
	runtime.GC()
	exp.guard = false // a page of zeros deflates a thousand to one

	// The records: one per frame handed out, with at most a page each,
	// and one per slot in use. Restore checked the nodes against the
	// machine's frames, and the count of slots against the pagefile's, so
	// the limit cannot overflow.
	frames, slots := ms.HandedOut(), uint64(0)
	if ms.Pagefile != nil {
		slots = ms.Pagefile.Stats.Used
	}
	lr.N = int64(frames*(frameRecordBytes+mm.PageBytes)+slots*slotRecordBytes) + 1 // + 1: reach the stream's end, and its checksum
	over = fmt.Sprintf("records past the last of the %d its record announces", frames+slots)
	var (
		frame [frameRecordBytes]byte
		page  [mm.PageBytes]byte
		read  uint64
	)
	err = restored.Machine.RestoreFrames(func() (mm.FrameSnapshot, *[mm.PageBytes]byte, error) {
		if _, err := io.ReadFull(zb, frame[:]); err != nil {
			return mm.FrameSnapshot{}, nil, fmt.Errorf("the stream ends before frame record %d of %d", read+1, frames)
		}
		read++
		e, hasBytes, err := frameRecord(&frame)
		if err != nil || !hasBytes {
			return e, nil, err
		}
		if _, err := io.ReadFull(zb, page[:]); err != nil {
			return e, nil, fmt.Errorf("the stream ends inside frame %#x's page", uint64(e.PFN))
		}
		return e, &page, nil
	})
	if err != nil {
		return nil, nil, damaged(fmt.Errorf("corrupt dump: %w", err))
	}
	if ms.Pagefile != nil {
		var slotHead [slotHeadBytes]byte
		read = 0
		err = restored.Machine.Pagefile.RestoreSlots(slots, func() (pagefile.SlotSnapshot, *[pagefile.SlotBytes]byte, error) {
			if _, err := io.ReadFull(zb, slotHead[:]); err != nil {
				return pagefile.SlotSnapshot{}, nil, fmt.Errorf("the stream ends before slot record %d of %d", read+1, slots)
			}
			read++
			s := pagefile.SlotSnapshot{Slot: binary.LittleEndian.Uint64(slotHead[0:]), Owner: binary.LittleEndian.Uint64(slotHead[8:])}
			if _, err := io.ReadFull(zb, page[:]); err != nil {
				return s, nil, fmt.Errorf("the stream ends inside slot %#x's page", s.Slot)
			}
			return s, &page, nil
		})
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return nil, nil, HostError{fmt.Errorf("the host could not restore the dump's pagefile: %w", err)}
		}
		if err != nil {
			return nil, nil, damaged(fmt.Errorf("corrupt dump: %w", err))
		}
	}
	if _, err := zb.ReadByte(); err != io.EOF {
		return nil, nil, damaged(fmt.Errorf("corrupt dump: %s", over))
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, nil, fmt.Errorf("corrupt dump: bytes after the end of the compressed stream")
	}
	return d, restored, nil
}

// fileCount counts the bytes gzip takes from the file. It is a
// ByteReader, as gzip needs to stop exactly at its stream's end.
type fileCount struct {
	r *bufio.Reader
	n int64
}

func (f *fileCount) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.n += int64(n)
	return n, err
}

func (f *fileCount) ReadByte() (byte, error) {
	b, err := f.r.ReadByte()
	if err == nil {
		f.n++
	}
	return b, err
}

// expansion is the gzip stream, checked while the Dump is read: gob holds
// a message whole in memory, so a few megabytes crafted to expand to
// gigabytes would cost gigabytes. simkern's Dumps deflate six to ten to
// one; past expansionFloor, one that expands maxDumpExpansion times the
// file bytes it came from is refused.
type expansion struct {
	r       io.Reader
	file    *fileCount
	out     int64
	guard   bool // off for the pages
	tripped bool
}

const (
	maxDumpExpansion = 100
	expansionFloor   = 64 << 20
)

func (e *expansion) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.out += int64(n)
	if e.guard && e.out > expansionFloor && e.out > maxDumpExpansion*e.file.n {
		e.tripped = true
		return n, errors.New("the record expands too far")
	}
	return n, err
}

// maxHeaderBytes bounds the Dump: the largest value gob writes on a
// 64-bit host and room for gob's type descriptions, so every Dump a
// writer could write reads.
const maxHeaderBytes = 8<<30 + 1<<20

// restore builds the Target: the machine (its frames and slots read as
// zeros until their pages come), the pool and the verifier.
func (d *Dump) restore() (*Target, error) {
	m, err := mm.Restore(d.Machine, "")
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, HostError{fmt.Errorf("the host could not restore the dump's pagefile: %w", err)}
	}
	if err != nil {
		return nil, fmt.Errorf("corrupt dump: %w", err)
	}
	p, err := pool.Restore(m, d.Pool)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("corrupt dump: %w", err)
	}
	t := &Target{Machine: m, Pool: p, CPU: d.CPU, Symbol: func(pc uint64) string { return Symbol(d.Modules, pc) }}
	if d.Verifier != nil {
		t.Verifier = verifier.Restore(p, d.Verifier)
	}
	if t.CPU < 0 || t.CPU >= len(m.CPUs.CPUs) {
		t.CPU = 0
	}
	t.Names = func(name string) (uint64, bool) {
		i, ok := slices.BinarySearchFunc(d.Names, name, func(b Binding, n string) int { return strings.Compare(b.Name, n) })
		if !ok {
			return 0, false
		}
		return d.Names[i].Addr, true
	}
	t.Declared = func(name string) bool {
		_, ok := slices.BinarySearch(d.Declared, name)
		return ok
	}
	if d.Analysis != "" {
		t.Analysis = func() string { return d.Analysis }
	}
	return t, nil
}
