package cpu

// TLBEntries is the number of entries in each CPU's TLB (direct mapped),
// about the size of a modern x64 second-level TLB: enough that a pool
// working set of a few thousand pages mostly hits.
const TLBEntries = 2048

// TLBEntry caches one translation in 16 bytes, so the whole TLB is 32 KiB
// and stays in the host's first-level cache: the page's bytes, and a key
// that is the virtual page number plus one, shifted left once, with bit 0
// set when the PTE's D bit was already set (a write needs no walk). The
// zero entry is empty: no page has key 0.
type TLBEntry struct {
	key  uint64
	data *[PageBytes]byte
}

// PageBytes is the size of a page; the TLB caches whole pages.
const PageBytes = 4096

// TLB is a direct-mapped translation cache.
type TLB struct {
	entries [TLBEntries]TLBEntry
	// Hits counts accesses Cached served; Misses counts the table walks
	// the memory manager made instead (a miss, or a first write to a page
	// cached clean).
	Hits, Misses uint64
	// filled says an entry may be in use since the last Flush, so that
	// flushing the TLBs of a many-CPU machine costs only the ones used.
	filled bool
}

func tlbKey(va uint64) uint64 { return (va>>12 + 1) << 1 }

// Cached returns the bytes of the page holding va when the TLB has a
// translation good for the access: any, for a read; one made after the D
// bit was set, for a write. It counts a hit. Otherwise it returns nil and
// the caller walks the tables (and counts the miss). It is small enough to
// inline, so a hit costs a few instructions.
func (t *TLB) Cached(va uint64, write bool) *[PageBytes]byte {
	key := tlbKey(va)
	e := &t.entries[key>>1%TLBEntries]
	if e.key == key|1 || !write && e.key == key {
		t.Hits++
		return e.data
	}
	return nil
}

// Insert caches a translation for the page holding va; dirty says the
// PTE's D bit is set.
func (t *TLB) Insert(va uint64, data *[PageBytes]byte, dirty bool) {
	key := tlbKey(va)
	if dirty {
		key |= 1
	}
	t.entries[key>>1%TLBEntries] = TLBEntry{key: key, data: data}
	t.filled = true
}

// Invalidate drops the translation of the page holding va (INVLPG).
func (t *TLB) Invalidate(va uint64) {
	key := tlbKey(va)
	if e := &t.entries[key>>1%TLBEntries]; e.key|1 == key|1 {
		*e = TLBEntry{}
	}
}

// Flush drops every translation (a CR3 reload).
func (t *TLB) Flush() {
	if t.filled {
		t.entries = [TLBEntries]TLBEntry{}
		t.filled = false
	}
}
