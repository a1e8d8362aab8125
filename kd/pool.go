package kd

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"simkern/mm"
	"simkern/pool"
)

// regionName is the region !pool names for an address.
func regionName(va mm.VA) string {
	switch r := mm.RegionOf(va); r {
	case mm.RegionNonPagedPool, mm.RegionPagedPool, mm.RegionSpecialPool:
		return r.String()
	}
	return "Unknown"
}

func (t *Target) pool(w io.Writer, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	v, err := t.Evaluate(args[0])
	if err != nil {
		return err
	}
	var flags uint64
	if len(args) > 1 {
		if flags, err = t.Evaluate(args[1]); err != nil {
			return err
		}
	}
	va := mm.VA(v)
	page := va.PageBase()
	fmt.Fprintf(w, "Pool page %s region is %s\n", va, regionName(va))
	kind, big := t.Pool.Classify(va)
	switch kind {
	case pool.KindBig:
		fmt.Fprintf(w, "*%s : large page allocation, Tag is %s%s, size is 0x%x bytes\n", big.VA, big.Tag, protected(big.Tag), big.Bytes)
		t.wholeAllocation(w, big, flags)
		return nil
	case pool.KindSpecial:
		// The page's pool header says what the allocation is: a paged
		// special pool page in the pagefile says nothing, as a small
		// pool page does not.
		if !t.Machine.Resident(big.VA.PageBase()) {
			t.notPool(w, va)
			return nil
		}
		fmt.Fprintf(w, "*%s size: %x %s special pool, Tag is %s%s\n", big.VA, big.Bytes, pagedWord(big.Type), big.Tag, protected(big.Tag))
		t.wholeAllocation(w, big, flags)
		return nil
	case pool.KindSmall:
	default:
		t.notPool(w, va)
		return nil
	}
	blocks, problem, resident := t.Pool.PageBlocks(page)
	if !resident {
		t.notPool(w, va)
		return nil
	}
	for _, b := range blocks {
		holds := va >= b.VA && va < b.VA+mm.VA(b.Size)
		if flags&2 != 0 && !holds {
			continue
		}
		mark := byte(' ')
		if holds {
			mark = '*'
		}
		fmt.Fprintf(w, "%c%s size: %4x previous size: %4x  %-11s %c%s%s\n",
			mark, b.VA, b.Size, b.PrevSize, stateWord(b.State), mark, b.Header.PoolTag, protected(b.Header.PoolTag))
		if holds {
			t.ownerLine(w, b.Header.PoolTag)
		}
		if flags&1 != 0 {
			t.dumpDwords(w, b.VA+pool.HeaderBytes, b.Size-pool.HeaderBytes)
		}
	}
	if problem != nil {
		switch {
		case problem.Zero:
			fmt.Fprintf(w, "Bad allocation size @%s, zero is invalid\n", problem.At)
		case problem.TooLarge:
			fmt.Fprintf(w, "Bad allocation size @%s, too large\n", problem.At)
		default:
			fmt.Fprintf(w, "Bad previous allocation size @%s, last size was %x\n", problem.At, problem.LastSize)
		}
		fmt.Fprintf(w, "*** An error (or corruption) in the pool was detected;\n*** Attempting to diagnose the problem.\n*** Use !poolval %s for more details.\n", page)
	}
	return nil
}

func stateWord(s pool.BlockState) string {
	switch s {
	case pool.BlockAllocated:
		return "(Allocated)"
	case pool.BlockLookaside:
		return "(Free )"
	}
	return "(Free)"
}

func protected(tag pool.Tag) string {
	if tag&pool.ProtectedTag != 0 {
		return " (Protected)"
	}
	return ""
}

// ownerLine prints the pooltag.txt line under the marked block.
func (t *Target) ownerLine(w io.Writer, tag pool.Tag) {
	e, ok := t.tags().Lookup(tag)
	if !ok {
		fmt.Fprintf(w, "\t\tOwning component : Unknown (update pooltag.txt)\n")
		return
	}
	fmt.Fprintf(w, "\t\tPooltag %s : %s", tag, e.Description)
	if e.namesBinary() {
		fmt.Fprintf(w, ", Binary : %s", e.Binary)
	}
	fmt.Fprintln(w)
}

// wholeAllocation ends the entry of a large or special pool allocation,
// which is one block: its header line is followed by the owner line and,
// with flag 1, its body. The body is the bytes the header line's size
// counts, from the address the allocation returned (neither kind has a
// pool header in front of its data), up to maxBodyBytes.
func (t *Target) wholeAllocation(w io.Writer, a pool.BigAllocation, flags uint64) {
	t.ownerLine(w, a.Tag)
	if flags&1 == 0 {
		return
	}
	n := min(a.Bytes, maxBodyBytes)
	t.dumpDwords(w, a.VA, n)
	if n < a.Bytes {
		fmt.Fprintf(w, "    ... 0x%x bytes more from %s (dd reads them)\n\n", a.Bytes-n, a.VA+mm.VA(n))
	}
}

// maxBodyBytes bounds the body !pool prints of one large allocation, as
// db's count is bounded: a 4 GiB allocation would be 17 GB of text.
const maxBodyBytes = 0x10000

// notPool is what !pool says of an address no pool page holds, or whose
// page is not in memory: a debugger that cannot read a page cannot tell a
// paged-out pool page from no pool at all, which is why the last line
// says "paged out". Only an address that cannot be read gets that line (a
// freed big nonpaged allocation, still mapped, can be read).
func (t *Target) notPool(w io.Writer, va mm.VA) {
	fmt.Fprintf(w, "%s is not a valid large pool allocation, checking large session pool...\n", va)
	fmt.Fprintf(w, "%s is not valid pool. Checking for freed (or corrupt) pool\n", va)
	var b [1]byte
	if t.Machine.Peek(va, b[:]) == 0 {
		fmt.Fprintf(w, "Address %s could not be read. It may be a freed, invalid or paged out page\n", va)
	}
}

// dumpDwords prints n bytes of a block's body as !pool 1 does: rows of an
// indented address and four DWORDs (the last row whole, past n), then a
// blank line.
func (t *Target) dumpDwords(w io.Writer, va mm.VA, n uint64) {
	var row [16]byte
	for off := uint64(0); off < n; off += 16 {
		got := t.Machine.Peek(va+mm.VA(off), row[:])
		fmt.Fprintf(w, "    %s ", va+mm.VA(off))
		for i := 0; i < 16; i += 4 {
			if i+4 > got {
				fmt.Fprint(w, " ????????")
				continue
			}
			fmt.Fprintf(w, " %08x", binary.LittleEndian.Uint32(row[i:]))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func (t *Target) poolused(w io.Writer, args []string) error {
	var flags uint64
	var err error
	if len(args) > 0 {
		if flags, err = t.Evaluate(args[0]); err != nil {
			return err
		}
	}
	if flags&8 != 0 {
		return fmt.Errorf("usage: !poolused [FLAGS [TAG]]: flag 8 is session pool, which simkern does not have (1 verbose, 2 sort by nonpaged, 4 sort by paged)")
	}
	query := tagQuery{pattern: "*"}
	if len(args) > 1 {
		if query, err = parseTagArg(args[1]); err != nil {
			return err
		}
	}
	var rows []pool.TagStats
	for _, s := range t.Pool.Tags() {
		if s.NonPagedBytes == 0 && s.PagedBytes == 0 && s.NonPagedOutstanding() == 0 && s.PagedOutstanding() == 0 {
			continue // all zero: a renamed block's tag may hold blocks and no bytes, or bytes and no blocks
		}
		if query.matches(s.Tag) {
			rows = append(rows, s)
		}
	}
	sortBy := "Tag"
	switch {
	case flags&2 != 0:
		sortBy = "NonPaged Pool Consumed"
		slices.SortStableFunc(rows, func(a, b pool.TagStats) int { return cmp.Compare(b.NonPagedBytes, a.NonPagedBytes) })
	case flags&4 != 0:
		sortBy = "Paged Pool Consumed"
		slices.SortStableFunc(rows, func(a, b pool.TagStats) int { return cmp.Compare(b.PagedBytes, a.PagedBytes) })
	}
	fmt.Fprintf(w, " Sorting by  %s\n\n  Pool Used:\n", sortBy)
	var total pool.TagStats
	if flags&1 != 0 {
		fmt.Fprintln(w, "            NonPaged                    Paged")
		fmt.Fprintln(w, " Tag    Allocs    Frees     Diff     Used   Allocs    Frees     Diff     Used")
		for _, s := range rows {
			fmt.Fprintf(w, " %s %8d %8d %8d %8d %8d %8d %8d %8d%s\n", s.Tag,
				s.NonPagedAllocs, s.NonPagedFrees, s.NonPagedOutstanding(), s.NonPagedBytes,
				s.PagedAllocs, s.PagedFrees, s.PagedOutstanding(), s.PagedBytes, t.describe(s.Tag))
			total = addStats(total, s)
		}
		fmt.Fprintf(w, " TOTAL %8d %8d %8d %8d %8d %8d %8d %8d\n",
			total.NonPagedAllocs, total.NonPagedFrees, total.NonPagedOutstanding(), total.NonPagedBytes,
			total.PagedAllocs, total.PagedFrees, total.PagedOutstanding(), total.PagedBytes)
		return nil
	}
	fmt.Fprintln(w, "            NonPaged            Paged")
	fmt.Fprintln(w, " Tag    Allocs     Used    Allocs     Used")
	for _, s := range rows {
		fmt.Fprintf(w, " %s %8d %8d  %8d %8d%s\n", s.Tag, s.NonPagedOutstanding(), s.NonPagedBytes,
			s.PagedOutstanding(), s.PagedBytes, t.describe(s.Tag))
		total = addStats(total, s)
	}
	fmt.Fprintf(w, " TOTAL    %8d %8d  %8d %8d\n", total.NonPagedOutstanding(), total.NonPagedBytes,
		total.PagedOutstanding(), total.PagedBytes)
	return nil
}

func addStats(a, b pool.TagStats) pool.TagStats {
	a.NonPagedAllocs += b.NonPagedAllocs
	a.NonPagedFrees += b.NonPagedFrees
	a.NonPagedBytes += b.NonPagedBytes
	a.PagedAllocs += b.PagedAllocs
	a.PagedFrees += b.PagedFrees
	a.PagedBytes += b.PagedBytes
	return a
}

// unknownTagText is a tag as the UNKNOWN pooltag line quotes it: the
// debugger prints the tag as a C string, so it ends at the first zero byte
// and is right-aligned ('  rx' for the row "rx.."), where the row prints
// every byte.
func unknownTagText(tag pool.Tag) string {
	s := tag.String()
	v := uint32(tag &^ pool.ProtectedTag)
	for i := range 4 {
		if byte(v>>(8*i)) == 0 {
			return s[:i]
		}
	}
	return s
}

// describe is the description !poolused appends to a row. The real
// command prints the description and a space, then ", Binary: bin" when
// pooltag.txt names one: hence the space before the comma, and a trailing
// space when there is no binary.
func (t *Target) describe(tag pool.Tag) string {
	e, ok := t.tags().Lookup(tag)
	if !ok {
		return fmt.Sprintf("UNKNOWN pooltag '%4s', please update pooltag.txt", unknownTagText(tag))
	}
	if !e.namesBinary() {
		return e.Description + " "
	}
	return e.Description + " , Binary: " + e.Binary
}
