package mm

import (
	"bytes"
	"encoding/binary"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/pagefile"
)

// pattern fills buf with bytes that depend on page and seed, so that any two
// pages, and the same page in two rounds, differ.
func pattern(buf []byte, page VA, seed uint64) {
	x := uint64(page)*0x9e3779b97f4a7c15 ^ seed
	for i := 0; i < len(buf); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(buf[i:], x)
	}
}

// More pageable pages than RAM holds: every byte must survive trimming,
// the modified page writer, repurposing and in-page reads.
func TestPagingMoreThanRAM(t *testing.T) {
	const pages = 3000 // 11.7 MiB of paged pool on a 2 MiB machine
	m := newMachine(t, machineSpec{ramBytes: 2 * mib, pagefileBytes: 16 * mib, cpus: 2, nodes: 2})
	if pages <= m.Frames() {
		t.Fatalf("the test wants more pages (%d) than frames (%d)", pages, m.Frames())
	}
	c0, c1 := m.CPUs.CPUs[0], m.CPUs.CPUs[1]
	// Several allocations, so the pages are not one run.
	var runs []VA
	for i := 0; i < pages/500; i++ {
		runs = append(runs, mustAllocate(t, m, RegionPagedPool, 500))
	}
	each := func(fn func(va VA)) {
		for _, base := range runs {
			for i := uint64(0); i < 500; i++ {
				fn(base + VA(i*PageBytes))
			}
		}
	}
	want := make([]byte, PageBytes)
	got := make([]byte, PageBytes)
	verify := func(round string, c *cpu.CPU, seed uint64) {
		t.Helper()
		bad := 0
		each(func(va VA) {
			pattern(want, va, seed)
			if err := m.Read(c, va, got); err != nil {
				t.Fatalf("%s: Read(%v): %v", round, va, err)
			}
			if !bytes.Equal(got, want) && bad < 5 {
				bad++
				i := 0
				for got[i] == want[i] {
					i++
				}
				t.Errorf("%s: page %v differs at byte %#x: %#x, want %#x", round, va, i, got[i], want[i])
			}
		})
		check(t, m)
	}

	each(func(va VA) {
		pattern(want, va, 1)
		if err := m.Write(c0, va, want); err != nil {
			t.Fatalf("Write(%v): %v", va, err)
		}
	})
	check(t, m)
	s := m.Stats()
	if s.PagesWritten == 0 || s.Repurposed == 0 {
		t.Errorf("writing %d pages on %d frames wrote %d pages and repurposed %d; want both > 0", pages, m.Frames(), s.PagesWritten, s.Repurposed)
	}
	verify("read back from the other CPU", c1, 1)
	if s := m.Stats(); s.HardFaults == 0 {
		t.Errorf("no hard faults reading %d pages on %d frames", pages, m.Frames())
	}

	m.TrimAll()
	verify("read back after TrimAll", c0, 1)

	// A second round over the same pages rewrites the pagefile copies.
	each(func(va VA) {
		pattern(want, va, 2)
		if err := m.Write(c1, va, want); err != nil {
			t.Fatalf("Write(%v): %v", va, err)
		}
	})
	m.PageOutAll()
	if s := m.Stats(); s.ActivePageable != 0 || s.Standby != 0 || s.Modified != 0 {
		t.Errorf("after PageOutAll: %d active pageable, %d standby, %d modified; want none", s.ActivePageable, s.Standby, s.Modified)
	}
	check(t, m)
	verify("read back after PageOutAll", c0, 2)

	if s := m.Stats(); s.Pagefile.Used > pages || s.Pagefile.Used == 0 {
		t.Errorf("pagefile holds %d slots for %d pages", s.Pagefile.Used, pages)
	}
	for _, base := range runs {
		m.FreePages(base, 500)
	}
	check(t, m)
	// The page tables are never freed: their charge is all that is left.
	if s := m.Stats(); s.Pagefile.Used != 0 || s.CommitPages != s.PageTablePages || s.ActivePageable+s.Standby+s.Modified != 0 {
		t.Errorf("after freeing everything: %d slots, %d commit (%d page tables), %d/%d/%d active/standby/modified",
			s.Pagefile.Used, s.CommitPages, s.PageTablePages, s.ActivePageable, s.Standby, s.Modified)
	}
}

// In a controlled case the fault counters are exact: trimmed pages come
// back with soft faults, paged-out pages with hard faults, and a page goes
// to the pagefile only when it has changed since its last write.
func TestFaultCounts(t *testing.T) {
	const n = 10
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	va := mustAllocate(t, m, RegionPagedPool, n)
	page := func(i int) VA { return va + VA(i*PageBytes) }

	type counts struct{ demandZero, soft, hard, written, trimmed, evicted uint64 }
	last := counts{}
	step := func(what string, want counts) {
		t.Helper()
		s := m.Stats()
		now := counts{s.DemandZeroFaults, s.SoftFaults, s.HardFaults, s.PagesWritten, s.Trimmed, s.Evicted}
		got := counts{now.demandZero - last.demandZero, now.soft - last.soft, now.hard - last.hard,
			now.written - last.written, now.trimmed - last.trimmed, now.evicted - last.evicted}
		if got != want {
			t.Errorf("%s: moved %+v, want %+v", what, got, want)
		}
		last = now
		check(t, m)
	}
	touch := func(write bool) {
		t.Helper()
		for i := 0; i < n; i++ {
			var err error
			if write {
				err = m.WriteU64(c, page(i), uint64(i))
			} else {
				var v uint64
				v, err = m.ReadU64(c, page(i))
				if err == nil && v != uint64(i) {
					t.Errorf("page %d reads %d", i, v)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	touch(true)
	step("the first touch", counts{demandZero: n})
	touch(true)
	step("a second touch of resident pages", counts{})

	if got := m.Trim(va, n); got != n {
		t.Errorf("Trim = %d, want %d", got, n)
	}
	step("Trim", counts{trimmed: n})
	if s := m.Stats(); s.Modified != n {
		t.Errorf("after trimming dirty pages: %d on the modified list, want %d", s.Modified, n)
	}
	touch(false)
	step("touching trimmed pages", counts{soft: n})

	if got := m.PageOut(va, n); got != n {
		t.Errorf("PageOut = %d, want %d", got, n)
	}
	step("PageOut of dirty pages", counts{written: n, trimmed: n, evicted: n})
	touch(false)
	step("touching paged-out pages", counts{hard: n})

	// Read, not written, since the hard fault: clean, so no write.
	m.PageOut(va, n)
	step("PageOut of clean pages", counts{trimmed: n, evicted: n})
	touch(false)
	step("touching them again", counts{hard: n})

	// Trimmed clean pages go to standby, not the modified list.
	m.Trim(va, n)
	if s := m.Stats(); s.Standby != n || s.Modified != 0 {
		t.Errorf("after trimming clean pages: %d standby, %d modified; want %d and 0", s.Standby, s.Modified, n)
	}
	step("Trim of clean pages", counts{trimmed: n})
	touch(true)
	step("writing trimmed clean pages", counts{soft: n})

	// Written again: dirty, so out they go through the pagefile.
	m.PageOut(va, n)
	step("PageOut after a write", counts{written: n, trimmed: n, evicted: n})
	touch(false)
	step("touching them", counts{hard: n})

	// Pages already trimmed still page out.
	m.Trim(va, n/2)
	m.PageOut(va, n)
	step("PageOut of half-trimmed clean pages", counts{trimmed: n, evicted: n})

	// The modified page writer over a range: the dirty half goes to the
	// pagefile and to standby, keeping its frames, so touching it is a
	// soft fault; the clean half was on standby already.
	touch(true)
	step("touching them back", counts{hard: n})
	m.Trim(va, n)
	step("Trim of dirty pages", counts{trimmed: n})
	if got := m.WriteModifiedRange(va, n/2); got != n/2 {
		t.Errorf("WriteModifiedRange of the first half = %d, want %d", got, n/2)
	}
	if s := m.Stats(); s.Standby != n/2 || s.Modified != n-n/2 {
		t.Errorf("after writing half: %d standby, %d modified; want %d and %d", s.Standby, s.Modified, n/2, n-n/2)
	}
	step("WriteModifiedRange", counts{written: n / 2})
	if got := m.WriteModifiedRange(va, n/2); got != 0 {
		t.Errorf("WriteModifiedRange of pages already written = %d, want 0", got)
	}
	touch(false)
	step("touching standby and modified pages", counts{soft: n})
	m.PageOut(va, n)
	step("PageOut after the writer", counts{written: n - n/2, trimmed: n, evicted: n})

	// A run that is already out does nothing.
	if got := m.WriteModifiedRange(va, n); got != 0 {
		t.Errorf("WriteModifiedRange of paged-out pages = %d, want 0", got)
	}
	if got := m.PageOut(va, n); got != 0 {
		t.Errorf("PageOut of paged-out pages = %d, want 0", got)
	}
	if got := m.Trim(va, n); got != 0 {
		t.Errorf("Trim of paged-out pages = %d, want 0", got)
	}
	step("paging out what is out", counts{})
}

// A failed pagefile write is not fatal: the page stays dirty on the
// modified list, keeps its frame and its data, and the next pass writes it.
func TestPagefileWriteErrorIsRetried(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	va := mustAllocate(t, m, RegionPagedPool, 1)
	if err := m.WriteU64(c, va, 0x77); err != nil {
		t.Fatal(err)
	}
	m.Trim(va, 1)
	f := m.PTE(va).Frame()
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Nth: 1, Status: 0xC000009C})

	if n := m.WriteModified(); n != 0 {
		t.Errorf("WriteModified with a failing write = %d, want 0", n)
	}
	s := m.Stats()
	if s.WriteErrors != 1 || s.PagesWritten != 0 || s.Modified != 1 || s.LastWriteStatus != 0xC000009C {
		t.Errorf("after the failed write: WriteErrors %d, PagesWritten %d, Modified %d, LastWriteStatus %#x; want 1, 0, 1, 0xC000009C",
			s.WriteErrors, s.PagesWritten, s.Modified, s.LastWriteStatus)
	}
	if fi, _ := m.Frame(f); fi.State != StateModified || !fi.Modified || fi.VA != va {
		t.Errorf("frame after the failed write: %+v; want Modified, dirty, mapping %v", fi, va)
	}
	if p := m.PTE(va); !p.Transition() || p.Frame() != f {
		t.Errorf("PTE after the failed write = %#x, want a transition PTE to frame %#x", uint64(p), f)
	}
	check(t, m)

	// PageOut too leaves a page whose write fails where it is.
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Nth: 2})
	if n := m.PageOut(va, 1); n != 0 {
		t.Errorf("PageOut with a failing write = %d, want 0", n)
	}
	if s := m.Stats(); s.WriteErrors != 2 || s.Modified != 1 || s.LastWriteStatus != pagefile.StatusDeviceDataError {
		t.Errorf("after the second failed write: WriteErrors %d, Modified %d, LastWriteStatus %#x", s.WriteErrors, s.Modified, s.LastWriteStatus)
	}
	check(t, m)

	if n := m.WriteModified(); n != 1 {
		t.Errorf("the next WriteModified = %d, want 1", n)
	}
	if s := m.Stats(); s.PagesWritten != 1 || s.Standby != 1 || s.Modified != 0 {
		t.Errorf("after the retry: PagesWritten %d, Standby %d, Modified %d; want 1, 1, 0", s.PagesWritten, s.Standby, s.Modified)
	}
	// The copy that reached the pagefile is the page's.
	if n := m.PageOut(va, 1); n != 1 {
		t.Fatalf("PageOut = %d, want 1", n)
	}
	if v, err := m.ReadU64(c, va); err != nil || v != 0x77 {
		t.Errorf("after the retry and a hard fault: %#x, %v; want 0x77", v, err)
	}
	check(t, m)
}

// A failed write goes to the back of the modified list: the writer keeps
// writing the others on the same pass.
func TestWriteErrorDoesNotStopThePass(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	va := mustAllocate(t, m, RegionPagedPool, 4)
	for i := 0; i < 4; i++ {
		if err := m.WriteU64(c, va+VA(i*PageBytes), uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	m.TrimAll()
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Nth: 1})
	if n := m.WriteModified(); n != 3 {
		t.Errorf("WriteModified = %d, want 3 of 4", n)
	}
	if s := m.Stats(); s.Modified != 1 || s.Standby != 3 {
		t.Errorf("%d modified, %d standby; want 1 and 3", s.Modified, s.Standby)
	}
	check(t, m)
}

// Without a pagefile, trimmed pages can only wait on the modified list:
// nothing is written, nothing evicted, and a touch is a soft fault.
func TestNoPagefile(t *testing.T) {
	m := newMachine(t, machineSpec{pagefileBytes: noPagefile})
	c := m.cpu0()
	if m.Pagefile != nil {
		t.Fatal("a machine with PagefileBytes 0 has a pagefile")
	}
	if _, limit := m.Commit(); limit != m.Frames() {
		t.Errorf("commit limit %d, want the %d frames alone", limit, m.Frames())
	}
	va := mustAllocate(t, m, RegionPagedPool, 3)
	for i := 0; i < 3; i++ {
		if err := m.WriteU64(c, va+VA(i*PageBytes), uint64(i)+1); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.PageOut(va, 3); n != 0 {
		t.Errorf("PageOut without a pagefile = %d, want 0", n)
	}
	if n := m.PageOutAll(); n != 0 {
		t.Errorf("PageOutAll without a pagefile = %d, want 0", n)
	}
	if n := m.WriteModified(); n != 0 {
		t.Errorf("WriteModified without a pagefile = %d, want 0", n)
	}
	if n := m.Trim(va, 3) + m.TrimAll(); n != 0 {
		t.Errorf("trimming without a pagefile took %d pages, want 0", n)
	}
	if s := m.Stats(); s.Modified != 0 || s.Trimmed != 0 || s.HasPagefile {
		t.Errorf("%d modified, %d trimmed (want 0 and 0), HasPagefile %v", s.Modified, s.Trimmed, s.HasPagefile)
	}
	// Nothing left memory: the pages are still valid, even at
	// DISPATCH_LEVEL, and touching them faults nothing.
	c.SetIRQL(cpu.DispatchLevel)
	for i := 0; i < 3; i++ {
		if v, err := m.ReadU64(c, va+VA(i*PageBytes)); err != nil || v != uint64(i)+1 {
			t.Errorf("page %d: %d, %v", i, v, err)
		}
	}
	c.SetIRQL(cpu.PassiveLevel)
	if s := m.Stats(); s.SoftFaults != 0 || s.HardFaults != 0 {
		t.Errorf("%d soft and %d hard faults, want none", s.SoftFaults, s.HardFaults)
	}
	check(t, m)
}

// Commit is RAM plus the pagefile (less its reserved slot 0), in pages.
// Page tables are charged with the pool pages: the PML4 from the start,
// each other table when it is made. An allocation that would pass the
// limit, with the tables it makes, returns 0 and counts a commit failure;
// freeing gives commit back, except for the page tables, which stay.
func TestCommitLimit(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: 2 * mib})
	used, limit := m.Commit()
	if want := uint64(256 + 512 - 1); limit != want {
		t.Fatalf("commit limit %d pages, want 256 frames + 511 usable slots = %d", limit, want)
	}
	if used != 1 {
		t.Errorf("a new machine has %d pages committed, want 1: its PML4", used)
	}
	// One run as big as commit allows, less 10 pages. At 753 pages from
	// the region's base it makes a PDPT, a PD and two PTs.
	base := RegionPagedPool.Base()
	n := roomLeft(m, base) - 10
	if tables := newTables(m, base, n); n != limit-used-4-10 || tables != 4 {
		t.Fatalf("roomLeft says %d pages fit with %d page tables, want %d and 4", n+10, tables, limit-used-4)
	}
	big := mustAllocate(t, m, RegionPagedPool, n)
	if big != base {
		t.Fatalf("the first paged run is at %v, want the region's base %v", big, base)
	}
	if used, _ := m.Commit(); used != limit-10 {
		t.Errorf("commit %d after allocating %d pages and 4 page tables, want %d", used, n, limit-10)
	}
	// The next runs of paged pool fit in the last PT: they make no table.
	next := big + VA(n*PageBytes)
	if tables := newTables(m, next, 11); tables != 0 {
		t.Fatalf("11 pages at %v would make %d page tables, want none", next, tables)
	}
	if va := m.AllocatePages(RegionPagedPool, 11, 0, true); va != 0 {
		t.Errorf("allocating 11 pages with 10 left = %v, want 0", va)
	}
	if s := m.Stats(); s.CommitFailures != 1 {
		t.Errorf("CommitFailures = %d, want 1", s.CommitFailures)
	}
	if va := m.AllocatePages(RegionNonPagedPool, 11, 0, true); va != 0 {
		t.Errorf("11 nonpaged pages with 10 left = %v, want 0", va)
	}
	// 10 nonpaged pages fit, but not the 3 page tables they would need.
	if va := m.AllocatePages(RegionNonPagedPool, 10, 0, true); va != 0 {
		t.Errorf("10 nonpaged pages and 3 new page tables with 10 left = %v, want 0", va)
	}
	if va := m.AllocatePages(RegionPagedPool, 1<<62, 0, true); va != 0 {
		t.Errorf("2^62 pages = %v, want 0", va)
	}
	if va := m.AllocatePages(RegionPagedPool, ^uint64(0)-5, 0, true); va != 0 {
		t.Errorf("2^64-6 pages = %v, want 0", va)
	}
	if s := m.Stats(); s.CommitFailures != 5 || s.PageTablePages != 5 || s.NonPagedPoolPages != 0 {
		t.Errorf("CommitFailures = %d, want 5 (one per refused allocation); %d page tables (want 5), %d nonpaged pages",
			s.CommitFailures, s.PageTablePages, s.NonPagedPoolPages)
	}
	if used, _ := m.Commit(); used != limit-10 {
		t.Errorf("commit %d after refused allocations, want %d", used, limit-10)
	}
	check(t, m)
	last := mustAllocate(t, m, RegionPagedPool, 10)
	if used, _ := m.Commit(); used != limit {
		t.Errorf("commit %d, want exactly the limit %d", used, limit)
	}
	if va := m.AllocatePages(RegionPagedPool, 1, 0, true); va != 0 {
		t.Errorf("one page past the limit = %v, want 0", va)
	}
	check(t, m)

	m.FreePages(last, 10)
	if used, _ := m.Commit(); used != limit-10 {
		t.Errorf("commit %d after freeing 10 pages, want %d", used, limit-10)
	}
	again := mustAllocate(t, m, RegionPagedPool, 10)
	if again != last {
		t.Errorf("the freed run was not reused: got %v, want %v", again, last)
	}
	m.FreePages(big, n)
	m.FreePages(again, 10)
	if used, _ := m.Commit(); used != 5 {
		t.Errorf("commit %d after freeing everything, want the 5 page tables, which are never freed", used)
	}
	check(t, m)
}

// A pagefile too small for the pages in use: the modified page writer
// finds it full, and when nothing else can free a frame a fault is 0x4D
// NO_PAGES_AVAILABLE (doc.go, "Memory pressure"). P1 the dirty pages, P2
// those destined for the pagefile, P3 the idle nonpaged pages, P4 the last
// write error's status (none here).
//
// Commit keeps a frame or a slot for every page, so every committed page
// can be touched once; it is reading back a page the pagefile holds, with
// every frame in use and every slot taken, that finds no frame.
func TestFullPagefileIsNoPagesAvailable(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: 16 * kib}) // 3 usable slots
	c := m.cpu0()
	n := roomLeft(m, RegionPagedPool.Base())
	va := mustAllocate(t, m, RegionPagedPool, n)
	if used, limit := m.Commit(); used != limit {
		t.Fatalf("commit %d of %d after allocating all the room left", used, limit)
	}
	for i := uint64(0); i < n; i++ {
		if err := m.WriteU64(c, va+VA(i*PageBytes), i); err != nil {
			t.Fatalf("the first touch of committed page %d of %d: %v", i, n, err)
		}
	}
	var err error
	var read uint64
	for ; read < n; read++ {
		var v uint64
		if v, err = m.ReadU64(c, va+VA(read*PageBytes)); err != nil {
			break
		}
		if v != read {
			t.Errorf("page %d reads %d", read, v)
		}
	}
	s := m.Stats()
	if err == nil {
		t.Fatalf("read back all %d committed pages on %d frames and 3 slots without a bugcheck", n, m.Frames())
	}
	if p := m.PTE(va + VA(read*PageBytes)); p.Valid() || p.Transition() || p.Slot() == 0 {
		t.Errorf("the bugcheck came reading page %d, whose PTE %#x is not a pagefile PTE", read, uint64(p))
	}
	wantBugcheck(t, "a hard fault with no frame left", err, bugcheck.NoPagesAvailable, [4]uint64{s.Modified, s.Modified, 0, 0})
	if s.Modified == 0 || s.PagefileFull == 0 || s.Pagefile.Used != 3 || s.WriteErrors != 0 {
		t.Errorf("at the bugcheck: %d modified, PagefileFull %d, %d slots used, %d write errors; want > 0, > 0, 3, 0",
			s.Modified, s.PagefileFull, s.Pagefile.Used, s.WriteErrors)
	}
	if free := s.Zeroed + s.Free + s.Standby; free != 0 {
		t.Errorf("%d frames still available at the bugcheck", free)
	}
	// Every page still holds its value, where the debugger can see it.
	seen := uint64(0)
	for i := uint64(0); i < n; i++ {
		if v, ok := m.PeekU64(va + VA(i*PageBytes)); ok {
			seen++
			if v != i {
				t.Errorf("page %d holds %d", i, v)
			}
		}
	}
	if seen < m.Frames()/2 {
		t.Errorf("only %d pages resident at the bugcheck", seen)
	}
	check(t, m)
}

// The same bugcheck carries the status of the last failed write in P4.
// Here the pagefile has room, but not one write succeeds, and the first
// touches run out of frames.
func TestNoPagesAvailableReportsTheLastWriteError(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: 16 * kib})
	c := m.cpu0()
	n := roomLeft(m, RegionPagedPool.Base())
	va := mustAllocate(t, m, RegionPagedPool, n)
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Probability: 1, Status: 0xC000016A})
	var err error
	for i := uint64(0); i < n && err == nil; i++ {
		err = m.WriteU64(c, va+VA(i*PageBytes), i)
	}
	s := m.Stats()
	wantBugcheck(t, "running out of frames", err, bugcheck.NoPagesAvailable, [4]uint64{s.Modified, s.Modified, 0, 0xC000016A})
	if s.PagesWritten != 0 || s.WriteErrors == 0 || s.Modified == 0 {
		t.Errorf("at the bugcheck: %d pages written, %d write errors, %d modified; want 0, > 0, > 0", s.PagesWritten, s.WriteErrors, s.Modified)
	}
	check(t, m)
}

// Without a pagefile, P1 and P2 (modified pages, and those destined for
// the pagefile) are 0: nothing is ever trimmed. No fault on such a machine
// can run out of frames (commit sees to that, below), so the parameters
// are checked where they are made.
func TestNoPagesAvailableWithoutAPagefile(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 * mib, pagefileBytes: noPagefile})
	c := m.cpu0()
	va := mustAllocate(t, m, RegionPagedPool, 5)
	for i := uint64(0); i < 5; i++ {
		if err := m.WriteU64(c, va+VA(i*PageBytes), i); err != nil {
			t.Fatal(err)
		}
	}
	m.Trim(va, 3)
	np := mustAllocate(t, m, RegionNonPagedPool, 2)
	m.FreePages(np, 2)
	err := error(m.noPages())
	wantBugcheck(t, "no frame without a pagefile", err, bugcheck.NoPagesAvailable, [4]uint64{0, 0, 2, 0})
}

// Without a pagefile, commit (page tables included) never promises more
// pages than there are frames: every committed page can be touched, and
// the next allocation fails instead of a fault running out of frames.
func TestCommitKeepsAFrameForEveryCommittedPage(t *testing.T) {
	for _, tt := range []struct {
		name     string
		ramBytes uint64
		nodes    int
	}{
		{"1 MiB", 1 * mib, 1},
		// 1018 pages: a run across two PTs, and frames from two nodes.
		{"4 MiB on two nodes", 4 * mib, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{ramBytes: tt.ramBytes, pagefileBytes: noPagefile, cpus: tt.nodes, nodes: tt.nodes})
			c := m.cpu0()
			// Some nonpaged pool first, so its page tables are charged too.
			np := mustAllocate(t, m, RegionNonPagedPool, 8)
			n := roomLeft(m, RegionPagedPool.Base())
			va := mustAllocate(t, m, RegionPagedPool, n)
			if used, limit := m.Commit(); used != limit || limit != m.Frames() {
				t.Fatalf("commit %d of %d after allocating the %d pages left, want all %d frames", used, limit, n, m.Frames())
			}
			for i := uint64(0); i < n; i++ {
				if err := m.WriteU64(c, va+VA(i*PageBytes), i); err != nil {
					t.Fatalf("writing committed page %d of %d: %v", i, n, err)
				}
			}
			if err := m.WriteU64(c, np+7*PageBytes, 7); err != nil {
				t.Fatal(err)
			}
			// Commit was exact: every frame is in use, none was lost.
			if s := m.Stats(); s.Zeroed+s.Free+s.Standby+s.Modified != 0 || s.ActivePageable != n {
				t.Errorf("after touching every committed page: %d zeroed, %d free, %d standby, %d modified, %d of %d paged pages resident",
					s.Zeroed, s.Free, s.Standby, s.Modified, s.ActivePageable, n)
			}
			for _, r := range []Region{RegionPagedPool, RegionNonPagedPool} {
				if va := m.AllocatePages(r, 1, 0, true); va != 0 {
					t.Errorf("AllocatePages(%v) past the commit limit = %v, want 0", r, va)
				}
			}
			for i := uint64(0); i < n; i++ {
				if v, err := m.ReadU64(c, va+VA(i*PageBytes)); err != nil || v != i {
					t.Fatalf("page %d reads %d, %v", i, v, err)
				}
			}
			check(t, m)
		})
	}
}

// A bit flip can point one page's PTE at another page's frame. Trimming
// the first page then trims that frame by the frame's own PTE: its dirty
// bit, not the alias's, decides that the frame must be written, so the
// owner's unsaved write is not dropped with a stale pagefile copy.
func TestTrimThroughAnAliasedPTEUsesTheFramesOwnPTE(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	a := mustAllocate(t, m, RegionPagedPool, 2)
	b := a + PageBytes
	for _, step := range []func() error{
		func() error { return m.WriteU64(c, b, 1) },
		func() error { m.PageOut(b, 1); return nil }, // b gets a pagefile copy
		func() error { _, err := m.ReadU64(c, b); return err },
		func() error { return m.WriteU64(c, b, 2) }, // the copy is stale now
		func() error { _, err := m.ReadU64(c, a); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	frame := m.pteOf(b).Frame()
	if e := m.entry(frame); e.Slot == 0 || !m.pteOf(b).Dirty() {
		t.Fatalf("setup: b's frame has slot %d, PTE %#x; want a slot and a dirty PTE", e.Slot, uint64(m.pteOf(b)))
	}
	m.setPTE(a, ValidPTE(frame, m.pteOf(a).NoExecute())) // clean, and b's frame
	for _, c := range m.CPUs.CPUs {
		c.TLB.Flush()
	}
	m.Trim(a, 1)
	if got := m.entry(frame).State; got != StateModified {
		t.Errorf("b's frame went to %v, want %v: its write would be lost", got, StateModified)
	}
}
