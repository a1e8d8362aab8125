package pagefile

import (
	"bytes"
	"encoding/gob"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// slotRecord is a slot as ForEachSlot gives it, its bytes copied.
type slotRecord struct {
	s SlotSnapshot
	b [SlotBytes]byte
}

// slotsOf collects what ForEachSlot gives.
func slotsOf(t *testing.T, s *Snapshot) []slotRecord {
	t.Helper()
	var out []slotRecord
	err := s.ForEachSlot(func(slot SlotSnapshot, b *[SlotBytes]byte) error {
		out = append(out, slotRecord{slot, *b})
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachSlot: %v", err)
	}
	return out
}

// from hands records to RestoreSlots one at a time, as a dump file does,
// and says the stream ended after the last.
func from(records []slotRecord) func() (SlotSnapshot, *[SlotBytes]byte, error) {
	return func() (SlotSnapshot, *[SlotBytes]byte, error) {
		if len(records) == 0 {
			return SlotSnapshot{}, nil, errEnd
		}
		r := &records[0]
		records = records[1:]
		return r.s, &r.b, nil
	}
}

var errEnd = errors.New("no more slot records")

// A pagefile restored from its snapshot and its slots, each slot given
// back on its own, holds the same slots, owners, bytes and counters;
// taking the slots counts no read and fires no injected fault.
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
	records := slotsOf(t, s)
	if err := r.RestoreSlots(back.Stats.Used, from(records)); err != nil {
		t.Fatalf("RestoreSlots: %v", err)
	}

	var gave []uint64
	for _, rec := range records {
		gave = append(gave, rec.s.Slot)
		if rec.s.Owner != p.Owner(rec.s.Slot) {
			t.Errorf("ForEachSlot gave slot %d owner %d; the pagefile says %d", rec.s.Slot, rec.s.Owner, p.Owner(rec.s.Slot))
		}
	}
	if want := []uint64{1, 2, 4, 5}; !slices.Equal(gave, want) {
		t.Errorf("ForEachSlot gave slots %v, want those in use, %v", gave, want)
	}
	if after := p.Stats(); after != before {
		t.Errorf("taking the slots changed the counters:\nbefore %+v\nafter  %+v", before, after)
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
	if slot, _ := r.Allocate(9); slot != 3 {
		t.Errorf("the restored pagefile's next slot is %d, want 3, the lowest free", slot)
	}
	r.bitmap.check()
}

// A snapshot holds no per-slot bookkeeping: its size does not grow with
// the slots in use, which ForEachSlot reads from the pagefile instead.
func TestSnapshotHoldsNoSlots(t *testing.T) {
	p := openTest(t, 4096, nil)
	small := p.Snapshot()
	for range 4000 {
		mustAllocate(t, p)
	}
	large := p.Snapshot()
	size := func(s *Snapshot) int {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(s); err != nil {
			t.Fatal(err)
		}
		return b.Len()
	}
	// Varints: a count of 4000 takes two bytes more than one of 0.
	if a, b := size(small), size(large); b > a+8 {
		t.Errorf("the snapshot of 4000 slots in use encodes to %d bytes, of none %d; want no record per slot", b, a)
	}
}

// TestRestoreRefusesBadSnapshots: a snapshot or a slot record a dump could
// hold damaged is an error, never a pagefile with slots out of order or
// without owners.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	good := func(slot, owner uint64) slotRecord { return slotRecord{s: SlotSnapshot{slot, owner}} }
	for _, tc := range []struct {
		name    string
		s       Snapshot
		records []slotRecord // given to RestoreSlots when Restore succeeds
		want    string
	}{
		{"more slots in use than the pagefile has", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 8}}, nil, "8 slots in use of 8"},
		{"a slot record missing", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 2}}, []slotRecord{good(1, 7)}, errEnd.Error()},
		{"an owner of 0", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 2}}, []slotRecord{good(1, 7), good(2, 0)}, "slot 2 has owner 0"},
		{"slots out of order", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 2}}, []slotRecord{good(2, 7), good(1, 8)}, "out of order or out of range"},
		{"a slot twice", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 2}}, []slotRecord{good(2, 7), good(2, 8)}, "out of order or out of range"},
		{"the reserved slot", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 1}}, []slotRecord{good(0, 7)}, "out of order or out of range"},
		{"a slot past the end", Snapshot{Bytes: 8 * SlotBytes, Stats: Stats{Used: 1}}, []slotRecord{good(8, 7)}, "out of order or out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Restore(&tc.s, filepath.Join(t.TempDir(), "r.sys"))
			if err == nil {
				defer p.Close()
				err = p.RestoreSlots(tc.s.Stats.Used, from(tc.records))
			}
			if err == nil {
				t.Fatalf("Restore and RestoreSlots succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Restore: %v, want %q", err, tc.want)
			}
		})
	}
}
