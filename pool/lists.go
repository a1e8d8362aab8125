package pool

import (
	"encoding/binary"
	"math/bits"

	"simkern/cpu"
	"simkern/mm"
)

// Free lists are LIST_ENTRYs in simulated memory: Flink at +0, Blink at +8
// of each free block's data, and of each head. Links are plain addresses
// (the shipping kernel does not encode them), so an overrun that reaches a
// free block really does corrupt its links, and checkFreeListLinks finds
// it on the next insert or remove.
//
// The entries the pool names itself (a block's data, a head) are 16-byte
// aligned, so both links of one sit in one page and cost one translation.
// An address read out of a link may be anything a corruption left: it is
// followed 8 bytes at a time, exactly where it points, as the processor
// would.

// entryOffset is the page offset of an aligned entry; the mask tells the
// compiler both links are inside the page.
func entryOffset(entry mm.VA) uint64 { return entry.PageOffset() & (mm.PageBytes - UnitBytes) }

// readLinks returns the Flink and Blink of the entry at entry.
func (p *Pool) readLinks(c *cpu.CPU, entry mm.VA) (flink, blink mm.VA, err error) {
	if entry%UnitBytes != 0 { // from a corrupt link: a head's Flink, say
		f, err := p.m.ReadU64(c, entry)
		if err != nil {
			return 0, 0, err
		}
		b, err := p.m.ReadU64(c, entry+8)
		return mm.VA(f), mm.VA(b), err
	}
	page, err := p.m.Page(c, entry, false)
	if err != nil {
		return 0, 0, err
	}
	off := entryOffset(entry)
	return mm.VA(binary.LittleEndian.Uint64(page[off:])), mm.VA(binary.LittleEndian.Uint64(page[off+8:])), nil
}

// writeLinks sets the Flink and Blink of the aligned entry (one the pool
// names itself, never one read out of a link).
func (p *Pool) writeLinks(c *cpu.CPU, entry, flink, blink mm.VA) error {
	page, err := p.m.Page(c, entry, true)
	if err != nil {
		return err
	}
	off := entryOffset(entry)
	binary.LittleEndian.PutUint64(page[off:], uint64(flink))
	binary.LittleEndian.PutUint64(page[off+8:], uint64(blink))
	return nil
}

// listHead returns the head of the list for blocks of u units.
func (d *Descriptor) listHead(u Units) mm.VA { return d.ListHeads + mm.VA(u-1)*UnitBytes }

// insertFree puts the free block at block (its header) on its list: at the
// head when it was just freed (it is the likeliest to be wanted again), at
// the tail when it is the remainder of a split.
func (p *Pool) insertFree(c *cpu.CPU, d *Descriptor, block mm.VA, u Units, atHead bool) error {
	if u == 1 {
		return nil // too small for a LIST_ENTRY's list to matter
	}
	head := d.listHead(u)
	entry := block + HeaderBytes
	first, last, err := p.checkedLinks(c, head)
	if err != nil {
		return err
	}
	if atHead {
		if err := p.writeLinks(c, entry, first, head); err != nil {
			return err
		}
		if err := p.m.WriteU64(c, first+8, uint64(entry)); err != nil {
			return err
		}
		if err := p.m.WriteU64(c, head, uint64(entry)); err != nil {
			return err
		}
	} else {
		if err := p.writeLinks(c, entry, head, last); err != nil {
			return err
		}
		if err := p.m.WriteU64(c, last, uint64(entry)); err != nil {
			return err
		}
		if err := p.m.WriteU64(c, head+8, uint64(entry)); err != nil {
			return err
		}
	}
	d.nonEmpty.add(u - 1)
	return nil
}

// removeFree unlinks the free block at block from its list.
func (p *Pool) removeFree(c *cpu.CPU, d *Descriptor, block mm.VA, u Units) error {
	if u == 1 {
		return nil
	}
	entry := block + HeaderBytes
	flink, blink, err := p.checkedLinks(c, entry)
	if err != nil {
		return err
	}
	if err := p.m.WriteU64(c, blink, uint64(flink)); err != nil {
		return err
	}
	if err := p.m.WriteU64(c, flink+8, uint64(blink)); err != nil {
		return err
	}
	if flink == blink && flink == d.listHead(u) {
		d.nonEmpty.remove(u - 1)
	}
	return nil
}

// popFree removes the first free block of at least u units from d's lists
// and returns its header address and size, or 0 when every list from u up
// is empty.
func (p *Pool) popFree(c *cpu.CPU, d *Descriptor, u Units) (mm.VA, Units, error) {
	for i := int(u - 1); i < PageUnits; {
		w := d.nonEmpty[i/64] >> (i % 64)
		if w == 0 {
			i = (i/64 + 1) * 64
			continue
		}
		i += bits.TrailingZeros64(w)
		size := Units(i + 1)
		head := d.listHead(size)
		first, _, err := p.readLinks(c, head)
		if err != nil {
			return 0, 0, err
		}
		if first == head { // a stale hint
			d.nonEmpty.remove(Units(i))
			i++
			continue
		}
		block := first - HeaderBytes
		if err := p.removeFree(c, d, block, size); err != nil {
			return 0, 0, err
		}
		return block, size, nil
	}
	return 0, 0, nil
}

// checkedLinks reads entry's links through c, checks them
// (checkFreeListLinks) and returns them, for the list operation that
// follows.
func (p *Pool) checkedLinks(c *cpu.CPU, entry mm.VA) (flink, blink mm.VA, err error) {
	f, b, err := p.readLinks(c, entry)
	if err != nil {
		return 0, 0, err
	}
	fb, err := p.m.ReadU64(c, f+8)
	if err != nil {
		return 0, 0, err
	}
	bf, err := p.m.ReadU64(c, b)
	if err != nil {
		return 0, 0, err
	}
	return f, b, checkFreeListLinks(entry, fb, bf)
}

// peekLinks is checkFreeListLinks for the validator, which only peeks. A
// link in a paged pool page that is out of memory stops the check (the
// page is fine, just not here: errNotResident), but a link to anything
// else that cannot be read is junk: it reads as 0, so the check reports
// the corruption instead of skipping it.
func (p *Pool) peekLinks(entry mm.VA) error {
	f, ok := p.m.PeekU64(entry)
	b, ok2 := p.m.PeekU64(entry + 8)
	if !ok || !ok2 {
		return errNotResident
	}
	fb, err := p.peekLinked(mm.VA(f) + 8)
	if err != nil {
		return err
	}
	bf, err := p.peekLinked(mm.VA(b))
	if err != nil {
		return err
	}
	return checkFreeListLinks(entry, fb, bf)
}

func (p *Pool) peekLinked(va mm.VA) (uint64, error) {
	if v, ok := p.m.PeekU64(va); ok {
		return v, nil
	}
	if mm.RegionOf(va) == mm.RegionPagedPool {
		if pi := p.pageOf(va); pi != nil && pi.kind == pageSmall {
			return 0, errNotResident
		}
	}
	return 0, nil
}
