package pagefile

import (
	"bytes"
	"encoding/gob"
	"path/filepath"
	"slices"
	"strings"
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

// TestRestoreRefusesBadSnapshots: a snapshot a dump could hold damaged is
// an error, never a pagefile with slots out of order or without owners.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Snapshot
		want string
	}{
		{"an owner missing", Snapshot{Bytes: 8 * SlotBytes, Slots: []uint64{1, 2}, Owners: []uint64{7}}, "2 slots but 1 owners"},
		{"an owner of 0", Snapshot{Bytes: 8 * SlotBytes, Slots: []uint64{1, 2}, Owners: []uint64{7, 0}}, "slot 2 has owner 0"},
		{"slots out of order", Snapshot{Bytes: 8 * SlotBytes, Slots: []uint64{2, 1}, Owners: []uint64{7, 8}}, "out of order or out of range"},
		{"a slot past the end", Snapshot{Bytes: 8 * SlotBytes, Slots: []uint64{8}, Owners: []uint64{7}}, "out of order or out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Restore(&tc.s, filepath.Join(t.TempDir(), "r.sys"))
			if err == nil {
				p.Close()
				t.Fatalf("Restore succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Restore: %v, want %q", err, tc.want)
			}
		})
	}
}
