package pool

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"simkern/cpu"
	"simkern/internal/simtest"
	"simkern/mm"
)

// Random operation streams. decodeOps turns fuzz bytes into pool
// operations; runOps plays them on a machine, checking after every one
// that nothing halted, the validator passes, our invariants hold and the
// data written reads back; at the end the tag table must equal a shadow
// kept from the live blocks, recomputed here the slow way.

type opKind uint8

const (
	opAllocate opKind = iota
	opFree
	opWrite
	opPageOut
	opTrim
)

func (k opKind) String() string {
	return [...]string{"allocate", "free", "write", "page-out", "trim"}[k]
}

// fuzzOp is one decoded operation.
type fuzzOp struct {
	kind     opKind
	t        Type   // allocate
	n        uint64 // allocate: bytes
	tag      Tag    // allocate
	cpu      int    // allocate, free: taken modulo the machine's CPUs
	dispatch bool   // allocate, free: at DISPATCH_LEVEL when the pool is nonpaged
	pick     int    // free, write: which live block, modulo their number
	withTag  bool   // free: ExFreePoolWithTag
	seed     byte   // write: the pattern
}

func (o fuzzOp) String() string {
	switch o.kind {
	case opAllocate:
		return fmt.Sprintf("allocate %v %d %q cpu %d dispatch %v", o.t, o.n, o.tag, o.cpu, o.dispatch)
	case opFree:
		return fmt.Sprintf("free #%d cpu %d withTag %v dispatch %v", o.pick, o.cpu, o.withTag, o.dispatch)
	case opWrite:
		return fmt.Sprintf("write #%d seed %d", o.pick, o.seed)
	}
	return o.kind.String()
}

// fuzzTags is the small set of tags streams use; the last is protected.
var fuzzTags = [...]Tag{TagOf("Fz0"), TagOf("Fz1"), TagOf("Fz2"), TagOf("Fz3"), TagOf("FzP") | ProtectedTag}

// edgeSizes are sizes at the pool's boundaries.
var edgeSizes = [...]uint64{1, 8, 9, 40, 48, 488, 489, 4056, 4060, 4064, 4065, 4096, 4097, 8192, 9000}

// fuzzTypes are the pool types streams allocate.
var fuzzTypes = [...]Type{NonPagedPool, PagedPool, NonPagedPoolNx}

// Limits that keep a stream's memory small and its run short.
const (
	maxFuzzOps  = 400
	maxFuzzLive = 48
)

// byteReader hands out the fuzz input a byte at a time, then zeros.
type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *byteReader) done() bool { return r.i >= len(r.b) }

func decodeOps(data []byte) []fuzzOp {
	r := &byteReader{b: data}
	var ops []fuzzOp
	for !r.done() && len(ops) < maxFuzzOps {
		k := r.next() % 20
		var o fuzzOp
		switch {
		case k < 9:
			o.kind = opAllocate
			o.t = fuzzTypes[r.next()%3]
			s := r.next()
			if s&1 == 0 {
				o.n = edgeSizes[int(s>>1)%len(edgeSizes)]
			} else {
				o.n = (uint64(s>>1)<<8|uint64(r.next()))%9000 + 1
			}
			o.tag = fuzzTags[r.next()%uint8(len(fuzzTags))]
			c := r.next()
			o.cpu, o.dispatch = int(c&0x7f), c&0x80 != 0
		case k < 15:
			o.kind = opFree
			o.pick = int(r.next())
			c := r.next()
			o.cpu, o.dispatch, o.withTag = int(c&0x3f), c&0x80 != 0, c&0x40 != 0
		case k < 18:
			o.kind = opWrite
			o.pick = int(r.next())
			o.seed = r.next()
		case k < 19:
			o.kind = opPageOut
		default:
			o.kind = opTrim
		}
		ops = append(ops, o)
	}
	return ops
}

// liveBlock is the shadow of one allocation.
type liveBlock struct {
	va      mm.VA
	t       Type
	n       uint64
	tag     Tag
	written bool
	seed    byte
}

// blockBytesSlow is what the tag table must count for a request of n
// bytes, worked out without the pool's helpers: header, data and an
// 8-byte canary in 16-byte units (at most 255) for small requests, whole
// pages for big ones.
func blockBytesSlow(n uint64) uint64 {
	if n > 4064 {
		return (n + 4095) / 4096 * 4096
	}
	return min((16+n+8+15)/16, 255) * 16
}

// streamSpec is the machine a stream runs on.
type streamSpec struct {
	spec
	name string
	// checkEvery validates and checks invariants after every n-th
	// operation (and after the last); 0 means after every one.
	checkEvery int
}

// runOps plays ops and returns the final tag table and how many
// allocations returned NULL. It fails t on any halt, validation failure,
// invariant panic, or data that does not read back.
func runOps(t testing.TB, s streamSpec, ops []fuzzOp) ([]TagStats, int) {
	t.Helper()
	r := newRig(t, s.spec)
	var live []liveBlock
	nulls := 0
	step := -1
	defer func() {
		if e := recover(); e != nil {
			t.Fatalf("%s: step %d (%v): panic: %v", s.name, step, ops[step], e)
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: step %d (%v): %s", s.name, step, ops[step], fmt.Sprintf(format, args...))
	}
	atLevel := func(c *cpu.CPU, dispatch bool, f func() error) error {
		if !dispatch {
			return f()
		}
		simtest.Raise(t, c, cpu.DispatchLevel)
		err := f()
		if err == nil {
			if lerr := c.Lower(cpu.PassiveLevel); lerr != nil {
				t.Fatal(lerr)
			}
		}
		return err
	}
	verifyData := func(b liveBlock) {
		t.Helper()
		if !b.written {
			return
		}
		got := make([]byte, b.n)
		if err := r.m.Read(r.c, b.va, got); err != nil {
			fail("reading %v back: %v", b.va, err)
		}
		if !bytes.Equal(got, pattern(int(b.seed), b.n)) {
			fail("the %d bytes written at %v did not read back", b.n, b.va)
		}
	}
	ncpu := len(r.m.CPUs.CPUs)
	for step = range ops {
		o := ops[step]
		switch o.kind {
		case opAllocate:
			if len(live) >= maxFuzzLive {
				continue
			}
			c := r.cpuN(o.cpu % ncpu)
			var va mm.VA
			err := atLevel(c, o.dispatch && !o.t.Paged(), func() error {
				var err error
				va, err = r.p.Allocate(c, o.t, o.n, o.tag)
				return err
			})
			if err != nil {
				fail("Allocate: %v", err)
			}
			if va == 0 {
				nulls++
				continue
			}
			if o.n <= MaxSmallBytes && va.PageOffset() == 0 || o.n > MaxSmallBytes && va.PageOffset() != 0 || va%16 != 0 {
				fail("Allocate(%d) returned %v", o.n, va)
			}
			live = append(live, liveBlock{va: va, t: o.t, n: o.n, tag: o.tag})
		case opFree:
			if len(live) == 0 {
				continue
			}
			i := o.pick % len(live)
			b := live[i]
			verifyData(b)
			c := r.cpuN(o.cpu % ncpu)
			err := atLevel(c, o.dispatch && !b.t.Paged(), func() error {
				if o.withTag || b.tag&ProtectedTag != 0 {
					return r.p.FreeWithTag(c, b.va, b.tag)
				}
				return r.p.Free(c, b.va)
			})
			if err != nil {
				fail("Free(%v): %v", b.va, err)
			}
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		case opWrite:
			if len(live) == 0 {
				continue
			}
			b := &live[o.pick%len(live)]
			b.written, b.seed = true, o.seed
			if err := r.m.Write(r.c, b.va, pattern(int(b.seed), b.n)); err != nil {
				fail("writing %v: %v", b.va, err)
			}
		case opPageOut:
			r.m.PageOutAll()
		case opTrim:
			r.m.TrimAll()
		}
		if h := r.m.Halted(); h != nil {
			fail("machine halted: %v", h)
		}
		if s.checkEvery > 1 && step%s.checkEvery != 0 && step != len(ops)-1 {
			continue
		}
		if err := r.p.ValidateAll(); err != nil {
			fail("ValidateAll: %v", err)
		}
		r.p.CheckInvariants()
		r.m.CheckInvariants()
	}
	step = len(ops) - 1
	for _, b := range live {
		verifyData(b)
	}
	if len(ops) == 0 {
		return r.p.Tags(), nulls
	}

	// The tag table against the live blocks.
	type shadow struct{ n, bytes [2]int64 } // nonpaged, paged
	want := map[Tag]*shadow{}
	for _, b := range live {
		tag := b.tag &^ ProtectedTag
		if want[tag] == nil {
			want[tag] = &shadow{}
		}
		k := 0 // nonpaged, then paged
		if b.t.Paged() {
			k = 1
		}
		want[tag].n[k]++
		want[tag].bytes[k] += int64(blockBytesSlow(b.n))
	}
	var total [2]int64
	for _, s := range r.p.Tags() {
		w := want[s.Tag]
		if w == nil {
			w = &shadow{}
		}
		got := shadow{n: [2]int64{s.NonPagedOutstanding(), s.PagedOutstanding()}, bytes: [2]int64{s.NonPagedBytes, s.PagedBytes}}
		if got != *w {
			fail("tag %q: tracker believes %d+%d allocations of %d+%d bytes (nonpaged+paged); live blocks hold %d+%d of %d+%d",
				s.Tag, got.n[0], got.n[1], got.bytes[0], got.bytes[1], w.n[0], w.n[1], w.bytes[0], w.bytes[1])
		}
		delete(want, s.Tag)
		total[0] += s.NonPagedBytes
		total[1] += s.PagedBytes
	}
	for tag, w := range want {
		fail("tag %q: live blocks hold %+v but the tracker has no row", tag, *w)
	}
	if x := r.p.Totals(); int64(x.NonPagedBytes) != total[0] || int64(x.PagedBytes) != total[1] {
		fail("Totals: %d nonpaged + %d paged bytes; tags hold %d + %d", x.NonPagedBytes, x.PagedBytes, total[0], total[1])
	}
	return r.p.Tags(), nulls
}

// FuzzPoolOps: any stream of allocations, frees, writes, page-outs and
// trims on a small two-node machine never halts it, and leaves the pool
// consistent. The first byte picks the lookaside lists on or off.
func FuzzPoolOps(f *testing.F) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 99))
		b := make([]byte, 64+seed*64)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		s := streamSpec{name: "fuzz", spec: spec{
			ramBytes: 2 * mib, pagefileBytes: 16 * mib, cpus: 2, nodes: 2,
			cfg: Config{NoLookaside: data[0]&1 != 0, VerifyEveryOp: true},
		}}
		runOps(t, s, decodeOps(data[1:]))
	})
}

// Metamorphic: one random stream run with the lookaside lists on and off,
// on 1 CPU and on 4 CPUs over 2 nodes, ends with the same tag table. The
// lookaside lists and NUMA change where blocks go, never what is
// allocated.
func TestMetamorphic(t *testing.T) {
	shapes := []streamSpec{
		{name: "1 CPU, lookaside on", spec: spec{ramBytes: 32 * mib, cpus: 1, nodes: 1}},
		{name: "1 CPU, lookaside off", spec: spec{ramBytes: 32 * mib, cpus: 1, nodes: 1, cfg: Config{NoLookaside: true}}},
		{name: "4 CPUs on 2 nodes, lookaside on", spec: spec{ramBytes: 32 * mib, cpus: 4, nodes: 2}},
		{name: "4 CPUs on 2 nodes, lookaside off", spec: spec{ramBytes: 32 * mib, cpus: 4, nodes: 2, cfg: Config{NoLookaside: true}}},
		{name: "4 CPUs, tight RAM: paging", spec: spec{ramBytes: 2 * mib, pagefileBytes: 32 * mib, cpus: 4, nodes: 2}},
	}
	seeds := 40
	if testing.Short() {
		seeds = 5
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 2026))
		data := make([]byte, 1500)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		ops := decodeOps(data)
		var first []TagStats
		for i, s := range shapes {
			s.name = fmt.Sprintf("seed %d, %s", seed, s.name)
			s.checkEvery = 8
			got, nulls := runOps(t, s, ops)
			if nulls != 0 {
				t.Fatalf("%s: %d allocations returned NULL; the comparison needs none", s.name, nulls)
			}
			if i == 0 {
				first = got
				continue
			}
			if len(got) != len(first) {
				t.Fatalf("%s: %d tags, %s has %d", s.name, len(got), shapes[0].name, len(first))
			}
			for j := range got {
				if got[j] != first[j] {
					t.Fatalf("%s: tag %q:\n got %+v\nwant %+v (from %s)", s.name, got[j].Tag, got[j], first[j], shapes[0].name)
				}
			}
		}
	}
}
