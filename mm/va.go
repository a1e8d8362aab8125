package mm

import "fmt"

// VA is a virtual address.
type VA uint64

// PFN is a page frame number: physical address >> 12.
type PFN uint64

// Page geometry.
const (
	PageShift      = 12
	PageBytes      = 1 << PageShift
	pageOffsetMask = PageBytes - 1
)

// String prints va as WinDbg does in pool output: 16 hex digits, no backtick.
func (va VA) String() string { return fmt.Sprintf("%016x", uint64(va)) }

// PageBase returns the address of the page holding va.
func (va VA) PageBase() VA { return va &^ pageOffsetMask }

// PageOffset returns va's offset inside its page.
func (va VA) PageOffset() uint64 { return uint64(va) & pageOffsetMask }

// Canonical reports whether bits 63..47 of va are all equal (48-bit x64).
func (va VA) Canonical() bool {
	top := uint64(va) >> 47
	return top == 0 || top == 0x1ffff
}

// Kernel reports whether va is in the upper (system) half.
func (va VA) Kernel() bool { return uint64(va)>>47 == 0x1ffff }

// SystemRangeStart is where the system half begins (MmSystemRangeStart on
// x64).
const SystemRangeStart VA = 0xffff8000_00000000

// Region is a fixed range of the kernel address space with one purpose.
type Region uint8

// The regions simkern maps, in address order. Ranges are those of Windows 7
// and 8 on x64 (see doc.go).
const (
	RegionUnknown Region = iota
	RegionPageTables
	RegionSystemPTEs
	RegionPagedPool
	RegionSpecialPool
	RegionNonPagedPool
	numRegions
)

// regionLayout gives each region's base and size.
var regionLayout = [numRegions]struct {
	base, size uint64
	name       string
}{
	RegionUnknown:      {0, 0, "Unknown"},
	RegionPageTables:   {0xfffff680_00000000, 512 << 30, "Page tables"},
	RegionSystemPTEs:   {0xfffff880_00000000, 128 << 30, "System PTEs"},
	RegionPagedPool:    {0xfffff8a0_00000000, 128 << 30, "Paged pool"},
	RegionSpecialPool:  {0xfffff980_00000000, 64 << 30, "Special pool"},
	RegionNonPagedPool: {0xfffffa80_00000000, 128 << 30, "Nonpaged pool"},
}

// String names the region as !pool does ("Nonpaged pool", "Paged pool").
func (r Region) String() string {
	if r < numRegions {
		return regionLayout[r].name
	}
	return "Unknown"
}

// Base returns the region's first address.
func (r Region) Base() VA { return VA(regionLayout[r].base) }

// Bytes returns the region's size.
func (r Region) Bytes() uint64 { return regionLayout[r].size }

// Pageable reports whether AllocatePages maps the region's pages pageable
// (demand zero, free to leave memory): paged pool's. Special pool maps its
// own pages (special.go), the paged ones pageable too.
func (r Region) Pageable() bool { return r == RegionPagedPool }

// RegionOf returns the region holding va.
func RegionOf(va VA) Region {
	for r := RegionPageTables; r < numRegions; r++ {
		l := regionLayout[r]
		if uint64(va) >= l.base && uint64(va)-l.base < l.size {
			return r
		}
	}
	return RegionUnknown
}

// The self-map: PML4 entry 0x1ED points at the PML4 itself, so every page
// table page is mapped at a fixed place and the PTE of any address has an
// address of its own, the one !pte prints.
const (
	selfMapIndex = 0x1ed
	pteBase      = 0xfffff680_00000000
	pdeBase      = 0xfffff6fb_40000000
	ppeBase      = 0xfffff6fb_7da00000
	pxeBase      = 0xfffff6fb_7dbed000
)

// Level is a page-table level, from the PML4 (PXE) down to the PTE.
type Level uint8

// The four levels, top first.
const (
	LevelPXE Level = iota
	LevelPPE
	LevelPDE
	LevelPTE
)

// String names the level as !pte does.
func (l Level) String() string { return [...]string{"PXE", "PPE", "PDE", "PTE"}[l] }

// index returns va's index into the table of level l.
func (l Level) index(va VA) uint64 { return uint64(va) >> (39 - 9*uint(l)) & 0x1ff }

// EntryAddress returns the self-map address of the entry of level l that
// maps va (PXE at ..., PTE at ...).
func (l Level) EntryAddress(va VA) VA {
	v := uint64(va) & 0x0000ffff_ffffffff
	switch l {
	case LevelPXE:
		return VA(pxeBase + (v>>39)*8)
	case LevelPPE:
		return VA(ppeBase + (v>>30)*8)
	case LevelPDE:
		return VA(pdeBase + (v>>21)*8)
	}
	return VA(pteBase + (v>>12)*8)
}
