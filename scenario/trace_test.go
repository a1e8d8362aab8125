package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"simkern/pool"
)

func TestParseTrace(t *testing.T) {
	src := `# op id pool tag size [cpu]
a 1 NonPagedPool Irp  240 0
a 2 PagedPool    File 1024   # a trailing comment

	a 0x10 1 0x41424344 0x20 3
f 1
a 1 nonpagedpoolnx Ab#c 16
f 0x10
`
	got, err := ParseTrace("boot.trace", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []TraceOp{
		{Alloc: true, ID: 1, Pool: pool.NonPagedPool, Tag: pool.TagOf("Irp"), Size: 240, CPU: 0, CPUSet: true, Line: 2},
		{Alloc: true, ID: 2, Pool: pool.PagedPool, Tag: pool.TagOf("File"), Size: 1024, Line: 3},
		{Alloc: true, ID: 16, Pool: pool.PagedPool, Tag: 0x41424344, Size: 32, CPU: 3, CPUSet: true, Line: 5},
		{ID: 1, Line: 6},
		{Alloc: true, ID: 1, Pool: pool.NonPagedPoolNx, Tag: pool.TagOf("Ab#c"), Size: 16, Line: 7},
		{ID: 16, Line: 8},
	}
	if len(got) != len(want) {
		t.Fatalf("%d ops, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("op %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A trace saved with a byte order mark (as some Windows editors do) reads
// as one without it.
func TestParseTraceSkipsAByteOrderMark(t *testing.T) {
	got, err := ParseTrace("bom.trace", strings.NewReader("\ufeffa 1 NonPagedPool Abcd 16\nf 1\n"))
	want := []TraceOp{{Alloc: true, ID: 1, Pool: pool.NonPagedPool, Tag: pool.TagOf("Abcd"), Size: 16, Line: 1}, {ID: 1, Line: 2}}
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseTrace = %+v, %v; want %+v", got, err, want)
	}
}

// A second free of an ID is an operation (a double free, to replay), and
// so is a third; the frees of a reallocated ID start again.
func TestParseTraceKeepsSecondFrees(t *testing.T) {
	got, err := ParseTrace("df.trace", strings.NewReader("a 1 NonPagedPool Abcd 16\nf 1\nf 1\nf 1\na 1 PagedPool Abcd 8\nf 1\nf 1\n"))
	if err != nil || len(got) != 7 || got[2].Alloc || got[2].ID != 1 || got[6].Line != 7 {
		t.Errorf("ParseTrace = %+v, %v; want the seven operations", got, err)
	}
}

// TestParseTraceErrors: each bad line is reported as FILE:LINE:COL at the
// field that is wrong.
func TestParseTraceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src     string
		pos, key, msg string
	}{
		{"an unknown operation", "a 1 PagedPool Abcd 8\nx 1\n", "t.trace:2:1", "op", `unknown operation "x"`},
		{"an upper-case operation", "A 1 PagedPool Abcd 8\n", "t.trace:1:1", "op", `unknown operation "A"`},
		{"an alloc missing its size", "# header\na 1 PagedPool Abcd\n", "t.trace:2:1", "", "want `a ID POOL TAG SIZE [CPU]`, got 4 fields"},
		{"an alloc with too many fields", "a 1 PagedPool Abcd 8 0 9\n", "t.trace:1:1", "", "got 7 fields"},
		{"an alloc with far too many fields", "a 1 PagedPool Abcd 8 0 9 9 9 9\n", "t.trace:1:1", "", "got 7 fields"},
		{"a free missing its id", "f\n", "t.trace:1:1", "", "want `f ID`, got 1 fields"},
		{"a free with extra fields", "a 1 PagedPool Abcd 8\nf 1 2\n", "t.trace:2:1", "", "want `f ID`"},
		{"a bad id", "a one PagedPool Abcd 8\n", "t.trace:1:3", "id", `bad id "one"`},
		{"an id past 64 bits", "a 18446744073709551616 PagedPool Abcd 8\n", "t.trace:1:3", "id", "bad id"},
		{"a bad size", "a 1 PagedPool Abcd 12x\n", "t.trace:1:20", "size", `bad size "12x"`},
		{"a negative size", "a 1 PagedPool Abcd -5\n", "t.trace:1:20", "size", `bad size "-5"`},
		{"a size past 4 GiB", "a 1 PagedPool Abcd 0x100000001\n", "t.trace:1:20", "size", "up to 4294967296"},
		{"an unknown pool", "a 1 PagedPoo Abcd 8\n", "t.trace:1:5", "pool", `unknown pool type "PagedPoo"`},
		{"an unknown pool number", "a 1 3 Abcd 8\n", "t.trace:1:5", "pool", `unknown pool type "3"`},
		{"a tag too long", "a 1 PagedPool Abcde 8\n", "t.trace:1:15", "tag", "a tag is 1 to 4 characters"},
		{"a hex tag too wide", "a 1 PagedPool 0x123456789 8\n", "t.trace:1:15", "tag", "a 0x tag is 1 to 8 hex digits"},
		{"a bare 0x tag", "a 1 PagedPool 0x 8\n", "t.trace:1:15", "tag", "a 0x tag is 1 to 8 hex digits"},
		{"a cpu past 255", "a 1 PagedPool Abcd 8 256\n", "t.trace:1:22", "cpu", "the machine has CPUs 0 to 255"},
		{"a double alloc of a live id", "a 7 PagedPool Abcd 8\n\na 7 PagedPool Abcd 8\n", "t.trace:3:3", "id", "allocates id 7 again; line 1 allocated it"},
		{"a free of an id never allocated", "a 1 PagedPool Abcd 8\nf 2\n", "t.trace:2:3", "id", "frees id 2, which is not allocated"},
		{"a free of an id freed too long ago", "a 1 PagedPool Abcd 8\nf 1\n" + strings.Repeat("a 2 PagedPool Abcd 8\nf 2\n", 1<<16) + "f 1\n",
			"t.trace:131075:3", "id", "frees id 1, which is not allocated (never, or freed before the last 65536 frees)"},
		{"a line past 64 KiB", "a 1 PagedPool Abcd 8\n" + strings.Repeat(" ", 70000) + "\n", "t.trace:2:1", "", "line longer than 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTrace("t.trace", strings.NewReader(tc.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v (%T), want *Error", err, err)
			}
			if e.Pos.String() != tc.pos || e.Key != tc.key || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got  %v\nwant %s: %s: ...%s...", err, tc.pos, tc.key, tc.msg)
			}
		})
	}
}

func TestParseTraceAgreesWithPool(t *testing.T) {
	// The allocation-free fast paths must read every spelling as pool does.
	for _, s := range append(pool.TypeNames(), "0", "1", "2", "4", "5", "512", "0x200", "0o1", "nonpagedpool", "PAGEDPOOL") {
		want, wantErr := pool.ParseType(s)
		ops, err := ParseTrace("t", strings.NewReader("a 1 "+s+" Abcd 8\n"))
		if (err == nil) != (wantErr == nil) || err == nil && ops[0].Pool != want {
			t.Errorf("pool %q: trace reads %v, %v; pool.ParseType reads %v, %v", s, ops, err, want, wantErr)
		}
	}
	for _, s := range []string{"A", "Ab", "Abc", "Abcd", "0x41", "0X41424344", "a#b", "~~~~"} {
		want, wantErr := pool.ParseTag(s)
		ops, err := ParseTrace("t", strings.NewReader("a 1 PagedPool "+s+" 8\n"))
		if (err == nil) != (wantErr == nil) || err == nil && ops[0].Tag != want {
			t.Errorf("tag %q: trace reads %v, %v; pool.ParseTag reads %v, %v", s, ops, err, want, wantErr)
		}
	}
}

// bigTrace writes n lines: allocations that build up to 1,000 live
// blocks, then frees, so both ops and the live-ID set are exercised.
func bigTrace(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 28)
	pools := []string{"NonPagedPool", "PagedPool", "NonPagedPoolNx"}
	id := 0
	for i := 0; i < n; i++ {
		if i%2 == 1 && id > 1000 {
			fmt.Fprintf(&b, "f %d\n", id-1000)
			continue
		}
		id++
		if i%3 == 0 {
			fmt.Fprintf(&b, "a %d %s Tg%02d %d %d\n", id, pools[i%3], i%100, 16+i%4000, i%4)
		} else {
			fmt.Fprintf(&b, "a %d %s Tg%02d %d\n", id, pools[i%3], i%100, 16+i%4000)
		}
	}
	return b.Bytes()
}

func TestParseTraceMillionLines(t *testing.T) {
	data := bigTrace(1_000_000)
	ops, err := ParseTrace("big.trace", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1_000_000 || ops[999_999].Line != 1_000_000 {
		t.Fatalf("%d ops, last on line %d; want 1000000 of each", len(ops), ops[len(ops)-1].Line)
	}
}

// TestParseTraceAllocatesNothingPerLine: ten times the lines must not cost
// more allocations than the growth of the live set, and with recall of
// the recent frees (bounded here at 1,000, which both traces fill).
func TestParseTraceAllocatesNothingPerLine(t *testing.T) {
	defer func(n int) { freeRecall = n }(freeRecall)
	freeRecall = 1000
	for _, recall := range []bool{false, true} {
		count := func(n int) float64 {
			data := bigTrace(n)
			return testing.AllocsPerRun(5, func() {
				if _, err := parseTrace("t", bytes.NewReader(data), MaxCPUs, recall, func(TraceOp) error { return nil }); err != nil {
					t.Fatal(err)
				}
			})
		}
		small, large := count(10_000), count(100_000)
		if large > small+20 {
			t.Errorf("recall %v: 10,000 lines: %v allocations; 100,000 lines: %v. Lines should cost none", recall, small, large)
		}
	}
}

func BenchmarkParseTrace(b *testing.B) {
	data := bigTrace(1_000_000)
	for _, recall := range []bool{false, true} {
		b.Run(fmt.Sprintf("recall=%v", recall), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := parseTrace("big.trace", bytes.NewReader(data), MaxCPUs, recall, func(TraceOp) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestReplayOfATraceChangedAfterLoading: a short trace runs as the
// loader read it, whatever happens to the file; a long one is read again
// as it replays, and must be the file the loader read: a different size
// fails the step before anything runs, a bad line or more operations
// where they appear, different bytes at the end.
func TestReplayOfATraceChangedAfterLoading(t *testing.T) {
	const original = "a 1 NonPagedPool Abcd 16\nf 1\n"
	for _, tc := range []struct {
		name     string
		kept     bool
		now      string // "": the file is removed
		want     string // "": a clean replay of the original
		replayed bool   // the failed step ran the allocation first
	}{
		{"kept: a line gone bad", true, "a 1 NonPagedPool Abcd 16\nf 2\n", "", false},
		{"kept: the file gone", true, "", "", false},
		{"read again: the same trace", false, original, "", false},
		{"read again: a line gone bad", false, "a 1 NonPagedPool Abcd 16\nf 2\n", "changed since the scenario was loaded: %s:2:3: id: frees id 2", true},
		{"read again: the same size, another tag", false, "a 1 NonPagedPool Zzzz 16\nf 1\n", "its bytes differ", true},
		{"read again: a line more", false, original + "a 2 NonPagedPool Abcd 16\n", "it held 29 bytes, now 54", false},
		{"read again: the file gone", false, "", "cannot read the trace", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.kept {
				defer func(n uint64) { keptTraceOps = n }(keptTraceOps)
				keptTraceOps = 0
			}
			dir := t.TempDir()
			trace := filepath.Join(dir, "t.trace")
			if err := os.WriteFile(trace, []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Parse(filepath.Join(dir, "r.yaml"), []byte("name: r\nsteps:\n  - replay: t.trace\n"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.now == "" {
				err = os.Remove(trace)
			} else {
				err = os.WriteFile(trace, []byte(tc.now), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, o, out := runInline(t, s, Options{})
			if tc.want == "" {
				if o.Exit != ExitOK || !strings.Contains(out, "-> 1 allocation, 1 free") {
					t.Errorf("exit %d, want a clean replay of the trace as loaded:\n%s", o.Exit, out)
				}
				return
			}
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, trace)
			}
			if o.Exit != ExitFailed || len(o.Failures) != 1 || !strings.Contains(o.Failures[0], want) {
				t.Errorf("exit %d, failures %q; want one naming %q", o.Exit, o.Failures, want)
			}
			if ran := strings.Contains(out, "pool calls     1 to allocate"); ran != tc.replayed {
				t.Errorf("an allocation ran: %v, want %v:\n%s", ran, tc.replayed, out)
			}
		})
	}
}

// TestTracesKeptWithinTheBudget: a scenario keeps the operations of its
// traces while they fit in keptTraceOps together, counting a trace that
// several steps replay once; the rest are read again when they replay.
func TestTracesKeptWithinTheBudget(t *testing.T) {
	defer func(n uint64) { keptTraceOps = n }(keptTraceOps)
	keptTraceOps = 3
	dir := t.TempDir()
	for _, name := range []string{"a.trace", "b.trace"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("a 1 NonPagedPool Abcd 16\nf 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Parse(filepath.Join(dir, "r.yaml"), []byte("name: r\nsteps:\n  - replay: a.trace\n  - replay: a.trace\n  - replay: b.trace\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false} {
		if kept := s.Steps[i].Replay.file.kept != nil; kept != want {
			t.Errorf("step %d keeps its trace: %v, want %v", i, kept, want)
		}
	}
	if _, o, out := runInline(t, s, Options{}); o.Exit != ExitOK || strings.Count(out, "-> 1 allocation, 1 free") != 3 {
		t.Errorf("exit %d, want three clean replays:\n%s", o.Exit, out)
	}
}

// commentLines reads as an endless trace of 64-byte comment lines.
type commentLines struct{}

var commentBlock = bytes.Repeat([]byte("# a comment line, sixty-four bytes long with its newline ......\n"), 1024)

// Read starts each read at a line's start, so a line a short read cuts
// joins the next one, which starts with '#' too.
func (commentLines) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], commentBlock)
	}
	return n, nil
}

// TestParseTraceRefusesMoreThanTheLimit: a trace longer than
// MaxTraceBytes is an error, not read up to the limit and cut there.
func TestParseTraceRefusesMoreThanTheLimit(t *testing.T) {
	_, err := ParseTrace("long.trace", commentLines{})
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "larger than 512 MiB") {
		t.Errorf("ParseTrace of an endless trace: %v, want an error saying it is larger than 512 MiB", err)
	}
}

// TestHashCoversTheTraces: the scenario's hash changes with the bytes of
// a trace it replays (a campaign's shards run on different traces must
// not merge), and not with how the scenario's path is spelled.
func TestHashCoversTheTraces(t *testing.T) {
	dir := t.TempDir()
	yaml := filepath.Join(dir, "r.yaml")
	trace := filepath.Join(dir, "t.trace")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(yaml, "name: r\nsteps:\n  - replay: t.trace\n")
	hash := func(path string) string {
		s, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return s.Hash
	}
	write(trace, "a 1 NonPagedPool T 64\nf 1\n")
	first := hash(yaml)
	if again := hash(filepath.Join(dir, ".", "..", filepath.Base(dir), "r.yaml")); again != first {
		t.Errorf("the same files through another path: hash %s, want %s", again, first)
	}
	write(trace, "a 1 NonPagedPool T 64\nf 1\nf 1\n")
	if changed := hash(yaml); changed == first {
		t.Errorf("the hash %s did not change with the trace's bytes", first)
	}
}
