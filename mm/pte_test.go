package mm

import "testing"

// The PTE formats, against values worked out by hand from the bit layout in
// pte.go: V=bit 0, W=1, A=5, D=6, G=8, Transition=11, Protection=bits 5-9,
// frame=bits 12-47, PageFileHigh=bits 32-63, NX=bit 63.
func TestPTEEncodings(t *testing.T) {
	tests := []struct {
		name string
		pte  PTE
		want uint64

		// What the accessors must say about it.
		valid, transition, software bool
		frame                       PFN
		slot                        uint64
		prot                        Protection
	}{
		{
			name:  "a valid executable PTE is V, W, A and G over the frame",
			pte:   ValidPTE(0x1234, false),
			want:  0x0000_0000_0123_4123, // 0x1234<<12 | G 0x100 | A 0x20 | W 0x2 | V 0x1
			valid: true, frame: 0x1234,
		},
		{
			name:  "a valid no-execute PTE adds bit 63",
			pte:   ValidPTE(0x1234, true),
			want:  0x8000_0000_0123_4123,
			valid: true, frame: 0x1234,
		},
		{
			name:  "the largest frame fills bits 12-47",
			pte:   ValidPTE(0xf_ffff_ffff, false),
			want:  0x0000_ffff_ffff_f123,
			valid: true, frame: 0xf_ffff_ffff,
		},
		{
			name:  "a frame number too big for 36 bits loses its high bits",
			pte:   ValidPTE(0x10_0000_0001, false),
			want:  0x0000_0000_0000_1123,
			valid: true, frame: 1,
		},
		{
			name:  "a page-table entry is V, W, A and D but not G",
			pte:   tablePTE(0xf202),
			want:  0x0000_0000_0f20_2063,
			valid: true, frame: 0xf202,
		},
		{
			name:       "a transition PTE sets bit 11, keeps W and the protection",
			pte:        TransitionPTE(0x1234, ProtReadWrite),
			want:       0x0000_0000_0123_4882, // T 0x800 | MM_READWRITE 4<<5 | W 0x2
			transition: true, frame: 0x1234, prot: ProtReadWrite,
		},
		{
			name:       "an executable transition PTE keeps MM_EXECUTE_READWRITE",
			pte:        TransitionPTE(0x1234, ProtExecuteReadWrite),
			want:       0x0000_0000_0123_48c2, // 6<<5 = 0xc0
			transition: true, frame: 0x1234, prot: ProtExecuteReadWrite,
		},
		{
			name:     "a pagefile PTE keeps the slot in PageFileHigh",
			pte:      PagefilePTE(0x2a, ProtReadWrite),
			want:     0x0000_002a_0000_0080,
			software: true, slot: 0x2a, prot: ProtReadWrite,
		},
		{
			name:     "the highest slot fills all 32 bits of PageFileHigh",
			pte:      PagefilePTE(0xffff_ffff, ProtExecuteReadWrite),
			want:     0xffff_ffff_0000_00c0,
			software: true, slot: 0xffff_ffff, prot: ProtExecuteReadWrite,
		},
		{
			name:     "a demand-zero PTE is only its protection",
			pte:      DemandZeroPTE(ProtReadWrite),
			want:     0x80,
			software: true, prot: ProtReadWrite,
		},
		{
			name:     "a guard page is a demand-zero PTE with MM_NOACCESS",
			pte:      DemandZeroPTE(ProtNoAccess),
			want:     0x300, // 0x18<<5
			software: true, prot: ProtNoAccess,
		},
		{
			name: "the zero PTE is in no format at all",
			pte:  0,
			want: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if uint64(tt.pte) != tt.want {
				t.Fatalf("PTE = %#016x, want %#016x", uint64(tt.pte), tt.want)
			}
			if got := tt.pte.Valid(); got != tt.valid {
				t.Errorf("Valid() = %v, want %v", got, tt.valid)
			}
			if got := tt.pte.Transition(); got != tt.transition {
				t.Errorf("Transition() = %v, want %v", got, tt.transition)
			}
			if got := tt.pte.Software(); got != tt.software {
				t.Errorf("Software() = %v, want %v", got, tt.software)
			}
			if tt.valid || tt.transition {
				if got := tt.pte.Frame(); got != tt.frame {
					t.Errorf("Frame() = %#x, want %#x", got, tt.frame)
				}
			}
			if tt.software {
				if got := tt.pte.Slot(); got != tt.slot {
					t.Errorf("Slot() = %#x, want %#x", got, tt.slot)
				}
			}
			if tt.transition || tt.software {
				if got := tt.pte.Protection(); got != tt.prot {
					t.Errorf("Protection() = %#x, want %#x", got, tt.prot)
				}
			}
		})
	}
}

// Flags must print what !pte prints. The last two rows are real !pte
// output from an x64 machine (shared/reference, section 3.6).
func TestPTEFlags(t *testing.T) {
	tests := []struct {
		name string
		pte  PTE
		want string
	}{
		{"a fresh executable kernel page is global, accessed, writable", ValidPTE(1, false), "-G--A--KWEV"},
		{"a written executable kernel page adds D", ValidPTE(1, false) | pteDirty, "-G-DA--KWEV"},
		{"a no-execute page prints - for E", ValidPTE(1, true), "-G--A--KW-V"},
		{"a not-valid entry prints no V", pteWrite | pteAccessed, "----A--KWE-"},
		{"every letter at once", pteCopyOnWrite | pteGlobal | pteLargePage | pteDirty | pteAccessed |
			pteCacheDisable | pteWriteThrough | pteOwner | pteWrite | pteValid, "CGLDANTUWEV"},
		{"no bit at all is a read-only, executable, kernel nothing", 0, "-------KRE-"},
		{"a read-only no-execute user page", pteValid | pteOwner | pteNoExecute, "-------UR-V"},
		{"the x64 sample's PXE 000000000F202063", 0x0000_0000_0f20_2063, "---DA--KWEV"},
		{"the x64 sample's PTE 800000000F22C963", 0x8000_0000_0f22_c963, "-G-DA--KW-V"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pte.Flags(); got != tt.want {
				t.Errorf("PTE(%#016x).Flags() = %q, want %q", uint64(tt.pte), got, tt.want)
			}
		})
	}
}

// The self-map puts every paging-structure entry at a fixed address. The
// expected addresses were computed by hand: with PML4 entry 0x1ED mapping
// the PML4, PTE_BASE = 0xFFFF000000000000 | 0x1ED<<39 = FFFFF680`00000000,
// PDE_BASE = PTE_BASE + 0x1ED<<30, PPE_BASE = PDE_BASE + 0x1ED<<21 and
// PXE_BASE = PPE_BASE + 0x1ED<<12; then an entry of level L for va is at
// BASE + (va's low 48 bits >> shift(L)) * 8.
func TestEntryAddressMatchesTheWindowsSelfMap(t *testing.T) {
	tests := []struct {
		name               string
		va                 VA
		pxe, ppe, pde, pte VA
	}{
		{
			name: "the first page of paged pool",
			va:   0xfffff8a0_00000000,
			pxe:  0xfffff6fb_7dbedf88, ppe: 0xfffff6fb_7dbf1400, pde: 0xfffff6fb_7e280000, pte: 0xfffff6fc_50000000,
		},
		{
			name: "the first page of nonpaged pool",
			va:   0xfffffa80_00000000,
			pxe:  0xfffff6fb_7dbedfa8, ppe: 0xfffff6fb_7dbf5000, pde: 0xfffff6fb_7ea00000, pte: 0xfffff6fd_40000000,
		},
		{
			name: "KUSER_SHARED_DATA, whose entries the x64 !pte sample shows under another base",
			va:   0xfffff780_00000000,
			pxe:  0xfffff6fb_7dbedf78, ppe: 0xfffff6fb_7dbef000, pde: 0xfffff6fb_7de00000, pte: 0xfffff6fb_c0000000,
		},
		{
			name: "an offset inside a page does not move its entries",
			va:   0xfffff8a0_00000ff8,
			pxe:  0xfffff6fb_7dbedf88, ppe: 0xfffff6fb_7dbf1400, pde: 0xfffff6fb_7e280000, pte: 0xfffff6fc_50000000,
		},
		{
			name: "the next page's PTE is 8 bytes on",
			va:   0xfffff8a0_00001000,
			pxe:  0xfffff6fb_7dbedf88, ppe: 0xfffff6fb_7dbf1400, pde: 0xfffff6fb_7e280000, pte: 0xfffff6fc_50000008,
		},
		{
			name: "address zero has the first entry of every level",
			va:   0,
			pxe:  pxeBase, ppe: ppeBase, pde: pdeBase, pte: pteBase,
		},
		{
			name: "the PML4's own page is mapped by PML4 entry 0x1ED",
			va:   0xfffff6fb_7dbed000,
			pxe:  0xfffff6fb_7dbedf68, ppe: 0xfffff6fb_7dbedf68, pde: 0xfffff6fb_7dbedf68, pte: 0xfffff6fb_7dbedf68,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				l    Level
				want VA
			}{{LevelPXE, tt.pxe}, {LevelPPE, tt.ppe}, {LevelPDE, tt.pde}, {LevelPTE, tt.pte}} {
				if got := c.l.EntryAddress(tt.va); got != c.want {
					t.Errorf("%v at %v, want %v", c.l, got, c.want)
				}
			}
		})
	}
}

// The self-map bases are the ones the formula gives for index 0x1ED.
func TestSelfMapBasesFollowFromIndex0x1ED(t *testing.T) {
	const top = 0xffff_0000_0000_0000
	pte := uint64(top | selfMapIndex<<39)
	pde := pte + selfMapIndex<<30
	ppe := pde + selfMapIndex<<21
	pxe := ppe + selfMapIndex<<12
	for _, c := range []struct {
		name      string
		got, want uint64
	}{{"PTE base", pteBase, pte}, {"PDE base", pdeBase, pde}, {"PPE base", ppeBase, ppe}, {"PXE base", pxeBase, pxe}} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if got := RegionPageTables.Base(); uint64(got) != pteBase {
		t.Errorf("the page-table region starts at %v, want the PTE base %#x", got, uint64(pteBase))
	}
}

// An address splits into four 9-bit indices and a 12-bit offset.
func TestLevelIndex(t *testing.T) {
	va := VA(0xfffff8a0_12345678)
	want := [4]uint64{LevelPXE: 0x1f1, LevelPPE: 0x080, LevelPDE: 0x091, LevelPTE: 0x145}
	for l := LevelPXE; l <= LevelPTE; l++ {
		if got := l.index(va); got != want[l] {
			t.Errorf("%v index of %v = %#x, want %#x", l, va, got, want[l])
		}
	}
	if got := va.PageOffset(); got != 0x678 {
		t.Errorf("PageOffset = %#x, want 0x678", got)
	}
	// Reassembled, the pieces give the address back.
	back := uint64(0xffff_0000_0000_0000) | want[0]<<39 | want[1]<<30 | want[2]<<21 | want[3]<<12 | 0x678
	if VA(back) != va {
		t.Errorf("indices reassemble to %#x, want %v", back, va)
	}
	names := [4]string{"PXE", "PPE", "PDE", "PTE"}
	for l := LevelPXE; l <= LevelPTE; l++ {
		if l.String() != names[l] {
			t.Errorf("Level(%d).String() = %q, want %q", l, l.String(), names[l])
		}
	}
}

func TestVA(t *testing.T) {
	tests := []struct {
		name              string
		va                VA
		canonical, kernel bool
		region            Region
	}{
		{"the lowest user address is canonical and not kernel", 0, true, false, RegionUnknown},
		{"the highest user address is canonical", 0x0000_7fff_ffff_ffff, true, false, RegionUnknown},
		{"the first address past the user half is not canonical", 0x0000_8000_0000_0000, false, false, RegionUnknown},
		{"the last address before the kernel half is not canonical", 0xffff_7fff_ffff_ffff, false, false, RegionUnknown},
		{"the kernel half starts at ffff8000`00000000", 0xffff_8000_0000_0000, true, true, RegionUnknown},
		{"a non-canonical alias of paged pool is not kernel", 0x0000_f8a0_0000_0000, false, false, RegionUnknown},
		{"the self-map region holds the page tables", 0xfffff680_00000000, true, true, RegionPageTables},
		{"the last byte of the self-map region", 0xfffff700_00000000 - 1, true, true, RegionPageTables},
		{"the kernel image is in no region mm maps", 0xfffff800_02a00000, true, true, RegionUnknown},
		{"driver images are system PTEs", 0xfffff880_01234000, true, true, RegionSystemPTEs},
		{"paged pool starts at fffff8a0`00000000", 0xfffff8a0_00000000, true, true, RegionPagedPool},
		{"the last byte of paged pool", 0xfffff8c0_00000000 - 1, true, true, RegionPagedPool},
		{"the gap after paged pool is no region", 0xfffff8c0_00000000, true, true, RegionUnknown},
		{"special pool starts at fffff980`00000000", 0xfffff980_00000000, true, true, RegionSpecialPool},
		{"nonpaged pool starts at fffffa80`00000000", 0xfffffa80_00000000, true, true, RegionNonPagedPool},
		{"the last byte of nonpaged pool", 0xfffffaa0_00000000 - 1, true, true, RegionNonPagedPool},
		{"the top of the address space is no region", 0xffff_ffff_ffff_ffff, true, true, RegionUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.va.Canonical(); got != tt.canonical {
				t.Errorf("%v.Canonical() = %v, want %v", tt.va, got, tt.canonical)
			}
			if got := tt.va.Kernel(); got != tt.kernel {
				t.Errorf("%v.Kernel() = %v, want %v", tt.va, got, tt.kernel)
			}
			if got := RegionOf(tt.va); got != tt.region {
				t.Errorf("RegionOf(%v) = %v, want %v", tt.va, got, tt.region)
			}
		})
	}

	va := VA(0xfffffa80_00012345)
	if got := va.String(); got != "fffffa8000012345" {
		t.Errorf("String() = %q, want 16 hex digits without a backtick", got)
	}
	if got := va.PageBase(); got != 0xfffffa80_00012000 {
		t.Errorf("PageBase() = %v", got)
	}
	if RegionPagedPool.String() != "Paged pool" || RegionNonPagedPool.String() != "Nonpaged pool" || Region(200).String() != "Unknown" {
		t.Errorf("region names: %q, %q, %q", RegionPagedPool, RegionNonPagedPool, Region(200))
	}
	if !RegionPagedPool.Pageable() || RegionNonPagedPool.Pageable() || RegionSpecialPool.Pageable() {
		t.Errorf("only paged pool is pageable")
	}
}
