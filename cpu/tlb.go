package cpu

// TLBEntries is the number of entries in each CPU's TLB (direct mapped),
// about the size of a modern x64 second-level TLB: enough that a pool
// working set of a few thousand pages mostly hits.
const TLBEntries = 2048

// TLBEntry caches one translation. VPN is the virtual page number plus one,
// so the zero entry is empty.
type TLBEntry struct {
	VPN      uint64
	Frame    uint64           // page frame number
	Data     *[PageBytes]byte // the frame's bytes
	Writable bool
	Dirty    bool // the PTE's D bit is already set: a write needs no walk
}

// PageBytes is the size of a page; the TLB caches whole pages.
const PageBytes = 4096

// TLB is a direct-mapped translation cache.
type TLB struct {
	entries [TLBEntries]TLBEntry
	Hits    uint64
	Misses  uint64
}

// Lookup returns the entry for the page holding va, or nil on a miss.
func (t *TLB) Lookup(va uint64) *TLBEntry {
	vpn := va>>12 + 1
	e := &t.entries[vpn%TLBEntries]
	if e.VPN == vpn {
		t.Hits++
		return e
	}
	t.Misses++
	return nil
}

// Insert caches a translation for the page holding va.
func (t *TLB) Insert(va, frame uint64, data *[PageBytes]byte, writable, dirty bool) *TLBEntry {
	vpn := va>>12 + 1
	e := &t.entries[vpn%TLBEntries]
	*e = TLBEntry{VPN: vpn, Frame: frame, Data: data, Writable: writable, Dirty: dirty}
	return e
}

// Invalidate drops the translation of the page holding va (INVLPG).
func (t *TLB) Invalidate(va uint64) {
	vpn := va>>12 + 1
	if e := &t.entries[vpn%TLBEntries]; e.VPN == vpn {
		*e = TLBEntry{}
	}
}

// Flush drops every translation (a CR3 reload).
func (t *TLB) Flush() {
	t.entries = [TLBEntries]TLBEntry{}
}
