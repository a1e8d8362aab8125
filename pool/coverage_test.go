package pool

import (
	"errors"
	"math/rand/v2"
	"testing"

	"simkern/bugcheck"
	"simkern/internal/simtest"
	"simkern/mm"
)

// The pool type numbers are the WDK's (reference 5.3): scenarios and
// traces name them by number too.
func TestPoolTypeNumbers(t *testing.T) {
	for _, tt := range []struct {
		t    Type
		want uint32
	}{
		{NonPagedPool, 0}, {PagedPool, 1}, {NonPagedPoolMustSucceed, 2},
		{NonPagedPoolCacheAligned, 4}, {PagedPoolCacheAligned, 5}, {NonPagedPoolNx, 512},
	} {
		if uint32(tt.t) != tt.want {
			t.Errorf("%v = %d, want %d", tt.t, uint32(tt.t), tt.want)
		}
	}
}

// Both neighbours are checked on free, each by size and by pool index:
// the previous block's header against this PreviousSize (0x19/5) and the
// next block's against this BlockSize (0x19/0x20). A fresh page keeps its
// first block at the front and gives later ones from the back, so after
// a, b, c, d the page holds a, free space, d, c, b: c has both neighbours.
func TestNeighbourHeaderChecks(t *testing.T) {
	tests := []struct {
		name   string
		damage func(r *rig, prev, c, next mm.VA) *bugcheck.Error // returns what freeing c must raise
	}{
		{"the PreviousSize disagrees with the previous BlockSize", func(r *rig, prev, c, next mm.VA) *bugcheck.Error {
			const wrong = 3
			r.poke(c-HeaderBytes, []byte{wrong})
			return bc(badPoolHeader, 5, uint64(c-HeaderBytes-wrong*UnitBytes), 0, uint64(c-HeaderBytes))
		}},
		{"the previous block's PoolIndex differs", func(r *rig, prev, c, next mm.VA) *bugcheck.Error {
			r.poke(prev-HeaderBytes+1, []byte{0x7f})
			return bc(badPoolHeader, 5, uint64(prev-HeaderBytes), 0, uint64(c-HeaderBytes))
		}},
		{"the next block's PoolIndex differs", func(r *rig, prev, c, next mm.VA) *bugcheck.Error {
			r.poke(next-HeaderBytes+1, []byte{0x7f})
			return bc(badPoolHeader, 0x20, uint64(c-HeaderBytes), uint64(next-HeaderBytes), uint64(r.header(c).Ulong1()))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			r.alloc(NonPagedPool, 64, "Aaaa")
			b := r.alloc(NonPagedPool, 64, "Bbbb")
			c := r.alloc(NonPagedPool, 64, "Cccc")
			d := r.alloc(NonPagedPool, 64, "Dddd")
			if !(d < c && c < b) {
				t.Fatalf("layout: d %v, c %v, b %v; want d < c < b", d, c, b)
			}
			want := tt.damage(r, d, c, b)
			simtest.WantBugcheck(t, r.p.Free(r.c, c), want)
		})
	}
}

// VerifyEveryOp validates every pool page, paged ones and those after the
// first included, after a free as after an allocation.
func TestVerifyEveryOpAfterFreeSeesEveryPage(t *testing.T) {
	r := newRig(t, spec{cfg: Config{VerifyEveryOp: true}})
	n := r.alloc(NonPagedPool, 64, "Nonp")
	r.alloc(PagedPool, 64, "Pgd1")
	p2 := r.alloc(PagedPool, 64, "Pgd2")
	r.alloc(PagedPool, 64, "Pgd3")
	r.p.cfg.VerifyEveryOp = false // damage a paged page without tripping the check
	r.poke(p2-HeaderBytes, []byte{3})
	r.p.cfg.VerifyEveryOp = true
	err := r.p.Free(r.c, n)
	var got *bugcheck.Error
	if !errors.As(err, &got) || got.Code != badPoolHeader {
		t.Fatalf("Free of a healthy nonpaged block with a damaged paged page: %v, want 0x19", err)
	}
}

// No Go allocation per operation on the big-allocation path, nor on the
// paged path while its pages go to the pagefile and come back.
func TestZeroAllocationsBigAndPaging(t *testing.T) {
	t.Run("big nonpaged allocations", func(t *testing.T) {
		r := newRig(t, spec{})
		r.alloc(NonPagedPool, 3*mm.PageBytes, "Keep")
		var failed error
		perOp := testing.AllocsPerRun(500, func() {
			va, err := r.p.Allocate(r.c, NonPagedPool, 5*mm.PageBytes, TagOf("Bigg"))
			if err == nil {
				err = r.p.Free(r.c, va)
			}
			if err != nil && failed == nil {
				failed = err
			}
		})
		if failed != nil {
			t.Fatal(failed)
		}
		if perOp != 0 {
			t.Errorf("big Allocate+Free: %v Go allocations per op, want 0", perOp)
		}
	})
	t.Run("paged pool under paging", func(t *testing.T) {
		r := newRig(t, spec{ramBytes: 2 * mib, pagefileBytes: 64 * mib})
		rng := rand.New(rand.NewPCG(1, 2))
		live := make([]mm.VA, 0, 4000)
		for range cap(live) {
			live = append(live, r.alloc(PagedPool, 1000, "Page"))
		}
		before := r.m.Stats().HardFaults
		var failed error
		perOp := testing.AllocsPerRun(1000, func() {
			i := rng.IntN(len(live))
			err := r.p.Free(r.c, live[i])
			if err == nil {
				live[i], err = r.p.Allocate(r.c, PagedPool, 1000, TagOf("Page"))
			}
			if err != nil && failed == nil {
				failed = err
			}
		})
		if failed != nil {
			t.Fatal(failed)
		}
		if r.m.Stats().HardFaults == before {
			t.Fatal("no hard fault: the test does not page")
		}
		if perOp != 0 {
			t.Errorf("paged Free+Allocate under paging: %v Go allocations per op, want 0", perOp)
		}
	})
}

// The pool's record of a small block answers for the block's data address
// only: not for an address inside the block, its header, or after the
// block is freed.
func TestSmallBlockRecordLookups(t *testing.T) {
	r := newRig(t, spec{cfg: Config{NoLookaside: true}})
	r.c.PC = 0xfffff801_00001234
	a := r.alloc(NonPagedPool, 100, "Recd")
	b := r.alloc(NonPagedPool, 40, "Recd")
	for _, tt := range []struct {
		va        mm.VA
		start     bool
		requested uint64
		owner     uint64
	}{
		{a, true, 100, 0xfffff801_00001234},
		{b, true, 40, 0xfffff801_00001234},
		{a + 8, false, 0, 0},
		{a + UnitBytes, false, 0, 0},
		{a - HeaderBytes, false, 0, 0},
	} {
		if got := r.p.IsBlockStart(tt.va); got != tt.start {
			t.Errorf("IsBlockStart(%v) = %v, want %v", tt.va, got, tt.start)
		}
		if got := r.p.Requested(tt.va); got != tt.requested {
			t.Errorf("Requested(%v) = %d, want %d", tt.va, got, tt.requested)
		}
		if got := r.p.Owner(tt.va); got != tt.owner {
			t.Errorf("Owner(%v) = %#x, want %#x", tt.va, got, tt.owner)
		}
	}
	r.free(b)
	if r.p.Requested(b) != 0 || r.p.Owner(b) != 0 {
		t.Errorf("freed block %v: Requested %d, Owner %#x; want 0, 0", b, r.p.Requested(b), r.p.Owner(b))
	}
	r.check()
}
