package main

// Tests of the command line through run(): the exit statuses and messages
// users see, and the promises docs/scenarios.md and docs/json.md make
// about them. Scenario files are written to t.TempDir(), so every error
// position below names an absolute path ("$DIR" in a table row).

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"simkern/examples"
	"simkern/internal/golden"
	"simkern/scenario"
)

// run is main without os.Exit or a standard input.
func run(args []string, stdout, stderr io.Writer) int {
	return runWithInput(args, strings.NewReader(""), stdout, stderr)
}

// cli runs `simkern ARGS...` and returns the exit status and both streams.
func cli(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFiles writes each file (a path relative to dir) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Scenarios shared by several tests.
const (
	// doubleFree bugchecks (0xC2, P1 = 7, P4 = buf) and expects nothing.
	doubleFree = `name: double-free-unexpected
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Dbl, as: buf}
  - alloc: {pool: NonPagedPool, size: 64, tag: Dbl, as: other}
  - free: buf
  - free: buf
`
	// readMismatch reads back other bytes than it expects.
	readMismatch = `name: read-mismatch
machine: {ram: 4MiB}
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Rd, as: buf}
  - write: {at: buf, data: "abc"}
  - read: {at: buf, expect: "abd"}
`
	// seeded depends on its seed twice: a random schedule and a workload
	// whose block sizes come from the seed (and are kept, so the summary
	// lists them).
	seeded = `name: seeded
machine: {ram: 4MiB, cpus: 2}
threads:
  - name: t1
    cpu: 0
    steps:
      - workload: {ops: 200, pool: NonPagedPool, sizes: 16-600, live: 20, keep: true}
      - alloc: {pool: PagedPool, size: 100, tag: Ta, as: a}
  - name: t2
    cpu: 1
    steps:
      - alloc: {pool: NonPagedPool, size: 50, tag: Tb, as: b}
      - kd: "!poolused"
      - free: b
schedule: random
`
	// poolused prints !poolused for one 'Tour' block.
	poolused = `name: poolused
machine: {ram: 4MiB}
steps:
  - alloc: {pool: NonPagedPool, size: 100, tag: Tour, as: t}
  - kd: "!poolused"
`
)

func TestCommandLine(t *testing.T) {
	tour, ok := examples.Read("tour")
	if !ok {
		t.Fatal("no built-in tour")
	}
	tourHash := sha256Hex(tour)

	tests := []struct {
		name string

		// Setup: files written to a fresh directory. "$DIR" in args
		// and in the wanted strings stands for that directory.
		files map[string]string
		args  []string

		// What the user must see. stderr is checked only for exit 2;
		// otherwise it must be empty. For exit 2 stdout must be empty
		// (nothing ran) and stderr is one line starting "simkern: ".
		exit      int
		prefix    string   // stdout starts with it
		stdout    []string // substrings of stdout
		notStdout []string // strings stdout must not hold
		at        string   // exit 2: "FILE:LINE:COL" the error starts with
		stderr    []string // substrings of stderr
	}{
		// --- Exit 0: the run ended and every expectation held.
		{
			name:   "run without a file runs the built-in tour",
			args:   []string{"run"},
			exit:   0,
			prefix: "simkern " + version + "  scenario \"tour\"",
			stdout: []string{"seed 1", "sha256 " + tourHash[:12], "kd> !pool first", "[1 hard fault]",
				"Outcome: completed, every expectation held (exit 0)"},
		},
		{
			name:   "a bugcheck the file expects, with P4 given by name, exits 0",
			files:  map[string]string{"df.yaml": doubleFree + "expect:\n  bugcheck: {code: 0xC2, p1: 7, p4: buf}\n"},
			args:   []string{"run", "$DIR/df.yaml"},
			exit:   0,
			stdout: []string{"BugCheck C2, {7,", "Outcome: bugcheck 0xC2 BAD_POOL_CALLER, as expected (exit 0)"},
		},
		{
			name: "quiet prints the header and the outcome but no steps, description or summary",
			args: []string{"run", "--quiet"},
			exit: 0,
			stdout: []string{"simkern " + version, "reproduce: simkern run", "machine: 16 MiB RAM",
				"Outcome: completed, every expectation held (exit 0)"},
			notStdout: []string{"\n#1 ", "tour.yaml:11", "kd>", "A first look", "Summary", "still allocated"},
		},
		{
			name:      "quiet still prints the bugcheck report",
			files:     map[string]string{"df.yaml": doubleFree},
			args:      []string{"run", "--quiet", "$DIR/df.yaml"},
			exit:      1,
			stdout:    []string{"*** The machine halted at $DIR/df.yaml:6:5: free: buf", "BugCheck C2", "Outcome: bugcheck 0xC2"},
			notStdout: []string{"#1 ", "Summary"},
		},
		{
			name:      "quiet still names a failed expectation",
			files:     map[string]string{"rd.yaml": readMismatch},
			args:      []string{"run", "$DIR/rd.yaml", "--quiet"},
			exit:      1,
			stdout:    []string{`$DIR/rd.yaml:6:5: read: {at: buf, expect: "abd"}: expectation failed: read "abc", expected "abd"`},
			notStdout: []string{"#1 "},
		},
		{
			name:   "without --pooltag, !poolused describes a tag from simkern's pooltag.txt",
			files:  map[string]string{"pu.yaml": poolused},
			args:   []string{"run", "$DIR/pu.yaml"},
			exit:   0,
			stdout: []string{"kd> !poolused", "the built-in tour's allocations"},
		},
		{
			name: "--pooltag FILE changes the description !poolused prints for a tag",
			files: map[string]string{"pu.yaml": poolused,
				"pooltag.txt": "rem a user's own tags\nTour - mytour.sys - Custom tour description\n"},
			args:      []string{"run", "$DIR/pu.yaml", "--pooltag", "$DIR/pooltag.txt"},
			exit:      0,
			stdout:    []string{"kd> !poolused", "Custom tour description", "mytour.sys"},
			notStdout: []string{"the built-in tour's allocations"},
		},
		{
			name:   "validate accepts a good file and names it",
			files:  map[string]string{"ok.yaml": poolused},
			args:   []string{"validate", "$DIR/ok.yaml"},
			exit:   0,
			stdout: []string{"$DIR/ok.yaml: ok (poolused)\n"},
		},
		{
			name:   "help on a subcommand prints its help",
			args:   []string{"help", "campaign", "merge"},
			exit:   0,
			stdout: []string{"simkern campaign merge"},
		},
		{
			name:   "version prints simkern's version",
			args:   []string{"version"},
			exit:   0,
			prefix: "simkern " + version + "\n",
		},

		// --- Exit 1: an unexpected bugcheck or a failed expectation.
		{
			name:  "a double free without expect: exits 1",
			files: map[string]string{"df.yaml": doubleFree},
			args:  []string{"run", "$DIR/df.yaml"},
			exit:  1,
			stdout: []string{"BAD_POOL_CALLER (c2)", "Arg1: 0000000000000007",
				"Outcome: bugcheck 0xC2 BAD_POOL_CALLER (exit 1)", "the machine bugchecked and nothing expected it"},
		},
		{
			name:   "a bugcheck under expect: bugcheck: none exits 1",
			files:  map[string]string{"df.yaml": doubleFree + "expect:\n  bugcheck: none\n"},
			args:   []string{"run", "$DIR/df.yaml"},
			exit:   1,
			stdout: []string{"Outcome: bugcheck 0xC2 BAD_POOL_CALLER (exit 1)", "the machine bugchecked and nothing expected it"},
		},
		{
			name:  "a read that returns other bytes than expect: exits 1",
			files: map[string]string{"rd.yaml": readMismatch},
			args:  []string{"run", "$DIR/rd.yaml"},
			exit:  1,
			stdout: []string{`EXPECTATION FAILED: read "abc", expected "abd"`, "Outcome: expectations failed (exit 1)",
				`- $DIR/rd.yaml:6:5: read: {at: buf, expect: "abd"}: read "abc", expected "abd"`},
		},
		{
			name: "an allocation that succeeds under expect_null exits 1",
			files: map[string]string{"null.yaml": `name: not-null
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Nul, as: p, expect_null: true}
`},
			args:   []string{"run", "$DIR/null.yaml"},
			exit:   1,
			stdout: []string{"EXPECTATION FAILED: expected NULL, got fffffa80", "Outcome: expectations failed (exit 1)"},
		},
		{
			name: "an allocation that fails under expect_null exits 0",
			files: map[string]string{"null.yaml": `name: null-alloc
machine: {ram: 4MiB}
steps:
  - alloc: {pool: NonPagedPool, size: 64MiB, tag: Huge, as: p, expect_null: true}
`},
			args:   []string{"run", "$DIR/null.yaml"},
			exit:   0,
			stdout: []string{"p = NULL (out of memory)", "Outcome: completed"},
		},
		{
			name: "an expected bugcheck that does not happen exits 1",
			files: map[string]string{"nobc.yaml": `name: no-bugcheck
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Ok, as: buf}
  - free: buf
expect:
  bugcheck: {code: 0xC2, p1: 7}
`},
			args:   []string{"run", "$DIR/nobc.yaml"},
			exit:   1,
			stdout: []string{"Outcome: expectations failed (exit 1)", "expected bugcheck 0xC2, but the run ended without one"},
		},
		{
			name:   "an expected bugcheck with the wrong P1 exits 1",
			files:  map[string]string{"df.yaml": doubleFree + "expect:\n  bugcheck: {code: 0xC2, p1: 8}\n"},
			args:   []string{"run", "$DIR/df.yaml"},
			exit:   1,
			stdout: []string{"Outcome: bugcheck 0xC2 BAD_POOL_CALLER (exit 1)", "expected P1 = 0x8", "got 0x7"},
		},
		{
			name:   "every wrong parameter is named, not only the first",
			files:  map[string]string{"df.yaml": doubleFree + "expect:\n  bugcheck: {code: 0xC2, p1: 8, p2: 0, p3: 1, p4: other}\n"},
			args:   []string{"run", "$DIR/df.yaml"},
			exit:   1,
			stdout: []string{"expected P1 = 0x8, got 0x7; P3 = 0x1, got 0x", "; P4 = other (0xfffffa80"},
		},
		{
			name:   "an expected bugcheck naming the wrong block in P4 exits 1",
			files:  map[string]string{"df.yaml": doubleFree + "expect:\n  bugcheck: {code: 0xC2, p1: 7, p4: other}\n"},
			args:   []string{"run", "$DIR/df.yaml"},
			exit:   1,
			stdout: []string{"expected P4 = other (0xfffffa80"},
		},
		{
			name:   "an expected bugcheck with the wrong code exits 1",
			files:  map[string]string{"df.yaml": doubleFree + "expect:\n  bugcheck: {code: 0x19}\n"},
			args:   []string{"run", "$DIR/df.yaml"},
			exit:   1,
			stdout: []string{"expected bugcheck 0x19, got 0xC2 (BAD_POOL_CALLER)"},
		},

		// --- Exit 2: the file or the command line is wrong; nothing runs.
		{
			name:   "a YAML syntax error names the file, line and column",
			files:  map[string]string{"bad.yaml": "name: x\nsteps: [\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:2:8",
			stderr: []string{"YAML: "},
		},
		{
			name:   "an unknown key suggests the closest valid one",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - alloc: {pool: PagedPool, sizee: 10}\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:30",
			stderr: []string{`steps[0].alloc.sizee: unknown key "sizee"; did you mean "size"?`},
		},
		{
			name:   "a misspelt top-level key suggests the right one",
			files:  map[string]string{"bad.yaml": "name: x\nmachin: {ram: 4MiB}\nsteps:\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:2:1",
			stderr: []string{`did you mean "machine"?`},
		},
		{
			name:   "a value of the wrong type is refused",
			files:  map[string]string{"bad.yaml": "name: x\nmachine:\n  cpus: two\nsteps:\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:9",
			stderr: []string{`machine.cpus: want a number, got "two"`},
		},
		{
			name:   "a negative size is refused",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - alloc: {pool: PagedPool, size: -5}\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:36",
			stderr: []string{"steps[0].alloc.size: must not be negative, got -5"},
		},
		{
			name:   "an absurd amount of RAM is refused with the limit",
			files:  map[string]string{"bad.yaml": "name: x\nmachine:\n  ram: 2TiB\nsteps:\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:8",
			stderr: []string{"machine.ram: 2 TiB (2199023255552 bytes) is too large: at most 1 TiB"},
		},
		{
			name:   "a size with an ambiguous unit is refused",
			files:  map[string]string{"bad.yaml": "name: x\nmachine:\n  ram: 64M\nsteps:\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:8",
			stderr: []string{`unknown unit "M"`},
		},
		{
			name:   "an unknown pool type suggests a real one",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - alloc: {pool: PagePool, size: 5}\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:19",
			stderr: []string{`steps[0].alloc.pool: unknown pool type "PagePool"; did you mean "PagedPool"?`, "NonPagedPoolNx"},
		},
		{
			name:   "a misspelt IRQL name suggests the right one",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - irql: DISPACH_LEVEL\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:11",
			stderr: []string{`steps[0].irql: unknown IRQL "DISPACH_LEVEL"; did you mean DISPATCH_LEVEL?`},
		},
		{
			name:   "a tag longer than 4 characters is refused",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - alloc: {pool: PagedPool, size: 5, tag: Abcde}\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:44",
			stderr: []string{`steps[0].alloc.tag: bad tag "Abcde"`},
		},
		{
			name:   "a name no alloc binds is refused",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - alloc: {pool: PagedPool, size: 5, as: buff}\n  - free: buf\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:4:11",
			stderr: []string{`steps[1].free: "buf" is not bound: no alloc has as: buf; did you mean "buff"?`},
		},
		{
			name:   "a name used before its alloc is refused",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - free: buf\n  - alloc: {pool: PagedPool, size: 5, as: buf}\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:11",
			stderr: []string{`"buf" is used before any alloc binds it`},
		},
		{
			name: "a bad line in a trace file names the trace and the line",
			files: map[string]string{
				"replay.yaml":      "name: x\nsteps:\n  - replay: traces/bad.trace\n",
				"traces/bad.trace": "# op id pool tag size\na 1 NonPagedPool Irp 240\nq 1\n",
			},
			args:   []string{"run", "$DIR/replay.yaml"},
			exit:   2,
			at:     "$DIR/traces/bad.trace:3:1",
			stderr: []string{`op: unknown operation "q"`},
		},
		{
			name: "a trace that frees an unknown id names the trace and the line",
			files: map[string]string{
				"replay.yaml":      "name: x\nsteps:\n  - replay: traces/bad.trace\n",
				"traces/bad.trace": "a 1 NonPagedPool Irp 240\n\nf 2\n",
			},
			args:   []string{"run", "$DIR/replay.yaml"},
			exit:   2,
			at:     "$DIR/traces/bad.trace:3:3",
			stderr: []string{"id: frees id 2, which is not allocated"},
		},
		{
			name:   "verifier: a driver that drivers: does not list",
			files:  map[string]string{"bad.yaml": "name: x\ndrivers: [acme.sys]\nverifier:\n  drivers: [acmee.sys]\nsteps:\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:4:12",
			stderr: []string{`driver "acmee.sys" is not listed in drivers; did you mean "acme.sys"?`},
		},
		{
			name:   "faults: a pagefile fault on a machine without a pagefile",
			files:  map[string]string{"bad.yaml": "name: x\nmachine: {pagefile: 0}\nfaults:\n  - pagefile_read_error: {nth: 1}\nsteps:\n  - trim: all\n"},
			args:   []string{"run", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:4:5",
			stderr: []string{"the machine has no pagefile"},
		},
		{
			name:   "a missing scenario file is a usage error",
			args:   []string{"run", "$DIR/nosuch.yaml"},
			exit:   2,
			stderr: []string{"simkern: $DIR/nosuch.yaml: open: "},
		},
		{
			name:   "an unknown flag is a usage error",
			args:   []string{"run", "--bogus"},
			exit:   2,
			stderr: []string{"unknown flag: --bogus"},
		},
		{
			name:   "a seed that is not a number is a usage error",
			args:   []string{"run", "--seed", "abc"},
			exit:   2,
			stderr: []string{"--seed"},
		},
		{
			name:   "two scenario files are a usage error",
			files:  map[string]string{"a.yaml": poolused},
			args:   []string{"run", "$DIR/a.yaml", "$DIR/a.yaml"},
			exit:   2,
			stderr: []string{"accepts at most 1 arg"},
		},
		{
			name:   "an unknown command is a usage error",
			args:   []string{"frobnicate"},
			exit:   2,
			stderr: []string{`unknown command "frobnicate"`},
		},
		{
			name:   "help on an unknown topic is a usage error",
			args:   []string{"help", "frobnicate"},
			exit:   2,
			stderr: []string{`unknown help topic "frobnicate"`},
		},
		{
			name:   "help on an unknown subcommand is a usage error",
			args:   []string{"help", "campaign", "frobnicate"},
			exit:   2,
			stderr: []string{`unknown help topic "campaign frobnicate"`},
		},
		{
			name:   "--pooltag with a missing file is a usage error",
			files:  map[string]string{"pu.yaml": poolused},
			args:   []string{"run", "$DIR/pu.yaml", "--pooltag", "$DIR/nosuch.txt"},
			exit:   2,
			stderr: []string{"--pooltag: open $DIR/nosuch.txt"},
		},
		{
			name:   "--pooltag with a malformed file names the file and the line",
			files:  map[string]string{"pu.yaml": poolused, "pooltag.txt": "rem fine\nTour - tour.sys - ok\nthis line has no dashes\n"},
			args:   []string{"run", "$DIR/pu.yaml", "--pooltag", "$DIR/pooltag.txt"},
			exit:   2,
			stderr: []string{`$DIR/pooltag.txt:3:1: want "TAG - binary - description"`},
		},
		{
			name:   "examples with an unknown name is a usage error",
			args:   []string{"examples", "nosuch"},
			exit:   2,
			stderr: []string{`no example "nosuch"`},
		},
		{
			name:   "validate refuses a bad file with its position",
			files:  map[string]string{"bad.yaml": "name: x\nsteps:\n  - alloc: {pool: PagedPool, sizee: 10}\n"},
			args:   []string{"validate", "$DIR/bad.yaml"},
			exit:   2,
			at:     "$DIR/bad.yaml:3:30",
			stderr: []string{`unknown key "sizee"`},
		},
		{
			name:   "validate accepts verifier: and faults:",
			files:  map[string]string{"ok.yaml": "name: x\nverifier:\n  drivers: \"*\"\nfaults:\n  - pagefile_read_error: {nth: 1}\nsteps:\n  - trim: all\n"},
			args:   []string{"validate", "$DIR/ok.yaml"},
			exit:   0,
			stdout: []string{"ok.yaml: ok (x)"},
		},
		{
			name:   "validate needs a file",
			args:   []string{"validate"},
			exit:   2,
			stderr: []string{"requires at least 1 arg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			subst := func(s string) string { return strings.ReplaceAll(s, "$DIR", dir) }
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = subst(a)
			}
			code, stdout, stderr := cli(args...)
			if code != tt.exit {
				t.Fatalf("simkern %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), code, tt.exit, stdout, stderr)
			}
			if !strings.HasPrefix(stdout, subst(tt.prefix)) {
				t.Errorf("stdout starts %q, want %q", firstLine(stdout), subst(tt.prefix))
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, subst(s)) {
					t.Errorf("stdout lacks %q:\n%s", subst(s), stdout)
				}
			}
			for _, s := range tt.notStdout {
				if strings.Contains(stdout, subst(s)) {
					t.Errorf("stdout holds %q, which it should not:\n%s", subst(s), stdout)
				}
			}
			if tt.exit != scenario.ExitUsage {
				if stderr != "" {
					t.Errorf("stderr = %q, want nothing", stderr)
				}
				return
			}
			if stdout != "" {
				t.Errorf("exit 2 means nothing ran, but stdout holds:\n%s", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr = %q, want one line", stderr)
			}
			// A mistake in a file starts with its position, anything else
			// with the program's name.
			if tt.at != "" && !strings.HasPrefix(stderr, subst(tt.at)+": ") {
				t.Errorf("stderr = %q, want it to start with the position %s", stderr, subst(tt.at))
			}
			if tt.at == "" && !strings.HasPrefix(stderr, "simkern: ") {
				t.Errorf("stderr = %q, want it to start with \"simkern: \"", stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, subst(s)) {
					t.Errorf("stderr lacks %q: %s", subst(s), stderr)
				}
			}
		})
	}
}

// writeExample writes example name into dir with `simkern examples NAME
// --dir DIR`, as a user would, the trace files it replays beside it, and
// checks it is what `simkern examples NAME` prints.
func writeExample(t *testing.T, dir, name string) string {
	t.Helper()
	if code, stdout, stderr := cli("examples", name, "--dir", dir); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("simkern examples %s --dir: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
	}
	path := filepath.Join(dir, name+".yaml")
	_, printed, _ := cli("examples", name)
	if written, err := os.ReadFile(path); err != nil || string(written) != printed {
		t.Fatalf("simkern examples %s --dir wrote %d bytes (%v), unlike what it prints", name, len(written), err)
	}
	return path
}

func TestEveryExampleRunsFromItsPrintedFile(t *testing.T) {
	names := examples.Names()
	if len(names) == 0 {
		t.Fatal("no examples")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			path := writeExample(t, t.TempDir(), name)
			code, stdout, stderr := cli("run", path)
			if code != 0 || stderr != "" {
				t.Fatalf("simkern run %s.yaml: exit %d, want 0\nstderr: %s\nstdout:\n%s", name, code, stderr, stdout)
			}
			want := "(exit 0)\n"
			if i := strings.LastIndex(stdout, "Outcome: "); i < 0 || !strings.HasSuffix(stdout, want) {
				t.Errorf("the output should end with an Outcome line ending %q:\n%s", want, stdout)
			}
			code, stdout, stderr = cli("validate", path)
			if code != 0 || stdout != path+": ok ("+name+")\n" {
				t.Errorf("simkern validate %s.yaml: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
			}
		})
	}
}

func TestExamplesCommand(t *testing.T) {
	t.Run("the list names every example, one a line", func(t *testing.T) {
		code, stdout, stderr := cli("examples")
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		lines := strings.Split(stdout, "\n")
		for _, name := range examples.Names() {
			found := false
			for _, l := range lines {
				if strings.HasPrefix(l, name+" ") {
					found = true
				}
			}
			if !found {
				t.Errorf("no line starts with %q:\n%s", name, stdout)
			}
		}
		if !strings.Contains(stdout, "simkern examples NAME > NAME.yaml") {
			t.Errorf("the list should say how to use an example:\n%s", stdout)
		}
	})
	t.Run("examples tour prints the tour as a scenario that loads", func(t *testing.T) {
		code, stdout, stderr := cli("examples", "tour")
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		want, _ := examples.Read("tour")
		if stdout != string(want) {
			t.Errorf("examples tour printed something other than the embedded tour.yaml")
		}
		s, err := scenario.Parse("tour.yaml", []byte(stdout))
		if err != nil {
			t.Fatalf("the printed tour does not load: %v", err)
		}
		if s.Name != "tour" || len(s.Steps) == 0 {
			t.Errorf("loaded name %q with %d steps, want tour with some", s.Name, len(s.Steps))
		}
	})
	t.Run("examples NAME.yaml works like NAME", func(t *testing.T) {
		_, a, _ := cli("examples", "leak")
		code, b, _ := cli("examples", "leak.yaml")
		if code != 0 || a != b {
			t.Errorf("examples leak.yaml: exit %d, same output %v", code, a == b)
		}
	})
}

func TestSeeds(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"seeded.yaml":  seeded,
		"seeded9.yaml": strings.Replace(seeded, "machine: {ram: 4MiB, cpus: 2}", "machine: {ram: 4MiB, cpus: 2, seed: 9}", 1),
	})
	path, path9 := filepath.Join(dir, "seeded.yaml"), filepath.Join(dir, "seeded9.yaml")
	out := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := cli(args...)
		if code != 0 {
			t.Fatalf("simkern %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}

	t.Run("the same seed twice gives byte-identical output", func(t *testing.T) {
		for _, args := range [][]string{
			{"run", path},
			{"run", path, "--json"},
			{"run", path, "--seed", "5"},
			{"run", path, "--seed", "5", "--json"},
			{"run"},
			{"run", "--json"},
		} {
			a, b := out(args...), out(args...)
			if a != b {
				t.Errorf("simkern %s: two runs differ:\n%s", strings.Join(args, " "), golden.FirstDiff(a, b))
			}
		}
	})
	t.Run("--seed is shown in the header and the reproduce line", func(t *testing.T) {
		s := out("run", path, "--seed", "5")
		if !strings.Contains(firstLine(s), "seed 5") {
			t.Errorf("header %q does not show seed 5", firstLine(s))
		}
		if !strings.Contains(s, "reproduce: simkern run "+path+" --seed 5\n") {
			t.Errorf("no reproduce line with --seed 5:\n%s", s)
		}
	})
	t.Run("on the tour, --seed changes only the seed in the header", func(t *testing.T) {
		one, five := out("run"), out("run", "--seed", "5")
		if one == five {
			t.Fatal("seed 5 printed exactly what seed 1 did, header included")
		}
		if got := strings.ReplaceAll(five, "seed 5", "seed 1"); got != one {
			t.Errorf("beyond the header, seed 5 differs from seed 1:\n%s", golden.FirstDiff(one, got))
		}
	})
	t.Run("--seed reads a seed as --seeds does: decimal or 0x hex, so 010 is ten", func(t *testing.T) {
		for _, seed := range []string{"010", "0xa", "0XA"} {
			if s := out("run", path, "--seed", seed); !strings.Contains(firstLine(s), "seed 10") {
				t.Errorf("--seed %s: header %q, want seed 10", seed, firstLine(s))
			}
		}
		for _, seed := range []string{"0b11", "1_000", "-1"} {
			if code, _, stderr := cli("run", path, "--seed", seed); code != 2 || !strings.Contains(stderr, "is not a seed") {
				t.Errorf("--seed %s: exit %d, stderr %q; want 2 and a bad-seed message", seed, code, stderr)
			}
		}
	})
	t.Run("--steps reads its number as --seed does: 010 is ten", func(t *testing.T) {
		for _, steps := range []string{"010", "0xa"} {
			if s := out("run", path, "--steps", steps); !strings.Contains(s, " --steps 10\n") {
				t.Errorf("--steps %s: the reproduce line does not say --steps 10:\n%s", steps, s)
			}
		}
		if code, _, stderr := cli("run", path, "--steps", "0b11"); code != 2 || !strings.Contains(stderr, "is not a number of steps") {
			t.Errorf("--steps 0b11: exit %d, stderr %q; want 2 and a message", code, stderr)
		}
	})
	t.Run("an empty file name is a mistake, not the tour", func(t *testing.T) {
		for _, args := range [][]string{{"run", ""}, {"campaign", "", "--seeds", "1"}} {
			if code, stdout, stderr := cli(args...); code != 2 || stdout != "" || !strings.Contains(stderr, "the scenario file name is empty") {
				t.Errorf("%q: exit %d, stdout %d bytes, stderr %q; want exit 2 and a message", args, code, len(stdout), stderr)
			}
		}
	})
	t.Run("on a seeded workload, --seed changes the run itself", func(t *testing.T) {
		one, five := out("run", path, "--seed", "1"), out("run", path, "--seed", "5")
		if strings.ReplaceAll(five, "seed 5", "seed 1") == one {
			t.Errorf("seed 5 ran exactly as seed 1 apart from the header; the workload and schedule should follow the seed")
		}
	})
	t.Run("no --seed means the file's seed, and --seed overrides it", func(t *testing.T) {
		file, flag := out("run", path9), out("run", path9, "--seed", "9")
		if file != flag {
			t.Errorf("machine.seed: 9 and --seed 9 differ:\n%s", golden.FirstDiff(file, flag))
		}
		if !strings.Contains(firstLine(file), "seed 9") {
			t.Errorf("header %q does not show the file's seed 9", firstLine(file))
		}
		if o := out("run", path9, "--seed", "1"); !strings.Contains(firstLine(o), "seed 1") {
			t.Errorf("header %q: --seed 1 should override the file's seed", firstLine(o))
		}
	})
}

// event holds the fields of a JSON line the tests look at.
type event struct {
	Event    string   `json:"event"`
	Simkern  string   `json:"simkern"`
	Scenario string   `json:"scenario"`
	SHA256   string   `json:"sha256"`
	Seed     *uint64  `json:"seed"`
	Seq      uint64   `json:"seq"`
	PC       string   `json:"pc"`
	Address  string   `json:"address"`
	Failed   string   `json:"failed"`
	Code     string   `json:"code"`
	Params   []string `json:"params"`
	Outcome  string   `json:"outcome"`
	Failures []string `json:"failures"`
	Exit     *int     `json:"exit"`
	Summary  *struct {
		Steps uint64 `json:"steps"`
	} `json:"summary"`
}

func TestJSONStream(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"df.yaml": doubleFree, "rd.yaml": readMismatch})
	tour, _ := examples.Read("tour")

	tests := []struct {
		name string
		args []string
		file []byte // the scenario's bytes, for sha256

		exit     int
		seed     uint64
		outcome  string
		bugcheck string // the code of the bugcheck event; "" for none
		failed   bool   // a step event carries "failed"
	}{
		{name: "the tour completes", args: []string{"run", "--json"}, file: tour,
			exit: 0, seed: 1, outcome: "completed"},
		{name: "--seed is the start event's seed", args: []string{"run", "--json", "--seed", "5"}, file: tour,
			exit: 0, seed: 5, outcome: "completed"},
		{name: "--quiet does not thin the JSON stream", args: []string{"run", "--json", "--quiet"}, file: tour,
			exit: 0, seed: 1, outcome: "completed"},
		{name: "an unexpected bugcheck ends with a bugcheck event and exit 1",
			args: []string{"run", filepath.Join(dir, "df.yaml"), "--json"}, file: []byte(doubleFree),
			exit: 1, seed: 1, outcome: "bugcheck", bugcheck: "0xc2"},
		{name: "a failed read marks its step and ends failed",
			args: []string{"run", filepath.Join(dir, "rd.yaml"), "--json"}, file: []byte(readMismatch),
			exit: 1, seed: 1, outcome: "failed", failed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(tt.args...)
			if code != tt.exit || stderr != "" {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.exit, stderr)
			}
			if !strings.HasSuffix(stdout, "\n") {
				t.Fatalf("the stream does not end with a newline")
			}
			var events []event
			for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("line %d is not a JSON object: %v\n%s", i+1, err, line)
				}
				if _, ok := m["event"].(string); !ok {
					t.Fatalf("line %d has no \"event\" string: %s", i+1, line)
				}
				var e event
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				events = append(events, e)
			}
			if len(events) < 3 {
				t.Fatalf("%d events, want at least start, summary and end", len(events))
			}

			start := events[0]
			if start.Event != "start" || start.Simkern != version || start.Scenario == "" ||
				start.SHA256 != sha256Hex(tt.file) || start.Seed == nil || *start.Seed != tt.seed {
				t.Errorf("first event = %+v, want start with simkern %s, a scenario, sha256 %s and seed %d",
					start, version, sha256Hex(tt.file), tt.seed)
			}
			end := events[len(events)-1]
			if end.Event != "end" || end.Exit == nil || *end.Exit != tt.exit || end.Outcome != tt.outcome {
				t.Errorf("last event = %+v, want end with outcome %s and exit %d", end, tt.outcome, tt.exit)
			}
			if tt.exit != 0 && len(end.Failures) == 0 {
				t.Errorf("end event of a failed run lists no failures")
			}
			if s := events[len(events)-2]; s.Event != "summary" || s.Summary == nil {
				t.Errorf("second-to-last event = %+v, want summary", s)
			}

			var steps uint64
			var bugcheck string
			failed := false
			for _, e := range events[1 : len(events)-2] {
				switch e.Event {
				case "step":
					steps++
					if e.Seq != steps {
						t.Errorf("step event seq %d, want %d", e.Seq, steps)
					}
					if !strings.HasPrefix(e.PC, "0x") || e.Address != "" && !strings.HasPrefix(e.Address, "0x") {
						t.Errorf("step %d: pc %q, address %q; want hex strings starting 0x", e.Seq, e.PC, e.Address)
					}
					failed = failed || e.Failed != ""
				case "bugcheck":
					bugcheck = e.Code
					if len(e.Params) != 4 {
						t.Errorf("bugcheck params = %q, want 4", e.Params)
					}
				default:
					t.Errorf("unexpected %q event between start and summary", e.Event)
				}
			}
			if s := events[len(events)-2].Summary; s != nil && s.Steps != steps {
				t.Errorf("summary counts %d steps, the stream has %d step events", s.Steps, steps)
			}
			if bugcheck != tt.bugcheck {
				t.Errorf("bugcheck event code %q, want %q", bugcheck, tt.bugcheck)
			}
			if failed != tt.failed {
				t.Errorf("a step event carries failed: %v, want %v", failed, tt.failed)
			}
		})
	}
}

// TestMillionLineTraceReplays replays a generated trace of 1,000,000
// operations: allocations fill a live set of at most 1,000 blocks, then
// frees and allocations alternate, and the blocks still live at the end
// stay allocated.
func TestMillionLineTraceReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and replays a 1,000,000-line trace")
	}
	const lines, maxLive = 1_000_000, 1000
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.trace"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "# op id pool tag size [cpu]")
	rng := rand.New(rand.NewPCG(1, 2))
	pools := []string{"NonPagedPool", "PagedPool"}
	var live []uint64
	var next, allocs, frees uint64
	for i := 0; i < lines; i++ {
		if len(live) == 0 || len(live) < maxLive && rng.IntN(2) == 0 {
			next++
			fmt.Fprintf(w, "a %d %s Big%d %d %d\n", next, pools[next%2], next%10, 16+rng.IntN(6000), rng.IntN(2))
			live = append(live, next)
			allocs++
			continue
		}
		k := rng.IntN(len(live))
		fmt.Fprintf(w, "f %d\n", live[k])
		live[k] = live[len(live)-1]
		live = live[:len(live)-1]
		frees++
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"big.yaml": `name: million
machine: {ram: 64MiB, cpus: 2}
steps:
  - replay: big.trace
`})
	code, stdout, stderr := cli("run", filepath.Join(dir, "big.yaml"))
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, stderr, stdout)
	}
	want := fmt.Sprintf("-> %d allocations, %d frees", allocs, frees)
	if !strings.Contains(stdout, want) {
		t.Errorf("the replay step should report %q (the generator's counts):\n%s", want, stdout)
	}
	if want := fmt.Sprintf("%d kept", len(live)); !strings.Contains(stdout, want) {
		t.Errorf("the replay step should report %q:\n%s", want, stdout)
	}
}

// TestJSONDocSampleIsRealOutput runs the sample in docs/json.md and
// compares its events with the ones the page shows. The summary line is
// left out: its counters follow every change to mm and pool, and the page
// says only that it is a real run's. If this fails, rerun the sample and
// paste its output into the page.
func TestJSONDocSampleIsRealOutput(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sample, ok := strings.Cut(string(doc), "\n## A sample\n")
	if !ok {
		t.Fatal("docs/json.md has no \"## A sample\" section")
	}
	block := func(s, lang string) (string, string) {
		_, rest, ok := strings.Cut(s, "```"+lang+"\n")
		body, after, ok2 := strings.Cut(rest, "```\n")
		if !ok || !ok2 {
			t.Fatalf("the sample has no ```%s block", lang)
		}
		return body, after
	}
	yaml, rest := block(sample, "yaml")
	want, _ := block(rest, "json")

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hello.yaml": yaml})
	t.Chdir(dir)
	code, got, stderr := cli("run", "hello.yaml", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("the sample exits %d, stderr %q", code, stderr)
	}
	keep := func(s string) string {
		s = strings.ReplaceAll(s, `"simkern":"`+version+`"`, `"simkern":"VERSION"`)
		s = strings.ReplaceAll(s, `"simkern":"0.1.0"`, `"simkern":"VERSION"`)
		var out []string
		for _, line := range strings.Split(s, "\n") {
			if !strings.HasPrefix(line, `{"event":"summary"`) {
				out = append(out, line)
			}
		}
		return strings.Join(out, "\n")
	}
	if keep(got) != keep(want) {
		t.Errorf("docs/json.md's sample differs from a real run:\n%s", golden.FirstDiff(keep(want), keep(got)))
	}
}

func TestCrashDumps(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"df.yaml": strings.Replace(doubleFree, "steps:", "machine: {ram: 4MiB, pagefile: 4MiB}\nsteps:", 1)})
	scen := filepath.Join(dir, "df.yaml")

	t.Run("a bugcheck with --dump writes a dump that kd opens", func(t *testing.T) {
		dump := filepath.Join(t.TempDir(), "df.dmp")
		code, stdout, stderr := cli("run", scen, "--dump", dump, "--quiet")
		if code != 1 || stderr != "" {
			t.Fatalf("exit %d, want 1 (nothing expected the bugcheck); stderr %q", code, stderr)
		}
		if want := "Crash dump written to " + dump; !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
		code, stdout, stderr = cli("kd", dump, "-c", "!pool buf 2")
		if code != 0 || stderr != "" {
			t.Fatalf("kd on the dump: exit %d, stderr %q", code, stderr)
		}
		for _, want := range []string{"Loading dump " + dump, "seed 1, 4 steps", "BugCheck C2, {7,", "kd> !pool buf 2", "*Dbl"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("kd output lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("--dump keeps the JSON stream pure", func(t *testing.T) {
		dump := filepath.Join(t.TempDir(), "df.dmp")
		code, stdout, _ := cli("run", scen, "--dump", dump, "--json")
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		for i, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("line %d is not JSON: %s", i+1, line)
			}
		}
		if _, err := os.Stat(dump); err != nil {
			t.Errorf("no dump written: %v", err)
		}
	})
	t.Run("a run without a bugcheck writes no dump unless --dump-at-end", func(t *testing.T) {
		d := t.TempDir()
		none, end := filepath.Join(d, "none.dmp"), filepath.Join(d, "end.dmp")
		if code, _, stderr := cli("run", "--dump", none); code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(none); err == nil {
			t.Errorf("a completed run wrote %s without --dump-at-end", none)
		}
		if code, _, stderr := cli("run", "--dump", end, "--dump-at-end"); code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(end); err != nil {
			t.Errorf("--dump-at-end wrote no dump: %v", err)
		}
	})
	t.Run("a --dump path that cannot be opened is a usage error before anything runs", func(t *testing.T) {
		d := t.TempDir()
		scen := filepath.Join(d, "double-free.yaml")
		data, _ := examples.Read("double-free")
		if err := os.WriteFile(scen, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, dump, want string }{
			{"a missing directory", filepath.Join(d, "no", "x.dmp"), "--dump: "},
			{"a directory", d, "--dump: "},
			{"the scenario itself", scen, "--dump: " + scen + " is the scenario file"},
		} {
			code, stdout, stderr := cli("run", scen, "--dump", tc.dump)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2, nothing run, and %q", tc.name, code, stdout, stderr, tc.want)
			}
		}
		if got, _ := os.ReadFile(scen); string(got) != string(data) {
			t.Errorf("the scenario file changed")
		}
		// The built-in tour has no file: a tour.yaml of the user's may
		// take the dump.
		t.Chdir(d)
		if err := os.WriteFile("tour.yaml", []byte("name: mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := cli("run", "--dump", "tour.yaml", "--dump-at-end"); code != 0 || stderr != "" {
			t.Errorf("the tour with --dump tour.yaml: exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("kd on a missing file is a usage error", func(t *testing.T) {
		code, stdout, stderr := cli("kd", filepath.Join(dir, "nosuch.dmp"))
		if code != 2 || stdout != "" || !strings.Contains(stderr, "nosuch.dmp") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2 and the file named on stderr", code, stdout, stderr)
		}
	})
}

// --pagefile keeps the simulated pagefile in the host file given: the
// paged-out page's bytes are in it after the run.
func TestPagefileFlagKeepsTheFile(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.yaml": "name: p\nmachine: {ram: 4MiB, pagefile: 4MiB}\nsteps:\n" +
		"  - alloc: {pool: PagedPool, size: 64, tag: Page, as: b}\n  - write: {at: b, data: \"kept on disk\"}\n  - page_out: b\n"})
	pf := filepath.Join(dir, "pagefile.sys")
	if code, _, stderr := cli("run", filepath.Join(dir, "p.yaml"), "--pagefile", pf, "--quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(pf)
	if err != nil {
		t.Fatalf("the pagefile is gone: %v", err)
	}
	if len(b) != 4<<20 || !bytes.Contains(b, []byte("kept on disk")) {
		t.Errorf("the pagefile holds %d bytes and the page's text %v", len(b), bytes.Contains(b, []byte("kept on disk")))
	}

	// A --pagefile that would overwrite the scenario or the dump, that
	// cannot be opened, or that the machine has no use for, is refused
	// before anything runs.
	scen := filepath.Join(dir, "p.yaml")
	writeFiles(t, dir, map[string]string{"none.yaml": "name: none\nmachine: {pagefile: 0}\nsteps:\n  - trim: all\n",
		"tags.txt": "Page - p.sys - mine\n"})
	tags := filepath.Join(dir, "tags.txt")
	replay := writeExample(t, dir, "replay")
	trace := filepath.Join(dir, "traces", "boot.trace")
	traceBytes, _ := os.ReadFile(trace)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"the scenario", []string{scen, "--pagefile", scen}, "--pagefile: " + scen + " is the scenario file"},
		{"the dump", []string{scen, "--pagefile", filepath.Join(dir, "same"), "--dump", filepath.Join(dir, "same")}, "is the --dump file"},
		{"a missing directory", []string{scen, "--pagefile", filepath.Join(dir, "no", "pf")}, "--pagefile: "},
		{"a machine without a pagefile", []string{filepath.Join(dir, "none.yaml"), "--pagefile", filepath.Join(dir, "pf")}, "--pagefile: the scenario's machine has no pagefile"},
		{"the --pooltag file", []string{scen, "--pooltag", tags, "--pagefile", tags}, "--pagefile: " + tags + " is the --pooltag file"},
		{"a trace the scenario replays", []string{replay, "--pagefile", trace}, "--pagefile: " + trace + " is a trace file the scenario replays"},
		{"a trace, as --dump", []string{replay, "--dump", trace}, "--dump: " + trace + " is a trace file the scenario replays"},
	} {
		code, stdout, stderr := cli(append([]string{"run"}, tc.args...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, %d bytes of stdout, stderr %q; want exit 2, nothing run, and %q", tc.name, code, len(stdout), stderr, tc.want)
		}
	}
	if got, _ := os.ReadFile(scen); !bytes.HasPrefix(got, []byte("name: p")) {
		t.Errorf("the scenario file was overwritten")
	}
	if got, _ := os.ReadFile(trace); !bytes.Equal(got, traceBytes) {
		t.Errorf("the trace file was overwritten")
	}
	if got, _ := os.ReadFile(tags); string(got) != "Page - p.sys - mine\n" {
		t.Errorf("the --pooltag file was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, "same")); err == nil {
		t.Errorf("a refused run left its --pagefile or --dump behind")
	}
}

// TestInternalErrorsDoNotBlameTheFile: a file that loads is fine, so
// whatever the run does, it must not exit 2 (Go's status for a panic).
// These scenarios write garbage into page tables through the self-map;
// they once panicked in mm. A panic must come out as exit 1 with
// "simkern: internal error", a bugcheck as exit 1 with its report.
func TestInternalErrorsDoNotBlameTheFile(t *testing.T) {
	for _, tc := range []struct{ name, write, then string }{
		{"a PTE pointing past RAM", "{at: 0xFFFFF6FC50000000, u64: 0xffffffffffffffff}", "read: {at: p, length: 1}"},
		{"a zeroed PDE", "{at: 0xFFFFF6FB7E280000, u64: 0}", "page_out: all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pt.yaml")
			src := "name: pt\nsteps:\n  - alloc: {pool: PagedPool, size: 100, as: p}\n  - write: " + tc.write + "\n  - " + tc.then + "\n"
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			code := run([]string{"run", path}, &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %.500s", code, stderr.String())
			}
			if e := stderr.String(); e != "" && !strings.HasPrefix(e, "simkern: internal error, a bug in simkern") {
				t.Errorf("stderr %.300q: want nothing, or an internal error", e)
			}
		})
	}
}

// TestExamplesDirNeedsAName: --dir writes one example; without a NAME it
// is a usage error, and so is an example that does not exist.
func TestExamplesDirNeedsAName(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"examples", "--dir", dir}, {"examples", "nosuch", "--dir", dir}} {
		if code, stdout, stderr := cli(args...); code != 2 || stdout != "" || !strings.HasPrefix(stderr, "simkern: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a message", args, code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused --dir wrote %d files", len(entries))
	}
}

// A --pooltag file may be a pipe that never ends: it is read up to a
// bound, past which it is refused.
func TestPoolTagFileIsBounded(t *testing.T) {
	defer func(n int64) { maxPoolTagBytes = n }(maxPoolTagBytes)
	maxPoolTagBytes = 1000
	dir := t.TempDir()
	line := "Abcd - a.sys - a description\n"
	writeFiles(t, dir, map[string]string{
		"small.txt": strings.Repeat(line, 1000/len(line)),
		"large.txt": strings.Repeat(line, 1000/len(line)+1),
	})
	if code, _, stderr := cli("run", "--quiet", "--pooltag", filepath.Join(dir, "small.txt")); code != 0 {
		t.Errorf("a pooltag file within the bound: exit %d, %s", code, stderr)
	}
	code, _, stderr := cli("run", "--quiet", "--pooltag", filepath.Join(dir, "large.txt"))
	if want := "large.txt is larger than 1000 B, which no pooltag.txt needs"; code != 2 || !strings.Contains(stderr, want) {
		t.Errorf("a pooltag file past the bound: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}

// help's topics complete in a shell as commands do.
func TestHelpCompletesTopics(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "help", "ca"}, "campaign\tRun a scenario once per seed"},
		{[]string{"__complete", "help", "campaign", "me"}, "merge\tJoin the results files"},
	} {
		if code, out, _ := cli(tc.args...); code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, out, tc.want)
		}
	}
}

// anyStep asks its question of each step once, however often YAML
// aliases make a repeat reuse a list: thirteen levels of ten aliases each
// are 10^12 steps expanded, and run, kd's bp and --dump's check of the
// inputs used to walk them all (the run never started).
func TestAnyStepWalksSharedListsOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: aliases\nsteps:\n  - repeat: &r0 {times: 0, steps: [{trim: all}]}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "  - repeat: &r%d {times: 0, steps: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("{repeat: *r%d}, ", i-1), 10), ", "))
	}
	s, err := scenario.Parse("aliases.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	// Once per step the loader made: a list read at another depth is
	// another list, so that is a few hundred here, not 133.
	asked := 0
	if anyStep(s, func(*scenario.Step) bool { asked++; return asked > 10_000 }) || asked > 1000 {
		t.Errorf("anyStep asked %d times or more of a file of 133 steps", asked)
	}
}
