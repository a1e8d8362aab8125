package mm

// PTE is a page table entry of any level, exactly as it is stored: eight
// little-endian bytes in a page-table frame. Its low bit picks the format.
//
//	valid       V=1: hardware format; W A D G NX and the frame number
//	transition  V=0, bit 11 (Transition) = 1: the frame is still on the
//	            standby or modified list; bits 12-47 its number
//	pagefile    V=0, T=0, bits 32-63 (PageFileHigh) = a pagefile slot
//	demand zero V=0, T=0, PageFileHigh = 0, Protection != 0
//	no access   V=0, T=0, PageFileHigh = 0, Protection = MM_NOACCESS: a
//	            reserved page that faults on any touch (special pool's
//	            guard pages and freed pages; see NoAccessPTE)
//	zero        all bits clear: nothing is mapped (never, or freed)
//
// The software formats keep a 5-bit Protection in bits 5-9.
type PTE uint64

// Valid-format bits.
const (
	pteValid        PTE = 1 << 0
	pteWrite        PTE = 1 << 1
	pteOwner        PTE = 1 << 2 // U/S: set for user pages
	pteWriteThrough PTE = 1 << 3
	pteCacheDisable PTE = 1 << 4
	pteAccessed     PTE = 1 << 5
	pteDirty        PTE = 1 << 6
	pteLargePage    PTE = 1 << 7
	pteGlobal       PTE = 1 << 8
	pteCopyOnWrite  PTE = 1 << 9
	ptePrototype    PTE = 1 << 10
	pteTransition   PTE = 1 << 11
	pteNoExecute    PTE = 1 << 63

	pteFrameMask PTE = 0x0000_ffff_ffff_f000
)

// Protection is the MM_* protection code kept in software PTEs.
type Protection uint8

// The protections simkern uses.
const (
	ProtReadWrite        Protection = 4    // MM_READWRITE
	ProtExecuteReadWrite Protection = 6    // MM_EXECUTE_READWRITE
	ProtNoAccess         Protection = 0x18 // MM_NOACCESS: a guard page
)

// protFor is the software protection that remembers a page's nx while it
// is not valid: ProtReadWrite for nx, ProtExecuteReadWrite for executable.
func protFor(nx bool) Protection {
	if nx {
		return ProtReadWrite
	}
	return ProtExecuteReadWrite
}

// nx is the NX bit a page of software protection p gets when it becomes
// valid again: set unless p is ProtExecuteReadWrite.
func (p Protection) nx() bool { return p != ProtExecuteReadWrite }

// ValidPTE is a present, writable kernel mapping of frame pfn.
func ValidPTE(pfn PFN, nx bool) PTE {
	p := pteValid | pteWrite | pteAccessed | pteGlobal | PTE(pfn)<<PageShift&pteFrameMask
	if nx {
		p |= pteNoExecute
	}
	return p
}

// tablePTE is an upper-level entry pointing at a page-table frame.
func tablePTE(pfn PFN) PTE {
	return pteValid | pteWrite | pteAccessed | pteDirty | PTE(pfn)<<PageShift&pteFrameMask
}

// TransitionPTE marks a page whose frame pfn sits on the standby or
// modified list.
func TransitionPTE(pfn PFN, prot Protection) PTE {
	return pteTransition | pteWrite | PTE(prot&0x1f)<<5 | PTE(pfn)<<PageShift&pteFrameMask
}

// PagefilePTE marks a page whose only copy is pagefile slot (slot > 0).
func PagefilePTE(slot uint64, prot Protection) PTE {
	return PTE(slot)<<32 | PTE(prot&0x1f)<<5
}

// DemandZeroPTE marks a committed page that has never been touched.
func DemandZeroPTE(prot Protection) PTE { return PTE(prot&0x1f) << 5 }

// Valid reports the hardware valid bit.
func (p PTE) Valid() bool { return p&pteValid != 0 }

// Transition reports the transition format.
func (p PTE) Transition() bool { return p&(pteValid|pteTransition|ptePrototype) == pteTransition }

// Software reports a non-zero invalid PTE in software (pagefile, demand
// zero or no-access) format.
func (p PTE) Software() bool { return p != 0 && p&(pteValid|pteTransition|ptePrototype) == 0 }

// Frame returns the frame of a valid or transition PTE.
func (p PTE) Frame() PFN { return PFN(p & pteFrameMask >> PageShift) }

// Slot returns the pagefile slot of a software PTE (0: demand zero).
func (p PTE) Slot() uint64 { return uint64(p) >> 32 }

// Protection returns the protection of a software or transition PTE.
func (p PTE) Protection() Protection { return Protection(p >> 5 & 0x1f) }

// Dirty reports the D bit of a valid PTE.
func (p PTE) Dirty() bool { return p&pteDirty != 0 }

// NoExecute reports the NX bit of a valid PTE.
func (p PTE) NoExecute() bool { return p&pteNoExecute != 0 }

// Flags renders a valid PTE's bits the way !pte does, e.g. "-G-DA--KWEV":
// copy-on-write, global, large, dirty, accessed, cache-disabled,
// write-through, user/kernel, write/read, execute, valid.
func (p PTE) Flags() string {
	b := []byte("-----------")
	set := func(i int, on bool, c byte) {
		if on {
			b[i] = c
		}
	}
	set(0, p&pteCopyOnWrite != 0, 'C')
	set(1, p&pteGlobal != 0, 'G')
	set(2, p&pteLargePage != 0, 'L')
	set(3, p&pteDirty != 0, 'D')
	set(4, p&pteAccessed != 0, 'A')
	set(5, p&pteCacheDisable != 0, 'N')
	set(6, p&pteWriteThrough != 0, 'T')
	b[7] = 'K'
	set(7, p&pteOwner != 0, 'U')
	b[8] = 'R'
	set(8, p&pteWrite != 0, 'W')
	set(9, p&pteNoExecute == 0, 'E')
	set(10, p&pteValid != 0, 'V')
	return string(b)
}
