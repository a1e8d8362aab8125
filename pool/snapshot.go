package pool

import (
	"fmt"

	"simkern/mm"
)

// Snapshot is the pool's own state as a crash dump holds it: what lives in
// Go rather than in simulated memory (descriptors' counters, the record of
// pool pages, the big page table, the tag table, the lookaside lists,
// special pool's records). The headers and free lists are bytes in the
// machine's snapshot.
type Snapshot struct {
	Config      Config
	Secret      uint64
	Failures    uint64
	Descriptors []DescriptorSnapshot
	Sites       []SiteSnapshot // the allocation sites block records name, by index
	Pages       []PageSnapshot
	Big         []BigAllocation
	Tags        []TagStats
	CPUs        []PrcbSnapshot
	Special     SpecialSnapshot
}

// SpecialSnapshot is special pool's state.
type SpecialSnapshot struct {
	Live                          []SpecialAllocation // address order
	Waiting                       []SpecialAllocation // freed pairs, oldest first
	Delay                         int                 // 0: the machine's default
	Allocations, Frees, Fallbacks uint64
}

// DescriptorSnapshot is one descriptor.
type DescriptorSnapshot struct {
	Type                           Type
	Index                          uint8
	Node                           int
	Region                         mm.Region
	NX                             bool
	ListHeads                      mm.VA
	NonEmpty                       [PageUnits / 64]uint64
	RunningAllocs, RunningDeAllocs uint64
	TotalPages, TotalBigPages      uint64
	TotalBytes                     uint64
}

// SiteSnapshot is one allocation site: the code address that called the
// pool and the tag it passed.
type SiteSnapshot struct {
	Owner uint64
	Tag   Tag
}

// PageSnapshot is the pool's record of one page it owns.
type PageSnapshot struct {
	VA     mm.VA
	Kind   uint8
	Desc   uint16
	Starts [PageUnits / 64]uint64
	// Blocks holds, for a small-block page, the record of each block
	// start in Starts, in address order: the bytes requested and the
	// index of its allocation site (0 for a free block).
	Blocks []uint32
}

// PrcbSnapshot is one CPU's lookaside lists.
type PrcbSnapshot struct {
	Ops   int
	Lists [LookasideClasses][LookasideMaxUnits]LookasideSnapshot
}

// LookasideSnapshot is one lookaside list.
type LookasideSnapshot struct {
	Blocks                       []mm.VA
	Depth                        int
	TotalAllocates, AllocateHits uint64
	TotalFrees, FreeHits         uint64
	LastAllocates, LastHits      uint64
}

// Snapshot copies the pool's state. It changes nothing.
func (p *Pool) Snapshot() *Snapshot {
	s := &Snapshot{Config: p.cfg, Secret: p.secret, Failures: p.Failures, Big: p.BigAllocations()}
	for _, d := range p.descs {
		s.Descriptors = append(s.Descriptors, DescriptorSnapshot{d.Type, d.Index, d.Node, d.Region, d.NX, d.ListHeads,
			d.nonEmpty, d.RunningAllocs, d.RunningDeAllocs, d.TotalPages, d.TotalBigPages, d.TotalBytes})
	}
	for _, site := range p.sites.sites {
		s.Sites = append(s.Sites, SiteSnapshot{site.owner, site.tag})
	}
	for r := range p.pages {
		for va, pi := range p.pages[r].recorded() {
			ps := PageSnapshot{VA: va, Kind: uint8(pi.kind), Desc: pi.desc}
			if pi.blocks != nil {
				ps.Starts = pi.starts
				for k := range Units(PageUnits) {
					if pi.starts.has(k) {
						ps.Blocks = append(ps.Blocks, uint32(pi.blocks[k]))
					}
				}
			}
			s.Pages = append(s.Pages, ps)
		}
	}
	s.Tags = p.Tags()
	sp := &p.special
	s.Special = SpecialSnapshot{Delay: sp.delay, Allocations: sp.allocations, Frees: sp.frees, Fallbacks: sp.fallbacks}
	if len(sp.live) > 0 { // nil when empty, as gob brings it back
		s.Special.Live = p.SpecialAllocations()
	}
	for _, page := range sp.queue {
		s.Special.Waiting = append(s.Special.Waiting, sp.freed[page])
	}
	for _, c := range p.m.CPUs.CPUs {
		r := c.Pool.(*prcb)
		ps := PrcbSnapshot{Ops: r.ops}
		for class := range r.lists {
			for u := range r.lists[class] {
				l := &r.lists[class][u]
				ps.Lists[class][u] = LookasideSnapshot{append([]mm.VA(nil), l.blocks...), l.Depth,
					l.TotalAllocates, l.AllocateHits, l.TotalFrees, l.FreeHits, l.lastAllocates, l.lastHits}
			}
		}
		s.CPUs = append(s.CPUs, ps)
	}
	return s
}

// Restore rebuilds a pool on m (a machine restored from the same dump).
func Restore(m *mm.Machine, s *Snapshot) (*Pool, error) {
	bad := func(format string, args ...any) (*Pool, error) {
		return nil, fmt.Errorf("damaged pool snapshot: "+format, args...)
	}
	if len(s.CPUs) != len(m.CPUs.CPUs) {
		return bad("%d CPUs for a machine of %d", len(s.CPUs), len(m.CPUs.CPUs))
	}
	if len(s.Descriptors) != 2*m.Nodes()+1 {
		return bad("%d descriptors for %d NUMA nodes", len(s.Descriptors), m.Nodes())
	}
	p := newPool(m, s.Config, s.Secret)
	p.Failures = s.Failures
	for _, ds := range s.Descriptors {
		if ds.Node < 0 || ds.Node >= m.Nodes() {
			return bad("descriptor on node %d", ds.Node)
		}
		d := p.newDescriptor(ds.Type, ds.Index, ds.Node, ds.Region, ds.NX)
		d.ListHeads, d.nonEmpty = ds.ListHeads, ds.NonEmpty
		d.RunningAllocs, d.RunningDeAllocs = ds.RunningAllocs, ds.RunningDeAllocs
		d.TotalPages, d.TotalBigPages, d.TotalBytes = ds.TotalPages, ds.TotalBigPages, ds.TotalBytes
		switch {
		case d.Type == PagedPool:
			p.paged = d
		case d.NX:
			p.npNx = append(p.npNx, d)
		default:
			p.np = append(p.np, d)
		}
	}
	if p.paged == nil || len(p.np) != m.Nodes() || len(p.npNx) != m.Nodes() {
		return bad("the descriptors do not cover every node")
	}
	if len(s.Sites) == 0 || s.Sites[0] != (SiteSnapshot{}) || len(s.Sites) > maxSites {
		return bad("%d allocation sites", len(s.Sites))
	}
	for _, site := range s.Sites[1:] {
		p.sites.add(allocSite{site.Owner, site.Tag})
	}
	for _, ps := range s.Pages {
		r := mm.RegionOf(ps.VA)
		kind := pageKind(ps.Kind)
		// Anywhere in its region: a record costs the host a chunk of
		// records, and the chunk list is at most a region's worth.
		if r != mm.RegionNonPagedPool && r != mm.RegionPagedPool || ps.VA.PageOffset() != 0 ||
			kind != pageSmall && kind != pageBigFirst && kind != pageDescriptor ||
			int(ps.Desc) >= len(p.descs) {
			return bad("pool page %v", ps.VA)
		}
		pi := pageInfo{kind: kind, desc: ps.Desc}
		if kind == pageSmall {
			pi.starts, pi.blocks = ps.Starts, make([]blockRecord, PageUnits)
			i := 0
			for k := range Units(PageUnits) {
				if !pi.starts.has(k) {
					continue
				}
				if i == len(ps.Blocks) {
					return bad("block records of page %v", ps.VA)
				}
				b := blockRecord(ps.Blocks[i])
				i++
				// The canary must fit the page (the checks index its
				// bytes), the site must be one the snapshot lists, and a
				// free block (nothing requested) has none.
				n := b.requested()
				if n > MaxSmallBytes || uint64(k+1)*UnitBytes+roomFor(n) > mm.PageBytes && n != 0 ||
					int(b.site()) >= len(s.Sites) || n == 0 && b.site() != 0 {
					return bad("block record of page %v", ps.VA)
				}
				pi.blocks[k] = b
			}
			if i != len(ps.Blocks) {
				return bad("block records of page %v", ps.VA)
			}
		}
		p.regionPagesOf(ps.VA).set(ps.VA, pi)
	}
	for _, b := range s.Big {
		p.big.t.ReplaceOrInsert(b)
	}
	for _, t := range s.Tags {
		*p.tags.row(t.Tag) = t
	}
	if err := p.restoreSpecial(s.Special); err != nil {
		return nil, err
	}
	for i, c := range m.CPUs.CPUs {
		r := newPrcb()
		r.ops = s.CPUs[i].Ops
		for class := range r.lists {
			for u := range r.lists[class] {
				ls := s.CPUs[i].Lists[class][u]
				if ls.Depth < 0 || ls.Depth > LookasideMaxDepth || len(ls.Blocks) > LookasideMaxDepth {
					return bad("lookaside list depth %d", ls.Depth)
				}
				r.lists[class][u] = LookasideList{blocks: append(make([]mm.VA, 0, LookasideMaxDepth), ls.Blocks...), Depth: ls.Depth,
					TotalAllocates: ls.TotalAllocates, AllocateHits: ls.AllocateHits, TotalFrees: ls.TotalFrees, FreeHits: ls.FreeHits,
					lastAllocates: ls.LastAllocates, lastHits: ls.LastHits}
			}
		}
		c.Pool = r
	}
	return p, nil
}

// restoreSpecial rebuilds special pool's records and installs its fault
// hook on the restored machine.
func (p *Pool) restoreSpecial(s SpecialSnapshot) error {
	delay := s.Delay
	if delay == 0 {
		delay = specialDelayFor(p.m)
	}
	if delay < 0 || len(s.Waiting) > delay || s.Frees > s.Allocations || s.Allocations-s.Frees != uint64(len(s.Live)) {
		return fmt.Errorf("damaged pool snapshot: special pool: delay %d, %d waiting, %d allocations, %d frees, %d live",
			delay, len(s.Waiting), s.Allocations, s.Frees, len(s.Live))
	}
	sp := &p.special
	sp.init(delay)
	sp.allocations, sp.frees, sp.fallbacks = s.Allocations, s.Frees, s.Fallbacks
	add := func(a SpecialAllocation, into map[mm.VA]SpecialAllocation) error {
		if !isSpecial(a.Page) || !isSpecial(a.Guard) || a.Page.PageOffset() != 0 || a.Guard != specialGuard(a.Page, a.Mode) ||
			a.Mode != SpecialOverrun && a.Mode != SpecialUnderrun || a.Bytes == 0 || a.Bytes > MaxSpecialBytes ||
			a.VA != specialDataVA(a.Page, a.Bytes, a.Mode) {
			return fmt.Errorf("damaged pool snapshot: special allocation at %v", a.VA)
		}
		for _, page := range [2]mm.VA{a.Page, a.Guard} {
			_, g := sp.guards[page]
			_, l := sp.live[page]
			_, f := sp.freed[page]
			if g || l || f {
				return fmt.Errorf("damaged pool snapshot: special pool page %v recorded twice", page)
			}
		}
		into[a.Page] = a
		sp.guards[a.Guard] = a.Page
		return nil
	}
	for _, a := range s.Live {
		if err := add(a, sp.live); err != nil {
			return err
		}
	}
	for _, a := range s.Waiting {
		if err := add(a, sp.freed); err != nil {
			return err
		}
		sp.queue = append(sp.queue, a.Page)
	}
	p.m.SpecialPoolFault = p.specialFault
	return nil
}
