// Package mm simulates the memory manager and the hardware under it:
// physical frames, the PFN database, x64 four-level page tables, page
// faults, the working-set trimmer, the modified page writer and the commit
// limit.
//
// # Frames and the PFN database
//
// Physical memory is RAM/4096 frames. Every frame has one PFNEntry and is
// in exactly one state; the moves between them are:
//
//	Zeroed   -> Active     a demand-zero fault, a new page table, or a new nonpaged
//	                       pool page when no free frame is left
//	Free     -> Active     a hard fault (the in-page read overwrites it), a new nonpaged
//	                       pool page (pool memory is not cleared, as in Windows), or,
//	                       cleared first, a demand-zero fault or page table when no
//	                       zeroed frame is left
//	Active   -> Modified   trimmed while dirty or without a pagefile copy
//	Active   -> Standby    trimmed while clean (its pagefile copy is current)
//	Modified -> Standby    the modified page writer copied it to its slot
//	Standby  -> Active     a soft fault takes it back, or it is repurposed
//	Standby  -> Free       evicted by page_out: the page lives in the pagefile only
//	Active   -> Free       its pages were freed
//
// The lists are doubly linked through the PFN entries (flink, blink) so a
// soft fault can take a frame out of the middle of the standby list, and so
// the trimmer and the writer work in age order. Active pageable frames are
// on one more list, the system working set, oldest first. Zeroed and free
// lists are per NUMA node; a node owns an even, contiguous share of the
// frames.
//
// Nothing is materialised up front. PFN entries live in chunks of 512 made
// on first use, a frame's 4 KiB of bytes the first time an access reaches
// it, and each node hands out its never-used frames in order from a
// bump pointer (next), counting them as zeroed, but only when its zeroed
// and free lists are empty: a used frame, cleared if need be, goes first,
// so the host pays for the most memory the machine had in use at once. A
// 64 GiB machine that touches 1 MiB costs about 1 MiB plus an 8-byte
// pointer per 512 frames.
//
// # Page tables
//
// PML4, PDPT, PD and PT pages are ordinary frames and their entries are
// little-endian u64s in those frames' bytes. A PTE is in one of the formats
// documented on PTE: valid, transition, pagefile, demand zero, or zero. PML4
// entry 0x1ED maps the PML4 itself (the self-map), so every entry has the
// address !pte prints (PTE at FFFFF680`00000000 + (va>>9)), and reading it
// through translation works. Page-table pages are nonpageable and never
// freed.
//
// The kernel address space has fixed regions, as on x64 Windows 7 and 8:
//
//	FFFFF680`00000000  512 GiB  page tables (the self-map)
//	FFFFF800`02A00000           the kernel image (code addresses only)
//	FFFFF880`00000000  128 GiB  system PTEs (driver images: code addresses only)
//	FFFFF8A0`00000000  128 GiB  paged pool
//	FFFFF980`00000000   64 GiB  special pool (Windows 7's dynamic kernel VA)
//	FFFFFA80`00000000  128 GiB  nonpaged pool (Windows 7 puts the PFN
//	                            database first; simkern keeps it in Go)
//
// Each pool region hands out address space from a bump pointer and from a
// set of freed runs kept in two B-trees (by address, to merge neighbours;
// by size, for the smallest run that fits). The special pool region is
// mapped two pages at a time, a data page next to a no-access guard page
// (AllocateSpecialPair; special.go has the states of a pair).
//
// # Access and faults
//
// Read, Write, ReadU64 and WriteU64 take the CPU making the access. They
// ask its TLB first; a hit is a compare and a copy, with no Go allocation.
// A miss walks the tables; a valid PTE gets its A bit (and D on a write)
// and fills the TLB. Any change to a PTE shoots its translation down on
// every CPU; a write into a page-table page through the self-map never
// hits the TLB, and flushes every CPU's, since it may change any PTE. A
// PTE that is not valid is a page fault, resolved or turned into a
// bugcheck by fault (see fault.go for the order of the checks):
// transition PTEs are soft faults, pagefile PTEs hard faults (a failed read
// is 0x7A KERNEL_DATA_INPAGE_ERROR with the I/O status), demand-zero PTEs
// get a zeroed frame. At DISPATCH_LEVEL or above no fault can be resolved:
// it is 0xA, or 0xD1 when the code address on the CPU (cpu.CPU.PC) is not
// the kernel's, or 0xC5 when it is the pool's own code (a corrupted pool
// led it astray). Special pool's guard and freed pages come first, at any
// IRQL: the pool's hook names their bugcheck (0xCD/0xD6, 0xCC/0xD5). A
// kernel address with nothing mapped is 0x50.
//
// Page tables are memory like any other, so a bit flip or a write
// through the self-map can put anything in them, and mm follows no entry
// it cannot vouch for: a valid or transition entry must name a frame of
// the machine (and a transition one the frame in transition for its
// address), and a pagefile entry a slot that its own page owns outright.
// The pagefile records each slot's owner (pressure.go: slotOwner), marked
// while a frame still holds the page, so no two pages ever share a slot.
// An entry that fails is 0x1A MEMORY_MANAGEMENT 0x41792 (a corrupted
// PTE), and tables missing under a page the PFN database says is mapped
// are 0x61941 (a corrupt paging hierarchy); pagetable.go says where they
// are checked.
//
// A pageable page keeps its allocation's nx in the Protection of its
// software PTE while it is not valid (MM_READWRITE for no-execute,
// MM_EXECUTE_READWRITE otherwise), so it comes back as it left.
//
// Once halted, the machine refuses work: every access returns the same
// bugcheck, AllocatePages returns 0, and the trimmer, the writer and
// page-out do nothing, so the debugger sees memory as the crash left it.
//
// # Memory pressure
//
// When a frame is needed and the free lists are empty, getFrame makes room
// the way the balance set manager would: it repurposes the oldest standby
// frame (whose PTE becomes a pagefile PTE), else runs the modified page
// writer, else trims the oldest pages of the working set, and as a last
// resort unmaps idle nonpaged pool pages (also when the modified list is
// full of pages no pagefile can take). When none of that frees a frame,
// an allocation returns 0 (the pool returns NULL) and a fault is 0x4D
// NO_PAGES_AVAILABLE. A failed pagefile write leaves the page dirty at the
// tail of the modified list; it is tried again on the next pass.
//
// Commit: the limit is RAM plus the pagefile, in pages (less the
// pagefile's reserved slot 0). Every pool page mapped, paged or not, idle
// or not, is charged, and so is every page table (the PML4 from the
// start), so that commit never promises a page no frame or slot can hold:
// without a pagefile, a committed page can always be touched. A special
// pool pair is charged
// both its pages for as long as either PTE is non-zero, though its guard
// page never has a frame. An allocation that would pass the limit fails
// and counts a CommitFailure.
//
// # Differences from Windows
//
// There is no per-process address space, no prototype PTEs, no large
// pages, no page colouring and no zero-page thread (a free frame is zeroed
// when a demand-zero fault or a page table takes it). Nonpaged pages that are freed stay mapped and idle, as
// Windows' nonpaged pool free list keeps them, until reused or released
// under pressure. docs/mm.md lists the rest.
//
// # Concurrency
//
// A Machine is driven by one goroutine at a time. Simulated CPUs run by
// turns, chosen by the scenario engine, so nothing here takes a lock.
package mm
