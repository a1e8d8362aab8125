package pool

import (
	"fmt"
	"testing"

	"simkern/mm"
)

// A free then an allocation of the same size on the same CPU is a
// lookaside hit: the same address comes back without touching the free
// lists.
func TestLookasideHit(t *testing.T) {
	tests := []struct {
		name  string
		t     Type
		class int
		n     uint64
	}{
		{"nonpaged, 48 bytes", NonPagedPool, 0, 48},
		{"nonpaged NX, 1 byte", NonPagedPoolNx, 1, 1},
		{"paged, 200 bytes", PagedPool, 2, 200},
		{"nonpaged, 488 bytes: the largest lookaside size", NonPagedPool, 0, 488},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			u := unitsFor(tt.n)
			l := r.p.Lookaside(0, tt.class, u)
			va := r.alloc(tt.t, tt.n, "Look")
			hits := l.AllocateHits
			r.free(va)
			if l.Len() != 1 {
				t.Fatalf("after the free, lookaside list (class %d, %d units) holds %d blocks, want 1", tt.class, u, l.Len())
			}
			again := r.alloc(tt.t, tt.n, "Look")
			if again != va {
				t.Errorf("allocation after free returned %v, want the freed %v", again, va)
			}
			if l.AllocateHits != hits+1 {
				t.Errorf("AllocateHits = %d, want %d", l.AllocateHits, hits+1)
			}
			if h := r.header(again); !h.Allocated() || h.PoolTag != TagOf("Look") {
				t.Errorf("reused block's header %+v: want allocated, tag Look", h)
			}
			r.check()
		})
	}
}

// Blocks over 32 units never go on a lookaside list, and NoLookaside
// turns the lists off altogether.
func TestLookasideNotUsed(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		n    uint64
	}{
		{"489 bytes is 33 units: past the last list", Config{}, 489},
		{"NoLookaside: even 48 bytes goes to the free lists", Config{NoLookaside: true}, 48},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: tt.cfg})
			r.alloc(NonPagedPool, 1, "Keep")
			va := r.alloc(NonPagedPool, tt.n, "Look")
			r.alloc(NonPagedPool, 1, "Keep") // so va has in-use neighbours
			r.free(va)
			for u := Units(1); u <= LookasideMaxUnits; u++ {
				if n := r.p.Lookaside(0, 0, u).Len(); n != 0 {
					t.Fatalf("lookaside list for %d units holds %d blocks, want 0", u, n)
				}
			}
			if h := r.header(va); !h.Free() {
				t.Errorf("freed block's header %+v: want PoolType 0 (on a free list)", h)
			}
			r.check()
		})
	}
}

// A list's depth limits how many blocks it keeps: past it, frees go to
// the free lists.
func TestLookasideDepthLimitsPushes(t *testing.T) {
	r := newRig(t, spec{})
	u := unitsFor(48)
	l := r.p.Lookaside(0, 0, u)
	if l.Depth != LookasideMinDepth {
		t.Fatalf("a new list's Depth = %d, want %d", l.Depth, LookasideMinDepth)
	}
	var vas []mm.VA
	for range LookasideMinDepth + 2 {
		vas = append(vas, r.alloc(NonPagedPool, 48, "Deep"))
	}
	for _, va := range vas {
		r.free(va)
	}
	if l.Len() != LookasideMinDepth {
		t.Errorf("list holds %d blocks, want its depth %d", l.Len(), LookasideMinDepth)
	}
	if l.TotalFrees != uint64(len(vas)) || l.FreeHits != LookasideMinDepth {
		t.Errorf("TotalFrees %d FreeHits %d, want %d and %d", l.TotalFrees, l.FreeHits, len(vas), LookasideMinDepth)
	}
	for i, va := range vas {
		h := r.header(va)
		onList := i < LookasideMinDepth
		if onList && !h.OnLookaside() || !onList && h.OnLookaside() {
			t.Errorf("block %d (%v): header %+v, on a lookaside list: %v, want %v", i, va, h, h.OnLookaside(), onList)
		}
	}
	r.check()
}

// NUMA: each node has its own nonpaged descriptors whose pages come from
// the node's frames, and a block freed on another node's CPU goes back to
// its own descriptor, not onto the freeing CPU's lookaside list.
func TestNUMA(t *testing.T) {
	tests := []struct {
		name string
		t    Type
	}{
		{"NonPagedPool", NonPagedPool},
		{"NonPagedPoolNx", NonPagedPoolNx},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cpus: 2, nodes: 2})
			c0, c1 := r.cpuN(0), r.cpuN(1)
			if c1.Node != 1 {
				t.Fatalf("CPU 1 is on node %d, want 1", c1.Node)
			}
			for _, c := range []int{0, 1} {
				va := r.allocOn(r.cpuN(c), tt.t, 48, "Numa")
				fi, err := r.m.Frame(r.m.PTE(va).Frame())
				if err != nil {
					t.Fatal(err)
				}
				if fi.Node != c {
					t.Errorf("CPU %d's allocation %v is in a frame of node %d, want %d", c, va, fi.Node, c)
				}
				if h := r.header(va); int(h.PoolIndex) != c {
					t.Errorf("CPU %d's allocation has PoolIndex %d, want %d (its node's descriptor)", c, h.PoolIndex, c)
				}
				if nx := r.m.PTE(va).NoExecute(); nx != (tt.t == NonPagedPoolNx) {
					t.Errorf("CPU %d's %v page: NX %v, want %v", c, tt.t, nx, tt.t == NonPagedPoolNx)
				}
			}

			keep := r.allocOn(c1, tt.t, 1, "Keep")
			va := r.allocOn(c1, tt.t, 48, "Numa")
			r.allocOn(c1, tt.t, 1, "Keep")
			if va.PageBase() != keep.PageBase() {
				t.Fatalf("test setup: blocks in different pages")
			}
			class := lookasideClass(r.p.descriptorFor(c1, tt.t))
			l0 := r.p.Lookaside(0, class, unitsFor(48))
			before := l0.Len()
			if err := r.p.Free(c0, va); err != nil {
				t.Fatalf("Free on CPU 0: %v", err)
			}
			if l0.Len() != before {
				t.Errorf("CPU 0's lookaside list grew from %d to %d: a node-1 block went on it", before, l0.Len())
			}
			if h := r.header(va); !h.Free() {
				t.Errorf("node-1 block freed on CPU 0: header %+v, want free (PoolType 0)", h)
			}

			// The same free on its own node's CPU does use the list.
			va = r.allocOn(c1, tt.t, 48, "Numa")
			l1 := r.p.Lookaside(1, class, unitsFor(48))
			before = l1.Len()
			if err := r.p.Free(c1, va); err != nil {
				t.Fatalf("Free on CPU 1: %v", err)
			}
			if l1.Len() != before+1 {
				t.Errorf("CPU 1's lookaside list holds %d blocks, want %d", l1.Len(), before+1)
			}
			r.check()
		})
	}
}

// With the most NUMA nodes a machine may have, every descriptor stays
// apart: a page records its descriptor in more than 8 bits, since two
// nonpaged descriptors a node and the paged one outnumber 256.
func TestNUMAManyNodes(t *testing.T) {
	for _, nodes := range []int{128, 256} {
		t.Run(fmt.Sprint(nodes, " nodes"), func(t *testing.T) {
			r := newRig(t, spec{ramBytes: 64 * mib, cpus: nodes, nodes: nodes})
			for i, d := range r.p.descs {
				if int(d.slot) != i {
					t.Errorf("descriptor %d (%v node %d) has slot %d", i, d.Type, d.Node, d.slot)
				}
			}
			last := r.cpuN(nodes - 1)
			for _, tt := range []struct {
				t      Type
				region mm.Region
			}{{PagedPool, mm.RegionPagedPool}, {NonPagedPool, mm.RegionNonPagedPool}, {NonPagedPoolNx, mm.RegionNonPagedPool}, {PagedPool, mm.RegionPagedPool}} {
				va := r.allocOn(last, tt.t, 100, "Many")
				if got := mm.RegionOf(va); got != tt.region {
					t.Errorf("%v allocation at %v is in %v, want %v", tt.t, va, got, tt.region)
				}
				if d := r.p.descs[r.p.pageOf(va).desc]; d != r.p.descriptorFor(last, tt.t) {
					t.Errorf("%v allocation's page belongs to %v node %d", tt.t, d.Type, d.Node)
				}
				if err := r.p.Free(last, va); err != nil {
					t.Fatal(err)
				}
				r.check()
			}
		})
	}
}

// Paged pool has one descriptor: a paged block freed on another node's
// CPU may go on that CPU's list.
func TestNUMAPagedIsShared(t *testing.T) {
	r := newRig(t, spec{cpus: 2, nodes: 2})
	va := r.allocOn(r.cpuN(1), PagedPool, 48, "Page")
	if err := r.p.Free(r.cpuN(0), va); err != nil {
		t.Fatal(err)
	}
	if n := r.p.Lookaside(0, 2, unitsFor(48)).Len(); n != 1 {
		t.Errorf("CPU 0's paged lookaside list holds %d blocks, want 1", n)
	}
	if got := r.allocOn(r.cpuN(0), PagedPool, 48, "Page"); got != va {
		t.Errorf("CPU 0 allocated %v, want the block it freed, %v", got, va)
	}
	r.check()
}

// Depth adapts every lookasideScanOps operations: a list that misses grows
// towards LookasideMaxDepth; a list that is not used shrinks back to
// LookasideMinDepth.
func TestLookasideDepthAdapts(t *testing.T) {
	r := newRig(t, spec{ramBytes: 64 * mib})
	u := unitsFor(48)
	l := r.p.Lookaside(0, 0, u)

	// Allocate without freeing: every allocation misses.
	var depths []int
	for scan := 0; scan < 12; scan++ {
		for range lookasideScanOps {
			r.alloc(NonPagedPool, 48, "Miss")
		}
		depths = append(depths, l.Depth)
	}
	t.Logf("depth after each scan of misses: %v", depths)
	prev := LookasideMinDepth
	for i, d := range depths {
		if d > LookasideMaxDepth {
			t.Fatalf("scan %d: depth %d, above the maximum %d", i, d, LookasideMaxDepth)
		}
		if d < prev || d == prev && d != LookasideMaxDepth {
			t.Fatalf("scan %d: depth %d after %d: want it to grow until %d", i, d, prev, LookasideMaxDepth)
		}
		prev = d
	}
	if prev != LookasideMaxDepth {
		t.Fatalf("depth %d after %d scans of misses, want %d", prev, len(depths), LookasideMaxDepth)
	}

	// Now use only another size: the 48-byte list sits idle and shrinks.
	depths = depths[:0]
	for scan := 0; scan < 30; scan++ {
		for range lookasideScanOps / 2 {
			va := r.alloc(NonPagedPool, 1, "Idle")
			r.free(va)
		}
		depths = append(depths, l.Depth)
	}
	t.Logf("depth after each idle scan: %v", depths)
	prev = LookasideMaxDepth
	for i, d := range depths {
		if d > prev || d == prev && d != LookasideMinDepth {
			t.Fatalf("idle scan %d: depth %d after %d: want it to shrink until %d", i, d, prev, LookasideMinDepth)
		}
		prev = d
	}
	if prev != LookasideMinDepth {
		t.Fatalf("depth %d after %d idle scans, want %d", prev, len(depths), LookasideMinDepth)
	}
	// The list that hit every time stays at the minimum too: it never
	// missed enough to grow.
	if d := r.p.Lookaside(0, 0, 2).Depth; d != LookasideMinDepth {
		t.Errorf("the always-hitting 2-unit list has depth %d, want %d", d, LookasideMinDepth)
	}
	r.check()
}
