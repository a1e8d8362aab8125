package pool_test

import (
	"fmt"
	"strings"
	"testing"

	"simkern/cpu"
	"simkern/kd"
	"simkern/mm"
	"simkern/pool"
)

// What !pool prints for special pool: a live allocation's line and its
// owner, and for a freed page the lines for memory that cannot be read.
// (The test lives here, in an external package, because kd's own files
// belong to the debugger.)
func TestSpecialPoolInKd(t *testing.T) {
	cs, err := cpu.NewSet(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mm.New(mm.Config{RAMBytes: 8 << 20, PagefileBytes: 8 << 20, PagefilePath: t.TempDir() + "/pagefile.sys", CPUs: cs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, err := pool.New(m, pool.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := cs.CPUs[0]
	c.PC = 0xfffff880_01234040
	alloc := func(ty pool.Type, n uint64, tag string, mode pool.SpecialMode) mm.VA {
		va, ok, err := p.AllocateSpecial(c, ty, n, pool.TagOf(tag), mode)
		if err != nil || !ok {
			t.Fatalf("AllocateSpecial: %v, %v", ok, err)
		}
		return va
	}
	irp := alloc(pool.NonPagedPool, 0x38, "Irp ", pool.SpecialOverrun)
	paged := alloc(pool.PagedPool, 0x123, "Spcl", pool.SpecialUnderrun)
	freed := alloc(pool.NonPagedPool, 8, "Spcl", pool.SpecialOverrun)
	if err := m.Write(c, paged, []byte("special")); err != nil {
		t.Fatal(err)
	}
	if err := p.Free(c, freed); err != nil {
		t.Fatal(err)
	}
	target := &kd.Target{Machine: m, Pool: p}

	tests := []struct {
		name string
		cmd  string
		want string
	}{
		{
			name: "a nonpaged allocation with a known tag, asked by an address inside it",
			cmd:  fmt.Sprintf("!pool %x", uint64(irp+8)),
			want: fmt.Sprintf("Pool page %s region is Special pool\n"+
				"*%s size: 38 non-paged special pool, Tag is Irp \n"+
				"\t\tPooltag Irp  : Io, IRP packets, Binary : nt!io\n", irp+8, irp),
		},
		{
			name: "a paged allocation (underrun mode) with an unknown tag",
			cmd:  fmt.Sprintf("!pool %x", uint64(paged)),
			want: fmt.Sprintf("Pool page %s region is Special pool\n"+
				"*%s size: 123 paged special pool, Tag is Spcl\n"+
				"\t\tOwning component : Unknown (update pooltag.txt)\n", paged, paged),
		},
		{
			name: "flag 1 adds the data",
			cmd:  fmt.Sprintf("!pool %x 1", uint64(paged)),
			want: fmt.Sprintf("Pool page %s region is Special pool\n"+
				"*%s size: 123 paged special pool, Tag is Spcl\n"+
				"\t\tOwning component : Unknown (update pooltag.txt)\n", paged, paged),
		},
		{
			name: "a freed special page cannot be read",
			cmd:  fmt.Sprintf("!pool %x", uint64(freed)),
			want: fmt.Sprintf("Pool page %s region is Special pool\n"+
				"%s is not a valid large pool allocation, checking large session pool...\n"+
				"%s is not valid pool. Checking for freed (or corrupt) pool\n"+
				"Address %s could not be read. It may be a freed, invalid or paged out page\n", freed, freed, freed, freed),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			target.Run(&b, tt.cmd)
			got := b.String()
			if strings.HasSuffix(tt.cmd, " 1") {
				// The data rows follow the owner line: check the first.
				// "special" and then the page's pattern byte.
				var pat [1]byte
				m.Peek(paged+7, pat[:])
				fill := strings.Repeat(fmt.Sprintf("%02x", pat[0]), 4)
				first := fmt.Sprintf("    %s  63657073 %s6c6169 %s %s\n", paged, fill[:2], fill, fill)
				rows := strings.Count(got, "\n    fffff980")
				if !strings.HasPrefix(got, tt.want+first) || rows != 0x130/16 || !strings.HasSuffix(got, "\n\n") {
					t.Errorf("%s:\n%s\nwant it to start with\n%s%s\nthen 0x130 bytes in %d rows (got %d) and a blank line",
						tt.cmd, got, tt.want, first, 0x130/16, rows)
				}
				return
			}
			if got != tt.want {
				t.Errorf("%s:\n%s\nwant\n%s", tt.cmd, got, tt.want)
			}
		})
	}
}
