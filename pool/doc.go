// Package pool is the executive's pool manager: ExAllocatePoolWithTag,
// ExFreePool and ExFreePoolWithTag on the simulated machine, in the classic
// (Windows 7 and 8, pre-segment-heap) design.
//
// # Where an allocation comes from
//
// A request of n bytes is small when n <= 4064 (MaxSmallBytes) and big
// otherwise. A small request takes u = ceil((16 + n + 8) / 16) units of 16
// bytes, capped at 255: the header, the data, and room for an 8-byte canary
// after the data (a 1-byte request is a 32-byte block; the few largest
// sizes get a shorter canary). Allocate tries, in order:
//
//	the CPU's lookaside list for u    (u <= 32: blocks up to 512 bytes)
//	the descriptor's free lists       from ListHeads[u-1] up; a larger block is split
//	a new page from mm                u units at its start, the rest one free block
//
// and returns 0 (NULL) when mm has no page to give; a must-succeed request
// then halts with 0x41. A big request maps ceil(n/4096) whole pages,
// with no header, and records them in the big page table, a B-tree keyed by
// address; its canary goes in the slack of the last page.
//
// # What is in simulated memory
//
// Every small block starts with a real x64 _POOL_HEADER (see Header):
// PreviousSize, PoolIndex, BlockSize, PoolType, PoolTag, ProcessBilled, as
// bytes in the page. A free block carries a LIST_ENTRY in its data, linked
// into one of the descriptor's 256 ListHeads, which live in a nonpaged
// page of their own. So an overrun really damages the next header or the
// next free block's links, and the checks find the damage the way Windows
// does: by reading those bytes. The canary after each block's data is a
// hash of the block's address and a per-boot secret; a free that finds it
// changed halts with 0x19/0x21, even where the overrun stayed inside the
// block's slack and real Windows would never notice.
//
// # What the pool keeps in Go
//
// For each page of a pool region the pool records what the page is (small
// blocks, the first page of a big allocation, ListHeads; a big
// allocation's later pages have no record of their own) and,
// for a small-block page, a bitmap of where its blocks start and, per
// allocated block, a 32-bit blockRecord: how many bytes it was asked for
// (so the free knows where its canary is) and its allocation site, the
// code address that asked and the tag it asked with, interned once in a
// table (for leak and corruption reports). The records are small because
// a churning pool is bound by cache misses: 4 KiB of records per page
// would double what the host caches. The headers stay the truth about
// sizes and neighbours; the records only answer what the kernel would
// know from elsewhere (the verifier's tables, the caller's own pointer).
//
// # What an operation costs
//
// Every byte the pool reads or writes goes through the CPU's TLB to a
// frame, as a kernel's accesses go through the MMU. A small-block
// operation translates its block's page and then does everything it has
// to there (header, neighbours, canary, PreviousSize of the next block,
// the page walk) on the page's bytes, translating again only to write
// after its checks or after touching another page; free-list links, which
// point into other pages, cost a translation each. The page walk, a chain
// of reads each waiting on the last, is answered from the headers at the
// recorded block starts, read independently, whenever they chain to the
// page end (the walk would then visit exactly them); only a page where
// they do not is walked. Nothing on these paths allocates Go memory. What
// remains is work Windows does too, plus the canary; docs/pool.md measures
// it against the host's malloc.
//
// # Freeing
//
// Free checks, in order: the address is a block start of a pool page
// (0xC2/0x99, 0x44, 0x48, 0x42), the IRQL (0xC2/9), the in-use bit
// (0xC2/7: a double free), the tag (0xC2/0xA), the canary (0x19/0x21), and
// the header against its neighbours (0x19/5, 6, 7, 8, 9, 0x20). A block of
// up to 32 units then goes on this CPU's lookaside list with its in-use bit
// cleared (so a second free is still caught), if the list has room and
// the block is paged or from this CPU's node. Otherwise the page walk must
// end at the page end (0x19/0xA), the block merges with free neighbours,
// and a page that becomes wholly free goes back to mm.
//
// # Descriptors and NUMA
//
// Each NUMA node has a NonPagedPool descriptor and a NonPagedPoolNx one;
// there is one PagedPool descriptor. A CPU allocates from its own node's
// descriptor, whose new pages mm takes from that node's frames first.
// Lookaside lists are per CPU, per class (nonpaged, nonpaged NX, paged) and
// per size, with depths that adapt as ExAdjustLookasideDepth's do.
//
// # Paged pool
//
// Paged pool pages are pageable in mm: the trimmer takes them out, and the
// next touch faults them back. The pool itself only touches paged pool at
// APC_LEVEL or below (its IRQL checks come first), so its own accesses
// always resolve; a driver that touches paged pool at DISPATCH_LEVEL after
// a trim gets 0xD1 from mm.
//
// # Special pool
//
// AllocateSpecial is Driver Verifier's allocator for the drivers it
// verifies (special.go). A request of 1 to 4080 bytes (MaxSpecialBytes)
// gets a page pair from mm's special pool region: a data page (a nonpaged
// frame for a nonpaged request, a pageable page for a paged one) and a
// no-access guard page with none, after the data page in overrun mode,
// before it in underrun mode:
//
//	overrun   [hdr | pattern ... | data | slack <16] [guard]
//	underrun  [guard] [data | pattern ... | hdr]
//
// Overrun mode puts the data at (page end - n) &^ 15; underrun mode at the
// page start. The 16-byte header (bytes requested, pattern byte, flags,
// tag, data address; layout on the constants in special.go) sits at the
// other end of the page, and every other byte, the data included, is the
// pattern: one byte per page, a hash of its address and the per-boot
// secret, never 0. A touch of the guard page faults at once: mm asks
// specialFault, which says 0xD6 (0xCD from kernel code). A free checks the
// address (0xC1/0x20), the IRQL (0xC1/0x31), the tag (0xC2/0xA), then
// every byte of the page outside the data against the header and pattern
// it should hold: the first damaged byte before the data is 0xC1/0x23,
// after it 0xC1/0x24. The freed data page loses its frame and becomes
// no-access (a touch is 0xD5, or 0xCC from kernel code; a second free is
// 0xC1/0x20, as the free checks the PTE first), and its pair waits in a FIFO until
// SpecialReuseDelay (256) later special frees have happened, fewer on a
// machine whose commit limit is under 64 MiB, before mm may hand its
// address space out again. A pair is charged two pages of commit from
// allocation to that release (mm/special.go). When mm has no pair to
// give, or fewer than 256 available pages, AllocateSpecial declines and
// counts a fallback; the caller uses the normal pool. The pool records
// each pair in Go (live and freed, by data page; guard pages); the tag
// table counts a special allocation as a whole page.
//
// # Checks
//
// check.go holds the checks, among them one function for each of
// Windows' own (checkHeader is ExpCheckPoolHeader's six rules about a
// header and its neighbours, checkPageWalk ExpCheckPoolBlocks,
// checkFreeListLinks ExpCheckPoolLinks), each ending in Windows' bugcheck
// with all four parameters. Those about one page take the page's bytes:
// the live allocator passes the page it translated, ValidatePage (the walk
// behind !poolval, and VerifyEveryOp after each operation) a copy it
// peeked, so validating never faults and the two share every rule. Our own bookkeeping
// (recorded block starts, tag totals) is checked by CheckInvariants under
// -tags invariants, and a mismatch there panics: it is a simkern bug.
//
// Differences from Windows are listed in docs/pool.md.
package pool
