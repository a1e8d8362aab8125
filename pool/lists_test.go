package pool

import (
	"errors"
	"testing"

	"simkern/bugcheck"
)

// A use after free can leave an unaligned address in a list head's Flink
// that passes the link check (what it points at names the entry). The next
// allocation from that list follows it exactly where it points, 8 bytes at
// a time, as the processor would: here into a junk Flink, whose Blink read
// faults at the junk address plus 8.
func TestUnalignedFlinkIsFollowedExactly(t *testing.T) {
	r := newRig(t, spec{cfg: Config{NoLookaside: true}})
	a := r.alloc(NonPagedPool, 64, "AAAA")
	b := r.alloc(NonPagedPool, 64, "BBBB")
	r.alloc(NonPagedPool, 64, "CCCC")
	r.free(b) // alone on its list
	v := a + 4
	const junk = 0x1122334455667788
	r.pokeU64(v+8, uint64(b)) // what V's Blink says: b's entry, so b's unlink passes
	r.pokeU64(v, junk)        // V's Flink
	r.pokeU64(b, uint64(v))   // b's Flink := V
	if va, err := r.p.Allocate(r.c, NonPagedPool, 64, TagOf("DDDD")); err != nil || va != b {
		t.Fatalf("first allocation = %v, %v; want %v (b), which leaves V at the head", va, err, b)
	}
	_, err := r.p.Allocate(r.c, NonPagedPool, 64, TagOf("EEEE"))
	var got *bugcheck.Error
	if !errors.As(err, &got) || got.Code != bugcheck.PageFaultInNonpagedArea || got.P[0] != junk+8 {
		t.Fatalf("second allocation: %v; want 0x50 at %#x (V's Flink + 8)", err, uint64(junk+8))
	}
}
