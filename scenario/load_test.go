package scenario

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"simkern/cpu"
	"simkern/pool"
	"simkern/verifier"
)

func u64p(v uint64) *uint64 { return &v }
func u8p(v uint8) *uint8    { return &v }
func irqlp(v cpu.IRQL) *cpu.IRQL {
	return &v
}

// at is a position in testdata/full.yaml.
func fullAt(line, col int) Pos { return Pos{File: "testdata/full.yaml", Line: line, Col: col} }

func TestLoadFullScenario(t *testing.T) {
	got, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Raw) != string(raw) {
		t.Errorf("Raw differs from the file")
	}
	rawTrace, err := os.ReadFile("testdata/traces/boot.trace")
	if err != nil {
		t.Fatal(err)
	}
	traceSum := sha256.Sum256(rawTrace)
	sum := sha256.Sum256(append(append([]byte(nil), raw...), traceSum[:]...))
	if got.Hash != hex.EncodeToString(sum[:]) {
		t.Errorf("Hash = %s, want the SHA-256 of the file and of the SHA-256 of the trace it replays", got.Hash)
	}
	trace := []TraceOp{
		{Alloc: true, ID: 1, Pool: pool.NonPagedPool, Tag: pool.TagOf("Irp"), Size: 240, CPU: 0, CPUSet: true, Line: 2},
		{Alloc: true, ID: 2, Pool: pool.PagedPool, Tag: pool.TagOf("File"), Size: 1024, Line: 3},
		{ID: 1, Line: 4},
	}
	want := &Scenario{
		Name:        "paged-pool-at-dispatch",
		Description: "Paged pool touched at DISPATCH_LEVEL after the page was trimmed.\n",
		File:        "testdata/full.yaml",
		Hash:        got.Hash,
		Raw:         got.Raw,
		Machine:     Machine{RAM: 32 << 20, Pagefile: 128 << 20, CPUs: 2, NUMANodes: 2, Seed: 7, SeedSet: true},
		Drivers:     []string{"mydrv.sys", "other.sys"},
		Verifier: &Verifier{
			Drivers:      []string{"mydrv.sys"},
			SpecialPool:  "overrun",
			PoolTracking: true,
			IRQLChecking: true,
			LowResources: &verifier.LowResources{Probability: 0.25, After: 10, Tags: []pool.Tag{pool.TagOf("Abcd"), pool.TagOf("Wxyz")}, Systematic: true},
			Pos:          fullAt(12, 1),
		},
		Faults: []Fault{
			{Kind: "pagefile_read_error", Nth: 1, Status: 0xC000009C, Pos: fullAt(23, 5)},
			{Kind: "pagefile_write_error", Probability: 0.5, Status: DefaultFaultStatus, Pos: fullAt(24, 5)},
			{Kind: "bit_flip", Step: 3, Frame: u64p(0x10), Bit: u8p(7), Pos: fullAt(25, 5)},
		},
		Steps: []Step{
			{Pos: fullAt(27, 5), Verb: "alloc", Line: "alloc: {pool: PagedPool, size: 4KiB, tag: Abcd, as: buf}",
				Alloc: &AllocStep{Pool: pool.PagedPool, Size: 4096, Tag: pool.TagOf("Abcd"), As: "buf"}},
			{Pos: fullAt(28, 5), Verb: "alloc", Line: "alloc: {pool: 0, size: 64, as: small, expect_null: false, cpu: 1, driver: mydrv.sys}",
				CPU: 1, CPUSet: true, Driver: "mydrv.sys",
				Alloc: &AllocStep{Pool: pool.NonPagedPool, Size: 64, Tag: pool.TagOf("None"), As: "small"}},
			{Pos: fullAt(29, 5), Verb: "write", Line: `write: {at: buf+8, data: "hello"}`,
				Write: &WriteStep{At: Addr{Name: "buf", Offset: 8}, Data: []byte("hello")}},
			{Pos: fullAt(30, 5), Verb: "write", Line: "write: {at: buf, fill: 0x41, length: 4}",
				Write: &WriteStep{At: Addr{Name: "buf"}, Data: []byte("AAAA")}},
			{Pos: fullAt(31, 5), Verb: "write", Line: "write: {at: buf-16, bytes: [1, 2, 0x03]}",
				Write: &WriteStep{At: Addr{Name: "buf", Offset: -16}, Data: []byte{1, 2, 3}}},
			{Pos: fullAt(32, 5), Verb: "write", Line: "write: {at: 0xfffff80000001000, u64: 0x1122334455667788}",
				Write: &WriteStep{At: Addr{Literal: 0xfffff80000001000, IsLiteral: true}, Data: []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}}},
			{Pos: fullAt(33, 5), Verb: "read", Line: `read: {at: buf+8, length: 5, expect: "hello"}`,
				Read: &ReadStep{At: Addr{Name: "buf", Offset: 8}, Length: 5, Expect: []byte("hello"), HasExpect: true}},
			{Pos: fullAt(34, 5), Verb: "read", Line: "read: {at: buf, expect: {bytes: [0x41, 0x41]}}",
				Read: &ReadStep{At: Addr{Name: "buf"}, Length: 2, Expect: []byte("AA"), HasExpect: true}},
			{Pos: fullAt(35, 5), Verb: "read", Line: "read: {at: small, length: 4}",
				Read: &ReadStep{At: Addr{Name: "small"}, Length: 4}},
			{Pos: fullAt(36, 5), Verb: "irql", Line: "irql: DISPATCH_LEVEL, cpu: 1, driver: mydrv.sys",
				CPU: 1, CPUSet: true, Driver: "mydrv.sys", IRQL: irqlp(cpu.DispatchLevel)},
			{Pos: fullAt(39, 5), Verb: "trim", Line: "trim: all", Trim: &Target{All: true}},
			{Pos: fullAt(40, 5), Verb: "trim", Line: "trim: buf", Trim: &Target{Name: "buf"}},
			{Pos: fullAt(41, 5), Verb: "page_out", Line: "page_out: all", PageOut: &Target{All: true}},
			{Pos: fullAt(42, 5), Verb: "page_out", Line: "page_out: small", PageOut: &Target{Name: "small"}},
			{Pos: fullAt(43, 5), Verb: "kd", Line: `kd: "!pool buf"`, KD: "!pool buf"},
			{Pos: fullAt(44, 5), Verb: "free", Line: "free: {at: small, tag: Abcd}",
				Free: &FreeStep{At: Addr{Name: "small"}, Tag: pool.TagOf("Abcd"), WithTag: true}},
			{Pos: fullAt(45, 5), Verb: "repeat", Line: "repeat: {times: 10, cpu: 1, steps: [{alloc: {...}}, {free: tmp}]}",
				CPU: 1, CPUSet: true,
				Repeat: &RepeatStep{Times: 10, Steps: []Step{
					{Pos: fullAt(49, 11), Verb: "alloc", Line: "alloc: {pool: NonPagedPool, size: 16, as: tmp}", CPU: 1,
						Alloc: &AllocStep{Pool: pool.NonPagedPool, Size: 16, Tag: pool.TagOf("None"), As: "tmp"}},
					{Pos: fullAt(50, 11), Verb: "free", Line: "free: tmp", CPU: 1, Free: &FreeStep{At: Addr{Name: "tmp"}}},
				}, BodySteps: 2}},
			{Pos: fullAt(51, 5), Verb: "workload",
				Line: "workload: {ops: 100000, pool: NonPagedPool, sizes: 16-1024, live: 10000, tag: Wrkl, verify: true, keep: true}",
				Workload: &WorkloadStep{Ops: 100000, Pool: pool.NonPagedPool, MinSize: 16, MaxSize: 1024, Live: 10000,
					Tag: pool.TagOf("Wrkl"), Verify: true, Keep: true}},
			{Pos: fullAt(52, 5), Verb: "replay", Line: "replay: traces/boot.trace, cpu: 1", CPU: 1, CPUSet: true,
				Replay: &ReplayStep{Path: "testdata/traces/boot.trace", Ops: uint64(len(trace))}},
			{Pos: fullAt(54, 5), Verb: "free", Line: "free: buf", Free: &FreeStep{At: Addr{Name: "buf"}}},
			{Pos: fullAt(55, 5), Verb: "unload", Line: "unload: mydrv.sys", Unload: "mydrv.sys"},
		},
		Schedule: "round-robin",
		Expect: &Expect{Bugcheck: &ExpectBugcheck{Code: 0xD1, P: [4]*Addr{
			{Name: "buf"}, {Literal: 2, IsLiteral: true}, {Literal: 0, IsLiteral: true}, {Name: "buf", Offset: 0x10},
		}}},
		Names: []string{"buf", "small", "tmp"},
	}
	// The loader kept the trace's operations, a short trace's, with the
	// size and SHA-256 of its file.
	for _, st := range got.Steps {
		if rp := st.Replay; rp != nil {
			if rp.file == nil || !slices.Equal(rp.file.kept, trace) || rp.file.size != int64(len(rawTrace)) || rp.file.sum != sha256.Sum256(rawTrace) {
				t.Errorf("the replay step keeps %+v; want the ops %+v, size %d and SHA-256 of its file", rp.file, trace, len(rawTrace))
			}
			rp.file = nil
		}
	}
	compareScenario(t, got, want)
}

// compareScenario compares field by field, so a failure names the field.
func compareScenario(t *testing.T, got, want *Scenario) {
	t.Helper()
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		if name == "Steps" {
			continue
		}
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, showValue(gv.Field(i).Interface()), showValue(wv.Field(i).Interface()))
		}
	}
	if len(got.Steps) != len(want.Steps) {
		t.Fatalf("%d steps, want %d", len(got.Steps), len(want.Steps))
	}
	for i := range want.Steps {
		if !reflect.DeepEqual(got.Steps[i], want.Steps[i]) {
			t.Errorf("steps[%d]:\n got %s\nwant %s", i, showValue(got.Steps[i]), showValue(want.Steps[i]))
		}
	}
}

// show prints pointers' targets, which %+v alone would print as addresses.
func showValue(v any) string {
	var b strings.Builder
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		switch rv.Kind() {
		case reflect.Pointer:
			if rv.IsNil() {
				b.WriteString("nil")
				return
			}
			b.WriteByte('&')
			walk(rv.Elem())
		case reflect.Struct:
			b.WriteString("{")
			for i := 0; i < rv.NumField(); i++ {
				f := rv.Field(i)
				if f.IsZero() {
					continue
				}
				fmt.Fprintf(&b, "%s:", rv.Type().Field(i).Name)
				walk(f)
				b.WriteByte(' ')
			}
			b.WriteString("}")
		case reflect.Slice:
			if rv.Type().Elem().Kind() == reflect.Uint8 {
				fmt.Fprintf(&b, "%q", rv.Bytes())
				return
			}
			b.WriteByte('[')
			for i := 0; i < rv.Len(); i++ {
				walk(rv.Index(i))
				b.WriteByte(' ')
			}
			b.WriteByte(']')
		default:
			fmt.Fprintf(&b, "%v", rv.Interface())
		}
	}
	walk(reflect.ValueOf(v))
	return b.String()
}

func TestLoadThreads(t *testing.T) {
	s, err := Load("testdata/threads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 0 || len(s.Threads) != 2 {
		t.Fatalf("%d steps and %d threads, want 0 and 2", len(s.Steps), len(s.Threads))
	}
	if s.Schedule != "random" {
		t.Errorf("Schedule = %q, want random", s.Schedule)
	}
	if s.Expect != nil {
		t.Errorf("Expect = %s, want none: bugcheck: none is the default", showValue(s.Expect))
	}
	t0, t1 := s.Threads[0], s.Threads[1]
	// The first thread names itself and sits on CPU 1; its steps inherit it.
	if t0.Name != "freer" || t0.CPU != 1 || t0.Pos.Line != 5 {
		t.Errorf("threads[0] = %s", showValue(t0))
	}
	if st := t0.Steps[0]; st.CPU != 1 || st.CPUSet || st.Free == nil || st.Free.At.Name != "shared" {
		t.Errorf("threads[0].steps[0] = %s; want free shared on inherited CPU 1", showValue(st))
	}
	if st := t0.Steps[1]; st.IRQL == nil || *st.IRQL != cpu.DispatchLevel {
		t.Errorf("threads[0].steps[1] = %s; want irql 2", showValue(st))
	}
	// The second gets a default name and CPU 0; a step's own cpu: is marked.
	if t1.Name != "t2" || t1.CPU != 0 {
		t.Errorf("threads[1] = %s, want name t2 on CPU 0", showValue(t1))
	}
	if st := t1.Steps[1]; st.CPU != 0 || !st.CPUSet {
		t.Errorf("threads[1].steps[1] = %s, want its own cpu: 0", showValue(st))
	}
}

func TestParseFillsDefaults(t *testing.T) {
	s, err := Parse("min.yaml", []byte("name: minimal\nsteps:\n  - trim: all\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Machine{RAM: 64 << 20, Pagefile: 256 << 20, CPUs: 1, NUMANodes: 1, Seed: 1}
	if s.Machine != want {
		t.Errorf("Machine = %+v, want %+v", s.Machine, want)
	}
	if s.Schedule != "round-robin" || s.Verifier != nil || s.Expect != nil || s.Faults != nil || s.Drivers != nil {
		t.Errorf("defaults: schedule %q verifier %v expect %v faults %v drivers %v",
			s.Schedule, s.Verifier, s.Expect, s.Faults, s.Drivers)
	}
	// An empty list of steps is a run that does nothing: the format
	// does not ask for a step, and a file being written may have none yet.
	for _, src := range []string{"name: x\nsteps: []\n", "name: x\nthreads: [{steps: []}, {steps: [{repeat: {times: 2, steps: []}}]}]\n"} {
		if _, o, out := runInline(t, loadInline(t, "empty.yaml", src), Options{}); o.Steps != 0 || o.Bugcheck != nil || !strings.Contains(out, "steps run      0") {
			t.Errorf("%q: %d steps, bugcheck %v; want a run of no steps:\n%s", src, o.Steps, o.Bugcheck, out)
		}
	}
	s, err = Parse("lr.yaml", []byte("name: x\ndrivers: [a.sys]\nverifier:\n  drivers: \"*\"\n  low_resources:\nsteps: [{trim: all}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier
	if v.SpecialPool != "off" || len(v.Drivers) != 1 || v.Drivers[0] != "*" || v.LowResources == nil || v.LowResources.Probability != 0.06 {
		t.Errorf("verifier defaults = %s", showValue(v))
	}
}

// TestParseErrors: one row per rule. pos is the exact "file:line:col";
// key and msg are substrings of the error's Key and Msg.
func TestParseErrors(t *testing.T) {
	const steps = "steps:\n  - trim: all\n" // a valid program, for rows about other sections
	for _, tc := range []struct {
		name          string
		src           string
		pos, key, msg string
	}{
		// YAML itself.
		{"a YAML syntax error is reported at go-yaml's position",
			"name: x\nsteps: [{trim: all}\n", "t.yaml:2:8", "steps", "YAML: sequence end token"},
		{"verifier.drivers' * unquoted, in a flow map, is explained",
			"name: x\nverifier: {drivers: *}\n" + steps, "t.yaml:2:22", "verifier", `unexpected scalar value type; a * alone begins an alias in YAML: write "*" in quotes`},
		{"verifier.drivers' * unquoted, on its own line, is explained",
			"name: x\nverifier:\n  drivers: *\n" + steps, "t.yaml:3:12", "verifier.drivers", `a * alone begins an alias in YAML: write "*" in quotes`},
		{"a key given twice is a YAML error",
			"name: x\nname: y\n" + steps, "t.yaml:2:1", "", `the key "name" is given twice in one map; the first is at line 1, column 1`},
		{"a key given twice deeper down says where the first is",
			"name: x\nmachine:\n  ram: 1MiB\n  ram: 2MiB\n" + steps, "t.yaml:4:3", "", `the key "ram" is given twice in one map; the first is at line 3, column 3`},
		{"a tab in the indentation names the key it indents",
			"name: x\n\tsteps: []\n", "t.yaml:2:1", "", `a tab indents "steps"; YAML indents with spaces only`},
		{"a tab inside a flow map names the key after it",
			"name: x\nsteps:\n  - alloc: {pool: PagedPool,\tsize: 8, tag: Abcd}\n", "t.yaml:3:33", "", `a tab stands before "size"`},
		{"a tab before a list item names the item's key",
			"name: x\nsteps:\n\t- trim: all\n", "t.yaml:3:1", "", `a tab indents the list item "trim"`},
		{"a tab before a comment says so",
			"name: x\n\t# note\nsteps:\n  - trim: all\n", "t.yaml:2:1", "", "a tab indents a comment"},
		{"a byte order mark is no key",
			"\ufeffname: x\nsteps:\n  - trim: al\n", "t.yaml:3:11", "steps[0].trim", "al"},
		{"an empty file is refused",
			"", "t.yaml:1:1", "", "the file is empty"},
		{"a file of only comments is empty",
			"# nothing here\n", "t.yaml:1:1", "", "the file is empty"},
		{"a second document is refused",
			"name: x\n" + steps + "---\nname: y\n", "t.yaml:4:1", "", "one YAML document"},
		{"a top-level list is refused",
			"- trim: all\n", "t.yaml:1:1", "", "a scenario is a map"},
		{"an anchor with nothing after it at the end of the file",
			"name: x\n" + steps + "expect: &e\n", "t.yaml:4:9", "expect", "the anchor at the end of the file has no value"},
		{"an unknown alias is reported, with where it stands",
			"name: *nope\n" + steps, "t.yaml:1:7", "name", "unknown alias *nope"},
		{"an unknown alias deep down names its key",
			"name: x\nsteps:\n  - trim: all\n  - alloc: {pool: PagedPool, size: *n, tag: Abcd}\n", "t.yaml:4:36", "steps[1].alloc.size", "unknown alias *n"},

		// YAML tags: YAML's own, and only where they fit the value.
		{"a tag that says a value is null when it is not",
			"name: x\nsteps:\n  - alloc: {pool: !!null NonPagedPool, size: 8, tag: Abcd}\n", "t.yaml:3:19", "steps[0].alloc.pool", `the YAML tag !!null does not fit the text "NonPagedPool"`},
		{"a tag of the application's own",
			"name: !Ref x\n" + steps, "t.yaml:1:7", "name", "unknown YAML tag !Ref"},
		{"a core tag simkern does not read",
			"name: x\nsteps:\n  - trim: !!timestamp all\n", "t.yaml:3:11", "steps[0].trim", "unknown YAML tag !!timestamp"},
		{"a tag in a map reached by a merge key is named where it is written",
			"name: x\nsteps:\n  - alloc: &b {pool: !!null PagedPool, size: 8, tag: Abcd}\n  - alloc: {<<: *b, size: 9}\n", "t.yaml:3:22", "steps[0].alloc.pool", "the YAML tag !!null does not fit"},
		{"the long form of a tag is checked too",
			"name: x\nsteps:\n  - free: !<tag:yaml.org,2002:int> {at: a}\n", "t.yaml:3:11", "steps[0].free", "the YAML tag !<tag:yaml.org,2002:int> does not fit a map"},
		{"a boolean tagged as a number",
			"name: x\nsteps:\n  - alloc: {pool: PagedPool, size: !!int true, tag: Abcd}\n", "t.yaml:3:36", "steps[0].alloc.size", "the YAML tag !!int does not fit a boolean (true)"},

		// Unknown keys, with and without a suggestion.
		{"an unknown key in a verb's map suggests the closest",
			"name: x\nsteps:\n  - alloc: {pool: PagedPool, sizee: 5}\n", "t.yaml:3:30", "steps[0].alloc.sizee", `unknown key "sizee"; did you mean "size"?`},
		{"a misspelt verb suggests the verb",
			"name: x\nsteps:\n  - aloc: {pool: PagedPool, size: 5}\n", "t.yaml:3:5", "steps[0].aloc", `did you mean "alloc"?`},
		{"a misspelt top-level key suggests the key",
			"name: x\nmachin: {cpus: 2}\n" + steps, "t.yaml:2:1", "machin", `did you mean "machine"?`},
		{"a misspelt machine key suggests the key",
			"name: x\nmachine:\n  numa_node: 1\n" + steps, "t.yaml:3:3", "machine.numa_node", `did you mean "numa_nodes"?`},
		{"a far-off key lists the valid keys instead",
			"name: x\nmachine: {zzzzzz: 1}\n" + steps, "t.yaml:2:11", "machine.zzzzzz", "valid here: ram, pagefile, cpus, numa_nodes, seed"},
		{"an unknown key inside a fault suggests the key",
			"name: x\nfaults:\n  - pagefile_read_error: {nht: 1}\n" + steps, "t.yaml:3:27", "faults[0].pagefile_read_error.nht", `did you mean "nth"?`},

		// Required keys and shape.
		{"name is required",
			steps, "t.yaml:1:1", "name", "name is required"},
		{"steps or threads is required",
			"name: x\n", "t.yaml:1:1", "steps", "steps is required"},
		{"steps and threads together are refused",
			"name: x\n" + steps + "threads: [{steps: [{trim: all}]}]\n", "t.yaml:4:1", "threads", "not both"},
		{"a step without a verb is refused",
			"name: x\nsteps:\n  - cpu: 0\n", "t.yaml:3:5", "steps[0]", "the step has no verb"},
		{"a step with two verbs is refused at the second",
			"name: x\nsteps:\n  - trim: all\n    page_out: all\n", "t.yaml:4:5", "steps[0].page_out", `a step has one verb, and this one also has "trim"`},
		{"a step that is not a map is refused",
			"name: x\nsteps:\n  - trim\n", "t.yaml:3:5", "steps[0]", "a step is a map with one verb"},
		{"a verb that takes one value refuses a map",
			"name: x\nsteps:\n  - irql: {level: 2}\n", "t.yaml:3:11", "steps[0].irql", "irql takes a single value"},
		{"a verb that takes a map refuses a scalar",
			"name: x\nsteps:\n  - alloc: PagedPool\n", "t.yaml:3:12", "steps[0].alloc", "want a map such as"},

		// Types and numbers.
		{"text where a number belongs is refused",
			"name: x\nmachine: {cpus: two}\n" + steps, "t.yaml:2:17", "machine.cpus", `want a number, got "two"`},
		{"a boolean where a size belongs is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: true}\n", "t.yaml:3:28", "steps[0].alloc.size", "want a size"},
		{"a list where text belongs is refused",
			"name: [x]\n" + steps, "t.yaml:1:7", "name", "want text, got a list"},
		{"a negative size is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: -8}\n", "t.yaml:3:28", "steps[0].alloc.size", "must not be negative"},
		{"a negative size with a unit is refused",
			"name: x\nmachine: {ram: -1MiB}\n" + steps, "t.yaml:2:16", "machine.ram", "must not be negative"},
		{"an unknown unit is refused rather than guessed",
			"name: x\nmachine: {ram: 64M}\n" + steps, "t.yaml:2:16", "machine.ram", `unknown unit "M"`},
		{"a number too big for 64 bits is refused",
			"name: x\nmachine: {seed: 99999999999999999999}\n" + steps, "t.yaml:2:17", "machine.seed", "does not fit in 64 bits"},

		// Machine limits.
		{"ram above 1 TiB is refused",
			"name: x\nmachine: {ram: 2TiB}\n" + steps, "t.yaml:2:16", "machine.ram", "2 TiB (2199023255552 bytes) is too large: at most 1 TiB (1099511627776 bytes)"},
		{"ram below 1 MiB is refused",
			"name: x\nmachine: {ram: 512KiB}\n" + steps, "t.yaml:2:16", "machine.ram", "512 KiB (524288 bytes) is too small: at least 1 MiB"},
		{"a size just past a limit is not rounded onto it",
			"name: x\nmachine: {ram: 1048575}\n" + steps, "t.yaml:2:16", "machine.ram", "1048575 bytes is too small: at least 1 MiB"},
		{"a size just past a limit is not rounded onto it, above",
			"name: x\nmachine: {ram: 1025GiB}\n" + steps, "t.yaml:2:16", "machine.ram", "1025 GiB (1100585369600 bytes) is too large"},
		{"a 0x size takes no unit",
			"name: x\nmachine: {ram: \"0x10 MiB\"}\n" + steps, "t.yaml:2:16", "machine.ram", "a 0x, 0o or 0b number is bytes, a size with a unit is decimal"},
		{"a pagefile above 1 TiB is refused",
			"name: x\nmachine: {pagefile: 0x20000000000}\n" + steps, "t.yaml:2:21", "machine.pagefile", "too large"},
		{"zero CPUs are refused",
			"name: x\nmachine: {cpus: 0}\n" + steps, "t.yaml:2:17", "machine.cpus", "at least 1 CPU"},
		{"more than 256 CPUs are refused",
			"name: x\nmachine: {cpus: 257}\n" + steps, "t.yaml:2:17", "machine.cpus", "at most 256"},
		{"more NUMA nodes than CPUs are refused",
			"name: x\nmachine: {cpus: 2, numa_nodes: 3}\n" + steps, "t.yaml:2:32", "machine.numa_nodes", "every node needs a CPU"},
		{"zero NUMA nodes are refused",
			"name: x\nmachine: {numa_nodes: 0}\n" + steps, "t.yaml:2:23", "machine.numa_nodes", "at least 1 NUMA node"},
		{"a pagefile smaller than two slots is refused (the machine could not be built)",
			"name: x\nmachine: {pagefile: 5000}\n" + steps, "t.yaml:2:21", "machine.pagefile", "too small: a pagefile needs at least 8 KiB"},
		{"a pagefile of one byte is refused",
			"name: x\nmachine: {pagefile: 1}\n" + steps, "t.yaml:2:21", "machine.pagefile", "too small"},
		{"NUMA nodes with less than 12 KiB of RAM each are refused (their pool descriptors would not fit)",
			"name: x\nmachine: {ram: 1MiB, cpus: 256, numa_nodes: 256}\n" + steps, "t.yaml:2:45", "machine.numa_nodes", "256 nodes need at least 3 MiB (3145728 bytes) of RAM"},
		{"the RAM NUMA nodes need is not rounded onto what the machine has",
			"name: x\nmachine: {ram: 1MiB, cpus: 256, numa_nodes: 86}\n" + steps, "t.yaml:2:45", "machine.numa_nodes",
			"86 nodes need at least 1032 KiB (1056768 bytes) of RAM (12 KiB a node), and machine.ram is 1 MiB (1048576 bytes)"},
		{"NUMA nodes are checked against the RAM wherever ram: stands",
			"name: x\nmachine:\n  numa_nodes: 86\n  cpus: 128\n  ram: 1MiB\n" + steps, "t.yaml:3:15", "machine.numa_nodes", "and machine.ram is 1 MiB (1048576 bytes)"},

		// Step values.
		{"an alloc above 4 GiB is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 8GiB}\n", "t.yaml:3:28", "steps[0].alloc.size", "at most 4 GiB (4294967296 bytes)"},
		{"alloc needs a pool",
			"name: x\nsteps:\n  - alloc: {size: 8}\n", "t.yaml:3:12", "steps[0].alloc.pool", "pool is required"},
		{"an unknown pool type lists the valid names",
			"name: x\nsteps:\n  - alloc: {pool: PagedPol, size: 5}\n", "t.yaml:3:19", "steps[0].alloc.pool",
			`unknown pool type "PagedPol"; did you mean "PagedPool"? Valid: NonPagedPool (0), PagedPool (1), NonPagedPoolNx (512), NonPagedPoolMustSucceed (2)`},
		{"an unknown pool number is refused",
			"name: x\nsteps:\n  - alloc: {pool: 3, size: 5}\n", "t.yaml:3:19", "steps[0].alloc.pool", `unknown pool type "3"`},
		{"a bad IRQL lists the valid names",
			"name: x\nsteps:\n  - irql: DISPACH_LEVEL\n", "t.yaml:3:11", "steps[0].irql",
			"did you mean DISPATCH_LEVEL? Valid: PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL"},
		{"an IRQL above 15 is refused",
			"name: x\nsteps:\n  - irql: 16\n", "t.yaml:3:11", "steps[0].irql", "16 is too large: at most 15"},
		{"an IRQL written as a fraction is refused as any number is",
			"name: x\nsteps:\n  - irql: 2.5\n", "t.yaml:3:11", "steps[0].irql", "2.5 is not a whole number"},
		{"a tag of five characters is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, tag: Abcde}\n", "t.yaml:3:36", "steps[0].alloc.tag", "a tag is 1 to 4 characters"},
		{"a 0x tag with no digits is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, tag: \"0x\"}\n", "t.yaml:3:36", "steps[0].alloc.tag", "a 0x tag is 1 to 8 hex digits"},
		{"a tag with a control character is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, tag: \"A\\tb\"}\n", "t.yaml:3:36", "steps[0].alloc.tag", "printable"},
		{"a kd: command longer than 4 KiB is refused",
			"name: x\nsteps:\n  - kd: \"!pool " + strings.Repeat("a", 4092) + "\"\n", "t.yaml:3:9", "steps[0].kd", "the debugger command is 4098 bytes long: at most 4096"},
		{"a bad as: name is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, as: 9lives}\n", "t.yaml:3:35", "steps[0].alloc.as", "is not a name"},
		{"as: all is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, as: all}\n", "t.yaml:3:35", "steps[0].alloc.as", `"all" cannot be a name`},
		{"a bad address offset is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, as: b}\n  - free: b+zz\n", "t.yaml:4:11", "steps[1].free", `the offset "zz" is not a number`},
		{"write needs one form of data",
			"name: x\nsteps:\n  - write: {at: 0x1000}\n", "t.yaml:3:12", "steps[0].write", "say what to write"},
		{"write refuses two forms of data",
			"name: x\nsteps:\n  - write: {at: 0x1000, data: x, u64: 5}\n", "t.yaml:3:34", "steps[0].write.u64", "this write also has data"},
		{"fill needs a length",
			"name: x\nsteps:\n  - write: {at: 0x1000, fill: 0x41}\n", "t.yaml:3:12", "steps[0].write.length", "length is required"},
		{"a fill byte above 255 is refused",
			"name: x\nsteps:\n  - write: {at: 0x1000, fill: 256, length: 1}\n", "t.yaml:3:31", "steps[0].write.fill", "at most 255"},
		{"a write longer than 16 MiB is refused",
			"name: x\nsteps:\n  - write: {at: 0x1000, fill: 1, length: 17MiB}\n", "t.yaml:3:42", "steps[0].write.length", "at most 16 MiB"},
		{"read needs a length or an expectation",
			"name: x\nsteps:\n  - read: {at: 0x1000}\n", "t.yaml:3:11", "steps[0].read.length", "length is required"},
		{"a read length must match its expectation",
			"name: x\nsteps:\n  - read: {at: 0x1000, length: 4, expect: abc}\n", "t.yaml:3:32", "steps[0].read.length", "length is 4 but expect has 3 bytes"},
		{"an empty kd command is refused",
			"name: x\nsteps:\n  - kd: \"\"\n", "t.yaml:3:9", "steps[0].kd", "empty"},

		// Names.
		{"an unbound name is refused with a suggestion",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, as: buf}\n  - read: {at: bfu+4, length: 1}\n", "t.yaml:4:16", "steps[1].read.at", `"bfu" is not bound: no alloc has as: bfu; did you mean "buf"?`},
		{"a name used before its alloc is refused",
			"name: x\nsteps:\n  - free: buf\n  - alloc: {pool: 1, size: 1, as: buf}\n", "t.yaml:3:11", "steps[0].free", `"buf" is used before any alloc binds it`},
		{"trim of an unbound name is refused",
			"name: x\nsteps:\n  - trim: buf\n", "t.yaml:3:11", "steps[0].trim", `"buf" is not bound`},
		{"page_out of an unbound name is refused",
			"name: x\nsteps:\n  - page_out: buf\n", "t.yaml:3:15", "steps[0].page_out", `"buf" is not bound`},
		{"an expect parameter naming nothing is refused",
			"name: x\n" + steps + "expect:\n  bugcheck: {code: 0xD1, p1: buf}\n", "t.yaml:5:30", "expect.bugcheck.p1", `"buf" is not bound`},
		{"a name bound only inside a later repeat is still too late",
			"name: x\nsteps:\n  - trim: b\n  - repeat: {times: 2, steps: [{alloc: {pool: 1, size: 1, as: b}}]}\n", "t.yaml:3:11", "steps[0].trim", "used before"},

		// Workloads and repeats.
		{"workload live 0 is refused",
			"name: x\nsteps:\n  - workload: {ops: 10, pool: 0, sizes: 16-1024, live: 0}\n", "t.yaml:3:56", "steps[0].workload.live", "live must be at least 1"},
		{"a backwards size range is refused",
			"name: x\nsteps:\n  - workload: {ops: 10, pool: 0, sizes: 1024-16}\n", "t.yaml:3:41", "steps[0].workload.sizes", "runs backwards"},
		{"a size range from 0 is refused",
			"name: x\nsteps:\n  - workload: {ops: 10, pool: 0, sizes: 0-16}\n", "t.yaml:3:41", "steps[0].workload.sizes", "at least 1 byte"},
		{"a single size of 0 is refused",
			"name: x\nsteps:\n  - workload: {ops: 10, pool: 0, sizes: 0}\n", "t.yaml:3:41", "steps[0].workload.sizes", "at least 1 byte"},
		{"a repeat above a million times is refused",
			"name: x\nsteps:\n  - repeat: {times: 1000001, steps: [{trim: all}]}\n", "t.yaml:3:21", "steps[0].repeat.times", "at most 1000000"},
		{"nested repeats past ten million steps are refused at the repeat",
			"name: x\nsteps:\n  - repeat: {times: 1000000, steps: [{repeat: {times: 1000, steps: [{trim: all}]}}]}\n",
			"t.yaml:3:21", "steps[0].repeat.times", "this repeat runs 1000000000 steps; the limit is 10000000"},
		{"many repeats together past ten million steps are refused at steps",
			"name: x\nsteps:\n  - repeat: {times: 1000000, steps: [{trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}]}\n  - repeat: {times: 1000000, steps: [{trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}]}\n",
			"t.yaml:2:1", "steps", "the scenario runs 11000000 steps"},
		{"workloads past a hundred million operations are refused",
			"name: x\nsteps:\n  - repeat: {times: 2, steps: [{workload: {ops: 60000000, pool: 0, sizes: 16}}]}\n",
			"t.yaml:3:21", "steps[0].repeat.times", "pool operations"},

		// CPUs and drivers.
		{"a cpu beside the verb must exist",
			"name: x\nsteps:\n  - trim: all\n    cpu: 1\n", "t.yaml:4:10", "steps[0].cpu", "cpu 1 does not exist: the machine has 1"},
		{"a cpu inside the verb must exist",
			"name: x\nmachine: {cpus: 2}\nsteps:\n  - alloc: {pool: 1, size: 1, cpu: 2}\n", "t.yaml:4:36", "steps[0].alloc.cpu", "cpu 2 does not exist"},
		{"a thread's cpu must exist",
			"name: x\nthreads:\n  - {name: a, cpu: 1, steps: [{trim: all}]}\n", "t.yaml:3:20", "threads[0].cpu", "cpu 1 does not exist"},
		{"cpu in both places is refused",
			"name: x\nsteps:\n  - alloc: {pool: 1, size: 1, cpu: 0}\n    cpu: 0\n", "t.yaml:3:31", "steps[0].alloc.cpu", "cpu is given twice"},
		{"a driver must be listed",
			"name: x\ndrivers: [mydrv.sys]\nsteps:\n  - trim: all\n    driver: mydrv.sy\n", "t.yaml:5:13", "steps[0].driver", `driver "mydrv.sy" is not listed in drivers; did you mean "mydrv.sys"?`},
		{"an empty drivers: list lists no driver",
			"name: x\ndrivers: []\nsteps:\n  - trim: all\n    driver: foo.sys\n", "t.yaml:5:13", "steps[0].driver", `driver "foo.sys" is not listed in drivers: the list is empty`},
		{"without a drivers: list, * is still no driver's name",
			"name: x\nsteps:\n  - trim: all\n    driver: '*'\n", "t.yaml:4:13", "steps[0].driver", `"*" is not a driver name`},
		{"without a drivers: list, a driver's name is not blank",
			"name: x\nsteps:\n  - unload: ' '\n", "t.yaml:3:13", "steps[0].unload", "the driver name is empty"},
		{"unload names a listed driver",
			"name: x\ndrivers: [a.sys]\nsteps:\n  - unload: b.sys\n", "t.yaml:4:13", "steps[0].unload", `driver "b.sys" is not listed`},
		{"a driver listed twice is refused",
			"name: x\ndrivers: [a.sys, a.sys]\n" + steps, "t.yaml:2:18", "drivers[1]", "listed twice"},

		// Verifier.
		{"verifier drivers must be listed",
			"name: x\ndrivers: [b.sys]\nverifier: {drivers: [a.sys]}\n" + steps, "t.yaml:3:21", "verifier.drivers", `driver "a.sys" is not listed`},
		{"verifier needs drivers",
			"name: x\nverifier: {pool_tracking: true}\n" + steps, "t.yaml:2:11", "verifier.drivers", "drivers is required"},
		{"special_pool takes three values",
			"name: x\nverifier: {drivers: \"*\", special_pool: over}\n" + steps, "t.yaml:2:40", "verifier.special_pool", "want off, overrun or underrun"},
		{"a probability above 1 is refused",
			"name: x\nverifier: {drivers: \"*\", low_resources: {probability: 1.5}}\n" + steps, "t.yaml:2:55", "verifier.low_resources.probability", "from 0 to 1"},
		{"a negative probability is refused",
			"name: x\nverifier: {drivers: \"*\", low_resources: {probability: -0.1}}\n" + steps, "t.yaml:2:55", "verifier.low_resources.probability", "from 0 to 1"},
		{"a low_resources tag must be a tag",
			"name: x\nverifier: {drivers: \"*\", low_resources: {tags: [Toolong]}}\n" + steps, "t.yaml:2:49", "verifier.low_resources.tags[0]", "1 to 4 characters"},

		// Faults.
		{"a fault with two kinds is refused",
			"name: x\nfaults:\n  - pagefile_read_error: {nth: 1}\n    bit_flip: {step: 1}\n" + steps, "t.yaml:4:5", "faults[0].bit_flip", `a fault has one kind, and this one also has "pagefile_read_error"; give each its own list item`},
		{"a pagefile fault needs nth or probability",
			"name: x\nfaults:\n  - pagefile_read_error: {status: 0xC000009C}\n" + steps, "t.yaml:3:26", "faults[0].pagefile_read_error", "nth: N"},
		{"a pagefile fault takes nth or probability, not both",
			"name: x\nfaults:\n  - pagefile_write_error: {nth: 1, probability: 0.5}\n" + steps, "t.yaml:3:36", "faults[0].pagefile_write_error.probability", "not both"},
		{"a fault probability above 1 is refused",
			"name: x\nfaults:\n  - pagefile_write_error: {probability: 2}\n" + steps, "t.yaml:3:41", "faults[0].pagefile_write_error.probability", "from 0 to 1"},
		{"a pagefile fault needs a pagefile",
			"name: x\nmachine: {pagefile: 0}\nfaults:\n  - pagefile_read_error: {nth: 1}\n" + steps, "t.yaml:4:5", "faults[0].pagefile_read_error", "no pagefile"},
		{"a status above 32 bits is refused",
			"name: x\nfaults:\n  - pagefile_read_error: {nth: 1, status: 0x1C000009C}\n" + steps, "t.yaml:3:43", "faults[0].pagefile_read_error.status", "0x1c000009c is too large: at most 0xffffffff"},
		{"a bit flip after the last step is refused",
			"name: x\nfaults:\n  - bit_flip: {step: 5}\n" + steps, "t.yaml:3:22", "faults[0].bit_flip.step", "step 5 never runs: the scenario runs only 1"},
		{"a bit flip in a frame past RAM is refused",
			"name: x\nmachine: {ram: 1MiB}\nfaults:\n  - bit_flip: {step: 1, frame: 256}\n" + steps, "t.yaml:4:32", "faults[0].bit_flip.frame", "the machine has 256 frames"},
		{"a bit above 63 is refused",
			"name: x\nfaults:\n  - bit_flip: {step: 1, bit: 64}\n" + steps, "t.yaml:3:30", "faults[0].bit_flip.bit", "at most 63"},

		// Schedule and expect.
		{"two threads with one name are refused at the second name",
			"name: x\nthreads:\n  - {name: a, steps: [{trim: all}]}\n  - {name: a, steps: [{trim: all}]}\n", "t.yaml:4:12", "threads[1].name", `two threads are named "a"`},
		{"a thread named by position that another's name took is told so",
			"name: x\nthreads:\n  - {name: t2, steps: [{trim: all}]}\n  - {steps: [{trim: all}]}\n", "t.yaml:4:5", "threads[1]", `its name by position, "t2", is another thread's: give it a name`},
		{"a negative parameter below -2^63 does not fit",
			"name: x\n" + steps + "expect: {bugcheck: {code: 1, p1: -9223372036854775809}}\n", "t.yaml:4:34", "expect.bugcheck.p1", "does not fit in 64 bits"},
		{"a map for drivers is neither a name nor a list",
			"name: x\ndrivers: {a: 1}\n" + steps, "t.yaml:2:10", "drivers", "want a name or a list of names, got a map"},
		{"schedule needs threads",
			"name: x\nschedule: random\n" + steps, "t.yaml:2:11", "schedule", "has none"},
		{"an unknown schedule is refused",
			"name: x\nthreads: [{steps: [{trim: all}]}]\nschedule: fifo\n", "t.yaml:3:11", "schedule", "want round-robin or random"},
		{"a bugcheck code above 32 bits is refused",
			"name: x\n" + steps + "expect:\n  bugcheck: {code: 0x1FFFFFFFF}\n", "t.yaml:5:20", "expect.bugcheck.code", "0x1ffffffff is too large: at most 0xffffffff"},
		{"a bugcheck needs a code",
			"name: x\n" + steps + "expect:\n  bugcheck: {p1: 1}\n", "t.yaml:5:13", "expect.bugcheck.code", "code is required"},
		{"bugcheck text other than none is refused",
			"name: x\n" + steps + "expect:\n  bugcheck: never\n", "t.yaml:5:13", "expect.bugcheck", "want none or a map"},

		// Traces read at load time.
		{"a missing trace file is an error at the step",
			"name: x\nsteps:\n  - replay: nope.trace\n", "t.yaml:3:13", "steps[0].replay", "cannot read the trace"},

		// With several errors, the first in the file wins, whatever order
		// the loader found them in (expect is checked last, cpus first).
		{"the first error in the file is the one reported",
			"expect: {bugcheck: {code: 0}}\nname: x\nmachine: {cpus: 0}\n" + steps, "t.yaml:1:27", "expect.bugcheck.code", "0 is not a bugcheck code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.src))
			checkError(t, err, tc.pos, tc.key, tc.msg)
		})
	}
}

func checkError(t *testing.T, err error, pos, key, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s: %s: %s", pos, key, msg)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want *Error", err, err)
	}
	if e.Pos.String() != pos || !strings.Contains(e.Key, key) || !strings.Contains(e.Msg, msg) {
		t.Errorf("got  %v\nwant %s: %s: ...%s...", err, pos, key, msg)
	}
	if key == "" && e.Key != "" {
		t.Errorf("key = %q, want none", e.Key)
	}
	if !strings.HasPrefix(err.Error(), pos+": ") {
		t.Errorf("Error() = %q, want it to start with %q", err.Error(), pos+": ")
	}
}

func TestTraceErrorInScenarioNamesTheTraceLine(t *testing.T) {
	_, err := Load("testdata/bad-trace.yaml")
	checkError(t, err, "testdata/traces/bad.trace:4:3", "id", "frees id 2, which is not allocated")
}

func TestTraceCPUsAreCheckedAgainstTheMachine(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/t.trace", []byte("a 1 PagedPool Abcd 16 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Parse(dir+"/s.yaml", []byte("name: x\nsteps:\n  - replay: t.trace\n"))
	checkError(t, err, dir+"/t.trace:1:23", "cpu", "the machine has CPUs 0 to 0")
	if _, err := Parse(dir+"/s.yaml", []byte("name: x\nmachine: {cpus: 2}\nsteps:\n  - replay: t.trace\n")); err != nil {
		t.Errorf("with 2 CPUs: %v", err)
	}
}

func TestReplayRefusesFilesThatAreNotRegular(t *testing.T) {
	_, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - replay: /dev/zero\n"))
	checkError(t, err, "t.yaml:3:13", "steps[0].replay", "not a regular file")
}

func TestLoadMissingFileIsAnError(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	var e *Error
	if !errors.As(err, &e) || e.Pos.File != "testdata/no-such-file.yaml" || !strings.Contains(e.Msg, "no such file") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestCPUAndDriverPlacement: cpu: and driver: beside the verb, inside its
// map, or inherited.
func TestCPUAndDriverPlacement(t *testing.T) {
	head := "name: x\nmachine: {cpus: 4}\ndrivers: [d.sys, e.sys]\n"
	for _, tc := range []struct {
		name    string
		src     string
		path    []int // step indexes, into repeats
		cpu     int
		cpuSet  bool
		driver  string
		threads bool
	}{
		{"beside a scalar verb", "steps:\n  - irql: 2\n    cpu: 3\n    driver: d.sys\n", []int{0}, 3, true, "d.sys", false},
		{"beside a map verb", "steps:\n  - alloc: {pool: 1, size: 1}\n    cpu: 2\n    driver: e.sys\n", []int{0}, 2, true, "e.sys", false},
		{"inside a map verb", "steps:\n  - alloc: {pool: 1, size: 1, cpu: 1, driver: d.sys}\n", []int{0}, 1, true, "d.sys", false},
		{"cpu inside and driver beside", "steps:\n  - read: {at: 0x10, length: 1, cpu: 1}\n    driver: d.sys\n", []int{0}, 1, true, "d.sys", false},
		{"inside free's map form", "steps:\n  - free: {at: 0x10, cpu: 2, driver: e.sys}\n", []int{0}, 2, true, "e.sys", false},
		{"the default is CPU 0 and the kernel", "steps:\n  - trim: all\n", []int{0}, 0, false, "", false},
		{"inherited from a repeat", "steps:\n  - repeat: {times: 2, cpu: 3, driver: d.sys, steps: [{trim: all}]}\n", []int{0, 0}, 3, false, "d.sys", false},
		{"a step's own cpu beats its repeat's", "steps:\n  - repeat: {times: 2, cpu: 3, steps: [{trim: all, cpu: 1}]}\n", []int{0, 0}, 1, true, "", false},
		{"inherited from a thread", "threads:\n  - {cpu: 2, steps: [{trim: all}]}\n", []int{0}, 2, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte(head+tc.src))
			if err != nil {
				t.Fatal(err)
			}
			list := s.Steps
			if tc.threads {
				list = s.Threads[0].Steps
			}
			st := list[tc.path[0]]
			for _, i := range tc.path[1:] {
				st = st.Repeat.Steps[i]
			}
			if st.CPU != tc.cpu || st.CPUSet != tc.cpuSet || st.Driver != tc.driver {
				t.Errorf("cpu %d (set %v), driver %q; want cpu %d (set %v), driver %q",
					st.CPU, st.CPUSet, st.Driver, tc.cpu, tc.cpuSet, tc.driver)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Addr
		err  string
	}{
		{"buf", Addr{Name: "buf"}, ""},
		{"buf+0x10", Addr{Name: "buf", Offset: 16}, ""},
		{"buf-16", Addr{Name: "buf", Offset: -16}, ""},
		{"buf + 8", Addr{Name: "buf", Offset: 8}, ""},
		{"_x1+0", Addr{Name: "_x1"}, ""},
		{"0xfffff80000001000", Addr{Literal: 0xfffff80000001000, IsLiteral: true}, ""},
		{"4096", Addr{Literal: 4096, IsLiteral: true}, ""},
		{"buf-0x8000000000000000", Addr{Name: "buf", Offset: -1 << 63}, ""},
		{"buf+0x8000000000000000", Addr{}, "does not fit"},
		{"", Addr{}, "empty"},
		{"buf+", Addr{}, "not a number"},
		{"buf++1", Addr{}, "not a number"},
		{"buf+x", Addr{}, "not a number"},
		{"b-u-f", Addr{}, "not a number"},
		{"-buf", Addr{}, "is not a name"},
		{"b.f", Addr{}, "is not a name"},
		{"0xZZ", Addr{}, "want a number"},
		{"0x1ffffffffffffffff", Addr{}, "does not fit in 64 bits"},
	} {
		got, err := parseAddr(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("parseAddr(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseAddr(%q) = %+v, %v; want an error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("parseAddr(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if tc.err == "" && got.String() != "" {
			if back, err := parseAddr(got.String()); err != nil || back != got {
				t.Errorf("parseAddr(%q).String() = %q does not read back: %+v, %v", tc.in, got.String(), back, err)
			}
		}
	}
}

func TestSuggestClosestKey(t *testing.T) {
	keys := []string{"pool", "size", "tag", "as", "expect_null", "cpu", "driver"}
	for _, tc := range []struct{ in, want string }{
		{"sizee", "size"},
		{"Size", "size"},
		{"szie", "size"},
		{"tg", "tag"},
		{"expect_nul", "expect_null"},
		{"expect", "expect_null"}, // a prefix
		{"drivers", "driver"},
		{"cpus", "cpu"},
		{"xyz", ""},
		{"q", ""},
		{"completely_unrelated", ""},
	} {
		if got := suggest(tc.in, keys); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"4096", 4096, ""},
		{"0x1000", 4096, ""},
		{"64MiB", 64 << 20, ""},
		{"64mib", 64 << 20, ""},
		{"64 MiB", 64 << 20, ""},
		{"1GB", 1_000_000_000, ""},
		{"4KB", 4000, ""},
		{"1.5KiB", 1536, ""},
		{"16B", 16, ""},
		{"1TiB", 1 << 40, ""},
		{"0.3B", 0, "whole number of bytes"},
		{"4.0000000000000000001MiB", 0, "whole number of bytes"},
		{"1.00000000000000000001KiB", 0, "whole number of bytes"},
		{"1.0000001MiB", 0, "whole number of bytes"},
		{"0.5KiB", 512, ""},
		{".5KiB", 512, ""},
		{"16777216TiB", 0, "more bytes than 64 bits can count"},
		{"16777215.999999TiB", 0, "whole number of bytes"},
		{"64M", 0, `unknown unit "M"`},
		{"MiB", 0, "want a size"},
		{"12 parsecs", 0, "unknown unit"},
		{"1..5MiB", 0, `bad size "1..5MiB": want a number and a unit`},
		{"0B", 0, ""},
		{"0b", 0, ""},
		{"0b101", 5, ""},
		{"0o17", 15, ""},
		{"0x10 MiB", 0, "a 0x, 0o or 0b number is bytes"},
	} {
		got, err := parseSize(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseSize(%q) = %d, %v; want an error containing %q", tc.in, got, err, tc.err)
		}
	}
}

// A tag is text, a 0x number, or the number 0: tag zero, which the pool
// refuses. Quoted, or any other number, it is text ("1394" is a tag).
func TestParseTags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want pool.Tag
	}{
		{"Abcd", pool.TagOf("Abcd")},
		{"Irp", pool.TagOf("Irp ")},
		{"0x41424344", pool.TagOf("DCBA")},
		{"0", 0},
		{"0x0", 0},
		{`"0"`, pool.TagOf("0   ")},
		{"'0'", pool.TagOf("0   ")},
		{"1394", pool.TagOf("1394")},
		{"00", pool.TagOf("00  ")},
	} {
		s, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - alloc: {pool: 0, size: 8, tag: "+tc.in+"}\n  - free: {at: 0x1000, tag: "+tc.in+"}\n"))
		if err != nil {
			t.Errorf("tag: %s: %v", tc.in, err)
			continue
		}
		if a, f := s.Steps[0].Alloc.Tag, s.Steps[1].Free.Tag; a != tc.want || f != tc.want {
			t.Errorf("tag: %s reads as %#x in alloc and %#x in free, want %#x", tc.in, uint32(a), uint32(f), uint32(tc.want))
		}
	}
}

func TestNamesBoundInAnyThreadCount(t *testing.T) {
	// The freeing thread comes first in the file; with threads, the
	// schedule decides the order, so any binding counts.
	if _, err := Load("testdata/threads.yaml"); err != nil {
		t.Fatal(err)
	}
	src := "name: x\nthreads:\n  - steps: [{free: nowhere}]\n"
	_, err := Parse("t.yaml", []byte(src))
	checkError(t, err, "t.yaml:3:20", "threads[0].steps[0].free", `"nowhere" is not bound`)
}

func TestNamesBoundInsideAnEarlierRepeatCount(t *testing.T) {
	src := "name: x\nsteps:\n  - repeat: {times: 3, steps: [{alloc: {pool: 1, size: 8, as: b}}]}\n  - free: b\n"
	if _, err := Parse("t.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
}

func TestAnchorsAliasesAndMergeKeys(t *testing.T) {
	src := `name: anchors
defaults: &small {pool: PagedPool, size: 16}
steps:
  - alloc: {<<: *small, as: a}
  - alloc: {<<: *small, size: 32, as: b}
  - &twice repeat: {times: 2, steps: [{trim: a}]}
`
	// defaults: is not a scenario key, so the anchor lives in a step instead.
	_, err := Parse("t.yaml", []byte(src))
	checkError(t, err, "t.yaml:2:1", "defaults", `unknown key "defaults"`)

	src = `name: anchors
steps:
  - alloc: &small {pool: PagedPool, size: 16, as: a}
  - alloc: {<<: *small, size: 32, as: b}
  - &trim {trim: a}
  - *trim
`
	s, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Steps[1].Alloc; got.Pool != pool.PagedPool || got.Size != 32 || got.As != "b" {
		t.Errorf("merged alloc = %+v, want PagedPool, 32 bytes, as b", got)
	}
	if got := s.Steps[3]; got.Trim == nil || got.Trim.Name != "a" || got.Line != "trim: a" {
		t.Errorf("aliased step = %s", showValue(got))
	}
}

// TestAliasBombIsBounded: nine levels of ten aliases describe 10^9 steps;
// the loader must stop early instead of reading them all.
func TestAliasBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: bomb\nsteps:\n  - repeat:\n      times: 1\n      steps: &l0 [{trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  - repeat:\n      times: 1\n      steps: &l%d [", i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{repeat: {times: 1, steps: *l%d}}", i-1)
		}
		b.WriteString("]\n")
	}
	_, err := Parse("t.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many steps to read") && !strings.Contains(err.Error(), "the limit is") {
		t.Fatalf("got %v, want the loader to stop", err)
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Pos: Pos{File: "f.yaml", Line: 14, Col: 5}, Key: "steps[3].alloc.size", Msg: "too large"}
	if got, want := e.Error(), "f.yaml:14:5: steps[3].alloc.size: too large"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &Error{Pos: Pos{File: "f.yaml", Line: 2, Col: 1}, Msg: "YAML: bad"}
	if got, want := e.Error(), "f.yaml:2:1: YAML: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (Pos{File: "f.yaml"}).String(), "f.yaml"; got != want {
		t.Errorf("Pos without a line = %q, want %q", got, want)
	}
}

func TestStepLineIsShort(t *testing.T) {
	src := "name: x\nsteps:\n  - write: {at: 0x10, bytes: [" + strings.Repeat("1, ", 500) + "1]}\n"
	s, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Steps[0].Line; len(l) > 120 || !strings.HasPrefix(l, "write: {at: 0x10, bytes: [1, 1,") || !strings.HasSuffix(l, "...") {
		t.Errorf("Line = %q (%d bytes), want a short prefix ending in ...", l, len(l))
	}
}

// TestAliasBombWithChangingContextIsBounded: each alias is read on a
// different CPU, so reading it once cannot serve the others; the loader's
// budget for steps read must stop it instead.
func TestAliasBombWithChangingContextIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: bomb\nmachine: {cpus: 16}\nsteps:\n  - repeat:\n      times: 1\n      steps: &l0 [{trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}, {trim: all}]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  - repeat:\n      times: 1\n      steps: &l%d [", i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{repeat: {times: 1, cpu: %d, steps: *l%d}}", j, i-1)
		}
		b.WriteString("]\n")
	}
	_, err := Parse("t.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "the limit is") && !strings.Contains(err.Error(), "too many steps to read") {
		t.Fatalf("got %v, want the loader to stop at a limit", err)
	}
}

// TestOneMistakeIsReportedOnce: checks that lean on a broken part of the
// file stay quiet, so the error shown is the mistake, not its echo.
func TestOneMistakeIsReportedOnce(t *testing.T) {
	for _, tc := range []struct {
		name          string
		src           string
		pos, key, msg string
	}{
		{"a broken alloc does not make its name unbound in another thread",
			"name: x\nthreads:\n  - steps: [{free: b}]\n  - steps: [{alloc: PagedPool}]\n",
			"t.yaml:4:21", "threads[1].steps[0].alloc", "want a map"},
		{"a misspelt alloc does not make its name unbound",
			"name: x\nthreads:\n  - steps: [{trim: b}]\n  - steps: [{aloc: {pool: 1, size: 1, as: b}}]\n",
			"t.yaml:4:14", "threads[1].steps[0].aloc", `did you mean "alloc"?`},
		{"a bit flip is not counted against steps that failed",
			"name: x\nfaults:\n  - bit_flip: {step: 2}\nsteps:\n  - trim: all\n  - trim: [all]\n",
			"t.yaml:6:11", "steps[1].trim", "want text, got a list"},
		{"a broken machine does not make CPUs missing",
			"name: x\nmachine: 4\nsteps:\n  - trim: all\n    cpu: 3\n",
			"t.yaml:2:10", "machine", "want a map"},
		{"a broken drivers list does not make drivers unlisted",
			"name: x\ndrivers: {a: b}\nsteps:\n  - trim: all\n    driver: a.sys\n",
			"t.yaml:2:10", "drivers", "want a name or a list of names, got a map"},
		{"a misspelt key does not also count as missing",
			"name: x\nsteps:\n  - alloc: {pool: 1, szie: 8}\n",
			"t.yaml:3:22", "steps[0].alloc.szie", `did you mean "size"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.src))
			checkError(t, err, tc.pos, tc.key, tc.msg)
		})
	}
}

func TestNullMeansNotGiven(t *testing.T) {
	src := "name: x\ndescription:\nmachine:\ndrivers:\nfaults:\nexpect:\nverifier:\n  drivers: \"*\"\n  low_resources: false\nsteps:\n  - alloc: {pool: 1, size: 8, tag: ~, as: b}\n"
	s, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Description != "" || s.Machine.CPUs != 1 || s.Drivers != nil || s.Faults != nil || s.Expect != nil ||
		s.Verifier.LowResources != nil || s.Steps[0].Alloc.Tag != pool.TagOf("None") {
		t.Errorf("null values should read as absent: %s", showValue(s))
	}
	// The step lines leave the null keys out, as the steps do.
	if got := s.Steps[0].Line; got != "alloc: {pool: 1, size: 8, as: b}" {
		t.Errorf("step line %q, want the null tag left out", got)
	}
	// An expect whose one key is absent or null expects what no expect
	// does: the run ends without a bugcheck.
	for _, expect := range []string{"expect: {}", "expect: {bugcheck: ~}", "expect:\n  bugcheck:"} {
		s, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - irql: 2\n"+expect+"\n"))
		if err != nil {
			t.Errorf("%q: %v", expect, err)
		} else if s.Expect != nil {
			t.Errorf("%q: Expect %s, want none", expect, showValue(s.Expect))
		}
	}
}

// TestBinaryData: write's data: takes !!binary base64 as its bytes, in
// a block of lines too; anywhere text is wanted, !!binary is refused.
func TestBinaryData(t *testing.T) {
	s, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - alloc: {pool: 0, size: 16, as: b}\n  - write:\n      at: b\n      data: !!binary |\n        aGVs\n        bG8=\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w := s.Steps[1].Write; string(w.Data) != "hello" || !strings.Contains(s.Steps[1].Line, "!!binary") {
		t.Errorf("write %q, line %q: want the bytes \"hello\" and the tag on the line", w.Data, s.Steps[1].Line)
	}
	_, err = Parse("t.yaml", []byte("name: !!binary AQID\nsteps: [{trim: all}]\n"))
	checkError(t, err, "t.yaml:1:7", "name", "!!binary is bytes, which only data: and expect: take")
}

// TestReadExpectForms: the format gives expect as text or bytes; bytes
// may be written {bytes: [...]} or, as write's bytes: is, a plain list.
func TestReadExpectForms(t *testing.T) {
	for _, tc := range []struct {
		expect string
		want   []byte
	}{
		{`"AB"`, []byte("AB")},
		{"{bytes: [0x41, 66]}", []byte("AB")},
		{"[0x41, 66]", []byte("AB")},
		{"[0, 255, 7]", []byte{0, 255, 7}},
		{"!!binary QUI=", []byte("AB")},             // YAML's base64 bytes
		{`!!binary "AP8H"`, []byte{0, 255, 7}},      // quoted too
		{"!!binary 1234", []byte{0xd7, 0x6d, 0xf8}}, // base64 that YAML reads as a number
	} {
		src := "name: x\nsteps:\n  - alloc: {pool: NonPagedPool, size: 16, as: b}\n  - read: {at: b, expect: " + tc.expect + "}\n"
		s, err := Parse("t.yaml", []byte(src))
		if err != nil {
			t.Errorf("expect: %s: %v", tc.expect, err)
			continue
		}
		r := s.Steps[1].Read
		if !r.HasExpect || string(r.Expect) != string(tc.want) || r.Length != uint64(len(tc.want)) {
			t.Errorf("expect: %s: read %+v, want expect %v and that length", tc.expect, r, tc.want)
		}
	}
	for _, tc := range []struct{ expect, pos, key, msg string }{
		{"[1, 256]", "t.yaml:4:31", "steps[1].read.expect[1]", "at most 255"},
		{"[]", "t.yaml:4:27", "steps[1].read.expect", "expect is empty"},
		{"!!binary QUI", "t.yaml:4:27", "steps[1].read.expect", "!!binary is not base64"},
	} {
		_, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - alloc: {pool: NonPagedPool, size: 16, as: b}\n  - read: {at: b, expect: "+tc.expect+"}\n"))
		checkError(t, err, tc.pos, tc.key, tc.msg)
	}
	// bytes: beside the address, as a write gives its bytes.
	s, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - alloc: {pool: NonPagedPool, size: 16, as: b}\n  - read: {at: b, length: 2, bytes: [0x41, 66]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Steps[1].Read; !r.HasExpect || string(r.Expect) != "AB" || r.Length != 2 {
		t.Errorf("read with bytes: %+v, want AB expected", r)
	}
	for _, tc := range []struct{ read, pos, key, msg string }{
		{"bytes: [1], expect: A", "t.yaml:4:26", "steps[1].read.bytes", "expect: or bytes:, not both"},
		{"bytes: []", "t.yaml:4:26", "steps[1].read.bytes", "bytes is empty"},
		{"length: 2, bytes: [1]", "t.yaml:4:27", "steps[1].read.length", "length is 2 but bytes has 1 bytes"},
		{"bytes: abc", "t.yaml:4:26", "steps[1].read.bytes", "want a list"},
	} {
		_, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - alloc: {pool: NonPagedPool, size: 16, as: b}\n  - read: {at: b, "+tc.read+"}\n"))
		checkError(t, err, tc.pos, tc.key, tc.msg)
	}
}

// TestSmallestMachinesBoot: a machine at the loader's lower limits (the
// least RAM for its NUMA nodes, the smallest pagefile) must boot: a
// machine the loader takes but cannot be built fails the run as if the
// host had (exit 1), not the file (exit 2).
func TestSmallestMachinesBoot(t *testing.T) {
	for nodes := uint64(1); nodes <= MaxCPUs; nodes++ {
		ram := max(MinRAMBytes, nodes*MinNodeRAMBytes)
		src := fmt.Sprintf("name: x\nmachine: {ram: %d, pagefile: %d, cpus: %d, numa_nodes: %d}\nsteps:\n  - trim: all\n",
			ram, MinPagefileBytes, nodes, nodes)
		s, err := Parse("t.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%d nodes: %v", nodes, err)
		}
		sess, err := NewSession(s, Options{})
		if err != nil {
			t.Fatalf("%d nodes, %d bytes of RAM: the loader takes the machine, but: %v", nodes, ram, err)
		}
		sess.Close()
		if less := ram - pageBytes; less >= MinRAMBytes {
			src = fmt.Sprintf("name: x\nmachine: {ram: %d, cpus: %d, numa_nodes: %d}\nsteps:\n  - trim: all\n", less, nodes, nodes)
			if _, err := Parse("t.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "nodes need at least") {
				t.Fatalf("%d nodes, %d bytes of RAM: %v, want the machine refused", nodes, less, err)
			}
		}
	}
}

// TestLeadingZerosAreDecimal: numbers are decimal unless they say 0x, 0o
// or 0b. go-yaml, following YAML 1.1, reads a plain 010 as octal 8; the
// loader reads it as 10, the same as the text "010".
func TestLeadingZerosAreDecimal(t *testing.T) {
	src := `name: x
machine: {seed: 010, cpus: 02}
steps:
  - alloc: {pool: NonPagedPool, size: 0100, as: a}
  - alloc: {pool: NonPagedPool, size: "0100", as: b}
  - write: {at: a, fill: 0101, length: 017}
  - alloc: {pool: NonPagedPool, size: 0o17, as: c}
  - alloc: {pool: NonPagedPool, size: 0, as: d}
  - repeat: {times: 09, steps: [{trim: all}]}
expect:
  bugcheck: {code: 0xC2, p1: 010, p2: -010, p3: "-0x10", p4: -9223372036854775808}
`
	s, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"seed 010", s.Machine.Seed, 10},
		{"cpus 02", uint64(s.Machine.CPUs), 2},
		{"size 0100", s.Steps[0].Alloc.Size, 100},
		{`size "0100"`, s.Steps[1].Alloc.Size, 100},
		{"fill 0101", uint64(s.Steps[2].Write.Data[0]), 101},
		{"length 017", uint64(len(s.Steps[2].Write.Data)), 17},
		{"size 0o17", s.Steps[3].Alloc.Size, 15},
		{"size 0", s.Steps[4].Alloc.Size, 0},
		{"times 09", uint64(s.Steps[5].Repeat.Times), 9},
		{"p1 010", s.Expect.Bugcheck.P[0].Literal, 10},
		{"p2 -010", s.Expect.Bugcheck.P[1].Literal, uint64(1<<64 - 10)},
		{`p3 "-0x10" (text)`, s.Expect.Bugcheck.P[2].Literal, uint64(1<<64 - 16)},
		{"p4 -2^63", s.Expect.Bugcheck.P[3].Literal, 1 << 63},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	_, err = Parse("t.yaml", []byte("name: x\nsteps:\n  - alloc: {pool: 1, size: -010}\n"))
	checkError(t, err, "t.yaml:3:28", "steps[0].alloc.size", "must not be negative, got -10")
}

// TestIRQLNumbers: irql: takes a level in any of the format's number
// forms, as YAML integers or as text, as well as its name.
func TestIRQLNumbers(t *testing.T) {
	for _, v := range []string{"2", "2.0", "0x2", `"0x02"`, "0o2", `"0o2"`, "0b10", `"0b10"`, "02", "DISPATCH_LEVEL", "dispatch_level"} {
		s, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - irql: "+v+"\n"))
		if err != nil {
			t.Errorf("irql: %s: %v", v, err)
			continue
		}
		if got := s.Steps[0].IRQL; got == nil || *got != cpu.DispatchLevel {
			t.Errorf("irql: %s = %v, want DISPATCH_LEVEL", v, got)
		}
	}
	for _, tc := range []struct{ v, msg string }{
		{"0b10000", "16 is too large: at most 15"},
		{"0o20", "16 is too large: at most 15"},
		{"0x10", "0x10 is too large: at most 0xf"},
		{`"0x10"`, "or a number 0-15"}, // text: a name or a number
	} {
		_, err := Parse("t.yaml", []byte("name: x\nsteps:\n  - irql: "+tc.v+"\n"))
		checkError(t, err, "t.yaml:3:11", "steps[0].irql", tc.msg)
	}
}

// TestDocumentMarkers: a %YAML directive belongs to the document after
// it (go-yaml makes a document of its own of it, which the loader took
// for a second document); --- and ... around the one document are fine.
func TestDocumentMarkers(t *testing.T) {
	const doc = "name: x\nsteps: [{trim: all}]\n"
	for _, src := range []string{
		"%YAML 1.2\n---\n" + doc,
		"%YAML 1.2\n---\n" + doc + "...\n",
		"---\n" + doc + "...\n# the end\n",
		"--- # a comment\n" + doc,
	} {
		if _, err := Parse("t.yaml", []byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	for _, tc := range []struct{ src, pos string }{
		{"%YAML 1.2\n---\n" + doc + "---\n" + doc, "t.yaml:5:1"},
		{"---\n---\n" + doc, "t.yaml:2:1"},
		{doc + "...\n" + doc, "t.yaml:4:1"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src))
		checkError(t, err, tc.pos, "", "one YAML document; this is a second")
	}
}

// TestSyntaxErrorsNameTheirKey: a YAML syntax error names the key of the
// line the parser stopped at, its path worked out from the indentation,
// and no key where the indentation cannot tell.
func TestSyntaxErrorsNameTheirKey(t *testing.T) {
	for _, tc := range []struct{ src, pos, key string }{
		{"name: x\nsteps:\n  - alloc: {pool: 0, size: 1, as: a}\n   free: a\n", "t.yaml:4:4", "steps[0].free"},
		{"name: x\nmachine:\n  ram: 32MiB\n   cpus: 2\nsteps: [{trim: all}]\n", "t.yaml:3:8", "machine.ram"},
		{"name: x\r\n ram: 32MiB\r\nsteps: [{trim: all}]\r\n", "t.yaml:1:7", "name"},
		{"name: x\nsteps:\n  - write: {at: a, data: \"abc}\n  - free: a\n", "t.yaml:3:26", "steps[0].write"},
		{"name: x\nsteps:\n- trim: all\n- alloc: [pool: 0\n", "t.yaml:4:10", "steps[1].alloc"},
		{"name: x\n# a comment: here\nsteps:\n  - trim: all\n  - repeat:\n      times: 2\n      steps:\n        - trim: all\n        - alloc: {pool: 0\n", "t.yaml:9:18", "steps[1].repeat.steps[1].alloc"},
		{"name: x\ndescription: |\n  text: not a key\nsteps:\n  - alloc: [pool: 0\n", "t.yaml:5:12", "steps[0].alloc"},
		// A flow map left open: the next lines are inside it, and the
		// key is the one whose bracket was never closed.
		{"name: x\nsteps:\n  - alloc: {pool: 0, size: 1, as: a\n  - free: a\n", "t.yaml:4:3", "steps[0].alloc"},
		{"name: x\ndescription: |\n  a: b\n steps: 1\n", "t.yaml:4:2", ""},
		// Deeper than a key whose value is on its line, or an item beside
		// such a key, or a list with no key above it: no key is named.
		{"name: x\nmachine:\n  ram: 32MiB # c\n    cpus: 2\nsteps: [{trim: all}]\n", "t.yaml:4:5", ""},
		{"name: x\nsteps:\n  - alloc: {pool: 0, size: 1}\n      free: a\n", "t.yaml:4:7", ""},
		{"name: x\nsteps\n  - trim: all\n", "t.yaml:3:14", ""},
		{"name: x\nsteps:\n  -trim: all\n  - alloc: [1\n", "t.yaml:4:3", ""},
		// A plain value going on to the next line is text, and a CRLF line
		// among LF ones is measured without its CR.
		{"name: x\ndescription: a long\n  plain text\nsteps:\n  - alloc: [1\n", "t.yaml:5:12", "steps[0].alloc"},
		{"name: x\nmachine:\r\n  ram: 32MiB\n   cpus: 2\nsteps: [{trim: all}]\n", "t.yaml:3:8", "machine.ram"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src))
		var e *Error
		if !errors.As(err, &e) || e.Pos.String() != tc.pos || e.Key != tc.key || !strings.HasPrefix(e.Msg, "YAML: ") {
			t.Errorf("%q: got %v; want a YAML error at %s naming the key %q", tc.src, err, tc.pos, tc.key)
		}
	}
}

// TestUnclosedBracketsAreNamed: a { or [ never closed shows only where
// the parser gives up, lines later; the error then says which bracket,
// and names its key. A bracket closed wrongly on its own line needs no
// such note.
func TestUnclosedBracketsAreNamed(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"name: x\nsteps:\n  - alloc: {pool: 0, size: 1, as: a\n  - free: a\n",
			"t.yaml:4:3: steps[0].alloc: YAML: ',' or '}' must be specified (the { at line 3, column 12 is not closed)"},
		{"name: x\nsteps:\n  - trim: all\n  - write: {at: a, bytes: [1, 2\n  - free: a\n",
			"t.yaml:5:3: steps[1].write: YAML: ',' or ']' must be specified (the [ at line 4, column 27 is not closed)"},
		{"name: x\nsteps:\n  - write: {at: a, bytes: [1, 2}\n  - free: a\n",
			"t.yaml:3:32: steps[0].write: YAML: ',' or ']' must be specified"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestLongKeysAreShortenedInMessages: a key of a megabyte, unknown or on
// the line of a syntax error, is shown by its start, not quoted whole
// (twice, for an unknown key: once in the path, once in the message).
func TestLongKeysAreShortenedInMessages(t *testing.T) {
	long := strings.Repeat("k", 1<<20)
	for _, src := range []string{
		"name: x\nsteps:\n  - " + long + ": 1\n",
		"name: x\nsteps:\n  - " + long + ": {b\n",
		"name: x\nsteps:\n  - " + long + ": 1\n    " + long + ": 2\n", // given twice
		"name: x\nsteps:\n  - trim: all\n\t" + long + ": 1\n",         // after a tab
		"name: x\nsteps:\n  - trim: *" + long + "\n",                  // an unknown alias
	} {
		_, err := Parse("t.yaml", []byte(src))
		if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), strings.Repeat("k", maxKeyShown)+"...") {
			t.Errorf("a %d-byte key: error of %d bytes, want the key's start in a short message", len(long), len(fmt.Sprint(err)))
		}
	}
}

// Names are at most 64 characters wherever they come from, since step
// lines and events repeat a step's driver and thread; and a long value a
// message quotes (a name, a tag, a driver no list holds) is quoted by its
// start, so the error stays short.
func TestLongNamesAndValuesAreRefusedShortly(t *testing.T) {
	long := strings.Repeat("n", 10_000)
	for _, tc := range []struct{ src, want string }{
		{"name: x\ndrivers: [" + long + "]\nsteps: [{trim: all}]\n", "drivers[0]: \"nnnn"},
		{"name: x\ndrivers: [a.sys]\nverifier: {drivers: [" + long + "]}\nsteps: [{trim: all}]\n", "verifier.drivers[0]: \"nnnn"},
		{"name: x\nthreads: [{name: " + long + ", steps: [{trim: all}]}]\n", "threads[0].name: \"nnnn"},
		{"name: x\ndrivers: [" + strings.Repeat("d", 65) + "]\nsteps: [{trim: all}]\n", "too long for a name: at most 64 characters"},
		{"name: x\nsteps: [{alloc: {pool: 0, size: 8, tag: " + long + "}}]\n", "bad tag \"nnnn"},
		{"name: x\ndrivers: [a.sys]\nsteps: [{unload: " + long + "}]\n", "driver \"nnnn"},
		{"name: x\nsteps: [{unload: " + long + "}]\n", "steps[0].unload: \"nnnn"},
	} {
		_, err := Parse("t.yaml", []byte(tc.src))
		if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q...: error of %d bytes, %.300v; want a short one with %q", tc.src, len(fmt.Sprint(err)), err, tc.want)
		}
	}
	// 64 characters is still a name.
	if _, err := Parse("t.yaml", []byte("name: x\ndrivers: ["+strings.Repeat("d", 64)+"]\nthreads: [{name: "+strings.Repeat("t", 64)+", steps: [{trim: all}]}]\n")); err != nil {
		t.Errorf("64-character names: %v", err)
	}
}

// Whatever a message quotes whole (a trace path the host's error repeats,
// say), it is cut at maxErrorBytes: a file's value is not an error's
// length.
func TestErrorMessagesAreBounded(t *testing.T) {
	_, err := Parse("t.yaml", []byte("name: x\nsteps: [{replay: "+strings.Repeat("n", 10_000)+"}]\n"))
	var e *Error
	if !errors.As(err, &e) || len(e.Msg) > maxErrorBytes+len("...") || !strings.HasSuffix(e.Msg, "...") {
		t.Errorf("a 10,000-byte trace path: %.200v (%d bytes); want a message cut at %d bytes", err, len(fmt.Sprint(err)), maxErrorBytes)
	}
}
