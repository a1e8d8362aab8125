package pool

import "slices"

// TagStats is one row of the pool tracker table (POOL_TRACKER_TABLE), what
// !poolused prints. Bytes are block bytes with the header for small blocks
// and whole pages for big allocations, as Windows counts them.
//
// Bytes and the outstanding counts are signed, as Windows' counters are:
// a free is charged to the tag in the block's header, so a block whose
// tag a stray write renamed leaves the new tag below zero.
type TagStats struct {
	Tag                           Tag
	NonPagedAllocs, NonPagedFrees uint64
	NonPagedBytes                 int64
	PagedAllocs, PagedFrees       uint64
	PagedBytes                    int64
}

// NonPagedOutstanding returns the nonpaged allocations not yet freed.
func (s TagStats) NonPagedOutstanding() int64 { return int64(s.NonPagedAllocs - s.NonPagedFrees) }

// PagedOutstanding returns the paged allocations not yet freed.
func (s TagStats) PagedOutstanding() int64 { return int64(s.PagedAllocs - s.PagedFrees) }

// tagTable is an open-addressing hash table of TagStats keyed by tag, with
// the kernel's hash (tag * 40543, folded). It grows by doubling, so it
// never overflows; the protected bit is stripped from keys.
type tagTable struct {
	rows []TagStats // Tag 0 marks an empty row
	used int
	// hint is the row found last: a driver allocates and frees with the
	// same few tags, so most lookups end here without hashing.
	hint int
	// zeroTag holds the statistics of tag 0, which cannot be a key.
	zeroTag TagStats
}

func (t *tagTable) init() { t.rows = make([]TagStats, 256) }

func tagHash(tag Tag) uint64 {
	h := uint64(tag) * 40543
	return h ^ h>>32
}

// row returns tag's row, adding it if needed.
func (t *tagTable) row(tag Tag) *TagStats {
	tag &^= ProtectedTag
	if tag == 0 {
		return &t.zeroTag
	}
	if t.hint < len(t.rows) && t.rows[t.hint].Tag == tag {
		return &t.rows[t.hint]
	}
	i, found := t.slot(tag)
	if !found {
		if (t.used+1)*4 > len(t.rows)*3 {
			t.grow()
			return t.row(tag)
		}
		t.rows[i].Tag = tag
		t.used++
	}
	t.hint = int(i)
	return &t.rows[i]
}

// slot probes for tag (nonzero, without ProtectedTag): its row's index
// and true, or the index of the empty row where it would go and false.
func (t *tagTable) slot(tag Tag) (uint64, bool) {
	mask := uint64(len(t.rows) - 1)
	for i := tagHash(tag) & mask; ; i = (i + 1) & mask {
		switch t.rows[i].Tag {
		case tag:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (t *tagTable) grow() {
	old := t.rows
	t.rows = make([]TagStats, 2*len(old))
	t.used = 0
	for _, r := range old {
		if r.Tag != 0 {
			*t.row(r.Tag) = r
		}
	}
}

func (t *tagTable) alloc(tag Tag, paged bool, bytes uint64) {
	r := t.row(tag)
	if paged {
		r.PagedAllocs++
		r.PagedBytes += int64(bytes)
	} else {
		r.NonPagedAllocs++
		r.NonPagedBytes += int64(bytes)
	}
}

func (t *tagTable) free(tag Tag, paged bool, bytes uint64) {
	r := t.row(tag)
	if paged {
		r.PagedFrees++
		r.PagedBytes -= int64(bytes)
	} else {
		r.NonPagedFrees++
		r.NonPagedBytes -= int64(bytes)
	}
}

// Tags returns every tag's statistics, sorted by tag bytes in memory
// order (the order !poolused sorts by: 'AGP ' before 'AcdN').
func (p *Pool) Tags() []TagStats {
	var out []TagStats
	for _, r := range p.tags.rows {
		if r.Tag != 0 {
			out = append(out, r)
		}
	}
	if z := p.tags.zeroTag; z.NonPagedAllocs+z.PagedAllocs > 0 {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b TagStats) int {
		return compareTagBytes(a.Tag, b.Tag)
	})
	return out
}

// compareTagBytes orders tags by their characters, first character first.
func compareTagBytes(a, b Tag) int {
	for i := 0; i < 32; i += 8 {
		x, y := byte(a>>i), byte(b>>i)
		if x != y {
			return int(x) - int(y)
		}
	}
	return 0
}
