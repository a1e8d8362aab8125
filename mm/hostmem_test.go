package mm

import (
	"runtime"
	"testing"

	"simkern/cpu"
)

// A big machine that touches little costs little: frames, PFN entries and
// pagefile bitmap chunks are made on first use. 64 GiB of RAM and 64 GiB
// of pagefile that touch 1 MiB must grow the Go heap by well under 8 MiB
// (the frame directory alone is 8 bytes per 512 frames: 256 KiB here).
func TestBigMachineTouchingLittleStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("sizes a 64 GiB sparse host file")
	}
	const limit = 8 * mib
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	m := newMachine(t, machineSpec{ramBytes: 64 * gib, pagefileBytes: 64 * gib, cpus: 4, nodes: 2})
	c := m.cpu0()
	const pages = 1 * mib / PageBytes
	pp := mustAllocate(t, m, RegionPagedPool, pages/2)
	np := mustAllocate(t, m, RegionNonPagedPool, pages/2)
	for i := uint64(0); i < pages/2; i++ {
		for _, va := range []VA{pp, np} {
			if err := m.WriteU64(c, va+VA(i*PageBytes), i); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Send the paged half through the pagefile and back.
	if n := m.PageOut(pp, pages/2); n != pages/2 {
		t.Fatalf("PageOut = %d, want %d", n, pages/2)
	}
	for i := uint64(0); i < pages/2; i++ {
		if v, err := m.ReadU64(c, pp+VA(i*PageBytes)); err != nil || v != i {
			t.Fatalf("page %d: %d, %v", i, v, err)
		}
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("a %d-frame machine that touched %d pages grew the heap by %d KiB", m.Frames(), pages, grew/kib)
	if grew > limit {
		t.Errorf("the Go heap grew by %d bytes, want under %d", grew, limit)
	}
	if s := m.Stats(); s.Zeroed < m.Frames()-pages-s.PageTablePages {
		t.Errorf("%d frames count as zeroed of %d", s.Zeroed, m.Frames())
	}
	check(t, m)
	runtime.KeepAlive(m)
}

// Reads and writes through translation allocate no Go memory, whether the
// TLB hits or misses, and whatever the size of the buffer.
func TestAccessAllocatesNothing(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 64 * mib})
	c := m.cpu0()
	// Twice as many pages as TLB entries, visited in order, so each
	// access evicts the entry the next one would have used.
	const pages = 2 * cpu.TLBEntries
	np := mustAllocate(t, m, RegionNonPagedPool, pages)
	pp := mustAllocate(t, m, RegionPagedPool, pages)
	for i := uint64(0); i < pages; i++ { // fault everything in, set every D bit
		for _, va := range []VA{np, pp} {
			if err := m.WriteU64(c, va+VA(i*PageBytes), i); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf [40]byte
	var sink uint64
	next := uint64(0)
	miss := func(base VA) VA {
		next = (next + 1) % pages
		return base + VA(next*PageBytes) + 8
	}
	tests := []struct {
		name string
		op   func()
	}{
		{"ReadU64 on a TLB hit", func() { v, _ := m.ReadU64(c, np+16); sink += v }},
		{"WriteU64 on a TLB hit", func() { _ = m.WriteU64(c, np+16, sink) }},
		{"ReadU64 on a TLB miss", func() { v, _ := m.ReadU64(c, miss(np)); sink += v }},
		{"WriteU64 on a TLB miss", func() { _ = m.WriteU64(c, miss(np), sink) }},
		{"ReadU64 of paged pool on a TLB miss", func() { v, _ := m.ReadU64(c, miss(pp)); sink += v }},
		{"WriteU64 of paged pool on a TLB miss", func() { _ = m.WriteU64(c, miss(pp), sink) }},
		{"a u64 across a page boundary", func() { v, _ := m.ReadU64(c, np+PageBytes-4); sink += v }},
		{"Read of a small buffer", func() { _ = m.Read(c, np+24, buf[:]) }},
		{"Write of a small buffer", func() { _ = m.Write(c, np+24, buf[:]) }},
		{"Read of a small buffer on a TLB miss", func() { _ = m.Read(c, miss(np), buf[:]) }},
		{"Write of a small buffer on a TLB miss", func() { _ = m.Write(c, miss(pp), buf[:]) }},
		{"Fill", func() { _ = m.Fill(c, np+PageBytes-20, 0x5a, 40) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, misses := c.TLB.Hits, c.TLB.Misses
			if allocs := testing.AllocsPerRun(1000, tt.op); allocs != 0 {
				t.Errorf("%v Go allocations per access, want 0", allocs)
			}
			t.Logf("TLB: %d hits, %d misses", c.TLB.Hits-hits, c.TLB.Misses-misses)
			if m.Halted() != nil {
				t.Fatal(m.Halted())
			}
		})
	}
	// The miss rows really miss, and each miss counts once.
	c.TLB.Flush()
	hits, misses := c.TLB.Hits, c.TLB.Misses
	for i := 0; i < 100; i++ {
		sink, _ = m.ReadU64(c, miss(np))
		_ = m.WriteU64(c, miss(pp), sink)
	}
	if c.TLB.Misses-misses != 200 || c.TLB.Hits != hits {
		t.Errorf("200 accesses to %d pages in order: %d hits, %d misses; want 200 misses", 2*pages, c.TLB.Hits-hits, c.TLB.Misses-misses)
	}
	check(t, m)
}

// Churn reuses frames: allocating, touching and freeing 64 pages a
// thousand times over makes the bytes of about 64 frames, not 64,000,
// because a used frame is handed out before a never-used one.
func TestChurnReusesFrames(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * gib})
	c := m.cpu0()
	for round := range 1000 {
		va := mustAllocate(t, m, RegionPagedPool, 64)
		for i := VA(0); i < 64; i++ {
			if err := m.WriteU64(c, va+i*PageBytes, uint64(round)); err != nil {
				t.Fatal(err)
			}
		}
		m.FreePages(va, 64)
	}
	made := 0
	for f := PFN(0); uint64(f) < m.Frames(); f++ {
		if m.peekFrame(f) != nil {
			made++
		}
	}
	if made > 64+16 { // the pages, and a few page tables
		t.Errorf("%d frames have bytes after churning 64 pages, want about 64", made)
	}
	check(t, m)
}
