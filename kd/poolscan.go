package kd

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"

	"simkern/bugcheck"
	"simkern/mm"
	"simkern/pool"
)

// tagQuery is what !poolfind looks for: a TagString, matched against
// the tag as printed (* and ? wildcards), or a TagValue (0x...), the
// 32-bit tag itself, which a printed '.' cannot stand for.
type tagQuery struct {
	pattern string   // the TagString, padded to four characters
	value   pool.Tag // the TagValue, PROTECTED_POOL stripped
	isValue bool
}

// parseTagArg reads the tag !poolfind and !poolused take: up to four
// characters (padded with spaces; * and ? are wildcards) or a 0x value.
func parseTagArg(s string) (tagQuery, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		t, err := pool.ParseTag(s)
		if err != nil {
			return tagQuery{}, err
		}
		t &^= pool.ProtectedTag // a tag is the same tag with the bit or without, as the pool compares them
		return tagQuery{value: t, isValue: true}, nil
	}
	if len(s) == 0 || len(s) > 4 {
		return tagQuery{}, fmt.Errorf("bad tag %q: a tag is 1 to 4 characters or a 0x value", shortTerm(s))
	}
	return tagQuery{pattern: padTag(s)}, nil
}

// String is how the Searching lines name the tag: a TagValue both ways,
// so a '.' in its printed form is not read as a literal dot.
func (q tagQuery) String() string {
	if q.isValue {
		return fmt.Sprintf("%s (0x%x)", q.value, uint32(q.value))
	}
	return q.pattern
}

func (q tagQuery) matches(tag pool.Tag) bool {
	if q.isValue {
		return tag&^pool.ProtectedTag == q.value
	}
	return MatchTag(q.pattern, tag.String())
}

func (t *Target) poolfind(w io.Writer, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	q, err := parseTagArg(args[0])
	if err != nil {
		return err
	}
	region, name := mm.RegionNonPagedPool, "NonPaged"
	if len(args) > 1 {
		v, err := t.Evaluate(args[1])
		if err != nil {
			return err
		}
		switch v {
		case 0:
		case 1:
			region, name = mm.RegionPagedPool, "Paged"
		case 2:
			region, name = mm.RegionSpecialPool, "Special"
		default:
			return fmt.Errorf("usage: !poolfind TAG [POOLTYPE]: POOLTYPE is 0 nonpaged, 1 paged, 2 special")
		}
	}
	fmt.Fprintf(w, "Scanning large pool allocation table for Tag: %s\n", q)
	bigs := t.Pool.BigAllocations()
	t.Examined += uint64(len(bigs)) * recordBytes
	for _, b := range bigs {
		if mm.RegionOf(b.VA) == region && q.matches(b.Tag) {
			fmt.Fprintf(w, "%s : tag %s, size     0x%x, %s pool\n", b.VA, b.Tag, b.Bytes, name)
		}
	}
	end := region.Base() + mm.VA(region.Bytes())
	fmt.Fprintf(w, "Searching %s pool (%s : %s) for Tag: %s\n", name, region.Base(), end, q)
	if region == mm.RegionSpecialPool {
		specials := t.Pool.SpecialAllocations()
		t.Examined += uint64(len(specials)) * recordBytes
		for _, a := range specials {
			if page := a.VA.PageBase(); !t.Machine.Resident(page) {
				fmt.Fprintf(w, "%s: page not in memory, not searched\n", page)
			} else if q.matches(a.Tag) {
				fmt.Fprintf(w, "%s size: %x %s special pool, Tag is %s\n", a.VA, a.Bytes, pagedWord(a.Type), a.Tag)
			}
		}
		return nil
	}
	for _, page := range t.Pool.SmallPages(region) {
		t.Examined += mm.PageBytes
		blocks, _, resident := t.Pool.PageBlocks(page)
		if !resident {
			fmt.Fprintf(w, "%s: page not in memory, not searched\n", page)
			continue
		}
		for _, b := range blocks {
			if q.matches(b.Header.PoolTag) {
				fmt.Fprintf(w, "%s size: %4x previous size: %4x  %-11s %s\n", b.VA, b.Size, b.PrevSize, stateWord(b.State), b.Header.PoolTag)
			}
		}
	}
	return nil
}

// poolval validates one pool page as !poolval does: the header chain, the
// bugcheck the first problem amounts to, and single-bit errors.
func (t *Target) poolval(w io.Writer, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	v, err := t.Evaluate(args[0])
	if err != nil {
		return err
	}
	level := uint64(0)
	if len(args) > 1 {
		if level, err = t.Evaluate(args[1]); err != nil {
			return err
		}
	}
	page := mm.VA(v).PageBase()
	fmt.Fprintf(w, "Pool page %s region is %s\n\n", page, regionName(page))
	if kind, _ := t.Pool.Classify(page); kind != pool.KindSmall {
		fmt.Fprintf(w, "%s is not a page of small pool blocks: nothing to validate\n", page)
		return nil
	}
	fmt.Fprintf(w, "Validating Pool headers for pool page: %s\n\n", page)
	if !t.Machine.Resident(page) {
		fmt.Fprintf(w, "Address %s could not be read. It may be a freed, invalid or paged out page\n", page)
		return nil
	}
	type problem struct {
		at         mm.VA
		what       poolvalField
		found, exp uint64 // exp 0: not known
	}
	var problems []problem
	var last uint64
	for at := page; at < page+mm.PageBytes; {
		h, _ := t.Pool.PeekHeader(at)
		if level >= 2 {
			fmt.Fprintf(w, "[ %s ]: size %x previous size %x tag %s type %x\n", at, uint64(h.BlockSize)*pool.UnitBytes,
				uint64(h.PreviousSize)*pool.UnitBytes, h.PoolTag, h.PoolType)
		}
		if uint64(h.PreviousSize) != last {
			problems = append(problems, problem{at, previousSize, uint64(h.PreviousSize), last})
		}
		// The pool's records know the size it wrote; the walk goes on
		// with the one in the header, as WinDbg's does.
		recorded, ok := t.Pool.RecordedBlockSize(at)
		tooBig := h.BlockSize == 0 || at.PageOffset()+uint64(h.BlockSize)*pool.UnitBytes > mm.PageBytes
		if tooBig || ok && pool.Units(h.BlockSize) != recorded {
			problems = append(problems, problem{at, blockSize, uint64(h.BlockSize), uint64(recorded)})
		}
		if tooBig {
			break
		}
		last = uint64(h.BlockSize)
		at += mm.VA(h.BlockSize) * pool.UnitBytes
	}
	verr := t.Pool.ValidatePage(page)
	if b := (*bugcheck.Error)(nil); errors.As(verr, &b) && b.Code == bugcheck.BadPoolHeader && b.P[0] == 0x21 {
		data := mm.VA(b.P[1])
		problems = append(problems, problem{data + mm.VA(b.P[2]), canary, b.P[3], t.Pool.ExpectedCanary(data, b.P[2])})
	}
	if len(problems) == 0 && verr == nil {
		fmt.Fprintf(w, "Pool page [ %s ] is VALID.\n", page)
		return nil
	}
	fmt.Fprintf(w, "Pool page [ %s ] is INVALID.\n\nAnalyzing linked list...\n", page)
	for _, p := range problems {
		switch {
		case p.what == canary: // verr's line says it
		case p.exp == 0 && p.what == blockSize:
			fmt.Fprintf(w, "[ %s ]: invalid block size [ 0x%x ]\n", p.at, p.found)
		default:
			fmt.Fprintf(w, "[ %s ]: invalid %s [ 0x%x ] should be [ 0x%x ]\n", p.at, p.what, p.found, p.exp)
		}
	}
	if verr != nil {
		fmt.Fprintf(w, "[ %s ]: %s\n", page, verr)
	}
	fmt.Fprintf(w, "\n\nScanning for single bit errors...\n\n")
	found := false
	for _, p := range problems {
		if bits.OnesCount64(p.found^p.exp) == 1 && (p.exp != 0 || p.what == previousSize) {
			fmt.Fprintf(w, "[ %s ]: %s [ 0x%x ] differs from [ 0x%x ] by one bit\n", p.at, p.what, p.found, p.exp)
			found = true
		}
	}
	if !found {
		fmt.Fprintln(w, "None found")
	}
	return nil
}

// poolvalField is what a !poolval problem is about.
type poolvalField int

const (
	previousSize poolvalField = iota
	blockSize
	canary
)

func (f poolvalField) String() string { return [...]string{"previous size", "block size", "canary"}[f] }

// lookaside lists the per-CPU lookaside lists that have been used.
func (t *Target) lookaside(w io.Writer, args []string) error {
	classes := []string{"NonPaged", "NonPagedNx", "Paged"}
	cpus := t.Machine.CPUs.CPUs
	fmt.Fprintln(w, "CPU Pool        Size Depth Count   Allocates     Hits (%)      Frees")
	for _, c := range cpus {
		for class, cname := range classes {
			for u := pool.Units(1); u <= pool.LookasideMaxUnits; u++ {
				l := t.Pool.Lookaside(c.Number, class, u)
				if l.TotalAllocates == 0 && l.TotalFrees == 0 {
					continue
				}
				pct := uint64(0)
				if l.TotalAllocates > 0 {
					pct = l.AllocateHits * 100 / l.TotalAllocates
				}
				fmt.Fprintf(w, "%3d %-10s %5x %5d %5d %11d %8d (%3d) %10d\n", c.Number, cname,
					uint64(u)*pool.UnitBytes, l.Depth, l.Len(), l.TotalAllocates, l.AllocateHits, pct, l.TotalFrees)
			}
		}
	}
	return nil
}

// analyze prints the bugcheck analysis, or says the machine is running.
func (t *Target) analyze(w io.Writer, args []string) error {
	if len(args) == 1 && args[0] != "-v" {
		return errUsage
	}
	b := t.Machine.Halted()
	if b == nil {
		fmt.Fprintln(w, "The machine has not bugchecked: nothing to analyze.")
		return nil
	}
	if t.Analysis != nil {
		fmt.Fprint(w, t.Analysis())
		return nil
	}
	fmt.Fprint(w, b.Analysis())
	return nil
}

// pagedWord is how special pool lines name the pool type.
func pagedWord(t pool.Type) string {
	if t.Paged() {
		return "paged"
	}
	return "non-paged"
}
