package pagefile

import (
	"bytes"
	"encoding/gob"
	"path/filepath"
	"slices"
	"testing"
)

// A pagefile restored from its snapshot, each slot's bytes put back on
// their own, holds the same slots, owners, bytes and counters; taking the
// bytes counts no read and fires no injected fault.
func TestSnapshotRoundTrip(t *testing.T) {
	p := openTest(t, 64, nil)
	var buf [SlotBytes]byte
	for i := range 5 {
		slot, _ := p.Allocate(uint64(100 + i))
		pattern(&buf, slot, 1)
		if err := p.Write(slot, &buf); err != nil {
			t.Fatal(err)
		}
	}
	p.Release(3)
	p.Inject(Fault{Op: OpRead, Nth: p.Stats().Reads + 1})
	before := p.Stats()

	s := p.Snapshot()
	var enc bytes.Buffer // through gob, as a dump file goes
	if err := gob.NewEncoder(&enc).Encode(s); err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := gob.NewDecoder(&enc).Decode(&back); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(&back, filepath.Join(t.TempDir(), "restored.sys"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var gave []uint64
	err = s.ForEachSlotBytes(func(slot uint64, b *[SlotBytes]byte) error {
		gave = append(gave, slot)
		return r.RestoreSlotBytes(slot, b)
	})
	if err != nil {
		t.Fatalf("ForEachSlotBytes: %v", err)
	}

	if want := []uint64{1, 2, 4, 5}; !slices.Equal(gave, want) {
		t.Errorf("ForEachSlotBytes gave slots %v, want those in use, %v", gave, want)
	}
	if after := p.Stats(); after != before {
		t.Errorf("taking the bytes changed the counters:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := r.Stats(); got != before {
		t.Errorf("restored counters %+v, want %+v", got, before)
	}
	for _, slot := range gave {
		var got, want [SlotBytes]byte
		pattern(&want, slot, 1)
		if err := r.Read(slot, &got); err != nil || got != want || r.Owner(slot) != p.Owner(slot) {
			t.Errorf("restored slot %d: read %v, bytes equal %t, owner %d (want %d)", slot, err, got == want, r.Owner(slot), p.Owner(slot))
		}
	}
	if r.InUse(3) {
		t.Error("slot 3 was released but is in use after the restore")
	}
}
