package pool

import "simkern/mm"

// Per-CPU lookaside lists: for each pool class (nonpaged, nonpaged NX,
// paged) and each block size up to LookasideMaxUnits, a small stack of
// freed blocks the CPU can hand out again without touching a free list.
// A block on a lookaside list keeps its header, with the in-use bit clear
// so a second free of it is still caught. The stack itself lives in Go:
// in Windows it is an SLIST threaded through the blocks, a detail no check
// depends on.
//
// Depth adapts as Windows' balance set manager makes it (ExAdjustLookasideDepth):
// every lookasideScanOps operations on a CPU, a list that missed often grows
// and one that was barely used shrinks, between LookasideMinDepth and
// LookasideMaxDepth.

// Lookaside limits.
const (
	LookasideMaxUnits = 32 // blocks up to 512 bytes, header included
	LookasideMinDepth = 4
	LookasideMaxDepth = 256
	lookasideScanOps  = 4096
	// LookasideClasses is the number of lookaside sets per CPU: nonpaged,
	// nonpaged NX and paged, in that order (the class Lookaside takes).
	LookasideClasses = 3
)

// LookasideList is one GENERAL_LOOKASIDE_POOL.
type LookasideList struct {
	blocks []mm.VA // data addresses, most recently freed last
	Depth  int

	TotalAllocates, AllocateHits uint64
	TotalFrees, FreeHits         uint64

	// counters at the last depth adjustment
	lastAllocates, lastHits uint64
}

// Len returns the blocks on the list.
func (l *LookasideList) Len() int { return len(l.blocks) }

func (l *LookasideList) pop() mm.VA {
	l.TotalAllocates++
	n := len(l.blocks)
	if n == 0 {
		return 0
	}
	l.AllocateHits++
	va := l.blocks[n-1]
	l.blocks = l.blocks[:n-1]
	return va
}

// push parks va and counts the free as a hit. The caller has checked that
// the list has room (Len() < Depth) and counts a free that misses itself.
func (l *LookasideList) push(va mm.VA) {
	l.TotalFrees++
	l.FreeHits++
	if l.blocks == nil {
		l.blocks = make([]mm.VA, 0, LookasideMaxDepth)
	}
	l.blocks = append(l.blocks, va)
}

// adjustDepth recomputes the depth from the allocations since the last
// scan, the way ExpComputeLookasideDepth does: few allocations shrink it,
// a miss rate above 0.5% grows it in proportion to the misses.
func (l *LookasideList) adjustDepth() {
	allocs := l.TotalAllocates - l.lastAllocates
	misses := allocs - (l.AllocateHits - l.lastHits)
	l.lastAllocates, l.lastHits = l.TotalAllocates, l.AllocateHits
	switch {
	case allocs < 75:
		l.Depth = max(l.Depth-10, LookasideMinDepth)
	case misses*1000/allocs < 5:
		l.Depth = max(l.Depth-1, LookasideMinDepth)
	default:
		ratio := int(misses * 1000 / allocs)
		grow := ratio*(LookasideMaxDepth-l.Depth)/2000 + 5
		l.Depth = min(l.Depth+grow, LookasideMaxDepth)
	}
}

// prcb is the pool's part of a processor's KPRCB.
type prcb struct {
	lists [LookasideClasses][LookasideMaxUnits]LookasideList
	ops   int
}

func newPrcb() *prcb {
	r := &prcb{}
	for c := range r.lists {
		for u := range r.lists[c] {
			r.lists[c][u].Depth = LookasideMinDepth
		}
	}
	return r
}

// tick counts a pool operation and runs the depth scan when it is due.
// Blocks above a shrunken depth stay until allocated: a depth limits
// pushes, not the list.
func (r *prcb) tick() {
	if r.ops++; r.ops >= lookasideScanOps {
		r.adjustDepths()
	}
}

func (r *prcb) adjustDepths() {
	r.ops = 0
	for c := range r.lists {
		for u := range r.lists[c] {
			r.lists[c][u].adjustDepth()
		}
	}
}

// lookasideClass picks the lookaside set of a descriptor.
func lookasideClass(d *Descriptor) int {
	switch {
	case d.Type == PagedPool:
		return 2
	case d.NX:
		return 1
	}
	return 0
}
