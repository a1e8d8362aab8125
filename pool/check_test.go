package pool

import (
	"math/rand/v2"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
)

// checkPageWalk has two ways to read the page: straight from the CPU's TLB
// entry on the free path, and through peeks (or mm) otherwise. Both must
// give the same answer.
func TestCheckPageWalkBothWays(t *testing.T) {
	tests := []struct {
		name string
		// corrupt damages the page of k (2 units at 0x000), b (64 units
		// at 0xc00) and c (2 units at 0xbe0), with the fragment of 188
		// units at 0x020, and returns the entry to look for and the
		// bugcheck expected (nil: the walk is fine).
		corrupt func(r *rig, page mm.VA) (entry mm.VA, want *bugcheck.Error)
	}{
		{
			name: "an intact page passes",
			corrupt: func(r *rig, page mm.VA) (mm.VA, *bugcheck.Error) {
				return page + 0xc00, nil
			},
		},
		{
			name: "a fragment too big overshoots the page end",
			corrupt: func(r *rig, page mm.VA) (mm.VA, *bugcheck.Error) {
				r.poke(page+0x20+2, []byte{0xff})
				return page + 0xc00, bc(badPoolHeader, 0xA, uint64(page+0xc00), 0, uint64(page))
			},
		},
		{
			name: "a fragment too small stops on zero bytes",
			corrupt: func(r *rig, page mm.VA) (mm.VA, *bugcheck.Error) {
				r.poke(page+0x20+2, []byte{10})
				return page + 0xc00, bc(badPoolHeader, 0xA, uint64(page+0xc00), 0, uint64(page))
			},
		},
		{
			name: "a walk that ends right but skips the entry",
			corrupt: func(r *rig, page mm.VA) (mm.VA, *bugcheck.Error) {
				// The fragment swallows c: 188+2 units, landing on b.
				r.poke(page+0x20+2, []byte{190})
				return page + 0xbe0, bc(badPoolHeader, 0xA, uint64(page+0xbe0), 0, uint64(page))
			},
		},
		{
			name: "an entry that is not a block start is not found",
			corrupt: func(r *rig, page mm.VA) (mm.VA, *bugcheck.Error) {
				return page + 0xc10, bc(badPoolHeader, 0xA, uint64(page+0xc10), 0, uint64(page))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, spec{cfg: Config{NoLookaside: true}})
			k := r.alloc(NonPagedPool, 1, "Keep")
			r.alloc(NonPagedPool, 1000, "Abcd")
			r.alloc(NonPagedPool, 1, "Keep")
			page := k.PageBase()
			entry, want := tt.corrupt(r, page)
			if r.c.TLB.Cached(uint64(page), false) == nil {
				t.Fatalf("test setup: the TLB does not map %v", page)
			}
			walk := func(c *cpu.CPU) error {
				page, err := r.p.bytesOf(c, entry)
				if err != nil {
					return err
				}
				return checkPageWalk(page, entry, &r.p.pageOf(entry).starts)
			}
			ways := []struct {
				name string
				err  error
			}{
				{"through the TLB", walk(r.c)},
				{"peeking", walk(nil)},
			}
			r.c.TLB.Flush()
			ways = append(ways, struct {
				name string
				err  error
			}{"through mm after a TLB flush", walk(r.c)})
			for _, w := range ways {
				if want == nil {
					if w.err != nil {
						t.Errorf("%s: %v, want no error", w.name, w.err)
					}
					continue
				}
				t.Run(w.name, func(t *testing.T) { simtest.WantBugcheck(t, w.err, want) })
			}
		})
	}
}

// The page walk's shortcut (startsChain) gives the serial walk's verdict:
// over random layouts, some damaged in a header or in the records, and
// random entries (recorded starts, other units, unaligned offsets),
// checkPageWalk fails exactly when walking from the page start by
// BlockSize misses the entry or the page end.
func TestPageWalkShortcutAgreesWithTheWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const page = mm.VA(0xfffffa8000010000)
	shortcuts := 0
	for range 20000 {
		var bytes [mm.PageBytes]byte
		var starts unitSet
		var recorded []uint64
		for u := uint64(0); u < PageUnits; {
			size := min(1+rng.Uint64N(40), PageUnits-u)
			bytes[u*UnitBytes+2] = byte(size)
			starts.add(Units(u))
			recorded = append(recorded, u*UnitBytes)
			u += size
		}
		switch rng.IntN(4) {
		case 0: // a damaged BlockSize, zero or past the page end included
			bytes[rng.IntN(PageUnits)*UnitBytes+2] = byte(rng.IntN(256))
		case 1: // a record that says a block starts, or does not, wrongly
			u := rng.IntN(PageUnits)
			starts[u/64] ^= 1 << (u % 64)
		}
		if startsChain(bytes[:], &starts) {
			shortcuts++
		}
		for range 4 {
			var off uint64
			switch rng.IntN(3) {
			case 0:
				off = recorded[rng.IntN(len(recorded))]
			case 1:
				off = rng.Uint64N(PageUnits) * UnitBytes
			default:
				off = rng.Uint64N(mm.PageBytes)
			}
			at := walkBlocks(bytes[:], 0, off)
			walkFails := at != off || walkBlocks(bytes[:], at, mm.PageBytes) != mm.PageBytes
			if err := checkPageWalk(bytes[:], page+mm.VA(off), &starts); (err != nil) != walkFails {
				t.Fatalf("entry at %#x: checkPageWalk says %v, the serial walk fails: %v", off, err, walkFails)
			}
		}
	}
	if shortcuts < 1000 {
		t.Fatalf("the shortcut applied to only %d of the layouts: the test checks too little", shortcuts)
	}
}

// TestCanaryKeyIsPerBoot: the canary comes from a secret each boot draws
// from the machine's seed, so the same block on machines of another seed
// has another canary (a driver cannot learn it once and forge it), and on
// a machine of the same seed the same one (a run replays).
func TestCanaryKeyIsPerBoot(t *testing.T) {
	canaryOn := func(seed uint64) (mm.VA, uint64) {
		r := newRig(t, spec{seed: seed})
		va := r.alloc(NonPagedPool, 40, "Abcd")
		return va, r.peekU64(va + 40)
	}
	va1, k1 := canaryOn(1)
	va2, k2 := canaryOn(2)
	again, k1again := canaryOn(1)
	if va1 != va2 || va1 != again {
		t.Fatalf("the block is at %v, %v and %v; want one address on every machine", va1, va2, again)
	}
	if k1 == k2 {
		t.Errorf("seeds 1 and 2 give the block at %v the same canary %#x", va1, k1)
	}
	if k1 != k1again {
		t.Errorf("seed 1 gives the block at %v canary %#x, then %#x", va1, k1, k1again)
	}
}
