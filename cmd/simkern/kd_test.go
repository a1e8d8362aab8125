package main

// Tests of `simkern kd` through runWithInput: dumps that answer as the live
// machine did, damaged dumps, the prompt driven through stdin, time travel,
// breakpoints, and golden transcripts of every debugger command on the
// example machines (testdata/kd/; go test -update rewrites them).
//
// Example files are written to t.TempDir(); transcripts name that
// directory, so the golden files say $DIR instead.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"simkern/examples"
	"simkern/internal/golden"
	"simkern/kd"
)

// kdcli runs `simkern ARGS...` with stdin and returns the exit status and
// both streams.
func kdcli(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runWithInput(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// exampleFile writes the built-in example NAME to dir/NAME.yaml.
func exampleFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, ok := examples.Read(name)
	if !ok {
		t.Fatalf("no example %q", name)
	}
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The marker kdSession puts between commands: an unknown command, so the
// debugger answers it with one fixed line.
const kdMark = "!kdtest-mark"

var kdMarkLine = regexp.MustCompile(`(?m)^\d+: kd> ` + regexp.QuoteMeta(kdMark) + `\nNo export kdtest-mark found\n`)

// kdSession runs `simkern kd FILE -c "CMD; ...; CMD"` as one session and
// returns what each command printed (its prompt line left out). A marker
// command separates the commands, so a step's own `kd:` output, which
// also starts with a prompt, cannot be mistaken for the next command's.
func kdSession(t *testing.T, file string, cmds ...string) []string {
	t.Helper()
	var line []string
	for _, c := range cmds {
		line = append(line, c, kdMark)
	}
	code, stdout, stderr := kdcli("", "kd", file, "-c", strings.Join(line, "; "))
	if code != 0 || stderr != "" {
		t.Fatalf("kd %s: exit %d, stderr %q", file, code, stderr)
	}
	pieces := kdMarkLine.Split(stdout, -1)
	if len(pieces) != len(cmds)+1 {
		t.Fatalf("kd %s: %d outputs for %d commands:\n%s", file, len(pieces)-1, len(cmds), stdout)
	}
	out := make([]string, len(cmds))
	for i, c := range cmds {
		echo := regexp.MustCompile(`(?m)^\d+: kd> ` + regexp.QuoteMeta(c) + `\n`)
		loc := echo.FindStringIndex(pieces[i])
		if loc == nil {
			t.Fatalf("kd %s: no prompt line for %q in\n%s", file, c, pieces[i])
		}
		out[i] = pieces[i][loc[1]:]
	}
	return out
}

// runDump runs `simkern run FILE --dump DUMP --quiet` and wants it to
// write the dump.
func runDump(t *testing.T, file, dump string, extra ...string) {
	t.Helper()
	args := append([]string{"run", file, "--dump", dump, "--quiet"}, extra...)
	code, stdout, stderr := kdcli("", args...)
	if code > 1 || stderr != "" {
		t.Fatalf("simkern %s: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
	}
	if want := "Crash dump written to " + dump; !strings.Contains(stdout, want) {
		t.Fatalf("simkern %s: stdout lacks %q:\n%s", strings.Join(args, " "), want, stdout)
	}
}

// TestKDDumpAnswersAsTheLiveRun: a dump written at the bugcheck, opened
// with kd, answers every command byte for byte as a live kd session on the
// same file does after `g` stops at the same bugcheck. Where the scenario's
// last kd: step comes right before the bugcheck and the faulting step
// changes nothing it shows, the dump also answers that command as the
// step did.
func TestKDDumpAnswersAsTheLiveRun(t *testing.T) {
	tests := []struct {
		example, name, tag string

		// bugcheck is the dump's header line; live lists what the live
		// output of a command must hold, so the row shows what it says.
		bugcheck string
		live     map[string]string

		// stepKD is the scenario's own kd: step whose output the dump
		// must repeat ("" for none).
		stepKD string
	}{
		{
			example: "overrun", name: "a", tag: "Ovrn",
			bugcheck: "BugCheck 19, {21, fffffa8000003010, 28,",
			live:     map[string]string{"!analyze -v": "BAD_POOL_HEADER (19)", "!pool a": "*Ovrn"},
			stepKD:   "!pool a", // the canary is damaged; the headers are not
		},
		{
			example: "double-free", name: "buf", tag: "Dbl",
			bugcheck: "BugCheck C2, {7,",
			live:     map[string]string{"!analyze -v": "BAD_POOL_CALLER (c2)", "!pool buf 2": "(Free )"},
			stepKD:   "!pool buf 2", // the second free halts before it changes anything
		},
		{
			example: "paged-at-dispatch", name: "buf", tag: "Acme",
			bugcheck: "BugCheck D1, {fffff8a000000010, 2, 0,",
			live: map[string]string{
				"!analyze -v": "DRIVER_IRQL_NOT_LESS_OR_EQUAL (d1)", "!pte buf": "not valid", "!irql": "-- 2 (DISPATCH_LEVEL)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.example, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := exampleFile(t, dir, tc.example)
			dump := filepath.Join(dir, tc.example+".dmp")
			runDump(t, file, dump)

			n, tag := tc.name, tc.tag
			cmds := []string{
				"!pool " + n, "!pool " + n + " 2", "!pool " + n + " 1", "!poolused", "!poolused 1", "!poolused 4",
				"!pte " + n, "!vm", "!poolfind " + tag, "!poolfind " + tag + " 1", "!poolval " + n,
				"dt _POOL_HEADER " + n + "-10", "dq " + n + "-10 L6", "!lookaside", "!irql", "!analyze -v",
			}
			fromDump := kdSession(t, dump, cmds...)
			fromLive := kdSession(t, file, append([]string{"g"}, cmds...)...)[1:]
			for i, c := range cmds {
				if fromDump[i] != fromLive[i] {
					t.Errorf("%s: the dump differs from the live machine\n--- live\n%s--- dump\n%s", c, fromLive[i], fromDump[i])
				}
				if want, ok := tc.live[c]; ok && !strings.Contains(fromLive[i], want) {
					t.Errorf("%s: the live output lacks %q:\n%s", c, want, fromLive[i])
				}
			}

			if tc.stepKD != "" {
				echo := "0: kd> " + tc.stepKD + "\n"
				g := fromLiveG(t, file)
				i := strings.LastIndex(g, echo)
				if i < 0 {
					t.Fatalf("the run has no kd: step %q:\n%s", tc.stepKD, g)
				}
				step := g[i+len(echo):]
				step = step[:strings.Index(step, "\n#")+1]
				if dumped := kdSession(t, dump, tc.stepKD)[0]; dumped != step {
					t.Errorf("%s: the dump differs from the scenario's own kd: step\n--- step\n%s--- dump\n%s", tc.stepKD, step, dumped)
				}
			}

			code, stdout, _ := kdcli("", "kd", dump, "-c", "q")
			head := strings.SplitN(stdout, "\n", 3)
			if code != 0 || len(head) < 3 || !strings.HasPrefix(head[0], "Loading dump "+dump+": simkern "+version+", "+file+", seed 1, ") ||
				!strings.HasPrefix(head[1], tc.bugcheck) {
				t.Errorf("kd %s: exit %d, header\n%s\nwant \"Loading dump %s: ...\" and %q", dump, code, stdout, dump, tc.bugcheck)
			}
			// A dump's seed is fixed: --seed is a mistake, not ignored.
			if code, _, stderr := kdcli("", "kd", dump, "--seed", "5", "-c", "q"); code != 2 || !strings.Contains(stderr, "--seed is for a scenario: "+dump+" is a crash dump") {
				t.Errorf("kd %s --seed 5: exit %d, stderr %q; want 2 and a message", dump, code, stderr)
			}
		})
	}
}

// fromLiveG returns what `g` prints in a live session on file: every
// step's report, kd: steps included.
func fromLiveG(t *testing.T, file string) string {
	t.Helper()
	return kdSession(t, file, "g")[0]
}

// --dump-at-end writes a dump of a run that ends without a bugcheck, and
// the dump shows the machine as it was at the end; without the flag a
// clean run writes nothing.
func TestKDDumpAtEnd(t *testing.T) {
	dir := t.TempDir()
	file := exampleFile(t, dir, "tour")
	none, end := filepath.Join(dir, "none.dmp"), filepath.Join(dir, "end.dmp")

	code, stdout, stderr := kdcli("", "run", file, "--dump", none, "--quiet")
	if code != 0 || stderr != "" || strings.Contains(stdout, "Crash dump written") {
		t.Errorf("a clean run with --dump: exit %d, stderr %q, stdout\n%s", code, stderr, stdout)
	}
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Errorf("a clean run without --dump-at-end left %s (stat: %v)", none, err)
	}

	runDump(t, file, end, "--dump-at-end")
	cmds := []string{"!poolused", "!pool first", "!pool paged", "!pte paged", "!vm", "!lookaside", "!analyze -v"}
	fromDump := kdSession(t, end, cmds...)
	fromLive := kdSession(t, file, append([]string{"g"}, cmds...)...)[1:]
	for i, c := range cmds {
		if fromDump[i] != fromLive[i] {
			t.Errorf("%s: the end-of-run dump differs from the live machine\n--- live\n%s--- dump\n%s", c, fromLive[i], fromDump[i])
		}
	}
	if got := fromDump[len(cmds)-1]; got != "The machine has not bugchecked: nothing to analyze.\n" {
		t.Errorf("!analyze -v on an end-of-run dump: %q", got)
	}
	_, stdout, _ = kdcli("", "kd", end, "-c", "q")
	if want := "Loading dump " + end + ": simkern " + version + ", " + file + ", seed 1, 10 steps\n0: kd> q\n"; stdout != want {
		t.Errorf("kd on an end-of-run dump printed\n%s\nwant\n%s(no BugCheck line)", stdout, want)
	}
}

// TestKDRefusesDamagedDumps: kd on a damaged dump is a usage error (exit
// 2) whose one line names the file and what is wrong, and prints nothing
// on stdout.
func TestKDRefusesDamagedDumps(t *testing.T) {
	dir := t.TempDir()
	file := exampleFile(t, dir, "double-free")
	dump := filepath.Join(dir, "good.dmp")
	runDump(t, file, dump)
	good, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	changed := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }

	tests := []struct {
		name string
		data []byte
		want string // stderr after "simkern: FILE: "
	}{
		{"cut after the magic", good[:8], "truncated dump: the header ends after 8 bytes"},
		{"cut inside the version", good[:10], "truncated dump: the header ends after 10 bytes"},
		{"cut after 100 bytes", good[:100], "truncated dump: unexpected EOF"},
		{"cut in half", good[:len(good)/2], "truncated dump: unexpected EOF"},
		{"the last byte missing", good[:len(good)-1], "truncated dump: unexpected EOF"},
		{"another version", changed(func(b []byte) []byte { b[8] = kd.DumpVersion + 1; return b }),
			fmt.Sprintf("dump format version %d; this simkern reads version %d", kd.DumpVersion+1, kd.DumpVersion)},
		{"not gzip after the header", append(good[:12:12], "this is not a gzip stream"...), "corrupt dump: gzip: invalid header"},
		{"a flipped byte in the compressed body", changed(func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }), "corrupt dump: "},
		{"a wrong checksum", changed(func(b []byte) []byte { b[len(b)-8] ^= 1; return b }), "corrupt dump: gzip: invalid checksum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.dmp")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := kdcli("!vm\nq\n", "kd", path, "-c", "!vm")
			prefix := "simkern: " + path + ": " + tc.want
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no stdout and one line starting %q", code, stdout, stderr, prefix)
			}
		})
	}
}

// A line on standard input may hold several commands separated by ';', as
// at WinDbg's prompt: they print what the same commands on lines of their
// own print, and a q among them ends the session.
func TestKDStdinSplitsCommandsAtSemicolons(t *testing.T) {
	file := exampleFile(t, t.TempDir(), "tour")
	withoutPrompts := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "kd> ") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	_, joined, _ := kdcli("p; p;!poolused 0 Tour ; q\n!vm\n", "kd", file)
	_, apart, _ := kdcli("p\np\n!poolused 0 Tour\nq\n", "kd", file)
	if !strings.Contains(joined, "kd> p; p;!poolused 0 Tour ; q\n") || strings.Contains(joined, "Virtual Memory") ||
		!strings.Contains(withoutPrompts(joined), "Sorting by") || withoutPrompts(joined) != withoutPrompts(apart) {
		t.Errorf("commands on one line printed\n%s\nwant, besides the prompt, what they print on lines of their own\n%s", joined, apart)
	}
}

// A dump the host cannot restore (no temporary file for its pagefile) is
// the host's failure, exit 1, not a damaged dump's exit 2.
func TestKDDumpTheHostCannotRestore(t *testing.T) {
	dir := t.TempDir()
	file := exampleFile(t, dir, "tour")
	dump := filepath.Join(dir, "tour.dmp")
	runDump(t, file, dump, "--dump-at-end")
	t.Setenv("TMPDIR", filepath.Join(dir, "missing"))
	code, stdout, stderr := kdcli("", "kd", dump, "-c", "!vm")
	want := "simkern: " + dump + ": the host could not restore the dump's pagefile: pagefile: "
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}
}

// TestKDPromptOnStdin drives the prompt through stdin, as a script would:
// each prompt is followed by the command it read, then the output.
func TestKDPromptOnStdin(t *testing.T) {
	dir := t.TempDir()
	file := exampleFile(t, dir, "tour")
	norm := func(s string) string { return strings.ReplaceAll(s, dir, "$DIR") }

	t.Run("a live session stepped forward and back", func(t *testing.T) {
		stdin := "p\np\n!poolused\np-\n!poolused\n\n!nosuch\nbp alloc Irp\nbl\n.restart\ng\nbc 0\nbl\n!tt 8\n!pte paged\ng\np\np-\nq\n!vm\n"
		code, stdout, stderr := kdcli(stdin, "kd", file)
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if strings.Contains(stdout, "kd> !vm") {
			t.Error("kd read past q")
		}
		golden.Check(t, filepath.Join("testdata", "kd", "prompt-live.txt"), "# simkern kd tour.yaml with commands on stdin: each prompt, the command read, its output\n"+norm(stdout))
	})
	t.Run("a dump session that ends with the input", func(t *testing.T) {
		dump := filepath.Join(dir, "tour.dmp")
		runDump(t, file, dump, "--dump-at-end")
		code, stdout, stderr := kdcli("!poolused 2\n!pool first 2\np\n", "kd", dump)
		if code != 0 || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if !strings.HasSuffix(stdout, "0: kd> \n") {
			t.Errorf("at the end of the input kd should print a last prompt and a newline; stdout ends %q", stdout[max(0, len(stdout)-40):])
		}
		golden.Check(t, filepath.Join("testdata", "kd", "prompt-dump.txt"), "# simkern kd tour.dmp (--dump-at-end) with commands on stdin and no q: the session ends with the input\n"+norm(stdout))
	})
}

// The state kdState compares: memory use, pool use by tag, and each CPU's
// lookaside lists.
var kdState = []string{"!vm", "!poolused", "!poolused 1", "!lookaside"}

// travelCheck is one way of arriving at a step, and the state it must show.
type travelCheck struct {
	how   string   // what was done
	cmds  []string // the commands that do it
	state int      // which reference state it must equal (0: step n, 1: step n+1)
}

// testTimeTravel runs one kd session on file: it steps to n with p and
// takes the state, steps once more and takes it again, runs to the end,
// then arrives at n and n+1 again in every way the debugger offers. Each
// arrival must show the same state as the steps forward did.
// It returns the states of steps n and n+1.
func testTimeTravel(t *testing.T, file string, n int) [2][]string {
	t.Helper()
	ps := func(k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = "p"
		}
		return out
	}
	checks := []travelCheck{
		{how: fmt.Sprintf("!tt %d from the end", n), cmds: []string{"g", fmt.Sprintf("!tt %d", n)}, state: 0},
		{how: fmt.Sprintf("!tt %d", n+1), cmds: []string{fmt.Sprintf("!tt %d", n+1)}, state: 1},
		{how: fmt.Sprintf("p- from step %d", n+1), cmds: []string{"p-"}, state: 0},
		{how: fmt.Sprintf(".restart, then %d p", n), cmds: append([]string{".restart"}, ps(n)...), state: 0},
		{how: "p after arriving by time travel", cmds: []string{fmt.Sprintf("!tt %d", n), "p"}, state: 1},
	}

	var cmds []string
	cmds = append(cmds, ps(n)...)
	refAt := []int{len(cmds)}
	cmds = append(cmds, kdState...)
	cmds = append(cmds, "p")
	refAt = append(refAt, len(cmds))
	cmds = append(cmds, kdState...)
	checkAt := make([]int, len(checks))
	for i, c := range checks {
		cmds = append(cmds, c.cmds...)
		checkAt[i] = len(cmds)
		cmds = append(cmds, kdState...)
	}
	out := kdSession(t, file, cmds...)

	state := func(at int) []string { return out[at : at+len(kdState)] }
	ref := [2][]string{state(refAt[0]), state(refAt[1])}
	if strings.Join(ref[0], "") == strings.Join(ref[1], "") {
		t.Errorf("step %d changes nothing that %v shows: pick another step", n+1, kdState)
	}
	for i, c := range checks {
		got := state(checkAt[i])
		for j, cmd := range kdState {
			if got[j] != ref[c.state][j] {
				t.Errorf("after %s, %s differs from step %d reached by p:\n--- by p\n%s--- after %s\n%s",
					c.how, cmd, n+c.state, ref[c.state][j], c.how, got[j])
			}
		}
	}
	// Where each travel says it landed.
	for i, c := range cmds {
		if strings.HasPrefix(c, "!tt ") || c == "p-" || c == ".restart" {
			if !strings.HasPrefix(out[i], "Time travel to step ") {
				t.Errorf("%s printed %q, want \"Time travel to step N\"", c, out[i])
			}
		}
	}
	return ref
}

// TestKDTimeTravel: going back is replaying from the start, and the run is
// deterministic, so every way of reaching a step shows the same machine.
func TestKDTimeTravel(t *testing.T) {
	t.Run("race: two threads on two CPUs, round-robin", func(t *testing.T) {
		t.Parallel()
		// Steps: 1 t1 alloc, 2 t2 kd, 3 t1 write, 4 t2 free, 5 t1 read,
		// 6 t2 kd, 7 t1 free (the bugcheck). Step 4 frees onto CPU 1's
		// lookaside list.
		testTimeTravel(t, exampleFile(t, t.TempDir(), "race"), 3)
	})
	t.Run("memory-pressure's machine with its workload cut into kept pieces", func(t *testing.T) {
		t.Parallel()
		// The example is one workload step of 24,000 operations (then a kd
		// step), too long to replay a dozen times under -race. Here the
		// same 8 MiB machine and block sizes run three shorter workloads
		// that keep their blocks, so step 1 already pages and step 2 pages
		// more.
		data, _ := examples.Read("memory-pressure")
		workload := "  - workload: {ops: 24000, pool: PagedPool, sizes: 2000-6000, live: 8000, tag: Pres, verify: true}\n"
		if !bytes.Contains(data, []byte(workload)) {
			t.Fatalf("memory-pressure.yaml no longer has the workload line this test cuts up:\n%s", data)
		}
		piece := "  - workload: {ops: 3000, pool: PagedPool, sizes: 2000-6000, live: 2200, tag: Pres, verify: true, keep: true}\n"
		cut := bytes.Replace(data, []byte(workload), []byte(piece+piece+piece), 1)
		file := filepath.Join(t.TempDir(), "pressure-pieces.yaml")
		if err := os.WriteFile(file, cut, 0o644); err != nil {
			t.Fatal(err)
		}
		ref := testTimeTravel(t, file, 1)
		for i, vm := range ref {
			if m := regexp.MustCompile(`Page faults: \d+ soft, (\d+) hard`).FindStringSubmatch(vm[0]); m == nil || m[1] == "0" {
				t.Errorf("step %d: no hard faults, so nothing was paged in:\n%s", 1+i, vm[0])
			}
		}
	})
}

// TestKDBreakpoints: bp stops g before a matching step, bl lists, bc
// clears, and g with none runs to the end or the bugcheck.
func TestKDBreakpoints(t *testing.T) {
	dir := t.TempDir()
	tour := exampleFile(t, dir, "tour")
	df := exampleFile(t, dir, "double-free")
	race := exampleFile(t, dir, "race")

	tests := []struct {
		name string
		file string
		cmds []string

		// want[i] is a list of strings command i's output must hold, in
		// order; "" alone means it must print nothing. not[i] must not
		// appear in command i's output.
		want map[int][]string
		not  map[int][]string
	}{
		{
			name: "bp alloc TAG stops before the allocation with that tag",
			file: tour,
			cmds: []string{"bp alloc Irp", "bl", "g", "bc 0", "bl", "g"},
			want: map[int][]string{
				0: {"Breakpoint 0 set: bp alloc Irp\n"},
				1: {" 0 e bp alloc Irp\n"},
				2: {"#1 ", "Breakpoint 0 hit\nstep 2 next: " + tour + ":12  alloc: {pool: NonPagedPool, size: 40, tag: Irp, as: second}\n"},
				3: {""},
				4: {"no breakpoints\n"},
				5: {"#2 ", "#10 ", "Outcome: completed, every expectation held (exit 0)", "the run is over after 10 steps\n"},
			},
			not: map[int][]string{2: {"#2 "}, 5: {"Breakpoint 0 hit"}},
		},
		{
			name: "g never stops before the step it starts on, so a second g goes on",
			file: tour,
			cmds: []string{"bp alloc Tour", "g", "g", "g"},
			want: map[int][]string{
				1: {"#4 ", "Breakpoint 0 hit\nstep 5 next: " + tour + ":15  alloc: {pool: PagedPool, size: 2000, tag: Tour, as: paged}\n"},
				2: {"#5 ", "#10 ", "the run is over after 10 steps\n"},
				3: {"the run is over after 10 steps\n"},
			},
			not: map[int][]string{1: {"#5 "}, 2: {"Breakpoint 0 hit"}, 3: {"#"}},
		},
		{
			name: "bp free NAME stops before each free of that name",
			file: df,
			cmds: []string{"bp free buf", "g", "g", "g"},
			want: map[int][]string{
				0: {"Breakpoint 0 set: bp free buf\n"},
				1: {"#1 ", "Breakpoint 0 hit\nstep 2 next: " + df + ":14  free: buf, driver: dfree.sys\n"},
				2: {"#2 ", "#3 ", "Breakpoint 0 hit\nstep 4 next: " + df + ":17  free: buf, driver: dfree.sys\n"},
				3: {"#4 ", "BugCheck C2, {7,", "the machine has bugchecked (step 4): !analyze -v shows why\n"},
			},
			not: map[int][]string{1: {"#2 "}, 2: {"#4 "}},
		},
		{
			name: "bp bugcheck reports the hit after the machine halts",
			file: df,
			cmds: []string{"bp bugcheck", "bl", "g"},
			want: map[int][]string{
				0: {"Breakpoint 0 set: bp bugcheck\n"},
				1: {" 0 e bp bugcheck\n"},
				2: {"#4 ", "Breakpoint 0 hit\n", "BugCheck C2, {7,", "the machine has bugchecked (step 4)"},
			},
		},
		{
			name: "bc * clears them all, bc of a missing one says so",
			file: df,
			cmds: []string{"bp free buf", "bp alloc Dbl", "bl", "bc 7", "bc *", "bl", "g"},
			want: map[int][]string{
				1: {"Breakpoint 1 set: bp alloc Dbl\n"},
				2: {" 0 e bp free buf\n 1 e bp alloc Dbl\n"},
				3: {"bc: no breakpoint 7\n"},
				4: {""},
				5: {"no breakpoints\n"},
				6: {"the machine has bugchecked (step 4)"},
			},
			not: map[int][]string{6: {"Breakpoint 0 hit"}},
		},
		{
			name: "clearing breakpoint 0 renumbers the rest",
			file: tour,
			cmds: []string{"bp alloc Zzzz", "bp alloc Irp", "bc 0", "bl", "g"},
			want: map[int][]string{
				3: {" 0 e bp alloc Irp\n"},
				4: {"Breakpoint 0 hit\nstep 2 next: "},
			},
		},
		{
			name: "bad bp commands print their usage",
			file: tour,
			cmds: []string{"bp", "bp alloc", "bp free a b", "bp sometimes", "bl"},
			want: map[int][]string{
				0: {"usage: bp alloc TAG | bp free NAME | bp bugcheck\n"},
				1: {"usage: bp alloc TAG | bp free NAME | bp bugcheck\n"},
				2: {"usage: bp alloc TAG | bp free NAME | bp bugcheck\n"},
				3: {"usage: bp alloc TAG | bp free NAME | bp bugcheck\n"},
				4: {"no breakpoints\n"},
			},
		},
		{
			name: "g with no breakpoints runs two threads to the bugcheck",
			file: race,
			cmds: []string{"g", "!analyze -v"},
			want: map[int][]string{
				0: {"#1 ", "#7 ", "BugCheck C2, {7,", "the machine has bugchecked (step 7): !analyze -v shows why\n"},
				1: {"BAD_POOL_CALLER (c2)", "FAULTING_IP:  race.sys+"},
			},
		},
		{
			name: "a breakpoint after travelling back still stops g",
			file: race,
			cmds: []string{"g", "bp free shared", "!tt 0", "g"},
			want: map[int][]string{
				2: {"Time travel to step 0\n"},
				3: {"Breakpoint 0 hit\nstep 4 next: " + race + ":26  free: shared, driver: race.sys\n"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := kdSession(t, tc.file, tc.cmds...)
			for i, wants := range tc.want {
				if len(wants) == 1 && wants[0] == "" {
					if out[i] != "" {
						t.Errorf("%s printed %q, want nothing", tc.cmds[i], out[i])
					}
					continue
				}
				rest := out[i]
				for _, w := range wants {
					j := strings.Index(rest, w)
					if j < 0 {
						t.Errorf("%s: output lacks %q (in order):\n%s", tc.cmds[i], w, out[i])
						break
					}
					rest = rest[j+len(w):]
				}
			}
			for i, nots := range tc.not {
				for _, n := range nots {
					if strings.Contains(out[i], n) {
						t.Errorf("%s: output holds %q:\n%s", tc.cmds[i], n, out[i])
					}
				}
			}
		})
	}
}

// kdEveryCommand is every debugger command with the arguments it takes,
// X an address, TAG a tag and N a frame number.
var kdEveryCommand = []string{
	"!pool", "!pool X", "!pool X 1", "!pool X 2", "!poolused", "!poolused 1", "!poolused 2", "!poolused 4", "!poolused 0 T*",
	"!poolfind TAG", "!poolfind TAG 1", "!poolval X", "!vm", "!pte X", "!pfn N", "!irql", "!irql 1", "!lookaside",
	"dt _POOL_HEADER", "dt _POOL_HEADER X-10", "db X L40", "dd X L10", "dq X L8", "!analyze -v", ".help",
}

// TestKDGoldenTranscripts runs every command after `g` on example
// machines and compares the whole transcript with testdata/kd/NAME.txt.
func TestKDGoldenTranscripts(t *testing.T) {
	tests := []struct {
		example string
		x, tag  string // X and TAG in kdEveryCommand
		n       string // N: the frame that holds X's page
		extra   []string
	}{
		{example: "tour", x: "first", tag: "Tour", n: "7", extra: []string{"!pool paged", "!pte paged", "!poolfind Irp"}},
		{example: "overrun", x: "a", tag: "Ovrn", n: "7"},
		{example: "numa-lookaside", x: "again", tag: "Numa", n: "1002", extra: []string{"!pool n0 2", "!pte n0", "!irql 0"}},
		{example: "memory-pressure", x: "fffff8a000000010", tag: "Pres", n: "20"},
	}
	for _, tc := range tests {
		t.Run(tc.example, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := exampleFile(t, dir, tc.example)
			r := strings.NewReplacer("X", tc.x, "TAG", tc.tag, " N", " "+tc.n)
			cmds := []string{"g"}
			for _, c := range kdEveryCommand {
				cmds = append(cmds, r.Replace(c))
			}
			cmds = append(cmds, tc.extra...)
			code, stdout, stderr := kdcli("", "kd", file, "-c", strings.Join(cmds, "; "))
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, c := range cmds {
				if !strings.Contains(stdout, "kd> "+c+"\n") {
					t.Errorf("the transcript has no prompt line for %q", c)
				}
			}
			head := fmt.Sprintf("# simkern kd %s.yaml -c \"%s\"\n# Each command's prompt line, then its output; $DIR is the test's directory.\n",
				tc.example, strings.Join(cmds, "; "))
			golden.Check(t, filepath.Join("testdata", "kd", tc.example+".txt"), head+strings.ReplaceAll(stdout, dir, "$DIR"))
		})
	}
}

// TestKDDocTranscripts: every kd session docs/kd.md shows is what simkern
// prints. The comment before each block names the example it comes from
// and the commands, not shown, that bring the session there, such as
// <!-- transcript: tour !tt 8 -->; the block's own commands then run and
// must print the block. A block of kd output without that comment fails,
// so a new one is checked too.
func TestKDDocTranscripts(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "kd.md"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := regexp.MustCompile(`^\d+: kd> (.*)$`)
	kdStep := regexp.MustCompile(`^#\d+ .*  kd: `)
	lines := strings.Split(string(doc), "\n")
	blocks := 0
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		end := i + 1
		for end < len(lines) && lines[end] != "```" {
			end++
		}
		body, opened := lines[i+1:end], i+1
		i = end
		var cmds []string
		for j, l := range body {
			// A scenario's kd: step echoes its command after a prompt too,
			// under the step's own line.
			if m := prompt.FindStringSubmatch(l); m != nil && (j == 0 || !kdStep.MatchString(body[j-1])) {
				cmds = append(cmds, m[1])
			}
		}
		if len(cmds) == 0 {
			continue
		}
		blocks++
		from, ok := strings.CutPrefix(lines[opened-2], "<!-- transcript: ")
		from, ok2 := strings.CutSuffix(from, " -->")
		if !ok || !ok2 {
			t.Errorf("docs/kd.md:%d: a kd session with no <!-- transcript: EXAMPLE [SETUP] --> line before it", opened)
			continue
		}
		example, setup, _ := strings.Cut(from, " ")
		dir := t.TempDir()
		file := exampleFile(t, dir, example)
		session := func(cmds string) string {
			code, stdout, stderr := kdcli("", "kd", file, "-c", cmds)
			if code != 0 || stderr != "" {
				t.Fatalf("docs/kd.md:%d: kd %s -c %q: exit %d, %s", opened, example, cmds, code, stderr)
			}
			return strings.ReplaceAll(stdout, dir+string(filepath.Separator), "")
		}
		before := session(setup)
		all := session(setup + "; " + strings.Join(cmds, "; "))
		want := strings.Join(body, "\n") + "\n"
		if got, ok := strings.CutPrefix(all, before); !ok || got != want {
			t.Errorf("docs/kd.md:%d: the session differs from simkern's (%s, after %q):\n%s", opened, example, setup, golden.FirstDiff(want, got))
		}
	}
	if blocks < 20 {
		t.Errorf("docs/kd.md: %d kd sessions found; the test's reading of the file is wrong", blocks)
	}
}

// Two dumps of the same run are the same bytes: nothing in a dump depends
// on map order or the clock.
func TestDumpsAreReproducible(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"special-pool-use-after-free", "leak-at-unload", "race"} {
		path := writeExample(t, dir, name)
		var first []byte
		for i := 0; i < 3; i++ {
			dump := filepath.Join(dir, fmt.Sprintf("%s-%d.dmp", name, i))
			if code, _, stderr := cli("run", path, "--dump", dump, "--quiet"); code != 0 {
				t.Fatalf("%s: exit %d: %s", name, code, stderr)
			}
			b, err := os.ReadFile(dump)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Errorf("%s: dump %d differs from dump 0 (%d vs %d bytes)", name, i, len(b), len(first))
			}
		}
	}
}

// A dump carries Driver Verifier's state: !verifier on the dump lists the
// same leaked allocations as the run's own kd: step did.
func TestDumpKeepsTheVerifier(t *testing.T) {
	dir := t.TempDir()
	path := writeExample(t, dir, "leak-at-unload")
	dump := filepath.Join(dir, "leak.dmp")
	code, out, _ := cli("run", path, "--dump", dump)
	if code != 0 {
		t.Fatalf("run: exit %d", code)
	}
	_, live, ok := strings.Cut(out, "0: kd> !verifier 3 leaky.sys\n")
	if !ok {
		t.Fatalf("the run has no !verifier step:\n%s", out)
	}
	live, _, _ = strings.Cut(live, "#")
	code, got, stderr := cli("kd", dump, "-c", "!verifier 3 leaky.sys")
	if code != 0 {
		t.Fatalf("kd: exit %d: %s", code, stderr)
	}
	_, got, _ = strings.Cut(got, "0: kd> !verifier 3 leaky.sys\n")
	if got != live {
		t.Errorf("!verifier 3 on the dump:\n%s\nin the run:\n%s", got, live)
	}
	if !strings.Contains(got, "Current Pool Allocations  00000002    00000000\n") {
		t.Errorf("the dump lost the leaked allocations:\n%s", got)
	}
}

// bc with several numbers clears exactly those breakpoints.
func TestClearingSeveralBreakpoints(t *testing.T) {
	dir := t.TempDir()
	path := writeExample(t, dir, "tour")
	code, out, stderr := cli("kd", path, "-c", "bp alloc AAAA; bp alloc BBBB; bp alloc CCCC; bc 0 1; bl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, list, _ := strings.Cut(out, "kd> bl\n")
	if want := " 0 e bp alloc CCCC\n"; list != want {
		t.Errorf("bl after bc 0 1 lists %q, want %q", list, want)
	}
}

// !verifier prints the options in force as the /flags level and their
// names, the counters, and the verified drivers; without a verifier it
// says there is none.
func TestVerifierCommand(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		example string
		want    []string
	}{
		{"special-pool-overrun", []string{
			"Verify Level 1 ... enabled options are:\n    Special pool\n\n",
			"Pool Allocations Attempted             0x1\n",
			"Pool Allocations Succeeded SpecialPool 0x1\n",
			"Current nonpaged pool allocations      0x1 for 00000030 bytes\n",
			"Entry     State           NonPagedPool   PagedPool   Module\n0000000000000000 Loaded           00000030       00000000    acme.sys\n",
		}},
		{"leak-at-unload", []string{
			"Verify Level 8 ... enabled options are:\n    All pool allocations checked on unload\n",
			"0000000000000000 Unloaded         00000060       00000000    leaky.sys\n",
		}},
		{"low-resources", []string{
			"Verify Level 40000 ... enabled options are:\n    Systematic low resources simulation\n",
			"Resource Allocations Failed Deliberately   0x1\n",
		}},
		{"tour", []string{"Driver Verifier is not enabled for any driver"}},
	} {
		path := writeExample(t, dir, tc.example)
		code, out, stderr := cli("kd", path, "-c", "g; !verifier")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.example, code, stderr)
		}
		_, got, _ := strings.Cut(out, "kd> !verifier\n")
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: !verifier lacks %q:\n%s", tc.example, w, got)
			}
		}
	}
}

// A command line too long to be a command is skipped with a message; the
// session goes on to the next line.
func TestKDSkipsAnOverlongLine(t *testing.T) {
	path := exampleFile(t, t.TempDir(), "tour")
	long := "!pool " + strings.Repeat("1", maxCommandLine)
	code, out, stderr := kdcli(long+"\n!irql\nq\n", "kd", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, "A command line over 65536 bytes: ignored.") || !strings.Contains(out, "kd> !irql\nDebugger saved IRQL for processor 0x0 -- 0 (LOW_LEVEL)") {
		t.Errorf("the long line was not skipped, or !irql did not run after it:\n%.400s", out)
	}
}

// TestCompletionOffersEveryKDCommand: tab after a command's full name
// offers the space (or the fixed argument) that follows it, for every
// command in kd's table.
func TestCompletionOffersEveryKDCommand(t *testing.T) {
	c := completer()
	for _, name := range kd.CommandNames() {
		suffixes, _ := c.Do([]rune(name), len(name))
		if !slices.ContainsFunc(suffixes, func(s []rune) bool { return len(s) > 0 && s[0] == ' ' }) {
			t.Errorf("tab completion does not offer %s (after it, it offers %q)", name, suffixes)
		}
	}
}

// On a dump the commands that run a live session say they need one, as
// in a scenario's kd: step; they used to be kd's unknown commands there
// ("No export p found").
// A plain command neither has says simkern does not support it.
func TestKDLiveCommandsOnADump(t *testing.T) {
	dir := t.TempDir()
	file := exampleFile(t, dir, "tour")
	dump := filepath.Join(dir, "tour.dmp")
	runDump(t, file, dump, "--dump-at-end")
	cmds := []string{"p", "t", "g", "G", "p-", "!tt 3", ".restart", "bp alloc Tour", "bl", "bc *", "dps first"}
	out := kdSession(t, dump, cmds...)
	for i, c := range cmds {
		want := strings.Fields(c)[0] + " works only at a live session's prompt (simkern kd FILE.yaml)\n"
		if c == "dps first" {
			want = "simkern does not support 'dps' (.help lists the commands it has)\n"
		}
		if out[i] != want {
			t.Errorf("%s on a dump: got %q, want %q", c, out[i], want)
		}
	}
}

// TestLiveCommandsHaveHandlers: the live session runs every command kd
// names as one that runs the machine, and no other.
func TestLiveCommandsHaveHandlers(t *testing.T) {
	for _, n := range kd.LiveCommands() {
		if liveCommands[n] == nil {
			t.Errorf("kd names %q a live command, and the live session cannot run it", n)
		}
	}
	for n := range liveCommands {
		if !slices.Contains(kd.LiveCommands(), n) {
			t.Errorf("the live session runs %q, which kd.LiveCommands does not name", n)
		}
	}
}

// TestTimeTravelStepNumbersAreDecimal: !tt takes a step number as the
// reports print it, so 010 is step 10 (Go's prefix rules made it 8).
func TestTimeTravelStepNumbersAreDecimal(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"steps.yaml": "name: steps\nsteps:\n  - repeat: {times: 12, steps: [{trim: all}]}\n"})
	out := kdSession(t, filepath.Join(dir, "steps.yaml"), "!tt 010", "!tt 0x3")
	if !strings.Contains(out[0], "Time travel to step 10\n") {
		t.Errorf("!tt 010 printed\n%s\nwant step 10", out[0])
	}
	if !strings.Contains(out[1], "is not a step number") {
		t.Errorf("!tt 0x3 printed\n%s\nwant it refused: step numbers are decimal", out[1])
	}
}

// TestTimeTravelToTheEnd: a run travelled to its end has ended, as it had
// when p first got there: after g, the next p says the run is over and
// does not print the outcome again; in a session that never printed the
// outcome, the next p prints it.
func TestTimeTravelToTheEnd(t *testing.T) {
	for _, example := range []string{"tour", "double-free"} {
		file := exampleFile(t, t.TempDir(), example)
		byP := kdSession(t, file, "g", "p")
		if !strings.Contains(byP[0], "Outcome: ") {
			t.Fatalf("%s: g printed no outcome:\n%s", example, byP[0])
		}
		last := regexp.MustCompile(`\d+`).FindString(byP[1]) // the run is over after N steps; bugchecked (step N)
		if last == "" {
			t.Fatalf("%s: p after g printed %q: no step number", example, byP[1])
		}
		again := kdSession(t, file, "g", "!tt 0", "!tt "+last, "p")
		if again[3] != byP[1] {
			t.Errorf("%s: p after g and !tt %s printed\n%s\nwant, as after g,\n%s", example, last, again[3], byP[1])
		}
		fresh := kdSession(t, file, "!tt "+last, "p", "p")
		if strings.Contains(fresh[0], "Outcome: ") || !strings.Contains(fresh[1], "Outcome: ") || fresh[2] != byP[1] {
			t.Errorf("%s: !tt %s, p, p in a fresh session printed\n%s---\n%s---\n%s\nwant the outcome once, at the first p", example, last, fresh[0], fresh[1], fresh[2])
		}
	}
}

// TestLiveCommandArguments: p takes a count; commands that take no
// arguments refuse them; !tt past the end says where the run ends; bp
// parses tags as scenarios do and warns of breakpoints no step matches;
// bp bugcheck is hit under p too, and once.
func TestLiveCommandArguments(t *testing.T) {
	dir := t.TempDir()
	tour, double := exampleFile(t, dir, "tour"), exampleFile(t, dir, "double-free")
	for _, tc := range []struct {
		file string
		cmds []string
		want []string // a piece of each command's output ("" checks nothing)
	}{
		{tour, []string{"p 3", "!irql"}, []string{"step 4 next: ", ""}},
		{tour, []string{"p zork", "p 0", "p 1 2"}, []string{`p: "zork" is not a number of steps`, `p: "0" is not a number of steps`, "usage: p [N]"}},
		{tour, []string{"g now", "p- 2", ".restart 5", "bl x"}, []string{"g takes no arguments; bp sets where it stops", "p- takes no arguments", ".restart takes no arguments", "bl takes no arguments"}},
		{tour, []string{"!tt 99", "!tt 3 4"}, []string{"(the run ends at step 10: there is no step 99)", "usage: !tt N"}},
		{tour, []string{"bp alloc 0x72756f54", "g"}, []string{"Breakpoint 0 set: bp alloc 0x72756f54\n", "Breakpoint 0 hit"}},
		{tour, []string{"bp alloc TooLong", "bp free zork"}, []string{`bp: bad tag "TooLong": a tag is 1 to 4 characters`, "(no step of " + tour + " matches it: it will not be hit)"}},
		{double, []string{"bp bugcheck", "p 4", "g"}, []string{"", "Breakpoint 0 hit", "the machine has bugchecked (step 4)"}},
	} {
		out := kdSession(t, tc.file, tc.cmds...)
		for i, want := range tc.want {
			if !strings.Contains(out[i], want) {
				t.Errorf("%s: %q printed\n%s\nwant it to contain %q", filepath.Base(tc.file), tc.cmds[i], out[i], want)
			}
		}
		if tc.file == double && strings.Contains(out[2], "Breakpoint 0 hit") {
			t.Errorf("g after the bugcheck reported the bugcheck breakpoint again:\n%s", out[2])
		}
	}
}

// TestKDCommandFlagRepeats: each -c runs, in the order given (a second
// -c used to replace the first), and q ends them all.
func TestKDCommandFlagRepeats(t *testing.T) {
	file := exampleFile(t, t.TempDir(), "tour")
	code, stdout, stderr := kdcli("", "kd", file, "-c", "p; p", "-c", "!tt 1; q", "-c", "!vm")
	var prompts []string
	for _, l := range strings.Split(stdout, "\n") {
		if _, cmd, ok := strings.Cut(l, "kd> "); ok {
			prompts = append(prompts, cmd)
		}
	}
	if want := []string{"p", "p", "!tt 1", "q"}; code != 0 || stderr != "" || strings.Join(prompts, "|") != strings.Join(want, "|") {
		t.Errorf("exit %d, stderr %q, commands %q; want exit 0 and %q", code, stderr, prompts, want)
	}
}
