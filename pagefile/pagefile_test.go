package pagefile

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// openTest opens a pagefile of slots slots in the test's temporary
// directory and closes it when the test ends. It checks the bitmap's
// invariants at the end too.
func openTest(t testing.TB, slots uint64, r *rand.Rand) *Pagefile {
	t.Helper()
	p, err := Open(Config{Bytes: slots * SlotBytes, Path: filepath.Join(t.TempDir(), "pagefile.sys"), Rand: r})
	if err != nil {
		t.Fatalf("Open(%d slots): %v", slots, err)
	}
	t.Cleanup(func() {
		p.bitmap.check()
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// pattern fills buf with bytes that differ from slot to slot and from
// stamp to stamp, so a page landing in the wrong slot is caught.
func pattern(buf *[SlotBytes]byte, slot uint64, stamp byte) {
	for i := range buf {
		buf[i] = byte(slot*131+uint64(i)*7) ^ stamp
	}
}

// mustAllocate allocates a slot or stops the test.
func mustAllocate(t testing.TB, p *Pagefile) uint64 {
	t.Helper()
	s, ok := p.Allocate(1)
	if !ok {
		t.Fatalf("Allocate: pagefile full at %d of %d slots", p.Stats().Used, p.Slots())
	}
	return s
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		bytes uint64
		path  string
		// Either the slots the pagefile should have, or part of the error.
		wantSlots uint64
		wantErr   string
	}{
		{name: "a pagefile of exactly two slots opens", bytes: 2 * SlotBytes, wantSlots: 2},
		{name: "bytes are rounded down to whole slots", bytes: 3*SlotBytes + 100, wantSlots: 3},
		{name: "one slot is refused because slot 0 is reserved", bytes: 2*SlotBytes - 1, wantErr: "want at least 2"},
		{name: "zero bytes is refused", bytes: 0, wantErr: "want at least 2"},
		{name: "more slots than a PTE can name is refused", bytes: (MaxSlots + 1) * SlotBytes, wantErr: "at most 4294967296"},
		{name: "a path in a missing directory is refused", bytes: 4 * SlotBytes, path: filepath.Join(dir, "missing", "pagefile.sys"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "pagefile.sys")
			}
			p, err := Open(Config{Bytes: tt.bytes, Path: path})
			if tt.wantErr != "" {
				if err == nil {
					p.Close()
					t.Fatalf("Open(%d bytes) succeeded with %d slots, want an error containing %q", tt.bytes, p.Slots(), tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open(%d bytes): %v, want an error containing %q", tt.bytes, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%d bytes): %v", tt.bytes, err)
			}
			defer p.Close()
			if got := p.Slots(); got != tt.wantSlots {
				t.Errorf("Slots() = %d, want %d", got, tt.wantSlots)
			}
			fi, err := p.file.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Size(), int64(tt.wantSlots*SlotBytes); got != want {
				t.Errorf("host file is %d bytes, want %d", got, want)
			}
		})
	}
}

func TestOpenTruncatesAnOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pagefile.sys")
	old := make([]byte, 8*SlotBytes)
	for i := range old {
		old[i] = 0xAB
	}
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(Config{Bytes: 4 * SlotBytes, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	slot := mustAllocate(t, p)
	var buf [SlotBytes]byte
	if err := p.Read(slot, &buf); err != nil {
		t.Fatal(err)
	}
	if buf != [SlotBytes]byte{} {
		t.Fatalf("slot %d of a reopened pagefile reads %#x..., want zeros (the last run's contents must not leak)", slot, buf[:4])
	}
}

// allocStep is one step of a slot bitmap script.
type allocStep struct {
	kind stepKind
	n    uint64 // allocN: how many slots
	slot uint64 // alloc, allocN: the (last) slot expected; release: the slot
}

type stepKind uint8

const (
	alloc   stepKind = iota // Allocate, expecting slot
	allocN                  // Allocate n times, expecting slots to run up to slot
	release                 // Release slot
	full                    // Allocate, expecting ok=false
)

func TestAllocateRelease(t *testing.T) {
	tests := []struct {
		name  string
		slots uint64
		steps []allocStep
		// After the script:
		wantUsed, wantPeak uint64
	}{
		{
			name:     "allocate hands out slots from 1 upward and never slot 0",
			slots:    5,
			steps:    []allocStep{{kind: alloc, slot: 1}, {kind: alloc, slot: 2}, {kind: alloc, slot: 3}, {kind: alloc, slot: 4}, {kind: full}},
			wantUsed: 4, wantPeak: 4,
		},
		{
			name:     "a released slot is reused before any higher one",
			slots:    10,
			steps:    []allocStep{{kind: allocN, n: 5, slot: 5}, {kind: release, slot: 2}, {kind: alloc, slot: 2}, {kind: alloc, slot: 6}},
			wantUsed: 6, wantPeak: 6,
		},
		{
			name:  "the lowest of several released slots comes back first",
			slots: 10,
			steps: []allocStep{
				{kind: allocN, n: 6, slot: 6}, {kind: release, slot: 5}, {kind: release, slot: 2}, {kind: release, slot: 4},
				{kind: alloc, slot: 2}, {kind: alloc, slot: 4}, {kind: alloc, slot: 5}, {kind: alloc, slot: 7},
			},
			wantUsed: 7, wantPeak: 7,
		},
		{
			name:     "a full pagefile says so, and a release makes room again",
			slots:    3,
			steps:    []allocStep{{kind: alloc, slot: 1}, {kind: alloc, slot: 2}, {kind: full}, {kind: full}, {kind: release, slot: 1}, {kind: alloc, slot: 1}, {kind: full}},
			wantUsed: 2, wantPeak: 2,
		},
		{
			name:     "the smallest pagefile holds exactly one page",
			slots:    2,
			steps:    []allocStep{{kind: alloc, slot: 1}, {kind: full}, {kind: release, slot: 1}, {kind: alloc, slot: 1}},
			wantUsed: 1, wantPeak: 1,
		},
		{
			name:     "allocation runs on from the first chunk into the second",
			slots:    2*chunkSlots + 5,
			steps:    []allocStep{{kind: allocN, n: chunkSlots - 1, slot: chunkSlots - 1}, {kind: alloc, slot: chunkSlots}, {kind: alloc, slot: chunkSlots + 1}},
			wantUsed: chunkSlots + 1, wantPeak: chunkSlots + 1,
		},
		{
			name:  "a chunk emptied and dropped hands its slots out again",
			slots: 3 * chunkSlots,
			steps: []allocStep{
				{kind: allocN, n: chunkSlots + 1, slot: chunkSlots + 1},
				{kind: release, slot: chunkSlots + 1}, {kind: release, slot: chunkSlots}, // chunk 1 is empty now
				{kind: alloc, slot: chunkSlots}, {kind: alloc, slot: chunkSlots + 1}, {kind: alloc, slot: chunkSlots + 2},
			},
			wantUsed: chunkSlots + 2, wantPeak: chunkSlots + 2,
		},
		{
			name:  "a slot freed deep below full chunks is found first",
			slots: 2*chunkSlots + 10,
			steps: []allocStep{
				{kind: allocN, n: 2*chunkSlots + 2, slot: 2*chunkSlots + 2},
				{kind: release, slot: 70}, {kind: release, slot: chunkSlots + 3},
				{kind: alloc, slot: 70}, {kind: alloc, slot: chunkSlots + 3}, {kind: alloc, slot: 2*chunkSlots + 3},
			},
			wantUsed: 2*chunkSlots + 3, wantPeak: 2*chunkSlots + 3,
		},
		{
			name:     "a partial last chunk hands out no slot past the end",
			slots:    chunkSlots + 2,
			steps:    []allocStep{{kind: allocN, n: chunkSlots + 1, slot: chunkSlots + 1}, {kind: full}, {kind: release, slot: chunkSlots + 1}, {kind: alloc, slot: chunkSlots + 1}, {kind: full}},
			wantUsed: chunkSlots + 1, wantPeak: chunkSlots + 1,
		},
		{
			name:     "a pagefile of exactly one chunk fills to its last slot",
			slots:    chunkSlots,
			steps:    []allocStep{{kind: allocN, n: chunkSlots - 1, slot: chunkSlots - 1}, {kind: full}},
			wantUsed: chunkSlots - 1, wantPeak: chunkSlots - 1,
		},
		{
			name:     "peak remembers the high-water mark after releases",
			slots:    10,
			steps:    []allocStep{{kind: allocN, n: 4, slot: 4}, {kind: release, slot: 1}, {kind: release, slot: 3}, {kind: release, slot: 4}},
			wantUsed: 1, wantPeak: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, tt.slots, nil)
			for i, st := range tt.steps {
				switch st.kind {
				case alloc:
					if got, ok := p.Allocate(1); !ok || got != st.slot {
						t.Fatalf("step %d: Allocate(1) = %d, %v; want %d, true", i, got, ok, st.slot)
					}
				case allocN:
					var got uint64
					for range st.n {
						got = mustAllocate(t, p)
					}
					if got != st.slot {
						t.Fatalf("step %d: %d allocations ended at slot %d, want %d", i, st.n, got, st.slot)
					}
				case release:
					p.Release(st.slot)
					if p.InUse(st.slot) {
						t.Fatalf("step %d: slot %d still in use after Release", i, st.slot)
					}
				case full:
					if got, ok := p.Allocate(1); ok {
						t.Fatalf("step %d: Allocate(1) = %d, true; want the pagefile full", i, got)
					}
				}
				p.bitmap.check()
			}
			st := p.Stats()
			if st.Used != tt.wantUsed || st.Peak != tt.wantPeak {
				t.Errorf("Used, Peak = %d, %d; want %d, %d", st.Used, st.Peak, tt.wantUsed, tt.wantPeak)
			}
			// Recount the slow way.
			var n uint64
			for s := range p.Slots() {
				if p.InUse(s) {
					n++
				}
			}
			if n != st.Used {
				t.Errorf("Stats says %d slots in use; InUse finds %d", st.Used, n)
			}
			if p.InUse(0) {
				t.Errorf("InUse(0) = true; slot 0 is reserved")
			}
		})
	}
}

func TestMisusePanics(t *testing.T) {
	var buf [SlotBytes]byte
	tests := []struct {
		name      string
		do        func(p *Pagefile) // on a 10-slot pagefile with slots 1 and 2 allocated
		wantPanic string
	}{
		{name: "releasing slot 0 is a simkern bug", do: func(p *Pagefile) { p.Release(0) }, wantPanic: "slot 0, which is reserved"},
		{name: "releasing a slot past the end is a simkern bug", do: func(p *Pagefile) { p.Release(10) }, wantPanic: "out of range"},
		{name: "releasing a free slot is a simkern bug", do: func(p *Pagefile) { p.Release(3) }, wantPanic: "slot 3, which is not allocated"},
		{name: "releasing a slot twice is a simkern bug", do: func(p *Pagefile) { p.Release(2); p.Release(2) }, wantPanic: "release of slot 2, which is not allocated"},
		{name: "reading a free slot is a simkern bug", do: func(p *Pagefile) { _ = p.Read(5, &buf) }, wantPanic: "read of slot 5, which is not allocated"},
		{name: "writing a free slot is a simkern bug", do: func(p *Pagefile) { _ = p.Write(5, &buf) }, wantPanic: "write of slot 5, which is not allocated"},
		{name: "writing slot 0 is a simkern bug", do: func(p *Pagefile) { _ = p.Write(0, &buf) }, wantPanic: "write of slot 0, which is reserved"},
		{name: "reading far past the end is a simkern bug", do: func(p *Pagefile) { _ = p.Read(1<<40, &buf) }, wantPanic: "out of range"},
		{name: "owning a free slot is a simkern bug", do: func(p *Pagefile) { p.SetOwner(3, 1) }, wantPanic: "setting the owner of slot 3, which is not allocated"},
		{name: "an owner 0 is refused at allocation", do: func(p *Pagefile) { p.Allocate(0) }, wantPanic: "owner 0"},
		{name: "an owner 0 is refused later", do: func(p *Pagefile) { p.SetOwner(1, 0) }, wantPanic: "owner 0"},
		{name: "a fault with neither Nth nor Probability is refused", do: func(p *Pagefile) { p.Inject(Fault{Op: OpRead}) }, wantPanic: "neither Nth nor Probability"},
		{name: "a fault with both Nth and Probability is refused", do: func(p *Pagefile) { p.Inject(Fault{Op: OpRead, Nth: 1, Probability: 0.5}) }, wantPanic: "both Nth"},
		{name: "a probability above 1 is refused", do: func(p *Pagefile) { p.Inject(Fault{Op: OpWrite, Probability: 1.5}) }, wantPanic: "outside (0, 1]"},
		{name: "a negative probability is refused", do: func(p *Pagefile) { p.Inject(Fault{Op: OpWrite, Probability: -0.1}) }, wantPanic: "outside (0, 1]"},
		{name: "a probability that is not a number is refused", do: func(p *Pagefile) { p.Inject(Fault{Op: OpRead, Probability: math.NaN()}) }, wantPanic: "probability NaN outside (0, 1]"},
		{name: "a fault on an unknown op is refused", do: func(p *Pagefile) { p.Inject(Fault{Op: 7, Nth: 1}) }, wantPanic: "unknown op 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, 10, rand.New(rand.NewPCG(1, 2)))
			mustAllocate(t, p)
			mustAllocate(t, p)
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("no panic, want one containing %q", tt.wantPanic)
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, tt.wantPanic) {
					t.Fatalf("panic %q, want one containing %q", msg, tt.wantPanic)
				}
			}()
			tt.do(p)
		})
	}
}

func TestProbabilityFaultWithoutRandPanics(t *testing.T) {
	p := openTest(t, 4, nil)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Config.Rand is nil") {
			t.Fatalf("recover() = %v, want a panic about Config.Rand being nil", r)
		}
	}()
	p.Inject(Fault{Op: OpRead, Probability: 0.5})
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		slots uint64
		// Slots written: every one allocated, or only every stride-th.
		stride uint64
	}{
		{name: "every slot of a small pagefile keeps its own pattern", slots: 17, stride: 1},
		{name: "patterns survive across several chunks", slots: 2*chunkSlots + 300, stride: 1},
		{name: "slots never written between written ones read as zeros", slots: chunkSlots + 100, stride: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, tt.slots, nil)
			var buf, got, zero [SlotBytes]byte
			for s := uint64(1); s < tt.slots; s++ {
				if mustAllocate(t, p) != s {
					t.Fatalf("allocation out of order at slot %d", s)
				}
				if s%tt.stride == 0 {
					pattern(&buf, s, 0x5A)
					if err := p.Write(s, &buf); err != nil {
						t.Fatalf("Write(%d): %v", s, err)
					}
				}
			}
			// Read back in a different order from the writes.
			for s := tt.slots - 1; s >= 1; s-- {
				if err := p.Read(s, &got); err != nil {
					t.Fatalf("Read(%d): %v", s, err)
				}
				want := &zero
				if s%tt.stride == 0 {
					pattern(&buf, s, 0x5A)
					want = &buf
				}
				if got != *want {
					i := 0
					for got[i] == want[i] {
						i++
					}
					t.Fatalf("slot %d byte %d = %#x, want %#x", s, i, got[i], want[i])
				}
			}
			st := p.Stats()
			wantWrites := (tt.slots - 1) / tt.stride
			if st.Writes != wantWrites || st.Reads != tt.slots-1 || st.ReadErrors != 0 || st.WriteErrors != 0 {
				t.Errorf("Stats = %+v, want %d writes, %d reads, no errors", st, wantWrites, tt.slots-1)
			}
		})
	}
}

func TestReleaseDoesNotClearTheSlot(t *testing.T) {
	// The memory manager always writes a slot before it reads it; the
	// pagefile does not spend a write zeroing freed slots.
	p := openTest(t, 4, nil)
	var buf, got [SlotBytes]byte
	pattern(&buf, 1, 1)
	s := mustAllocate(t, p)
	if err := p.Write(s, &buf); err != nil {
		t.Fatal(err)
	}
	p.Release(s)
	if again := mustAllocate(t, p); again != s {
		t.Fatalf("Allocate after Release = %d, want %d", again, s)
	}
	if err := p.Read(s, &got); err != nil {
		t.Fatal(err)
	}
	if got != buf {
		t.Fatalf("slot %d changed across Release and Allocate", s)
	}
}

// failure is an operation expected to fail.
type failure struct {
	op        int // index into the ops string
	status    uint32
	injection int
}

func TestNthFaults(t *testing.T) {
	tests := []struct {
		name   string
		before string // ops run before the faults are injected: r = read, w = write
		faults []Fault
		ops    string
		want   []failure
	}{
		{
			name:   "the 3rd read fails with the default status",
			faults: []Fault{{Op: OpRead, Nth: 3}},
			ops:    "rrrr",
			want:   []failure{{op: 2, status: 0xC000009C, injection: 1}},
		},
		{
			name:   "the 2nd write fails with the status asked for",
			faults: []Fault{{Op: OpWrite, Nth: 2, Status: 0xC0000185}},
			ops:    "wwww",
			want:   []failure{{op: 1, status: 0xC0000185, injection: 1}},
		},
		{
			name:   "reads and writes are counted apart",
			faults: []Fault{{Op: OpRead, Nth: 2}},
			ops:    "wrwr",
			want:   []failure{{op: 3, status: StatusDeviceDataError, injection: 1}},
		},
		{
			name:   "a failed read counts toward the next Nth",
			faults: []Fault{{Op: OpRead, Nth: 1}, {Op: OpRead, Nth: 2, Status: 0xC000000E}},
			ops:    "rrr",
			want:   []failure{{op: 0, status: StatusDeviceDataError, injection: 1}, {op: 1, status: 0xC000000E, injection: 2}},
		},
		{
			name:   "an Nth fault fires once",
			faults: []Fault{{Op: OpWrite, Nth: 1}},
			ops:    "wwwwr",
			want:   []failure{{op: 0, status: StatusDeviceDataError, injection: 1}},
		},
		{
			name:   "faults are numbered in the order they fired, not the order injected",
			faults: []Fault{{Op: OpWrite, Nth: 3, Status: 0xC0000001}, {Op: OpRead, Nth: 1, Status: 0xC0000002}},
			ops:    "rwww",
			want:   []failure{{op: 0, status: 0xC0000002, injection: 1}, {op: 3, status: 0xC0000001, injection: 2}},
		},
		{
			name:   "Nth counts over the pagefile's life, so an Nth already gone by never fires",
			before: "rr",
			faults: []Fault{{Op: OpRead, Nth: 1}, {Op: OpRead, Nth: 4}},
			ops:    "rrr",
			want:   []failure{{op: 1, status: StatusDeviceDataError, injection: 1}},
		},
		{
			name:   "faults injected out of order fire at their own Nth",
			faults: []Fault{{Op: OpRead, Nth: 4, Status: 0xC0000004}, {Op: OpRead, Nth: 2, Status: 0xC0000002}, {Op: OpRead, Nth: 3, Status: 0xC0000003}},
			ops:    "rrrrr",
			want: []failure{
				{op: 1, status: 0xC0000002, injection: 1},
				{op: 2, status: 0xC0000003, injection: 2},
				{op: 3, status: 0xC0000004, injection: 3},
			},
		},
		{
			name:   "of two faults on the same Nth the first injected fires, and the other has gone by",
			faults: []Fault{{Op: OpWrite, Nth: 2, Status: 0xC0000001}, {Op: OpWrite, Nth: 2, Status: 0xC0000002}},
			ops:    "wwww",
			want:   []failure{{op: 1, status: 0xC0000001, injection: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, 8, nil)
			slot := mustAllocate(t, p)
			var buf [SlotBytes]byte
			run := func(op byte) error {
				if op == 'r' {
					return p.Read(slot, &buf)
				}
				return p.Write(slot, &buf)
			}
			for _, op := range []byte(tt.before) {
				if err := run(op); err != nil {
					t.Fatalf("before the faults: %v", err)
				}
			}
			for _, f := range tt.faults {
				p.Inject(f)
			}
			var got []failure
			var wantReadErrs, wantWriteErrs uint64
			for i, op := range []byte(tt.ops) {
				err := run(op)
				if err == nil {
					continue
				}
				var ioe *IOError
				if !errors.As(err, &ioe) {
					t.Fatalf("op %d (%c): %v is not an *IOError", i, op, err)
				}
				wantOp := OpRead
				if op == 'w' {
					wantOp = OpWrite
					wantWriteErrs++
				} else {
					wantReadErrs++
				}
				if ioe.Op != wantOp || ioe.Slot != slot {
					t.Errorf("op %d: IOError is a %s of slot %d, want a %s of slot %d", i, ioe.Op, ioe.Slot, wantOp, slot)
				}
				got = append(got, failure{op: i, status: ioe.Status, injection: ioe.Injection})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures = %+v\nwant       %+v", got, tt.want)
			}
			st := p.Stats()
			if st.ReadErrors != wantReadErrs || st.WriteErrors != wantWriteErrs {
				t.Errorf("ReadErrors, WriteErrors = %d, %d; the ops saw %d, %d", st.ReadErrors, st.WriteErrors, wantReadErrs, wantWriteErrs)
			}
			if n := uint64(strings.Count(tt.before+tt.ops, "r")); st.Reads != n {
				t.Errorf("Reads = %d, want %d (failed reads count)", st.Reads, n)
			}
		})
	}
}

func TestFailedOperationsChangeNothing(t *testing.T) {
	var old, fresh, poison [SlotBytes]byte
	pattern(&old, 1, 0x11)
	pattern(&fresh, 1, 0x22)
	for i := range poison {
		poison[i] = 0xEE
	}
	tests := []struct {
		name string
		// Each row writes old to the slot first unless fresh is set, then
		// runs op under a fault, which must fail.
		firstWrite bool
		fault      Fault
		op         func(p *Pagefile, slot uint64, buf *[SlotBytes]byte) error
		// What the slot and the caller's buffer hold afterwards.
		wantSlot, wantBuf *[SlotBytes]byte
	}{
		{
			name:       "a failed write leaves the slot's previous contents",
			firstWrite: true,
			fault:      Fault{Op: OpWrite, Nth: 2},
			op: func(p *Pagefile, s uint64, buf *[SlotBytes]byte) error {
				*buf = fresh
				return p.Write(s, buf)
			},
			wantSlot: &old, wantBuf: &fresh,
		},
		{
			name:  "a failed first write leaves the slot reading zeros",
			fault: Fault{Op: OpWrite, Nth: 1},
			op: func(p *Pagefile, s uint64, buf *[SlotBytes]byte) error {
				*buf = fresh
				return p.Write(s, buf)
			},
			wantSlot: &[SlotBytes]byte{}, wantBuf: &fresh,
		},
		{
			name:       "a failed read leaves the caller's buffer untouched",
			firstWrite: true,
			fault:      Fault{Op: OpRead, Nth: 1},
			op: func(p *Pagefile, s uint64, buf *[SlotBytes]byte) error {
				*buf = poison
				return p.Read(s, buf)
			},
			wantSlot: &old, wantBuf: &poison,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, 4, nil)
			s := mustAllocate(t, p)
			if tt.firstWrite {
				w := old
				if err := p.Write(s, &w); err != nil {
					t.Fatal(err)
				}
			}
			p.Inject(tt.fault)
			var buf [SlotBytes]byte
			if err := tt.op(p, s, &buf); err == nil {
				t.Fatalf("the operation under %+v succeeded", tt.fault)
			}
			if buf != *tt.wantBuf {
				t.Errorf("the caller's buffer changed")
			}
			var got [SlotBytes]byte
			if err := p.Read(s, &got); err != nil {
				t.Fatal(err)
			}
			if got != *tt.wantSlot {
				t.Errorf("slot %d holds %#x..., want %#x...", s, got[:4], tt.wantSlot[:4])
			}
		})
	}
}

// runProbability does n reads (or writes) of one slot under faults and
// returns the 0-based numbers of the operations that failed, and how many
// times each injected fault (told apart by Status) fired.
func runProbability(t *testing.T, seed uint64, op Op, faults []Fault, n int) (failed []int, byStatus map[uint32]int) {
	t.Helper()
	p := openTest(t, 4, rand.New(rand.NewPCG(seed, 0x5eed)))
	s := mustAllocate(t, p)
	for _, f := range faults {
		p.Inject(f)
	}
	byStatus = map[uint32]int{}
	var buf [SlotBytes]byte
	for i := range n {
		var err error
		if op == OpRead {
			err = p.Read(s, &buf)
		} else {
			err = p.Write(s, &buf)
		}
		if err != nil {
			var ioe *IOError
			if !errors.As(err, &ioe) {
				t.Fatalf("op %d: %v is not an *IOError", i, err)
			}
			failed = append(failed, i)
			byStatus[ioe.Status]++
		}
	}
	return failed, byStatus
}

func TestProbabilityFaults(t *testing.T) {
	const n = 10_000
	tests := []struct {
		name   string
		op     Op
		faults []Fault
		// want[status] is the expected failure rate of the fault with that
		// status; the bounds are wide (about ±6 standard deviations).
		want map[uint32]float64
	}{
		{
			name:   "one read fault in ten fails about a tenth of the reads",
			op:     OpRead,
			faults: []Fault{{Op: OpRead, Probability: 0.1, Status: 1}},
			want:   map[uint32]float64{1: 0.1},
		},
		{
			name:   "two write faults each fire at their own rate",
			op:     OpWrite,
			faults: []Fault{{Op: OpWrite, Probability: 0.05, Status: 1}, {Op: OpWrite, Probability: 0.25, Status: 2}},
			want:   map[uint32]float64{1: 0.05, 2: 0.25},
		},
		{
			name:   "a fault of probability 1 fails every operation",
			op:     OpRead,
			faults: []Fault{{Op: OpRead, Probability: 1, Status: 3}},
			want:   map[uint32]float64{3: 1},
		},
		{
			name:   "a read fault leaves writes alone",
			op:     OpWrite,
			faults: []Fault{{Op: OpRead, Probability: 0.5, Status: 4}},
			want:   map[uint32]float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed, byStatus := runProbability(t, 42, tt.op, tt.faults, n)
			again, _ := runProbability(t, 42, tt.op, tt.faults, n)
			if !slices.Equal(failed, again) {
				t.Fatalf("seed 42 failed %d operations the first time and %d the second; the same seed must replay the same failures", len(failed), len(again))
			}
			if len(tt.want) > 0 && len(tt.want) < n {
				other, _ := runProbability(t, 43, tt.op, tt.faults, n)
				if len(failed) < n && slices.Equal(failed, other) {
					t.Errorf("seeds 42 and 43 failed the same %d operations", len(failed))
				}
			}
			for status, rate := range tt.want {
				got := byStatus[status]
				mean := rate * n
				slack := 6 * max(1, math.Sqrt(mean*(1-rate)))
				if float64(got) < mean-slack || float64(got) > mean+slack {
					t.Errorf("seed 42: fault with status %#x fired %d times in %d operations, want %.0f ± %.0f", status, got, n, mean, slack)
				}
			}
			total := 0
			for _, c := range byStatus {
				total += c
			}
			if total != len(failed) || (len(tt.want) == 0 && total != 0) {
				t.Errorf("%d operations failed; faults account for %d; want %v", len(failed), total, tt.want)
			}
		})
	}
}

func TestProbabilityFaultsDrawOncePerOperation(t *testing.T) {
	// Replay the generator by hand: exactly one Float64 per read while
	// the read fault is active, none per write, and the Nth fault firing
	// at read 5 still consumes its draw.
	const seed, p = 7, 0.3
	pf := openTest(t, 4, rand.New(rand.NewPCG(seed, seed)))
	shadow := rand.New(rand.NewPCG(seed, seed))
	s := mustAllocate(t, pf)
	var buf [SlotBytes]byte
	for i := range 50 { // writes before any fault: no draws
		if err := pf.Write(s, &buf); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	pf.Inject(Fault{Op: OpRead, Probability: p, Status: 1})
	pf.Inject(Fault{Op: OpRead, Nth: 5, Status: 2})
	reads := 0
	for i := range 2000 {
		if i%3 == 2 {
			if err := pf.Write(s, &buf); err != nil {
				t.Fatalf("op %d: write failed: %v", i, err)
			}
			continue
		}
		reads++
		u := shadow.Float64()
		want := uint32(0)
		switch {
		case reads == 5:
			want = 2
		case u < p:
			want = 1
		}
		var got uint32
		var ioe *IOError
		if err := pf.Read(s, &buf); errors.As(err, &ioe) {
			got = ioe.Status
		} else if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		if got != want {
			t.Fatalf("read %d (draw %.4f): failed with status %#x, want %#x (0 = success); the pagefile drew a different number of times", reads, u, got, want)
		}
	}
}

func TestBigPagefileCostsLittleHeap(t *testing.T) {
	const bytes = 64 << 30 // 16M slots
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	p, err := Open(Config{Bytes: bytes, Path: filepath.Join(t.TempDir(), "pagefile.sys")})
	if err != nil {
		t.Fatalf("Open(64 GiB): %v", err)
	}
	defer p.Close()
	var buf [SlotBytes]byte
	for i := range 10 {
		s := mustAllocate(t, p)
		pattern(&buf, s, byte(i))
		if err := p.Write(s, &buf); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(p)

	if got, want := p.Slots(), uint64(bytes/SlotBytes); got != want {
		t.Errorf("Slots() = %d, want %d", got, want)
	}
	if delta := int64(after.HeapAlloc) - int64(before.HeapAlloc); delta > 1<<20 {
		t.Errorf("a 64 GiB pagefile holding 10 pages grew the Go heap by %d bytes, want under 1 MiB", delta)
	}
	fi, err := p.file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != bytes {
		t.Errorf("host file is %d bytes, want %d", fi.Size(), int64(bytes))
	}
	// A slot allocated but never written reads as zeros.
	s := mustAllocate(t, p)
	if err := p.Read(s, &buf); err != nil {
		t.Fatal(err)
	}
	if buf != [SlotBytes]byte{} {
		t.Errorf("slot %d, never written, reads %#x...; want zeros", s, buf[:4])
	}
	if st := p.Stats(); st.Used != 11 || st.Writes != 10 {
		t.Errorf("Stats = %+v, want 11 used and 10 writes", st)
	}
}

// TestClose: a pagefile at a path the user gave stays after Close; a
// temporary one leaves no file at any time on a host that lets an open
// file lose its name (so a killed run leaves nothing behind), and none
// after Close anywhere.
func TestClose(t *testing.T) {
	for _, userPath := range []bool{false, true} {
		t.Run(fmt.Sprintf("userPath=%v", userPath), func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("TMPDIR", dir) // where os.CreateTemp puts a temporary pagefile
			cfg := Config{Bytes: 4 * SlotBytes}
			if userPath {
				cfg.Path = filepath.Join(dir, "user.sys")
			}
			p, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			files := func() int {
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				return len(entries)
			}
			openFiles := 0
			if userPath || runtime.GOOS == "windows" {
				openFiles = 1
			}
			if n := files(); n != openFiles {
				t.Errorf("%s holds %d files while the pagefile is open, want %d", dir, n, openFiles)
			}
			// The file works unlinked: a slot written reads back.
			s := mustAllocate(t, p)
			want := [SlotBytes]byte{0: 0xAB, SlotBytes - 1: 0xCD}
			var got [SlotBytes]byte
			if err := p.Write(s, &want); err != nil {
				t.Fatal(err)
			}
			if err := p.Read(s, &got); err != nil || got != want {
				t.Fatalf("Read after Write: %v, bytes match %v", err, got == want)
			}
			if err := p.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Fatalf("second Close: %v, want nil (Close is idempotent)", err)
			}
			if n, want := files(), map[bool]int{true: 1, false: 0}[userPath]; n != want {
				t.Errorf("%s holds %d files after Close, want %d", dir, n, want)
			}
		})
	}
}

func TestReadWriteAfterCloseFail(t *testing.T) {
	p, err := Open(Config{Bytes: 4 * SlotBytes, Path: filepath.Join(t.TempDir(), "p.sys")})
	if err != nil {
		t.Fatal(err)
	}
	s := mustAllocate(t, p)
	p.Close()
	var buf [SlotBytes]byte
	for _, err := range []error{p.Read(s, &buf), p.Write(s, &buf)} {
		var ioe *IOError
		if !errors.Is(err, os.ErrClosed) || errors.As(err, &ioe) {
			t.Errorf("after Close: %v, want a wrapped os.ErrClosed that is not an *IOError", err)
		}
	}
	if st := p.Stats(); st.ReadErrors != 1 || st.WriteErrors != 1 {
		t.Errorf("Stats = %+v, want one read and one write error", st)
	}
}

func TestReadWriteAllocs(t *testing.T) {
	tests := []struct {
		name   string
		faults []Fault
	}{
		{name: "a Write and a Read allocate nothing"},
		{name: "nor do they with faults active that do not fire", faults: []Fault{
			{Op: OpRead, Probability: 1e-300}, {Op: OpWrite, Probability: 1e-300}, {Op: OpRead, Nth: 1 << 60},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, 64, rand.New(rand.NewPCG(1, 1)))
			for _, f := range tt.faults {
				p.Inject(f)
			}
			s := mustAllocate(t, p)
			var buf [SlotBytes]byte
			pattern(&buf, s, 9)
			perOp := testing.AllocsPerRun(1000, func() {
				if err := p.Write(s, &buf); err != nil {
					t.Fatal(err)
				}
				if err := p.Read(s, &buf); err != nil {
					t.Fatal(err)
				}
			})
			if perOp != 0 {
				t.Fatalf("Write+Read: %v Go allocations per op, want 0", perOp)
			}
		})
	}
}

func TestForEachUsed(t *testing.T) {
	tests := []struct {
		name    string
		release []uint64 // after allocating slots 1..2*chunkSlots+9
		stopAt  uint64   // fn returns false at this slot (0: never)
		want    []uint64 // the first few slots visited
		wantN   int      // how many were visited
	}{
		{name: "every slot in use is visited in ascending order", want: []uint64{1, 2, 3}, wantN: 2*chunkSlots + 9},
		{name: "released slots are skipped", release: []uint64{1, 3}, want: []uint64{2, 4, 5}, wantN: 2*chunkSlots + 7},
		{name: "the walk stops when fn returns false", release: []uint64{2}, stopAt: 4, want: []uint64{1, 3, 4}, wantN: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := openTest(t, 2*chunkSlots+10, nil)
			for range p.Slots() - 1 {
				mustAllocate(t, p)
			}
			for _, s := range tt.release {
				p.Release(s)
			}
			var got []uint64
			p.ForEachUsed(func(s uint64) bool {
				if len(got) > 0 && s <= got[len(got)-1] {
					t.Fatalf("slot %d visited after %d", s, got[len(got)-1])
				}
				got = append(got, s)
				return s != tt.stopAt
			})
			if len(got) != tt.wantN || !slices.Equal(got[:len(tt.want)], tt.want) {
				t.Errorf("visited %d slots starting %v, want %d starting %v", len(got), got[:min(len(got), 3)], tt.wantN, tt.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "a read is called read", got: OpRead.String(), want: "read"},
		{name: "a write is called write", got: OpWrite.String(), want: "write"},
		{name: "an unknown op shows its number", got: Op(9).String(), want: "Op(9)"},
		{
			name: "an injected read failure names slot, status and fault",
			got:  (&IOError{Op: OpRead, Slot: 12, Status: 0xC000009C, Injection: 1}).Error(),
			want: "pagefile read of slot 12 failed: status 0xc000009c (injected fault #1)",
		},
		{
			name: "a short status is padded to eight digits",
			got:  (&IOError{Op: OpWrite, Slot: 3, Status: 0x103, Injection: 12}).Error(),
			want: "pagefile write of slot 3 failed: status 0x00000103 (injected fault #12)",
		},
		{
			name: "an IOError with no injection number says nothing about faults",
			got:  (&IOError{Op: OpWrite, Slot: 1, Status: 0xC0000185}).Error(),
			want: "pagefile write of slot 1 failed: status 0xc0000185",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %q\nwant %q", tt.got, tt.want)
			}
		})
	}
}

// FuzzSlots runs random allocate, release, write and read operations
// against a shadow of what the pagefile should hold. The first two bytes
// size the pagefile (up to a little over two chunks); each op is a byte
// and an argument byte.
func FuzzSlots(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0, 0, 4, 1, 5, 0, 2, 0, 0, 0})
	f.Add([]byte{0x10, 0x20, 1, 200, 3, 3, 0, 0, 4, 7, 5, 7, 1, 255, 0, 0})
	f.Add([]byte{0xff, 0xff, 1, 255, 1, 255, 3, 1, 3, 128, 1, 10, 4, 1, 5, 1, 5, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		slots := 2 + (uint64(data[0])|uint64(data[1])<<8)%(2*chunkSlots+100)
		p := openTest(t, slots, nil)
		used := make([]bool, slots)    // shadow bitmap
		stamp := make([]uint16, slots) // last byte written + 1; 0 = never written
		owner := make([]uint64, slots) // shadow owners
		nextOwner := uint64(0)
		// lo is where the shadow starts looking for the lowest free slot:
		// every slot in [1, lo) is in use. A release moves it back.
		lo := uint64(1)
		lowestFree := func() uint64 {
			for ; lo < slots; lo++ {
				if !used[lo] {
					return lo
				}
			}
			return 0
		}
		free := func(s uint64) {
			p.Release(s)
			used[s], owner[s] = false, 0
			lo = min(lo, s)
		}
		// pick returns a used slot near arg's position, or 0 if none.
		pick := func(arg byte) uint64 {
			start := 1 + uint64(arg)*(slots-1)/256
			for i := range slots - 1 {
				if s := 1 + (start-1+i)%(slots-1); used[s] {
					return s
				}
			}
			return 0
		}
		allocate := func() {
			want := lowestFree()
			nextOwner++
			got, ok := p.Allocate(nextOwner)
			if want == 0 {
				if ok {
					t.Fatalf("Allocate = %d with every slot in use", got)
				}
				return
			}
			if !ok || got != want {
				t.Fatalf("Allocate = %d, %v; the lowest free slot is %d", got, ok, want)
			}
			used[got], owner[got] = true, nextOwner
		}
		var buf [SlotBytes]byte
		for i := 2; i+1 < len(data); i += 2 {
			op, arg := data[i]%7, data[i+1]
			switch op {
			case 0:
				allocate()
			case 1:
				for range int(arg)*32 + 1 {
					allocate()
				}
			case 2:
				if s := pick(arg); s != 0 {
					free(s)
				}
			case 3: // release a run of up to 300 slots
				for s, n := 1+uint64(arg)*(slots-1)/256, 0; s < slots && n < 300; s, n = s+1, n+1 {
					if used[s] {
						free(s)
					}
				}
			case 4:
				if s := pick(arg); s != 0 {
					pattern(&buf, s, arg)
					if err := p.Write(s, &buf); err != nil {
						t.Fatalf("Write(%d): %v", s, err)
					}
					stamp[s] = uint16(arg) + 1
				}
			case 5:
				if s := pick(arg); s != 0 {
					if err := p.Read(s, &buf); err != nil {
						t.Fatalf("Read(%d): %v", s, err)
					}
					var want [SlotBytes]byte
					if stamp[s] != 0 {
						pattern(&want, s, byte(stamp[s]-1))
					}
					if buf != want {
						t.Fatalf("slot %d reads %#x..., want %#x... (stamp %d)", s, buf[:4], want[:4], stamp[s])
					}
				}
			case 6:
				if s := pick(arg); s != 0 {
					owner[s] = uint64(arg)<<32 | uint64(i)
					p.SetOwner(s, owner[s])
				}
			}
			if s := 1 + uint64(arg)*(slots-1)/256; p.Owner(s) != owner[s] {
				t.Fatalf("Owner(%d) = %#x, want %#x", s, p.Owner(s), owner[s])
			}
			p.bitmap.check()
		}
		var want []uint64
		for s := range slots {
			if used[s] {
				want = append(want, s)
			}
		}
		var got []uint64
		p.ForEachUsed(func(s uint64) bool { got = append(got, s); return true })
		if !slices.Equal(got, want) {
			t.Fatalf("ForEachUsed visited %d slots, the shadow holds %d", len(got), len(want))
		}
		if st := p.Stats(); st.Used != uint64(len(want)) || st.Peak < st.Used || st.Slots != slots {
			t.Fatalf("Stats = %+v, the shadow holds %d of %d slots", st, len(want), slots)
		}
	})
}

func BenchmarkWriteRead(b *testing.B) {
	for _, faults := range []int{0, 50000} {
		b.Run(fmt.Sprintf("faults=%d", faults), func(b *testing.B) { benchmarkWriteRead(b, faults) })
	}
}

// benchmarkWriteRead writes and reads slots with faults injected that
// fire only after the run (a campaign injects many): they must not slow
// each operation down.
func benchmarkWriteRead(b *testing.B, faults int) {
	p := openTest(b, 1024, nil)
	for i := range faults {
		p.Inject(Fault{Op: Op(i % 2), Nth: 1<<62 - uint64(i)})
	}
	var slots []uint64
	for range 1023 {
		slots = append(slots, mustAllocate(b, p))
	}
	var buf [SlotBytes]byte
	pattern(&buf, 1, 1)
	b.SetBytes(2 * SlotBytes)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := slots[i%len(slots)]
		if err := p.Write(s, &buf); err != nil {
			b.Fatal(err)
		}
		if err := p.Read(s, &buf); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
