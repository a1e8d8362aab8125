package mm

import (
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
)

// A special pool pair is a data page with a frame and a guard page without
// one; both are mapped and charged, so the ledgers still agree.
func TestSpecialPairLayout(t *testing.T) {
	tests := []struct {
		name       string
		guardFirst bool
		nx         bool
	}{
		{name: "overrun mode: the data page first, the guard after it", guardFirst: false, nx: true},
		{name: "underrun mode: the guard first, the data page after it", guardFirst: true, nx: true},
		{name: "an executable data page keeps NX clear", guardFirst: false, nx: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{})
			c := m.cpu0()
			before := m.Stats()
			pair := m.AllocateSpecialPair(0, tt.nx, tt.guardFirst, false)
			if pair == 0 {
				t.Fatalf("AllocateSpecialPair = 0; stats %+v", m.Stats())
			}
			if RegionOf(pair) != RegionSpecialPool || pair.PageOffset() != 0 {
				t.Fatalf("pair at %v, want a page of the special pool region", pair)
			}
			data, guard := pair, pair+PageBytes
			if tt.guardFirst {
				data, guard = guard, data
			}
			p := m.PTE(data)
			if !p.Valid() || p.NoExecute() != tt.nx {
				t.Errorf("data PTE %#x: valid %v NX %v, want valid, NX %v", uint64(p), p.Valid(), p.NoExecute(), tt.nx)
			}
			if g := m.PTE(guard); g != NoAccessPTE() || !g.Software() || g.Protection() != ProtNoAccess {
				t.Errorf("guard PTE %#x, want the no-access PTE %#x", uint64(g), uint64(NoAccessPTE()))
			}
			if e := m.entry(p.Frame()); e.VA != data || e.State != StateActive || e.Pageable {
				t.Errorf("data frame %#x: %+v, want Active nonpageable for %v", p.Frame(), *e, data)
			}
			if err := m.WriteU64(c, data+PageBytes-8, 0x1122334455667788); err != nil {
				t.Fatalf("writing the data page: %v", err)
			}
			after := m.Stats()
			// Two pages of commit plus the page tables the region's first
			// mapping needed; one frame for the data plus those tables.
			tables := after.PageTablePages - before.PageTablePages
			if got, want := after.CommitPages-before.CommitPages, 2+tables; got != want {
				t.Errorf("commit grew by %d pages, want %d (the pair and %d page tables)", got, want, tables)
			}
			if got, want := after.ActiveNonpageable-before.ActiveNonpageable, 1+tables; got != want {
				t.Errorf("active nonpageable frames grew by %d, want %d (the data page and %d page tables)", got, want, tables)
			}
			if got := m.regions[RegionSpecialPool].mapped; got != 2 {
				t.Errorf("special pool region maps %d pages, want 2", got)
			}
			check(t, m)
		})
	}
}

// SetNoAccess frees the data page's frame; a touch then faults (0x50 when
// no pool hook claims it); FreePages gives the pair back, and the next
// pair reuses its address space.
func TestSpecialPairLife(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	pair := m.AllocateSpecialPair(0, true, false, false)
	if pair == 0 {
		t.Fatal("AllocateSpecialPair = 0")
	}
	mid := m.Stats()
	m.SetNoAccess(pair)
	s := m.Stats()
	if p := m.PTE(pair); p != NoAccessPTE() {
		t.Errorf("data PTE after SetNoAccess = %#x, want %#x", uint64(p), uint64(NoAccessPTE()))
	}
	if s.ActiveNonpageable != mid.ActiveNonpageable-1 || s.Free != mid.Free+1 {
		t.Errorf("SetNoAccess: active nonpageable %d -> %d, free %d -> %d; want one frame moved to the free list",
			mid.ActiveNonpageable, s.ActiveNonpageable, mid.Free, s.Free)
	}
	if s.CommitPages != mid.CommitPages {
		t.Errorf("SetNoAccess changed commit %d -> %d; the pair stays charged until FreePages", mid.CommitPages, s.CommitPages)
	}
	check(t, m)

	m.FreePages(pair, 2)
	s = m.Stats()
	if m.PTE(pair) != 0 || m.PTE(pair+PageBytes) != 0 {
		t.Errorf("PTEs after FreePages: %#x %#x, want zero", uint64(m.PTE(pair)), uint64(m.PTE(pair+PageBytes)))
	}
	if s.CommitPages != mid.CommitPages-2 {
		t.Errorf("commit after FreePages = %d, want %d", s.CommitPages, mid.CommitPages-2)
	}
	check(t, m)
	if again := m.AllocateSpecialPair(0, true, true, false); again != pair {
		t.Errorf("the next pair is at %v, want the freed %v reused", again, pair)
	}
	check(t, m)

	_, err := m.ReadU64(c, pair+3*PageBytes)
	wantBugcheck(t, "a special pool page never mapped, no hook", err, bugcheck.PageFaultInNonpagedArea,
		[4]uint64{uint64(pair + 3*PageBytes), 0, c.PC, 0})
}

// A pageable pair's data page lives as paged pool does: demand-zero,
// resident once touched, trimmed and paged out, a bugcheck when touched at
// DISPATCH_LEVEL out of memory, and back on the next touch. SetNoAccess of
// a paged-out page gives its pagefile slot back.
func TestSpecialPageablePair(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	data := m.AllocateSpecialPair(0, true, false, true)
	if data == 0 {
		t.Fatal("AllocateSpecialPair = 0")
	}
	if p := m.PTE(data); p.Valid() || p.Slot() != 0 || p.Transition() {
		t.Fatalf("pageable data PTE = %#x, want demand-zero", uint64(p))
	}
	if err := m.WriteU64(c, data+8, 0x1234); err != nil {
		t.Fatal(err)
	}
	if n := m.PageOut(data, 1); n != 1 {
		t.Fatalf("PageOut = %d, want 1", n)
	}
	c.SetIRQL(cpu.DispatchLevel)
	_, err := m.ReadU64(c, data+8)
	wantBugcheck(t, "paged special pool at DISPATCH_LEVEL", err, bugcheck.IrqlNotLessOrEqual,
		[4]uint64{uint64(data + 8), uint64(cpu.DispatchLevel), 0, c.PC})

	m = newMachine(t, machineSpec{})
	c = m.cpu0()
	data = m.AllocateSpecialPair(0, true, false, true)
	if err := m.WriteU64(c, data+8, 0x1234); err != nil {
		t.Fatal(err)
	}
	m.PageOut(data, 1)
	if v, err := m.ReadU64(c, data+8); err != nil || v != 0x1234 || m.Stats().HardFaults != 1 {
		t.Fatalf("after page-out: %#x, %v, %d hard faults; want 0x1234 read back by one", v, err, m.Stats().HardFaults)
	}
	m.PageOut(data, 1)
	used := m.Pagefile.Stats().Used
	m.SetNoAccess(data)
	if p := m.PTE(data); p != NoAccessPTE() || m.Pagefile.Stats().Used != used-1 {
		t.Errorf("SetNoAccess of a paged-out page: PTE %#x, pagefile slots %d -> %d; want no-access and one slot back",
			uint64(p), used, m.Pagefile.Stats().Used)
	}
	check(t, m)
	m.FreePages(data, 2)
	check(t, m)
}

// A no-access page is 0x50 when no hook claims it, at any level of the
// page's life.
func TestSpecialNoAccessPagesFault(t *testing.T) {
	tests := []struct {
		name  string
		write bool
		page  func(t *testing.T, m *Machine) VA
	}{
		{
			name: "reading a guard page",
			page: func(t *testing.T, m *Machine) VA { return m.AllocateSpecialPair(0, true, false, false) + PageBytes },
		},
		{
			name:  "writing a guard page",
			write: true,
			page:  func(t *testing.T, m *Machine) VA { return m.AllocateSpecialPair(0, true, true, false) },
		},
		{
			name: "reading a data page made no-access",
			page: func(t *testing.T, m *Machine) VA {
				va := m.AllocateSpecialPair(0, true, false, false)
				m.SetNoAccess(va)
				return va
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{})
			c := m.cpu0()
			va := tt.page(t, m) + 0x10
			var err error
			rw := uint64(0)
			if tt.write {
				err, rw = m.WriteU64(c, va, 1), 2
			} else {
				_, err = m.ReadU64(c, va)
			}
			wantBugcheck(t, tt.name, err, bugcheck.PageFaultInNonpagedArea, [4]uint64{uint64(va), rw, c.PC, 0})
		})
	}
}

// When memory runs out the pair is not made, and nothing it took stays
// taken.
func TestSpecialPairFailures(t *testing.T) {
	tests := []struct {
		name string
		spec machineSpec
		fill func(t *testing.T, m *Machine)
	}{
		{
			name: "commit exhausted by untouched paged pool",
			spec: machineSpec{pagefileBytes: noPagefile},
			fill: func(t *testing.T, m *Machine) {
				for m.AllocatePages(RegionPagedPool, 1, 0, true) != 0 {
				}
			},
		},
		{
			name: "frames exhausted by nonpaged pool, commit to spare",
			spec: machineSpec{pagefileBytes: 8 * mib},
			fill: func(t *testing.T, m *Machine) {
				for m.AllocatePages(RegionNonPagedPool, 1, 0, true) != 0 {
				}
				if used, limit := m.Commit(); limit-used < 8 {
					t.Fatalf("commit %d of %d: the row needs commit to spare", used, limit)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, tt.spec)
			// A pair first, so the special region's page tables exist.
			first := m.AllocateSpecialPair(0, true, false, false)
			if first == 0 {
				t.Fatal("the first pair failed")
			}
			tt.fill(t, m)
			before := m.Stats()
			if va := m.AllocateSpecialPair(0, true, false, false); va != 0 {
				t.Fatalf("AllocateSpecialPair = %v, want 0", va)
			}
			after := m.Stats()
			if after.CommitPages != before.CommitPages || after.ActiveNonpageable != before.ActiveNonpageable {
				t.Errorf("a failed pair changed commit %d -> %d, active nonpageable %d -> %d",
					before.CommitPages, after.CommitPages, before.ActiveNonpageable, after.ActiveNonpageable)
			}
			if p := m.PTE(first + 2*PageBytes); p != 0 {
				t.Errorf("the failed pair left PTE %#x at %v", uint64(p), first+2*PageBytes)
			}
			check(t, m)
		})
	}
}

// SetNoAccess is only for special pool pages that are mapped.
func TestSetNoAccessPreconditions(t *testing.T) {
	tests := []struct {
		name string
		va   func(m *Machine) VA
	}{
		{"a paged pool page", func(m *Machine) VA { return m.AllocatePages(RegionPagedPool, 1, 0, true) }},
		{"a special pool page never mapped", func(m *Machine) VA { return RegionSpecialPool.Base() + 64*PageBytes }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{})
			va := tt.va(m)
			defer func() {
				if recover() == nil {
					t.Errorf("SetNoAccess(%v) did not panic", va)
				}
			}()
			m.SetNoAccess(va)
		})
	}
}
