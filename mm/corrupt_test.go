package mm

import (
	"fmt"
	"testing"

	"simkern/bugcheck"
	"simkern/pagefile"
)

// Page tables are memory: a scenario may write anything into them through
// the self-map, and a bit flip may land there. Whatever an entry holds,
// following it must end in a bugcheck (0x1A), never in a Go panic or in
// the memory manager freeing what is not the page's.
func TestCorruptPageTables(t *testing.T) {
	tests := []struct {
		name string
		// corrupt returns the entry address it writes and the value.
		corrupt func(s setup) (at VA, p PTE)
		// act does what meets the entry, and returns its error.
		act func(s setup) error
		// p1 and p2 of the 0x1A expected; p3 and p4 follow from the PTE
		// for 0x41792, and are 0 for 0x61941.
		p1 uint64
		p2 func(s setup, at VA) VA
	}{
		{
			name:    "a leaf PTE naming a frame past memory, read",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), ValidPTE(s.past, true) },
			act:     func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:      0x41792, p2: entryAt,
		},
		{
			name:    "a PDE naming a frame past memory, read",
			corrupt: func(s setup) (VA, PTE) { return LevelPDE.EntryAddress(s.va), ValidPTE(s.past, true) },
			act:     func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:      0x41792, p2: entryAt,
		},
		{
			name:    "a transition PTE naming a frame past memory, read",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), TransitionPTE(s.past, ProtReadWrite) },
			act:     func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:      0x41792, p2: entryAt,
		},
		{
			name: "a transition PTE naming another page's active frame, read",
			corrupt: func(s setup) (VA, PTE) {
				return LevelPTE.EntryAddress(s.va), TransitionPTE(s.m.pteOf(s.other).Frame(), ProtReadWrite)
			},
			act: func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:  0x41792, p2: entryAt,
		},
		{
			name:    "a pagefile PTE naming a slot not in use, read",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), PagefilePTE(77, ProtReadWrite) },
			act:     func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:      0x41792, p2: entryAt,
		},
		{
			name:    "a pagefile PTE naming another page's slot, read",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), pagedOut(s, s.other) },
			act:     func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:      0x41792, p2: entryAt,
		},
		{
			name:    "a pagefile PTE naming another page's slot, freed",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), pagedOut(s, s.other) },
			act:     func(s setup) error { s.m.FreePages(s.va, 1); return s.m.Halted() },
			p1:      0x41792, p2: entryAt,
		},
		{
			name: "a pagefile PTE naming the slot its page's frame still holds, read",
			corrupt: func(s setup) (VA, PTE) {
				pagedOut(s, s.va)
				if _, err := s.m.ReadU64(s.m.cpu0(), s.va); err != nil { // back in: the frame keeps the slot
					panic(err)
				}
				return LevelPTE.EntryAddress(s.va), PagefilePTE(s.m.entry(s.m.pteOf(s.va).Frame()).Slot, ProtReadWrite)
			},
			act: func(s setup) error { _, err := s.m.ReadU64(s.m.cpu0(), s.va); return err },
			p1:  0x41792, p2: entryAt,
		},
		{
			name:    "a zeroed PDE under working-set pages, trimmed",
			corrupt: func(s setup) (VA, PTE) { return LevelPDE.EntryAddress(s.va), 0 },
			act:     func(s setup) error { s.m.TrimAll(); return s.m.Halted() },
			p1:      0x61941, p2: func(s setup, _ VA) VA { return s.va },
		},
		{
			name:    "a leaf PTE naming a frame past memory, trimmed by address",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), ValidPTE(s.past, true) },
			act:     func(s setup) error { s.m.Trim(s.va, 1); return s.m.Halted() },
			p1:      0x41792, p2: entryAt,
		},
		{
			name:    "a leaf PTE naming a frame past memory, freed",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), ValidPTE(s.past, true) },
			act:     func(s setup) error { s.m.FreePages(s.va, 1); return s.m.Halted() },
			p1:      0x41792, p2: entryAt,
		},
		{
			name: "a leaf PTE naming another page's frame, freed",
			corrupt: func(s setup) (VA, PTE) {
				return LevelPTE.EntryAddress(s.va), ValidPTE(s.m.pteOf(s.other).Frame(), true)
			},
			act: func(s setup) error { s.m.FreePages(s.va, 1); return s.m.Halted() },
			p1:  0x41792, p2: entryAt,
		},
		{
			name:    "a transition PTE naming a frame past memory, paged out by address",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), TransitionPTE(s.past, ProtReadWrite) },
			act:     func(s setup) error { s.m.PageOut(s.va, 1); return s.m.Halted() },
			p1:      0x41792, p2: entryAt,
		},
		{
			name:    "a transition PTE naming a frame past memory, written by the modified page writer",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.va), TransitionPTE(s.past, ProtReadWrite) },
			act:     func(s setup) error { s.m.WriteModifiedRange(s.va, 1); return s.m.Halted() },
			p1:      0x41792, p2: entryAt,
		},
		{
			name: "a transition PTE naming another page's frame, written by the modified page writer",
			corrupt: func(s setup) (VA, PTE) {
				return LevelPTE.EntryAddress(s.va), TransitionPTE(s.m.pteOf(s.other).Frame(), ProtReadWrite)
			},
			act: func(s setup) error { s.m.WriteModifiedRange(s.va, 1); return s.m.Halted() },
			p1:  0x41792, p2: entryAt,
		},
		{
			name:    "a nonpaged PTE naming a frame past memory, freed",
			corrupt: func(s setup) (VA, PTE) { return LevelPTE.EntryAddress(s.np), ValidPTE(s.past, true) },
			act:     func(s setup) error { s.m.FreePages(s.np, 1); return s.m.Halted() },
			p1:      0x41792, p2: entryAt,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, machineSpec{})
			c := m.cpu0()
			s := setup{m: m, va: mustAllocate(t, m, RegionPagedPool, 2), np: mustAllocate(t, m, RegionNonPagedPool, 1), past: PFN(m.Frames() + 0x10)}
			s.other = s.va + PageBytes
			for _, va := range []VA{s.va, s.other} {
				if err := m.WriteU64(c, va, 1); err != nil {
					t.Fatal(err)
				}
			}
			at, p := tt.corrupt(s)
			// The write itself flushes the TLB, which holds the pages
			// just written: the next access walks to the new entry.
			if err := m.WriteU64(c, at, uint64(p)); err != nil {
				t.Fatalf("writing %#x at %v: %v", uint64(p), at, err)
			}
			want := [4]uint64{tt.p1, uint64(tt.p2(s, at)), 0, 0}
			if tt.p1 == 0x41792 {
				want[2], want[3] = uint64(p)&0xffffffff, uint64(p)>>32
			}
			wantBugcheck(t, tt.name, tt.act(s), bugcheck.MemoryManagement, want)
			requireHalted(t, m, m.Halted())
			m.CheckInvariants()
			// The debugger still reads what it can, and never follows the
			// entry either.
			var b [8]byte
			if n := m.Peek(s.va, b[:]); n != 0 && n != len(b) {
				t.Errorf("Peek read %d bytes", n)
			}
			_ = m.PTEChain(s.va)
		})
	}
}

// setup is what each case of TestCorruptPageTables starts from.
type setup struct {
	m     *Machine
	va    VA  // a resident paged pool page (valid PTE)
	other VA  // a second resident paged pool page
	np    VA  // a nonpaged pool page
	past  PFN // a frame number past the machine's memory
}

// pagedOut pages va out to the pagefile and returns its pagefile PTE.
func pagedOut(s setup, va VA) PTE {
	if s.m.PageOut(va, 1) != 1 || !s.m.pteOf(va).Software() || s.m.pteOf(va).Slot() == 0 {
		panic(fmt.Sprintf("%v did not go to the pagefile: PTE %#x", va, uint64(s.m.pteOf(va))))
	}
	return s.m.pteOf(va)
}

// entryAt is P2 for a corrupted PTE: the entry's own address.
func entryAt(_ setup, at VA) VA { return at }

// FuzzCorruptTables runs a stream of allocations, accesses, trims,
// page-outs and frees in which some operations write arbitrary values
// into page-table entries through the self-map or flip bits in any frame.
// Whatever that does, the machine either goes on or halts with a
// bugcheck: it never panics, and its frame ledger stays whole.
//
// Input: groups of four bytes: an opcode, two argument bytes and a value
// byte (spread into the u64 a corruption writes).
func FuzzCorruptTables(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 6, 0, 3, 0x41, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0})
	f.Add([]byte{0, 3, 0, 0, 1, 1, 0, 0, 3, 1, 0, 7, 6, 1, 1, 0xff, 7, 9, 200, 3, 4, 0, 0, 0, 5, 1, 0, 0, 2, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMachine(t, machineSpec{ramBytes: 1 << 20, pagefileBytes: 4 << 20})
		c := m.cpu0()
		var live []VA
		pick := func(b byte) (VA, bool) {
			if len(live) == 0 {
				return 0, false
			}
			return live[int(b)%len(live)], true
		}
		for i := 0; i+4 <= len(data) && m.Halted() == nil; i += 4 {
			op, a, b, v := data[i]%9, data[i+1], data[i+2], data[i+3]
			switch op {
			case 0, 1:
				r := RegionPagedPool
				if op == 1 {
					r = RegionNonPagedPool
				}
				if va := m.AllocatePages(r, uint64(a%4)+1, 0, true); va != 0 {
					live = append(live, va)
				}
			case 2:
				if va, ok := pick(a); ok {
					m.FreePages(va, 1)
					live = slicesDelete(live, va)
				}
			case 3:
				if va, ok := pick(a); ok {
					_ = m.WriteU64(c, va+VA(b)*8, uint64(v))
				}
			case 4:
				if va, ok := pick(a); ok {
					_, _ = m.ReadU64(c, va+VA(b)*8)
				}
			case 5:
				if a%2 == 0 {
					m.TrimAll()
				} else {
					m.PageOutAll()
				}
			case 6: // write an entry of one of the four levels
				if va, ok := pick(a); ok {
					at := Level(b % 4).EntryAddress(va)
					_ = m.WriteU64(c, at, uint64(v)*0x0101_0000_0101_0001>>(b/4%8))
				}
			case 7: // flip a bit anywhere in memory
				_ = m.FlipBit(PFN(uint64(a)<<8|uint64(b))%PFN(m.Frames()), int(v)%(PageBytes/8), v%64)
			case 8: // copy one page's PTE onto another's: shared frames and slots
				from, ok1 := pick(a)
				to, ok2 := pick(b)
				if ok1 && ok2 {
					if p, err := m.ReadU64(c, LevelPTE.EntryAddress(from)); err == nil {
						_ = m.WriteU64(c, LevelPTE.EntryAddress(to), p)
					}
				}
			}
			m.CheckInvariants()
		}
	})
}

// slicesDelete removes the first va from live, keeping the order.
func slicesDelete(live []VA, va VA) []VA {
	for i, x := range live {
		if x == va {
			return append(live[:i], live[i+1:]...)
		}
	}
	return live
}

// An idle nonpaged page is given back to make room for a fault. If a
// corruption made it pageable (a demand-zero PTE copied onto it, then
// touched and paged out), freeing it would release the pagefile slot the
// fault is about to read: the memory manager must stop at the corrupted
// PTE instead, whichever page is being faulted in.
// TestPageTableChangesReachEveryCPU: a write through the self-map and a
// bit flip in a page table each change what an address means, on every
// CPU at once, including CPUs whose TLB held the old translation (each
// kept using the old frame once).
func TestPageTableChangesReachEveryCPU(t *testing.T) {
	for _, how := range []string{"a write through the self-map", "bit flips"} {
		t.Run(how, func(t *testing.T) {
			m := newMachine(t, machineSpec{cpus: 2})
			va := mustAllocate(t, m, RegionNonPagedPool, 2)
			other := va + PageBytes
			for i, at := range []VA{va, other} {
				if err := m.WriteU64(m.cpu0(), at, uint64(i+1)); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range m.CPUs.CPUs { // both TLBs hold va
				if got, err := m.ReadU64(c, va); err != nil || got != 1 {
					t.Fatalf("CPU %d reads %d, %v before the change", c.Number, got, err)
				}
			}
			old, moved := m.pteOf(va), m.pteOf(other)
			if how == "bit flips" {
				leaf, _, _, _ := m.walk(va)
				for bit := range uint8(64) {
					if (old^moved)>>bit&1 != 0 {
						if err := m.FlipBit(leaf, int(LevelPTE.index(va)), bit); err != nil {
							t.Fatal(err)
						}
					}
				}
			} else if err := m.WriteU64(m.cpu0(), LevelPTE.EntryAddress(va), uint64(moved)); err != nil {
				t.Fatal(err)
			}
			for _, c := range m.CPUs.CPUs {
				if got, err := m.ReadU64(c, va); err != nil || got != 2 {
					t.Errorf("CPU %d reads %d, %v at va after its PTE names other's frame; want 2", c.Number, got, err)
				}
			}
		})
	}
}

func TestCorruptIdlePageMeetsAFault(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 << 20, pagefileBytes: 4 << 20})
	c := m.cpu0()
	y := mustAllocate(t, m, RegionNonPagedPool, 1)
	_ = mustAllocate(t, m, RegionNonPagedPool, 1) // apart, so Y and Z stay separate extents
	z := mustAllocate(t, m, RegionNonPagedPool, 1)
	p := mustAllocate(t, m, RegionPagedPool, 1) // never touched: a demand-zero PTE
	m.FreePages(y, 1)
	m.FreePages(z, 1)
	dz, err := m.ReadU64(c, LevelPTE.EntryAddress(p))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteU64(c, LevelPTE.EntryAddress(y), dz); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadU64(c, y); err != nil { // demand zero: a pageable frame for Y
		t.Fatal(err)
	}
	if n := m.PageOut(y, 1); n != 1 {
		t.Fatalf("PageOut = %d", n)
	}
	yPTE := m.pteOf(y)
	// No write can succeed, so the only room left is the idle pages.
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Probability: 1})
	q := mustAllocate(t, m, RegionPagedPool, 512)
	for i := 0; m.Stats().Available() > 0; i++ {
		if err := m.WriteU64(c, q+VA(i)*PageBytes, 1); err != nil {
			t.Fatal(err)
		}
	}
	_, err = m.ReadU64(c, y)
	wantBugcheck(t, "reading Y", err, bugcheck.MemoryManagement,
		[4]uint64{0x41792, uint64(LevelPTE.EntryAddress(y)), uint64(yPTE) & 0xffffffff, uint64(yPTE) >> 32})
	m.CheckInvariants()
}

// Making room for a fault trims the oldest pages, and a corruption may
// have left a page's old frame still in the working set under a pagefile
// PTE written back over its new one. Trimming that frame rewrites the PTE
// the fault is resolving; the fault must then stop at the PTE it finds
// rather than map over it.
func TestFaultPTEChangedWhileMakingRoom(t *testing.T) {
	m := newMachine(t, machineSpec{ramBytes: 1 << 20, pagefileBytes: 4 << 20})
	c := m.cpu0()
	write := func(va VA) {
		t.Helper()
		if err := m.WriteU64(c, va, 1); err != nil {
			t.Fatal(err)
		}
	}
	read := func(va VA) {
		t.Helper()
		if _, err := m.ReadU64(c, va); err != nil {
			t.Fatal(err)
		}
	}
	setPTE := func(va VA, p PTE) {
		t.Helper()
		if err := m.WriteU64(c, LevelPTE.EntryAddress(va), uint64(p)); err != nil {
			t.Fatal(err)
		}
	}
	clean := mustAllocate(t, m, RegionPagedPool, 8)
	y := mustAllocate(t, m, RegionPagedPool, 1)
	untouched := mustAllocate(t, m, RegionPagedPool, 1)
	for i := range VA(8) {
		write(clean + i*PageBytes)
	}
	write(y)
	m.PageOut(clean, 8)
	saved := pagedOut(setup{m: m}, y)
	for i := range VA(8) {
		read(clean + i*PageBytes) // back in and clean: trimming makes them standby
	}
	setPTE(y, m.pteOf(untouched)) // demand zero: a second frame for Y...
	read(y)
	setPTE(y, saved) // ...left behind when the stale pagefile PTE is written back
	m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Probability: 1})
	q := mustAllocate(t, m, RegionPagedPool, 512)
	for i := VA(0); m.Stats().Available() > 0; i++ {
		write(q + i*PageBytes)
	}
	_, err := m.ReadU64(c, y)
	now := m.pteOf(y)
	if !now.Transition() {
		t.Fatalf("Y's PTE is %#x after the fault; the test wants the trimmer to have made it a transition PTE", uint64(now))
	}
	wantBugcheck(t, "reading Y", err, bugcheck.MemoryManagement,
		[4]uint64{0x41792, uint64(LevelPTE.EntryAddress(y)), uint64(now) & 0xffffffff, uint64(now) >> 32})
	m.CheckInvariants()
}

// TestPageTableMadeFromAnAliasedFrame: a corrupted PTE can leave a TLB
// holding a free frame for writing under some address; when that frame
// later becomes a page table, writes through the alias must walk and
// flush like any write into a page table, or other CPUs keep using
// translations the tables no longer hold.
func TestPageTableMadeFromAnAliasedFrame(t *testing.T) {
	m := newMachine(t, machineSpec{cpus: 2})
	c0, c1 := m.CPUs.CPUs[0], m.CPUs.CPUs[1]
	va := mustAllocate(t, m, RegionNonPagedPool, 1)
	free := PFN(m.nodes[0].next) // the next frame handed out: the paged pool's page table below
	if err := m.WriteU64(c0, LevelPTE.EntryAddress(va), uint64(ValidPTE(free, true))); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteU64(c0, va, 1); err != nil { // va now caches the free frame, dirty
		t.Fatal(err)
	}
	y := mustAllocate(t, m, RegionPagedPool, 1)
	if !m.entry(free).PageTable {
		t.Fatalf("frame %#x did not become one of y's page tables: the test's setup no longer holds", uint64(free))
	}
	if err := m.WriteU64(c1, y, 0x55); err != nil {
		t.Fatal(err)
	}
	// Zero that table through the alias: every CPU must now fault on y.
	for i := VA(0); i < PageBytes; i += 8 {
		if err := m.WriteU64(c0, va+i, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := m.ReadU64(c1, y); err == nil {
		t.Errorf("CPU 1 read %#x at y after a table above it was zeroed; want the access to fail", got)
	}
}
