package pool

import (
	"fmt"
	"slices"
	"testing"

	"simkern/mm"
)

// Split and coalesce, with the lookaside lists off so every free reaches
// the free lists. Each step is an allocation or a free; after it, the walk
// of the page (PageBlocks) must be exactly the expected list. Sizes in
// units: 100 bytes -> 8 (0x80), 200 -> 14 (0xe0), 50 -> 5 (0x50),
// 300 -> 21 (0x150).
func TestSplitAndCoalesce(t *testing.T) {
	const (
		A = BlockAllocated
		F = BlockFree
	)
	type step struct {
		what   string
		alloc  uint64 // bytes to allocate, named by name; 0: free name
		name   string
		layout []layoutRow
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "blocks split from the back, merge both ways, and the empty page goes back to mm",
			steps: []step{
				{"the first block of a fresh page takes the front", 100, "a", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xf80, 0x080, F},
				}},
				{"a later block takes the back of the free block", 200, "b", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xea0, 0x080, F},
					{0xf20, 0x0e0, 0xea0, A},
				}},
				{"so does the next, just before it", 50, "c", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xe50, 0x080, F},
					{0xed0, 0x050, 0xe50, A},
					{0xf20, 0x0e0, 0x050, A},
				}},
				{"and the next", 300, "d", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xd00, 0x080, F},
					{0xd80, 0x150, 0xd00, A},
					{0xed0, 0x050, 0x150, A},
					{0xf20, 0x0e0, 0x050, A},
				}},
				{"a block between two in use stays alone", 0, "c", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xd00, 0x080, F},
					{0xd80, 0x150, 0xd00, A},
					{0xed0, 0x050, 0x150, F},
					{0xf20, 0x0e0, 0x050, A},
				}},
				{"a block between two free ones merges with both", 0, "d", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xea0, 0x080, F},
					{0xf20, 0x0e0, 0xea0, A},
				}},
				{"the first block merges with the free block after it", 0, "a", []layoutRow{
					{0x000, 0xf20, 0x000, F},
					{0xf20, 0x0e0, 0xf20, A},
				}},
				{"a free block at the page start is split keeping the front", 100, "a", []layoutRow{
					{0x000, 0x080, 0x000, A},
					{0x080, 0xea0, 0x080, F},
					{0xf20, 0x0e0, 0xea0, A},
				}},
			},
		},
		{
			name: "a 255-unit block leaves a one-unit fragment, and freeing it empties the page",
			steps: []step{
				{"a block of 255 units (4056 bytes) leaves a one-unit fragment", 4056, "big", []layoutRow{
					{0x000, 0xff0, 0x000, A},
					{0xff0, 0x010, 0xff0, F},
				}},
				{"freeing it merges with the fragment: the page would be empty", 0, "big", nil},
			},
		},
		{
			name: "a free block that exactly fits is used whole, with its prev size kept",
			steps: []step{
				{"", 1, "k", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xfe0, 0x020, F},
				}},
				{"", 100, "x", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf60, 0x020, F},
					{0xf80, 0x080, 0xf60, A},
				}},
				{"", 1, "y", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf40, 0x020, F},
					{0xf60, 0x020, 0xf40, A},
					{0xf80, 0x080, 0x020, A},
				}},
				{"", 0, "x", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf40, 0x020, F},
					{0xf60, 0x020, 0xf40, A},
					{0xf80, 0x080, 0x020, F},
				}},
				{"the 8-unit request finds list 8 before the big block", 100, "x2", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf40, 0x020, F},
					{0xf60, 0x020, 0xf40, A},
					{0xf80, 0x080, 0x020, A},
				}},
			},
		},
		{
			name: "a split that leaves one unit: the unit is a fragment on no list, then merges",
			steps: []step{
				{"", 1, "k", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xfe0, 0x020, F},
				}},
				{"", 100, "x", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf60, 0x020, F},
					{0xf80, 0x080, 0xf60, A},
				}},
				{"", 1, "y", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf40, 0x020, F},
					{0xf60, 0x020, 0xf40, A},
					{0xf80, 0x080, 0x020, A},
				}},
				{"", 0, "x", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf40, 0x020, F},
					{0xf60, 0x020, 0xf40, A},
					{0xf80, 0x080, 0x020, F},
				}},
				{"7 units (88 bytes) from the 8-unit block leave a 1-unit fragment in front", 88, "z", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf40, 0x020, F},
					{0xf60, 0x020, 0xf40, A},
					{0xf80, 0x010, 0x020, F},
					{0xf90, 0x070, 0x010, A},
				}},
				{"freeing y merges the big block, y and the fragment", 0, "y", []layoutRow{
					{0x000, 0x020, 0x000, A},
					{0x020, 0xf70, 0x020, F},
					{0xf90, 0x070, 0xf70, A},
				}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: Config{NoLookaside: true}})
			live := map[string]mm.VA{}
			var page mm.VA
			for i, s := range tt.steps {
				what := s.what
				if what == "" {
					what = fmt.Sprintf("step %d", i)
				}
				if s.alloc != 0 {
					live[s.name] = r.alloc(NonPagedPool, s.alloc, "Lay"+s.name[:1])
					if page == 0 {
						page = live[s.name].PageBase()
					}
					if live[s.name].PageBase() != page {
						t.Fatalf("%s: %s landed in page %v, want %v", what, s.name, live[s.name].PageBase(), page)
					}
				} else {
					r.free(live[s.name])
					delete(live, s.name)
				}
				r.check()
				if s.layout == nil {
					if pages := r.p.SmallPages(mm.RegionNonPagedPool); slices.Contains(pages, page) {
						t.Fatalf("%s: page %v still a small-block page, want it given back", what, page)
					}
					continue
				}
				if got := r.layout(page); !slices.Equal(got, s.layout) {
					t.Fatalf("%s: page %v:\n got %v\nwant %v", what, page, got, s.layout)
				}
			}
		})
	}
}

// A page that becomes wholly free goes back to mm: the pool forgets it,
// the descriptor's page count drops, and mm counts it idle.
func TestEmptyPageGoesBackToMM(t *testing.T) {
	tests := []struct {
		name  string
		t     Type
		small func(Totals) uint64
	}{
		{"a nonpaged page", NonPagedPool, func(x Totals) uint64 { return x.NonPagedPages }},
		{"a paged page", PagedPool, func(x Totals) uint64 { return x.PagedPages }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: Config{NoLookaside: true}})
			region := mm.RegionNonPagedPool
			if tt.t.Paged() {
				region = mm.RegionPagedPool
			}
			before := r.m.Stats()
			a := r.alloc(tt.t, 100, "Gone")
			b := r.alloc(tt.t, 300, "Gone")
			if got := r.p.SmallPages(region); len(got) != 1 || got[0] != a.PageBase() {
				t.Fatalf("SmallPages = %v, want [%v]", got, a.PageBase())
			}
			if got := tt.small(r.p.Totals()); got != 1 {
				t.Fatalf("Totals pages = %d, want 1", got)
			}
			r.free(a)
			if got := tt.small(r.p.Totals()); got != 1 {
				t.Fatalf("after one free: Totals pages = %d, want 1 (b is still live)", got)
			}
			r.free(b)
			if got := r.p.SmallPages(region); len(got) != 0 {
				t.Errorf("SmallPages = %v after freeing every block, want none", got)
			}
			if got := tt.small(r.p.Totals()); got != 0 {
				t.Errorf("Totals pages = %d after freeing every block, want 0", got)
			}
			if kind, _ := r.p.Classify(a); kind != KindNone {
				t.Errorf("Classify(%v) = %v, want KindNone", a, kind)
			}
			after := r.m.Stats()
			if tt.t.Paged() {
				if after.PagedPoolPages != before.PagedPoolPages {
					t.Errorf("mm maps %d paged pool pages, want %d as before", after.PagedPoolPages, before.PagedPoolPages)
				}
			} else if after.IdleNonPagedPages != before.IdleNonPagedPages+1 {
				t.Errorf("mm holds %d idle nonpaged pages, want %d", after.IdleNonPagedPages, before.IdleNonPagedPages+1)
			}
			r.check()
		})
	}
}

// TestBlockHolding: the block that holds an address comes from the pool's
// records, so damaged headers do not move it: a header, the data and the
// last byte of a small block all name its data; a big allocation's later
// page names its start.
func TestBlockHolding(t *testing.T) {
	r := newRig(t, spec{})
	a := r.alloc(NonPagedPool, 64, "Aaaa")
	b := r.alloc(NonPagedPool, 64, "Bbbb")
	big := r.alloc(NonPagedPool, 3*mm.PageBytes, "Bigg")
	r.pokeU64(a-HeaderBytes, 0x00ff0000) // a's header claims the whole page
	r.pokeU64(b-HeaderBytes, 0)
	for _, tc := range []struct {
		name     string
		va, want mm.VA
	}{
		{"b's header", b - HeaderBytes, b},
		{"b's data", b + 8, b},
		{"b's last byte", b + 64 + 7, b},
		{"a's header", a - 8, a},
		{"a big allocation's third page", big + 2*mm.PageBytes + 5, big},
		{"no pool at all", 0x1234, 0x1234},
	} {
		if got := r.p.BlockHolding(tc.va); got != tc.want {
			t.Errorf("%s: BlockHolding(%v) = %v, want %v", tc.name, tc.va, got, tc.want)
		}
	}
}

// TestRecordsForTheDebugger: RecordedBlockSize is each block's size as the
// pool laid the page out, and ExpectedCanary the bytes after a small or big
// allocation's data, whatever memory holds now.
func TestRecordsForTheDebugger(t *testing.T) {
	r := newRig(t, spec{cfg: Config{NoLookaside: true}})
	a := r.alloc(NonPagedPool, 64, "Aaaa")  // 6 units at the page start
	b := r.alloc(NonPagedPool, 100, "Bbbb") // 8 units at the page end
	big := r.alloc(NonPagedPool, 5000, "Bigg")
	r.pokeU64(a-HeaderBytes, 0) // the header lies now; the records do not
	for _, tc := range []struct {
		at   mm.VA
		want Units
		ok   bool
	}{
		{a - HeaderBytes, 6, true},
		{a + 6*UnitBytes - HeaderBytes, PageUnits - 6 - 8, true}, // the free rest
		{b - HeaderBytes, 8, true},
		{a, 0, false}, // data, not a header
	} {
		if got, ok := r.p.RecordedBlockSize(tc.at); got != tc.want || ok != tc.ok {
			t.Errorf("RecordedBlockSize(%v) = %d, %v; want %d, %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		data mm.VA
		n    uint64
	}{{b, 100}, {big, 5000}} {
		if got, want := r.p.ExpectedCanary(tc.data, tc.n), r.peekU64(tc.data+mm.VA(tc.n)); got != want {
			t.Errorf("ExpectedCanary(%v, %d) = %#x, memory holds %#x", tc.data, tc.n, got, want)
		}
	}
	// Canary says where the canary lies: right after the requested bytes,
	// as long as the block leaves room for (a 4056-byte request leaves 8,
	// a 4060-byte one 4), and nowhere for data that starts no allocation.
	c := r.alloc(NonPagedPool, 4056, "Cccc")
	d := r.alloc(NonPagedPool, 4060, "Dddd")
	for _, tc := range []struct {
		data, at mm.VA
		n        uint64
	}{{a, a + 64, 8}, {b, b + 100, 8}, {big, big + 5000, 8}, {c, c + 4056, 8}, {d, d + 4060, 4}, {a + 16, 0, 0}, {0x1000, 0, 0}} {
		if at, n := r.p.Canary(tc.data); at != tc.at || n != tc.n {
			t.Errorf("Canary(%v) = %v, %d; want %v, %d", tc.data, at, n, tc.at, tc.n)
		}
	}
}
