package pool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"simkern/mm"
)

// le64 lays v out as the 8 little-endian bytes memory holds.
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// cat joins byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// The bytes in simulated memory, compared with bytes worked out by hand
// from the x64 _POOL_HEADER layout (PreviousSize, PoolIndex, BlockSize,
// PoolType, then the tag little-endian, then ProcessBilled) and WRK's
// PoolType encoding: allocated = (base type + 1) | 4, lookaside = in-use
// bit clear, free list = 0.
func TestHeaderBytes(t *testing.T) {
	abcd := []byte{'A', 'b', 'c', 'd'}
	zero8 := make([]byte, 8)

	tests := []struct {
		name string
		cfg  Config
		// setup acts on a fresh pool and returns the address to read and
		// the bytes expected there.
		setup func(r *rig) (at mm.VA, want []byte)
	}{
		{
			name: "a 1-byte NonPagedPool block at a fresh page is 2 units of type 5",
			setup: func(r *rig) (mm.VA, []byte) {
				va := r.alloc(NonPagedPool, 1, "Abcd")
				if va.PageOffset() != HeaderBytes {
					r.t.Fatalf("first block at page offset %#x, want %#x", va.PageOffset(), HeaderBytes)
				}
				// prev 0 (first in page), index 0, 2 units (16 + 1 + 8
				// canary rounds to 32), type 0+1 | in use 4.
				return va - HeaderBytes, cat([]byte{0x00, 0x00, 0x02, 0x05}, abcd, zero8)
			},
		},
		{
			name: "the rest of the fresh page is one free fragment of 254 units on list 254",
			setup: func(r *rig) (mm.VA, []byte) {
				va := r.alloc(NonPagedPool, 1, "Abcd")
				frag := va - HeaderBytes + 2*UnitBytes
				head := r.p.descs[0].ListHeads + 253*UnitBytes // ListHeads[254-1]
				// prev 2, index 0, 254 = 0xfe units, type 0 (free), tag
				// 'Free'; then its LIST_ENTRY: the only entry of its list,
				// so Flink and Blink both name the head.
				return frag, cat([]byte{0x02, 0x00, 0xfe, 0x00}, []byte("Free"), zero8, le64(uint64(head)), le64(uint64(head)))
			},
		},
		{
			name: "a PagedPool block has type 6 (base 1, plus one, in use)",
			setup: func(r *rig) (mm.VA, []byte) {
				va := r.alloc(PagedPool, 100, "Abcd")
				// 16 + 100 + 8 = 124 bytes: 8 units.
				return va - HeaderBytes, cat([]byte{0x00, 0x00, 0x08, 0x06}, abcd, zero8)
			},
		},
		{
			name: "a NonPagedPoolNx block has type 5: the NX bit is not in the header",
			setup: func(r *rig) (mm.VA, []byte) {
				va := r.alloc(NonPagedPoolNx, 40, "Abcd")
				// 16 + 40 + 8 = 64 bytes: 4 units.
				return va - HeaderBytes, cat([]byte{0x00, 0x00, 0x04, 0x05}, abcd, zero8)
			},
		},
		{
			name: "a PagedPoolCacheAligned block is stored as its base type",
			setup: func(r *rig) (mm.VA, []byte) {
				va := r.alloc(PagedPoolCacheAligned, 1, "Abcd")
				return va - HeaderBytes, cat([]byte{0x00, 0x00, 0x02, 0x06}, abcd, zero8)
			},
		},
		{
			name: "a protected tag keeps its high bit in the header",
			setup: func(r *rig) (mm.VA, []byte) {
				va, err := r.p.Allocate(r.c, NonPagedPool, 1, TagOf("Abcd")|ProtectedTag)
				if err != nil || va == 0 {
					r.t.Fatalf("Allocate: %v, %v", va, err)
				}
				return va - HeaderBytes, cat([]byte{0x00, 0x00, 0x02, 0x05}, []byte{'A', 'b', 'c', 'd' | 0x80}, zero8)
			},
		},
		{
			name: "a block on a lookaside list shows type 1: in-use bit clear, type kept",
			setup: func(r *rig) (mm.VA, []byte) {
				va := r.alloc(NonPagedPool, 1, "Abcd")
				r.free(va)
				if n := r.p.Lookaside(0, 0, 2).Len(); n != 1 {
					r.t.Fatalf("lookaside list for 2 units holds %d blocks, want 1", n)
				}
				return va - HeaderBytes, cat([]byte{0x00, 0x00, 0x02, 0x01}, abcd, zero8)
			},
		},
		{
			name: "a second block takes the back of the fragment: prev is the fragment's size",
			setup: func(r *rig) (mm.VA, []byte) {
				r.alloc(NonPagedPool, 1, "Abcd")
				va := r.alloc(NonPagedPool, 1, "Wxyz")
				// The fragment of 254 units gives its last 2: the block
				// sits at 0x1000-0x20 and the fragment keeps 252 = 0xfc.
				if off := (va - HeaderBytes).PageOffset(); off != 0xfe0 {
					r.t.Fatalf("second block's header at page offset %#x, want 0xfe0", off)
				}
				return va - HeaderBytes, cat([]byte{0xfc, 0x00, 0x02, 0x05}, []byte("Wxyz"), zero8)
			},
		},
		{
			name: "a block on a free list has type 0 and its LIST_ENTRY names its list head",
			cfg:  Config{NoLookaside: true},
			setup: func(r *rig) (mm.VA, []byte) {
				r.alloc(NonPagedPool, 1, "Kkkk")        // 2 units at 0x000
				b := r.alloc(NonPagedPool, 100, "Bbbb") // 8 units at 0xf80
				r.alloc(NonPagedPool, 1, "Cccc")        // 2 units at 0xf60
				r.free(b)
				// Its neighbours are in use, so it stays an 8-unit block
				// with prev 2 (C), tag kept, alone on ListHeads[8-1].
				head := r.p.descs[0].ListHeads + 7*UnitBytes
				return b - HeaderBytes, cat([]byte{0x02, 0x00, 0x08, 0x00}, []byte("Bbbb"), zero8, le64(uint64(head)), le64(uint64(head)))
			},
		},
		{
			name: "two free blocks of one size are linked to each other, newest first",
			cfg:  Config{NoLookaside: true},
			setup: func(r *rig) (mm.VA, []byte) {
				r.alloc(NonPagedPool, 1, "Kkkk")         // 0x000
				b1 := r.alloc(NonPagedPool, 100, "Bbbb") // 0xf80
				r.alloc(NonPagedPool, 1, "Cccc")         // 0xf60
				b2 := r.alloc(NonPagedPool, 100, "Bbbb") // 0xee0
				r.alloc(NonPagedPool, 1, "Cccc")         // 0xec0
				r.free(b1)
				r.free(b2)
				// b2 went in at the head: Flink = b1's entry, Blink = head.
				head := r.p.descs[0].ListHeads + 7*UnitBytes
				return b2 - HeaderBytes, cat([]byte{0x02, 0x00, 0x08, 0x00}, []byte("Bbbb"), zero8, le64(uint64(b1)), le64(uint64(head)))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: tt.cfg})
			at, want := tt.setup(r)
			if got := r.peek(at, len(want)); !bytes.Equal(got, want) {
				t.Errorf("bytes at %v:\n got % x\nwant % x", at, got, want)
			}
			r.check()
		})
	}
}

// The Header type decodes what the bytes say.
func TestHeaderDecoding(t *testing.T) {
	r := newRig(t, spec{})
	va := r.alloc(NonPagedPool, 1, "Abcd")
	h := r.header(va)
	want := Header{PreviousSize: 0, PoolIndex: 0, BlockSize: 2, PoolType: 5, PoolTag: TagOf("Abcd")}
	if h != want {
		t.Fatalf("header = %+v, want %+v", h, want)
	}
	if got, want := h.Ulong1(), uint32(0x05020000); got != want {
		t.Errorf("Ulong1 = %#x, want %#x", got, want)
	}
	if !h.Allocated() || h.OnLookaside() || h.Free() {
		t.Errorf("allocated header: Allocated %v OnLookaside %v Free %v, want true false false", h.Allocated(), h.OnLookaside(), h.Free())
	}
	r.free(va)
	h = r.header(va)
	if h.Allocated() || !h.OnLookaside() || h.Free() {
		t.Errorf("lookaside header: Allocated %v OnLookaside %v Free %v, want false true false", h.Allocated(), h.OnLookaside(), h.Free())
	}
}

// Block sizes: the header, the data and an 8-byte canary, in 16-byte
// units, capped at 255 (where the canary gets shorter or vanishes).
func TestUnitsFor(t *testing.T) {
	tests := []struct {
		name  string
		n     uint64
		units Units
		room  uint64 // data bytes of the block
	}{
		{"a 1-byte request is 2 units", 1, 2, 16},
		{"an 8-byte request still fits 2 units with its canary", 8, 2, 16},
		{"a 9-byte request needs a third unit for the canary", 9, 3, 32},
		{"a 40-byte request gets 48 data bytes: the canary fills the slack", 40, 4, 48},
		{"a 48-byte request gets 64: the canary needs 8 more", 48, 5, 64},
		{"the largest lookaside size is 488 bytes", 488, 32, 496},
		{"489 bytes is one unit past the lookaside lists", 489, 33, 512},
		{"4056 bytes is 255 units with a whole canary", 4056, 255, 4064},
		{"4060 bytes is 255 units with a 4-byte canary", 4060, 255, 4064},
		{"4064 bytes, the largest small request, has no canary", 4064, 255, 4064},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unitsFor(tt.n); got != tt.units {
				t.Errorf("unitsFor(%d) = %d, want %d", tt.n, got, tt.units)
			}
			if got := roomFor(tt.n); got != tt.room {
				t.Errorf("roomFor(%d) = %d, want %d", tt.n, got, tt.room)
			}
		})
	}
}

// Which pool types map their pages no-execute: POOL_NX_ALLOCATION (0x200)
// picks the NX descriptor, with or without other bits; paged pool is NX
// on x64; NonPagedPool is executable.
func TestNoExecute(t *testing.T) {
	tests := []struct {
		name string
		t    Type
		nx   bool
	}{
		{"NonPagedPool is executable", NonPagedPool, false},
		{"NonPagedPoolCacheAligned is executable", NonPagedPoolCacheAligned, false},
		{"NonPagedPoolMustSucceed is executable", NonPagedPoolMustSucceed, false},
		{"NonPagedPoolNx is not", NonPagedPoolNx, true},
		{"NonPagedPoolNxCacheAligned (516) is not", NonPagedPoolNx | NonPagedPoolCacheAligned, true},
		{"PagedPool is not", PagedPool, true},
	}
	for _, tt := range tests {
		for _, n := range []uint64{100, 10000} {
			t.Run(fmt.Sprintf("%s, %d bytes", tt.name, n), func(t *testing.T) {
				r := newRig(t, spec{})
				va := r.alloc(tt.t, n, "NoEx")
				// Paged pages are demand-zero until touched.
				if _, err := r.m.ReadU64(r.c, va); err != nil {
					t.Fatal(err)
				}
				if got := r.m.PTE(va).NoExecute(); got != tt.nx {
					t.Errorf("%v page NX = %v, want %v", tt.t, got, tt.nx)
				}
			})
		}
	}
}
