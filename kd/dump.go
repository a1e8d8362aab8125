package kd

import (
	"bufio"
	"compress/gzip"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"simkern/bugcheck"
	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// A crash dump file is the magic "SIMKDUMP", a little-endian u32 format
// version, then a gzip stream of one gob-encoded Dump. docs/dumps.md
// describes it. A dump holds the whole machine, so it answers every
// command exactly as the live machine did when it was written.
const (
	dumpMagic   = "SIMKDUMP"
	DumpVersion = 2 // 2: the pool's block records keep each allocation's tag
)

// Dump is everything a crash dump holds.
type Dump struct {
	Simkern      string // the version that wrote it
	ScenarioFile string
	Scenario     []byte // the scenario file as run
	Seed         uint64
	Steps        uint64          // steps executed when it was written
	CPU          int             // the processor the debugger starts on: the last step's
	Names        []Binding       // in name order, so a dump's bytes are reproducible
	Bugcheck     *bugcheck.Error // nil: written at the end of a run
	Analysis     string          // !analyze -v as the run printed it
	Machine      *mm.Snapshot
	Pool         *pool.Snapshot
	Verifier     *verifier.Snapshot // nil: the run had no verifier
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

// WriteDump writes d to w.
func WriteDump(w io.Writer, d *Dump) error {
	var head [12]byte
	copy(head[:], dumpMagic)
	head[8] = DumpVersion
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	if err := gob.NewEncoder(zw).Encode(d); err != nil {
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

// ReadDump reads a dump, refusing a truncated, corrupt or wrong-version
// file with an error that says which.
func ReadDump(r io.Reader) (d *Dump, err error) {
	br := bufio.NewReader(r)
	var head [12]byte
	if n, err := io.ReadFull(br, head[:]); err != nil {
		if IsDump(head[:n]) {
			return nil, fmt.Errorf("truncated dump: the header ends after %d bytes", n)
		}
		return nil, ErrNotDump
	}
	if string(head[:8]) != dumpMagic {
		return nil, ErrNotDump
	}
	version := uint32(head[8]) | uint32(head[9])<<8 | uint32(head[10])<<16 | uint32(head[11])<<24
	if version != DumpVersion {
		return nil, fmt.Errorf("dump format version %d; this simkern reads version %d", version, DumpVersion)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated dump: it ends inside the compressed header")
		}
		return nil, fmt.Errorf("corrupt dump: %v", err)
	}
	zr.Multistream(false) // bytes after the stream are damage, not another stream
	defer func() {
		// gob panics on some malformed inputs; a dump is input, so that is
		// an error, never a crash.
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("corrupt dump: %v", p)
		}
	}()
	// Decode straight from the stream, through a limit, so a dump that
	// claims to expand to gigabytes costs no more than it really holds.
	lr := &io.LimitedReader{R: zr, N: maxDumpBytes}
	d = new(Dump)
	decodeErr := gob.NewDecoder(lr).Decode(d)
	if decodeErr != nil && lr.N == 0 {
		return nil, fmt.Errorf("corrupt dump: more than %d MiB uncompressed", maxDumpBytes>>20)
	}
	// Read the stream to its end: that checks its checksum, and tells a
	// file cut short (truncated) from a whole one that holds damage.
	if _, err := io.Copy(io.Discard, lr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated dump: %v", err)
		}
		return nil, fmt.Errorf("corrupt dump: %v", err)
	}
	if decodeErr != nil {
		return nil, fmt.Errorf("corrupt dump: %v", decodeErr)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("corrupt dump: bytes after the end of the compressed stream")
	}
	if d.Machine == nil || d.Pool == nil {
		return nil, fmt.Errorf("corrupt dump: no machine or pool in it")
	}
	return d, nil
}

// maxDumpBytes bounds what a dump may expand to.
const maxDumpBytes = 4 << 30

// Open restores the dump's machine and pool and returns a Target on them.
// Close the returned machine's pagefile with Target.Machine.Close.
func (d *Dump) Open() (*Target, error) {
	m, err := mm.Restore(d.Machine, "")
	if err != nil {
		return nil, err
	}
	p, err := pool.Restore(m, d.Pool)
	if err != nil {
		m.Close()
		return nil, err
	}
	t := &Target{Machine: m, Pool: p, CPU: d.CPU}
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
	if d.Analysis != "" {
		t.Analysis = func() string { return d.Analysis }
	}
	return t, nil
}
