package pool

import (
	"github.com/google/btree"

	"simkern/cpu"
	"simkern/mm"
)

// BigAllocation is one entry of the big page table (PoolBigPageTable):
// an allocation of more than MaxSmallBytes, made of whole pages with no
// header, so its tag and size can only be found here.
type BigAllocation struct {
	VA    mm.VA
	Tag   Tag
	Bytes uint64 // requested
	Pages uint64
	Type  Type
	Owner uint64 // code address of the allocator
}

// bigTable keys big allocations by address. Windows hashes the address
// into a fixed table; an ordered map gives the same lookups and lets
// !poolfind walk the allocations in address order.
type bigTable struct {
	t *btree.BTreeG[BigAllocation]
}

func (b *bigTable) init() {
	b.t = btree.NewG(16, func(x, y BigAllocation) bool { return x.VA < y.VA })
}

func (b *bigTable) get(va mm.VA) (BigAllocation, bool) {
	return b.t.Get(BigAllocation{VA: va})
}

// containing returns the big allocation whose pages hold va.
func (b *bigTable) containing(va mm.VA) (BigAllocation, bool) {
	var found BigAllocation
	ok := false
	b.t.DescendLessOrEqual(BigAllocation{VA: va}, func(e BigAllocation) bool {
		found, ok = e, va < e.VA+mm.VA(e.Pages*mm.PageBytes)
		return false
	})
	return found, ok
}

// BigAllocations returns the big page table in address order.
func (p *Pool) BigAllocations() []BigAllocation {
	out := make([]BigAllocation, 0, p.big.t.Len())
	p.big.t.Ascend(func(e BigAllocation) bool {
		out = append(out, e)
		return true
	})
	return out
}

// allocateBig maps whole pages for a request over MaxSmallBytes. The
// canary goes in the slack after the data when the last page has room.
func (p *Pool) allocateBig(c *cpu.CPU, t Type, n uint64, tag Tag, caller uint64) (mm.VA, error) {
	d := p.descriptorFor(c, t)
	pages := (n + mm.PageBytes - 1) / mm.PageBytes
	va := p.m.AllocatePages(d.Region, pages, d.Node, d.NX)
	if va == 0 {
		return 0, nil
	}
	p.regionPagesOf(va).set(va, pageInfo{kind: pageBigFirst, desc: d.slot})
	p.big.t.ReplaceOrInsert(BigAllocation{VA: va, Tag: tag, Bytes: n, Pages: pages, Type: t, Owner: caller})
	if room := pages * mm.PageBytes; room > n {
		page, err := p.m.Page(c, va+mm.VA(n), true)
		if err != nil {
			return 0, err
		}
		p.putCanary(page, va, n, room)
	}
	d.RunningAllocs++
	d.TotalBigPages += pages
	d.TotalBytes += pages * mm.PageBytes
	p.tags.alloc(tag, d.Type == PagedPool, pages*mm.PageBytes)
	return va, nil
}

// freeBig frees a big allocation. Paged pages are unmapped, so a later
// touch is 0x50; nonpaged pages stay mapped and idle in mm, so a stale
// read returns the old bytes, as on Windows.
func (p *Pool) freeBig(c *cpu.CPU, va mm.VA, tag Tag, withTag bool) error {
	b, ok := p.big.get(va)
	if !ok {
		return p.checkFreeAddress(va, p.pageOf(va))
	}
	if err := checkIrqlForFree(c, b.Type, va); err != nil {
		return err
	}
	if err := checkFreeTag(va, b.Tag, tag, withTag); err != nil {
		return err
	}
	if err := p.checkCanary(c, va, b.Bytes, b.Pages*mm.PageBytes); err != nil {
		return err
	}
	d := p.descs[p.pageOf(va).desc]
	p.big.t.Delete(b)
	p.regionPagesOf(va).set(va, pageInfo{})
	p.m.FreePages(va, b.Pages)
	d.RunningDeAllocs++
	d.TotalBigPages -= b.Pages
	d.TotalBytes -= b.Pages * mm.PageBytes
	p.tags.free(b.Tag, d.Type == PagedPool, b.Pages*mm.PageBytes)
	return nil
}
