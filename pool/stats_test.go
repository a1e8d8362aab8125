package pool

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"

	"simkern/bugcheck"
	"simkern/internal/simtest"
	"simkern/mm"
)

// Tag statistics count paged and nonpaged apart, in block bytes: the
// header, data and canary rounded to units for small blocks, whole pages
// for big ones. Totals add the same bytes per pool.
func TestTagStatistics(t *testing.T) {
	r := newRig(t, spec{})
	type alloc struct {
		t     Type
		n     uint64
		tag   Tag
		bytes uint64 // worked out by hand
	}
	allocs := []alloc{
		{NonPagedPool, 1, TagOf("Tag1"), 32},                    // 2 units
		{NonPagedPool, 100, TagOf("Tag1"), 128},                 // 8 units
		{NonPagedPoolNx, 40, TagOf("Tag1"), 64},                 // 4 units, counted as nonpaged
		{PagedPool, 200, TagOf("Tag1"), 224},                    // 14 units
		{NonPagedPool, 5000, TagOf("Tag2"), 8192},               // 2 pages
		{PagedPool, 4065, TagOf("Tag2"), 4096},                  // 1 page: just past small
		{PagedPool, 4064, TagOf("Tag2"), 4080},                  // 255 units: the largest small block
		{NonPagedPool, 16, TagOf("Tag3") | ProtectedTag, 48},    // counted under Tag3
		{PagedPoolCacheAligned, 16, TagOf("Tag3"), 48},          // paged
		{NonPagedPoolCacheAligned, 12288, TagOf("Tag3"), 12288}, // exactly 3 pages
	}
	var vas []mm.VA
	for _, a := range allocs {
		vas = append(vas, r.allocTag(a.t, a.n, a.tag))
	}
	want := map[Tag]TagStats{
		TagOf("Tag1"): {Tag: TagOf("Tag1"), NonPagedAllocs: 3, NonPagedBytes: 32 + 128 + 64, PagedAllocs: 1, PagedBytes: 224},
		TagOf("Tag2"): {Tag: TagOf("Tag2"), NonPagedAllocs: 1, NonPagedBytes: 8192, PagedAllocs: 2, PagedBytes: 4096 + 4080},
		TagOf("Tag3"): {Tag: TagOf("Tag3"), NonPagedAllocs: 2, NonPagedBytes: 48 + 12288, PagedAllocs: 1, PagedBytes: 48},
	}
	checkTags(t, r, want)
	x := r.p.Totals()
	if x.NonPagedBytes != 32+128+64+8192+48+12288 || x.PagedBytes != 224+4096+4080+48 {
		t.Errorf("Totals bytes: %d nonpaged, %d paged; want %d and %d", x.NonPagedBytes, x.PagedBytes, 32+128+64+8192+48+12288, 224+4096+4080+48)
	}
	if x.NonPagedBigPages != 5 || x.PagedBigPages != 1 {
		t.Errorf("Totals big pages: %d nonpaged, %d paged; want 5 and 1", x.NonPagedBigPages, x.PagedBigPages)
	}
	if x.RunningAllocs != uint64(len(allocs)) || x.RunningDeAllocs != 0 {
		t.Errorf("Totals: %d allocs, %d frees; want %d and 0", x.RunningAllocs, x.RunningDeAllocs, len(allocs))
	}

	// Free one of each kind: the bytes go, the counts stay.
	r.free(vas[1])                                                                   // Tag1 nonpaged 128
	r.free(vas[5])                                                                   // Tag2 paged big 4096
	if err := r.p.FreeWithTag(r.c, vas[7], TagOf("Tag3")|ProtectedTag); err != nil { // Tag3 nonpaged 48
		t.Fatal(err)
	}
	want[TagOf("Tag1")] = TagStats{Tag: TagOf("Tag1"), NonPagedAllocs: 3, NonPagedFrees: 1, NonPagedBytes: 32 + 64, PagedAllocs: 1, PagedBytes: 224}
	want[TagOf("Tag2")] = TagStats{Tag: TagOf("Tag2"), NonPagedAllocs: 1, NonPagedBytes: 8192, PagedAllocs: 2, PagedFrees: 1, PagedBytes: 4080}
	want[TagOf("Tag3")] = TagStats{Tag: TagOf("Tag3"), NonPagedAllocs: 2, NonPagedFrees: 1, NonPagedBytes: 12288, PagedAllocs: 1, PagedBytes: 48}
	checkTags(t, r, want)
	x = r.p.Totals()
	if x.NonPagedBytes != 32+64+8192+12288 || x.PagedBytes != 224+4080+48 || x.RunningDeAllocs != 3 {
		t.Errorf("Totals after 3 frees: %d nonpaged bytes, %d paged, %d frees; want %d, %d, 3", x.NonPagedBytes, x.PagedBytes, x.RunningDeAllocs, 32+64+8192+12288, 224+4080+48)
	}
	r.check()
}

func checkTags(t *testing.T, r *rig, want map[Tag]TagStats) {
	t.Helper()
	got := r.p.Tags()
	if len(got) != len(want) {
		t.Errorf("Tags() has %d rows, want %d: %+v", len(got), len(want), got)
	}
	for _, s := range got {
		if s != want[s.Tag] {
			t.Errorf("tag %q:\n got %+v\nwant %+v", s.Tag, s, want[s.Tag])
		}
		if one := r.p.TagStatsOf(s.Tag); one != s {
			t.Errorf("TagStatsOf(%q) = %+v, Tags() says %+v", s.Tag, one, s)
		}
	}
}

// Tags() sorts by the tag's characters, first character first.
func TestTagsSorted(t *testing.T) {
	r := newRig(t, spec{})
	for _, tag := range []string{"Zz", "AcdN", "AGP ", "Ab", "a"} {
		r.alloc(NonPagedPool, 8, tag)
	}
	var got []string
	for _, s := range r.p.Tags() {
		got = append(got, s.Tag.String())
	}
	want := []string{"AGP ", "Ab  ", "AcdN", "Zz  ", "a   "}
	if len(got) != len(want) {
		t.Fatalf("Tags() = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Tags() = %q, want %q", got, want)
		}
	}
}

// The tag table grows past its first 256 rows without losing any.
func TestTagTableGrows(t *testing.T) {
	r := newRig(t, spec{cfg: Config{NoLookaside: true}})
	const tags = 1000
	for i := range tags {
		tag := Tag(uint32('T') | uint32('0'+i%10)<<8 | uint32('0'+i/10%10)<<16 | uint32('0'+i/100)<<24)
		r.allocTag(NonPagedPool, uint64(1+i%50), tag)
	}
	if got := len(r.p.Tags()); got != tags {
		t.Fatalf("Tags() has %d rows, want %d", got, tags)
	}
	for i := range tags {
		tag := Tag(uint32('T') | uint32('0'+i%10)<<8 | uint32('0'+i/10%10)<<16 | uint32('0'+i/100)<<24)
		s := r.p.TagStatsOf(tag)
		if want := int64(unitsFor(uint64(1+i%50))) * UnitBytes; s.NonPagedAllocs != 1 || s.NonPagedBytes != want {
			t.Fatalf("tag %q: %+v, want 1 allocation of %d bytes", tag, s, want)
		}
	}
	r.check()
}

// VerifyEveryOp validates every page after each operation: an overrun
// into the next block's header is caught by the very next pool call, even
// one that touches another page. Without it, the same call succeeds and
// the damage waits for the block's own free.
func TestVerifyEveryOpCatchesOverrun(t *testing.T) {
	tests := []struct {
		name   string
		verify bool
	}{
		{"with VerifyEveryOp the next call halts", true},
		{"without it the next call succeeds", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: Config{VerifyEveryOp: tt.verify}})
			a := r.alloc(NonPagedPool, 40, "Over") // 4 units at 0x000
			r.alloc(NonPagedPool, 40, "Next")      // at 0xfc0
			next := a - HeaderBytes + 4*UnitBytes  // the free fragment at 0x40
			// 40 bytes of data, the 8 canary bytes, and 4 into the next
			// header: its PreviousSize now says 0x58.
			r.poke(a, bytes52())
			want := bc(badPoolHeader, 5, uint64(next), 0, uint64(a-HeaderBytes))
			// The next call allocates a big block: it reads nothing in
			// a's page.
			va, err := r.p.Allocate(r.c, NonPagedPool, 10000, TagOf("Else"))
			if !tt.verify {
				if err != nil || va == 0 {
					t.Fatalf("Allocate without VerifyEveryOp = %v, %v; want a block", va, err)
				}
				if err := r.p.ValidatePage(a); !errors.Is(err, want) {
					t.Fatalf("ValidatePage = %v, want %v", err, want)
				}
				return
			}
			simtest.WantBugcheck(t, err, want)
			if va != 0 {
				t.Errorf("Allocate returned %v with its bugcheck, want 0", va)
			}
			if !errors.Is(r.m.Halted(), want) {
				t.Errorf("machine halted with %v, want %v", r.m.Halted(), want)
			}
		})
	}
}

func bytes52() []byte {
	b := make([]byte, 52)
	for i := range b {
		b[i] = 0x58
	}
	return b
}

// The hot paths make no Go allocations.
func TestZeroAllocations(t *testing.T) {
	tests := []struct {
		name string
		t    Type
		n    uint64
		cfg  Config
	}{
		{"48 bytes nonpaged: the lookaside path", NonPagedPool, 48, Config{}},
		{"48 bytes paged: the lookaside path", PagedPool, 48, Config{}},
		{"1000 bytes nonpaged: the free-list path", NonPagedPool, 1000, Config{}},
		{"1000 bytes paged: the free-list path", PagedPool, 1000, Config{}},
		{"48 bytes with the lookaside lists off: the free-list path", NonPagedPool, 48, Config{NoLookaside: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: tt.cfg})
			// Another live block keeps the page from going back to mm on
			// every free.
			keep := r.alloc(tt.t, 1, "Keep")
			tag := TagOf("Test")
			var failed error
			perOp := testing.AllocsPerRun(1000, func() {
				va, err := r.p.Allocate(r.c, tt.t, tt.n, tag)
				if err == nil {
					err = r.p.Free(r.c, va)
				}
				if err != nil && failed == nil {
					failed = err
				}
				if va.PageBase() != keep.PageBase() && failed == nil {
					failed = errors.New("the block is not in the kept page")
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			if perOp != 0 {
				t.Errorf("Allocate+Free: %v Go allocations per op, want 0", perOp)
			}
		})
	}
}

// A bugcheck is an error value, and a simkern bug panics only under the
// invariants build: check that Halt keeps the first bugcheck.
func TestFirstBugcheckWins(t *testing.T) {
	r := newRig(t, spec{})
	_, err := r.p.Allocate(r.c, NonPagedPool, 0, TagOf("Zero"))
	first := bc(badPoolCaller, 0, 0, 0, uint64(TagOf("Zero")))
	simtest.WantBugcheck(t, err, first)
	_, err = r.p.Allocate(r.c, NonPagedPool, 8, 0)
	simtest.WantBugcheck(t, err, first)
	var b *bugcheck.Error
	if !errors.As(r.m.Halted(), &b) || b.Site == "" {
		t.Errorf("the halting bugcheck names no check: %+v", b)
	}
}

// The frees that are not bugchecks: ExFreePoolWithTag with the tag, with
// or without the protected bit, and with tag 0 (no check, as ExFreePool).
func TestFreeTagsAccepted(t *testing.T) {
	tests := []struct {
		name      string
		allocated Tag
		freed     Tag
		withTag   bool
	}{
		{"the allocation's tag", TagOf("Abcd"), TagOf("Abcd"), true},
		{"tag 0 checks nothing", TagOf("Abcd"), 0, true},
		{"ExFreePool checks nothing", TagOf("Abcd"), 0, false},
		{"a protected tag, with the bit", TagOf("Abcd") | ProtectedTag, TagOf("Abcd") | ProtectedTag, true},
		{"a protected tag, without the bit", TagOf("Abcd") | ProtectedTag, TagOf("Abcd"), true},
		{"the protected bit on an unprotected allocation's tag", TagOf("Abcd"), TagOf("Abcd") | ProtectedTag, true},
	}
	for _, tt := range tests {
		for _, n := range []uint64{100, 10000} {
			t.Run(fmt.Sprintf("%s, %d bytes", tt.name, n), func(t *testing.T) {
				r := newRig(t, spec{})
				va := r.allocTag(NonPagedPool, n, tt.allocated)
				var err error
				if tt.withTag {
					err = r.p.FreeWithTag(r.c, va, tt.freed)
				} else {
					err = r.p.Free(r.c, va)
				}
				if err != nil {
					t.Fatalf("free: %v", err)
				}
				if s := r.p.TagStatsOf(tt.allocated); s.NonPagedOutstanding() != 0 || s.NonPagedBytes != 0 {
					t.Errorf("after the free: %+v", s)
				}
			})
		}
	}
}

// A huge big allocation costs the pool one record, and small blocks
// after it a chunk of records of their own, not a record for every page
// in between: host memory follows the pages used, not the addresses.
func TestPageRecordsFollowPagesUsed(t *testing.T) {
	r := newRig(t, spec{ramBytes: 16 * mib, pagefileBytes: 5 << 30}) // commit for 4 GiB
	huge, err := r.p.Allocate(r.c, PagedPool, 1<<32, TagOf("Huge"))  // 4 GiB, demand-zero
	if err != nil || huge == 0 {
		t.Fatalf("Allocate(4 GiB) = %v, %v", huge, err)
	}
	small, err := r.p.Allocate(r.c, PagedPool, 100, TagOf("Smal"))
	if err != nil || small == 0 {
		t.Fatalf("Allocate(100) = %v, %v", small, err)
	}
	made := 0
	for _, c := range r.p.pages[1].chunks {
		if c != nil {
			made++
		}
	}
	if made > 2 {
		t.Errorf("%d chunks of page records for two allocations, want at most 2", made)
	}
	if err := r.p.Free(r.c, huge+mm.PageBytes); err == nil {
		t.Fatalf("freeing the second page of the huge allocation did not bugcheck")
	} else if bc := (*bugcheck.Error)(nil); !errors.As(err, &bc) || bc.Code != bugcheck.BadPoolCaller || bc.P[0] != 0x41286 {
		t.Errorf("freeing the second page of the huge allocation: %v, want 0xC2/0x41286", err)
	}
}

// OutstandingAllocations with a limit gives the first allocations in
// address order, the same as the whole list cut short, whichever kinds
// (small in either pool, big) lie where, and counts them all.
func TestOutstandingAllocationsLimit(t *testing.T) {
	r := newRig(t, spec{ramBytes: 32 * mib})
	for i := range 60 {
		switch i % 4 {
		case 0:
			r.alloc(PagedPool, uint64(16+i*40), "Page")
		case 1:
			r.alloc(NonPagedPool, uint64(5000+i*100), "Bigg")
		default:
			r.alloc(NonPagedPool, uint64(8+i*30), "Smal")
		}
	}
	all, total := r.p.OutstandingAllocations(0)
	if len(all) != 60 || total != 60 {
		t.Fatalf("%d outstanding allocations (counted %d), want 60", len(all), total)
	}
	if !slices.IsSortedFunc(all, func(a, b Outstanding) int { return cmp.Compare(a.VA, b.VA) }) {
		t.Errorf("the whole list is not in address order")
	}
	for _, limit := range []int{1, 2, 7, 29, 30, 31, 59, 60, 61, 1000} {
		got, total := r.p.OutstandingAllocations(limit)
		if total != 60 {
			t.Errorf("limit %d: counted %d outstanding allocations, want 60", limit, total)
		}
		if want := all[:min(limit, len(all))]; !slices.Equal(got, want) {
			t.Errorf("limit %d: got %d allocations %v..., want the first %d of the whole list", limit, len(got), got[:min(3, len(got))], len(want))
		}
	}
}

// TestBigAllocationsTable: the big page table lists each live big
// allocation once, in address order, with its tag, bytes, pages, type and
// caller; a freed one leaves it.
func TestBigAllocationsTable(t *testing.T) {
	r := newRig(t, spec{})
	r.c.PC = 0xfffff880_01000010
	a := r.alloc(NonPagedPool, 5000, "BigA")
	b := r.alloc(PagedPool, 3*mm.PageBytes, "BigB")
	c := r.alloc(NonPagedPool, 9000, "BigC")
	r.free(c)
	want := []BigAllocation{
		{VA: a, Tag: TagOf("BigA"), Bytes: 5000, Pages: 2, Type: NonPagedPool, Owner: r.c.PC},
		{VA: b, Tag: TagOf("BigB"), Bytes: 3 * mm.PageBytes, Pages: 3, Type: PagedPool, Owner: r.c.PC},
	}
	if a > b {
		want[0], want[1] = want[1], want[0]
	}
	if got := r.p.BigAllocations(); !slices.Equal(got, want) {
		t.Errorf("BigAllocations() = %+v\nwant %+v", got, want)
	}
}
