package mm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"simkern/cpu"
	"simkern/pagefile"
)

// FuzzMachine decodes its input into a stream of memory-manager operations
// on a small two-node machine and checks, after every one, that the
// machine's ledgers agree (CheckInvariants and checkMappings) and that the
// pages the operation touched hold what a shadow copy says they hold. It
// also compares every resident page with its shadow every few operations
// and, at the end, reads every page back through translation.
//
// The stream stays inside what a correct kernel may do, so no operation
// may bugcheck: reads and writes go only to allocated pages, the IRQL is
// raised only around accesses to resident pages, the commit charge stays
// half the RAM below the limit and nonpaged pool under a quarter of RAM
// (so a fault can always find a frame), and at most one pagefile write
// failure is pending at a time (it is retried, never fatal).
//
// Input: byte 0 picks the machine (bit 0: 2 MiB of RAM instead of 1; bit
// 1: 8 MiB of pagefile instead of 4; bit 2: 3 CPUs on 3 nodes, which do
// not divide the frames evenly, instead of 2 on 2); then each operation is
// one byte of opcode (see opTable) followed by the bytes its arguments
// need (see fuzzer.step).
func FuzzMachine(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runFuzzInput(t, data)
	})
}

// The operations, one per opcode byte (mod opCount).
const (
	opAllocPaged = iota
	opAllocNonpaged
	opFree
	opWriteU64
	opWrite
	opRead
	opReadU64
	opTrim
	opTrimAll
	opPageOut
	opPageOutAll
	opWriteModified
	opAtDispatch
	opSwitchCPU
	opFill
	opInjectWriteFault
	opPeek
	opVerify
	opStraddle
	opTouchAll
	opOvercommit
	opCount
)

// opTable maps an opcode byte (mod its length) to an operation. Paging
// needs pressure, so the operations that fault pages in come up more often
// than those that free them.
var opTable = [...]int{
	opAllocPaged, opAllocPaged, opAllocNonpaged, opFree,
	opWriteU64, opWriteU64, opWrite, opRead, opReadU64, opStraddle,
	opTrim, opTrimAll, opPageOut, opPageOutAll, opWriteModified,
	opAtDispatch, opAtDispatch, opSwitchCPU, opFill, opInjectWriteFault,
	opPeek, opVerify, opTouchAll, opTouchAll, opTouchAll, opOvercommit,
}

var opNames = [opCount]string{
	"AllocPaged", "AllocNonpaged", "Free", "WriteU64", "Write", "Read", "ReadU64", "Trim", "TrimAll",
	"PageOut", "PageOutAll", "WriteModified", "AtDispatch", "SwitchCPU", "Fill", "InjectWriteFault",
	"Peek", "Verify", "Straddle", "TouchAll", "Overcommit",
}

// fuzzSeeds are hand-made inputs that reach each path at least once.
func fuzzSeeds() [][]byte {
	op := func(code int, args ...byte) []byte {
		for i, o := range opTable {
			if o == code {
				return append([]byte{byte(i)}, args...)
			}
		}
		panic("no opcode for " + opNames[code])
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	return [][]byte{
		// Paged pool through every state.
		cat([]byte{0},
			op(opAllocPaged, 7), op(opWrite, 0, 0x10, 0, 0xff, 0x1f, 9),
			op(opTrim, 0), op(opRead, 0, 0, 0, 0xff, 0x0f), op(opPageOut, 0), op(opReadU64, 0, 0x08, 0x10),
			op(opTrimAll), op(opWriteModified), op(opPageOutAll), op(opVerify, 0), op(opFree, 0)),
		// Nonpaged pool freed, kept idle and reused on both nodes.
		cat([]byte{1},
			op(opAllocNonpaged, 0x03), op(opWriteU64, 0, 0x40, 0, 1, 2, 3, 4, 5, 6, 7, 8),
			op(opFree, 0), op(opAllocNonpaged, 0x04), op(opAllocNonpaged, 0x45), op(opSwitchCPU, 1),
			op(opFill, 1, 0x00, 0x0f, 0xaa, 0xff, 0x3f), op(opAtDispatch, 1, 0x20), op(opPeek, 1), op(opStraddle, 1, 0x22)),
		// More paged pool than RAM, written, paged out and read back.
		cat([]byte{0},
			op(opAllocPaged, 0x3f), op(opAllocPaged, 0x3f), op(opAllocPaged, 0x3f), op(opAllocPaged, 0x3f),
			op(opAllocPaged, 0x3f), op(opTouchAll, 0, 1), op(opTouchAll, 1, 2), op(opTouchAll, 2, 3),
			op(opTouchAll, 3, 4), op(opTouchAll, 4, 5), op(opFill, 0, 0, 0, 0xff, 0xff, 0x11),
			op(opInjectWriteFault, 2), op(opPageOutAll), op(opSwitchCPU, 1), op(opVerify, 0), op(opVerify, 1),
			op(opAtDispatch, 0, 0), op(opFree, 1), op(opAllocPaged, 3), op(opWriteU64, 3, 0x10, 0, 9, 9, 9, 9, 9, 9, 9, 9)),
		// Many small operations, to give the mutator something to splice.
		cat([]byte{3},
			op(opAllocPaged, 1), op(opAllocNonpaged, 1), op(opWriteU64, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
			op(opWriteU64, 1, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2), op(opTrimAll), op(opAtDispatch, 0, 0),
			op(opAtDispatch, 1, 0), op(opReadU64, 0, 0, 0), op(opInjectWriteFault, 0), op(opPageOut, 0),
			op(opPageOut, 0), op(opWriteModified), op(opRead, 0, 0, 0, 0, 1), op(opFree, 1), op(opFree, 0)),
	}
}

// fuzzAlloc is one live allocation and the shadow copy of its pages.
type fuzzAlloc struct {
	va     VA
	pages  uint64
	region Region
	nx     bool
	shadow []byte // pages*PageBytes bytes
}

func (a *fuzzAlloc) bytes() uint64 { return a.pages * PageBytes }

type fuzzer struct {
	t      *testing.T
	m      *Machine
	c      *cpu.CPU
	in     []byte
	pos    int
	allocs []*fuzzAlloc
	trace  []string

	// Budgets that keep the stream clear of legitimate bugchecks.
	commitBudget, nonpagedBudget, nonpagedLive uint64
	faultPending                               bool
	writesAtInjection                          uint64
}

func runFuzzInput(t *testing.T, data []byte) {
	spec := machineSpec{ramBytes: 1 * mib, pagefileBytes: 4 * mib, cpus: 2, nodes: 2}
	if len(data) > 0 {
		if data[0]&1 != 0 {
			spec.ramBytes = 2 * mib
		}
		if data[0]&2 != 0 {
			spec.pagefileBytes = 8 * mib
		}
		if data[0]&4 != 0 {
			spec.cpus, spec.nodes = 3, 3
		}
	}
	m := newMachine(t, spec)
	_, limit := m.Commit()
	z := &fuzzer{
		t: t, m: m, c: m.CPUs.CPUs[0], in: data, pos: 1,
		commitBudget:   limit - m.Frames()/2,
		nonpagedBudget: m.Frames() / 4,
	}
	const maxOps = 400
	for n := 0; n < maxOps && z.pos < len(z.in); n++ {
		z.step()
		z.check()
		if n%16 == 15 {
			z.peekAll()
		}
	}
	z.peekAll()
	z.finish()
	if fuzzVerbose {
		t.Logf("%d ops; stats %+v\n%s", len(z.trace), m.Stats(), strings.Join(z.trace, "\n"))
	}
}

var fuzzVerbose = false

func (z *fuzzer) byte() byte {
	if z.pos >= len(z.in) {
		return 0
	}
	b := z.in[z.pos]
	z.pos++
	return b
}

func (z *fuzzer) u16() uint64 { return uint64(z.byte()) | uint64(z.byte())<<8 }

func (z *fuzzer) u64() uint64 {
	var v uint64
	for i := 0; i < 8; i++ {
		v |= uint64(z.byte()) << (8 * i)
	}
	return v
}

// pick returns a live allocation chosen by the next byte, or nil.
func (z *fuzzer) pick() *fuzzAlloc {
	b := z.byte()
	if len(z.allocs) == 0 {
		return nil
	}
	return z.allocs[int(b)%len(z.allocs)]
}

// span picks an offset and a length inside a, from the next four bytes.
func (z *fuzzer) span(a *fuzzAlloc) (off, n uint64) {
	off = z.u16() % a.bytes()
	n = 1 + z.u16()%(2*PageBytes)
	return off, min(n, a.bytes()-off)
}

func (z *fuzzer) fail(format string, args ...any) {
	z.t.Helper()
	tail := z.trace
	if len(tail) > 30 {
		tail = tail[len(tail)-30:]
	}
	z.t.Fatalf("%s\nafter %d operations; the last ones:\n  %s\nstats %+v", fmt.Sprintf(format, args...), len(z.trace), strings.Join(tail, "\n  "), z.m.Stats())
}

func (z *fuzzer) note(format string, args ...any) {
	z.trace = append(z.trace, fmt.Sprintf(format, args...))
}

func (z *fuzzer) step() {
	code := opTable[int(z.byte())%len(opTable)]
	m := z.m
	switch code {
	case opAllocPaged, opAllocNonpaged:
		b := z.byte()
		r, pages, node, nx := RegionPagedPool, uint64(1+b%64), 0, b&0x80 != 0
		if code == opAllocNonpaged {
			r, pages, node, nx = RegionNonPagedPool, uint64(1+b%4), int(b>>2)%m.Nodes(), b&0x40 != 0
			if z.nonpagedLive+pages > z.nonpagedBudget {
				return
			}
		}
		if used, _ := m.Commit(); used+pages > z.commitBudget {
			return
		}
		va := m.AllocatePages(r, pages, node, nx)
		z.note("AllocatePages(%v, %d, node %d, nx %v) = %v", r, pages, node, nx, va)
		if va == 0 {
			z.fail("AllocatePages(%v, %d) = 0 within the budgets", r, pages)
		}
		a := &fuzzAlloc{va: va, pages: pages, region: r, nx: nx, shadow: make([]byte, pages*PageBytes)}
		if r == RegionNonPagedPool {
			// Nonpaged pool is not zeroed: whatever the frames hold is
			// the starting point. Every page must be resident.
			if n := m.Peek(va, a.shadow); n != len(a.shadow) {
				z.fail("a new nonpaged run of %d pages peeks %d bytes", pages, n)
			}
			z.nonpagedLive += pages
		}
		for i := uint64(0); i < pages; i++ {
			page := va + VA(i*PageBytes)
			if got := RegionOf(page); got != r {
				z.fail("page %v of a %v allocation is in %v", page, r, got)
			}
			if r == RegionPagedPool && m.PTE(page) != DemandZeroPTE(protFor(nx)) {
				z.fail("new paged page %v has PTE %#x, want demand zero", page, uint64(m.PTE(page)))
			}
			for _, b := range z.allocs {
				if page >= b.va && page < b.va+VA(b.bytes()) {
					z.fail("page %v handed out twice (it is in %v+%d pages)", page, b.va, b.pages)
				}
			}
		}
		z.allocs = append(z.allocs, a)

	case opFree:
		b := z.byte()
		if len(z.allocs) == 0 {
			return
		}
		i := int(b) % len(z.allocs)
		a := z.allocs[i]
		z.allocs = append(z.allocs[:i], z.allocs[i+1:]...)
		z.note("FreePages(%v, %d) %v", a.va, a.pages, a.region)
		m.FreePages(a.va, a.pages)
		for p := uint64(0); p < a.pages; p++ {
			pte := m.PTE(a.va + VA(p*PageBytes))
			if a.region == RegionPagedPool && pte != 0 || a.region == RegionNonPagedPool && !pte.Valid() {
				z.fail("freed %v page %v has PTE %#x", a.region, a.va+VA(p*PageBytes), uint64(pte))
			}
		}
		if a.region == RegionNonPagedPool {
			z.nonpagedLive -= a.pages
		}

	case opWriteU64:
		a := z.pick()
		off := z.u16()
		v := z.u64()
		if a == nil {
			return
		}
		off %= a.bytes() - 7
		z.note("WriteU64(cpu %d, %v+%#x, %#x)", z.c.Number, a.va, off, v)
		if err := m.WriteU64(z.c, a.va+VA(off), v); err != nil {
			z.fail("WriteU64: %v", err)
		}
		binary.LittleEndian.PutUint64(a.shadow[off:], v)
		z.peekRange(a, off, 8)

	case opWrite, opFill:
		a := z.pick()
		if a == nil {
			return
		}
		off, n := z.span(a)
		fill := z.byte()
		dst := a.shadow[off : off+n]
		var err error
		if code == opFill {
			z.note("Fill(cpu %d, %v+%#x, %#x, %d)", z.c.Number, a.va, off, fill, n)
			for i := range dst {
				dst[i] = fill
			}
			err = m.Fill(z.c, a.va+VA(off), fill, n)
		} else {
			z.note("Write(cpu %d, %v+%#x, %d bytes from %#x)", z.c.Number, a.va, off, n, fill)
			for i := range dst {
				dst[i] = fill + byte(i*31) + byte(i>>8)
			}
			err = m.Write(z.c, a.va+VA(off), dst)
		}
		if err != nil {
			z.fail("%s: %v", opNames[code], err)
		}
		z.peekRange(a, off, n)

	case opRead:
		a := z.pick()
		if a == nil {
			return
		}
		off, n := z.span(a)
		z.note("Read(cpu %d, %v+%#x, %d)", z.c.Number, a.va, off, n)
		got := make([]byte, n)
		if err := m.Read(z.c, a.va+VA(off), got); err != nil {
			z.fail("Read: %v", err)
		}
		z.compare("Read", a, off, got)

	case opReadU64:
		a := z.pick()
		off := z.u16()
		if a == nil {
			return
		}
		off %= a.bytes() - 7
		z.readU64(a, off)

	case opStraddle:
		a := z.pick()
		p := uint64(z.byte())
		if a == nil || a.pages < 2 {
			return
		}
		off := (1+p%(a.pages-1))*PageBytes - 1 - p%7
		z.readU64(a, off)

	case opTrim, opPageOut:
		a := z.pick()
		if a == nil {
			return
		}
		if code == opTrim {
			n := m.Trim(a.va, a.pages)
			z.note("Trim(%v, %d) = %d", a.va, a.pages, n)
			if a.region != RegionPagedPool && n != 0 {
				z.fail("Trim of %v trimmed %d pages", a.region, n)
			}
			for p := uint64(0); p < a.pages && a.region == RegionPagedPool; p++ {
				if pte := m.PTE(a.va + VA(p*PageBytes)); pte.Valid() {
					z.fail("page %v still valid after Trim", a.va+VA(p*PageBytes))
				}
			}
		} else {
			n := m.PageOut(a.va, a.pages)
			z.note("PageOut(%v, %d) = %d", a.va, a.pages, n)
			if a.region != RegionPagedPool && n != 0 {
				z.fail("PageOut of %v evicted %d pages", a.region, n)
			}
		}

	case opTrimAll:
		z.note("TrimAll() = %d", m.TrimAll())
		if s := m.Stats(); s.ActivePageable != 0 {
			z.fail("%d pageable pages active after TrimAll", s.ActivePageable)
		}

	case opPageOutAll:
		z.note("PageOutAll() = %d", m.PageOutAll())
		if s := m.Stats(); s.ActivePageable != 0 || s.Standby != 0 {
			z.fail("after PageOutAll: %d active pageable, %d standby", s.ActivePageable, s.Standby)
		}

	case opWriteModified:
		// The writer over everything, or over one allocation's pages:
		// either way nothing it wrote is left modified in its range.
		a := z.pick()
		if a == nil || z.byte()%2 == 0 {
			z.note("WriteModified() = %d", m.WriteModified())
			return
		}
		before := m.Stats().Standby
		n := m.WriteModifiedRange(a.va, a.pages)
		z.note("WriteModifiedRange(%v, %d) = %d", a.va, a.pages, n)
		if a.region != RegionPagedPool && n != 0 {
			z.fail("WriteModifiedRange of %v wrote %d pages", a.region, n)
		}
		if s := m.Stats(); s.Standby != before+uint64(n) {
			z.fail("WriteModifiedRange wrote %d pages, but standby went from %d to %d", n, before, s.Standby)
		}

	case opAtDispatch:
		// At DISPATCH_LEVEL, touch only what is resident: nonpaged
		// pool, and paged pool whose PTE is valid right now.
		a := z.pick()
		off := z.u16()
		if a == nil {
			return
		}
		off %= a.bytes() - 7
		page := a.va + VA(off).PageBase()
		if !m.PTE(page).Valid() || !m.PTE(a.va+VA(off+7)).Valid() {
			z.note("AtDispatch: %v not resident, skipped", a.va+VA(off))
			return
		}
		old, err := z.c.Raise(cpu.DispatchLevel)
		if err != nil || old != cpu.PassiveLevel {
			z.fail("Raise from %v: %v", old, err)
		}
		z.note("at DISPATCH_LEVEL on cpu %d: ReadU64 and WriteU64 at %v+%#x", z.c.Number, a.va, off)
		z.readU64(a, off)
		v := ^binary.LittleEndian.Uint64(a.shadow[off:])
		if err := m.WriteU64(z.c, a.va+VA(off), v); err != nil {
			z.fail("WriteU64 of a resident page at DISPATCH_LEVEL: %v", err)
		}
		binary.LittleEndian.PutUint64(a.shadow[off:], v)
		if err := z.c.Lower(cpu.PassiveLevel); err != nil {
			z.fail("Lower: %v", err)
		}

	case opSwitchCPU:
		z.c = m.CPUs.CPUs[int(z.byte())%len(m.CPUs.CPUs)]
		z.note("switch to cpu %d", z.c.Number)

	case opInjectWriteFault:
		b := z.byte()
		s := m.Stats().Pagefile
		// One pending fault at a time: the Nth write counted from now.
		if z.faultPending && s.Writes < z.writesAtInjection {
			return
		}
		nth := s.Writes + 1 + uint64(b%8)
		z.faultPending, z.writesAtInjection = true, nth
		z.note("inject a write fault at write %d", nth)
		m.Pagefile.Inject(pagefile.Fault{Op: pagefile.OpWrite, Nth: nth, Status: 0xC0000185})

	case opTouchAll:
		// Write one u64 in every page: pressure, fast.
		a := z.pick()
		v := uint64(z.byte()) * 0x0101010101010101
		if a == nil {
			return
		}
		z.note("TouchAll(cpu %d, %v+%d pages, %#x)", z.c.Number, a.va, a.pages, v)
		for p := uint64(0); p < a.pages; p++ {
			off := p*PageBytes + (p*8)%PageBytes
			if err := m.WriteU64(z.c, a.va+VA(off), v+p); err != nil {
				z.fail("WriteU64 of page %d: %v", p, err)
			}
			binary.LittleEndian.PutUint64(a.shadow[off:], v+p)
		}

	case opOvercommit:
		// Ask for more than commit can ever give, idle pages included:
		// refused, after the idle pages were given back in the attempt.
		b := z.byte()
		used, limit := m.Commit()
		pages := limit - used + m.Stats().IdleNonPagedPages + 1 + uint64(b)
		failures := m.Stats().CommitFailures
		va := m.AllocatePages(RegionPagedPool, pages, 0, true)
		z.note("AllocatePages(%v, %d) past the commit limit = %v", RegionPagedPool, pages, va)
		if va != 0 || m.Stats().CommitFailures != failures+1 {
			z.fail("an allocation past the commit limit returned %v and counted %d failures", va, m.Stats().CommitFailures-failures)
		}

	case opPeek:
		if a := z.pick(); a != nil {
			z.peekRange(a, 0, a.bytes())
		}

	case opVerify:
		if a := z.pick(); a != nil {
			z.note("verify %v+%d pages", a.va, a.pages)
			z.readAll(a)
		}
	}
	if h := m.Halted(); h != nil {
		z.fail("the machine halted: %v (%s)", h, h.Site)
	}
}

func (z *fuzzer) readU64(a *fuzzAlloc, off uint64) {
	z.note("ReadU64(cpu %d, %v+%#x)", z.c.Number, a.va, off)
	v, err := z.m.ReadU64(z.c, a.va+VA(off))
	if err != nil {
		z.fail("ReadU64: %v", err)
	}
	var got [8]byte
	binary.LittleEndian.PutUint64(got[:], v)
	z.compare("ReadU64", a, off, got[:])
}

// compare fails unless got is the shadow of a at off.
func (z *fuzzer) compare(what string, a *fuzzAlloc, off uint64, got []byte) {
	z.t.Helper()
	want := a.shadow[off : off+uint64(len(got))]
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for got[i] == want[i] {
		i++
	}
	at := a.va + VA(off) + VA(i)
	z.fail("%s: byte at %v is %#x, the shadow says %#x (PTE %#x)", what, at, got[i], want[i], uint64(z.m.PTE(at)))
}

// peekRange compares the resident pages of a's [off, off+n) with the shadow.
func (z *fuzzer) peekRange(a *fuzzAlloc, off, n uint64) {
	z.t.Helper()
	buf := make([]byte, PageBytes)
	for page := off / PageBytes; page*PageBytes < off+n; page++ {
		va := a.va + VA(page*PageBytes)
		// Whatever state the page is in, it keeps its allocation's nx.
		switch p := z.m.PTE(va); {
		case p.Valid() && p.NoExecute() != a.nx:
			z.fail("page %v of an nx=%v allocation has PTE %#x", va, a.nx, uint64(p))
		case a.region == RegionPagedPool && !p.Valid() && p.Protection() != protFor(a.nx):
			z.fail("page %v of an nx=%v allocation has PTE %#x, protection %#x", va, a.nx, uint64(p), p.Protection())
		}
		if !z.m.Resident(va) {
			continue
		}
		if got := z.m.Peek(va, buf); got != PageBytes {
			z.fail("Peek of resident page %v returned %d bytes", va, got)
		}
		z.compare("Peek", a, page*PageBytes, buf)
	}
}

func (z *fuzzer) peekAll() {
	for _, a := range z.allocs {
		z.peekRange(a, 0, a.bytes())
	}
}

func (z *fuzzer) readAll(a *fuzzAlloc) {
	got := make([]byte, a.bytes())
	if err := z.m.Read(z.c, a.va, got); err != nil {
		z.fail("reading %v+%d pages: %v", a.va, a.pages, err)
	}
	z.compare("Read", a, 0, got)
}

func (z *fuzzer) check() {
	z.t.Helper()
	z.m.CheckInvariants()
	if err := z.m.checkMappings(); err != nil {
		z.fail("%v", err)
	}
}

// finish reads every page back on both CPUs, frees everything, and checks
// that the machine has given back all commit and every pagefile slot.
func (z *fuzzer) finish() {
	for _, c := range z.m.CPUs.CPUs {
		z.c = c
		for _, a := range z.allocs {
			z.readAll(a)
		}
	}
	z.m.PageOutAll()
	for _, a := range z.allocs {
		z.readAll(a)
	}
	z.check()
	for _, a := range z.allocs {
		z.m.FreePages(a.va, a.pages)
	}
	z.allocs = nil
	z.check()
	s := z.m.Stats()
	if s.CommitPages != s.IdleNonPagedPages+s.PageTablePages || s.PagedPoolPages != 0 || s.Pagefile.Used != 0 || s.ActivePageable+s.Standby+s.Modified != 0 {
		z.fail("after freeing everything: commit %d (idle %d), %d paged pages, %d slots, %d/%d/%d active/standby/modified",
			s.CommitPages, s.IdleNonPagedPages, s.PagedPoolPages, s.Pagefile.Used, s.ActivePageable, s.Standby, s.Modified)
	}
	if s.ActiveNonpageable != s.PageTablePages+s.IdleNonPagedPages {
		z.fail("after freeing everything: %d active nonpageable frames, %d page tables and %d idle pages",
			s.ActiveNonpageable, s.PageTablePages, s.IdleNonPagedPages)
	}
}

// A long deterministic stream from a seeded generator, so the plain test
// run exercises the fuzzer's paths beyond the seeds.
func TestFuzzMachineLongStream(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			data := make([]byte, 4000)
			x := seed * 0x9e3779b97f4a7c15
			for i := range data {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				data[i] = byte(x >> 32)
			}
			runFuzzInput(t, data)
		})
	}
}
