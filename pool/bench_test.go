package pool

import (
	"math/rand/v2"
	"testing"

	"simkern/mm"
)

// benchLive is the live set each benchmark keeps while it churns.
type benchLive struct {
	r    *rig
	t    Type
	vas  []mm.VA
	rng  *rand.Rand
	min  uint64 // bytes
	span uint64
}

func newBenchLive(b *testing.B, s spec, t Type, live int, minBytes, maxBytes uint64) *benchLive {
	b.Helper()
	l := &benchLive{
		r:    newRig(b, s),
		t:    t,
		rng:  rand.New(rand.NewPCG(1, 2)), // fixed seed: every run churns alike
		min:  minBytes,
		span: maxBytes - minBytes + 1,
	}
	for range live {
		l.vas = append(l.vas, l.allocate(b))
	}
	return l
}

func (l *benchLive) allocate(b *testing.B) mm.VA {
	n := l.min + l.rng.Uint64N(l.span)
	va, err := l.r.p.Allocate(l.r.c, l.t, n, TagOf("Bnch"))
	if err != nil || va == 0 {
		b.Fatalf("Allocate(%v, %d) = %v, %v", l.t, n, va, err)
	}
	return va
}

// churn frees a random live block and allocates a new one in its place,
// b.N times.
func (l *benchLive) churn(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		i := l.rng.IntN(len(l.vas))
		if err := l.r.p.Free(l.r.c, l.vas[i]); err != nil {
			b.Fatal(err)
		}
		l.vas[i] = l.allocate(b)
	}
	b.StopTimer()
	if h := l.r.m.Halted(); h != nil {
		b.Fatal(h)
	}
}

// BenchmarkAllocFree: nonpaged, 16 to 1024 bytes, 10,000 live blocks.
func BenchmarkAllocFree(b *testing.B) {
	l := newBenchLive(b, spec{ramBytes: 64 * mib}, NonPagedPool, 10000, 16, 1024)
	l.churn(b)
}

// BenchmarkAllocFreeLarge: nonpaged big allocations, 8 KiB to 64 KiB,
// 1,000 live.
func BenchmarkAllocFreeLarge(b *testing.B) {
	l := newBenchLive(b, spec{ramBytes: 128 * mib}, NonPagedPool, 1000, 8*kib, 64*kib)
	l.churn(b)
}

// BenchmarkAllocFreePaged: paged, 16 to 1024 bytes, 10,000 live blocks
// (about 5 MiB of pool) on 2 MiB of RAM, so headers and free lists page
// in and out as the pool works.
func BenchmarkAllocFreePaged(b *testing.B) {
	l := newBenchLive(b, spec{ramBytes: 2 * mib, pagefileBytes: 64 * mib}, PagedPool, 10000, 16, 1024)
	before := l.r.m.Stats().HardFaults
	l.churn(b)
	b.ReportMetric(float64(l.r.m.Stats().HardFaults-before)/float64(b.N), "hardfaults/op")
}
