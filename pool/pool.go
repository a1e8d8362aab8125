package pool

import (
	"fmt"
	"iter"

	"simkern/cpu"
	"simkern/mm"
)

// Config tunes a pool. The zero value is Windows-like.
type Config struct {
	// NoLookaside turns the per-CPU lookaside lists off (every block goes
	// back to the free lists), for tests that compare the two.
	NoLookaside bool
	// VerifyEveryOp validates every pool page after each allocate and free
	// (the base of !poolval), raising the bugcheck a corruption amounts to
	// as soon as it exists. Slow: for tests and debugging.
	VerifyEveryOp bool
}

// Descriptor is a POOL_DESCRIPTOR: one pool's free lists and counters.
// There is one nonpaged descriptor and one NX nonpaged descriptor per NUMA
// node, and one paged descriptor.
type Descriptor struct {
	Type   Type   // NonPagedPool, NonPagedPoolNx or PagedPool
	slot   uint16 // its index in Pool.descs (up to 2*256+1 descriptors)
	Index  uint8
	Node   int
	Region mm.Region
	NX     bool

	// ListHeads is the address of 256 LIST_ENTRY heads in nonpaged
	// memory. Head i holds the free blocks of exactly i+1 units, linked
	// through a LIST_ENTRY in each block's data.
	//
	// Invariant: a block is on a list iff its header's PoolType is 0 and
	// its BlockSize is not 1 (one-unit fragments are on no list).
	// Invariant: no two free blocks are neighbours on a page.
	ListHeads mm.VA

	// nonEmpty has bit i set when list i may hold a block: a hint that
	// spares the allocator reading 256 heads. Every removal re-checks the
	// real head, so a stale bit costs a read, never a wrong answer.
	nonEmpty unitSet

	RunningAllocs, RunningDeAllocs uint64
	TotalPages, TotalBigPages      uint64 // small-block pages; pages of big allocations
	TotalBytes                     uint64 // block bytes in use, headers included
}

// pageKind says what a page of a pool region is to the pool. Only the
// first page of a big allocation has a record: the big page table knows
// the rest, so a huge allocation that touches one page costs one record.
// The values are what dumps hold.
type pageKind uint8

const (
	pageNone       pageKind = 0 // not the pool's (never used, or given back)
	pageSmall      pageKind = 1 // carved into blocks
	pageBigFirst   pageKind = 2 // first page of a big allocation
	pageDescriptor pageKind = 3 // holds a descriptor's ListHeads
)

// pageInfo is the pool's own record of one page. The headers in the page
// stay the truth about its blocks; starts and blocks add what the kernel
// would keep elsewhere or not at all.
type pageInfo struct {
	kind pageKind
	desc uint16 // index into Pool.descs
	// starts holds u when a block's header is at unit u of a
	// small-block page. It lives here, in the array of every
	// page's pageInfo that stays in the host's cache, because every free
	// asks it first and the page walk follows it (checkPageWalk).
	starts unitSet
	blocks []blockRecord // small-block pages only: PageUnits records
}

// unitSet is a set of the PageUnits unit indexes of a page, a bit each
// (bit u%64 of word u/64): where a page's blocks start, which of a
// descriptor's free lists may hold blocks.
type unitSet [PageUnits / 64]uint64

func (s *unitSet) has(u Units) bool { return s[u/64]&(1<<(u%64)) != 0 }
func (s *unitSet) add(u Units)      { s[u/64] |= 1 << (u % 64) }
func (s *unitSet) remove(u Units)   { s[u/64] &^= 1 << (u % 64) }

// holdsBlockAt reports whether va is where the data of a block this page
// records starts. pi may be nil (va is in no pool page).
func (pi *pageInfo) holdsBlockAt(va mm.VA) bool {
	return pi != nil && pi.kind == pageSmall && va%UnitBytes == 0 && va.PageOffset() >= HeaderBytes && pi.starts.has(unitOf(va)-1)
}

// blockRecord is what the pool knows of an allocated block beyond its
// header, kept in pageInfo.blocks at the unit of the header, in 32 bits:
// the bytes asked for in the low 12 (where the canary sits; 0 for a block
// that is not allocated) and the block's allocation site in the rest (an
// index into Pool.sites: the code address that asked and the tag it asked
// with, for leak reports, which must name blocks whose page is in the
// pagefile). Small records keep the records of every pool page a quarter
// of the host cache they would otherwise take, and an allocate/free loop
// is bound by cache misses. pageInfo.blocks is a slice, not a pointer to
// an array, because Go checks a pointer for nil by reading what it points
// to: a host cache miss on the records' first line, where a slice's bounds
// check reads only the length beside it.
type blockRecord uint32

const requestedBits = 12 // MaxSmallBytes < 1<<requestedBits

func makeRecord(requested uint64, site uint32) blockRecord {
	return blockRecord(site<<requestedBits | uint32(requested))
}

func (r blockRecord) requested() uint64 { return uint64(r & (1<<requestedBits - 1)) }
func (r blockRecord) site() uint32      { return uint32(r >> requestedBits) }

// regionPages maps the pages of one region, from its base, to their
// pageInfo, in chunks of pageChunk records made when a page in them is
// first recorded: pages far apart (small blocks after a huge big
// allocation) cost a chunk each, not a record for every page between.
// A chunk never moves, so a *pageInfo stays good.
type regionPages struct {
	base   mm.VA
	chunks []*[pageChunk]pageInfo
}

const pageChunk = 512 // 2 MiB of region a chunk

// info returns the record of the page at va, or nil when no page of its
// chunk was ever recorded.
func (r *regionPages) info(va mm.VA) *pageInfo {
	i := uint64(va-r.base) >> mm.PageShift
	if i/pageChunk >= uint64(len(r.chunks)) { // below base, i wraps to a huge number
		return nil
	}
	c := r.chunks[i/pageChunk]
	if c == nil {
		return nil
	}
	return &c[i%pageChunk]
}

// set records pi for the page at va.
func (r *regionPages) set(va mm.VA, pi pageInfo) {
	i := uint64(va-r.base) >> mm.PageShift
	for uint64(len(r.chunks)) <= i/pageChunk {
		r.chunks = append(r.chunks, nil)
	}
	if r.chunks[i/pageChunk] == nil {
		r.chunks[i/pageChunk] = new([pageChunk]pageInfo)
	}
	r.chunks[i/pageChunk][i%pageChunk] = pi
}

// recorded yields every page of the region with a record other than
// pageNone, in address order.
func (r *regionPages) recorded() iter.Seq2[mm.VA, *pageInfo] {
	return func(yield func(mm.VA, *pageInfo) bool) {
		for ci, c := range r.chunks {
			if c == nil {
				continue
			}
			for i := range c {
				va := r.base + mm.VA(ci*pageChunk+i)*mm.PageBytes
				if pi := &c[i]; pi.kind != pageNone && !yield(va, pi) {
					return
				}
			}
		}
	}
}

// smallPages yields every small-block page of both pools, nonpaged
// first, each in address order, with the pool's record of it.
func (p *Pool) smallPages() iter.Seq2[mm.VA, *pageInfo] {
	return func(yield func(mm.VA, *pageInfo) bool) {
		for r := range p.pages {
			for va, pi := range p.pages[r].recorded() {
				if pi.kind == pageSmall && !yield(va, pi) {
					return
				}
			}
		}
	}
}

// Pool is the executive's pool manager on one machine.
type Pool struct {
	m      *mm.Machine
	cfg    Config
	descs  []*Descriptor
	paged  *Descriptor
	np     []*Descriptor  // by node
	npNx   []*Descriptor  // by node
	pages  [2]regionPages // nonpaged, paged
	big    bigTable
	tags   tagTable
	secret uint64 // per-boot: the canary's key

	special specialPool // Driver Verifier's special pool (special.go)

	freeMeta [][]blockRecord // the cleared records of released pages, for reuse
	sites    siteTable

	// peekPage receives a page the validator peeks at (bytesOf with no
	// CPU), so validating allocates nothing.
	peekPage [mm.PageBytes]byte

	Failures uint64 // allocations that returned NULL
}

// New builds the pool on m, with one lookaside set per CPU.
func New(m *mm.Machine, cfg Config) (*Pool, error) {
	p := newPool(m, cfg, m.Rand.Uint64()|1)
	p.special.init(specialDelayFor(m))
	m.SpecialPoolFault = p.specialFault
	for node := 0; node < m.Nodes(); node++ {
		p.np = append(p.np, p.newDescriptor(NonPagedPool, uint8(node), node, mm.RegionNonPagedPool, false))
		p.npNx = append(p.npNx, p.newDescriptor(NonPagedPoolNx, uint8(node), node, mm.RegionNonPagedPool, true))
	}
	p.paged = p.newDescriptor(PagedPool, 0, 0, mm.RegionPagedPool, true)
	boot := m.CPUs.CPUs[0]
	for _, d := range p.descs {
		d.ListHeads = m.AllocatePages(mm.RegionNonPagedPool, 1, d.Node, true)
		if d.ListHeads == 0 {
			return nil, fmt.Errorf("pool: no memory for the pool descriptors")
		}
		p.pages[0].set(d.ListHeads, pageInfo{kind: pageDescriptor})
		for i := mm.VA(0); i < PageUnits; i++ {
			head := d.ListHeads + i*UnitBytes
			if err := p.writeLinks(boot, head, head, head); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range m.CPUs.CPUs {
		c.Pool = newPrcb()
	}
	return p, nil
}

// newPool is what New and Restore build alike: a pool with no pages and
// no descriptors yet.
func newPool(m *mm.Machine, cfg Config, secret uint64) *Pool {
	p := &Pool{m: m, cfg: cfg, secret: secret}
	p.pages[0].base = mm.RegionNonPagedPool.Base()
	p.pages[1].base = mm.RegionPagedPool.Base()
	p.tags.init()
	p.sites.init()
	p.big.init()
	return p
}

func (p *Pool) newDescriptor(t Type, index uint8, node int, r mm.Region, nx bool) *Descriptor {
	d := &Descriptor{Type: t, slot: uint16(len(p.descs)), Index: index, Node: node, Region: r, NX: nx}
	p.descs = append(p.descs, d)
	return d
}

// Machine returns the machine the pool runs on.
func (p *Pool) Machine() *mm.Machine { return p.m }

// descriptorFor picks the descriptor an allocation of type t on c uses.
func (p *Pool) descriptorFor(c *cpu.CPU, t Type) *Descriptor {
	switch {
	case t.Paged():
		return p.paged
	case t&NonPagedPoolNx != 0: // POOL_NX_ALLOCATION, alone or with other bits
		return p.npNx[c.Node]
	}
	return p.np[c.Node]
}

// pageOf returns the pool's record of the page holding va, or nil.
// Each region's records cover only the chunks its pool has used, so the
// bounds check of info is the whole region test.
func (p *Pool) pageOf(va mm.VA) *pageInfo {
	if pi := p.pages[0].info(va); pi != nil {
		return pi
	}
	return p.pages[1].info(va)
}

func (p *Pool) regionPagesOf(va mm.VA) *regionPages {
	if mm.RegionOf(va) == mm.RegionPagedPool {
		return &p.pages[1]
	}
	return &p.pages[0]
}

// canary returns the 8 canary bytes of the block whose data is at va: a
// value only this boot's pool can compute, different for every address.
func (p *Pool) canary(va mm.VA) uint64 {
	x := uint64(va) ^ p.secret
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}
