package mm

import (
	"bytes"
	"testing"

	"simkern/bugcheck"
	"simkern/pagefile"
)

// A nonpaged page is mapped to a frame at once and reads back what was
// written, through any CPU; its PTE and its PFN entry point at each other.
func TestNonpagedRoundTrip(t *testing.T) {
	m := newMachine(t, machineSpec{cpus: 2})
	c0, c1 := m.CPUs.CPUs[0], m.CPUs.CPUs[1]
	va := mustAllocate(t, m, RegionNonPagedPool, 3)
	if RegionOf(va) != RegionNonPagedPool || va.PageOffset() != 0 {
		t.Fatalf("AllocatePages returned %v, not a page of nonpaged pool", va)
	}
	for i := uint64(0); i < 3; i++ {
		page := va + VA(i*PageBytes)
		p := m.PTE(page)
		if !p.Valid() || !p.NoExecute() {
			t.Fatalf("PTE of %v = %#x, want valid and NX before any touch", page, uint64(p))
		}
		fi, err := m.Frame(p.Frame())
		if err != nil {
			t.Fatal(err)
		}
		if fi.State != StateActive || fi.Pageable || fi.VA != page || fi.PTEAddress != LevelPTE.EntryAddress(page) {
			t.Errorf("frame of %v: %+v", page, fi)
		}
	}
	// A write that straddles two pages.
	msg := []byte("straddles the boundary between two pages")
	at := va + PageBytes - 10
	if err := m.Write(c0, at, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if err := m.Read(c1, at, got); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("Read from the other CPU = %q, %v; want %q", got, err, msg)
	}
	// A u64 that straddles them too.
	if err := m.WriteU64(c1, va+2*PageBytes-4, 0x0102030405060708); err != nil {
		t.Fatal(err)
	}
	if v, err := m.ReadU64(c0, va+2*PageBytes-4); err != nil || v != 0x0102030405060708 {
		t.Errorf("straddling ReadU64 = %#x, %v", v, err)
	}
	if err := m.Fill(c0, va+100, 0xee, 2*PageBytes); err != nil {
		t.Fatal(err)
	}
	if v, _ := m.ReadU64(c1, va+2*PageBytes+92); v != 0xeeeeeeeeeeeeeeee {
		t.Errorf("after Fill: %#x", v)
	}
	if v, _ := m.ReadU64(c1, va+96); v != 0xeeeeeeee_00000000 {
		t.Errorf("the bytes before Fill's start changed: %#x", v)
	}
	if s := m.Stats(); s.NonPagedPoolPages != 3 || s.ActivePageable != 0 || s.DemandZeroFaults != 0 {
		t.Errorf("stats: %+v", s)
	}
	check(t, m)
}

// A written page's PTE gets its D bit; reading the PTE through the
// self-map returns what PTE reports.
func TestSelfMapReadsThePageTables(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	va := mustAllocate(t, m, RegionPagedPool, 1)
	if err := m.WriteU64(c, va, 1); err != nil {
		t.Fatal(err)
	}
	p := m.PTE(va)
	if !p.Valid() || !p.Dirty() || p.Flags() != "-G-DA--KW-V" {
		t.Fatalf("PTE after a write = %#x (%s), want valid, dirty, NX", uint64(p), p.Flags())
	}
	chain := m.PTEChain(va)
	for l := LevelPXE; l <= LevelPTE; l++ {
		got, err := m.ReadU64(c, l.EntryAddress(va))
		if err != nil {
			t.Fatalf("reading the %v through the self-map: %v", l, err)
		}
		if PTE(got) != chain[l].Value {
			t.Errorf("%v read through the self-map = %#x, PTEChain says %#x", l, got, uint64(chain[l].Value))
		}
	}
	// The self-map entry maps the PML4 itself.
	self, err := m.ReadU64(c, LevelPXE.EntryAddress(pxeBase))
	if err != nil || PTE(self).Frame() != m.PML4() || !PTE(self).Valid() {
		t.Errorf("PML4 entry 0x1ED = %#x, %v; want a valid entry for the PML4's frame %#x", self, err, m.PML4())
	}
	check(t, m)
}

// Nonpaged pages never leave memory: TrimAll and PageOutAll skip them.
func TestNonpagedPagesAreNeverTrimmed(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	np := mustAllocate(t, m, RegionNonPagedPool, 4)
	pp := mustAllocate(t, m, RegionPagedPool, 2)
	for _, va := range []VA{np, np + 3*PageBytes, pp, pp + PageBytes} {
		if err := m.WriteU64(c, va, uint64(va)); err != nil {
			t.Fatal(err)
		}
	}
	before := map[VA]PTE{}
	for i := uint64(0); i < 4; i++ {
		before[np+VA(i*PageBytes)] = m.PTE(np + VA(i*PageBytes))
	}
	if n := m.TrimAll(); n != 2 {
		t.Errorf("TrimAll = %d, want the 2 paged pages", n)
	}
	if n := m.Trim(np, 4); n != 0 {
		t.Errorf("Trim of nonpaged pages = %d, want 0", n)
	}
	m.PageOutAll()
	if n := m.PageOut(np, 4); n != 0 {
		t.Errorf("PageOut of nonpaged pages = %d, want 0", n)
	}
	for va, p := range before {
		if m.PTE(va) != p {
			t.Errorf("nonpaged PTE of %v changed from %#x to %#x", va, uint64(p), uint64(m.PTE(va)))
		}
	}
	if m.PTE(pp).Valid() {
		t.Errorf("paged page still valid after PageOutAll")
	}
	if v, err := m.ReadU64(c, np+3*PageBytes); err != nil || v != uint64(np+3*PageBytes) {
		t.Errorf("nonpaged page reads %#x, %v", v, err)
	}
	check(t, m)
}

// Freed nonpaged pages stay mapped, as on Windows: a stale read returns the
// old bytes (the bug special pool exists to catch), and the next
// allocation on the same node reuses them. Freed paged pages are unmapped.
func TestFreePages(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()

	np := mustAllocate(t, m, RegionNonPagedPool, 2)
	if err := m.WriteU64(c, np+PageBytes+8, 0xdeadbeef); err != nil {
		t.Fatal(err)
	}
	pte := m.PTE(np + PageBytes)
	commit, _ := m.Commit()
	m.FreePages(np, 2)
	if v, err := m.ReadU64(c, np+PageBytes+8); err != nil || v != 0xdeadbeef {
		t.Errorf("stale read of freed nonpaged pool = %#x, %v; want the old 0xdeadbeef", v, err)
	}
	if m.PTE(np+PageBytes) != pte&^0 || !m.PTE(np+PageBytes).Valid() {
		t.Errorf("freed nonpaged PTE = %#x, want still mapped", uint64(m.PTE(np+PageBytes)))
	}
	if s := m.Stats(); s.IdleNonPagedPages != 2 || s.NonPagedPoolPages != 2 {
		t.Errorf("idle %d, nonpaged %d; want 2 and 2 (idle pages stay mapped and charged)", s.IdleNonPagedPages, s.NonPagedPoolPages)
	}
	if now, _ := m.Commit(); now != commit {
		t.Errorf("commit %d after freeing nonpaged pages, want it still charged (%d)", now, commit)
	}
	check(t, m)

	again := m.AllocatePages(RegionNonPagedPool, 1, 0, false)
	if again != np {
		t.Errorf("AllocatePages on the same node = %v, want the idle run's first page %v", again, np)
	}
	if m.PTE(again).NoExecute() {
		t.Errorf("reused page kept NX although the new allocation asked for none")
	}
	second := m.AllocatePages(RegionNonPagedPool, 1, 0, true)
	if second != np+PageBytes {
		t.Errorf("second reuse = %v, want %v", second, np+PageBytes)
	}
	if v, _ := m.ReadU64(c, second+8); v != 0xdeadbeef {
		t.Errorf("the reused page reads %#x; nonpaged pool is not zeroed on reuse", v)
	}
	if m.PTE(second) != pte {
		t.Errorf("reused PTE %#x, want the same frame and bits %#x", uint64(m.PTE(second)), uint64(pte))
	}
	if s := m.Stats(); s.IdleNonPagedPages != 0 {
		t.Errorf("idle %d after reusing both pages", s.IdleNonPagedPages)
	}
	check(t, m)

	pp := mustAllocate(t, m, RegionPagedPool, 2)
	if err := m.WriteU64(c, pp, 1); err != nil {
		t.Fatal(err)
	}
	m.FreePages(pp, 2)
	for i := uint64(0); i < 2; i++ {
		if p := m.PTE(pp + VA(i*PageBytes)); p != 0 {
			t.Errorf("freed paged PTE %d = %#x, want 0", i, uint64(p))
		}
	}
	if s := m.Stats(); s.PagedPoolPages != 0 || s.ActivePageable != 0 {
		t.Errorf("after freeing paged pool: %d paged pages, %d active pageable", s.PagedPoolPages, s.ActivePageable)
	}
	check(t, m)
	_, err := m.ReadU64(c, pp+PageBytes)
	wantBugcheck(t, "touching freed paged pool", err, bugcheck.PageFaultInNonpagedArea, [4]uint64{uint64(pp + PageBytes), 0, c.PC, 0})
}

// Idle nonpaged pages are given back when commit runs short.
func TestIdlePagesAreReleasedForCommit(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: noPagefile})
	np := mustAllocate(t, m, RegionNonPagedPool, 20)
	m.FreePages(np, 20)
	before, limit := m.Commit()
	// 15 pages more than fit next to the 20 idle ones (and the page tables
	// the paged run makes): it fits only once the idle pages are gone.
	base := RegionPagedPool.Base()
	want := roomLeft(m, base) + 15
	tables := newTables(m, base, want)
	pp := m.AllocatePages(RegionPagedPool, want, 0, true)
	if pp == 0 {
		t.Fatalf("allocating %d pages with %d of %d committed, 20 of them idle, = 0; the idle pages were not released", want, before, limit)
	}
	s := m.Stats()
	if s.IdleNonPagedPages != 0 || s.NonPagedPoolPages != 0 || s.CommitFailures != 0 {
		t.Errorf("after the release: %d idle, %d nonpaged, %d commit failures", s.IdleNonPagedPages, s.NonPagedPoolPages, s.CommitFailures)
	}
	if used, _ := m.Commit(); pp != base || used != before-20+want+tables {
		t.Errorf("%d pages at %v: commit %d, want %d less the 20 idle pages plus the %d pages and %d page tables at %v",
			want, pp, used, before, want, tables, base)
	}
	if p := m.PTE(np); p != 0 {
		t.Errorf("released idle page's PTE = %#x, want 0", uint64(p))
	}
	check(t, m)
}

// Idle nonpaged pages are the last resort when a fault needs a frame, even
// when the modified list is full of pages no pagefile can take. Commit
// keeps a frame or a pagefile slot for every committed page, idle ones and
// page tables included, so without a pagefile no fault runs short of
// frames (the idle pages go for commit instead, as above): it takes a
// pagefile that cannot take the pages it was counted for.
func TestIdlePagesAreReleasedForFrames(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults []pagefile.Fault
	}{
		// The pagefile fills up: the pages paged out to it hold all 3
		// slots, and reading one back needs a frame with nowhere to
		// write another page.
		{"with a full pagefile", nil},
		// Not a page can be written: frames run out on the first touch.
		{"with a pagefile that fails every write", []pagefile.Fault{{Op: pagefile.OpWrite, Probability: 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: 16 * kib}) // 3 usable slots
			c := m.cpu0()
			np := mustAllocate(t, m, RegionNonPagedPool, 40)
			paged := roomLeft(m, RegionPagedPool.Base())
			pp := mustAllocate(t, m, RegionPagedPool, paged)
			m.FreePages(np, 40)
			for _, f := range tt.faults {
				m.Pagefile.Inject(f)
			}
			// The paged pages, the 40 idle ones and the page tables need
			// all 256 frames and the 3 slots: with the slots taken, or no
			// page written to them, some idle pages must go.
			if s := m.Stats(); paged+40+s.PageTablePages != m.Frames()+3 {
				t.Fatalf("%d paged pages, 40 idle and %d page tables: the test wants them to need %d frames and 3 slots",
					paged, s.PageTablePages, m.Frames())
			}
			for i := uint64(0); i < paged; i++ {
				if err := m.WriteU64(c, pp+VA(i*PageBytes), i); err != nil {
					t.Fatalf("touching page %d of %d with %d idle nonpaged pages: %v", i, paged, m.Stats().IdleNonPagedPages, err)
				}
			}
			for i := uint64(0); i < paged; i++ {
				if v, err := m.ReadU64(c, pp+VA(i*PageBytes)); err != nil || v != i {
					t.Fatalf("page %d reads %d, %v (%d idle nonpaged pages)", i, v, err, m.Stats().IdleNonPagedPages)
				}
			}
			s := m.Stats()
			if s.IdleNonPagedPages == 40 {
				t.Errorf("no idle page was released")
			}
			if s.PagefileFull == 0 && s.WriteErrors == 0 {
				t.Errorf("the pagefile took every page it was asked to: PagefileFull %d, WriteErrors %d", s.PagefileFull, s.WriteErrors)
			}
			check(t, m)
		})
	}
}

// A nonpaged allocation that cannot get its frames returns 0 and gives
// back everything it took: commit, address space and the frames it got.
// Only the page tables it made stay, as page tables always do, and with
// them their charge.
func TestNonpagedAllocationWithoutFrames(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: 4 * mib})
	before := m.Stats()
	if va := m.AllocatePages(RegionNonPagedPool, 300, 0, true); va != 0 {
		t.Fatalf("300 nonpaged pages on %d frames = %v, want 0", m.Frames(), va)
	}
	after := m.Stats()
	tables := after.PageTablePages - before.PageTablePages
	if tables != 3 || after.CommitPages != before.CommitPages+tables || after.CommitFailures != 0 || after.NonPagedPoolPages != 0 {
		t.Errorf("after the failure: commit %d (was %d), %d new page tables (want 3, charged), %d commit failures, %d nonpaged pages",
			after.CommitPages, before.CommitPages, tables, after.CommitFailures, after.NonPagedPoolPages)
	}
	if after.ActiveNonpageable != after.PageTablePages {
		t.Errorf("%d active nonpageable frames, %d page tables: the partial run kept frames", after.ActiveNonpageable, after.PageTablePages)
	}
	check(t, m)
	// The address space went back too: the next allocation starts there.
	va := mustAllocate(t, m, RegionNonPagedPool, 10)
	if va != RegionNonPagedPool.Base() {
		t.Errorf("next allocation at %v, want the region's base %v", va, RegionNonPagedPool.Base())
	}
	check(t, m)
}

// With NUMA nodes, a nonpaged allocation takes its frames from the node it
// names; a node with no frames left borrows from the others.
func TestNUMAFrames(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 2 * mib, cpus: 4, nodes: 2})
	for node := 0; node < 2; node++ {
		va := m.AllocatePages(RegionNonPagedPool, 1, node, true)
		if va == 0 {
			t.Fatal("AllocatePages = 0")
		}
		fi, err := m.Frame(m.PTE(va).Frame())
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := uint64(node)*m.Frames()/2, uint64(node+1)*m.Frames()/2
		if fi.Node != node || uint64(fi.PFN) < lo || uint64(fi.PFN) >= hi {
			t.Errorf("node %d allocation got frame %#x of node %d; node %d owns [%#x, %#x)", node, fi.PFN, fi.Node, node, lo, hi)
		}
	}
	// A demand-zero fault takes its frame from the faulting CPU's node.
	pp := mustAllocate(t, m, RegionPagedPool, 1)
	c3 := m.CPUs.CPUs[3]
	if err := m.WriteU64(c3, pp, 1); err != nil {
		t.Fatal(err)
	}
	if fi, _ := m.Frame(m.PTE(pp).Frame()); fi.Node != c3.Node || c3.Node != 1 {
		t.Errorf("CPU 3 (node %d) faulted in a frame of node %d", c3.Node, fi.Node)
	}
	// A bad node number means node 0.
	va := m.AllocatePages(RegionNonPagedPool, 1, 7, true)
	if fi, _ := m.Frame(m.PTE(va).Frame()); fi.Node != 0 {
		t.Errorf("node 7 allocation took a frame of node %d, want 0", fi.Node)
	}
	// Node 1 runs dry, then borrows.
	var got [2]int
	for {
		va := m.AllocatePages(RegionNonPagedPool, 1, 1, true)
		if va == 0 {
			break
		}
		fi, _ := m.Frame(m.PTE(va).Frame())
		got[fi.Node]++
	}
	if got[0] == 0 || got[1] == 0 {
		t.Errorf("allocating on node 1 until memory ran out took %d frames from node 0 and %d from node 1", got[0], got[1])
	}
	check(t, m)
}

// Frames split evenly and contiguously among nodes, and every frame's node
// is the one whose range holds it, also when the frames do not divide.
func TestNodeOfAgreesWithTheNodeRanges(t *testing.T) {
	for _, tt := range []struct {
		name     string
		ramBytes uint64
		nodes    int
	}{
		{"two nodes, even", 1 * mib, 2},
		{"three nodes of 256 frames", 1 * mib, 3},
		{"two nodes of 257 frames", 1*mib + PageBytes, 2},
		{"seven nodes of 300 frames", 300 * PageBytes, 7},
		{"64 nodes of 4 frames", 1 * mib, 64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{ramBytes: tt.ramBytes, cpus: tt.nodes, nodes: tt.nodes})
			var total uint64
			for n := range m.nodes {
				nf := m.nodes[n]
				total += nf.end - nf.first
				for f := nf.first; f < nf.end; f++ {
					if got := m.nodeOf(PFN(f)); got != n {
						t.Fatalf("frame %#x lies in node %d's range [%#x, %#x) but nodeOf says %d", f, n, nf.first, nf.end, got)
					}
				}
			}
			if total != m.Frames() {
				t.Errorf("the nodes hold %d frames, the machine %d", total, m.Frames())
			}
			// Every node with frames left hands out its own, and Frame
			// says so. (The page tables may have used all of node 0's.)
			for n := tt.nodes - 1; n >= 0; n-- {
				hasFrames := m.nodes[n].next < m.nodes[n].end
				va := m.AllocatePages(RegionNonPagedPool, 1, n, true)
				if va == 0 {
					t.Fatalf("node %d: AllocatePages = 0", n)
				}
				fi, _ := m.Frame(m.PTE(va).Frame())
				if fi.Node != n && hasFrames || fi.State != StateActive || !fi.Touched || fi.VA != va {
					t.Errorf("node %d's first page: %+v", n, fi)
				}
			}
			check(t, m)
		})
	}
}

// nx decides whether pages are executable, for paged pool too, and the
// choice survives trimming and paging out.
func TestNoExecuteSurvivesPaging(t *testing.T) {
	for _, nx := range []bool{true, false} {
		m := newMachine(t, machineSpec{})
		c := m.cpu0()
		for _, r := range []Region{RegionPagedPool, RegionNonPagedPool} {
			va := m.AllocatePages(r, 1, 0, nx)
			if err := m.WriteU64(c, va, 1); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				what string
				do   func()
			}{
				{"the first touch", func() {}},
				{"a soft fault", func() { m.Trim(va, 1) }},
				{"a hard fault", func() { m.PageOut(va, 1) }},
				{"a repurposed standby page", func() {
					m.Trim(va, 1)
					m.WriteModified()
					if f, ok := m.repurposeStandby(false); ok {
						m.releaseFrame(f)
					}
				}},
			}
			for _, s := range steps {
				s.do()
				if _, err := m.ReadU64(c, va); err != nil {
					t.Fatal(err)
				}
				if got := m.PTE(va).NoExecute(); got != nx {
					t.Errorf("%v allocated with nx=%v: after %s the PTE says NX %v (%#x)", r, nx, s.what, got, uint64(m.PTE(va)))
				}
			}
			check(t, m)
		}
	}
}

// Requests AllocatePages cannot serve return 0 rather than panic.
func TestAllocatePagesRefusals(t *testing.T) {
	m := newMachine(t, machineSpec{})
	for _, tt := range []struct {
		name   string
		region Region
		pages  uint64
	}{
		{"zero pages", RegionPagedPool, 0},
		{"a region with no pool", RegionSystemPTEs, 1},
		{"the page tables", RegionPageTables, 1},
		{"no region", RegionUnknown, 1},
		{"a region number past the last", Region(200), 1},
		{"more pages than the region's address space", RegionNonPagedPool, RegionNonPagedPool.Bytes()/PageBytes + 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if va := m.AllocatePages(tt.region, tt.pages, 0, true); va != 0 {
				t.Errorf("AllocatePages(%v, %d) = %v, want 0", tt.region, tt.pages, va)
			}
		})
	}
	check(t, m)
}

// Address space comes back: a freed paged run is reused, and neighbouring
// free runs merge so a bigger request fits.
func TestAddressSpaceIsReused(t *testing.T) {
	m := newMachine(t, machineSpec{})
	a := mustAllocate(t, m, RegionPagedPool, 2)
	b := mustAllocate(t, m, RegionPagedPool, 3)
	cc := mustAllocate(t, m, RegionPagedPool, 1)
	if b != a+2*PageBytes || cc != b+3*PageBytes {
		t.Fatalf("runs not consecutive: %v %v %v", a, b, cc)
	}
	m.FreePages(a, 2)
	m.FreePages(b, 3)
	if got := mustAllocate(t, m, RegionPagedPool, 5); got != a {
		t.Errorf("5 pages after freeing 2+3 neighbours = %v, want %v", got, a)
	}
	if got := mustAllocate(t, m, RegionPagedPool, 1); got != cc+PageBytes {
		t.Errorf("the next page = %v, want %v", got, cc+PageBytes)
	}
	check(t, m)
}

// The smallest free run that fits is chosen, lowest address first.
func TestExtentSetTakesTheSmallestFit(t *testing.T) {
	s := newExtentSet()
	base := VA(0x1000_0000)
	at := func(page uint64) VA { return base + VA(page*PageBytes) }
	s.insert(extent{at(0), 4})
	s.insert(extent{at(10), 2})
	s.insert(extent{at(20), 2})
	s.insert(extent{at(30), 8})
	for _, tt := range []struct {
		pages uint64
		want  VA
		ok    bool
	}{
		{2, at(10), true}, // two runs of 2: the lower
		{2, at(20), true},
		{3, at(0), true}, // leaves 1 page at 3
		{1, at(3), true},
		{9, 0, false},
		{8, at(30), true},
		{1, 0, false},
	} {
		got, ok := s.take(tt.pages)
		if got != tt.want || ok != tt.ok {
			t.Errorf("take(%d) = %v, %v; want %v, %v", tt.pages, got, ok, tt.want, tt.ok)
		}
	}
	if s.pages != 0 || s.byAddr.Len() != 0 || s.bySize.Len() != 0 {
		t.Errorf("set not empty: %d pages, %d/%d runs", s.pages, s.byAddr.Len(), s.bySize.Len())
	}
	// Runs merge with both neighbours.
	s.insert(extent{at(0), 1})
	s.insert(extent{at(2), 1})
	s.insert(extent{at(1), 1})
	if e, ok := s.lowest(); !ok || e != (extent{at(0), 3}) || s.pages != 0 {
		t.Errorf("after inserting three neighbours: %+v, %v; %d pages left", e, ok, s.pages)
	}
}

// HandedOut tells a page an allocation has held from one never used: a
// run whose mapping failed goes back to the address space it came from,
// so it does not count as held.
func TestHandedOut(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: noPagefile})
	base := RegionPagedPool.Base()
	n := roomLeft(m, base) + 1 // the pages fit the commit left, their page tables do not
	if va := m.AllocatePages(RegionPagedPool, n, 0, true); va != 0 {
		t.Fatalf("AllocatePages(%d) = %v, want 0: its page tables pass the commit limit", n, va)
	}
	if m.HandedOut(base) {
		t.Errorf("the failed run's first page counts as handed out")
	}
	va := mustAllocate(t, m, RegionPagedPool, 2)
	if va != base {
		t.Fatalf("the next run is at %v, want %v: the failed run's space was not given back", va, base)
	}
	m.FreePages(va, 2)
	for _, tc := range []struct {
		va   VA
		want bool
	}{{va, true}, {va + PageBytes, true}, {va + 2*PageBytes, false}, {RegionNonPagedPool.Base() + 1<<30, false}, {0x1000, false}} {
		if got := m.HandedOut(tc.va); got != tc.want {
			t.Errorf("HandedOut(%v) = %v, want %v", tc.va, got, tc.want)
		}
	}
	check(t, m)
}
