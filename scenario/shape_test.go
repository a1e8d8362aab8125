package scenario

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCostlyShapesAreRefusedCheaply: shapes whose cost in go-yaml's parser
// grows with the square of their size are refused before the parser
// runs, at the place they pass the limit, for about what the file costs.
// (Before the shape check, the nesting row took 15 GB for 200 KB, and
// each of the others hundreds of MB and seconds at these sizes.)
func TestCostlyShapesAreRefusedCheaply(t *testing.T) {
	var keys, docs, ends, deepMaps strings.Builder
	keys.WriteString("name: x\nsteps: [{trim: all}]\nmachine:\n")
	for i := range 20_000 {
		fmt.Fprintf(&keys, "  k%d: 1\n", i)
	}
	for range 20_000 {
		docs.WriteString("---\na: 1\n")
		ends.WriteString("a: 1\n...\n")
	}
	for i := range 300 {
		fmt.Fprintf(&deepMaps, "%sa:\n", strings.Repeat(" ", i))
	}
	for _, tc := range []struct {
		name, src, pos, msg string
	}{
		{"brackets nested deeply",
			"name: x\nsteps: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n",
			"t.yaml:2:207", "nest more than 200 deep"},
		{"flow maps nested deeply",
			"name: x\nsteps:\n  - kd: " + strings.Repeat("{a: ", 20_000) + "1" + strings.Repeat("}", 20_000) + "\n",
			"t.yaml:3:797", "nest more than 200 deep"},
		{"block lists nested deeply",
			"name: x\nsteps:\n" + strings.Repeat("- ", 100_000) + "1\n",
			"t.yaml:3:399", "nest more than 200 deep"},
		{"block maps nested deeply",
			deepMaps.String(), "t.yaml:201:201", "nest more than 200 deep"},
		{"a block map with many keys",
			keys.String(), "t.yaml:1004:3", "a map has more than 1000 keys"},
		{"many documents",
			docs.String(), "t.yaml:3:1", "one YAML document; this is a second"},
		{"many documents ended with ...",
			ends.String(), "t.yaml:3:1", "one YAML document; this is a second"},
		{"many tokens",
			"name: x\nsteps:\n  - write: {at: 0x10, bytes: [" + strings.Repeat("1,", MaxYAMLTokens) + "1]}\n",
			"t.yaml:3:", "more than 500000 YAML tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			_, err := Parse("t.yaml", []byte(tc.src))
			runtime.ReadMemStats(&m1)
			if err == nil || !strings.HasPrefix(err.Error(), tc.pos) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %.200v\nwant %s...: ...%s", err, tc.pos, tc.msg)
			}
			// About what the file costs to scan: go-yaml's scanner
			// spends some hundreds of bytes a token.
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 2000*uint64(len(tc.src))+(16<<20) {
				t.Errorf("refusing a %d-byte file allocated %d MB", len(tc.src), alloc>>20)
			}
		})
	}
}

// TestDeepButReasonableFilesLoad: the shape limits are far above any
// scenario: 32 nested repeats in block style inside threads:, a long
// description with brackets in it, and a map of many keys written in flow
// style all load.
func TestDeepButReasonableFilesLoad(t *testing.T) {
	var deep strings.Builder
	deep.WriteString("name: x\ndescription: |\n  [[[[[[ {{{{{{ not YAML, only text ]]]\nthreads:\n  - name: t1\n    steps:\n")
	indent := "      "
	for range MaxNesting {
		fmt.Fprintf(&deep, "%s- repeat:\n%s    times: 1\n%s    steps:\n", indent, indent, indent)
		indent += "      "
	}
	fmt.Fprintf(&deep, "%s- alloc:\n%s    pool: NonPagedPool\n%s    size: 16\n%s    as: a\n", indent, indent, indent, indent)
	var flowKeys strings.Builder
	flowKeys.WriteString("name: x\nsteps:\n  - alloc: {pool: NonPagedPool, size: 16, as: a}\n  - write: {at: a, bytes: [")
	for i := range 5000 {
		if i > 0 {
			flowKeys.WriteString(", ")
		}
		fmt.Fprintf(&flowKeys, "%d", i%256)
	}
	flowKeys.WriteString("]}\n")
	for name, src := range map[string]string{"deep": deep.String(), "long list": flowKeys.String()} {
		if _, err := Parse("t.yaml", []byte(src)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRoughTokens(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want int // tokens counted; the limit is passed at want+1
	}{
		{"name: x", 3},
		{"steps: [{trim: all}, {trim: all}]", 15},
		{`data: "a b c: [d] # e"`, 3},
		{`data: 'it''s [a] list'`, 3},
		{"a: 1 # [[[[ ]]]]\nb: 2", 6},
		{"kd: !pool buf", 5},
		{"x: &a 1\ny: *a", 9},
		{"it's a # tag", 2},
	} {
		if l, _ := roughTokens([]byte(tc.src), tc.want); l != 0 {
			t.Errorf("roughTokens(%q) passed %d", tc.src, tc.want)
		}
		if l, _ := roughTokens([]byte(tc.src), tc.want-1); l == 0 {
			t.Errorf("roughTokens(%q) did not pass %d", tc.src, tc.want-1)
		}
	}
}

// TestLongListsLoadInLinearTime: a list of names is checked for repeats
// with a set, not by searching the names before each (100,000 drivers
// took a dozen seconds that way), and so are thread names. Each file
// must load about as fast as a list of bytes of the same length.
func TestLongListsLoadInLinearTime(t *testing.T) {
	if testing.Short() {
		t.Skip("loads large files")
	}
	var drivers, threads, base strings.Builder
	drivers.WriteString("name: x\nsteps: [{trim: all}]\ndrivers: [")
	base.WriteString("name: x\nsteps:\n  - alloc: {pool: 0, size: 1MiB, as: a}\n  - write: {at: a, bytes: [")
	for i := range 100_000 {
		fmt.Fprintf(&drivers, "d%d.sys, ", i)
		fmt.Fprintf(&base, "%d, ", i%256)
	}
	drivers.WriteString("last.sys]\n")
	base.WriteString("0]}\n")
	threads.WriteString("name: x\nthreads:\n")
	for i := range 25_000 {
		fmt.Fprintf(&threads, "  - {name: t%d, steps: [{trim: all}]}\n", i)
	}
	load := func(name, src string) func() time.Duration {
		return func() time.Duration {
			start := time.Now()
			if _, err := Parse("t.yaml", []byte(src)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return time.Since(start)
		}
	}
	for _, c := range []struct{ name, src string }{{"drivers", drivers.String()}, {"threads", threads.String()}} {
		if d, baseline, ok := notSlower(load(c.name, c.src), load("bytes", base.String()), 10); !ok {
			t.Errorf("%s: loading took %v, a list of as many bytes %v", c.name, d, baseline)
		}
	}
}

// notSlower reports whether run takes at most ratio times what baseline
// takes, plus a second, with the times it measured. The tests that use it
// guard against work that grows faster than it should (hours, where it
// should be seconds), not against a slow host: a run over the bound is
// measured twice more, with its baseline, and the fastest of each counts,
// so a host busy with other work does not fail them.
func notSlower(run, baseline func() time.Duration, ratio time.Duration) (d, b time.Duration, ok bool) {
	b, d = baseline(), run()
	for try := 1; try < 3 && d > ratio*b+time.Second; try++ {
		b, d = min(b, baseline()), min(d, run())
	}
	return d, b, d <= ratio*b+time.Second
}

// A step line renders only the start of a long text: every step that
// aliases a long string renders it (2,000 aliases of a 1 MiB kd: string,
// before kd: was limited, quoted 2 GB), and the line keeps 120 bytes.
func TestRenderTextKeepsTheStart(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	for _, quoted := range []bool{false, true} {
		got := renderText(long, quoted)
		if len(got) > renderedTextBytes+5 || !strings.Contains(got, strings.Repeat("x", lineLimit)) {
			t.Errorf("renderText of 1 MiB (quoted %v) is %d bytes, want the first %d or so", quoted, len(got), renderedTextBytes)
		}
	}
}
