package mm

import (
	"bytes"
	"encoding/gob"
	"runtime"
	"slices"
	"testing"
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
// it: the snapshot through gob, then each page on its own.
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
	err = snap.ForEachFrameBytes(func(f PFN, b *[PageBytes]byte) error {
		r.RestoreFrameBytes(f, b)
		return nil
	})
	if err == nil && snap.Pagefile != nil {
		err = snap.Pagefile.ForEachSlotBytes(r.Pagefile.RestoreSlotBytes)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A snapshot holds the PFN database, not memory: it costs a small part of
// the bytes its frames hold, and ForEachFrameBytes hands out exactly the
// frames that have bytes, in order, as the machine holds them.
func TestSnapshotCopiesNoFrameBytes(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 8 * mib, pagefileBytes: noPagefile})
	va := mustAllocate(t, m, RegionNonPagedPool, 1000)
	for i := uint64(0); i < 1000; i++ {
		if err := m.WriteU64(m.cpu0(), va+VA(i*PageBytes), i+1); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	snap := m.Snapshot()
	runtime.ReadMemStats(&after)

	var withBytes []PFN
	for f := PFN(0); f < PFN(m.Frames()); f++ {
		if m.peekFrame(f) != nil {
			withBytes = append(withBytes, f)
		}
	}
	if len(withBytes) < 1000 {
		t.Fatalf("only %d frames have bytes after writing 1000 pages", len(withBytes))
	}
	if got, held := after.TotalAlloc-before.TotalAlloc, uint64(len(withBytes))*PageBytes; got > held/16 {
		t.Errorf("Snapshot allocated %d bytes for %d frames with %d bytes in them; want at most 1/16 of that", got, len(withBytes), held)
	}
	var got []PFN
	err := snap.ForEachFrameBytes(func(f PFN, b *[PageBytes]byte) error {
		if b != m.peekFrame(f) {
			t.Errorf("frame %#x: ForEachFrameBytes gave bytes that are not the machine's", f)
		}
		got = append(got, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, withBytes) {
		t.Errorf("ForEachFrameBytes gave %d frames, want the %d with bytes, ascending:\ngot  %v\nwant %v", len(got), len(withBytes), got, withBytes)
	}
}

func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	m := newMachine(t, machineSpec{})
	mustAllocate(t, m, RegionNonPagedPool, 3) // frames handed out: entries to damage
	good := m.Snapshot()
	if r, err := Restore(good, ""); err != nil {
		t.Fatalf("Restore of the undamaged snapshot: %v", err)
	} else {
		r.Close()
	}
	for _, tc := range []struct {
		name   string
		damage func(s *Snapshot)
	}{
		{"too few frames", func(s *Snapshot) { s.Frames = 1 }},
		{"no CPUs", func(s *Snapshot) { s.CPUs = nil }},
		{"node records missing", func(s *Snapshot) { s.Nodes = nil }},
		{"a frame out of range", func(s *Snapshot) { s.Entries = append(s.Entries, FrameSnapshot{PFN: 1 << 40}) }},
		{"an IRQL past HIGH_LEVEL", func(s *Snapshot) { s.CPUs[0].IRQL = 99 }},
		{"a node past the frames", func(s *Snapshot) { s.Nodes[0].End = s.Frames + 1 }},
		{"an unknown region", func(s *Snapshot) { s.Regions = append(s.Regions, RegionSnapshot{Region: 200}) }},
		// The entries must be the frames handed out, each once, in order:
		// a crafted list could otherwise make a small file cost a chunk
		// of PFN entries per entry, or list one frame a million times.
		{"a frame listed twice", func(s *Snapshot) { s.Entries = append(s.Entries, s.Entries[len(s.Entries)-1]) }},
		{"a frame left out", func(s *Snapshot) { s.Entries = s.Entries[:len(s.Entries)-1] }},
		{"frames out of order", func(s *Snapshot) { s.Entries[0], s.Entries[1] = s.Entries[1], s.Entries[0] }},
		{"a frame never handed out", func(s *Snapshot) {
			s.Entries = append(s.Entries, FrameSnapshot{PFN: PFN(s.Nodes[len(s.Nodes)-1].Next)})
		}},
		{"nodes that overlap", func(s *Snapshot) { s.Nodes = append(s.Nodes, s.Nodes[0]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := *good
			s.CPUs = append([]CPUSnapshot(nil), good.CPUs...)
			s.Nodes = append([]NodeSnapshot(nil), good.Nodes...)
			s.Entries = append([]FrameSnapshot(nil), good.Entries...)
			tc.damage(&s)
			if r, err := Restore(&s, ""); err == nil {
				r.Close()
				t.Errorf("Restore accepted a snapshot with %s", tc.name)
			}
		})
	}
}
