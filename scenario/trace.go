package scenario

// Trace files for replay:. One operation a line:
//
//	a ID POOL TAG SIZE [CPU]    allocate, naming the block ID
//	f ID                        free block ID
//
// A field that starts with # starts a comment, so tags may hold '#' but
// not begin with it. The reader streams: it keeps the current line and
// the set of live IDs, hands each operation to its caller, and a line
// costs no garbage. The loader reads a trace once, to check and count it,
// and keeps its operations when they are few (keptTraceOps); a longer
// trace is read again as it replays, so it costs the memory of its live
// blocks, not of its lines, and its size and SHA-256 tell whether the file
// changed since.
//
// A second free of an ID replays a driver's double free. That needs the
// IDs of the last frees and what they freed (recentFrees), a map that
// would slow every free down, so it is kept only for a trace that frees
// an ID twice: the first reading stops at such a free (freedAgainError),
// and the trace is read again with recall on, as it is replayed.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"simkern/internal/ring"
	"simkern/mm"
	"simkern/pool"
)

const maxTraceLine = 64 << 10

// ParseTrace reads a whole trace from r; name is used in errors. A bad
// line, a free of an ID never allocated (or freed too long ago to be freed
// again), or a second allocation of a live ID is an *Error at that line
// and field.
func ParseTrace(name string, r io.Reader) ([]TraceOp, error) {
	var ops []TraceOp
	// With recall: it reads r once, and keeps every operation anyway.
	_, err := parseTrace(name, r, MaxCPUs, true, func(op TraceOp) error {
		ops = append(ops, op)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ops, nil
}

// openTrace opens the trace at path, in fsys or (nil) on the host, and
// returns its size. Only regular files are read, so a path like /dev/zero
// cannot hang the loader, and only up to MaxTraceBytes.
func openTrace(fsys fs.FS, path string) (fs.File, int64, error) {
	var f fs.File
	var err error
	if fsys != nil {
		f, err = fsys.Open(path)
	} else if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
		// Refused before it is opened: opening a FIFO waits for a writer.
		return nil, 0, fmt.Errorf("the trace %s is not a regular file", path)
	} else {
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read the trace %s: %s", path, fileError(err))
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("cannot read the trace %s: %s", path, fileError(err))
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("the trace %s is not a regular file", path)
	case fi.Size() > MaxTraceBytes:
		err = fmt.Errorf("the trace %s is larger than %d MiB", path, MaxTraceBytes>>20)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// keptTraceOps bounds the trace operations a scenario keeps in memory
// (48 bytes each): up to it, a replay runs from memory, as fast in a
// repeat as any step; past it, each replay reads its file again. Tests
// lower it.
var keptTraceOps uint64 = 1 << 20

// traceFile is what the loader learnt of one trace file.
type traceFile struct {
	ops  uint64
	size int64
	sum  [sha256.Size]byte
	kept []TraceOp // every operation, when the file is short enough
	// recall: the trace frees an ID twice, so a reading keeps its recent
	// frees (recentFrees).
	recall bool
}

// checkTrace reads the trace at path through, for a machine with cpus
// CPUs, and keeps its operations if there are no more than keep. (It
// counts them first, and reads the file again to keep them, so that a
// long trace never costs the memory of its first keep lines.)
func checkTrace(fsys fs.FS, path string, cpus int, keep uint64) (*traceFile, error) {
	tf, err := readTrace(fsys, path, cpus, false, nil)
	if freedAgain(err) {
		tf, err = readTrace(fsys, path, cpus, true, nil)
	}
	if err != nil || tf.ops == 0 || tf.ops > keep {
		return tf, err
	}
	kept := make([]TraceOp, 0, tf.ops)
	again, err := readTrace(fsys, path, cpus, tf.recall, func(op TraceOp) error {
		if uint64(len(kept)) == tf.ops {
			return errors.New("more operations")
		}
		kept = append(kept, op)
		return nil
	})
	if err != nil || again.ops != tf.ops || again.sum != tf.sum {
		return nil, fmt.Errorf("the trace %s changed while it was being read", path)
	}
	tf.kept = kept
	return tf, nil
}

// readTrace reads the trace at path through, handing each operation to
// each (when it is not nil), and returns its count, size and SHA-256.
// Without recall, a second free of an ID stops it (freedAgainError).
func readTrace(fsys fs.FS, path string, cpus int, recall bool, each func(TraceOp) error) (*traceFile, error) {
	f, size, err := openTrace(fsys, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if each == nil {
		each = func(TraceOp) error { return nil }
	}
	h := sha256.New()
	n, err := parseTrace(path, io.TeeReader(f, h), cpus, recall, each)
	if err != nil {
		return nil, err
	}
	tf := &traceFile{ops: uint64(n), size: size, recall: recall}
	h.Sum(tf.sum[:0])
	return tf, nil
}

// recentFrees remembers the IDs of a trace's last freeRecall frees and
// the address each one freed, so that a second free of an ID, a driver's
// double free, can be replayed: it frees that address again. The loader
// and a replay keep one each (for a trace with recall) and give them the
// same frees and the same allocations, so they agree on which IDs may be
// freed again, and the memory stays bounded however long the trace.
type recentFrees struct {
	ring ring.Ring[recentFree] // the last freeRecall frees
	seq  uint64
	at   map[uint64]recentFree // ID -> its latest free, while remembered
}

type recentFree struct {
	id, seq uint64
	va      mm.VA
}

// freeRecall is how many frees back a second free of an ID may come.
// Tests lower it.
var freeRecall = 1 << 16

// add records a free of id, which freed va.
func (r *recentFrees) add(id uint64, va mm.VA) {
	if r.at == nil {
		r.at = make(map[uint64]recentFree)
		r.ring = ring.New[recentFree](freeRecall)
	}
	r.seq++
	f := recentFree{id, r.seq, va}
	if old, ok := r.ring.Add(f); ok && r.at[old.id].seq == old.seq {
		delete(r.at, old.id) // not freed again since
	}
	r.at[id] = f
}

// get returns the address the last remembered free of id freed.
func (r *recentFrees) get(id uint64) (mm.VA, bool) {
	f, ok := r.at[id]
	return f.va, ok
}

// forget drops id, allocated again: its next free is its first.
func (r *recentFrees) forget(id uint64) { delete(r.at, id) }

// traceField is one whitespace-separated field and its column.
type traceField struct {
	b   []byte
	col int
}

// traceParser holds one parse; its error method is why the hot loop needs
// no closures.
type traceParser struct {
	name string
	line int
}

func (p *traceParser) errorf(col int, key, format string, args ...any) *Error {
	return &Error{Pos: Pos{File: p.name, Line: p.line, Col: col}, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// traceType is a pool type's name, as bytes for allocation-free matching.
type traceType struct {
	name []byte
	t    pool.Type
}

// traceTypes are the pool types a trace names.
var traceTypes = func() []traceType {
	var out []traceType
	for _, n := range pool.TypeNames() {
		t, err := pool.ParseType(n)
		if err != nil {
			panic("scenario: pool.TypeNames lists " + n + ", which pool.ParseType refuses")
		}
		out = append(out, traceType{[]byte(n), t})
	}
	return out
}()

// freedAgainError stops a reading without recall at a free of an ID that
// is not live: the trace must be read with recall to tell a double free
// from a free of an ID never allocated. It is the *Error of that line for
// a caller that cannot read it again.
type freedAgainError struct{ err *Error }

func (e freedAgainError) Error() string { return e.err.Error() }
func (e freedAgainError) Unwrap() error { return e.err }

// freedAgain reports whether err is a freedAgainError.
func freedAgain(err error) bool { return errors.As(err, new(freedAgainError)) }

// parseTrace reads a trace for a machine with cpus CPUs, handing each
// operation to each in order, and returns how many there were. An error
// from each ends the read and comes back as it is; a bad line is an
// *Error. With recall it keeps the recent frees, and a second free of an
// ID is an operation; without, it is a freedAgainError.
func parseTrace(name string, r io.Reader, cpus int, recall bool, each func(TraceOp) error) (int, error) {
	lr := &io.LimitedReader{R: r, N: MaxTraceBytes + 1} // + 1: tells a trace at the limit from a longer one
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), maxTraceLine)
	ops := 0
	live := map[uint64]int{} // ID -> line that allocated it
	var freed recentFrees    // with recall, as the replay keeps them
	p := &traceParser{name: name}
	var f [7]traceField
	for sc.Scan() {
		p.line++
		text := sc.Bytes()
		if p.line == 1 {
			if e := sniffEncoding(text); e.unit != 0 {
				return ops, p.errorf(1, "", "the trace is %s text; simkern reads traces as UTF-8 (iconv -f %s -t UTF-8 converts it)", e.name, e.name)
			}
			text = trimBOM(text)
		}
		n := splitTrace(text, &f)
		if n == 0 {
			continue
		}
		if ops >= MaxTraceOps {
			return ops, p.errorf(1, "", "more than %d operations in one trace", MaxTraceOps)
		}
		ops++
		op := TraceOp{Line: p.line}
		switch string(f[0].b) {
		case "a":
			if n < 5 || n > 6 {
				return ops, p.errorf(1, "", "want `a ID POOL TAG SIZE [CPU]`, got %d fields", n)
			}
			op.Alloc = true
		case "f":
			if n != 2 {
				return ops, p.errorf(1, "", "want `f ID`, got %d fields", n)
			}
		default:
			return ops, p.errorf(f[0].col, "op", "unknown operation %q: want a (allocate) or f (free)", shortenText(string(f[0].b), 20))
		}
		id, ok := traceUint(f[1].b)
		if !ok {
			return ops, p.errorf(f[1].col, "id", "bad id %q: want a whole number", shortenText(string(f[1].b), 24))
		}
		op.ID = id
		if !op.Alloc {
			if _, ok := live[id]; ok {
				delete(live, id)
			} else if !recall {
				return ops, freedAgainError{p.errorf(f[1].col, "id", "frees id %d, which is not allocated (never, or freed already)", id)}
			} else if _, again := freed.get(id); !again {
				return ops, p.errorf(f[1].col, "id", "frees id %d, which is not allocated (never, or freed before the last %d frees)", id, freeRecall)
			}
			if recall {
				freed.add(id, 0)
			}
			if err := each(op); err != nil {
				return ops, err
			}
			continue
		}
		if at, ok := live[id]; ok {
			return ops, p.errorf(f[1].col, "id", "allocates id %d again; line %d allocated it and nothing freed it", id, at)
		}
		if op.Pool, ok = tracePool(f[2].b); !ok {
			// The slow path gives the message, and agrees with pool
			// on spellings the fast path does not know (0o, 0b, _).
			t, err := pool.ParseType(string(f[2].b))
			if err != nil {
				return ops, p.errorf(f[2].col, "pool", "%v", err)
			}
			op.Pool = t
		}
		if op.Tag, ok = traceTag(f[3].b); !ok {
			t, err := pool.ParseTag(string(f[3].b))
			if err != nil {
				return ops, p.errorf(f[3].col, "tag", "%v", err)
			}
			op.Tag = t
		}
		size, ok := traceUint(f[4].b)
		if !ok || size > MaxAllocBytes {
			return ops, p.errorf(f[4].col, "size", "bad size %q: want a whole number of bytes up to %d", shortenText(string(f[4].b), 24), uint64(MaxAllocBytes))
		}
		op.Size = size
		if n == 6 {
			c, ok := traceUint(f[5].b)
			if !ok || c >= uint64(cpus) {
				return ops, p.errorf(f[5].col, "cpu", "bad cpu %q: the machine has CPUs 0 to %d", shortenText(string(f[5].b), 24), cpus-1)
			}
			op.CPU, op.CPUSet = int(c), true
		}
		live[id] = p.line
		if recall {
			freed.forget(id)
		}
		if err := each(op); err != nil {
			return ops, err
		}
	}
	if lr.N == 0 {
		return ops, p.errorf(1, "", "the trace is larger than %d MiB", MaxTraceBytes>>20)
	}
	if err := sc.Err(); err != nil {
		p.line++
		if errors.Is(err, bufio.ErrTooLong) {
			return ops, p.errorf(1, "", "line longer than %d KiB", maxTraceLine>>10)
		}
		return ops, p.errorf(1, "", "read error: %v", err)
	}
	return ops, nil
}

// splitTrace splits line into fields, stopping at a field that starts
// with '#'. It fills at most len(f) fields and returns how many there
// are, so a line with too many fields returns len(f).
func splitTrace(line []byte, f *[7]traceField) int {
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && isTraceSpace(line[i]) {
			i++
		}
		if i == len(line) || line[i] == '#' {
			break
		}
		start := i
		for i < len(line) && !isTraceSpace(line[i]) {
			i++
		}
		if n == len(f) {
			return n
		}
		f[n] = traceField{b: line[start:i], col: start + 1}
		n++
	}
	return n
}

func isTraceSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// traceUint reads decimal or 0x hex digits.
func traceUint(b []byte) (uint64, bool) {
	base := uint64(10)
	if len(b) > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		base, b = 16, b[2:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if v > (1<<64-1-d)/base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// tracePool matches a POOL_TYPE name (any case) or number, as
// pool.ParseType does, without turning the field into a string.
func tracePool(b []byte) (pool.Type, bool) {
	for _, tt := range traceTypes {
		if bytes.EqualFold(b, tt.name) {
			return tt.t, true
		}
	}
	if v, ok := traceUint(b); ok {
		for _, tt := range traceTypes {
			if uint64(tt.t) == v {
				return tt.t, true
			}
		}
	}
	return 0, false
}

// traceTag reads one to four printable characters, or a 0x number, as
// pool.ParseTag does.
func traceTag(b []byte) (pool.Tag, bool) {
	if len(b) >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		v, ok := traceUint(b)
		return pool.Tag(v), ok && v <= 0xFFFFFFFF
	}
	if len(b) < 1 || len(b) > 4 {
		return 0, false
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return 0, false
		}
	}
	return pool.TagOf(string(b)), true
}
