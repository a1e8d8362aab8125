package mm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
)

// Sizes the tests use, in bytes.
const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// machineSpec describes a test machine. The zero value of each field picks
// a small default: 2 MiB of RAM, 8 MiB of pagefile, one CPU on one node.
type machineSpec struct {
	ramBytes      uint64
	pagefileBytes uint64 // 0: the default; use noPagefile for none
	cpus, nodes   int
}

// noPagefile asks for a machine without a pagefile.
const noPagefile = ^uint64(0)

// newMachine builds a machine whose pagefile lives in t's temporary
// directory and is closed when the test ends.
func newMachine(t testing.TB, s machineSpec) *Machine {
	t.Helper()
	if s.ramBytes == 0 {
		s.ramBytes = 2 * mib
	}
	switch s.pagefileBytes {
	case 0:
		s.pagefileBytes = 8 * mib
	case noPagefile:
		s.pagefileBytes = 0
	}
	if s.cpus == 0 {
		s.cpus = 1
	}
	if s.nodes == 0 {
		s.nodes = 1
	}
	cpus, err := cpu.NewSet(s.cpus, s.nodes)
	if err != nil {
		t.Fatalf("cpu.NewSet(%d, %d): %v", s.cpus, s.nodes, err)
	}
	m, err := New(Config{
		RAMBytes:      s.ramBytes,
		PagefileBytes: s.pagefileBytes,
		PagefilePath:  filepath.Join(t.TempDir(), "pagefile.sys"),
		CPUs:          cpus,
		Rand:          rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		t.Fatalf("New(%+v): %v", s, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// cpu0 returns the machine's first processor.
func (m *Machine) cpu0() *cpu.CPU { return m.CPUs.CPUs[0] }

// mustAllocate allocates pages in r on node 0, or fails the test.
func mustAllocate(t testing.TB, m *Machine, r Region, pages uint64) VA {
	t.Helper()
	va := m.AllocatePages(r, pages, 0, true)
	if va == 0 {
		t.Fatalf("AllocatePages(%v, %d) = 0; stats %+v", r, pages, m.Stats())
	}
	return va
}

// newTables returns how many page tables mapping the pages [va,
// va+pages) would make: every table missing above one of their PTEs,
// counted once. Each is charged a page of commit when it is made.
func newTables(m *Machine, va VA, pages uint64) uint64 {
	made := map[VA]bool{} // the self-map address of each table to make
	for i := uint64(0); i < pages; i++ {
		page := va + VA(i*PageBytes)
		if _, _, missing, ok := m.walk(page); !ok {
			for l := missing + 1; l <= LevelPTE; l++ {
				made[l.EntryAddress(page).PageBase()] = true
			}
		}
	}
	return uint64(len(made))
}

// roomLeft returns the most pages one run mapped at va can have within
// the commit left, counting the page tables the run makes (idle nonpaged
// pages, which a charge may give back, are not counted as room). va is
// where the test expects AllocatePages to put the run, such as the base
// of a region not used yet.
func roomLeft(m *Machine, va VA) uint64 {
	used, limit := m.Commit()
	left := limit - used
	n := left - min(left, newTables(m, va, left))
	for n < left && n+1+newTables(m, va, n+1) <= left {
		n++
	}
	return n
}

// check runs every self-check there is: the package's own CheckInvariants
// and the deeper cross-check of page tables, PFN database and pagefile
// that only a test can afford.
func check(t testing.TB, m *Machine) {
	t.Helper()
	m.CheckInvariants()
	if err := m.checkMappings(); err != nil {
		t.Fatal(err)
	}
}

// wantBugcheck fails the test unless err is the bugcheck code(p...).
func wantBugcheck(t testing.TB, what string, err error, code bugcheck.Code, p [4]uint64) {
	t.Helper()
	var bc *bugcheck.Error
	if !errors.As(err, &bc) {
		t.Fatalf("%s: err = %v, want bugcheck %#x {%#x, %#x, %#x, %#x}", what, err, uint32(code), p[0], p[1], p[2], p[3])
	}
	if bc.Code != code || bc.P != p {
		t.Fatalf("%s: got %v (%s), want BugCheck %X, {%x, %x, %x, %x}", what, bc, bc.Site, uint32(code), p[0], p[1], p[2], p[3])
	}
}

// forEachLeaf calls fn for every leaf PTE of the kernel half whose page
// table exists, in address order. It skips the self-map entry, whose
// "leaves" are the page tables themselves.
func (m *Machine) forEachLeaf(fn func(va VA, p PTE)) (tables uint64) {
	tables = 1 // the PML4
	pml4 := m.frameOrZero(m.pml4)
	for i4 := uint64(256); i4 < ptesPerPage; i4++ {
		e4 := readPTE(pml4, i4)
		if i4 == selfMapIndex || !e4.Valid() {
			continue
		}
		tables++
		pdpt := m.frameOrZero(e4.Frame())
		for i3 := uint64(0); i3 < ptesPerPage; i3++ {
			e3 := readPTE(pdpt, i3)
			if !e3.Valid() {
				continue
			}
			tables++
			pd := m.frameOrZero(e3.Frame())
			for i2 := uint64(0); i2 < ptesPerPage; i2++ {
				e2 := readPTE(pd, i2)
				if !e2.Valid() {
					continue
				}
				tables++
				pt := m.frameOrZero(e2.Frame())
				for i1 := uint64(0); i1 < ptesPerPage; i1++ {
					va := VA(0xffff_0000_0000_0000 | i4<<39 | i3<<30 | i2<<21 | i1<<12)
					fn(va, readPTE(pt, i1))
				}
			}
		}
	}
	return tables
}

// slotHolder is what holds a pagefile slot: a frame, or a pagefile PTE.
type slotHolder struct {
	frame PFN
	va    VA
	pte   bool
}

func (h slotHolder) String() string {
	if h.pte {
		return fmt.Sprintf("the pagefile PTE of %v", h.va)
	}
	return fmt.Sprintf("frame %#x (%v)", h.frame, h.va)
}

// checkMappings cross-checks the three ledgers that describe every page:
// the leaf PTEs, the PFN database and the pagefile bitmap. Each frame a
// PTE names must say it maps that PTE's address, and each frame that says
// it maps an address must be named by its PTE; each pagefile slot in use
// must belong to exactly one frame or one pagefile PTE; the commit charge
// must equal the pool pages mapped; the counts that Stats reports must
// agree with what a slow walk finds.
func (m *Machine) checkMappings() error {
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < 10 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	mappedBy := map[PFN]VA{}             // frames named by a valid or transition PTE
	slotOwner := map[uint64]slotHolder{} // who holds each pagefile slot
	own := func(slot uint64, who slotHolder) {
		if prev, dup := slotOwner[slot]; dup {
			fail("pagefile slot %d is held by both %v and %v", slot, prev, who)
		}
		slotOwner[slot] = who
		if m.Pagefile == nil || !m.Pagefile.InUse(slot) {
			fail("%v holds pagefile slot %d, which is not in use", who, slot)
		}
	}
	var mapped [numRegions]uint64
	var leafNonpageable uint64

	tables := m.forEachLeaf(func(va VA, p PTE) {
		if p == 0 {
			return
		}
		r := RegionOf(va)
		mapped[r]++
		switch {
		case p.Valid() || p.Transition():
			f := p.Frame()
			if uint64(f) >= m.frames {
				fail("PTE of %v names frame %#x, past the last frame %#x", va, f, m.frames-1)
				return
			}
			if other, dup := mappedBy[f]; dup {
				fail("frame %#x is mapped at both %v and %v", f, other, va)
			}
			mappedBy[f] = va
			e := m.entry(f)
			if e.VA != va {
				fail("PTE of %v names frame %#x, whose PFN entry says it maps %v", va, f, e.VA)
			}
			if e.PageTable {
				fail("PTE of %v names frame %#x, which is a page table", va, f)
			}
			if e.Slot != 0 {
				own(e.Slot, slotHolder{f, va, false})
			}
			switch {
			case p.Valid() && r.Pageable():
				if e.State != StateActive || !e.Pageable {
					fail("valid paged PTE of %v: frame %#x is %v, pageable %v; want Active and pageable", va, f, e.State, e.Pageable)
				}
			case p.Valid():
				leafNonpageable++
				if e.State != StateActive || e.Pageable {
					fail("valid nonpaged PTE of %v: frame %#x is %v, pageable %v; want Active and nonpageable", va, f, e.State, e.Pageable)
				}
			default: // transition
				if !r.Pageable() || !e.Pageable {
					fail("transition PTE of %v in %v (frame pageable %v)", va, r, e.Pageable)
				}
				switch e.State {
				case StateStandby:
					if e.Modified || e.Slot == 0 {
						fail("standby frame %#x of %v: modified %v, slot %d; want clean with a slot", f, va, e.Modified, e.Slot)
					}
				case StateModified:
					if !e.Modified && e.Slot != 0 {
						fail("modified-list frame %#x of %v is clean and has slot %d", f, va, e.Slot)
					}
				default:
					fail("transition PTE of %v names frame %#x, which is %v", va, f, e.State)
				}
			}
		case p.Software() && p.Slot() != 0:
			own(p.Slot(), slotHolder{0, va, true})
			if !r.Pageable() {
				fail("pagefile PTE %#x at %v in %v", uint64(p), va, r)
			}
		case p.Software():
			if !r.Pageable() && p.Protection() != ProtNoAccess {
				fail("demand-zero PTE %#x at %v in %v", uint64(p), va, r)
			}
		default:
			fail("PTE %#x at %v is in no known format", uint64(p), va)
		}
	})

	// Every frame that claims an address must be the one its PTE names,
	// and every frame on a list must be in the state that list stands for.
	var pageTables uint64
	for n := range m.nodes {
		nf := &m.nodes[n]
		for f := PFN(nf.first); uint64(f) < nf.next; f++ {
			e := m.entry(f)
			if got := m.nodeOf(f); got != n {
				fail("frame %#x was handed out by node %d but nodeOf says %d", f, n, got)
			}
			switch {
			case e.PageTable:
				pageTables++
				if e.State != StateActive {
					fail("page-table frame %#x is %v", f, e.State)
				}
			case e.State == StateActive && e.Pageable, e.State == StateStandby, e.State == StateModified:
				if va, ok := mappedBy[f]; !ok || va != e.VA {
					fail("frame %#x is %v for %v, but no PTE names it (PTE %#x)", f, e.State, e.VA, uint64(m.pteOf(e.VA)))
				}
			case e.State == StateFree || e.State == StateZeroed:
				if e.Slot != 0 || e.Pageable || e.Modified {
					fail("%v frame %#x still holds slot %d, pageable %v, modified %v", e.State, f, e.Slot, e.Pageable, e.Modified)
				}
			}
		}
	}
	if pageTables != tables || m.stats.PageTablePages != tables {
		fail("page tables: %d reachable from the PML4, %d frames marked, the counter says %d", tables, pageTables, m.stats.PageTablePages)
	}
	if want := pageTables + leafNonpageable; m.activeNonpageable != want {
		fail("active nonpageable frames: counter %d, page tables %d + nonpaged pages %d = %d", m.activeNonpageable, pageTables, leafNonpageable, want)
	}
	if m.Pagefile != nil {
		if used := m.Pagefile.Stats().Used; used != uint64(len(slotOwner)) {
			fail("pagefile: %d slots in use, %d held by frames and PTEs", used, len(slotOwner))
		}
	}
	for f := m.workingSet.head; f != noFrame; f = m.entry(PFN(f)).flink {
		if e := m.entry(PFN(f)); e.State != StateActive || !e.Pageable {
			fail("working set holds frame %#x, which is %v (pageable %v)", f, e.State, e.Pageable)
		}
	}

	var commit uint64
	for r := RegionPagedPool; r < numRegions; r++ {
		v := m.regions[r]
		commit += v.mapped
		if mapped[r] != v.mapped {
			fail("%v: %d pages mapped by the tables, %d by the region's count", r, mapped[r], v.mapped)
		}
	}
	if commit+m.stats.PageTablePages != m.commitPages {
		fail("commit: %d pages charged, %d pool pages mapped and %d page tables", m.commitPages, commit, m.stats.PageTablePages)
	}
	if m.commitPages > m.commitLimitPages {
		fail("commit: %d pages charged, over the limit %d", m.commitPages, m.commitLimitPages)
	}
	np := m.regions[RegionNonPagedPool]
	for n := range np.idle {
		np.idle[n].byAddr.Ascend(func(e extent) bool {
			for i := uint64(0); i < e.pages; i++ {
				if p := m.pteOf(e.base + VA(i*PageBytes)); !p.Valid() {
					fail("idle nonpaged page %v is not mapped (PTE %#x)", e.base+VA(i*PageBytes), uint64(p))
				}
			}
			return true
		})
	}
	return errors.Join(errs...)
}

// ptesPerPage is the entries of a page table.
const ptesPerPage = PageBytes / 8
