package pool

import (
	"errors"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
)

// bc is shorthand for an expected bugcheck.
func bc(code bugcheck.Code, p1, p2, p3, p4 uint64) *bugcheck.Error {
	return bugcheck.New(code, p1, p2, p3, p4)
}

const (
	badPoolCaller = bugcheck.BadPoolCaller
	badPoolHeader = bugcheck.BadPoolHeader
)

// Every bugcheck the pool raises, and the ones mm raises for misuse of
// pool memory. Each row's setup prepares the machine and returns the
// action that halts it and the bugcheck it must halt with; the test
// compares the code and all four parameters, then checks that the pool
// keeps returning that bugcheck.
func TestBugchecks(t *testing.T) {
	abcd := uint64(TagOf("Abcd"))
	tests := []struct {
		name string
		spec spec
		// validates marks rows whose action only validates: a validation
		// reports the bugcheck a corruption amounts to without halting.
		validates bool
		setup     func(r *rig) (act func() error, want *bugcheck.Error)
	}{
		// IRQL (0xC2/8 and 9).
		{
			name: "a paged allocation at DISPATCH_LEVEL is 0xC2/8",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return r.allocErr(PagedPool, 100, "Abcd"), bc(badPoolCaller, 8, 2, uint64(PagedPool), 100)
			},
		},
		{
			name: "a big paged allocation at DISPATCH_LEVEL is 0xC2/8",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return r.allocErr(PagedPool, 10000, "Abcd"), bc(badPoolCaller, 8, 2, uint64(PagedPool), 10000)
			},
		},
		{
			name: "a PagedPoolCacheAligned allocation at DISPATCH_LEVEL is 0xC2/8 with its own type",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return r.allocErr(PagedPoolCacheAligned, 8, "Abcd"), bc(badPoolCaller, 8, 2, uint64(PagedPoolCacheAligned), 8)
			},
		},
		{
			name: "a nonpaged allocation at HIGH_LEVEL is 0xC2/8",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				simtest.Raise(r.t, r.c, cpu.HighLevel)
				return r.allocErr(NonPagedPool, 64, "Abcd"), bc(badPoolCaller, 8, 15, uint64(NonPagedPool), 64)
			},
		},
		{
			name: "a nonpaged NX allocation one level above DISPATCH_LEVEL is 0xC2/8",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				simtest.Raise(r.t, r.c, cpu.DispatchLevel+1)
				return r.allocErr(NonPagedPoolNx, 64, "Abcd"), bc(badPoolCaller, 8, 3, uint64(NonPagedPoolNx), 64)
			},
		},
		{
			name: "a paged free at DISPATCH_LEVEL is 0xC2/9",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 100, "Abcd")
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return r.freeErr(va), bc(badPoolCaller, 9, 2, uint64(PagedPool), uint64(va))
			},
		},
		{
			name: "a big paged free at DISPATCH_LEVEL is 0xC2/9",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 10000, "Abcd")
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return r.freeErr(va), bc(badPoolCaller, 9, 2, uint64(PagedPool), uint64(va))
			},
		},
		{
			name: "a nonpaged free at HIGH_LEVEL is 0xC2/9",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 100, "Abcd")
				simtest.Raise(r.t, r.c, cpu.HighLevel)
				return r.freeErr(va), bc(badPoolCaller, 9, 15, uint64(NonPagedPool), uint64(va))
			},
		},

		// Tags on free (0xC2/0xA).
		{
			name: "FreeWithTag with the wrong tag is 0xC2/0xA",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 100, "Abcd")
				return r.freeTagErr(va, TagOf("Wxyz")), bc(badPoolCaller, 0xA, uint64(va), abcd, uint64(TagOf("Wxyz")))
			},
		},
		{
			name: "FreeWithTag of a big allocation with the wrong tag is 0xC2/0xA",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 5000, "Abcd")
				return r.freeTagErr(va, TagOf("Wxyz")), bc(badPoolCaller, 0xA, uint64(va), abcd, uint64(TagOf("Wxyz")))
			},
		},
		{
			name: "Free (no tag) of a protected allocation is 0xC2/0xA with tag 0",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				tag := TagOf("Abcd") | ProtectedTag
				va := r.allocTag(NonPagedPool, 100, tag)
				return r.freeErr(va), bc(badPoolCaller, 0xA, uint64(va), abcd, 0) // P3 without the protected bit
			},
		},
		{
			name: "FreeWithTag with tag 0 of a protected allocation is 0xC2/0xA, as ExFreePool",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				tag := TagOf("Abcd") | ProtectedTag
				va := r.allocTag(PagedPool, 100, tag)
				return r.freeTagErr(va, 0), bc(badPoolCaller, 0xA, uint64(va), abcd, 0)
			},
		},
		{
			name: "FreeWithTag of a protected allocation with another protected tag is 0xC2/0xA",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				tag := TagOf("Abcd") | ProtectedTag
				va := r.allocTag(NonPagedPool, 100, tag)
				return r.freeTagErr(va, TagOf("Abce")|ProtectedTag), bc(badPoolCaller, 0xA, uint64(va), abcd, uint64(TagOf("Abce")))
			},
		},
		{
			name: "Free (no tag) of a protected big allocation is 0xC2/0xA with tag 0",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				tag := TagOf("Abcd") | ProtectedTag
				va := r.allocTag(NonPagedPool, 5000, tag)
				return r.freeErr(va), bc(badPoolCaller, 0xA, uint64(va), abcd, 0)
			},
		},

		// Double frees (0xC2/7: P2 reserved, P3 the header's first 32
		// bits, P4 the address).
		{
			name: "a double free of a lookaside-sized block is 0xC2/7",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 48, "Abcd")
				r.free(va)
				// On the lookaside list: prev 0, index 0, 5 units, type 1.
				return r.freeErr(va), bc(badPoolCaller, 7, 0, 0x01050000, uint64(va))
			},
		},
		{
			name: "a double free of a paged lookaside-sized block is 0xC2/7",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 1, "Abcd")
				r.free(va)
				// prev 0, index 0, 2 units, type 2 (paged + 1, not in use).
				return r.freeErr(va), bc(badPoolCaller, 7, 0, 0x02020000, uint64(va))
			},
		},
		{
			name: "a double free of a block too big for the lookaside lists is 0xC2/7",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")          // 0x000
				va := r.alloc(NonPagedPool, 1000, "Abcd") // 64 units at 0xc00
				r.alloc(NonPagedPool, 1, "Keep")          // 2 units at 0xbe0
				r.free(va)
				// On a free list: prev 2, index 0, 64 = 0x40 units, type 0.
				return r.freeErr(va), bc(badPoolCaller, 7, 0, 0x00400002, uint64(va))
			},
		},
		{
			name: "a double free with the lookaside lists off is 0xC2/7",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")        // 0x000
				va := r.alloc(NonPagedPool, 48, "Abcd") // 5 units at 0xfb0
				r.alloc(NonPagedPool, 1, "Keep")        // 2 units at 0xf90
				r.free(va)
				return r.freeErr(va), bc(badPoolCaller, 7, 0, 0x00050002, uint64(va))
			},
		},
		{
			name: "a double free of a big nonpaged allocation is a free of unallocated nonpaged pool (0xC2/0x44)",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 10000, "Abcd")
				r.free(va)
				return r.freeErr(va), bc(badPoolCaller, 0x44, uint64(va), 0, 0)
			},
		},

		// Bad requests (0xC2/0, 0x9B, 0x9C, 0x9D).
		{
			name: "a zero-byte allocation is 0xC2/0",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return r.allocErr(PagedPool, 0, "Abcd"), bc(badPoolCaller, 0, 0, uint64(PagedPool), abcd)
			},
		},
		{
			name: "tag 0 is 0xC2/0x9B with the caller's address",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.c.PC = driverPC
				return r.allocTagErr(NonPagedPoolNx, 24, 0), bc(badPoolCaller, 0x9B, uint64(NonPagedPoolNx), 24, driverPC)
			},
		},
		{
			name: "the protected bit alone is tag 0: 0xC2/0x9B",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.c.PC = driverPC
				return r.allocTagErr(PagedPool, 24, ProtectedTag), bc(badPoolCaller, 0x9B, uint64(PagedPool), 24, driverPC)
			},
		},
		{
			name: "tag 'BIG ' is 0xC2/0x9C",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.c.PC = driverPC
				return r.allocErr(NonPagedPool, 24, "BIG "), bc(badPoolCaller, 0x9C, uint64(NonPagedPool), 24, driverPC)
			},
		},
		{
			name: "tag 'BIG ' with the protected bit is 0xC2/0x9C too",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.c.PC = driverPC
				return r.allocTagErr(PagedPool, 5000, TagOf("BIG ")|ProtectedTag), bc(badPoolCaller, 0x9C, uint64(PagedPool), 5000, driverPC)
			},
		},
		{
			name: "a tag with no letter or digit is 0xC2/0x9D",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.c.PC = driverPC
				return r.allocErr(NonPagedPool, 24, "!!!!"), bc(badPoolCaller, 0x9D, uint64(TagOf("!!!!")), uint64(NonPagedPool), driverPC)
			},
		},

		// Freeing addresses that are not block starts.
		{
			name: "a free inside a small block is 0xC2/0x99",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 100, "Abcd")
				return r.freeErr(va + 16), bc(badPoolCaller, 0x99, uint64(va+16), 0, 0)
			},
		},
		{
			name: "a free of a misaligned address in a small block is 0xC2/0x99",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 100, "Abcd")
				return r.freeErr(va + 3), bc(badPoolCaller, 0x99, uint64(va+3), 0, 0)
			},
		},
		{
			name: "a free of a small page's first header is 0xC2/0x99",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 100, "Abcd")
				return r.freeErr(va.PageBase()), bc(badPoolCaller, 0x99, uint64(va.PageBase()), 0, 0)
			},
		},
		{
			name: "a free inside a big allocation is 0xC2/0x99",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 10000, "Abcd")
				return r.freeErr(va + mm.PageBytes), bc(badPoolCaller, 0x99, uint64(va+mm.PageBytes), 0, 0)
			},
		},
		{
			name: "a free of a later page of a big paged allocation is 0xC2/0x41286, P4 its page in paged pool",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 10000, "Abcd")
				at := va + 2*mm.PageBytes
				return r.freeErr(at), bc(badPoolCaller, 0x41286, 0, 0, uint64(at-mm.RegionPagedPool.Base())/mm.PageBytes)
			},
		},
		{
			name: "a free inside a page of a big paged allocation is 0xC2/0x99",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 10000, "Abcd")
				return r.freeErr(va + mm.PageBytes + 0x10), bc(badPoolCaller, 0x99, uint64(va+mm.PageBytes+0x10), 0, 0)
			},
		},
		{
			name: "a free of a never-allocated nonpaged pool address is 0xC2/0x44",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := mm.RegionNonPagedPool.Base() + 0x4000_0000 + 0x40
				return r.freeErr(va), bc(badPoolCaller, 0x44, uint64(va), 0, 0)
			},
		},
		{
			name: "a free of a never-allocated paged pool address is 0xC2/0x48",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := mm.RegionPagedPool.Base() + 0x4000_0000
				return r.freeErr(va), bc(badPoolCaller, 0x48, uint64(va), 0, 0)
			},
		},
		{
			name: "a free of an address outside the pools is 0xC2/0x42",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return r.freeErr(driverPC), bc(badPoolCaller, 0x42, driverPC, 0, 0)
			},
		},
		{
			name: "a free of a user address is 0xC2/0x40, P3 the start of the system half",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return r.freeErr(0x10000), bc(badPoolCaller, 0x40, 0x10000, 0xffff8000_00000000, 0)
			},
		},
		{
			name: "a free of a non-canonical address is 0xC2/0x42",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				return r.freeErr(0x0000_9000_0000_0000), bc(badPoolCaller, 0x42, 0x0000_9000_0000_0000, 0, 0)
			},
		},

		// Header rules (0x19).
		{
			name: "a next header whose PreviousSize disagrees is 0x19/5 when the block is reused",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				a := r.alloc(NonPagedPool, 48, "Abcd") // 5 units at 0x000
				r.free(a)                              // on the lookaside list
				next := a - HeaderBytes + 5*UnitBytes
				r.poke(next, []byte{7})
				return r.allocErr(NonPagedPool, 48, "Abcd"), bc(badPoolHeader, 5, uint64(next), 0, uint64(a-HeaderBytes))
			},
		},
		{
			name: "a next header whose PreviousSize disagrees is 0x19/5 when the free block is split",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")
				va := r.alloc(NonPagedPool, 1000, "Abcd") // 64 units at 0xc00
				r.alloc(NonPagedPool, 1, "Keep")          // 2 units at 0xbe0
				r.free(va)
				// The free fragment at 0x20 is 188 units; corrupt the
				// PreviousSize of the block after it (0xbe0).
				frag := va.PageBase() + 0x20
				next := va.PageBase() + 0xbe0
				r.poke(next, []byte{3})
				return r.allocErr(NonPagedPool, 2000, "Abcd"), bc(badPoolHeader, 5, uint64(next), 0, uint64(frag))
			},
		},
		{
			name:      "a next header whose PreviousSize disagrees is 0x19/5 to the validator",
			validates: true,
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				a := r.alloc(NonPagedPool, 48, "Abcd") // 0x000
				b := r.alloc(NonPagedPool, 48, "Abcd") // 0xfb0
				next := a - HeaderBytes + 5*UnitBytes  // the fragment
				r.poke(next, []byte{9})
				return func() error { return r.p.ValidatePage(b) }, bc(badPoolHeader, 5, uint64(next), 0, uint64(a-HeaderBytes))
			},
		},
		{
			name: "PreviousSize reaching before the page is 0x19/6",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 48, "Keep")
				b := r.alloc(NonPagedPool, 48, "Abcd") // at 0xfb0
				r.poke(b-HeaderBytes, []byte{0xff})
				prev := b - HeaderBytes - 0xff*UnitBytes
				return r.freeErr(b), bc(badPoolHeader, 6, uint64(prev), 0, uint64(b-HeaderBytes))
			},
		},
		{
			name: "PreviousSize 0 on a block not at the page start is 0x19/7",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 48, "Keep")
				b := r.alloc(NonPagedPool, 48, "Abcd")
				r.poke(b-HeaderBytes, []byte{0})
				return r.freeErr(b), bc(badPoolHeader, 7, 0, 0, uint64(b-HeaderBytes))
			},
		},
		{
			name: "BlockSize 0 is 0x19/8",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 48, "Keep")
				b := r.alloc(NonPagedPool, 48, "Abcd")
				r.poke(b-HeaderBytes+2, []byte{0})
				return r.freeErr(b), bc(badPoolHeader, 8, 0, 0, uint64(b-HeaderBytes))
			},
		},
		{
			name: "a BlockSize running past the page end is 0x19/9",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 48, "Keep")
				b := r.alloc(NonPagedPool, 48, "Abcd") // 5 units at 0xfb0
				r.poke(b-HeaderBytes+2, []byte{0x10})
				next := b - HeaderBytes + 0x10*UnitBytes
				return r.freeErr(b), bc(badPoolHeader, 9, uint64(next), 0, uint64(b-HeaderBytes))
			},
		},
		{
			name: "a corrupt Flink in a free block is 0x19/3 when its list is used",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				x := loneFreeBlock(r)
				// Point its Flink at ListHeads[0], an empty list whose
				// Blink is itself: Flink->Blink reads back ListHeads[0],
				// Blink (the list 64 head) ->Flink reads back x.
				heads := r.p.descs[0].ListHeads
				r.pokeU64(x, uint64(heads))
				return r.allocErr(NonPagedPool, 1000, "Abcd"), bc(badPoolHeader, 3, uint64(x), uint64(heads), uint64(x))
			},
		},
		{
			name: "a Flink to unmapped memory followed at DISPATCH_LEVEL is 0xC5 in the pool's code",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				x := loneFreeBlock(r)
				const junk = 0xfffff700_00000000 // no page table maps it
				r.pokeU64(x, junk)
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				r.c.PC = driverPC
				// Unlinking x reads its Flink's Blink, in the pool's
				// code: the driver that damaged the link is long gone.
				return r.allocErr(NonPagedPool, 1000, "Abcd"), bc(bugcheck.DriverCorruptedExpool, junk+8, 2, 0, PCExAllocatePoolWithTag)
			},
		},
		{
			name: "a corrupt Blink in a free block is 0x19/3 when a neighbour merges with it",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")         // 0x000
				x := r.alloc(NonPagedPool, 1000, "Abcd") // 0xc00
				y := r.alloc(NonPagedPool, 1, "Abcd")    // 0xbe0
				r.free(x)                                // alone on list 64
				heads := r.p.descs[0].ListHeads
				r.pokeU64(x+8, uint64(heads)) // Blink -> ListHeads[0]
				// Freeing y merges with x: x leaves its list. Flink (list
				// 64's head) ->Blink reads back x; Blink->Flink reads
				// ListHeads[0]'s Flink, itself.
				return r.freeErr(y), bc(badPoolHeader, 3, uint64(x), uint64(x), uint64(heads))
			},
		},
		{
			name: "a Flink overwritten with junk is 0x19/3 at the next call under VerifyEveryOp",
			spec: spec{cfg: Config{NoLookaside: true, VerifyEveryOp: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")
				x := r.alloc(NonPagedPool, 1000, "Abcd")
				r.alloc(NonPagedPool, 1, "Keep")
				r.free(x)
				// A junk Flink points at nothing readable: what it would
				// read back is taken as 0. Blink->Flink still reads x.
				r.pokeU64(x, 0x4141414141414141)
				return r.allocErr(PagedPool, 100, "Else"), bc(badPoolHeader, 3, uint64(x), 0, uint64(x))
			},
		},
		{
			name:      "a Flink pointing into unmapped nonpaged pool is 0x19/3 to the validator",
			validates: true,
			spec:      spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")
				x := r.alloc(NonPagedPool, 1000, "Abcd")
				r.alloc(NonPagedPool, 1, "Keep")
				r.free(x)
				r.pokeU64(x, uint64(mm.RegionNonPagedPool.Base()+0x4000_0000))
				return func() error { return r.p.ValidatePage(x) }, bc(badPoolHeader, 3, uint64(x), 0, uint64(x))
			},
		},
		{
			name: "a page walk that overshoots the page end is 0x19/0xA",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")         // 0x000, 2 units
				b := r.alloc(NonPagedPool, 1000, "Abcd") // 0xc00, 64 units
				r.alloc(NonPagedPool, 1, "Keep")         // 0xbe0, 2 units
				// The fragment at 0x20 is 188 units; say 255. Its own
				// neighbours are not what B's free checks, so only the
				// walk from the page start notices: it runs to 0x1010.
				page := b.PageBase()
				r.poke(page+0x20+2, []byte{0xff})
				return r.freeErr(b), bc(badPoolHeader, 0xA, uint64(b-HeaderBytes), 0, uint64(page))
			},
		},
		{
			name: "a page walk that stops short of the page end is 0x19/0xA",
			spec: spec{cfg: Config{NoLookaside: true}},
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(NonPagedPool, 1, "Keep")
				b := r.alloc(NonPagedPool, 1000, "Abcd")
				r.alloc(NonPagedPool, 1, "Keep")
				// A fragment of 10 units lands the walk at 0xc0, inside
				// the free space, on zero bytes: BlockSize 0 ends it.
				page := b.PageBase()
				r.poke(page+0x20+2, []byte{10})
				return r.freeErr(b), bc(badPoolHeader, 0xA, uint64(b-HeaderBytes), 0, uint64(page))
			},
		},
		{
			name: "a next header that disagrees at free is 0x19/0x20",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				a := r.alloc(NonPagedPool, 48, "Abcd") // 0x000, 5 units
				next := a - HeaderBytes + 5*UnitBytes
				r.poke(next, []byte{6})
				// Ulong1 of a: prev 0, index 0, 5 units, type 5.
				return r.freeErr(a), bc(badPoolHeader, 0x20, uint64(a-HeaderBytes), uint64(next), 0x05050000)
			},
		},
		{
			name: "a 1-byte overrun is 0x19/0x21 with the value found",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 40, "Abcd")
				canary := r.peekU64(va + 40)
				r.poke(va, make([]byte, 40))
				r.poke(va+40, []byte{^byte(canary)})
				found := canary&^0xff | uint64(^byte(canary))
				return r.freeErr(va), bc(badPoolHeader, 0x21, uint64(va), 40, found)
			},
		},
		{
			name:      "a damaged canary is 0x19/0x21 to the validator too",
			validates: true,
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 40, "Abcd")
				canary := r.peekU64(va + 40)
				r.poke(va+40, []byte{^byte(canary)})
				found := canary&^0xff | uint64(^byte(canary))
				return func() error { return r.p.ValidatePage(va) }, bc(badPoolHeader, 0x21, uint64(va), 40, found)
			},
		},
		{
			name: "an 8-byte overrun into the slack Windows would miss is 0x19/0x21",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 40, "Abcd") // 48 data bytes
				r.poke(va, []byte("0123456789012345678901234567890123456789ABCDEFGH"))
				return r.freeErr(va), bc(badPoolHeader, 0x21, uint64(va), 40, le64u("ABCDEFGH"))
			},
		},
		{
			name: "an overrun of a big allocation into its last page's slack is 0x19/0x21",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 5000, "Abcd")
				canary := r.peekU64(va + 5000)
				r.poke(va+5000, []byte{^byte(canary)})
				found := canary&^0xff | uint64(^byte(canary))
				return r.freeWithTagErr(va, "Abcd"), bc(badPoolHeader, 0x21, uint64(va), 5000, found)
			},
		},
		{
			name:      "a big allocation's damaged canary is 0x19/0x21 to the validator too",
			validates: true,
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				r.alloc(PagedPool, 9000, "Whol") // a whole canary before it in address order
				va := r.alloc(NonPagedPool, 5000, "Abcd")
				canary := r.peekU64(va + 5000)
				r.poke(va+5007, []byte{^byte(canary >> 56)})
				found := canary&^(0xff<<56) | uint64(^byte(canary>>56))<<56
				return r.p.ValidateAll, bc(badPoolHeader, 0x21, uint64(va), 5000, found)
			},
		},
		{
			name: "a 4060-byte block has a 4-byte canary, and overrunning it is 0x19/0x21",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(NonPagedPool, 4060, "Abcd")
				canary := r.peekU64(va+4060) & 0xffffffff
				r.poke(va+4063, []byte{0x5a ^ byte(canary>>24)})
				found := canary&0x00ffffff | uint64(0x5a^byte(canary>>24))<<24
				return r.freeErr(va), bc(badPoolHeader, 0x21, uint64(va), 4060, found)
			},
		},

		// Must succeed (0x41).
		{
			name:  "a small must-succeed request that fails is 0x41 with P1 the page it needed",
			spec:  spec{ramBytes: 2 * mib, pagefileBytes: noPagefile, cpus: 2, nodes: 2},
			setup: mustSucceedFails(100, mm.PageBytes),
		},
		{
			name:  "a big must-succeed request that fails is 0x41 with P1 its bytes",
			spec:  spec{ramBytes: 2 * mib, pagefileBytes: noPagefile, cpus: 2, nodes: 2},
			setup: mustSucceedFails(1*mib, 1*mib),
		},

		// Stale pointers to freed big pool, and paged pool at DISPATCH_LEVEL.
		{
			name: "a read of a freed big paged allocation is 0x50 with P4 0 (freed PTE)",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 10000, "Abcd")
				r.free(va)
				r.c.PC = driverPC
				return func() error { _, err := r.m.ReadU64(r.c, va+0x1008); return err },
					bc(bugcheck.PageFaultInNonpagedArea, uint64(va+0x1008), 0, driverPC, 0)
			},
		},
		{
			name: "a write to a freed big paged allocation is 0x50 with P2 2",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 10000, "Abcd")
				r.free(va)
				r.c.PC = driverPC
				return func() error { return r.m.WriteU64(r.c, va, 1) },
					bc(bugcheck.PageFaultInNonpagedArea, uint64(va), 2, driverPC, 0)
			},
		},
		{
			name: "a driver touching trimmed paged pool at DISPATCH_LEVEL is 0xD1",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 100, "Abcd")
				if n := r.m.Trim(va.PageBase(), 1); n != 1 {
					r.t.Fatalf("Trim trimmed %d pages, want 1", n)
				}
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				r.c.PC = driverPC
				return func() error { _, err := r.m.ReadU64(r.c, va); return err },
					bc(bugcheck.DriverIrqlNotLessOrEqual, uint64(va), 2, 0, driverPC)
			},
		},
		{
			name: "a driver writing paged-out paged pool at DISPATCH_LEVEL is 0xD1 with P3 1",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 100, "Abcd")
				r.m.PageOutAll()
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				r.c.PC = driverPC
				return func() error { return r.m.WriteU64(r.c, va+8, 7) },
					bc(bugcheck.DriverIrqlNotLessOrEqual, uint64(va+8), 2, 1, driverPC)
			},
		},
		{
			name: "the kernel touching trimmed paged pool at DISPATCH_LEVEL is 0xA",
			setup: func(r *rig) (func() error, *bugcheck.Error) {
				va := r.alloc(PagedPool, 100, "Abcd")
				r.m.TrimAll()
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				pc := cpu.KernelImageBase + 0x1234
				r.c.PC = pc
				return func() error { _, err := r.m.ReadU64(r.c, va); return err },
					bc(bugcheck.IrqlNotLessOrEqual, uint64(va), 2, 0, pc)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.spec)
			act, want := tt.setup(r)
			err := act()
			simtest.WantBugcheck(t, err, want)
			if tt.validates {
				if h := r.m.Halted(); h != nil {
					t.Fatalf("validation halted the machine with %v", h)
				}
				return
			}
			if h := r.m.Halted(); h == nil || !errors.Is(h, want) {
				t.Fatalf("machine halted with %v, want %v", h, want)
			}
			// Every later pool call returns the same bugcheck.
			r.c.PC = cpu.KernelImageBase
			va, err := r.p.Allocate(r.c, NonPagedPool, 16, TagOf("Next"))
			if va != 0 || !errors.Is(err, want) {
				t.Errorf("Allocate after the bugcheck = %v, %v; want 0, %v", va, err, want)
			}
			if err := r.p.Free(r.c, mm.RegionNonPagedPool.Base()+0x40); !errors.Is(err, want) {
				t.Errorf("Free after the bugcheck = %v, want %v", err, want)
			}
			if err := r.p.FreeWithTag(r.c, 0x10, TagOf("Next")); !errors.Is(err, want) {
				t.Errorf("FreeWithTag after the bugcheck = %v, want %v", err, want)
			}
		})
	}
}

// le64u reads 8 characters as the little-endian u64 memory holds.
func le64u(s string) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v
}

func (r *rig) allocTag(t Type, n uint64, tag Tag) mm.VA {
	r.t.Helper()
	va, err := r.p.Allocate(r.c, t, n, tag)
	if err != nil || va == 0 {
		r.t.Fatalf("Allocate(%v, %d, %v) = %v, %v", t, n, tag, va, err)
	}
	return va
}

func (r *rig) allocErr(t Type, n uint64, tag string) func() error {
	return r.allocTagErr(t, n, TagOf(tag))
}

func (r *rig) allocTagErr(t Type, n uint64, tag Tag) func() error {
	return func() error {
		va, err := r.p.Allocate(r.c, t, n, tag)
		if err != nil && va != 0 {
			r.t.Errorf("Allocate returned %v with the error %v: want 0", va, err)
		}
		return err
	}
}

func (r *rig) freeErr(va mm.VA) func() error {
	return func() error { return r.p.Free(r.c, va) }
}

func (r *rig) freeTagErr(va mm.VA, tag Tag) func() error {
	return func() error { return r.p.FreeWithTag(r.c, va, tag) }
}

func (r *rig) freeWithTagErr(va mm.VA, tag string) func() error {
	return r.freeTagErr(va, TagOf(tag))
}

// loneFreeBlock frees a 1000-byte block whose neighbours are allocated,
// so it sits alone on the list of 64-unit blocks (the lookaside lists must
// be off), and returns its data address, where its Flink is.
func loneFreeBlock(r *rig) mm.VA {
	r.alloc(NonPagedPool, 1, "Keep")         // the page start
	x := r.alloc(NonPagedPool, 1000, "Abcd") // the page end
	r.alloc(NonPagedPool, 1, "Keep")         // just before x
	r.free(x)
	return x
}

// mustSucceedFails fills nonpaged pool on both nodes of a two-node
// machine, NX pool too, then asks for n bytes of must-succeed pool: 0x41
// with P1 wantP1 and P2, P3 all of nonpaged pool's small and big pages.
func mustSucceedFails(n, wantP1 uint64) func(r *rig) (func() error, *bugcheck.Error) {
	return func(r *rig) (func() error, *bugcheck.Error) {
		// Untouched paged pool takes commit but no frames, so the commit
		// limit stops the nonpaged pool while frames are still
		// available: P4 is not 0. The other node's pool and the NX pool
		// hold pages too, which P2 and P3 count.
		r.alloc(PagedPool, 300*mm.PageBytes, "Comm")
		r.allocOn(r.cpuN(1), NonPagedPool, 100, "Node")   // a small page on node 1
		r.allocOn(r.cpuN(1), NonPagedPool, 10000, "Node") // 3 big pages on node 1
		r.alloc(NonPagedPoolNx, 100, "NxNx")              // a small NX page on node 0
		r.alloc(NonPagedPoolNx, 3*mm.PageBytes, "NxNx")   // 3 big NX pages
		r.alloc(NonPagedPool, 10000, "Fill")              // 3 big pages on node 0
		r.fillNonPaged(4000)
		want := bc(bugcheck.MustSucceedPoolEmpty, 0, 0, 0, 0) // filled in by act
		act := func() error {
			va, err := r.p.Allocate(r.c, NonPagedPoolMustSucceed, n, TagOf("Must"))
			if va != 0 {
				r.t.Fatalf("must-succeed allocation returned %v: memory was not full", va)
			}
			var small, big uint64
			for _, d := range r.p.descs {
				if d.Type != PagedPool {
					small += d.TotalPages
					big += d.TotalBigPages
				}
			}
			want.P = [4]uint64{wantP1, small, big, r.m.Stats().Available()}
			own := r.p.descriptorFor(r.c, NonPagedPool)
			if small < own.TotalPages+2 || big != 9 || want.P[3] == 0 {
				r.t.Errorf("%d small pages, %d big pages, %d available: want two more small than node 0's NonPagedPool (%d), 9 big and some available", small, big, want.P[3], own.TotalPages)
			}
			return err
		}
		return act, want
	}
}

// fillNonPaged allocates n-byte nonpaged blocks until the pool returns
// NULL, and returns them.
func (r *rig) fillNonPaged(n uint64) []mm.VA {
	r.t.Helper()
	var out []mm.VA
	for {
		va, err := r.p.Allocate(r.c, NonPagedPool, n, TagOf("Fill"))
		if err != nil {
			r.t.Fatalf("filling memory: %v", err)
		}
		if va == 0 {
			return out
		}
		out = append(out, va)
		if len(out) > 1<<20 {
			r.t.Fatalf("filling memory: a million blocks and no NULL")
		}
	}
}

// A split whose remainder cannot be linked halts the machine before the
// allocation is recorded: the counters, the tag table and the list of
// outstanding allocations show nothing that Allocate never returned, and
// the page's headers still walk to its end.
func TestSplitThatHaltsRecordsNoAllocation(t *testing.T) {
	r := newRig(t, spec{cfg: Config{NoLookaside: true}})
	r.alloc(NonPagedPool, 1, "Keep")         // 2 units at the page start
	x := r.alloc(NonPagedPool, 1000, "Abcd") // 64 units at the page end
	r.alloc(NonPagedPool, 1, "Keep")         // just before x
	r.free(x)                                // alone on list 64
	// A 600-byte request splits x, leaving the rest for a list whose head
	// now says its Blink is ListHeads[0].
	rest := 64 - unitsFor(600)
	heads := r.p.descs[0].ListHeads
	head := r.p.descs[0].listHead(rest)
	r.pokeU64(head+8, uint64(heads))
	before := r.p.Totals()
	_, live := r.p.OutstandingAllocations(0)

	_, err := r.p.Allocate(r.c, NonPagedPool, 600, TagOf("Scnd"))
	simtest.WantBugcheck(t, err, bc(badPoolHeader, 3, uint64(head), uint64(heads), uint64(heads)))
	if after := r.p.Totals(); after.RunningAllocs != before.RunningAllocs || after.NonPagedBytes != before.NonPagedBytes {
		t.Errorf("totals went from %+v to %+v: the failed allocation was counted", before, after)
	}
	if _, n := r.p.OutstandingAllocations(0); n != live {
		t.Errorf("%d outstanding allocations, want %d", n, live)
	}
	for _, s := range r.p.Tags() {
		if s.Tag == TagOf("Scnd") && s.NonPagedAllocs != 0 {
			t.Errorf("tag Scnd shows %+v", s)
		}
	}
	bytes, err := r.p.bytesOf(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPageWalk(bytes, x-HeaderBytes, &r.p.pageOf(x).starts); err != nil {
		t.Errorf("the page's headers do not walk to its end after the halt: %v", err)
	}
}
