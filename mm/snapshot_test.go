package mm

import (
	"bytes"
	"encoding/gob"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"simkern/pagefile"
)

// A machine restored from its snapshot answers every debugger question as
// the original does: stats, PTEs, frames and bytes, resident or paged out.
func TestSnapshotRestoresEverythingTheDebuggerSees(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 2 * mib, cpus: 2, nodes: 2})
	c := m.cpu0()
	paged := mustAllocate(t, m, RegionPagedPool, 700) // more than RAM: some go out
	np := mustAllocate(t, m, RegionNonPagedPool, 3)
	for i := uint64(0); i < 700; i++ {
		if err := m.WriteU64(c, paged+VA(i*PageBytes+64), i*3+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.WriteU64(c, np+8, 0xfeedface); err != nil {
		t.Fatal(err)
	}
	m.FreePages(np+2*PageBytes, 1)
	m.Trim(paged, 20)
	if _, err := c.Raise(2); err != nil {
		t.Fatal(err)
	}

	r := restoreThroughGob(t, m.Snapshot())

	if got, want := r.Stats(), m.Stats(); got != want {
		t.Errorf("stats differ:\nrestored %+v\noriginal %+v", got, want)
	}
	for _, va := range []VA{paged, paged + 350*PageBytes, paged + 699*PageBytes, np, np + 2*PageBytes, VA(pxeBase)} {
		if got, want := r.PTEChain(va), m.PTEChain(va); got != want {
			t.Errorf("PTE chain of %v differs:\nrestored %+v\noriginal %+v", va, got, want)
		}
		a, b := make([]byte, PageBytes), make([]byte, PageBytes)
		if na, nb := r.Peek(va, a), m.Peek(va, b); na != nb || !bytes.Equal(a, b) {
			t.Errorf("bytes at %v differ (%d vs %d readable)", va, na, nb)
		}
	}
	for f := PFN(0); f < PFN(m.Frames()); f += 37 {
		got, _ := r.Frame(f)
		want, _ := m.Frame(f)
		if got != want {
			t.Errorf("frame %#x differs: %+v vs %+v", f, got, want)
		}
	}
	if r.CPUs.CPUs[0].IRQL() != 2 {
		t.Errorf("CPU 0 restored at IRQL %d, want 2", r.CPUs.CPUs[0].IRQL())
	}
	// The restored machine is whole: reading every paged page back gives
	// the values written, through faults on the restored pagefile.
	c2 := r.CPUs.CPUs[1]
	for i := uint64(0); i < 700; i++ {
		v, err := r.ReadU64(c2, paged+VA(i*PageBytes+64))
		if err != nil || v != i*3+1 {
			t.Fatalf("restored page %d reads %d, %v; want %d", i, v, err, i*3+1)
		}
	}
	check(t, r)
}

// restoreThroughGob restores a machine from snap as a dump file carries
// it: the snapshot through gob, then each frame and each slot on its own.
func restoreThroughGob(t *testing.T, snap *Snapshot) *Machine {
	t.Helper()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(snap); err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(&back, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.RestoreFrames(from(framesOf(t, snap))); err != nil {
		t.Fatalf("RestoreFrames: %v", err)
	}
	if snap.Pagefile != nil {
		var slots []pagefile.SlotSnapshot
		var pages []*[PageBytes]byte
		err := snap.Pagefile.ForEachSlot(func(s pagefile.SlotSnapshot, b *[pagefile.SlotBytes]byte) error {
			slots, pages = append(slots, s), append(pages, new([PageBytes]byte))
			*pages[len(pages)-1] = *b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Pagefile.RestoreSlots(back.Pagefile.Stats.Used, func() (pagefile.SlotSnapshot, *[pagefile.SlotBytes]byte, error) {
			s, b := slots[0], pages[0]
			slots, pages = slots[1:], pages[1:]
			return s, b, nil
		})
		if err != nil {
			t.Fatalf("RestoreSlots: %v", err)
		}
	}
	return r
}

// frameRecord is a frame as ForEachFrame gives it, its bytes copied.
type frameRecord struct {
	e FrameSnapshot
	b *[PageBytes]byte // nil: no bytes
}

// framesOf collects what ForEachFrame gives.
func framesOf(t *testing.T, snap *Snapshot) []frameRecord {
	t.Helper()
	var out []frameRecord
	err := snap.ForEachFrame(func(e FrameSnapshot, b *[PageBytes]byte) error {
		r := frameRecord{e: e}
		if b != nil {
			r.b = new([PageBytes]byte)
			*r.b = *b
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// errNoMore is what from says after the last record.
var errNoMore = errors.New("no more frame records")

// from hands records to RestoreFrames one at a time, as a dump file does.
func from(records []frameRecord) func() (FrameSnapshot, *[PageBytes]byte, error) {
	return func() (FrameSnapshot, *[PageBytes]byte, error) {
		if len(records) == 0 {
			return FrameSnapshot{}, nil, errNoMore
		}
		r := records[0]
		records = records[1:]
		return r.e, r.b, nil
	}
}

// A snapshot holds neither the PFN database nor memory: it costs the same
// however many frames were handed out, and ForEachFrame hands out exactly
// the frames handed out, in order, with the machine's own bytes for those
// that have any, allocating nothing.
func TestSnapshotCopiesNoFrames(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 64 * mib, pagefileBytes: noPagefile, nodes: 2, cpus: 2})
	sizeOf := func() (gobBytes int, allocated uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		snap := m.Snapshot()
		runtime.ReadMemStats(&after)
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(snap); err != nil {
			t.Fatal(err)
		}
		return b.Len(), after.TotalAlloc - before.TotalAlloc
	}
	emptyGob, emptyAlloc := sizeOf()

	const pages = 12000 // untouched: entries without bytes, the cheapest frames a machine holds
	va := mustAllocate(t, m, RegionNonPagedPool, pages)
	for i := uint64(0); i < 1000; i++ {
		if err := m.WriteU64(m.cpu0(), va+VA(i*PageBytes), i+1); err != nil {
			t.Fatal(err)
		}
	}
	fullGob, fullAlloc := sizeOf()
	// The node bounds and counters are varints: a few bytes more.
	if fullGob > emptyGob+64 || fullAlloc > emptyAlloc+1024 {
		t.Errorf("the snapshot of %d frames handed out encodes to %d bytes and allocates %d; of 1 frame, %d and %d: want no record per frame",
			pages, fullGob, fullAlloc, emptyGob, emptyAlloc)
	}

	snap := m.Snapshot()
	var handedOut, withBytes []PFN
	for f := PFN(0); f < PFN(m.Frames()); f++ {
		if fi, _ := m.Frame(f); fi.Touched {
			handedOut = append(handedOut, f)
		}
		if m.peekFrame(f) != nil {
			withBytes = append(withBytes, f)
		}
	}
	if len(handedOut) < pages || len(withBytes) < 1000 {
		t.Fatalf("%d frames handed out, %d with bytes; want at least %d and 1000", len(handedOut), len(withBytes), pages)
	}
	if n := snap.HandedOut(); n != uint64(len(handedOut)) {
		t.Errorf("HandedOut() = %d, want %d", n, len(handedOut))
	}
	var gave, gaveBytes []PFN
	var fn func(e FrameSnapshot, b *[PageBytes]byte) error
	fn = func(e FrameSnapshot, b *[PageBytes]byte) error {
		gave = append(gave, e.PFN)
		if b != nil {
			gaveBytes = append(gaveBytes, e.PFN)
		}
		if b != m.peekFrame(e.PFN) {
			t.Errorf("frame %#x: ForEachFrame gave bytes that are not the machine's", e.PFN)
		}
		if fi, _ := m.Frame(e.PFN); fi.State != e.State || fi.Pageable != e.Pageable || fi.PageTable != e.PageTable ||
			fi.Modified != e.Modified || fi.Slot != e.Slot || e.State == StateActive && fi.VA != e.VA {
			t.Errorf("frame %#x: ForEachFrame gave %+v, the machine has %+v", e.PFN, e, fi)
		}
		return nil
	}
	if err := snap.ForEachFrame(fn); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gave, handedOut) || !slices.Equal(gaveBytes, withBytes) {
		t.Errorf("ForEachFrame gave %d frames, %d with bytes; want the %d handed out, ascending, and the %d with bytes",
			len(gave), len(gaveBytes), len(handedOut), len(withBytes))
	}
	stats := m.Stats()
	if n := testing.AllocsPerRun(3, func() { _ = snap.ForEachFrame(func(FrameSnapshot, *[PageBytes]byte) error { return nil }) }); n != 0 {
		t.Errorf("ForEachFrame allocated %v times for %d frames; want none", n, len(handedOut))
	}
	if m.Stats() != stats {
		t.Error("ForEachFrame changed the machine's counters")
	}
	check(t, m)
}

func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	m := newMachine(t, machineSpec{})
	mustAllocate(t, m, RegionNonPagedPool, 3) // frames handed out: entries to damage
	good := m.Snapshot()
	goodFrames := framesOf(t, good)
	if r, err := Restore(good, ""); err != nil {
		t.Fatalf("Restore of the undamaged snapshot: %v", err)
	} else if err := r.RestoreFrames(from(goodFrames)); err != nil {
		t.Fatalf("RestoreFrames of the undamaged frames: %v", err)
	} else {
		r.Close()
	}
	last := len(goodFrames) - 1
	for _, tc := range []struct {
		name   string
		damage func(s *Snapshot, frames []frameRecord) []frameRecord
		want   string // the error holds it
	}{
		{"too few frames", func(s *Snapshot, f []frameRecord) []frameRecord { s.Frames = 1; return f }, "1 frames"},
		{"no CPUs", func(s *Snapshot, f []frameRecord) []frameRecord { s.CPUs = nil; return f }, "0 CPUs"},
		{"node records missing", func(s *Snapshot, f []frameRecord) []frameRecord { s.Nodes = nil; return f }, "0 NUMA nodes"},
		{"a frame out of range", func(s *Snapshot, f []frameRecord) []frameRecord {
			f[last].e.PFN = 1 << 40
			return f
		}, "the entry of frame 0x10000000000 where frame 0x6's is due"},
		{"a frame in no state", func(s *Snapshot, f []frameRecord) []frameRecord { f[0].e.State = StateActive + 1; return f }, "frame 0x0 in state 5"},
		{"an IRQL past HIGH_LEVEL", func(s *Snapshot, f []frameRecord) []frameRecord { s.CPUs[0].IRQL = 99; return f }, "IRQL 99"},
		{"a node past the frames", func(s *Snapshot, f []frameRecord) []frameRecord { s.Nodes[0].End = s.Frames + 1; return f }, "node frames"},
		{"an unknown region", func(s *Snapshot, f []frameRecord) []frameRecord {
			s.Regions = append(s.Regions, RegionSnapshot{Region: 200})
			return f
		}, "region 200"},
		// The entries must be the frames handed out, each once, in order:
		// a crafted list could otherwise make a small file cost a chunk
		// of PFN entries per entry, or list one frame a million times.
		{"a frame listed twice", func(s *Snapshot, f []frameRecord) []frameRecord { return slices.Insert(f, 1, f[0]) },
			"the entry of frame 0x0 where frame 0x1's is due"},
		{"a frame left out", func(s *Snapshot, f []frameRecord) []frameRecord { return f[:last] }, errNoMore.Error()},
		{"frames out of order", func(s *Snapshot, f []frameRecord) []frameRecord { f[0], f[1] = f[1], f[0]; return f },
			"the entry of frame 0x1 where frame 0x0's is due"},
		{"a frame never handed out", func(s *Snapshot, f []frameRecord) []frameRecord {
			f[last].e.PFN = PFN(s.Nodes[len(s.Nodes)-1].Next)
			return f
		}, "the entry of frame 0x7 where frame 0x6's is due"},
		{"nodes that overlap", func(s *Snapshot, f []frameRecord) []frameRecord {
			s.CPUs = append(s.CPUs, s.CPUs[0]) // a CPU for each node, so the overlap is what is wrong
			s.Nodes = append(s.Nodes, s.Nodes[0])
			return f
		}, "node frames"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *good
			s.CPUs = append([]CPUSnapshot(nil), good.CPUs...)
			s.Nodes = append([]NodeSnapshot(nil), good.Nodes...)
			frames := tc.damage(&s, slices.Clone(goodFrames))
			r, err := Restore(&s, "")
			if err == nil {
				defer r.Close()
				err = r.RestoreFrames(from(frames))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Restore and RestoreFrames of a snapshot with %s: %v; want an error with %q", tc.name, err, tc.want)
			}
		})
	}
}
