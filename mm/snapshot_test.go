package mm

import (
	"bytes"
	"encoding/gob"
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

	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer // through gob, as a dump file goes
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
	defer r.Close()

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

func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	m := newMachine(t, machineSpec{})
	good, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func(s *Snapshot)
	}{
		{"too few frames", func(s *Snapshot) { s.Frames = 1 }},
		{"no CPUs", func(s *Snapshot) { s.CPUs = nil }},
		{"node records missing", func(s *Snapshot) { s.Nodes = nil }},
		{"a frame out of range", func(s *Snapshot) { s.Entries = append(s.Entries, FrameSnapshot{PFN: 1 << 40}) }},
		{"a frame with short data", func(s *Snapshot) { s.Entries = append(s.Entries, FrameSnapshot{PFN: 1, Data: []byte{1}}) }},
		{"an IRQL past HIGH_LEVEL", func(s *Snapshot) { s.CPUs[0].IRQL = 99 }},
		{"a node past the frames", func(s *Snapshot) { s.Nodes[0].End = s.Frames + 1 }},
		{"an unknown region", func(s *Snapshot) { s.Regions = append(s.Regions, RegionSnapshot{Region: 200}) }},
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
