package main

// Tests of `simkern campaign` through run(), and of its parts: the table
// against a slow recount, shards against the whole, merge's refusals,
// --minimize against `simkern run --steps`, and --check-determinism.

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"simkern/bugcheck"
	"simkern/internal/golden"
	"simkern/scenario"
)

const (
	// flakyYAML: the outcome depends on the seed: the random schedule runs
	// other's free before the alloc (a failed expectation: buf is not
	// bound yet, and the expected bugcheck never comes), or after it, and
	// then one of the two frees is the second: 0xC2 / 7, as expected.
	flakyYAML = `name: flaky
machine: {ram: 4MiB, cpus: 2}
threads:
  - name: owner
    cpu: 0
    steps:
      - alloc: {pool: NonPagedPool, size: 64, tag: Flky, as: buf}
      - write: {at: buf, data: "ok"}
      - read: {at: buf, expect: "ok"}
      - free: buf
  - name: other
    cpu: 1
    steps:
      - free: buf
schedule: random
expect:
  bugcheck: {code: 0xC2, p1: 7}
`
)

// flakyUnexpectedYAML is flakyYAML expecting nothing, so both classes fail.
var flakyUnexpectedYAML = strings.Replace(strings.TrimSuffix(flakyYAML, "expect:\n  bugcheck: {code: 0xC2, p1: 7}\n"),
	"name: flaky\n", "name: flaky-unexpected\n", 1)

// runOutcomeEnd is what `simkern run --json` says about how a run ended.
type runOutcomeEnd struct {
	outcome string // the campaign's class
	exit    int
	steps   uint64
}

// runOutcome runs `simkern run ARGS... --json` and reads its outcome from the
// stream, the slow way a user's script would.
func runOutcome(t *testing.T, args ...string) runOutcomeEnd {
	t.Helper()
	code, stdout, stderr := cli(append(append([]string{"run"}, args...), "--json")...)
	if code == 2 {
		t.Fatalf("simkern run %s: exit 2: %s", strings.Join(args, " "), stderr)
	}
	var end runOutcomeEnd
	bugcheck := ""
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch e.Event {
		case "bugcheck":
			bugcheck = fmt.Sprintf("bugcheck 0x%s/0x%s", strings.ToUpper(strings.TrimPrefix(e.Code, "0x")),
				strings.ToUpper(strings.TrimPrefix(e.Params[0], "0x")))
		case "summary":
			end.steps = e.Summary.Steps
		case "end":
			end.exit = *e.Exit
		}
	}
	switch {
	case bugcheck != "":
		end.outcome = bugcheck
	case end.exit == 0:
		end.outcome = "completed"
	default:
		end.outcome = "expectation failed"
	}
	if end.exit != code {
		t.Errorf("simkern run %s: exit %d, but the end event says %d", strings.Join(args, " "), code, end.exit)
	}
	return end
}

// readResultLines parses a results stream into its seed lines and campaign line.
func readResultLines(t *testing.T, stream string) ([]seedResult, campaignSummary) {
	t.Helper()
	var results []seedResult
	var sum campaignSummary
	lines := strings.Split(strings.TrimSuffix(stream, "\n"), "\n")
	for i, l := range lines {
		var err error
		if i < len(lines)-1 {
			var r seedResult
			err = json.Unmarshal([]byte(l), &r)
			results = append(results, r)
		} else {
			err = json.Unmarshal([]byte(l), &sum)
		}
		if err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
	}
	return results, sum
}

func TestCampaignTableCountsEverySeed(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")

	code, stdout, stderr := cli("campaign", path, "--seeds", "1-30")
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, want 1 (some seeds fail); stderr %q\n%s", code, stderr, stdout)
	}

	// The slow way: run every seed on its own and count.
	type tally struct {
		runs  int
		first []uint64
	}
	slow := map[string]*tally{}
	for seed := uint64(1); seed <= 30; seed++ {
		end := runOutcome(t, path, "--seed", fmt.Sprint(seed))
		key := fmt.Sprintf("%s|%v", end.outcome, end.exit == 0)
		if slow[key] == nil {
			slow[key] = &tally{}
		}
		slow[key].runs++
		if len(slow[key].first) < firstSeedsShown {
			slow[key].first = append(slow[key].first, seed)
		}
	}
	if len(slow) < 2 {
		t.Fatalf("flaky should end in at least 2 ways over 30 seeds; got %d", len(slow))
	}
	rows := 0
	for _, line := range strings.Split(stdout, "\n") {
		for key, want := range slow {
			outcome, ok, _ := strings.Cut(key, "|")
			expected := map[string]string{"true": "yes", "false": "no"}[ok]
			if !strings.HasPrefix(line, outcome+"  ") {
				continue
			}
			seeds := strings.Trim(fmt.Sprint(want.first), "[]")
			wantLine := fmt.Sprintf("%d  %s", want.runs, seeds)
			if !strings.Contains(line, " "+expected+" ") || !strings.Contains(line, wantLine) ||
				!strings.HasSuffix(line, fmt.Sprintf("simkern run %s --seed %d", path, want.first[0])) {
				t.Errorf("row %q: the seeds run one by one say expected %s, %s", line, expected, wantLine)
			}
			rows++
		}
	}
	if rows != len(slow) {
		t.Errorf("%d rows match the %d outcomes found one seed at a time:\n%s", rows, len(slow), stdout)
	}
	if !strings.Contains(stdout, "Outcome: "+fmt.Sprint(slow["expectation failed|false"].runs)+" of 30 runs failed (exit 1)") {
		t.Errorf("the outcome line should count the failed runs:\n%s", stdout)
	}

	for _, p := range []string{"1", "3", "16"} {
		if _, again, _ := cli("campaign", path, "--seeds", "1-30", "--parallel", p); again != stdout {
			t.Errorf("--parallel %s printed another table:\n%s", p, golden.FirstDiff(stdout, again))
		}
	}
}

func TestCampaignShardsMergeToTheWhole(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")
	const seeds = "1-25,40,50-60"

	wantCode, whole, _ := cli("campaign", path, "--seeds", seeds)
	_, wholeJSON, _ := cli("campaign", path, "--seeds", seeds, "--json")
	allResults, _ := readResultLines(t, wholeJSON)

	var files []string
	var union []uint64
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("shard%d.jsonl", i))
		code, stdout, stderr := cli("campaign", path, "--seeds", seeds, "--shard", fmt.Sprintf("%d/3", i), "-o", out)
		if code == 2 || stderr != "" {
			t.Fatalf("shard %d/3: exit %d, stderr %q", i, code, stderr)
		}
		if !strings.Contains(firstLine(stdout), fmt.Sprintf("shard %d/3", i)) {
			t.Errorf("shard %d/3: the header should name the shard: %q", i, firstLine(stdout))
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := readResultLines(t, string(data))
		for _, r := range rs {
			union = append(union, r.Seed)
		}
		files = append(files, out)
	}
	slices.Sort(union)
	var all []uint64
	for _, r := range allResults {
		all = append(all, r.Seed)
	}
	if !slices.Equal(union, all) {
		t.Errorf("the shards ran seeds %v; the whole campaign %v", union, all)
	}

	code, merged, stderr := cli(append([]string{"campaign", "merge"}, files...)...)
	if code != wantCode || stderr != "" {
		t.Errorf("merge: exit %d, want %d as the whole campaign; stderr %q", code, wantCode, stderr)
	}
	if merged != whole {
		t.Errorf("merge of 3 shards differs from the whole campaign:\n%s", golden.FirstDiff(whole, merged))
	}
	// The other order, and as JSON: the same again.
	slices.Reverse(files)
	if _, mergedJSON, _ := cli(append([]string{"campaign", "merge", "--json"}, files...)...); mergedJSON != wholeJSON {
		t.Errorf("merge --json differs from the whole campaign's --json:\n%s", golden.FirstDiff(wholeJSON, mergedJSON))
	}

	// Two shards of three are not the whole: the header says which.
	_, part, _ := cli("campaign", "merge", files[0], files[1])
	if !strings.Contains(firstLine(part), "seeds "+seeds+"  shard 1/3,2/3") {
		t.Errorf("a merge of shards 2/3 and 1/3 should say so: %q", firstLine(part))
	}
}

func TestCampaignMergeRefusesFilesThatDoNotBelongTogether(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML, "other.yaml": flakyUnexpectedYAML})
	at := func(name string) string { return filepath.Join(dir, name) }
	runCampaign := func(file, seeds, out string) {
		t.Helper()
		if code, _, stderr := cli("campaign", at(file), "--seeds", seeds, "--out", at(out)); code == 2 {
			t.Fatalf("campaign %s: %s", file, stderr)
		}
	}
	runCampaign("flaky.yaml", "1-10", "a.jsonl")
	runCampaign("flaky.yaml", "5-15", "b.jsonl")
	runCampaign("other.yaml", "20-30", "c.jsonl")
	runCampaign("other.yaml", "1-5", "e.jsonl")
	if code, _, stderr := cli("campaign", at("flaky.yaml"), "--seeds", "11-15", "--check-determinism", "--out", at("checked.jsonl")); code == 2 {
		t.Fatalf("campaign --check-determinism: %s", stderr)
	}
	full, _ := os.ReadFile(at("a.jsonl"))
	lines := strings.SplitAfter(string(full), "\n")
	writeFiles(t, dir, map[string]string{
		"truncated.jsonl": strings.Join(lines[:4], ""),
		"garbage.jsonl":   "not json\n",
		"edited.jsonl":    strings.Replace(string(full), `"outcome":"expectation failed"`, `"outcome":"completed"`, 1),
		"foreign.jsonl":   strings.Replace(string(full), `{"event":"seed","seed":10,`, `{"event":"seed","seed":99,`, 1),
		"swapped.jsonl":   lines[1] + lines[0] + strings.Join(lines[2:], ""),
		"repeated.jsonl":  strings.Join(lines[:9], "") + lines[8] + strings.Join(lines[10:], ""),
		"dropped.jsonl":   strings.Join(lines[:3], "") + strings.Join(lines[4:], ""),
		"nohash.jsonl":    regexp.MustCompile(`"sha256":"[0-9a-f]*"`).ReplaceAllString(string(full), `"sha256":"zz"`),
		"noversion.jsonl": regexp.MustCompile(`"simkern":"[^"]*"`).ReplaceAllString(string(full), `"simkern":""`),
		"badshard.jsonl":  strings.Replace(string(full), `"seeds":"1-10",`, `"seeds":"1-10","shard":"9/7",`, 1),
	})

	tests := []struct {
		name   string
		files  []string
		stderr string
	}{
		{"files of two scenarios", []string{"a.jsonl", "c.jsonl"}, "are campaigns of different scenarios (sha256 "},
		{"files of two scenarios that share seeds", []string{"a.jsonl", "e.jsonl"}, "are campaigns of different scenarios (sha256 "},
		{"two files that share seeds", []string{"a.jsonl", "b.jsonl"}, "seed 5 is in both " + at("a.jsonl") + " and " + at("b.jsonl")},
		{"two files that share seeds, named the other way round", []string{"b.jsonl", "a.jsonl"}, "seed 5 is in both " + at("b.jsonl") + " and " + at("a.jsonl")},
		{"a file whose seeds ran twice and one whose did not", []string{"a.jsonl", "checked.jsonl"}, at("checked.jsonl") + " ran its seeds twice (--check-determinism) and " + at("a.jsonl") + " did not"},
		{"the same file twice", []string{"a.jsonl", "a.jsonl"}, "is in both"},
		{"a file cut short", []string{"truncated.jsonl"}, at("truncated.jsonl") + ": incomplete"},
		{"a file that is not JSON", []string{"garbage.jsonl"}, at("garbage.jsonl") + ":1: not a campaign results file"},
		{"an outcome that contradicts its exit status", []string{"edited.jsonl"}, `outcome "completed", but its exit and code say "expectation failed"`},
		{"a file that does not exist", []string{"missing.jsonl"}, "missing.jsonl"},
		{"a seed its list does not hold", []string{"foreign.jsonl"}, at("foreign.jsonl") + ": seed 99 is not one of its shard's seeds"},
		{"seeds out of order", []string{"swapped.jsonl"}, at("swapped.jsonl") + ": seed 1 after seed 2: a results file lists each seed once, in order"},
		{"a seed twice in one file", []string{"repeated.jsonl"}, at("repeated.jsonl") + ": seed 9 after seed 9"},
		{"a seed line gone", []string{"dropped.jsonl"}, at("dropped.jsonl") + ": 9 seed lines, but its campaign line counts 10 runs"},
		{"a sha256 that is not one", []string{"nohash.jsonl"}, at("nohash.jsonl") + ": not a campaign results file: its sha256 is not 64 hex digits"},
		{"no simkern version", []string{"noversion.jsonl"}, at("noversion.jsonl") + ": not a campaign results file: no simkern version"},
		{"a shard past the count", []string{"badshard.jsonl"}, at("badshard.jsonl") + `: not a campaign results file: shard "9/7" is not I/N`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// With --json too: nothing is printed before the files are
			// found wanting.
			for _, flags := range [][]string{nil, {"--json"}} {
				args := append([]string{"campaign", "merge"}, flags...)
				for _, f := range tt.files {
					args = append(args, at(f))
				}
				code, stdout, stderr := cli(args...)
				if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "simkern: ") || !strings.Contains(stderr, tt.stderr) {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a message with %q", flags, code, stdout, stderr, tt.stderr)
				}
			}
		})
	}
	t.Run("disjoint campaigns of one scenario merge", func(t *testing.T) {
		runCampaign("flaky.yaml", "11-12", "d.jsonl")
		code, stdout, _ := cli("campaign", "merge", at("a.jsonl"), at("d.jsonl"))
		if code == 2 || !strings.Contains(firstLine(stdout), "seeds 1-10,11-12") {
			t.Errorf("exit %d, header %q", code, firstLine(stdout))
		}
	})
}

func TestCampaignMinimizeReproduces(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyUnexpectedYAML})
	path := filepath.Join(dir, "flaky.yaml")
	code, stdout, stderr := cli("campaign", path, "--seeds", "1-20", "--minimize", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
	}
	results, sum := readResultLines(t, stdout)
	steps := map[uint64]uint64{}
	for _, r := range results {
		steps[r.Seed] = r.Steps
	}
	shorter := false
	for _, row := range sum.Outcomes {
		if row.MinimalSteps == nil {
			t.Errorf("%s fails (exit %d) but was not minimized", row.Outcome, row.Exit)
			continue
		}
		k, seed := *row.MinimalSteps, row.First[0]
		want := fmt.Sprintf("simkern run %s --seed %d --steps %d", path, seed, k)
		if row.MinimalReproduce != want {
			t.Errorf("%s: minimal_reproduce %q, want %q", row.Outcome, row.MinimalReproduce, want)
		}
		// The printed command, run through the command line, fails the
		// same way after exactly k steps; one step fewer does not.
		args := strings.Fields(strings.TrimPrefix(row.MinimalReproduce, "simkern run "))
		if end := runOutcome(t, args...); end.outcome != row.Outcome || end.exit != row.Exit || end.steps != k {
			t.Errorf("%s: %q ends %+v, want %s, exit %d after %d steps", row.Outcome, row.MinimalReproduce, end, row.Outcome, row.Exit, k)
		}
		if k > 0 {
			if end := runOutcome(t, path, "--seed", fmt.Sprint(seed), "--steps", fmt.Sprint(k-1)); end.outcome == row.Outcome {
				t.Errorf("%s: %d steps already end that way; %d is not the shortest", row.Outcome, k-1, k)
			}
		}
		shorter = shorter || k < steps[seed]
	}
	if !shorter {
		t.Errorf("no outcome was shortened; the test scenario should have a failure before its last step")
	}

	_, text, _ := cli("campaign", path, "--seeds", "1-20", "--minimize")
	for _, row := range sum.Outcomes {
		if !strings.Contains(text, row.MinimalReproduce+"\n") {
			t.Errorf("the table does not print %q:\n%s", row.MinimalReproduce, text)
		}
	}
}

func TestRunSteps(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"df.yaml": doubleFree})
	path := filepath.Join(dir, "df.yaml")
	code, stdout, _ := cli("run", path, "--steps", "2")
	if code != 0 || !strings.Contains(stdout, "*** Stopped by --steps 2; the next step would have been "+path+":5:5: free: buf\n") {
		t.Errorf("--steps 2 of a double free: exit %d, want 0 and a note where it stopped:\n%s", code, stdout)
	}
	if want := "reproduce: simkern run " + path + " --seed 1 --steps 2\n"; !strings.Contains(stdout, want) {
		t.Errorf("--steps 2: no %q in\n%s", want, stdout)
	}
	if end := runOutcome(t, path, "--steps", "2"); end.steps != 2 || end.outcome != "completed" {
		t.Errorf("--steps 2 --json: %+v", end)
	}
	if end := runOutcome(t, path, "--steps", "100"); end.steps != 4 || end.outcome != "bugcheck 0xC2/0x7" {
		t.Errorf("--steps beyond the end: %+v, want the whole run", end)
	}
}

func TestCampaignCheckDeterminismPassesOnExamples(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"double-free", "race", "leak"} {
		path := writeExample(t, dir, name)
		code, stdout, stderr := cli("campaign", path, "--seeds", "1-4", "--check-determinism")
		if code != 0 || stderr != "" {
			t.Errorf("%s: exit %d, stderr %q\n%s", name, code, stderr, stdout)
		}
		if !strings.Contains(stdout, "Determinism: every seed ran twice and printed the same event stream both times\n") {
			t.Errorf("%s: no word on determinism:\n%s", name, stdout)
		}
	}
}

func TestCampaignCheckDeterminismCatchesADifference(t *testing.T) {
	s, err := scenario.Parse("flaky.yaml", []byte(flakyYAML))
	if err != nil {
		t.Fatal(err)
	}
	// Seed 3's second run writes one byte more: the simulator is not
	// touched, only what the check sees.
	var seed3 atomic.Int64
	leaky := func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		o, err := runSeed(s, seed, maxSteps, json, out)
		if seed == 3 && seed3.Add(1) == 2 {
			fmt.Fprint(out, " ")
		}
		return o, err
	}
	c := &campaign{s: s, run: leaky, parallel: 4, determinism: true}
	rs, _ := parseSeeds("1-5")
	results := runLines(t, c, newShard(rs, 0, 1))
	for _, r := range results {
		if r.Nondeterministic != (r.Seed == 3) || len(r.Stream) != 64 {
			t.Errorf("seed %d: nondeterministic %v, stream %q; only seed 3 ran differently", r.Seed, r.Nondeterministic, r.Stream)
		}
	}
	sum := &campaignSummary{File: "flaky.yaml", Seeds: "1-5", Determinism: true}
	summarize(sum, results)
	if sum.Exit != 1 || !slices.Equal(sum.Nondeterministic, []uint64{3}) {
		t.Errorf("exit %d, nondeterministic %v; want 1 and [3]", sum.Exit, sum.Nondeterministic)
	}
	// Merged with a shard that was not checked, the whole is not checked,
	// but seed 3 is still named.
	for _, checked := range []bool{true, false} {
		sum.Determinism = checked
		var table strings.Builder
		printTable(&table, sum)
		if !strings.Contains(table.String(), "Determinism: 1 seed printed a different event stream the second time: 3\n") {
			t.Errorf("check_determinism %v: the table should name seed 3:\n%s", checked, table.String())
		}
	}
}

func TestCampaignBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no --seeds", []string{path}, "--seeds is required"},
		{"an empty list", []string{path, "--seeds", ""}, "an empty entry"},
		{"an empty entry", []string{path, "--seeds", "1,,3"}, "an empty entry"},
		{"a range that runs backwards", []string{path, "--seeds", "10-1"}, `"10-1" runs backwards`},
		{"not a number", []string{path, "--seeds", "1-x"}, `"1-x"`},
		{"a negative seed", []string{path, "--seeds", "-5"}, `"-5": a range needs a seed on each side`},
		{"a seed listed twice", []string{path, "--seeds", "1-10,5"}, "seed 5 is listed twice"},
		{"overlapping ranges", []string{path, "--seeds", "20-30,1-20"}, "seed 20 is listed twice"},
		{"too many seeds", []string{path, "--seeds", "1-20000000"}, "more than 10000000 seeds"},
		{"a shard past the last", []string{path, "--seeds", "1-4", "--shard", "3/3"}, `--shard "3/3": want I/N with 0 <= I < N`},
		{"zero shards", []string{path, "--seeds", "1-4", "--shard", "0/0"}, "want I/N"},
		{"a shard that is not I/N", []string{path, "--seeds", "1-4", "--shard", "1"}, "want I/N"},
		{"no runs at a time", []string{path, "--seeds", "1-4", "--parallel", "0"}, "--parallel 0: want 1 to 1024"},
		{"a machine per seed at once", []string{path, "--seeds", "1-4", "--parallel", "100000"}, "--parallel 100000: want 1 to 1024"},
		{"a missing file", []string{filepath.Join(dir, "nope.yaml"), "--seeds", "1"}, "nope.yaml"},
		{"an --out that cannot be created", []string{path, "--seeds", "1", "-o", filepath.Join(dir, "no", "r.jsonl")}, "--out: "},
		{"an --out that is the scenario", []string{path, "--seeds", "1", "-o", path}, "--out: " + path + " is the scenario file"},
		{"no file", []string{"--seeds", "1"}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(append([]string{"campaign"}, tt.args...)...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "simkern: ") || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and a message with %q", code, stdout, stderr, tt.stderr)
			}
		})
	}
}

func TestCampaignJSON(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path, out := filepath.Join(dir, "flaky.yaml"), filepath.Join(dir, "r.jsonl")
	code, stdout, stderr := cli("campaign", path, "--seeds", "1-12", "--json", "--out", out)
	if code != 1 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if file, _ := os.ReadFile(out); string(file) != stdout {
		t.Errorf("--out wrote something other than --json printed:\n%s", golden.FirstDiff(stdout, string(file)))
	}
	results, sum := readResultLines(t, stdout)
	if len(results) != 12 {
		t.Fatalf("%d seed lines, want 12", len(results))
	}
	for i, r := range results {
		end := runOutcome(t, path, "--seed", fmt.Sprint(r.Seed))
		switch {
		case r.Event != "seed" || r.Seed != uint64(i+1):
			t.Errorf("line %d: event %q seed %d, want seed lines in seed order", i+1, r.Event, r.Seed)
		case r.Outcome != end.outcome || r.Exit != end.exit || r.Steps != end.steps:
			t.Errorf("seed %d: %s exit %d steps %d; simkern run says %+v", r.Seed, r.Outcome, r.Exit, r.Steps, end)
		case r.Code == "0xc2" && (len(r.Params) != 4 || r.Params[0] != "0x7"):
			t.Errorf("seed %d: params %v, want four, P1 0x7", r.Seed, r.Params)
		case r.Exit == 1 && len(r.Failures) == 0:
			t.Errorf("seed %d: exit 1 without failures", r.Seed)
		case r.Stream != "" || r.Nondeterministic:
			t.Errorf("seed %d: determinism fields without --check-determinism", r.Seed)
		}
	}
	data, _ := os.ReadFile(path)
	if sum.Event != "campaign" || sum.SHA256 != sha256Hex(data) || sum.File != path || sum.Scenario != "flaky" ||
		sum.Seeds != "1-12" || sum.Shard != "" || sum.Runs != 12 || sum.Exit != 1 || sum.Simkern != version {
		t.Errorf("campaign line: %+v", sum)
	}
	total := 0
	for _, row := range sum.Outcomes {
		total += row.Runs
		if row.Reproduce != fmt.Sprintf("simkern run %s --seed %d", path, row.First[0]) {
			t.Errorf("%s: reproduce %q", row.Outcome, row.Reproduce)
		}
	}
	if total != 12 || len(sum.Outcomes) < 2 {
		t.Errorf("%d outcome rows counting %d runs, want at least 2 counting 12", len(sum.Outcomes), total)
	}
}

func TestShardSeedsDealsPositions(t *testing.T) {
	for _, tc := range []struct {
		seeds  string
		n      uint64
		shards [][]uint64 // each shard's seeds, lowest first
	}{
		// Positions 0..7 hold seeds 1 2 3 4 5 10 20 21; shard i of 3
		// takes positions i, i+3, i+6.
		{"1-5, 10,0x14 - 21", 3, [][]uint64{{1, 4, 20}, {2, 5, 21}, {3, 10}}}, // spaces around - too
		// Positions follow the list's order, not the seeds': 10 11 12 1 2 3.
		{"10-12,1-3", 2, [][]uint64{{2, 10, 12}, {1, 3, 11}}},
		{"18446744073709551614-18446744073709551615", 1, [][]uint64{{1<<64 - 2, 1<<64 - 1}}},
		{"7", 3, [][]uint64{{7}, nil, nil}},
		{"1-4", 18446744073709551615, [][]uint64{{1}, {2}}},
	} {
		rs, err := parseSeeds(tc.seeds)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range tc.shards {
			sh := newShard(rs, uint64(i), tc.n)
			var got []uint64
			for k := range sh.count {
				got = append(got, sh.seed(k))
			}
			if !slices.Equal(got, want) {
				t.Errorf("--seeds %s shard %d/%d: %v, want %v", tc.seeds, i, tc.n, got, want)
			}
			for _, r := range rs {
				for seed := r.lo; ; seed++ {
					if sh.contains(seed) != slices.Contains(want, seed) {
						t.Errorf("--seeds %s shard %d/%d: contains(%d) = %v", tc.seeds, i, tc.n, seed, sh.contains(seed))
					}
					if seed == r.hi {
						break
					}
				}
			}
			if sh.contains(0) && !slices.Contains(want, 0) || sh.contains(1000) {
				t.Errorf("--seeds %s shard %d/%d holds a seed outside its list", tc.seeds, i, tc.n)
			}
		}
	}
}

// runLines runs a shard of a campaign with a results file and returns its
// seed lines, read back.
func runLines(t *testing.T, c *campaign, sh *shard) []seedResult {
	t.Helper()
	lines, err := newSpill()
	if err != nil {
		t.Fatal(err)
	}
	defer lines.close()
	if err := c.runShard(sh, &campaignSummary{}, lines); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := lines.writeTo(&buf); err != nil {
		t.Fatal(err)
	}
	var results []seedResult
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var r seedResult
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		r.key, _ = keyOf(r)
		results = append(results, r)
	}
	return results
}

// summarize fills sum's table from results, all at hand at once.
func summarize(sum *campaignSummary, results []seedResult) {
	t := newTally()
	for i := range results {
		t.add(&results[i])
	}
	t.fill(sum)
}

// fakeOutcome is a cheap stand-in for a run: seeds fall into a few
// classes, some with bugcheck parameters and failures to keep.
func fakeOutcome(_ *scenario.Scenario, seed, _ uint64, _ bool, _ io.Writer) (*scenario.Outcome, error) {
	switch seed % 7 {
	case 1:
		return &scenario.Outcome{Exit: 1, Steps: 3, Bugcheck: bugcheck.New(0xC2, 7, seed, 0x1234, 0)}, nil
	case 4:
		return &scenario.Outcome{Exit: 1, Steps: 2, Failures: []string{fmt.Sprintf("read at step %d", seed%3)}}, nil
	case 5:
		return &scenario.Outcome{Exit: 1, Steps: 3, Bugcheck: bugcheck.New(0x19, 0x21, seed, 0x28, seed*3)}, nil
	}
	return &scenario.Outcome{Steps: 3}, nil
}

// A campaign used to keep one result per seed (about 700 bytes each: 7 GB
// at the 10,000,000 a --seeds list allows; 280 bytes each for a results file). It
// now keeps nothing per seed, with or without a results file; its table is
// the one its seed lines give, and the lines come in seed order, for any
// list and shard.
func TestCampaignKeepsNothingPerSeed(t *testing.T) {
	for _, tc := range []struct {
		seeds string
		i, n  uint64
	}{
		{"1-2000", 0, 1},
		{"500-900,1-100,5000", 0, 1},
		{"1-1000,3000-3500", 2, 7},
		{"18446744073709551610-18446744073709551615", 1, 2},
		{"5", 1, 2}, // an empty shard
	} {
		rs, err := parseSeeds(tc.seeds)
		if err != nil {
			t.Fatal(err)
		}
		sh := newShard(rs, tc.i, tc.n)
		c := &campaign{run: fakeOutcome, parallel: 3}
		results := runLines(t, c, sh)
		if len(results) != sh.count || !slices.IsSortedFunc(results, func(a, b seedResult) int { return cmp.Compare(a.Seed, b.Seed) }) {
			t.Errorf("--seeds %s --shard %d/%d: %d seed lines, sorted %v; want %d in seed order", tc.seeds, tc.i, tc.n, len(results),
				slices.IsSortedFunc(results, func(a, b seedResult) int { return cmp.Compare(a.Seed, b.Seed) }), sh.count)
		}
		want := &campaignSummary{File: "f.yaml", Seeds: tc.seeds}
		summarize(want, results)
		got := &campaignSummary{File: "f.yaml", Seeds: tc.seeds}
		if err := c.runShard(sh, got, nil); err != nil {
			t.Fatal(err)
		}
		var a, b strings.Builder
		printTable(&a, want)
		printTable(&b, got)
		if a.String() != b.String() || got.Exit != want.Exit || got.Runs != sh.count {
			t.Errorf("--seeds %s --shard %d/%d: the tally's table differs from the results':\n%s\nwant:\n%s", tc.seeds, tc.i, tc.n, b.String(), a.String())
		}
	}

	for _, withLines := range []bool{false, true} {
		keepsNothing(t, withLines)
	}
}

// A seed that runs long holds the results after it, which wait their turn
// in the results file: the other workers stop aheadLimit seeds a worker
// past it instead of running the whole campaign while it runs.
func TestCampaignWaitsForASlowSeed(t *testing.T) {
	const parallel = 2
	ahead := uint64(aheadLimit * parallel)
	farAhead := make(chan struct{})
	slow := func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		switch seed {
		case 1:
			select {
			case <-farAhead:
				t.Errorf("seed %d started while seed 1 ran", 1+ahead)
			case <-time.After(200 * time.Millisecond):
			}
		case 1 + ahead:
			close(farAhead)
		}
		return fakeOutcome(s, seed, maxSteps, json, out)
	}
	rs, _ := parseSeeds(fmt.Sprintf("1-%d", 4*ahead))
	c := &campaign{run: slow, parallel: parallel}
	results := runLines(t, c, newShard(rs, 0, 1))
	for k, r := range results {
		if r.Seed != uint64(k)+1 {
			t.Fatalf("line %d is seed %d, want %d", k, r.Seed, k+1)
		}
	}
	if len(results) != int(4*ahead) {
		t.Errorf("%d seed lines, want %d", len(results), 4*ahead)
	}
}

// A campaign that stops starts no seed after it, lets the seeds under
// way finish, and counts a prefix of its seeds: here seed 10 stops it
// while seeds 9 to 11 run, and it counts 1 to 11.
func TestCampaignStopsAfterTheRunsUnderWay(t *testing.T) {
	const parallel = 3
	stop := make(chan struct{})
	var started sync.WaitGroup
	started.Add(parallel)
	var mu sync.Mutex
	var ran []uint64
	run := func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		mu.Lock()
		ran = append(ran, seed)
		mu.Unlock()
		if seed >= 9 && seed <= 11 {
			started.Done()
			started.Wait() // all three are under way
			if seed == 10 {
				close(stop)
			}
			<-stop // none ends before the stop
		}
		return fakeOutcome(s, seed, maxSteps, json, out)
	}
	rs, _ := parseSeeds("1-1000")
	var notices bytes.Buffer
	c := &campaign{run: run, parallel: parallel, stop: stop, notices: &notices}
	results := runLines(t, c, newShard(rs, 0, 1))
	if len(results) != 11 {
		t.Fatalf("%d seeds counted, want 11 (those under way when it stopped finish)", len(results))
	}
	for k, r := range results {
		if r.Seed != uint64(k)+1 {
			t.Fatalf("line %d is seed %d, want %d", k, r.Seed, k+1)
		}
	}
	if slices.Max(ran) != 11 {
		t.Errorf("seeds %v ran; none after 11 should have started", ran)
	}
	if !strings.Contains(notices.String(), "interrupted") {
		t.Errorf("no notice that the campaign stops: %q", notices.String())
	}
}

// keepsNothing checks the live heap once nearly every seed of a big
// campaign has run, against before.
func keepsNothing(t *testing.T, withLines bool) {
	t.Helper()
	const n = 300_000
	var calls atomic.Int64
	var before, late runtime.MemStats
	measure := func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		if calls.Add(1) == n-10 {
			runtime.GC()
			runtime.ReadMemStats(&late)
		}
		return fakeOutcome(s, seed, maxSteps, json, out)
	}
	rs, _ := parseSeeds(fmt.Sprintf("1-%d", n))
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := &campaign{run: measure, parallel: 2}
	sum := &campaignSummary{File: "f.yaml"}
	var lines *spill
	if withLines {
		var err error
		if lines, err = newSpill(); err != nil {
			t.Fatal(err)
		}
		defer lines.close()
	}
	if err := c.runShard(newShard(rs, 0, 1), sum, lines); err != nil {
		t.Fatal(err)
	}
	if grew := int64(late.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("with a results file %v: the live heap grew by %d bytes over %d seeds: %d bytes a seed", withLines, grew, n, grew/n)
	}
	if sum.Runs != n {
		t.Errorf("%d runs counted, want %d", sum.Runs, n)
	}
}

// A pagefile the host cannot create is the host's failure, not the
// file's: run and campaign both exit 1, naming the pagefile (or, for a
// results file, the temporary file that holds its lines first), and so
// is any failure of the host in a run.
func TestHostFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")
	t.Setenv("TMPDIR", filepath.Join(dir, "missing"))
	results := filepath.Join(dir, "results.jsonl")
	if err := os.WriteFile(results, []byte("an earlier campaign's results\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"run", path}, {"campaign", path, "--seeds", "1-3"}, {"campaign", path, "--seeds", "1-3", "-o", results},
		{"campaign", path, "--seeds", "1-3", "-o", filepath.Join(dir, "new.jsonl")}} {
		want := "simkern: pagefile: "
		switch {
		case slices.Contains(args, "-o"):
			want = "simkern: a temporary file for the results: "
		case args[0] == "campaign":
			want = "simkern: seed 1: pagefile: " // the lowest seed that failed, to run alone
		}
		code, _, stderr := cli(args...)
		if code != 1 || !strings.HasPrefix(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %s...", args, code, stderr, want)
		}
	}
	// A run that fails in the host's way once the temporary results file
	// is there: the host's error again.
	t.Setenv("TMPDIR", dir)
	defer func(f runFunc) { campaignRun = f }(campaignRun)
	campaignRun = func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		if seed == 2 {
			return nil, hostError{errors.New("pagefile: the disk is full")}
		}
		return runSeed(s, seed, maxSteps, json, out)
	}
	for _, out := range []string{results, filepath.Join(dir, "new.jsonl")} {
		if code, _, stderr := cli("campaign", path, "--seeds", "1-3", "-o", out); code != 1 || stderr != "simkern: seed 2: pagefile: the disk is full\n" {
			t.Errorf("-o %s, a run failing: exit %d, stderr %q; want exit 1 and the run's error", out, code, stderr)
		}
	}
	// The failed campaigns left the earlier results file as it was, and
	// no file of their own (new.jsonl is gone again).
	if data, err := os.ReadFile(results); err != nil || string(data) != "an earlier campaign's results\n" {
		t.Errorf("the results file holds %q (%v) after a failed campaign, want it untouched", data, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%s holds %d files after a failed campaign, want the scenario and the results", dir, len(entries))
	}
	// A directory is refused before anything runs.
	if code, _, stderr := cli("campaign", path, "--seeds", "1-3", "-o", dir); code != 2 || !strings.Contains(stderr, "is a directory") {
		t.Errorf("--out DIR: exit %d, stderr %q; want 2, refused before any run", code, stderr)
	}
}

// failingWriter is standard output on a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestReportWriteFailureExitsOne: a report that cannot be written is the
// host's failure, whatever the run's outcome: exit 1, saying so. (A run
// exited 0 with its report lost, a campaign --json 2, as if the command
// line were wrong.)
func TestReportWriteFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")
	for _, args := range [][]string{{"run", path, "--seed", "1"}, {"run", path, "--json"}, {"campaign", path, "--seeds", "1-3"},
		{"campaign", path, "--seeds", "1-3", "--json"}} {
		var stderr bytes.Buffer
		if code := run(args, failingWriter{}, &stderr); code != 1 || !strings.Contains(stderr.String(), "simkern: writing standard output: no space left on device") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and a message", args, code, stderr.String())
		}
	}
}

// TestMergeOfShardsOfAnyCount: shards of different counts that together
// hold every seed make the whole campaign again, byte for byte, in any
// order of the files (eleven shards included: as text, "10/11" sorted
// before "2/11"); the header names the shards of a list that is not whole,
// in number order; and the scenario path comes from the first shard of
// the first list, however the others spelled it.
func TestMergeOfShardsOfAnyCount(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")
	const seeds = "1-30"
	_, whole, _ := cli("campaign", path, "--seeds", seeds)
	shardFile := func(shard, scenarioPath string) string {
		out := filepath.Join(dir, strings.ReplaceAll(shard, "/", "of")+".jsonl")
		if code, _, stderr := cli("campaign", scenarioPath, "--seeds", seeds, "--shard", shard, "-o", out); code == 2 {
			t.Fatalf("shard %s: %s", shard, stderr)
		}
		return out
	}
	merge := func(files ...string) string {
		t.Helper()
		code, out, stderr := cli(append([]string{"campaign", "merge"}, files...)...)
		if code == 2 {
			t.Fatalf("merge %v: %s", files, stderr)
		}
		return out
	}
	var eleven []string
	for i := 10; i >= 0; i-- {
		eleven = append(eleven, shardFile(fmt.Sprintf("%d/11", i), path))
	}
	// The second half of 0/2 is 1/4 and 3/4; 1/4 spells the path otherwise.
	mixed := []string{shardFile("3/4", path), shardFile("1/4", dir+string(filepath.Separator)+"."+string(filepath.Separator)+"flaky.yaml"), shardFile("0/2", path)}
	for _, tc := range []struct {
		name  string
		files []string
	}{
		{"eleven shards, last first", eleven},
		{"shards of two and four", mixed},
		{"shards of two and four, the other way", []string{mixed[2], mixed[0], mixed[1]}},
	} {
		if got := merge(tc.files...); got != whole {
			t.Errorf("%s: the merge differs from the whole campaign:\n%s", tc.name, golden.FirstDiff(whole, got))
		}
	}
	if got := firstLine(merge(eleven[0], eleven[8])); !strings.HasSuffix(got, "seeds 1-30  shard 2/11,10/11") {
		t.Errorf("a merge of shards 10/11 and 2/11 has the header %q, want it to name 2/11,10/11", got)
	}

	// Merging in stages: a merge of some shards, written with --json,
	// merges again with the rest.
	four := []string{shardFile("0/4", path), mixed[1], shardFile("2/4", path), mixed[0]}
	stage := filepath.Join(dir, "stage.jsonl")
	_, part, _ := cli("campaign", "merge", "--json", four[0], four[2])
	if err := os.WriteFile(stage, []byte(part), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := merge(stage, four[1], four[3]); got != whole {
		t.Errorf("a merge of 0/4 and 2/4, merged with 1/4 and 3/4, differs from the whole:\n%s", golden.FirstDiff(whole, got))
	}
	if got := firstLine(merge(stage, four[3])); !strings.HasSuffix(got, "seeds 1-30  shard 0/4,2/4,3/4") {
		t.Errorf("a partial merge merged with 3/4 has the header %q, want it to name 0/4,2/4,3/4", got)
	}
	// A partial merge of two lists names the shards with their list, and
	// merges again.
	other := filepath.Join(dir, "other.jsonl")
	if code, _, stderr := cli("campaign", path, "--seeds", "31-40", "-o", other); code == 2 {
		t.Fatal(stderr)
	}
	_, part2, _ := cli("campaign", "merge", "--json", four[0], other)
	if err := os.WriteFile(stage, []byte(part2), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := firstLine(merge(four[0], other)); !strings.HasSuffix(got, "seeds 1-30,31-40  shard 1-30:0/4") {
		t.Errorf("a merge of 0/4 of 1-30 and all of 31-40 has the header %q, want the shard named with its list", got)
	}
	// It does not merge again: the shards it was made of do.
	if code, _, stderr := cli("campaign", "merge", stage, four[1]); code != 2 || !strings.Contains(stderr, "is a partial merge of several seed lists (shard 1-30:0/4), which does not merge again") {
		t.Errorf("merging a partial merge of two lists again: exit %d, stderr %q; want 2 and a message", code, stderr)
	}
	if got := firstLine(merge(append(four, other)...)); !strings.HasSuffix(got, "seeds 1-30,31-40") {
		t.Errorf("the four shards of 1-30 and all of 31-40 merge to the header %q, want seeds 1-30,31-40 and no shard", got)
	}
}

func TestRangesCount(t *testing.T) {
	for _, tc := range []struct {
		rs   []seedRange
		want uint64
	}{
		{nil, 0},
		{[]seedRange{{1, 20}, {21, 30}}, 30},
		{[]seedRange{{21, 30}, {1, 20}, {1, 20}}, 30},
		{[]seedRange{{5, 10}, {1, 7}}, 10},
		{[]seedRange{{1, 1<<64 - 1}, {5, 9}}, 1<<64 - 1},
	} {
		if got := rangesCount(tc.rs); got != tc.want {
			t.Errorf("rangesCount(%v) = %d, want %d", tc.rs, got, tc.want)
		}
	}
}

// TestDeterminismLineSaysItIsCut: the Determinism line names the first 20
// seeds that ran differently, and "..." says there were more.
func TestDeterminismLineSaysItIsCut(t *testing.T) {
	for _, tc := range []struct {
		seeds int
		tail  string
	}{
		{20, ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n"},
		{25, ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 ...\n"},
	} {
		sum := &campaignSummary{Runs: tc.seeds, Determinism: true, Exit: 1}
		for i := range tc.seeds {
			sum.Nondeterministic = append(sum.Nondeterministic, uint64(i+1))
		}
		var b bytes.Buffer
		printTable(&b, sum)
		want := fmt.Sprintf("Determinism: %d seeds printed a different event stream the second time%s", tc.seeds, tc.tail)
		if !strings.Contains(b.String(), want) {
			t.Errorf("%d seeds: no line %q in\n%s", tc.seeds, want, b.String())
		}
	}
}

// countingReader counts what is read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestKdStopsWhenItsOutputFails: a debugger session whose output cannot
// be written stops reading commands (it read on to the end of its input,
// or forever from `yes`), and exits 1.
func TestKdStopsWhenItsOutputFails(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	in := &countingReader{r: strings.NewReader(strings.Repeat("!vm\n", 1<<18))}
	var stderr bytes.Buffer
	code := runWithInput([]string{"kd", filepath.Join(dir, "flaky.yaml")}, in, failingWriter{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "writing standard output") || in.n > 64<<10 {
		t.Errorf("exit %d, stderr %q, %d bytes of commands read; want 1, a message, and the session over at once", code, stderr.String(), in.n)
	}
}

// TestMain lets a test run this test binary as simkern itself: with
// SIMKERN_AS_MAIN set, it is main, with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("SIMKERN_AS_MAIN") != "" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Exit(runWithInput(args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// simkernProcess is a command that runs this test binary as simkern with
// args (TestMain), for tests that need a process of its own: a signal, a
// pipe, a FIFO.
func simkernProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	cmd.Env = append(os.Environ(), "SIMKERN_AS_MAIN=1")
	return cmd
}

// TestInterruptedCampaignRemovesItsFile: a campaign stopped by SIGINT
// removes the --out file it created (it used to leave it empty), keeps
// one that was there before, and exits 130 as a shell reports SIGINT.
func TestInterruptedCampaignRemovesItsFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "slow.yaml")
	writeFiles(t, dir, map[string]string{"slow.yaml": "name: slow\nsteps:\n  - workload: {ops: 20000, pool: PagedPool, sizes: 16-1024, live: 100}\n"})
	for _, existed := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprintf("r-%v.jsonl", existed))
		if existed {
			if err := os.WriteFile(out, []byte("earlier\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := simkernProcess("campaign", path, "--seeds", "1-1000000", "--parallel", "1", "-o", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The file is opened before the first run.
		for i := 0; ; i++ {
			if _, err := os.Stat(out); err == nil {
				break
			}
			if i == 1000 {
				cmd.Process.Kill()
				t.Fatalf("the campaign never opened %s", out)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // well into the runs
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("existed %v: exit %d (%v), want 130", existed, code, err)
		}
		if !strings.Contains(stderr.String(), "no results written") {
			t.Errorf("existed %v: stderr %q does not say that no results were written", existed, stderr.String())
		}
		data, statErr := os.ReadFile(out)
		switch {
		case existed && string(data) != "earlier\n":
			t.Errorf("the earlier file holds %q after the interrupt, want it as it was", data)
		case !existed && statErr == nil:
			t.Errorf("the interrupted campaign left %s (%d bytes)", out, len(data))
		}
	}
}

// An interrupted campaign prints the table of the seeds that ran, says
// it was interrupted, and exits 130; a second interrupt ends a run that
// takes long at once.
func TestInterruptedCampaignPrintsWhatRan(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"slow.yaml":   "name: slow\nsteps:\n  - workload: {ops: 20000, pool: PagedPool, sizes: 16-1024, live: 100}\n",
		"slower.yaml": "name: slower\nsteps:\n  - workload: {ops: 100000000, pool: PagedPool, sizes: 16-1024, live: 100}\n",
	})
	interrupt := func(cmd *exec.Cmd, after time.Duration) {
		t.Helper()
		time.Sleep(after)
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
	}
	// start returns once the campaign has opened its --out file: it
	// takes an interrupt as a stop by then.
	start := func(file string, stdout, stderr *bytes.Buffer) *exec.Cmd {
		t.Helper()
		out := filepath.Join(dir, file+".jsonl")
		cmd := simkernProcess("campaign", filepath.Join(dir, file), "--seeds", "1-1000000", "--parallel", "2", "-o", out)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if _, err := os.Stat(out); err == nil {
				return cmd
			}
			if i == 1000 {
				cmd.Process.Kill()
				t.Fatalf("the campaign never opened %s", out)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	var stdout, stderr bytes.Buffer
	cmd := start("slow.yaml", &stdout, &stderr)
	interrupt(cmd, 500*time.Millisecond)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\n%s%s", code, stdout.String(), stderr.String())
	}
	m := regexp.MustCompile(`completed  yes +(\d+)  1 2 3 4 5 .*\n\nOutcome: interrupted after the first (\d+) of 1000000 seeds; 0 of the (\d+) runs failed \(exit 130\)\n$`).FindStringSubmatch(stdout.String())
	if m == nil || m[1] != m[2] || m[2] != m[3] {
		t.Errorf("the table does not count the seeds that ran:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "interrupt again to stop at once") {
		t.Errorf("stderr %q does not say how to stop at once", stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	cmd = start("slower.yaml", &stdout, &stderr)
	interrupt(cmd, 0)
	interrupt(cmd, 300*time.Millisecond)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 130 || stdout.Len() != 0 {
			t.Errorf("exit %d, stdout %q; want 130 and nothing", code, stdout.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("a second interrupt did not end the campaign")
	}
}

// TestReproduceLinesAreQuoted: a scenario path with a space is quoted in
// run's reproduce line and in campaign's, so either pastes as is.
func TestReproduceLinesAreQuoted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my scenarios")
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	path := filepath.Join(dir, "flaky.yaml")
	quoted := "'" + path + "'"
	if _, out, _ := cli("run", path, "--seed", "3"); !strings.Contains(out, "reproduce: simkern run "+quoted+" --seed 3\n") {
		t.Errorf("run's reproduce line does not quote the path:\n%s", out)
	}
	if _, out, _ := cli("campaign", path, "--seeds", "1-5"); !strings.Contains(out, "simkern run "+quoted+" --seed ") {
		t.Errorf("campaign's reproduce commands do not quote the path:\n%s", out)
	}
	// --pooltag changes the report's words: the reproduce line keeps it.
	tags := filepath.Join(dir, "my tags.txt")
	writeFiles(t, dir, map[string]string{"my tags.txt": "Flky - flaky.sys - mine\n"})
	if _, out, _ := cli("run", path, "--seed", "3", "--pooltag", tags); !strings.Contains(out, "reproduce: simkern run "+quoted+" --pooltag '"+tags+"' --seed 3\n") {
		t.Errorf("run's reproduce line lacks --pooltag:\n%s", out)
	}
}

// merge reads each file twice; a pipe, which cannot be read again, is
// copied as it is read the first time, so a results file piped in merges
// as the file itself does.
func TestMergeReadsAPipe(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no /dev/stdin on Windows")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	results := filepath.Join(dir, "r.jsonl")
	if code, _, stderr := cli("campaign", filepath.Join(dir, "flaky.yaml"), "--seeds", "1-20", "--shard", "1/2", "-o", results); code == 2 {
		t.Fatal(stderr)
	}
	data, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := cli("campaign", "merge", results, "--json")
	cmd := simkernProcess("campaign", "merge", "/dev/stdin", "--json")
	cmd.Stdin = bytes.NewReader(data) // through a pipe: not a *os.File
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); cmd.ProcessState.ExitCode() == 2 {
		t.Fatalf("merge /dev/stdin: %v: %s", err, errOut.String())
	}
	if got := out.String(); got != want || want == "" {
		t.Errorf("merging the file through a pipe printed\n%s\nwant\n%s", got, want)
	}
}

// A temporary results file that cannot take the lines is the host's
// failure, found before any results file is replaced.
func TestSpillFailureIsTheHosts(t *testing.T) {
	lines, err := newSpill()
	if err != nil {
		t.Fatal(err)
	}
	defer lines.close()
	lines.f.File.Close() // as if the disk went away
	rs, _ := parseSeeds("1-3")
	err = (&campaign{run: fakeOutcome, parallel: 1}).runShard(newShard(rs, 0, 1), &campaignSummary{}, lines)
	if !errors.As(err, new(hostError)) || !strings.Contains(err.Error(), "the temporary results file") {
		t.Errorf("runShard with a broken temporary file: %v, want the host's error naming it", err)
	}
}

// Once done has failed, no result is handed to it any more, whichever
// worker ends next: seed 6 ends first and waits for 5, whose done fails,
// and then seed 7's worker ends, and must not hand on 6.
func TestRunEachStopsAtTheFirstError(t *testing.T) {
	stop := errors.New("stop")
	slow := func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		switch seed {
		case 5:
			time.Sleep(10 * time.Millisecond)
		case 7:
			time.Sleep(40 * time.Millisecond)
		}
		return fakeOutcome(s, seed, maxSteps, json, out)
	}
	for range 3 {
		calls := 0
		c := &campaign{run: slow, parallel: 4}
		err := c.runEach(1000, func(k int) uint64 { return uint64(k) }, func(r *seedResult) error {
			calls++
			if r.Seed == 5 {
				return stop
			}
			return nil
		})
		if err != stop || calls != 6 {
			t.Fatalf("runEach returned %v after %d calls of done; want stop after 6", err, calls)
		}
	}
}

// --out through a symbolic link whose target does not exist yet writes the
// target, as opening it always did; the link is the user's and is never
// removed.
func TestOutThroughADanglingLink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink("target.jsonl", link); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli("campaign", filepath.Join(dir, "flaky.yaml"), "--seeds", "1-3", "-o", link); code == 2 {
		t.Fatalf("-o through a dangling link: exit 2, %s", stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "target.jsonl"))
	if err != nil || !strings.Contains(string(data), `"event":"campaign"`) {
		t.Errorf("the link's target holds %q (%v), want the results", data, err)
	}
}

// TestCampaignErrorNamesTheLowestSeed: a run that stops the campaign (a
// run-time limit, the host) is named by its seed, and when several fail
// it is the lowest, however the workers were scheduled: seed 5 fails
// first here, seed 3 a little later.
func TestCampaignErrorNamesTheLowestSeed(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	defer func(f runFunc) { campaignRun = f }(campaignRun)
	campaignRun = func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
		switch seed {
		case 3:
			time.Sleep(50 * time.Millisecond)
			return nil, usageError{errors.New("the run passed a limit")}
		case 5:
			return nil, usageError{errors.New("the run passed a limit")}
		}
		return runSeed(s, seed, maxSteps, json, out)
	}
	code, _, stderr := cli("campaign", filepath.Join(dir, "flaky.yaml"), "--seeds", "1-8", "--parallel", "4")
	if want := "simkern: seed 3: the run passed a limit\n"; code != 2 || stderr != want {
		t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
	}
}
