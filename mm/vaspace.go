package mm

import "github.com/google/btree"

// extent is a run of pages of virtual address space.
type extent struct {
	base  VA
	pages uint64
}

func (e extent) end() VA { return e.base + VA(e.pages*PageBytes) }

// extentSet holds free extents twice: by address, to merge a freed run with
// its neighbours, and by (size, address), to find the smallest run that
// fits. Ties break on address, so the choice is deterministic.
type extentSet struct {
	byAddr, bySize *btree.BTreeG[extent]
	pages          uint64
}

func newExtentSet() extentSet {
	return extentSet{
		byAddr: btree.NewG(8, func(a, b extent) bool { return a.base < b.base }),
		bySize: btree.NewG(8, func(a, b extent) bool {
			return a.pages < b.pages || a.pages == b.pages && a.base < b.base
		}),
	}
}

func (s *extentSet) add(e extent) {
	s.byAddr.ReplaceOrInsert(e)
	s.bySize.ReplaceOrInsert(e)
	s.pages += e.pages
}

func (s *extentSet) remove(e extent) {
	s.byAddr.Delete(e)
	s.bySize.Delete(e)
	s.pages -= e.pages
}

// insert adds a free run, merging it with free runs that touch it.
func (s *extentSet) insert(e extent) {
	var prev, next extent
	var hasPrev, hasNext bool
	s.byAddr.DescendLessOrEqual(extent{base: e.base}, func(p extent) bool {
		prev, hasPrev = p, p.end() == e.base
		return false
	})
	s.byAddr.AscendGreaterOrEqual(extent{base: e.end()}, func(n extent) bool {
		next, hasNext = n, n.base == e.end()
		return false
	})
	if hasPrev {
		s.remove(prev)
		e = extent{prev.base, prev.pages + e.pages}
	}
	if hasNext {
		s.remove(next)
		e.pages += next.pages
	}
	s.add(e)
}

// take removes a run of pages from the smallest free run that fits.
func (s *extentSet) take(pages uint64) (VA, bool) {
	var found extent
	ok := false
	s.bySize.AscendGreaterOrEqual(extent{pages: pages}, func(e extent) bool {
		found, ok = e, true
		return false
	})
	if !ok {
		return 0, false
	}
	s.remove(found)
	if found.pages > pages {
		s.add(extent{found.base + VA(pages*PageBytes), found.pages - pages})
	}
	return found.base, true
}

// lowest removes the free run with the lowest address.
func (s *extentSet) lowest() (extent, bool) {
	e, ok := s.byAddr.Min()
	if ok {
		s.remove(e)
	}
	return e, ok
}

// vaRegion hands out the virtual address space of one region: fresh space
// from a bump pointer, freed space from free. Nonpaged regions keep freed
// pages mapped, as Windows' nonpaged pool keeps its free pages: those runs
// sit in idle, one set per NUMA node, until reused or released under
// memory pressure. A run reserved and given back unmapped, because its
// allocation failed, goes back where it came from, so every page below
// next has been held by an allocation (HandedOut).
type vaRegion struct {
	next, end VA
	free      extentSet   // unmapped
	idle      []extentSet // mapped, by node of their frames (nonpaged only)
	mapped    uint64      // pages mapped in this region, idle included
	fresh     bool        // the last reserve bumped next
}

func newVARegion(r Region, nodes int) *vaRegion {
	v := &vaRegion{next: r.Base(), end: r.Base() + VA(r.Bytes()), free: newExtentSet()}
	if r == RegionNonPagedPool {
		v.idle = make([]extentSet, nodes)
		for i := range v.idle {
			v.idle[i] = newExtentSet()
		}
	}
	return v
}

// reserve returns unmapped address space for pages, or false when the
// region is full.
func (v *vaRegion) reserve(pages uint64) (VA, bool) {
	if va, ok := v.free.take(pages); ok {
		v.fresh = false
		return va, true
	}
	if uint64(v.end-v.next)/PageBytes < pages {
		return 0, false
	}
	va := v.next
	v.next += VA(pages * PageBytes)
	v.fresh = true
	return va, true
}

// unreserve gives back the run the last reserve returned.
func (v *vaRegion) unreserve(va VA, pages uint64) {
	if v.fresh {
		v.next = va
		return
	}
	v.free.insert(extent{va, pages})
}

// idlePages counts mapped pages waiting for reuse.
func (v *vaRegion) idlePages() uint64 {
	var n uint64
	for i := range v.idle {
		n += v.idle[i].pages
	}
	return n
}
