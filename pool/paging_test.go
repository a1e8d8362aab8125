package pool

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"simkern/mm"
)

// pattern fills n bytes with a pattern unique to seed.
func pattern(seed int, n uint64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i>>8)
	}
	return b
}

// Paged pool blocks, small and big, survive being written to the pagefile
// and read back, and free cleanly afterwards: the pool's own reads of
// their headers and canaries fault the pages back in.
func TestPagedBlocksSurvivePageOut(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"with lookaside lists", Config{}},
		{"without lookaside lists, validating every operation", Config{NoLookaside: true, VerifyEveryOp: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{ramBytes: 2 * mib, pagefileBytes: 16 * mib, cfg: tt.cfg})
			sizes := []uint64{1, 40, 100, 488, 1000, 4064, 4065, 9000, 20000}
			var vas []mm.VA
			for i := range 40 {
				n := sizes[i%len(sizes)]
				va := r.alloc(PagedPool, n, fmt.Sprintf("Pg%02d", i%7))
				r.poke(va, pattern(i, n))
				vas = append(vas, va)
			}
			r.check()
			before := r.m.Stats()
			if n := r.m.PageOutAll(); n == 0 {
				t.Fatalf("PageOutAll evicted nothing")
			}
			for _, va := range vas {
				if r.m.Resident(va) {
					t.Fatalf("%v is still resident after PageOutAll", va)
				}
			}
			// The validator only peeks: paged-out pages are skipped.
			r.check()
			// A leak report still names every block, paged out or not.
			out, _ := r.p.OutstandingAllocations(0)
			if len(out) != len(vas) {
				t.Fatalf("%d outstanding allocations, want %d", len(out), len(vas))
			}
			for _, o := range out {
				i := slices.Index(vas, o.VA)
				if i < 0 || o.Tag != TagOf(fmt.Sprintf("Pg%02d", i%7)) || o.Bytes != sizes[i%len(sizes)] {
					t.Errorf("outstanding %+v: not what allocation %d asked for", o, i)
				}
			}
			for i, va := range vas {
				n := sizes[i%len(sizes)]
				got := make([]byte, n)
				if err := r.m.Read(r.c, va, got); err != nil {
					t.Fatalf("reading block %d back: %v", i, err)
				}
				if !bytes.Equal(got, pattern(i, n)) {
					t.Fatalf("block %d (%v, %d bytes) came back different", i, va, n)
				}
			}
			after := r.m.Stats()
			if after.HardFaults == before.HardFaults {
				t.Errorf("no hard faults counted reading paged-out pool back (%d before, %d after)", before.HardFaults, after.HardFaults)
			}
			r.m.PageOutAll()
			for i, va := range vas {
				if err := r.p.FreeWithTag(r.c, va, TagOf(fmt.Sprintf("Pg%02d", i%7))); err != nil {
					t.Fatalf("freeing block %d (%v) after page-out: %v", i, va, err)
				}
			}
			r.check()
			if x := r.p.Totals(); x.PagedBytes != 0 || x.PagedBigPages != 0 {
				t.Errorf("after freeing everything: %d paged bytes, %d big pages in use; want 0", x.PagedBytes, x.PagedBigPages)
			}
			for _, s := range r.p.Tags() {
				if s.PagedBytes != 0 || s.PagedOutstanding() != 0 {
					t.Errorf("tag %q: %d bytes, %d allocations outstanding; want 0", s.Tag, s.PagedBytes, s.PagedOutstanding())
				}
			}
		})
	}
}

// Memory pressure from the paged pool itself: a live set larger than RAM
// keeps working, the pool's free lists and headers paging in and out.
func TestPagedPoolLargerThanRAM(t *testing.T) {
	r := newRig(t, spec{ramBytes: 1 * mib, pagefileBytes: 32 * mib, cfg: Config{NoLookaside: true}})
	var vas []mm.VA
	var sizes []uint64
	for i := range 2000 {
		n := uint64(16 + i*37%1000)
		va := r.alloc(PagedPool, n, "Big")
		r.poke(va, pattern(i, n))
		vas, sizes = append(vas, va), append(sizes, n)
	}
	if s := r.m.Stats(); s.HardFaults == 0 && s.Repurposed == 0 {
		t.Fatalf("no paging happened: %+v", s)
	}
	// Free every other block, then check the rest.
	for i := 0; i < len(vas); i += 2 {
		r.free(vas[i])
	}
	r.check()
	for i := 1; i < len(vas); i += 2 {
		got := make([]byte, sizes[i])
		if err := r.m.Read(r.c, vas[i], got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pattern(i, sizes[i])) {
			t.Fatalf("block %d changed", i)
		}
		r.free(vas[i])
	}
	r.check()
	if x := r.p.Totals(); x.PagedPages != 0 || x.PagedBytes != 0 {
		t.Errorf("after freeing everything: %d pages, %d bytes; want 0", x.PagedPages, x.PagedBytes)
	}
}

// A freed big nonpaged allocation stays mapped, as on Windows: a stale
// read returns the old bytes and nothing halts (special pool is what
// catches this). A freed big paged allocation is unmapped (0x50: see
// TestBugchecks).
func TestFreedBigNonPagedStaysMapped(t *testing.T) {
	r := newRig(t, spec{})
	va := r.alloc(NonPagedPool, 10000, "Old ")
	want := pattern(3, 10000)
	r.poke(va, want)
	r.free(va)
	if kind, _ := r.p.Classify(va); kind != KindNone {
		t.Errorf("Classify(%v) = %v after the free, want KindNone", va, kind)
	}
	r.c.PC = driverPC
	got := make([]byte, len(want))
	if err := r.m.Read(r.c, va, got); err != nil {
		t.Fatalf("stale read of freed nonpaged pool: %v, want the old bytes", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("stale read returned different bytes")
	}
	if h := r.m.Halted(); h != nil {
		t.Errorf("machine halted: %v", h)
	}
}

// When memory runs out an allocation returns NULL, not an error, and the
// pool counts the failure.
func TestAllocationFailureReturnsNull(t *testing.T) {
	tests := []struct {
		name string
		t    Type
		n    uint64
	}{
		{"a small nonpaged request", NonPagedPool, 100},
		{"a big nonpaged request", NonPagedPool, 10000},
		{"a big paged request", PagedPool, 2 * mib},
		{"a small paged request", PagedPool, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{ramBytes: 1 * mib, pagefileBytes: noPagefile})
			r.fillNonPaged(4000)
			if r.p.Failures != 1 {
				t.Fatalf("Failures = %d after filling memory, want 1", r.p.Failures)
			}
			if tt.t.Paged() && tt.n <= MaxSmallBytes {
				// Fill the paged pool's commit too.
				for {
					va, err := r.p.Allocate(r.c, PagedPool, 4000, TagOf("Fill"))
					if err != nil {
						t.Fatal(err)
					}
					if va == 0 {
						break
					}
				}
			}
			failures := r.p.Failures
			va, err := r.p.Allocate(r.c, tt.t, tt.n, TagOf("Fail"))
			if va != 0 || err != nil {
				t.Fatalf("Allocate in a full machine = %v, %v; want 0 (NULL), nil", va, err)
			}
			if r.p.Failures != failures+1 || r.p.Totals().Failures != failures+1 {
				t.Errorf("Failures = %d (Totals %d), want %d", r.p.Failures, r.p.Totals().Failures, failures+1)
			}
			if s := r.p.TagStatsOf(TagOf("Fail")); s.NonPagedAllocs+s.PagedAllocs != 0 {
				t.Errorf("the failed allocation was counted for its tag: %+v", s)
			}
			if h := r.m.Halted(); h != nil {
				t.Fatalf("machine halted: %v", h)
			}
			r.check()
		})
	}
}

// Filling paged pool on a machine without a pagefile must end in NULL:
// commit is what promises a frame for every page, page tables included
// (mm charges each a page of commit when it is made). Before it did, this
// ran out of frames while commit still had room, and the pool's first
// touch of a committed paged page was 0x4D NO_PAGES_AVAILABLE (1 MiB: 246
// blocks in, commit 250 of 256 pages, 7 page-table pages).
func TestPagedPoolFillEndsInNull(t *testing.T) {
	r := newRig(t, spec{ramBytes: 1 * mib, pagefileBytes: noPagefile})
	for i := range 1 << 20 {
		va, err := r.p.Allocate(r.c, PagedPool, 4000, TagOf("Fill"))
		if err != nil {
			s := r.m.Stats()
			c, l := r.m.Commit()
			t.Fatalf("paged block %d: %v; want NULL once memory is full (commit %d of %d pages, %d available, %d page-table pages)",
				i, err, c, l, s.Available(), s.PageTablePages)
		}
		if va == 0 {
			return
		}
	}
	t.Fatal("no NULL after a million blocks")
}

// With one frame for all of paged pool, freeing a block that merges with a
// free neighbour pages the block's page in, then the neighbour's list
// neighbour on another page, which takes the only frame from the block's
// page; the merge must translate the block's page again before it writes
// the merged header, or it would write into the other page. Three hard
// faults in the free show the eviction happened; every page validates.
func TestFreeSurvivesItsPageBeingEvicted(t *testing.T) {
	r := newRig(t, spec{ramBytes: 1 * mib, pagefileBytes: 16 * mib, cfg: Config{NoLookaside: true}})
	var blocks [4][4]mm.VA // four full pages of four 1000-byte blocks
	for p := range blocks {
		for b := range blocks[p] {
			blocks[p][b] = r.alloc(PagedPool, 1000, "Page")
		}
	}
	for p := range blocks {
		r.free(blocks[p][2]) // list 64: page 3's, 2's, 1's, 0's
	}
	r.m.PageOutAll()
	// Nonpaged pool takes every free frame; giving one page back leaves
	// paged pool exactly one.
	var last mm.VA
	for {
		va, err := r.p.Allocate(r.c, NonPagedPool, mm.PageBytes, TagOf("Fill"))
		if err != nil {
			t.Fatal(err)
		}
		if va == 0 {
			break
		}
		last = va
	}
	r.free(last)
	before := r.m.Stats()
	r.free(blocks[0][1]) // merges with blocks[0][2], whose Blink is on page 1
	if n := r.m.Stats().HardFaults - before.HardFaults; n != 3 {
		t.Fatalf("the free took %d hard faults, want 3 (page 0, page 1, page 0 again)", n)
	}
	for p := range blocks {
		page := blocks[p][0].PageBase()
		if _, err := r.m.ReadU64(r.c, page); err != nil {
			t.Fatal(err)
		}
		if err := r.p.ValidatePage(page); err != nil {
			t.Errorf("page %d after the free: %v", p, err)
		}
	}
	r.check()
}
