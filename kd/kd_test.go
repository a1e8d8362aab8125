package kd

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"simkern/cpu"
	"simkern/internal/golden"
	"simkern/mm"
	"simkern/pool"
)

// machine builds a small two-CPU machine with a few known blocks: the
// fixture every command's golden output is taken from.
type fixture struct {
	t     *Target
	m     *mm.Machine
	p     *pool.Pool
	names map[string]uint64
}

// newMachine builds a machine of cfg's RAM and pagefile with cpus CPUs on
// one NUMA node, and its pool. The machine is closed when the test ends.
func newMachine(tb testing.TB, cpus int, cfg mm.Config) (*mm.Machine, *pool.Pool) {
	tb.Helper()
	cs, err := cpu.NewSet(cpus, 1)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.CPUs = cs
	m, err := mm.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	p, err := pool.New(m, pool.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return m, p
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	m, p := newMachine(t, 2, mm.Config{RAMBytes: 8 << 20, PagefileBytes: 16 << 20})
	cs := m.CPUs
	f := &fixture{m: m, p: p, names: map[string]uint64{}}
	f.t = &Target{Machine: m, Pool: p, Names: func(n string) (uint64, bool) { v, ok := f.names[n]; return v, ok }}
	c := cs.CPUs[0]
	alloc := func(name string, ty pool.Type, n uint64, tag string) {
		va, err := p.Allocate(c, ty, n, pool.TagOf(tag))
		if err != nil || va == 0 {
			t.Fatalf("allocate %s: %v, %v", name, va, err)
		}
		f.names[name] = uint64(va)
	}
	alloc("irp", pool.NonPagedPool, 100, "Irp ")
	alloc("file", pool.NonPagedPool, 40, "File")
	alloc("tour", pool.NonPagedPool, 300, "Tour")
	alloc("mystery", pool.NonPagedPool, 20, "Zzzz")
	alloc("paged", pool.PagedPool, 500, "Tour")
	alloc("big", pool.PagedPool, 9000, "BigP")
	if err := m.Write(c, mm.VA(f.names["irp"]), []byte("hello, pool")); err != nil {
		t.Fatal(err)
	}
	if err := p.Free(c, mm.VA(f.names["file"])); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) run(t *testing.T, line string) string {
	t.Helper()
	var b strings.Builder
	f.t.Run(&b, line)
	return b.String()
}

// TestCommandsMatchGoldenOutput runs every command on the fixture. The
// golden file starts with a comment naming its format: each command's
// prompt line, then its output.
func TestCommandsMatchGoldenOutput(t *testing.T) {
	f := newFixture(t)
	var b strings.Builder
	b.WriteString("# kd command output on kd_test.go's fixture: \"0: kd> COMMAND\" then what it prints\n")
	for _, cmd := range []string{
		"!pool irp", "!pool irp 2", "!pool tour 3", "!pool big", "!pool 0xfffffa8100000000",
		"!poolused", "!poolused 2", "!poolused 4", "!poolused 1", "!poolused 0 T*",
		"!poolfind Tour", "!poolfind Tour 1", "!poolfind 0x72756f54", "!poolval irp",
		"!irql", "!irql 1", "!irql 9",
		"!vm", "!pte irp", "!pte big+1000", "!pte 0xfffff8b000000000", "!pfn 3", "!pfn 0x100000",
		"dt _POOL_HEADER", "dt nt!_POOL_HEADER irp-10", "db irp L20", "dd irp L8", "dc irp L7", "dc 0xfffffa8100000000 L4", "dq irp-10 L4",
		"!lookaside", "!analyze -v", "!nosuch", "!pool", "!pool zork",
	} {
		b.WriteString("0: kd> " + cmd + "\n")
		b.WriteString(f.run(t, cmd))
	}
	golden.Check(t, filepath.Join("testdata", "commands.txt"), b.String())
}

// Commands only look: running them all leaves the machine as it was.
func TestCommandsChangeNothing(t *testing.T) {
	f := newFixture(t)
	before := f.m.Stats()
	tags := f.p.Tags()
	for _, c := range commands {
		f.run(t, c.name+" irp")
	}
	if after := f.m.Stats(); after != before {
		t.Errorf("memory stats changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := f.p.Tags(); len(got) != len(tags) {
		t.Errorf("tags changed: %v -> %v", tags, got)
	}
}

func TestPoolShowsCorruption(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	// Flip one bit of the PreviousSize of the header after 'irp' (a
	// 128-byte block, 8 units): 8 becomes 9.
	next := mm.VA(f.names["irp"]) + 0x70
	w, err := f.m.ReadU64(c, next)
	if err != nil || uint8(w) != 8 {
		t.Fatalf("the header after irp reads %#x, %v", w, err)
	}
	if err := f.m.WriteU64(c, next, w^1); err != nil {
		t.Fatal(err)
	}
	out := f.run(t, "!pool irp")
	for _, want := range []string{"Bad previous allocation size", "*** An error (or corruption) in the pool was detected;", "*** Use !poolval"} {
		if !strings.Contains(out, want) {
			t.Errorf("!pool of a corrupt page lacks %q:\n%s", want, out)
		}
	}
	if out := f.run(t, "!poolval irp"); !strings.Contains(out, "is INVALID.") || !strings.Contains(out, "invalid previous size [ 0x9 ] should be [ 0x8 ]") ||
		!strings.Contains(out, "differs from [ 0x8 ] by one bit") {
		t.Errorf("!poolval of a corrupt page:\n%s", out)
	}
}

func TestEvaluate(t *testing.T) {
	f := newFixture(t)
	irp := f.names["irp"]
	for _, tc := range []struct {
		in   string
		want uint64
		bad  bool
		msg  string // the error, when it is checked
	}{
		{in: "10", want: 0x10},
		{in: "0x10", want: 0x10},
		{in: "0n10", want: 10},
		{in: "fffff8a0`00000010", want: 0xfffff8a000000010},
		{in: "irp", want: irp},
		{in: "irp+10", want: irp + 0x10},
		{in: "irp-0n16", want: irp - 16},
		{in: "irp+10-0n16+1", want: irp + 0x10 - 16 + 1},
		{in: "1-2", want: 1<<64 - 1},
		{in: "zork", bad: true, msg: "Couldn't resolve error at 'zork'"},
		// Unary minus and plus, as WinDbg's MASM evaluator has them: a
		// sign right after an operator (or at the start) applies to the
		// term that follows.
		{in: "-1", want: 1<<64 - 1},
		{in: "+1", want: 1},
		{in: "--1", want: 1},
		{in: "-0n16", want: 1<<64 - 16},
		{in: "irp+-10", want: irp - 0x10},
		{in: "irp--10", want: irp + 0x10},
		{in: "irp++1", want: irp + 1},
		// An operator with no term after it names the last term and
		// what follows it: it used to point at ''.
		{in: "irp+", bad: true, msg: "Couldn't resolve error at 'irp+'"},
		{in: "irp+10-", bad: true, msg: "Couldn't resolve error at '10-'"},
		{in: "+", bad: true, msg: "Couldn't resolve error at '+'"},
		{in: "-", bad: true, msg: "Couldn't resolve error at '-'"},
		{in: "1" + strings.Repeat("+1", 100) + "+", bad: true, msg: "Couldn't resolve error at '1+'"},
		// A kd: step or -c command with millions of terms: this used to
		// recurse once per term (a fatal Go stack overflow for "+") and
		// rescan the string at every level (hours for "-").
		{in: "1" + strings.Repeat("+1", 8_000_000), want: 8_000_001},
		{in: "0" + strings.Repeat("-1", 2_000_000), want: 1<<64 - 2_000_000},
		{in: "0" + strings.Repeat("-1", 2_000_000) + "+zork", bad: true},
	} {
		start := time.Now()
		got, err := f.t.Evaluate(tc.in)
		if tc.bad != (err != nil) || !tc.bad && got != tc.want {
			t.Errorf("Evaluate(%.40q) = %#x, %v; want %#x (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
		if tc.msg != "" && (err == nil || err.Error() != tc.msg) {
			t.Errorf("Evaluate(%.40q): error %v, want %q", tc.in, err, tc.msg)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("Evaluate(%.40q): error of %d bytes", tc.in, len(err.Error()))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Evaluate(%.40q) took %v: want linear time", tc.in, d)
		}
	}
}

func TestPoolTagFile(t *testing.T) {
	const file = `rem a comment
8042 - i8042prt.sys - PS/2 kb and mouse
Acp* - acpi.sys     - ACPI Pooltags
Afd? - afd.sys      - AFD objects
Irp  - nt!io        - Io, IRP packets
Vi   - <unknown>    - two characters
Ov*  - ov.sys       - a short wildcard
Q?   - q.sys        - two, the second any
`
	tags, err := ParsePoolTags("pooltag.txt", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tag, binary, desc string }{
		{"8042", "i8042prt.sys", "PS/2 kb and mouse"},
		{"AcpD", "acpi.sys", "ACPI Pooltags"},
		{"AfdX", "afd.sys", "AFD objects"},
		{"Irp ", "nt!io", "Io, IRP packets"},
		{"Vi  ", "<unknown>", "two characters"},
		{"Ovrn", "ov.sys", "a short wildcard"}, // the * stands for the rest, not for one more character
		{"Ov  ", "ov.sys", "a short wildcard"},
		{"Qx  ", "q.sys", "two, the second any"},
	} {
		e, ok := tags.Lookup(pool.TagOf(tc.tag))
		if !ok || e.Binary != tc.binary || e.Description != tc.desc {
			t.Errorf("Lookup(%q) = %+v, %v", tc.tag, e, ok)
		}
	}
	long := "Irp  - nt - Io\n" + strings.Repeat("x", 2<<20)
	if _, err := ParsePoolTags("long.txt", strings.NewReader(long)); err == nil || err.Error() != "long.txt:2: a line longer than 1 MiB" {
		t.Errorf("a 2 MiB line: %v", err)
	}
	if _, err := ParsePoolTags("bad.txt", strings.NewReader("Irp  nt!io Io\n")); err == nil || !strings.Contains(err.Error(), "bad.txt:1:") {
		t.Errorf("a line without separators: %v", err)
	}
	if BuiltinPoolTags() == nil {
		t.Error("the embedded pooltag.txt does not parse")
	}
}

func TestMatchTag(t *testing.T) {
	for _, tc := range []struct {
		pattern, tag string
		want         bool
	}{
		{"*", "Abcd", true}, {"Ab*", "Abcd", true}, {"A?cd", "Abcd", true}, {"A?cd", "Abce", false},
		{"*d", "Abcd", true}, {"Abcd", "Abcd", true}, {"Abc", "Abcd", false}, {"????", "Abcd", true},
	} {
		if got := MatchTag(tc.pattern, tc.tag); got != tc.want {
			t.Errorf("MatchTag(%q, %q) = %v", tc.pattern, tc.tag, got)
		}
	}
}

// "rem" starts a comment only as a word: a tag like Remq is a tag.
func TestPoolTagRemIsAWord(t *testing.T) {
	tags, err := ParsePoolTags("p.txt", strings.NewReader("rem a comment\nREM\tanother\nRemq - remq.sys - Remote queue\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := tags.Lookup(pool.TagOf("Remq")); !ok || e.Description != "Remote queue" {
		t.Errorf("Remq = %+v, %v; want the Remote queue line", e, ok)
	}
}

// !pool of a page no pool block holds, or of a pool page not in memory,
// says it is not valid pool; only an address that cannot be read adds that
// it could not be read. A freed big nonpaged allocation stays mapped, so
// its bytes can still be read.
func TestPoolOfNonPoolPages(t *testing.T) {
	f := newFixture(t)
	f.m.PageOutAll() // the paged block's page goes to the pagefile
	c := f.m.CPUs.CPUs[0]
	stale, err := f.p.Allocate(c, pool.NonPagedPool, 9000, pool.TagOf("Gone"))
	if err != nil || stale == 0 {
		t.Fatalf("Allocate: %v, %v", stale, err)
	}
	if err := f.p.Free(c, stale); err != nil {
		t.Fatal(err)
	}
	f.names["stale"] = uint64(stale)
	tests := []struct {
		cmd        string
		unreadable bool
	}{
		{"!pool stale", false},
		{"!pool 0xfffffa8100000000", true},
		{"!pool paged", true},
	}
	for _, tt := range tests {
		out := f.run(t, tt.cmd)
		if !strings.Contains(out, "is not valid pool. Checking for freed (or corrupt) pool") {
			t.Errorf("%s:\n%s\nwant the not-valid-pool line", tt.cmd, out)
		}
		if got := strings.Contains(out, "could not be read"); got != tt.unreadable {
			t.Errorf("%s:\n%s\nsays it could not be read: %v, want %v", tt.cmd, out, got, tt.unreadable)
		}
	}
}

// A !poolused row ends with the tag's description straight after the last
// column: the description and a space, then ", Binary: bin" when
// pooltag.txt names a binary (the real rows "TDI AcdObjectInfoG " and
// "ACPI Pooltags , Binary: acpi.sys").
func TestPoolusedDescriptions(t *testing.T) {
	f := newFixture(t)
	tags, err := ParsePoolTags("pooltag.txt", strings.NewReader("Irp  - nt!io - Io, IRP packets\nTour - <unknown> - Wmi General purpose allocation\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.t.Tags = tags
	tests := []struct{ tag, row string }{
		{"Irp", " Irp         1      128         0        0Io, IRP packets , Binary: nt!io\n"},
		{"Tour", " Tour        1      336         1      528Wmi General purpose allocation \n"},
		{"Zzzz", " Zzzz        1       48         0        0UNKNOWN pooltag 'Zzzz', please update pooltag.txt\n"},
	}
	for _, tt := range tests {
		if out := f.run(t, "!poolused 0 "+tt.tag); !strings.Contains(out, tt.row) {
			t.Errorf("!poolused 0 %s:\n%s\nwant the row %q", tt.tag, out, tt.row)
		}
	}

	// A tag with zero bytes: the row prints them as dots, the UNKNOWN
	// line quotes the tag as a C string, right-aligned (Microsoft's
	// sample: row "rx..", quoted '  rx').
	if va, err := f.p.Allocate(f.m.CPUs.CPUs[0], pool.NonPagedPool, 20, pool.Tag(0x7872)); err != nil || va == 0 {
		t.Fatalf("Allocate: %v, %v", va, err)
	}
	row := " rx..        1       48         0        0UNKNOWN pooltag '  rx', please update pooltag.txt\n"
	if out := f.run(t, "!poolused 0 rx*"); !strings.Contains(out, row) {
		t.Errorf("!poolused 0 rx*:\n%s\nwant the row %q", out, row)
	}
}

// A large allocation is one block, its header line the "large page
// allocation" line: flag 1 prints its whole body after the owner line, as
// for a small block, from wherever in it the address points.
func TestPoolFlag1OnLargeAllocation(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	const size = 0x1010 // a page and one row
	va, err := f.p.Allocate(c, pool.NonPagedPool, size, pool.TagOf("BigN"))
	if err != nil || va == 0 {
		t.Fatalf("Allocate: %v, %v", va, err)
	}
	f.names["large"] = uint64(va)
	if err := f.m.Write(c, va, []byte("ABCD")); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Write(c, va+size-4, []byte("WXYZ")); err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("Pool page %%s region is Nonpaged pool\n"+
		"*%s : large page allocation, Tag is BigN, size is 0x1010 bytes\n"+
		"\t\tPooltag BigN : large allocations in simkern's examples\n", va)
	first := fmt.Sprintf("    %s  44434241 00000000 00000000 00000000\n", va)
	last := fmt.Sprintf("    %s  00000000 00000000 00000000 5a595857\n\n", va+size-16)
	tests := []struct {
		cmd  string
		at   mm.VA
		body bool
	}{
		{"!pool large", va, false},
		{"!pool large 1", va, true},
		{"!pool large 3", va, true},
		{"!pool large+800 1", va + 0x800, true},
	}
	for _, tt := range tests {
		out := f.run(t, tt.cmd)
		want := fmt.Sprintf(head, tt.at)
		if !tt.body {
			if out != want {
				t.Errorf("%s:\n%s\nwant\n%s", tt.cmd, out, want)
			}
			continue
		}
		if rows := strings.Count(out, "\n    "); !strings.HasPrefix(out, want+first) || !strings.HasSuffix(out, last) || rows != size/16 {
			t.Errorf("%s:\n%s\nwant\n%s%s... %d rows in all, ending\n%s", tt.cmd, out, want, first, size/16, last)
		}
	}
}

// !pool 1 prints at most 0x10000 bytes of a large allocation's body, then
// says how many more there are and where they start: a 4 GiB allocation
// would print 17 GB.
func TestPoolFlag1BodyIsBounded(t *testing.T) {
	f := newFixture(t)
	va, err := f.p.Allocate(f.m.CPUs.CPUs[0], pool.NonPagedPool, 0x10010, pool.TagOf("BigN"))
	if err != nil || va == 0 {
		t.Fatalf("Allocate: %v, %v", va, err)
	}
	f.names["large"] = uint64(va)
	out := f.run(t, "!pool large 1")
	tail := fmt.Sprintf("    %s  00000000 00000000 00000000 00000000\n\n    ... 0x10 bytes more from %s (dd reads them)\n\n",
		va+0x10000-16, va+0x10000)
	if rows := strings.Count(out, "\n    fffff"); rows != 0x1000 || !strings.HasSuffix(out, tail) {
		t.Errorf("!pool large 1: %d rows, ending\n%s\nwant 0x1000 rows, ending\n%s", rows, out[max(0, len(out)-300):], tail)
	}
}

// A dump whose range runs past ffffffff`ffffffff used to wrap to address 0
// and go on printing rows there; it is a range error, as in kd, and a
// range that ends exactly at the top is fine.
func TestDumpRangeDoesNotWrap(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		cmd  string
		rows int // rows printed; 0: a range error
	}{
		{"db ffffffffffffffff", 0},
		{"db ffffffffffffffff L1", 1},
		{"db fffffffffffffff8 L10000", 0},
		{"dq ffffffffffffff00 L10000", 0},
		{"dq ffffffffffffff00 L20", 16},
		{"dd fffffffffffffff0 L4", 1},
		{"dd fffffffffffffff0 L5", 0},
		{"dc fffffffffffffff0 L4", 1},
		{"dc fffffffffffffff0 L5", 0},
		{"db irp L20", 2},
	} {
		out := f.run(t, tc.cmd)
		if tc.rows == 0 {
			if !strings.HasPrefix(out, "Range error") || strings.Count(out, "\n") != 1 {
				t.Errorf("%s: want one Range error line, got:\n%.300s", tc.cmd, out)
			}
			continue
		}
		if n := strings.Count(out, "\n"); n != tc.rows || strings.Contains(out, "00000000`0000000") {
			t.Errorf("%s: want %d rows below the top of the address space, got:\n%.300s", tc.cmd, tc.rows, out)
		}
	}
}

// !poolfind 0xVALUE (a TagValue) finds the tag with that 32-bit value,
// the PROTECTED_POOL bit aside; it used to compare the printed form, so
// 0x7872 also found a block tagged "rx.." with literal dots. A TagString
// still matches the printed form, wildcards and all.
func TestPoolfindTagValueIsExact(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	for name, tag := range map[string]pool.Tag{
		"dots":      pool.TagOf("rx.."),
		"value":     0x7872,
		"protected": 0x7873 | pool.ProtectedTag,
	} {
		va, err := f.p.Allocate(c, pool.NonPagedPool, 64, tag)
		if err != nil || va == 0 {
			t.Fatalf("allocate %s: %v, %v", name, va, err)
		}
		f.names[name] = uint64(va) - pool.HeaderBytes
	}
	tests := []struct {
		cmd   string
		found []string // the names whose blocks it lists
	}{
		{"!poolfind 0x7872", []string{"value"}},
		{"!poolfind 0x00007872", []string{"value"}},
		{"!poolfind 0x7873", []string{"protected"}},
		{"!poolfind 0x80007873", []string{"protected"}},
		{"!poolfind 0x2e2e7872", []string{"dots"}},
		{"!poolfind rx..", []string{"dots", "value"}},
		{"!poolfind ?x*", []string{"dots", "value", "protected"}},
	}
	for _, tt := range tests {
		out := f.run(t, tt.cmd)
		var found []string
		for _, name := range []string{"dots", "value", "protected"} {
			if strings.Contains(out, fmt.Sprintf("\n%x size:", f.names[name])) {
				found = append(found, name)
			}
		}
		if strings.Join(found, " ") != strings.Join(tt.found, " ") {
			t.Errorf("%s lists %v, want %v:\n%s", tt.cmd, found, tt.found, out)
		}
	}
}

// !pte's line under "not valid" says why, for each kind of invalid entry
// kd can tell apart: a freed special pool page is freed, not a guard page
// (it used to print "a guard page", wrong in a use-after-free lesson), a
// zero PTE is freed only where an allocation once held the page, and an
// address no page table maps says so instead of "freed".
func TestPteSaysWhyNotValid(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	alloc := func(name string) mm.VA {
		va, ok, err := f.p.AllocateSpecial(c, pool.NonPagedPool, 48, pool.TagOf("Acme"), pool.SpecialOverrun)
		if err != nil || !ok {
			t.Fatalf("AllocateSpecial %s: %v, %v, %v", name, va, ok, err)
		}
		f.names[name] = uint64(va)
		f.names[name+"guard"] = uint64(va.PageBase() + mm.PageBytes)
		return va
	}
	alloc("live")
	if err := f.p.Free(c, alloc("freed")); err != nil {
		t.Fatal(err)
	}
	big, err := f.p.Allocate(c, pool.PagedPool, 3*mm.PageBytes, pool.TagOf("Big"))
	if err != nil || big == 0 {
		t.Fatalf("a large paged allocation: %v, %v", big, err)
	}
	f.names["big"] = uint64(big)
	if err := f.p.Free(c, big); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cmd, why string // why: the lines after the flags line
	}{
		{"!pte live", ""},
		{"!pte liveguard", " No access (a guard page)\n Protect: 18 - NoAccess\n"},
		{"!pte freed", " Page has been freed (special pool keeps it no-access)\n Protect: 18 - NoAccess\n"},
		{"!pte freedguard", " No access (a guard page)\n Protect: 18 - NoAccess\n"},
		{"!pte 0xfffff8b000000000", " No page table maps this address (its PPE is zero)\n"},
		{"!pte big+1000", " Page has been freed\n"},
		{"!pte irp+0x10000", " No allocation has held this page: never mapped\n"},
	}
	for _, tt := range tests {
		out := f.run(t, tt.cmd)
		lines := strings.SplitAfterN(out, "\n", 5)
		if len(lines) < 4 {
			t.Errorf("%s:\n%s\nwant the VA, entries, contents and flags lines", tt.cmd, out)
			continue
		}
		if got := strings.Join(lines[4:], ""); got != tt.why {
			t.Errorf("%s:\n%s\nwant the lines after the flags\n%q\ngot %q", tt.cmd, out, tt.why, got)
		}
	}
}

// An unknown extension is kd's "No export NAME found"; a plain command
// simkern lacks (dps is a real kd command) says that simkern does
// not support it, where kd would call it a syntax error. Both used to say
// "No export".
func TestUnknownCommands(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct{ cmd, want string }{
		{"!nosuch", "No export nosuch found\n"},
		{"!NoSuch irp", "No export NoSuch found\n"},
		{"dps irp", "simkern does not support 'dps' (.help lists the commands it has)\n"},
		{"zork", "simkern does not support 'zork' (.help lists the commands it has)\n"},
		{"g", "g works only at a live session's prompt (simkern kd FILE.yaml)\n"},
		{"!TT 3", "!TT works only at a live session's prompt (simkern kd FILE.yaml)\n"},
		{"bl", "bl works only at a live session's prompt (simkern kd FILE.yaml)\n"},
		// Arguments past what a command takes are refused, not ignored.
		{"!pool irp 1 2", "usage: !pool ADDR [FLAGS]\n"},
		{"!vm 1 2", "usage: !vm [FLAGS]\n"},
		{"!pte irp 1", "usage: !pte VA\n"},
		{"dt _POOL_HEADER irp 1", "usage: dt _POOL_HEADER [ADDR]\n"},
		{"db irp L 10 20", "usage: db ADDR [L COUNT]\n"},
		// Too few arguments, or the wrong ones, name the command too.
		{"db", "usage: db ADDR [L COUNT]\n"},
		{"dq irp X10", "usage: dq ADDR [L COUNT]\n"},
		{"!pfn", "usage: !pfn N\n"},
		{"!pool", "usage: !pool ADDR [FLAGS]\n"},
		{"!analyze -x", "usage: !analyze -v\n"},
		// !poolused takes a tag as !poolfind does.
		{"!poolused 2 Tour1", "bad tag \"Tour1\": a tag is 1 to 4 characters or a 0x value\n"},
		// Session pool does not exist: its flag is refused, not shown as all pool.
		{"!poolused 8", "usage: !poolused [FLAGS [TAG]]: flag 8 is session pool, which simkern does not have (1 verbose, 2 sort by nonpaged, 4 sort by paged)\n"},
		{"!poolused 9 Tour", "usage: !poolused [FLAGS [TAG]]: flag 8 is session pool, which simkern does not have (1 verbose, 2 sort by nonpaged, 4 sort by paged)\n"},
	} {
		if got := f.run(t, tt.cmd); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.cmd, got, tt.want)
		}
	}
}

// dt matches the type name as WinDbg does, without regard to case, with
// or without the module (it used to want _POOL_HEADER exactly).
func TestDtTypeNameIgnoresCase(t *testing.T) {
	f := newFixture(t)
	layout, header := f.run(t, "dt _POOL_HEADER"), f.run(t, "dt _POOL_HEADER irp-10")
	for _, tt := range []struct {
		cmd, want string
	}{
		{"dt _pool_header", layout},
		{"dt nt!_pool_header", layout},
		{"dt NT!_POOL_HEADER", layout},
		{"dt Nt!_Pool_Header irp-10", header},
		{"dt _POOL_HEAD", "usage: dt _POOL_HEADER [ADDR] (simkern knows this one type)\n"},
		{"dt hal!_POOL_HEADER", "usage: dt _POOL_HEADER [ADDR] (simkern knows this one type)\n"},
	} {
		if got := f.run(t, tt.cmd); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.cmd, got, tt.want)
		}
	}
}

// A header's ProcessBilled, when set, prints as dt prints any pointer to a
// structure: its value, then its type.
func TestDtNamesProcessBilledsType(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	if err := f.m.WriteU64(c, mm.VA(f.names["irp"])-8, 0xfffffa8001234560); err != nil {
		t.Fatal(err)
	}
	want := "   +0x008 ProcessBilled    : 0xfffffa80`01234560 _EPROCESS\n" +
		"   +0x008 AllocatorBackTraceIndex : 0x4560\n   +0x00a PoolTagHash      : 0x123\n"
	if got := f.run(t, "dt _POOL_HEADER irp-10"); !strings.HasSuffix(got, want) {
		t.Errorf("dt _POOL_HEADER irp-10:\n%s\nwant it to end\n%s", got, want)
	}
}

// dt reads all 16 bytes of a header or none: one that runs into a page
// that cannot be read is a read error, not fields filled with zeros.
func TestDtHeaderAcrossAnUnreadablePage(t *testing.T) {
	f := newFixture(t)
	end := f.names["big"] + 3*mm.PageBytes // big's 9000 bytes take three pages; nothing is mapped after them
	if _, ok := f.m.PeekU64(mm.VA(end)); ok {
		t.Fatalf("the page after big (%#x) is readable: the test needs it unmapped", end)
	}
	for _, tt := range []struct {
		at   uint64
		want string
	}{
		{end - 8, fmt.Sprintf("Memory read error %s\n", backtick(end-8))},
		{end - 16, "   +0x000 PreviousSize     : 0y"},
	} {
		if got := f.run(t, fmt.Sprintf("dt _POOL_HEADER %#x", tt.at)); !strings.HasPrefix(got, tt.want) {
			t.Errorf("dt _POOL_HEADER %#x:\n%s\nwant it to start %q", tt.at, got, tt.want)
		}
	}
}

// !poolused's tag filter reads a tag as !poolfind does: a 0x value is the
// tag itself, and a short tag is padded.
func TestPoolusedTagFilter(t *testing.T) {
	f := newFixture(t)
	byName := f.run(t, "!poolused 1 Tour")
	if !strings.Contains(byName, " Tour ") {
		t.Fatalf("!poolused 1 Tour printed\n%s\nwithout the Tour row", byName)
	}
	if got := f.run(t, fmt.Sprintf("!poolused 1 %#x", uint32(pool.TagOf("Tour")))); got != byName {
		t.Errorf("!poolused 1 by value printed\n%s\nwant what by name does\n%s", got, byName)
	}
	if irp := f.run(t, "!poolused 1 Irp"); !strings.Contains(irp, " Irp  ") || strings.Contains(irp, " Tour ") {
		t.Errorf("!poolused 1 Irp printed\n%s\nwant the Irp row alone", irp)
	}
}

// !poolval's scan for single bit errors sets a header's block size against
// the size the pool's records give it, and a canary against its value: a
// bit flipped in either is named as such (it used to say None found).
func TestPoolvalFindsOneBitFlips(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(irp mm.VA) mm.VA // the byte whose bit 0 flips
		want []string
	}{
		{"block size", func(irp mm.VA) mm.VA { return irp - pool.HeaderBytes + 2 },
			[]string{"invalid block size [ 0x9 ] should be [ 0x8 ]", "block size [ 0x9 ] differs from [ 0x8 ] by one bit"}},
		{"canary", func(irp mm.VA) mm.VA { return irp + 100 },
			[]string{"BugCheck 19, {21, ", "]: canary [ 0x", "] by one bit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			at := tc.at(mm.VA(f.names["irp"]))
			b := make([]byte, 1)
			if f.m.Peek(at, b) != 1 {
				t.Fatalf("cannot read %v", at)
			}
			if err := f.m.Write(f.m.CPUs.CPUs[0], at, []byte{b[0] ^ 1}); err != nil {
				t.Fatal(err)
			}
			out := f.run(t, "!poolval irp")
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("!poolval lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "None found") {
				t.Errorf("!poolval found no one-bit error:\n%s", out)
			}
		})
	}
}

// A protected tag is marked on a large allocation's line as on a small
// block's.
func TestPoolMarksAProtectedLargeTag(t *testing.T) {
	f := newFixture(t)
	va, err := f.p.Allocate(f.m.CPUs.CPUs[0], pool.NonPagedPool, 5000, pool.TagOf("Prot")|pool.ProtectedTag)
	if err != nil || va == 0 {
		t.Fatalf("Allocate: %v, %v", va, err)
	}
	f.names["prot"] = uint64(va)
	want := fmt.Sprintf("*%s : large page allocation, Tag is Prot (Protected), size is 0x1388 bytes\n", va)
	if got := f.run(t, "!pool prot"); !strings.Contains(got, want) {
		t.Errorf("!pool prot:\n%s\nwant a line\n%s", got, want)
	}
}

// TestPfnSlotLine: !pfn's last line names the pagefile slot (or none) and
// says whether the frame's bytes still have to reach it, through a page's
// life: written and trimmed (dirty, no slot), written out and read back
// (clean, in its slot), written again (dirty, its slot stale).
func TestPfnSlotLine(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	va := mm.VA(f.names["paged"])
	slotLine := func() string {
		t.Helper()
		out := f.run(t, fmt.Sprintf("!pfn %x", uint64(f.m.PTE(va).Frame())))
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		return lines[len(lines)-1]
	}
	touch := func() {
		t.Helper()
		if err := f.m.Write(c, va, []byte{7}); err != nil {
			t.Fatal(err)
		}
	}
	touch()
	f.m.Trim(va.PageBase(), 1)
	if got, want := slotLine(), "    pagefile slot none   (dirty: to be written)"; got != want {
		t.Errorf("written, then trimmed: %q, want %q", got, want)
	}
	f.m.PageOut(va.PageBase(), 1)
	if _, err := f.m.ReadU64(c, va); err != nil {
		t.Fatal(err)
	}
	if got := slotLine(); !strings.HasPrefix(got, "    pagefile slot ") || !strings.HasSuffix(got, "   (clean: the slot holds these bytes)") || strings.Contains(got, "none") {
		t.Errorf("paged out and read back: %q, want a slot, clean", got)
	}
	touch()
	if got := slotLine(); !strings.HasSuffix(got, "   (dirty: the slot's copy is stale)") || strings.Contains(got, "none") {
		t.Errorf("written again: %q, want its slot, dirty", got)
	}
}

// TestPfnOfANameThatIsHex: a frame number pasted from !pte (pfn a) that is
// also a scenario name reads as the name; the error says how to write the
// frame, and a name that is not hex gets no such hint.
func TestPfnOfANameThatIsHex(t *testing.T) {
	f := newFixture(t)
	f.names["a"] = f.names["paged"]
	if got, want := f.run(t, "!pfn a"), "a is a scenario name here: for frame a write !pfn 0xa\n"; !strings.HasSuffix(got, want) {
		t.Errorf("!pfn a printed %q, want it to end %q", got, want)
	}
	if got := f.run(t, "!pfn 0xa"); !strings.HasPrefix(got, "    PFN 0000000A") {
		t.Errorf("!pfn 0xa printed %q, want frame 0xa", got)
	}
	if got := f.run(t, "!pfn irp"); strings.Contains(got, "scenario name") {
		t.Errorf("!pfn irp printed %q: irp is not hex, so no hint", got)
	}
}

// TestPfnDirtyIsTheFramesOwn: the dirty bit !pfn reads from a mapped
// page's PTE counts only while that PTE maps this frame: a PTE a stray
// write pointed at another frame, dirty, leaves the clean frame clean,
// and a page table's own dirty PTE (it is nonpageable) says nothing.
func TestPfnDirtyIsTheFramesOwn(t *testing.T) {
	f := newFixture(t)
	c := f.m.CPUs.CPUs[0]
	va := mm.VA(f.names["paged"]).PageBase()
	f.m.PageOut(va, 1)
	if _, err := f.m.ReadU64(c, va); err != nil { // back in, clean, with its slot
		t.Fatal(err)
	}
	frame := f.m.PTE(va).Frame()
	last := func(pfn mm.PFN) string {
		out := strings.TrimSuffix(f.run(t, fmt.Sprintf("!pfn %x", uint64(pfn))), "\n")
		return out[strings.LastIndexByte(out, '\n')+1:]
	}
	if got := last(frame); !strings.HasSuffix(got, "(clean: the slot holds these bytes)") {
		t.Fatalf("the page read back: %q, want clean", got)
	}
	other := f.m.PTE(mm.VA(f.names["irp"])).Frame()
	const dirtyBit = 0x40
	if err := f.m.WriteU64(c, mm.LevelPTE.EntryAddress(va), uint64(mm.ValidPTE(other, true))|dirtyBit); err != nil {
		t.Fatal(err)
	}
	if got := last(frame); !strings.HasSuffix(got, "(clean: the slot holds these bytes)") {
		t.Errorf("with its PTE pointed at frame %x, dirty: %q, want the frame still clean", uint64(other), got)
	}
	table := f.m.PTE(mm.LevelPTE.EntryAddress(va)).Frame()
	if got := last(table); got != "    pagefile slot none" {
		t.Errorf("the page table's frame %x: %q, want no slot and nothing about dirt", uint64(table), got)
	}
}

// !vm takes Windows' flags (the reference's sample is `!vm 1`) and prints
// the same for every value, since simkern has none of what they select;
// a flag that is no number is refused as any other command's would be.
func TestVMTakesFlags(t *testing.T) {
	f := newFixture(t)
	plain := f.run(t, "!vm")
	if !strings.HasPrefix(plain, "*** Virtual Memory Usage ***\n") {
		t.Fatalf("!vm:\n%s", plain)
	}
	for _, cmd := range []string{"!vm 1", "!vm 0x3f", "!vm 0n8"} {
		if got := f.run(t, cmd); got != plain {
			t.Errorf("%s:\n%s\nwant what !vm printed:\n%s", cmd, got, plain)
		}
	}
	if got := f.run(t, "!vm zork"); strings.Contains(got, "Virtual Memory") || got == "" {
		t.Errorf("!vm zork printed %q, want an error", got)
	}
}
