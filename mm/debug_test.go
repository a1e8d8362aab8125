package mm

import (
	"testing"
)

// snapshot is everything a debugger read must leave alone.
type snapshot struct {
	stats   Stats
	ptes    []PTE
	tlb     [2]uint64 // hits and misses of CPU 0
	halted  bool
	touched [2]uint64 // frames handed out by each node
}

func takeSnapshot(m *Machine, vas []VA) snapshot {
	s := snapshot{stats: m.Stats(), halted: m.Halted() != nil}
	for _, va := range vas {
		s.ptes = append(s.ptes, m.pteOf(va))
	}
	c := m.cpu0()
	s.tlb = [2]uint64{c.TLB.Hits, c.TLB.Misses}
	for n := range m.nodes {
		s.touched[n] = m.nodes[n].next
	}
	return s
}

func (s snapshot) equal(o snapshot) bool {
	if s.stats != o.stats || s.tlb != o.tlb || s.halted != o.halted || s.touched != o.touched || len(s.ptes) != len(o.ptes) {
		return false
	}
	for i := range s.ptes {
		if s.ptes[i] != o.ptes[i] {
			return false
		}
	}
	return true
}

// The debugger's views (Peek, PeekU64, PTE, PTEChain, Resident, Frame,
// Commit) never fault, never change a PTE, a counter or a TLB, and never
// materialise a frame's bytes: a debugger looks, it does not touch.
func TestDebugViewsChangeNothing(t *testing.T) {
	m := newMachine(t, machineSpec{})
	c := m.cpu0()
	freshNonpaged := mustAllocate(t, m, RegionNonPagedPool, 1) // mapped, bytes never made
	resident := mustAllocate(t, m, RegionPagedPool, 1)
	trimmed := mustAllocate(t, m, RegionPagedPool, 1)
	pagedOut := mustAllocate(t, m, RegionPagedPool, 1)
	for i, va := range []VA{resident, trimmed, pagedOut} {
		if err := m.WriteU64(c, va+16, uint64(i)+0x100); err != nil {
			t.Fatal(err)
		}
	}
	m.Trim(trimmed, 1)
	m.PageOut(pagedOut, 1)
	untouched := mustAllocate(t, m, RegionPagedPool, 1)
	unmapped := RegionPagedPool.Base() + 50*gib
	nonCanonical := VA(0x1234_0000_0000_0000)
	all := []VA{resident, trimmed, pagedOut, untouched, freshNonpaged, unmapped, nonCanonical}
	freshFrame := m.pteOf(freshNonpaged).Frame()
	if m.peekFrame(freshFrame) != nil {
		t.Fatal("the fresh nonpaged page already has bytes")
	}

	tests := []struct {
		name string
		look func(t *testing.T)
	}{
		{"Peek of a resident page returns its bytes", func(t *testing.T) {
			if v, ok := m.PeekU64(resident + 16); !ok || v != 0x100 {
				t.Errorf("PeekU64 = %#x, %v; want 0x100, true", v, ok)
			}
		}},
		{"Peek of a trimmed page returns its bytes from the transition frame", func(t *testing.T) {
			if v, ok := m.PeekU64(trimmed + 16); !ok || v != 0x101 {
				t.Errorf("PeekU64 = %#x, %v; want 0x101, true", v, ok)
			}
		}},
		{"Peek of a paged-out page returns nothing", func(t *testing.T) {
			buf := make([]byte, 64)
			if n := m.Peek(pagedOut, buf); n != 0 {
				t.Errorf("Peek = %d bytes, want 0", n)
			}
			if _, ok := m.PeekU64(pagedOut + 16); ok {
				t.Errorf("PeekU64 of a paged-out page succeeded")
			}
		}},
		{"Peek of a never-touched paged page returns nothing", func(t *testing.T) {
			if n := m.Peek(untouched, make([]byte, 8)); n != 0 {
				t.Errorf("Peek = %d, want 0", n)
			}
		}},
		{"Peek of a mapped page whose bytes were never made reads zeros", func(t *testing.T) {
			buf := []byte{1, 2, 3, 4, 5, 6, 7, 8}
			if n := m.Peek(freshNonpaged+PageBytes-8, buf); n != 8 || [8]byte(buf) != [8]byte{} {
				t.Errorf("Peek = %d, %v; want 8 zero bytes", n, buf)
			}
		}},
		{"Peek stops at the first page that is not resident", func(t *testing.T) {
			buf := make([]byte, 24)
			if n := m.Peek(freshNonpaged+PageBytes-16, buf); n != 16 {
				t.Errorf("Peek across into an unmapped page = %d, want 16", n)
			}
		}},
		{"Peek of an address with no page table returns nothing", func(t *testing.T) {
			if n := m.Peek(unmapped, make([]byte, 8)); n != 0 {
				t.Errorf("Peek = %d, want 0", n)
			}
		}},
		{"Resident is true for valid and transition pages only", func(t *testing.T) {
			want := map[VA]bool{resident: true, trimmed: true, pagedOut: false, untouched: false, freshNonpaged: true, unmapped: false}
			for va, w := range want {
				if got := m.Resident(va); got != w {
					t.Errorf("Resident(%v) = %v, want %v", va, got, w)
				}
			}
		}},
		{"PTEChain of a mapped page shows four present levels", func(t *testing.T) {
			chain := m.PTEChain(resident)
			for l := LevelPXE; l <= LevelPTE; l++ {
				e := chain[l]
				if e.Level != l || e.Address != l.EntryAddress(resident) || !e.Present || !e.Value.Valid() {
					t.Errorf("%v: %+v", l, e)
				}
			}
			if chain[LevelPTE].Value != m.PTE(resident) {
				t.Errorf("the chain's PTE %#x, PTE() %#x", uint64(chain[LevelPTE].Value), uint64(m.PTE(resident)))
			}
		}},
		{"PTEChain of a paged-out page ends in its pagefile PTE", func(t *testing.T) {
			chain := m.PTEChain(pagedOut)
			if p := chain[LevelPTE]; !p.Present || !p.Value.Software() || p.Value.Slot() == 0 {
				t.Errorf("leaf: %+v", p)
			}
		}},
		{"PTEChain stops having contents below a missing table", func(t *testing.T) {
			chain := m.PTEChain(unmapped)
			missing := -1
			for l := LevelPXE; l <= LevelPTE; l++ {
				if chain[l].Address != l.EntryAddress(unmapped) {
					t.Errorf("%v address %v, want %v", l, chain[l].Address, l.EntryAddress(unmapped))
				}
				if !chain[l].Present {
					if missing < 0 {
						missing = int(l)
					}
					if chain[l].Value != 0 {
						t.Errorf("%v below the missing table has contents %#x", l, uint64(chain[l].Value))
					}
				}
			}
			// Paged pool's PXE points at a PDPT (the other pages use it);
			// the PPE 50 GiB further on is zero, so there is no PD to
			// hold a PDE.
			if missing != int(LevelPDE) || !chain[LevelPXE].Value.Valid() || !chain[LevelPPE].Present || chain[LevelPPE].Value != 0 {
				t.Errorf("first level without contents: %v, want the PDE; chain %+v", Level(missing), chain)
			}
			if m.PTE(unmapped) != 0 {
				t.Errorf("PTE() of an address with no table = %#x, want 0", uint64(m.PTE(unmapped)))
			}
		}},
		{"Frame describes a resident page's frame", func(t *testing.T) {
			f := m.PTE(resident).Frame()
			fi, err := m.Frame(f)
			if err != nil {
				t.Fatal(err)
			}
			want := FrameInfo{PFN: f, State: StateActive, Pageable: true, Modified: true, VA: resident,
				PTEAddress: LevelPTE.EntryAddress(resident), Node: 0, Touched: true}
			if fi != want {
				t.Errorf("Frame(%#x) = %+v\nwant %+v", f, fi, want)
			}
		}},
		{"Frame describes a standby page's frame and slot", func(t *testing.T) {
			f := m.PTE(trimmed).Frame()
			fi, _ := m.Frame(f)
			if fi.State != StateModified || fi.VA != trimmed || !fi.Modified {
				t.Errorf("Frame(%#x) = %+v; want Modified, dirty, mapping %v", f, fi, trimmed)
			}
		}},
		{"Frame of the PML4 is a page table at the self-map", func(t *testing.T) {
			fi, _ := m.Frame(m.PML4())
			if !fi.PageTable || fi.State != StateActive || fi.VA != pxeBase {
				t.Errorf("Frame(PML4) = %+v", fi)
			}
		}},
		{"Frame of a never-used frame is zeroed and untouched", func(t *testing.T) {
			fi, err := m.Frame(PFN(m.Frames() - 1))
			if err != nil || fi.Touched || fi.State != StateZeroed || fi.VA != 0 {
				t.Errorf("Frame(last) = %+v, %v", fi, err)
			}
		}},
		{"Frame past the last frame is an error", func(t *testing.T) {
			if _, err := m.Frame(PFN(m.Frames())); err == nil {
				t.Errorf("Frame(%#x) on a machine of %#x frames: no error", m.Frames(), m.Frames())
			}
		}},
		{"Commit reports the charge and the limit", func(t *testing.T) {
			// 5 pool pages and 7 page tables: the PML4, and a PDPT, a PD
			// and a PT for each pool.
			used, limit := m.Commit()
			if used != 5+7 || m.Stats().PageTablePages != 7 || limit != m.Frames()+m.Pagefile.Slots()-1 {
				t.Errorf("Commit() = %d, %d with %d page tables; want %d, %d with 7", used, limit, m.Stats().PageTablePages, 5+7, m.Frames()+m.Pagefile.Slots()-1)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := takeSnapshot(m, all)
			tt.look(t)
			if after := takeSnapshot(m, all); !after.equal(before) {
				t.Errorf("looking changed the machine:\nbefore %+v\nafter  %+v", before, after)
			}
			if m.peekFrame(freshFrame) != nil {
				t.Errorf("looking materialised the bytes of frame %#x", freshFrame)
			}
			check(t, m)
		})
	}
	if m.PTE(pagedOut).Valid() || m.Resident(pagedOut) {
		t.Errorf("the paged-out page came back in")
	}
}
