package pool

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"simkern/cpu"
	"simkern/mm"
)

// Sizes the tests use, in bytes.
const (
	kib = 1 << 10
	mib = 1 << 20
)

// noPagefile asks for a machine without a pagefile.
const noPagefile = ^uint64(0)

// driverPC is a code address in a driver (the system PTE region), so a
// fault it causes at DISPATCH_LEVEL is 0xD1, not 0xA.
const driverPC = 0xfffff880_01234040

// spec describes a test machine and its pool. The zero value of each field
// picks a small default: 16 MiB of RAM, 16 MiB of pagefile, one CPU on one
// node, Windows-like pool settings.
type spec struct {
	ramBytes      uint64
	pagefileBytes uint64 // 0: the default; noPagefile for none
	cpus, nodes   int
	cfg           Config
	seed          uint64
}

// rig is a machine, its pool and its first CPU.
type rig struct {
	t testing.TB
	m *mm.Machine
	p *Pool
	c *cpu.CPU
}

func newRig(t testing.TB, s spec) *rig {
	t.Helper()
	if s.ramBytes == 0 {
		s.ramBytes = 16 * mib
	}
	switch s.pagefileBytes {
	case 0:
		s.pagefileBytes = 16 * mib
	case noPagefile:
		s.pagefileBytes = 0
	}
	if s.cpus == 0 {
		s.cpus = 1
	}
	if s.nodes == 0 {
		s.nodes = 1
	}
	cpus, err := cpu.NewSet(s.cpus, s.nodes)
	if err != nil {
		t.Fatalf("cpu.NewSet(%d, %d): %v", s.cpus, s.nodes, err)
	}
	m, err := mm.New(mm.Config{
		RAMBytes:      s.ramBytes,
		PagefileBytes: s.pagefileBytes,
		PagefilePath:  filepath.Join(t.TempDir(), "pagefile.sys"),
		CPUs:          cpus,
		Rand:          rand.New(rand.NewPCG(s.seed, 7)),
	})
	if err != nil {
		t.Fatalf("mm.New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	p, err := New(m, s.cfg)
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	return &rig{t: t, m: m, p: p, c: cpus.CPUs[0]}
}

// cpuN returns processor n.
func (r *rig) cpuN(n int) *cpu.CPU { return r.m.CPUs.CPUs[n] }

// alloc allocates on CPU 0 and fails the test on a bugcheck or NULL.
func (r *rig) alloc(t Type, n uint64, tag string) mm.VA {
	r.t.Helper()
	return r.allocOn(r.c, t, n, tag)
}

func (r *rig) allocOn(c *cpu.CPU, t Type, n uint64, tag string) mm.VA {
	r.t.Helper()
	va, err := r.p.Allocate(c, t, n, TagOf(tag))
	if err != nil {
		r.t.Fatalf("Allocate(%v, %d, %q) on CPU %d: %v", t, n, tag, c.Number, err)
	}
	if va == 0 {
		r.t.Fatalf("Allocate(%v, %d, %q) on CPU %d: NULL", t, n, tag, c.Number)
	}
	return va
}

// free frees on CPU 0 and fails the test on a bugcheck.
func (r *rig) free(va mm.VA) {
	r.t.Helper()
	if err := r.p.Free(r.c, va); err != nil {
		r.t.Fatalf("Free(%v): %v", va, err)
	}
}

// peek reads n bytes at va as the debugger would.
func (r *rig) peek(va mm.VA, n int) []byte {
	r.t.Helper()
	b := make([]byte, n)
	if got := r.m.Peek(va, b); got != n {
		r.t.Fatalf("Peek(%v, %d): only %d bytes resident", va, n, got)
	}
	return b
}

func (r *rig) peekU64(va mm.VA) uint64 {
	r.t.Helper()
	v, ok := r.m.PeekU64(va)
	if !ok {
		r.t.Fatalf("PeekU64(%v): not resident", va)
	}
	return v
}

// poke writes bytes at va through CPU 0, as a driver's stray write would.
func (r *rig) poke(va mm.VA, b []byte) {
	r.t.Helper()
	if err := r.m.Write(r.c, va, b); err != nil {
		r.t.Fatalf("Write(%v): %v", va, err)
	}
}

func (r *rig) pokeU64(va mm.VA, v uint64) {
	r.t.Helper()
	if err := r.m.WriteU64(r.c, va, v); err != nil {
		r.t.Fatalf("WriteU64(%v): %v", va, err)
	}
}

// header reads the header of the block whose data is at va.
func (r *rig) header(data mm.VA) Header {
	r.t.Helper()
	h, ok := r.p.PeekHeader(data - HeaderBytes)
	if !ok {
		r.t.Fatalf("PeekHeader(%v): not resident", data-HeaderBytes)
	}
	return h
}

// layoutRow is one block of a page as the tests describe it.
type layoutRow struct {
	offset, size, prevSize uint64 // bytes
	state                  BlockState
}

func (l layoutRow) String() string {
	return fmt.Sprintf("{+%#x size %#x prev %#x %s}", l.offset, l.size, l.prevSize, stateName(l.state))
}

func stateName(s BlockState) string {
	switch s {
	case BlockFree:
		return "free"
	case BlockAllocated:
		return "allocated"
	case BlockLookaside:
		return "lookaside"
	}
	return fmt.Sprintf("state(%d)", s)
}

// layout walks the page holding va with PageBlocks and fails the test if
// the walk finds a problem.
func (r *rig) layout(va mm.VA) []layoutRow {
	r.t.Helper()
	blocks, problem, resident := r.p.PageBlocks(va)
	if !resident {
		r.t.Fatalf("PageBlocks(%v): page not resident", va)
	}
	if problem != nil {
		r.t.Fatalf("PageBlocks(%v): walk broke: %+v", va, *problem)
	}
	out := make([]layoutRow, len(blocks))
	for i, b := range blocks {
		out[i] = layoutRow{b.VA.PageOffset(), b.Size, b.PrevSize, b.State}
	}
	return out
}

// check runs the validator and our own invariants, failing the test on a
// problem.
func (r *rig) check() {
	r.t.Helper()
	if err := r.p.ValidateAll(); err != nil {
		r.t.Fatalf("ValidateAll: %v", err)
	}
	r.p.CheckInvariants()
	r.m.CheckInvariants()
}

// TagStatsOf returns one tag's statistics (zero for a tag never used).
func (p *Pool) TagStatsOf(tag Tag) TagStats {
	tag &^= ProtectedTag
	if tag == 0 {
		return p.tags.zeroTag
	}
	if i, found := p.tags.slot(tag); found {
		return p.tags.rows[i]
	}
	return TagStats{Tag: tag}
}
