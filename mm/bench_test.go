package mm

import (
	"fmt"
	"testing"

	"simkern/cpu"
)

// Speed targets live here, not in tests. Run with
//
//	go test -run='^$' -bench=. -benchmem ./mm
//
// and expect 0 allocs/op from every access benchmark.

// ReadU64 through translation: a hit is a TLB compare and a load; a miss
// walks four levels of page tables and refills the TLB.
func BenchmarkTranslateRead(b *testing.B) {
	m := newMachine(b, machineSpec{ramBytes: 64 * mib})
	c := m.cpu0()
	// Twice as many pages as the TLB holds, visited in order: every visit
	// evicts the entry of the page visited TLBEntries pages earlier.
	const pages = 2 * cpu.TLBEntries
	va := mustAllocate(b, m, RegionNonPagedPool, pages)
	for i := uint64(0); i < pages; i++ {
		if err := m.WriteU64(c, va+VA(i*PageBytes), i); err != nil {
			b.Fatal(err)
		}
	}
	var sink uint64
	b.Run("TLBHit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := m.ReadU64(c, va+64)
			if err != nil {
				b.Fatal(err)
			}
			sink += v
		}
	})
	// i goes on from run to run: restarting it would let a short run
	// (-benchtime 100x, -count 2) revisit pages the last run left cached.
	i := uint64(0)
	b.Run("TLBMiss", func(b *testing.B) {
		b.ReportAllocs()
		misses := c.TLB.Misses
		for b.Loop() {
			i = (i + 1) % pages
			v, err := m.ReadU64(c, va+VA(i*PageBytes)+64)
			if err != nil {
				b.Fatal(err)
			}
			sink += v
		}
		b.ReportMetric(float64(c.TLB.Misses-misses)/float64(b.N), "misses/op")
	})
	_ = sink
}

// One page out to the pagefile and back with a hard fault, per iteration.
// Clean: the page still matches its slot, so PageOut only evicts it.
// Dirty: it was written since, so PageOut writes it first.
func BenchmarkPageOutIn(b *testing.B) {
	for _, dirty := range []bool{false, true} {
		name := "Clean"
		if dirty {
			name = "Dirty"
		}
		b.Run(name, func(b *testing.B) {
			m := newMachine(b, machineSpec{})
			c := m.cpu0()
			va := mustAllocate(b, m, RegionPagedPool, 1)
			if err := m.WriteU64(c, va, 1); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if n := m.PageOut(va, 1); n != 1 {
					b.Fatalf("PageOut = %d", n)
				}
				if dirty {
					if err := m.WriteU64(c, va, 2); err != nil {
						b.Fatal(err)
					}
				} else if _, err := m.ReadU64(c, va); err != nil {
					b.Fatal(err)
				}
			}
			s := m.Stats()
			b.ReportMetric(float64(s.HardFaults)/float64(b.N), "hardfaults/op")
			b.ReportMetric(float64(s.PagesWritten)/float64(b.N), "writes/op")
		})
	}
}

// Write of buffers of several sizes to resident nonpaged pool.
func BenchmarkWrite(b *testing.B) {
	m := newMachine(b, machineSpec{})
	c := m.cpu0()
	va := mustAllocate(b, m, RegionNonPagedPool, 4)
	for _, tt := range []struct {
		size int
		at   VA
	}{
		{8, va + 8},
		{64, va + 64},
		{256, va + 256},
		{PageBytes, va},
		{PageBytes, va + PageBytes/2}, // straddles two pages
		{3 * PageBytes, va + 100},
	} {
		name := fmt.Sprintf("%dB", tt.size)
		if (tt.at.PageOffset()+uint64(tt.size)-1)/PageBytes != 0 {
			name += "/straddling"
		}
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, tt.size)
			for i := range buf {
				buf[i] = byte(i)
			}
			b.SetBytes(int64(tt.size))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Write(c, tt.at, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("WriteU64", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := m.WriteU64(c, va+24, 42); err != nil {
				b.Fatal(err)
			}
		}
	})
}
