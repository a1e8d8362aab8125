package pool

import (
	"bytes"
	"encoding/gob"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
	"simkern/pagefile"
)

// allocSpecial allocates through special pool on CPU 0 from the code at
// driverPC, failing the test unless special pool serves it.
func (r *rig) allocSpecial(t Type, n uint64, tag string, mode SpecialMode) mm.VA {
	r.t.Helper()
	r.c.PC = driverPC
	va, ok, err := r.p.AllocateSpecial(r.c, t, n, TagOf(tag), mode)
	r.c.PC = cpu.KernelImageBase
	if err != nil || !ok {
		r.t.Fatalf("AllocateSpecial(%v, %d, %q, %v) = %v, %v, %v", t, n, tag, mode, va, ok, err)
	}
	return va
}

// The layout of a special pool page, worked out the slow way: where the
// data goes, what the header says, what every other byte holds.
func TestSpecialLayout(t *testing.T) {
	tests := []struct {
		name string
		t    Type
		n    uint64
		mode SpecialMode
		// Where the data should start, as an offset into its page.
		wantOffset uint64
	}{
		{name: "overrun: 1 byte sits 16 bytes before the guard", t: NonPagedPool, n: 1, mode: SpecialOverrun, wantOffset: 4080},
		{name: "overrun: 16 bytes end exactly at the guard", t: NonPagedPool, n: 16, mode: SpecialOverrun, wantOffset: 4080},
		{name: "overrun: 17 bytes leave 15 bytes of slack", t: NonPagedPool, n: 17, mode: SpecialOverrun, wantOffset: 4064},
		{name: "overrun: 100 bytes, paged", t: PagedPool, n: 100, mode: SpecialOverrun, wantOffset: 3984},
		{name: "overrun: the largest request starts right after the header", t: NonPagedPoolNx, n: MaxSpecialBytes, mode: SpecialOverrun, wantOffset: 16},
		{name: "underrun: 1 byte at the page start", t: NonPagedPool, n: 1, mode: SpecialUnderrun, wantOffset: 0},
		{name: "underrun: 100 bytes, paged", t: PagedPool, n: 100, mode: SpecialUnderrun, wantOffset: 0},
		{name: "underrun: the largest request ends at the header", t: NonPagedPool, n: MaxSpecialBytes, mode: SpecialUnderrun, wantOffset: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			va := r.allocSpecial(tt.t, tt.n, "Spcl", tt.mode)
			page := va.PageBase()
			if mm.RegionOf(va) != mm.RegionSpecialPool || va.PageOffset() != tt.wantOffset || va%16 != 0 {
				t.Fatalf("data at %v (offset %#x), want offset %#x in the special pool region", va, va.PageOffset(), tt.wantOffset)
			}
			if tt.mode == SpecialOverrun {
				if want := (page + mm.PageBytes - mm.VA(tt.n)) &^ 15; va != want {
					t.Errorf("data at %v, want (page end - n) &^ 15 = %v", va, want)
				}
			}
			guard := page + mm.PageBytes
			hdr := page
			if tt.mode == SpecialUnderrun {
				guard, hdr = page-mm.PageBytes, page+mm.PageBytes-16
			}
			if p := r.m.PTE(guard); p != mm.NoAccessPTE() {
				t.Errorf("guard page %v PTE %#x, want no-access", guard, uint64(p))
			}
			if !r.m.PTE(page).Valid() {
				t.Errorf("data page %v is not valid", page)
			}

			// Every byte of the page, against what it should hold.
			img := r.peek(page, mm.PageBytes)
			pattern := img[hdr.PageOffset()+2]
			if pattern == 0 || pattern != r.p.specialPattern(page) {
				t.Fatalf("header pattern byte %#x, want the page's non-zero pattern %#x", pattern, r.p.specialPattern(page))
			}
			flags := byte(0)
			if tt.t.Paged() {
				flags |= 1
			}
			if tt.mode == SpecialUnderrun {
				flags |= 2
			}
			wantHdr := []byte{byte(tt.n), byte(tt.n >> 8), pattern, flags, 'S', 'p', 'c', 'l'}
			for i := 0; i < 8; i++ {
				wantHdr = append(wantHdr, byte(uint64(va)>>(8*i)))
			}
			if got := img[hdr.PageOffset() : hdr.PageOffset()+16]; !bytes.Equal(got, wantHdr) {
				t.Errorf("header % x, want % x", got, wantHdr)
			}
			for off := uint64(0); off < mm.PageBytes; off++ {
				if off >= hdr.PageOffset() && off < hdr.PageOffset()+16 {
					continue
				}
				if img[off] != pattern {
					t.Fatalf("byte +%#x = %#x, want the pattern %#x (data included: it is not initialised)", off, img[off], pattern)
				}
			}

			// The data is the driver's to write, all of it.
			r.c.PC = driverPC
			if err := r.m.Fill(r.c, va, 0x5c, tt.n); err != nil {
				t.Fatalf("writing %d bytes at %v: %v", tt.n, va, err)
			}
			r.c.PC = cpu.KernelImageBase

			if got := r.p.Owner(va); got != driverPC {
				t.Errorf("Owner = %#x, want %#x", got, uint64(driverPC))
			}
			if got := r.p.Requested(va); got != tt.n {
				t.Errorf("Requested = %d, want %d", got, tt.n)
			}
			if r.p.Owner(va+16) != 0 || r.p.Requested(va+16) != 0 {
				t.Errorf("Owner/Requested of %v (not a data start) should be 0", va+16)
			}
			kind, a := r.p.Classify(va)
			if kind != KindSpecial || a.VA != va || a.Bytes != tt.n || a.Tag != TagOf("Spcl") || a.Type != tt.t || a.Owner != driverPC {
				t.Errorf("Classify = %v, %+v", kind, a)
			}
			if kind, _ := r.p.Classify(guard); kind != KindNone {
				t.Errorf("Classify(guard) = %v, want KindNone", kind)
			}
			ts := r.p.TagStatsOf(TagOf("Spcl"))
			used, allocs := ts.NonPagedBytes, ts.NonPagedOutstanding()
			if tt.t.Paged() {
				used, allocs = ts.PagedBytes, ts.PagedOutstanding()
			}
			if used != mm.PageBytes || allocs != 1 {
				t.Errorf("tag Spcl: %d outstanding, %d bytes; want 1 and a whole page", allocs, used)
			}
			if s := r.p.SpecialStats(); s != (SpecialStats{Allocations: 1, PagesInUse: 1}) {
				t.Errorf("SpecialStats = %+v", s)
			}
			r.check()

			r.free(va)
			if s := r.p.SpecialStats(); s != (SpecialStats{Allocations: 1, Frees: 1, FreedPagesWaiting: 1}) {
				t.Errorf("SpecialStats after the free = %+v", s)
			}
			if p := r.m.PTE(page); p != mm.NoAccessPTE() {
				t.Errorf("freed data page PTE %#x, want no-access", uint64(p))
			}
			if ts := r.p.TagStatsOf(TagOf("Spcl")); ts.NonPagedBytes+ts.PagedBytes != 0 {
				t.Errorf("tag Spcl still holds %d + %d bytes after the free", ts.NonPagedBytes, ts.PagedBytes)
			}
			r.check()
		})
	}
}

// Touching the guard page or a freed page faults at once, with the
// bugcheck that names the culprit: a driver (0xD6, 0xD5) or the kernel
// (0xCD, 0xCC).
func TestSpecialFaults(t *testing.T) {
	const kernelPC = cpu.KernelImageBase + 0x4242
	tests := []struct {
		name  string
		mode  SpecialMode
		n     uint64
		pc    uint64
		irql  cpu.IRQL
		free  bool  // free the allocation before the access
		write bool  // else read
		at    int64 // the access's offset from the data start; n means one past the end
		code  bugcheck.Code
	}{
		{name: "overrun: a driver writing one byte past the page end", mode: SpecialOverrun, n: 32, pc: driverPC, write: true, at: 32, code: bugcheck.DriverPageFaultBeyondEndOfAllocation},
		{name: "overrun: a driver reading past the end has P2 0", mode: SpecialOverrun, n: 32, pc: driverPC, at: 32, code: bugcheck.DriverPageFaultBeyondEndOfAllocation},
		{name: "overrun: the kernel writing past the end is 0xCD", mode: SpecialOverrun, n: 32, pc: kernelPC, write: true, at: 32, code: bugcheck.PageFaultBeyondEndOfAllocation},
		{name: "overrun: at DISPATCH_LEVEL it is still 0xD6, not 0xD1", mode: SpecialOverrun, n: 32, pc: driverPC, irql: cpu.DispatchLevel, write: true, at: 32, code: bugcheck.DriverPageFaultBeyondEndOfAllocation},
		{name: "underrun: a driver writing one byte before the data", mode: SpecialUnderrun, n: 32, pc: driverPC, write: true, at: -1, code: bugcheck.DriverPageFaultBeyondEndOfAllocation},
		{name: "underrun: the kernel reading before the data is 0xCD", mode: SpecialUnderrun, n: 32, pc: kernelPC, at: -8, code: bugcheck.PageFaultBeyondEndOfAllocation},
		{name: "use after free: a driver reading freed special pool", mode: SpecialOverrun, n: 64, pc: driverPC, free: true, at: 0, code: bugcheck.DriverPageFaultInFreedSpecialPool},
		{name: "use after free: a driver writing it has P2 1", mode: SpecialUnderrun, n: 64, pc: driverPC, free: true, write: true, at: 8, code: bugcheck.DriverPageFaultInFreedSpecialPool},
		{name: "use after free: the kernel reading it is 0xCC", mode: SpecialOverrun, n: 64, pc: kernelPC, free: true, at: 0, code: bugcheck.PageFaultInFreedSpecialPool},
		{name: "use after free at DISPATCH_LEVEL is still 0xD5", mode: SpecialOverrun, n: 64, pc: driverPC, irql: cpu.DispatchLevel, free: true, at: 0, code: bugcheck.DriverPageFaultInFreedSpecialPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			va := r.allocSpecial(NonPagedPool, tt.n, "Spcl", tt.mode)
			if tt.free {
				r.free(va)
			}
			simtest.Raise(t, r.c, tt.irql)
			at := mm.VA(int64(va) + tt.at)
			r.c.PC = tt.pc
			var err error
			if tt.write {
				err = r.m.Write(r.c, at, []byte{0xee})
			} else {
				var b [1]byte
				err = r.m.Read(r.c, at, b[:])
			}
			rw := uint64(0)
			if tt.write {
				rw = 1
			}
			simtest.WantBugcheck(t, err, bugcheck.New(tt.code, uint64(at), rw, tt.pc, 0))
			if r.m.Halted() == nil {
				t.Errorf("the machine did not halt")
			}
		})
	}
}

// A special pool address special pool never mapped is nobody's: 0x50.
// Special pool for a paged pool request is pageable, as on Windows: it
// leaves memory with the rest of paged pool, validation skips it while it
// is out, a driver touching it at DISPATCH_LEVEL then gets 0xD1, and at
// PASSIVE_LEVEL it comes back whole and frees cleanly.
func TestSpecialPagedPoolIsPageable(t *testing.T) {
	for _, mode := range []SpecialMode{SpecialOverrun, SpecialUnderrun} {
		t.Run(mode.String(), func(t *testing.T) {
			r := newRig(t, spec{})
			va := r.allocSpecial(PagedPool, 100, "Spcl", mode)
			r.poke(va, bytes.Repeat([]byte{0x5a}, 100))
			np := r.allocSpecial(NonPagedPool, 100, "Spnp", mode)
			if n := r.m.PageOutAll(); n != 1 {
				t.Fatalf("PageOutAll = %d pages, want the paged allocation's one", n)
			}
			if r.m.Resident(va) || !r.m.Resident(np) {
				t.Fatalf("resident after PageOutAll: paged %v, nonpaged %v; want false, true", r.m.Resident(va), r.m.Resident(np))
			}
			if err := r.p.ValidateAll(); err != nil {
				t.Fatalf("ValidateAll with paged special pool out: %v", err)
			}
			r.check()
			got := make([]byte, 100)
			if err := r.m.Read(r.c, va, got); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{0x5a}, 100)) {
				t.Fatalf("read back at PASSIVE_LEVEL: %v, %x", err, got)
			}
			r.m.PageOutAll()
			r.free(va) // the pattern check pages it back in
			r.free(np)
			r.check()

			r = newRig(t, spec{})
			va = r.allocSpecial(PagedPool, 100, "Spcl", mode)
			r.m.PageOutAll()
			simtest.Raise(t, r.c, cpu.DispatchLevel)
			r.c.PC = driverPC
			var b [1]byte
			err := r.m.Read(r.c, va, b[:])
			simtest.WantBugcheck(t, err, bugcheck.New(bugcheck.DriverIrqlNotLessOrEqual, uint64(va), uint64(cpu.DispatchLevel), 0, driverPC))
		})
	}
}

func TestSpecialUnmappedAddressIs0x50(t *testing.T) {
	r := newRig(t, spec{})
	va := r.allocSpecial(NonPagedPool, 8, "Spcl", SpecialOverrun)
	beyond := va.PageBase() + 2*mm.PageBytes // past the only pair: page tables exist
	r.c.PC = driverPC
	_, err := r.m.ReadU64(r.c, beyond)
	simtest.WantBugcheck(t, err, bugcheck.New(bugcheck.PageFaultInNonpagedArea, uint64(beyond), 0, driverPC, 0))
}

// What a free checks, in order, and the bugcheck each rule raises.
func TestSpecialFreeChecks(t *testing.T) {
	tests := []struct {
		name string
		// setup allocates, damages and frees, returning the bugcheck the
		// free should be and the free's error.
		setup func(r *rig) (*bugcheck.Error, error)
	}{
		{
			name: "a write into the slack after the data (overrun mode) is 0xC1/0x24",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 17, "Spcl", SpecialOverrun)
				r.poke(va+17, []byte{0})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(va+17), 0, 0x24), r.p.Free(r.c, va)
			},
		},
		{
			name: "the last slack byte before the guard is checked too",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 1, "Spcl", SpecialOverrun)
				last := va.PageBase() + mm.PageBytes - 1
				r.poke(last, []byte{^r.p.specialPattern(va.PageBase())})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(last), 0, 0x24), r.p.Free(r.c, va)
			},
		},
		{
			name: "a write just before the data (overrun mode) is 0xC1/0x23 with the damaged byte",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun)
				r.poke(va-3, []byte{^r.p.specialPattern(va.PageBase())})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(va-3), 0, 0x23), r.p.Free(r.c, va)
			},
		},
		{
			name: "a damaged header (overrun mode, the tag) is 0xC1/0x23",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, MaxSpecialBytes, "Spcl", SpecialOverrun)
				r.poke(va.PageBase()+4, []byte{'X'})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(va.PageBase()+4), 0, 0x23), r.p.Free(r.c, va)
			},
		},
		{
			name: "damage on both sides reports the first damaged byte, before the data",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 20, "Spcl", SpecialOverrun)
				r.poke(va+25, []byte{^r.p.specialPattern(va.PageBase())})
				r.poke(va-100, []byte{^r.p.specialPattern(va.PageBase())})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(va-100), 0, 0x23), r.p.Free(r.c, va)
			},
		},
		{
			name: "a write after the data (underrun mode) is 0xC1/0x24",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 48, "Spcl", SpecialUnderrun)
				r.poke(va+48, []byte{^r.p.specialPattern(va)})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(va+48), 0, 0x24), r.p.Free(r.c, va)
			},
		},
		{
			name: "a damaged header at the page end (underrun mode) is 0xC1/0x24",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 48, "Spcl", SpecialUnderrun)
				r.poke(va+mm.PageBytes-1, []byte{0x7f})
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), uint64(va+mm.PageBytes-1), 0, 0x24), r.p.Free(r.c, va)
			},
		},
		{
			name: "a paged free at DISPATCH_LEVEL is 0xC1/0x31",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(PagedPool, 48, "Spcl", SpecialOverrun)
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(cpu.DispatchLevel), uint64(PagedPool), uint64(va), 0x31), r.p.Free(r.c, va)
			},
		},
		{
			name: "a nonpaged free above DISPATCH_LEVEL is 0xC1/0x31",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPoolNx, 48, "Spcl", SpecialUnderrun)
				simtest.Raise(r.t, r.c, cpu.DispatchLevel+1)
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(cpu.DispatchLevel+1), uint64(NonPagedPoolNx), uint64(va), 0x31), r.p.Free(r.c, va)
			},
		},
		{
			name: "the IRQL is checked before the pattern",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(PagedPool, 17, "Spcl", SpecialOverrun)
				r.poke(va+17, []byte{0})
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(cpu.DispatchLevel), uint64(PagedPool), uint64(va), 0x31), r.p.Free(r.c, va)
			},
		},
		{
			name: "an address inside the data (overrun mode) is 0xC1/0x21: the bytes to the page end are fewer than requested",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun) // 112 bytes to the page end
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va+16), 100, 96, 0x21), r.p.Free(r.c, va+16)
			},
		},
		{
			name: "the page start (the header, overrun mode) is 0xC1/0x22: the bytes to the page end are more than requested and a header",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun)
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va.PageBase()), 100, mm.PageBytes, 0x22), r.p.Free(r.c, va.PageBase())
			},
		},
		{
			name: "a few bytes before the data (overrun mode), within a header's room, is 0xC1/0x20",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun) // 112 bytes to the page end
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va-4), 0, 0, 0x20), r.p.Free(r.c, va-4)
			},
		},
		{
			name: "an address inside the data (underrun mode) is 0xC1/0x20",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialUnderrun)
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va+16), 0, 0, 0x20), r.p.Free(r.c, va+16)
			},
		},
		{
			name: "a guard page address is 0xC1/0x20",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialUnderrun)
				guard := va - mm.PageBytes
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(guard), 0, 0, 0x20), r.p.Free(r.c, guard)
			},
		},
		{
			name: "a special pool address never allocated is 0xC1/0x20",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := mm.RegionSpecialPool.Base() + 0x1230
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), 0, 0, 0x20), r.p.Free(r.c, va)
			},
		},
		{
			name: "the wrong tag is 0xC2/0xA",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun)
				return bugcheck.New(bugcheck.BadPoolCaller, 0xA, uint64(va), uint64(TagOf("Spcl")), uint64(TagOf("Oops"))), r.p.FreeWithTag(r.c, va, TagOf("Oops"))
			},
		},
		{
			name: "a protected tag freed without its tag is 0xC2/0xA with P4 0",
			setup: func(r *rig) (*bugcheck.Error, error) {
				r.c.PC = driverPC
				tag := TagOf("Prot") | ProtectedTag
				va, ok, err := r.p.AllocateSpecial(r.c, NonPagedPool, 100, tag, SpecialOverrun)
				if err != nil || !ok {
					r.t.Fatalf("AllocateSpecial: %v, %v", ok, err)
				}
				return bugcheck.New(bugcheck.BadPoolCaller, 0xA, uint64(va), uint64(tag&^ProtectedTag), 0), r.p.Free(r.c, va)
			},
		},
		{
			name: "a double free is 0xC1/0x20: the freed page's PTE is no-access (overrun mode)",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun)
				r.free(va)
				r.c.PC = driverPC
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), 0, 0, 0x20), r.p.Free(r.c, va)
			},
		},
		{
			name: "a double free in underrun mode is 0xC1/0x20 too, before any IRQL rule",
			setup: func(r *rig) (*bugcheck.Error, error) {
				va := r.allocSpecial(PagedPool, 100, "Spcl", SpecialUnderrun)
				r.free(va)
				simtest.Raise(r.t, r.c, cpu.DispatchLevel)
				return bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(va), 0, 0, 0x20), r.p.Free(r.c, va)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			want, err := tt.setup(r)
			simtest.WantBugcheck(t, err, want)
			if r.m.Halted() == nil {
				t.Errorf("the machine did not halt")
			}
		})
	}
}

// What an allocation checks, and which requests special pool declines.
func TestSpecialAllocateChecks(t *testing.T) {
	tests := []struct {
		name string
		t    Type
		n    uint64
		tag  Tag
		irql cpu.IRQL
		// Either the bugcheck, or whether special pool serves the request.
		want   *bugcheck.Error
		wantOK bool
	}{
		{name: "paged at DISPATCH_LEVEL is 0xC1/0x30", t: PagedPool, n: 48, tag: TagOf("Spcl"), irql: cpu.DispatchLevel,
			want: bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(cpu.DispatchLevel), uint64(PagedPool), 48, 0x30)},
		{name: "nonpaged above DISPATCH_LEVEL is 0xC1/0x30", t: NonPagedPool, n: 4000, tag: TagOf("Spcl"), irql: cpu.DispatchLevel + 2,
			want: bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(cpu.DispatchLevel+2), uint64(NonPagedPool), 4000, 0x30)},
		{name: "tag 0 is 0xC2/0x9B, as for Allocate", t: NonPagedPool, n: 48, tag: 0,
			want: bugcheck.New(bugcheck.BadPoolCaller, 0x9B, uint64(NonPagedPool), 48, driverPC)},
		{name: "nonpaged at DISPATCH_LEVEL is served", t: NonPagedPool, n: 48, tag: TagOf("Spcl"), irql: cpu.DispatchLevel, wantOK: true},
		{name: "the largest eligible request is served", t: PagedPool, n: MaxSpecialBytes, tag: TagOf("Spcl"), wantOK: true},
		{name: "one byte more is not eligible", t: PagedPool, n: MaxSpecialBytes + 1, tag: TagOf("Spcl")},
		{name: "zero bytes is not eligible (Allocate raises it)", t: NonPagedPool, n: 0, tag: TagOf("Spcl")},
		{name: "an ineligible request is declined before the IRQL rules", t: PagedPool, n: 8192, tag: TagOf("Spcl"), irql: cpu.DispatchLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			simtest.Raise(t, r.c, tt.irql)
			r.c.PC = driverPC
			va, ok, err := r.p.AllocateSpecial(r.c, tt.t, tt.n, tt.tag, SpecialOverrun)
			if r.c.PC != driverPC {
				t.Errorf("c.PC = %#x after the call, want the caller's %#x back", r.c.PC, uint64(driverPC))
			}
			if tt.want != nil {
				simtest.WantBugcheck(t, err, tt.want)
				return
			}
			if err != nil || ok != tt.wantOK || (va != 0) != tt.wantOK {
				t.Fatalf("AllocateSpecial = %v, %v, %v; want ok %v", va, ok, err, tt.wantOK)
			}
			if s := r.p.SpecialStats(); s.Fallbacks != 0 {
				t.Errorf("%d fallbacks counted; an ineligible request is not one", s.Fallbacks)
			}
			r.check()
		})
	}
}

// A freed pair is not handed out again until delay more special frees
// have happened; then its address space is reused.
func TestSpecialReuseIsDelayed(t *testing.T) {
	r := newRig(t, spec{})
	delay := r.p.special.delay
	if delay < 8 || delay > SpecialReuseDelay {
		t.Fatalf("delay %d, want 8..%d", delay, SpecialReuseDelay)
	}
	first := r.allocSpecial(NonPagedPool, 64, "Spcl", SpecialOverrun)
	r.free(first)
	for i := 1; i <= delay; i++ {
		va := r.allocSpecial(NonPagedPool, 64, "Spcl", SpecialOverrun)
		if va.PageBase() == first.PageBase() {
			t.Fatalf("allocation %d got the freed page %v back after only %d other frees; the delay is %d", i, va.PageBase(), i-1, delay)
		}
		r.free(va)
		waiting := r.p.SpecialStats().FreedPagesWaiting
		if want := uint64(min(i+1, delay)); waiting != want {
			t.Fatalf("after %d frees: %d pairs waiting, want %d", i+1, waiting, want)
		}
	}
	// Now delay frees have followed the first: its pair is back in mm's
	// free set, and the next pair takes it.
	if p := r.m.PTE(first.PageBase()); p != 0 {
		t.Errorf("the first pair's data PTE is %#x after %d later frees, want it released (0)", uint64(p), delay)
	}
	again := r.allocSpecial(NonPagedPool, 64, "Spcl", SpecialOverrun)
	if again != first {
		t.Errorf("the next allocation is at %v, want the first pair reused at %v", again, first)
	}
	r.check()
}

// Special pool that cannot get a page says so; the caller falls back and
// special pool counts it.
func TestSpecialExhaustionFallsBack(t *testing.T) {
	tests := []struct {
		name string
		spec spec
		fill func(r *rig)
		// Refusals that reach mm and fail there count a CommitFailure.
		commitFailures uint64
	}{
		{name: "a machine too small for special pool (fewer than 256 available pages)", spec: spec{ramBytes: 1 * mib}},
		{
			name:           "commit exhausted by untouched paged pool",
			spec:           spec{ramBytes: 4 * mib, pagefileBytes: noPagefile},
			commitFailures: 3,
			fill: func(r *rig) {
				for r.m.AllocatePages(mm.RegionPagedPool, 1, 0, true) != 0 {
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.spec)
			if tt.fill != nil {
				tt.fill(r)
			}
			before := r.m.Stats()
			for i := 1; i <= 3; i++ {
				r.c.PC = driverPC
				va, ok, err := r.p.AllocateSpecial(r.c, NonPagedPool, 64, TagOf("Spcl"), SpecialOverrun)
				if err != nil || ok || va != 0 {
					t.Fatalf("AllocateSpecial = %v, %v, %v; want a silent refusal", va, ok, err)
				}
				if s := r.p.SpecialStats(); s != (SpecialStats{Fallbacks: uint64(i)}) {
					t.Errorf("SpecialStats = %+v, want %d fallbacks", s, i)
				}
			}
			after := r.m.Stats()
			if after.CommitPages != before.CommitPages || after.ActiveNonpageable != before.ActiveNonpageable {
				t.Errorf("refusals changed commit %d -> %d, active nonpageable %d -> %d", before.CommitPages, after.CommitPages,
					before.ActiveNonpageable, after.ActiveNonpageable)
			}
			if got := after.CommitFailures - before.CommitFailures; got != tt.commitFailures {
				t.Errorf("%d commit failures counted by mm, want %d", got, tt.commitFailures)
			}
			if ts := r.p.TagStatsOf(TagOf("Spcl")); ts.NonPagedAllocs != 0 {
				t.Errorf("tag Spcl counts %d allocations after refusals", ts.NonPagedAllocs)
			}
			r.check()
		})
	}
}

// VerifyEveryOp finds a damaged pattern at the next pool call, not only
// when the allocation is freed.
func TestSpecialVerifyEveryOpChecksPatterns(t *testing.T) {
	r := newRig(t, spec{cfg: Config{VerifyEveryOp: true}})
	va := r.allocSpecial(NonPagedPool, 17, "Spcl", SpecialOverrun)
	other := r.allocSpecial(PagedPool, 40, "Spcl", SpecialUnderrun)
	if err := r.p.ValidatePage(va); err != nil {
		t.Fatalf("ValidatePage of an intact special page: %v", err)
	}
	r.poke(other+45, []byte{^r.p.specialPattern(other)})
	want := bugcheck.New(bugcheck.SpecialPoolDetectedMemoryCorruption, uint64(other), uint64(other+45), 0, 0x24)
	if err := r.p.ValidatePage(other); err == nil {
		t.Fatal("ValidatePage of a damaged special page found nothing")
	} else {
		simtest.WantBugcheck(t, err, want)
	}
	_, err := r.p.Allocate(r.c, NonPagedPool, 32, TagOf("Next"))
	simtest.WantBugcheck(t, err, want)
}

// A crash dump keeps special pool: live allocations, waiting pairs, the
// counters, and the fault hook on the restored machine.
func TestSpecialSnapshotRoundTrip(t *testing.T) {
	r := newRig(t, spec{})
	live1 := r.allocSpecial(NonPagedPool, 100, "Spc1", SpecialOverrun)
	live2 := r.allocSpecial(PagedPool, 7, "Spc2", SpecialUnderrun)
	freed := r.allocSpecial(NonPagedPoolNx, 300, "Spc3", SpecialOverrun)
	r.free(freed)

	m2, p2 := restoreRig(t, r)
	if got, want := p2.SpecialAllocations(), r.p.SpecialAllocations(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("special allocations:\nrestored %+v\noriginal %+v", got, want)
	}
	if got, want := p2.SpecialStats(), r.p.SpecialStats(); got != want {
		t.Errorf("SpecialStats: restored %+v, original %+v", got, want)
	}
	for _, va := range []mm.VA{live1, live2} {
		if p2.Owner(va) != driverPC || p2.Requested(va) != r.p.Requested(va) {
			t.Errorf("%v: restored owner %#x, %d bytes", va, p2.Owner(va), p2.Requested(va))
		}
		if err := p2.ValidatePage(va); err != nil {
			t.Errorf("ValidatePage(%v) on the restored pool: %v", va, err)
		}
	}
	if p2.special.delay != r.p.special.delay {
		t.Errorf("delay: restored %d, original %d", p2.special.delay, r.p.special.delay)
	}
	p2.CheckInvariants()

	c := m2.CPUs.CPUs[0]
	c.PC = driverPC
	_, err := m2.ReadU64(c, freed)
	simtest.WantBugcheck(t, err, bugcheck.New(bugcheck.DriverPageFaultInFreedSpecialPool, uint64(freed), 0, driverPC, 0))
}

// restoreRig snapshots r's machine and pool and restores them, the pool's
// snapshot through gob as a dump file carries it.
func restoreRig(t *testing.T, r *rig) (*mm.Machine, *Pool) {
	t.Helper()
	ms := r.m.Snapshot()
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(r.p.Snapshot()); err != nil {
		t.Fatal(err)
	}
	var ps Snapshot
	if err := gob.NewDecoder(&buf).Decode(&ps); err != nil {
		t.Fatal(err)
	}
	m2, err := mm.Restore(ms, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Close() })
	// Each frame on its own, as a dump's records carry them.
	var entries []mm.FrameSnapshot
	var pages []*[mm.PageBytes]byte
	err = ms.ForEachFrame(func(e mm.FrameSnapshot, b *[mm.PageBytes]byte) error {
		entries, pages = append(entries, e), append(pages, b) // r.m does not change while m2 is restored
		return nil
	})
	if err == nil {
		err = m2.RestoreFrames(func() (mm.FrameSnapshot, *[mm.PageBytes]byte, error) {
			e, b := entries[0], pages[0]
			entries, pages = entries[1:], pages[1:]
			return e, b, nil
		})
	}
	if err == nil && ms.Pagefile != nil {
		var slots []pagefile.SlotSnapshot
		var data []*[pagefile.SlotBytes]byte
		err = ms.Pagefile.ForEachSlot(func(s pagefile.SlotSnapshot, b *[pagefile.SlotBytes]byte) error {
			c := *b // the pagefile's buffer, used again for the next slot
			slots, data = append(slots, s), append(data, &c)
			return nil
		})
		if err == nil {
			err = m2.Pagefile.RestoreSlots(ms.Pagefile.Stats.Used, func() (pagefile.SlotSnapshot, *[pagefile.SlotBytes]byte, error) {
				s, b := slots[0], data[0]
				slots, data = slots[1:], data[1:]
				return s, b, nil
			})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Restore(m2, &ps)
	if err != nil {
		t.Fatal(err)
	}
	return m2, p2
}

// A pool page anywhere in its region restores: two 4 GiB allocations
// put the next page 8 GiB in, where a snapshot was once refused.
func TestSnapshotOfAPageFarIntoItsRegion(t *testing.T) {
	r := newRig(t, spec{ramBytes: 64 * mib, pagefileBytes: 9 << 30})
	for range 2 {
		if va, err := r.p.Allocate(r.c, PagedPool, 4<<30, TagOf("Huge")); err != nil || va == 0 {
			t.Fatalf("Allocate 4 GiB: %v, %v", va, err)
		}
	}
	far := r.alloc(PagedPool, 100, "Far ")
	if off := far - mm.RegionPagedPool.Base(); off < 8<<30 {
		t.Fatalf("the small block is %#x into paged pool, want 8 GiB or more", uint64(off))
	}
	_, p2 := restoreRig(t, r)
	if p2.Requested(far) != 100 {
		t.Errorf("the restored pool says the block at %v holds %d bytes, want 100", far, p2.Requested(far))
	}
}

// Damaged snapshots are errors, not panics.
func TestSpecialSnapshotDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(s *SpecialSnapshot)
	}{
		{"a live allocation outside the region", func(s *SpecialSnapshot) { s.Live[0].Page = 0xfffffa80_00000000 }},
		{"a data address that does not fit the mode", func(s *SpecialSnapshot) { s.Live[0].VA += 16 }},
		{"a guard on the wrong side", func(s *SpecialSnapshot) { s.Live[0].Guard = s.Live[0].Page - mm.PageBytes }},
		{"a page recorded twice", func(s *SpecialSnapshot) { s.Waiting = append(s.Waiting, s.Live[0]) }},
		{"counters that disagree with the live allocations", func(s *SpecialSnapshot) { s.Frees++ }},
		{"more waiting than the delay allows", func(s *SpecialSnapshot) { s.Delay = 1; s.Waiting = append(s.Waiting, s.Waiting[0]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{})
			r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun)
			r.free(r.allocSpecial(NonPagedPool, 100, "Spcl", SpecialOverrun))
			s := r.p.Snapshot()
			tt.damage(&s.Special)
			if _, err := Restore(r.m, s); err == nil {
				t.Errorf("Restore accepted a snapshot with %s", tt.name)
			}
		})
	}
}

// Special pool allocations mix with the normal pool's in the tag table
// and in the invariants.
func TestSpecialTagsAndInvariants(t *testing.T) {
	r := newRig(t, spec{})
	normal := r.alloc(NonPagedPool, 40, "Mixd")
	var special []mm.VA
	for i := 0; i < 5; i++ {
		mode := SpecialOverrun
		if i%2 == 1 {
			mode = SpecialUnderrun
		}
		ty := NonPagedPool
		if i >= 3 {
			ty = PagedPool
		}
		special = append(special, r.allocSpecial(ty, uint64(10+i*300), "Mixd", mode))
	}
	ts := r.p.TagStatsOf(TagOf("Mixd"))
	if ts.NonPagedBytes != 64+3*mm.PageBytes || ts.PagedBytes != 2*mm.PageBytes || ts.NonPagedOutstanding() != 4 || ts.PagedOutstanding() != 2 {
		t.Errorf("tag Mixd: %+v; want 4 nonpaged (a 64-byte block and 3 pages) and 2 paged pages", ts)
	}
	r.check()
	for _, va := range special {
		r.free(va)
	}
	r.free(normal)
	if ts := r.p.TagStatsOf(TagOf("Mixd")); ts.NonPagedBytes+ts.PagedBytes != 0 {
		t.Errorf("tag Mixd holds %+v after every free", ts)
	}
	r.check()
}

// A damaged record of a small block (one whose canary would leave the
// page, or that names a site the snapshot does not list, or records that
// do not match the block starts) is an error too, so the checks never
// index past the page.
func TestSnapshotRecordDamage(t *testing.T) {
	// recordOf returns the record of the block starting at unit k.
	recordOf := func(ps *PageSnapshot, k int) *uint32 {
		i := 0
		for u := range k {
			if ps.Starts[u/64]&(1<<(u%64)) != 0 {
				i++
			}
		}
		return &ps.Blocks[i]
	}
	withRequested := func(rec *uint32, n uint64) { *rec = uint32(makeRecord(n, blockRecord(*rec).site())) }
	tests := []struct {
		name   string
		damage func(s *Snapshot, ps *PageSnapshot, k int, off uint64) // k: the block's unit; off: its data's page offset
	}{
		{"more than a small block holds", func(_ *Snapshot, ps *PageSnapshot, k int, _ uint64) {
			withRequested(recordOf(ps, k), MaxSmallBytes+1)
		}},
		{"a canary past the page end", func(_ *Snapshot, ps *PageSnapshot, k int, off uint64) {
			withRequested(recordOf(ps, k), mm.PageBytes-7-off)
		}},
		{"a free block with a site", func(s *Snapshot, ps *PageSnapshot, k int, _ uint64) {
			*recordOf(ps, k) = uint32(makeRecord(0, 1))
		}},
		{"a site the snapshot does not list", func(s *Snapshot, ps *PageSnapshot, k int, _ uint64) {
			*recordOf(ps, k) = uint32(makeRecord(200, uint32(len(s.Sites))))
		}},
		{"a block start without its record", func(_ *Snapshot, ps *PageSnapshot, k int, _ uint64) {
			ps.Blocks = ps.Blocks[:len(ps.Blocks)-1]
		}},
		{"a record without its block start", func(_ *Snapshot, ps *PageSnapshot, k int, _ uint64) {
			ps.Starts[k/64] &^= 1 << (k % 64)
		}},
		{"a site table without the unknown site first", func(s *Snapshot, _ *PageSnapshot, _ int, _ uint64) {
			s.Sites[0].Owner = 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: Config{NoLookaside: true}})
			r.alloc(NonPagedPool, 16, "Aaaa")
			va := r.alloc(NonPagedPool, 200, "Aaaa")
			s := r.p.Snapshot()
			if _, err := Restore(r.m, s); err != nil {
				t.Fatalf("Restore of the undamaged snapshot: %v", err)
			}
			found := false
			for i := range s.Pages {
				if ps := &s.Pages[i]; ps.VA == va.PageBase() {
					tt.damage(s, ps, int(unitOf(va)-1), va.PageOffset())
					found = true
				}
			}
			if !found {
				t.Fatalf("no snapshot of the page of %v", va)
			}
			if _, err := Restore(r.m, s); err == nil {
				t.Errorf("Restore accepted a record of %s", tt.name)
			}
		})
	}
}
