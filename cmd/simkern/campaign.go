package main

// simkern campaign: one scenario, many seeds. docs/campaigns.md is the
// user's guide; this comment is the design.
//
// The scenario is parsed once. Each seed is a Session of its own (its own
// machine, pagefile and generators); runs share only the read-only
// *scenario.Scenario, so they go in parallel, at most --parallel machines
// alive at a time. Results are sorted by seed before anything is printed,
// so the output never depends on --parallel or on which run ended first.
//
//	parseSeeds  "1-100,200"   -> ranges; no backwards range, no seed twice
//	shardSeeds  ranges, I/N   -> the seeds whose position p has p mod N == I
//	runAll      seeds         -> one seedResult per seed (a pool of workers)
//	summarize   seedResults   -> one row per outcome class: count, first seeds
//	runTally    a shard       -> the same rows, keeping nothing per seed
//	                             (the table alone: no --json, no --out)
//	minimize    failing rows  -> the shortest --steps that fails the same way
//
// A results file is the --json stream: one "seed" line per run, then one
// "campaign" line. merge reads such files, checks that they belong
// together and goes through summarize again, so the table of a campaign and
// the table of its merged shards are the same text.

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"simkern/bugcheck"
	"simkern/scenario"
)

const (
	maxCampaignSeeds = 10_000_000 // seeds one --seeds list may name
	firstSeedsShown  = 5          // seeds listed per row of the table
	noStepLimit      = math.MaxUint64
)

// seedResult is one run: a "seed" line of --json and of a results file.
// Field names are kept across versions (docs/campaigns.md).
type seedResult struct {
	Event    string   `json:"event"` // "seed"
	Seed     uint64   `json:"seed"`
	Outcome  string   `json:"outcome"` // the class: completed, bugcheck 0xC2/0x7, expectation failed
	Exit     int      `json:"exit"`    // the exit status `simkern run` gives this seed
	Steps    uint64   `json:"steps"`
	Code     string   `json:"code,omitempty"`   // bugcheck code, "0xc2"
	Params   []string `json:"params,omitempty"` // its four parameters
	Failures []string `json:"failures,omitempty"`

	// With --check-determinism: the SHA-256 of the first run's --json
	// stream, and whether the second run's differed.
	Stream           string `json:"stream_sha256,omitempty"`
	Nondeterministic bool   `json:"nondeterministic,omitempty"`

	key classKey // from the fields above, by keyOf
}

// classKey is an outcome class; rows of the table are one per key.
// Invariant: code and sub are zero unless kind is classBugcheck.
type classKey struct {
	kind   int // classCompleted, classBugcheck or classFailed
	code   uint32
	sub    uint64 // the sub-code (P1 of 0xC2, P4 of 0xC1...), if the code has one
	hasSub bool
	exit   int // a bugcheck the scenario expects exits 0: a row of its own
}

const (
	classCompleted = iota // exit 0, no bugcheck
	classBugcheck         // any bugcheck, expected or not
	classFailed           // exit 1 without a bugcheck: an expectation failed
)

func (k classKey) String() string {
	switch k.kind {
	case classCompleted:
		return "completed"
	case classBugcheck:
		if k.hasSub {
			return fmt.Sprintf("bugcheck 0x%X/0x%X", k.code, k.sub)
		}
		return fmt.Sprintf("bugcheck 0x%X", k.code)
	}
	return "expectation failed"
}

func (k classKey) compare(o classKey) int {
	return cmp.Or(cmp.Compare(k.kind, o.kind), cmp.Compare(k.code, o.code), cmp.Compare(k.sub, o.sub), cmp.Compare(k.exit, o.exit))
}

// keyOf derives r's class from its exit, code and parameters.
func keyOf(r seedResult) (classKey, error) {
	k := classKey{kind: classCompleted, exit: r.Exit}
	if r.Exit != scenario.ExitOK && r.Exit != scenario.ExitFailed {
		return k, fmt.Errorf("seed %d: exit %d: want 0 or 1", r.Seed, r.Exit)
	}
	switch {
	case r.Code != "":
		code, err := strconv.ParseUint(r.Code, 0, 32)
		var p [4]uint64
		if err == nil && len(r.Params) != 4 {
			err = errors.New("want 4 params")
		}
		for i := 0; err == nil && i < 4; i++ {
			p[i], err = strconv.ParseUint(r.Params[i], 0, 64)
		}
		if err != nil {
			return k, fmt.Errorf("seed %d: bad bugcheck: %v", r.Seed, err)
		}
		k.kind, k.code = classBugcheck, uint32(code)
		k.sub, k.hasSub = bugcheck.Code(code).Subtype(p)
	case r.Exit != scenario.ExitOK:
		k.kind = classFailed
	}
	return k, nil
}

// resultOf records how seed's run ended.
func resultOf(seed uint64, o *scenario.Outcome) seedResult {
	r := seedResult{Event: "seed", Seed: seed, Exit: o.Exit, Steps: o.Steps, Failures: o.Failures}
	if b := o.Bugcheck; b != nil {
		r.Code = fmt.Sprintf("0x%x", uint32(b.Code))
		for _, p := range b.P {
			r.Params = append(r.Params, fmt.Sprintf("0x%x", p))
		}
	}
	r.key, _ = keyOf(r) // the fields came from an Outcome: well formed
	r.Outcome = r.key.String()
	return r
}

// firstFailure is the first expectation r failed, or "".
func (r *seedResult) firstFailure() string {
	if len(r.Failures) == 0 {
		return ""
	}
	return r.Failures[0]
}

// campaignSummary is the last line of --json and of a results file.
type campaignSummary struct {
	Event       string       `json:"event"` // "campaign"
	Simkern     string       `json:"simkern"`
	Scenario    string       `json:"scenario"`
	File        string       `json:"file"`
	SHA256      string       `json:"sha256"`
	Seeds       string       `json:"seeds"`           // the --seeds list
	Shard       string       `json:"shard,omitempty"` // "I/N"; "" for a whole campaign
	Runs        int          `json:"runs"`
	Determinism bool         `json:"check_determinism"`
	Outcomes    []outcomeRow `json:"outcomes"`

	Nondeterministic []uint64 `json:"nondeterministic,omitempty"`
	Exit             int      `json:"exit"`
}

// outcomeRow is one outcome class of the table.
type outcomeRow struct {
	Outcome   string   `json:"outcome"`
	Exit      int      `json:"exit"`
	Runs      int      `json:"runs"`
	First     []uint64 `json:"first_seeds"`
	Reproduce string   `json:"reproduce"`

	// With --minimize, on rows that exit 1: the fewest steps of the first
	// seed's run that fail the same way, and the command that runs them.
	MinimalSteps     *uint64 `json:"minimal_steps,omitempty"`
	MinimalReproduce string  `json:"minimal_reproduce,omitempty"`

	key   classKey
	first *seedResult
}

// summarize fills sum's rows, runs and exit status from results.
func summarize(sum *campaignSummary, results []seedResult) {
	t := newTally()
	for i := range results {
		t.add(&results[i])
	}
	t.fill(sum)
}

// tally counts results one at a time, in any order, keeping per outcome
// class only its count, its smallest seeds and the result of the smallest:
// memory does not grow with the number of seeds, and the rows come out
// the same whatever order the runs ended in.
type tally struct {
	rows             map[classKey]*outcomeRow
	runs             int
	nondeterministic []uint64
	exit             int
}

func newTally() *tally { return &tally{rows: map[classKey]*outcomeRow{}, exit: scenario.ExitOK} }

func (t *tally) add(r *seedResult) {
	t.runs++
	w := t.rows[r.key]
	if w == nil {
		w = &outcomeRow{Outcome: r.key.String(), Exit: r.Exit, key: r.key}
		t.rows[r.key] = w
	}
	w.Runs++
	if w.first == nil || r.Seed < w.first.Seed {
		first := *r
		w.first = &first
	}
	if i, _ := slices.BinarySearch(w.First, r.Seed); i < firstSeedsShown {
		w.First = slices.Insert(w.First, i, r.Seed)
		w.First = w.First[:min(len(w.First), firstSeedsShown)]
	}
	if r.Nondeterministic {
		t.nondeterministic = append(t.nondeterministic, r.Seed)
	}
	if r.Exit != scenario.ExitOK || r.Nondeterministic {
		t.exit = scenario.ExitFailed
	}
}

// fill writes the tally into sum: rows by class, nondeterministic seeds
// in order.
func (t *tally) fill(sum *campaignSummary) {
	sum.Runs, sum.Outcomes, sum.Nondeterministic, sum.Exit = t.runs, []outcomeRow{}, nil, t.exit
	for _, w := range t.rows {
		w.Reproduce = fmt.Sprintf("simkern run %s --seed %d", scenario.ShellQuote(sum.File), w.first.Seed)
		sum.Outcomes = append(sum.Outcomes, *w)
	}
	slices.SortFunc(sum.Outcomes, func(a, b outcomeRow) int { return a.key.compare(b.key) })
	if len(t.nondeterministic) > 0 {
		sum.Nondeterministic = slices.Sorted(slices.Values(t.nondeterministic))
	}
}

// seedRange is the seeds lo to hi, both included.
type seedRange struct{ lo, hi uint64 }

// parseSeeds reads a --seeds list: "5", "1-10000", "1-100,200,300-310".
func parseSeeds(spec string) ([]seedRange, error) {
	bad := func(format string, a ...any) error {
		return usageError{fmt.Errorf("--seeds %q: %s", spec, fmt.Sprintf(format, a...))}
	}
	var rs []seedRange
	var total uint64
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		from, to, isRange := strings.Cut(part, "-")
		lo, err := parseSeed(from)
		hi := lo
		if err == nil && isRange {
			hi, err = parseSeed(to)
		}
		switch {
		case part == "":
			return nil, bad("an empty entry; write seeds like 1-1000 or 1-100,200,300-310")
		case isRange && (from == "" || to == ""):
			return nil, bad("%q: a range needs a seed on each side of the -", part)
		case err != nil:
			return nil, bad("%q: %v", part, err)
		case hi < lo:
			return nil, bad("%q runs backwards", part)
		case hi-lo >= maxCampaignSeeds || total+hi-lo+1 > maxCampaignSeeds:
			return nil, bad("more than %d seeds; split the campaign and merge the results", maxCampaignSeeds)
		}
		total += hi - lo + 1
		rs = append(rs, seedRange{lo, hi})
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b seedRange) int { return cmp.Compare(a.lo, b.lo) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].lo <= sorted[i-1].hi {
			return nil, bad("seed %d is listed twice", sorted[i].lo)
		}
	}
	return rs, nil
}

// parseSeed reads one seed, in decimal or 0x hex as --seed takes it.
func parseSeed(s string) (uint64, error) { return parseNumber(s, "a seed") }

// parseNumber reads a whole number from 0 to 2^64-1 written in decimal or
// 0x hex; what names it in the error.
func parseNumber(s, what string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		n, err = strconv.ParseUint(h, 16, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not %s: want a whole number from 0 to 2^64-1, decimal or 0x hex", s, what)
	}
	return n, nil
}

// numberFlag is a number flag (--seed, --steps) read as --seeds reads each
// seed: decimal or 0x hex (pflag's own unsigned flag would take 010 as
// octal); what names it in errors.
type numberFlag struct {
	n    uint64
	what string
}

func (f *numberFlag) Set(s string) error {
	n, err := parseNumber(s, f.what)
	f.n = n
	return err
}

func (f *numberFlag) String() string { return strconv.FormatUint(f.n, 10) }
func (f *numberFlag) Type() string   { return "uint64" }

// parseShard reads --shard I/N; "" is the whole campaign, 0/1.
func parseShard(s string) (i, n uint64, err error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.ParseUint(a, 10, 64)
	n, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || n == 0 || i >= n {
		return 0, 0, usageError{fmt.Errorf("--shard %q: want I/N with 0 <= I < N, such as 0/4 (shards count from 0)", s)}
	}
	return i, n, nil
}

// shardSeeds lists the seeds of rs whose position in the list, counted
// from 0, is i mod n.
func shardSeeds(rs []seedRange, i, n uint64) []uint64 {
	sh := newShard(rs, i, n)
	out := make([]uint64, sh.count)
	for k := range out {
		out[k] = sh.seed(k)
	}
	return out
}

// shard is the seeds of rs at positions i, i+n, i+2n, ... without listing
// them: seed(k) finds the k-th, so a campaign of millions of seeds costs
// no memory per seed.
type shard struct {
	rs    []seedRange
	start []uint64 // start[j]: the list position of rs[j].lo
	i, n  uint64
	count int
}

func newShard(rs []seedRange, i, n uint64) *shard {
	sh := &shard{rs: rs, i: i, n: n}
	var total uint64 // at most maxCampaignSeeds: parseSeeds checks
	for _, r := range rs {
		sh.start = append(sh.start, total)
		total += r.hi - r.lo + 1
	}
	if total > i {
		sh.count = int((total-i-1)/n + 1)
	}
	return sh
}

// seed returns the k-th seed of the shard, 0 <= k < count.
func (sh *shard) seed(k int) uint64 {
	pos := sh.i + uint64(k)*sh.n
	j, found := slices.BinarySearch(sh.start, pos)
	if !found {
		j--
	}
	return sh.rs[j].lo + (pos - sh.start[j])
}

// runFunc runs s under seed for at most maxSteps steps, its report going
// to out (JSON Lines when json). Tests swap in their own.
type runFunc func(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error)

func runSeed(s *scenario.Scenario, seed, maxSteps uint64, json bool, out io.Writer) (*scenario.Outcome, error) {
	o, err := scenario.Run(s, scenario.Options{Seed: seed, SeedSet: true, JSON: json, Quiet: !json, Version: version, Out: out,
		Steps: maxSteps, StepsSet: maxSteps != noStepLimit})
	if err != nil {
		return nil, hostError{err} // the file loaded: what fails is the host's
	}
	if o.Host != nil {
		return nil, hostError{o.Host}
	}
	return o, nil
}

// campaign runs one scenario under many seeds.
type campaign struct {
	s           *scenario.Scenario
	run         runFunc
	parallel    int       // >= 1
	determinism bool      // run each seed twice and compare the event streams
	progress    io.Writer // where the progress bar goes; nil for none
}

// runAll runs every seed, parallel at a time, and returns the results
// sorted by seed. The error is the host's (a pagefile it cannot create).
func (c *campaign) runAll(seeds []uint64) ([]seedResult, error) {
	results := make([]seedResult, len(seeds))
	strs := stringSet{}
	err := c.runEach(len(seeds), func(k int) uint64 { return seeds[k] }, func(k int, r seedResult) {
		strs.shrink(&r)
		results[k] = r
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(results, func(a, b seedResult) int { return cmp.Compare(a.Seed, b.Seed) })
	return results, nil
}

// stringSet keeps one copy of each string a campaign's results repeat
// (outcomes, codes, parameters, failure messages), so that a million seed
// lines held for a results file cost their own fields, not a million
// copies of one message. Past maxStrings it adds no more.
type stringSet map[string]string

const maxStrings = 1 << 16

func (s stringSet) one(x string) string {
	if y, ok := s[x]; ok {
		return y
	}
	if len(s) < maxStrings {
		s[x] = x
	}
	return x
}

// shrink makes r's strings the set's copies.
func (s stringSet) shrink(r *seedResult) {
	r.Outcome, r.Code = s.one(r.Outcome), s.one(r.Code)
	for i := range r.Params {
		r.Params[i] = s.one(r.Params[i])
	}
	for i := range r.Failures {
		r.Failures[i] = s.one(r.Failures[i])
	}
}

// runEach runs the seeds seedAt(0) to seedAt(n-1), parallel at a time,
// and hands each result to done, one call at a time, in no set order.
func (c *campaign) runEach(n int, seedAt func(int) uint64, done func(k int, r seedResult)) error {
	var bar *progressbar.ProgressBar
	if c.progress != nil && n > 0 {
		bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(c.progress),
			progressbar.OptionSetDescription("seeds"), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	var (
		next     atomic.Int64
		stop     atomic.Bool
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(c.parallel, n) {
		wg.Go(func() {
			for !stop.Load() {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				r, err := c.runOne(seedAt(k))
				mu.Lock()
				if err != nil {
					firstErr = cmp.Or(firstErr, err)
					stop.Store(true)
				} else {
					done(k, r)
				}
				mu.Unlock()
				if err != nil {
					return
				}
				if bar != nil {
					_ = bar.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if bar != nil {
		_ = bar.Finish()
	}
	return firstErr
}

// runTally runs the shard's seeds and counts their outcomes without
// keeping a result per seed: what the table needs, in memory that does
// not grow with the number of seeds.
func (c *campaign) runTally(sh *shard, sum *campaignSummary) error {
	if os.Getenv("GOGC") == "" {
		// Each run allocates a machine and drops it; with nothing kept per
		// seed the live heap is small, and the default target would
		// collect every few runs, slowing a campaign by half.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	t := newTally()
	if err := c.runEach(sh.count, sh.seed, func(_ int, r seedResult) { t.add(&r) }); err != nil {
		return err
	}
	t.fill(sum)
	return nil
}

// runOne runs one seed, twice with --check-determinism.
func (c *campaign) runOne(seed uint64) (seedResult, error) {
	if !c.determinism {
		o, err := c.run(c.s, seed, noStepLimit, false, io.Discard)
		if err != nil {
			return seedResult{}, err
		}
		return resultOf(seed, o), nil
	}
	var r seedResult
	var digests [2]string
	for i := range digests {
		h := sha256.New()
		o, err := c.run(c.s, seed, noStepLimit, true, h)
		if err != nil {
			return seedResult{}, err
		}
		if i == 0 {
			r = resultOf(seed, o)
		}
		digests[i] = hex.EncodeToString(h.Sum(nil))
	}
	r.Stream, r.Nondeterministic = digests[0], digests[0] != digests[1]
	return r, nil
}

// minimize finds, for first's run, the fewest steps after which the run
// fails the same way: the same class and, for a failed expectation, the
// same first failure. Failing is monotone in the number of steps for
// anything a step reports (a prefix of a run is the same run, stopped
// earlier), so a binary search finds the shortest; for a failure only the
// end of the run can show, it finds a short one.
func (c *campaign) minimize(first *seedResult) (uint64, error) {
	same := func(k uint64) (bool, error) {
		o, err := c.run(c.s, first.Seed, k, false, io.Discard)
		if err != nil {
			return false, err
		}
		r := resultOf(first.Seed, o)
		return r.key == first.key && (r.key.kind == classBugcheck || r.firstFailure() == first.firstFailure()), nil
	}
	lo, hi := uint64(0), first.Steps
	if ok, err := same(hi); err != nil || !ok {
		return 0, cmp.Or(err, fmt.Errorf("seed %d did not fail the same way a second time; try --check-determinism", first.Seed))
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := same(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi, nil
}

func campaignCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		seeds, shard, outPath  string
		parallel               int
		jsonOut, minimize, det bool
	)
	cmd := &cobra.Command{
		Use:   "campaign FILE.yaml --seeds LIST",
		Short: "Run a scenario once per seed and count the outcomes",
		Long: "Run a scenario once per seed, in parallel, and print a table of the outcomes: how many\n" +
			"runs completed, bugchecked (by code and sub-code) or failed an expectation, the first seeds of each\n" +
			"and the command that reproduces one. --shard I/N runs one slice of the seeds; `simkern campaign\n" +
			"merge` joins the slices' results (--out or --json). Exit status: 0 every run ended as the\n" +
			"scenario expects, 1 some did not (or ran differently twice), 2 a bad file or command line.\n" +
			"See docs/campaigns.md.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("seeds") {
				return usageError{errors.New("--seeds is required, e.g. --seeds 1-1000")}
			}
			rs, err := parseSeeds(seeds)
			if err != nil {
				return err
			}
			si, sn, err := parseShard(shard)
			if err != nil {
				return err
			}
			if shard = ""; sn > 1 {
				shard = fmt.Sprintf("%d/%d", si, sn) // as merge names it
			}
			if parallel < 1 {
				return usageError{fmt.Errorf("--parallel %d: want at least 1", parallel)}
			}
			s, err := load(args)
			if err != nil {
				return err
			}
			// The results file is opened first, so a bad path costs no
			// runs, but emptied only when the results are ready, so a
			// campaign that fails leaves an earlier file as it was (and
			// removes one it created).
			var out *outFile
			if outPath != "" {
				if out, err = openOut(outPath, inputsOf(s, s.File, "")); err != nil {
					return usageError{fmt.Errorf("--out: %w", err)}
				}
				defer out.abandon()
			}
			c := &campaign{s: s, run: runSeed, parallel: parallel, determinism: det}
			if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				c.progress = stderr
			}
			sum := &campaignSummary{Event: "campaign", Simkern: version, Scenario: s.Name, File: s.File,
				SHA256: s.Hash, Seeds: seeds, Shard: shard, Determinism: det}
			var results []seedResult // one per seed: only for a results file
			if out != nil || jsonOut {
				if results, err = c.runAll(shardSeeds(rs, si, sn)); err != nil {
					return err
				}
				summarize(sum, results)
			} else if err := c.runTally(newShard(rs, si, sn), sum); err != nil {
				return err
			}
			if minimize {
				for i := range sum.Outcomes {
					w := &sum.Outcomes[i]
					if w.Exit == scenario.ExitOK {
						continue
					}
					k, err := c.minimize(w.first)
					if err != nil {
						return err
					}
					w.MinimalSteps, w.MinimalReproduce = &k, fmt.Sprintf("%s --steps %d", w.Reproduce, k)
				}
			}
			if out != nil {
				if err := out.replace(func(w io.Writer) error { return writeResults(w, sum, results) }); err != nil {
					return hostError{fmt.Errorf("--out: %w", err)}
				}
			}
			return printCampaign(stdout, jsonOut, sum, results)
		},
	}
	f := cmd.Flags()
	f.StringVar(&seeds, "seeds", "", "the seeds to run: 5, 1-10000 or 1-100,200,300-310")
	f.IntVar(&parallel, "parallel", runtime.NumCPU(), "runs at a time")
	f.StringVar(&shard, "shard", "", "run only shard I of N (0 <= I < N): the seeds at positions I, I+N, I+2N, ...")
	f.BoolVar(&jsonOut, "json", false, "print one JSON object per seed, then a summary (a results file)")
	f.StringVarP(&outPath, "out", "o", "", "also write the results file (what --json prints) to this file, for merge")
	f.BoolVar(&minimize, "minimize", false, "for each failing outcome, find the fewest steps that still fail the same way")
	f.BoolVar(&det, "check-determinism", false, "run every seed twice and fail if the two event streams differ")
	cmd.AddCommand(mergeCmd(stdout))
	return cmd
}

// printCampaign prints the table, or with asJSON the results file's lines, and
// returns the campaign's exit status.
func printCampaign(w io.Writer, asJSON bool, sum *campaignSummary, results []seedResult) error {
	if asJSON {
		if err := writeResults(w, sum, results); err != nil {
			return hostError{err}
		}
	} else {
		printTable(w, sum)
	}
	if sum.Exit != scenario.ExitOK {
		return exitError{sum.Exit}
	}
	return nil
}

func writeResults(w io.Writer, sum *campaignSummary, results []seedResult) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range results {
		if err := enc.Encode(&results[i]); err != nil {
			return err
		}
	}
	if err := enc.Encode(sum); err != nil {
		return err
	}
	return bw.Flush()
}

// printTable prints the campaign's outcomes as a table.
func printTable(w io.Writer, sum *campaignSummary) {
	fmt.Fprintf(w, "simkern %s  campaign  scenario %q  file %s  sha256 %s  seeds %s", sum.Simkern, sum.Scenario, sum.File, scenario.ShortHash(sum.SHA256), sum.Seeds)
	if sum.Shard != "" {
		fmt.Fprintf(w, "  shard %s", sum.Shard)
	}
	fmt.Fprintf(w, "\n\n")
	if sum.Runs == 0 {
		fmt.Fprintf(w, "Outcome: no seeds to run (exit %d)\n", sum.Exit)
		return
	}
	seedList := func(seeds []uint64) string {
		s := make([]string, len(seeds))
		for i, n := range seeds {
			s[i] = strconv.FormatUint(n, 10)
		}
		return strings.Join(s, " ")
	}
	cells := [][]string{{"outcome", "expected", "runs", "first seeds", "reproduce"}}
	failed := 0
	for _, r := range sum.Outcomes {
		expected := "yes"
		if r.Exit != scenario.ExitOK {
			expected, failed = "no", failed+r.Runs
		}
		cells = append(cells, []string{r.Outcome, expected, strconv.Itoa(r.Runs), seedList(r.First), r.Reproduce})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len(s))
		}
	}
	for _, c := range cells {
		fmt.Fprintf(w, "%-*s  %-*s  %*s  %-*s  %s\n", width[0], c[0], width[1], c[1], width[2], c[2], width[3], c[3], c[4])
	}
	fmt.Fprintln(w)
	for _, r := range sum.Outcomes {
		if r.MinimalSteps != nil {
			fmt.Fprintf(w, "Minimized: %s after %d of %d steps: %s\n", r.Outcome, *r.MinimalSteps, r.first.Steps, r.MinimalReproduce)
		}
	}
	switch {
	case !sum.Determinism:
	case len(sum.Nondeterministic) == 0:
		fmt.Fprintf(w, "Determinism: every seed ran twice and printed the same event stream both times\n")
	default:
		const listed = 20 // seeds the line names; "..." says there are more
		seeds := seedList(sum.Nondeterministic[:min(len(sum.Nondeterministic), listed)])
		if len(sum.Nondeterministic) > listed {
			seeds += " ..."
		}
		fmt.Fprintf(w, "Determinism: %s printed a different event stream the second time: %s\n",
			scenario.Plural(uint64(len(sum.Nondeterministic)), "seed"), seeds)
	}
	switch {
	case sum.Exit == scenario.ExitOK:
		fmt.Fprintf(w, "Outcome: %s, each ended as the scenario expects (exit %d)\n", scenario.Plural(uint64(sum.Runs), "run"), sum.Exit)
	default:
		fmt.Fprintf(w, "Outcome: %d of %s failed", failed, scenario.Plural(uint64(sum.Runs), "run"))
		if n := len(sum.Nondeterministic); n > 0 {
			fmt.Fprintf(w, ", %s ran differently twice", scenario.Plural(uint64(n), "seed"))
		}
		fmt.Fprintf(w, " (exit %d)\n", sum.Exit)
	}
}

func mergeCmd(stdout io.Writer) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "merge RESULTS...",
		Short: "Join the results files of a campaign's shards into one table",
		Long: "Read results files written by `simkern campaign --out` (or --json) and print the table the\n" +
			"whole campaign would have printed. Files of different scenarios or simkern versions, and\n" +
			"files that share a seed, are refused with exit status 2.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			sum, results, err := mergeFiles(args)
			if err != nil {
				return usageError{err}
			}
			return printCampaign(stdout, jsonOut, sum, results)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the merged results file instead of the table")
	return cmd
}

// mergeFiles reads results files that belong to one campaign. The order
// of the files does not matter: they are put in the order of their seed
// lists and shards, and the first of that order names the scenario file.
func mergeFiles(paths []string) (*campaignSummary, []seedResult, error) {
	type part struct {
		path   string
		sum    *campaignSummary
		i, n   uint64   // its shard; 0, 0 for a merge of shards
		shards []string // its shards' names, "I/N"
		lo     uint64   // the first seed of its list
	}
	var (
		parts   []part
		results []seedResult
		from    = map[uint64]string{} // seed -> file
	)
	for _, path := range paths {
		sum, rs, err := readResults(path)
		if err != nil {
			return nil, nil, err
		}
		// Before the seeds: files of two scenarios that share seeds are
		// two scenarios first.
		if len(parts) > 0 {
			f := parts[0]
			if sum.SHA256 != f.sum.SHA256 {
				return nil, nil, fmt.Errorf("%s and %s are campaigns of different scenarios (sha256 %s and %s)", f.path, path, scenario.ShortHash(f.sum.SHA256), scenario.ShortHash(sum.SHA256))
			} else if sum.Simkern != f.sum.Simkern {
				return nil, nil, fmt.Errorf("%s and %s come from different simkern versions (%s and %s), whose runs may differ", f.path, path, f.sum.Simkern, sum.Simkern)
			}
		}
		list, err := parseSeeds(sum.Seeds)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		// A shard holds exactly its seeds; a merge of some shards of one
		// list (its shard names them, "0/4,2/4") holds seeds of its list.
		// One of several lists ("1-20:0/4+2/4") cannot be told apart
		// again: its shards are merged instead.
		if strings.Contains(sum.Shard, ":") {
			return nil, nil, fmt.Errorf("%s is a partial merge of several seed lists (shard %s), which does not merge again: merge the shards it was made of", path, sum.Shard)
		}
		i, n, err := parseShard(sum.Shard)
		shards := []string{fmt.Sprintf("%d/%d", i, n)}
		if err == nil {
			err = checkShardSeeds(rs, newShard(list, i, n))
		} else {
			i, n, shards = 0, 0, strings.Split(sum.Shard, ",")
			err = checkListSeeds(rs, list)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		for _, r := range rs {
			if other, ok := from[r.Seed]; ok {
				return nil, nil, fmt.Errorf("seed %d is in both %s and %s: merge each shard once", r.Seed, other, path)
			}
			from[r.Seed] = path
		}
		parts = append(parts, part{path, sum, i, n, shards, list[0].lo})
		results = append(results, rs...)
	}
	slices.SortFunc(parts, func(a, b part) int {
		return cmp.Or(cmp.Compare(a.lo, b.lo), strings.Compare(a.sum.Seeds, b.sum.Seeds), cmp.Compare(a.n, b.n), cmp.Compare(a.i, b.i))
	})
	f := parts[0].sum
	all := true // every file checked determinism
	var (
		specs  []string
		seeds  []seedRange             // every list's, for whether the files hold them all
		runs   = map[string]int{}      // seeds list -> the runs merged of it
		shards = map[string][]string{} // seeds list -> the shards merged of it
	)
	for _, p := range parts {
		if _, ok := runs[p.sum.Seeds]; !ok {
			specs = append(specs, p.sum.Seeds)
			list, _ := parseSeeds(p.sum.Seeds)
			seeds = append(seeds, list...)
		}
		runs[p.sum.Seeds] += p.sum.Runs
		shards[p.sum.Seeds] = append(shards[p.sum.Seeds], p.shards...)
		all = all && p.sum.Determinism
	}
	slices.SortFunc(results, func(a, b seedResult) int { return cmp.Compare(a.Seed, b.Seed) })
	sum := &campaignSummary{Event: "campaign", Simkern: f.Simkern, Scenario: f.Scenario, File: f.File, SHA256: f.SHA256,
		Seeds: strings.Join(specs, ","), Determinism: all}
	// Files that hold every seed of their lists are whole, whatever
	// shards brought them; else each list that is not names its shards,
	// after the list when there are several ("1-20:0/4+2/4"), so a later
	// merge does not take them for shards of all the lists.
	var labels []string
	if uint64(len(results)) != rangesCount(seeds) {
		for _, spec := range specs {
			list, _ := parseSeeds(spec)
			if runs[spec] == newShard(list, 0, 1).count {
				continue
			}
			if len(specs) == 1 {
				labels = append(labels, sortShards(shards[spec])...)
			} else {
				labels = append(labels, spec+":"+strings.Join(sortShards(shards[spec]), "+"))
			}
		}
	}
	sum.Shard = strings.Join(labels, ",")
	summarize(sum, results)
	return sum, results, nil
}

// sortShards puts shard names ("I/N") in number order (as text, "10/11"
// would sort before "2/11") and drops repeats.
func sortShards(shards []string) []string {
	slices.SortFunc(shards, func(a, b string) int {
		ai, an, _ := parseShard(a)
		bi, bn, _ := parseShard(b)
		return cmp.Or(cmp.Compare(an, bn), cmp.Compare(ai, bi), strings.Compare(a, b))
	})
	return slices.Compact(shards)
}

// rangesCount returns how many seeds the ranges hold together, a seed in
// two of them counted once.
func rangesCount(rs []seedRange) uint64 {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b seedRange) int { return cmp.Compare(a.lo, b.lo) })
	var n, next uint64 // next: the first seed not yet counted
	for i, r := range rs {
		lo := r.lo
		if i > 0 && lo < next {
			lo = next
		}
		if r.hi >= lo {
			n += r.hi - lo + 1
			if r.hi == math.MaxUint64 {
				break // every later range is inside this one
			}
			next = r.hi + 1
		}
	}
	return n
}

// checkListSeeds reports a results file holding a seed its list does not.
func checkListSeeds(rs []seedResult, list []seedRange) error {
	sorted := slices.Clone(list) // the ranges of a list do not overlap: parseSeeds sees to it
	slices.SortFunc(sorted, func(a, b seedRange) int { return cmp.Compare(a.lo, b.lo) })
	for _, r := range rs {
		k := sort.Search(len(sorted), func(k int) bool { return sorted[k].hi >= r.Seed })
		if k == len(sorted) || r.Seed < sorted[k].lo {
			return fmt.Errorf("seed %d is not one of its list's seeds", r.Seed)
		}
	}
	return nil
}

// checkShardSeeds reports a results file whose seed lines are not exactly
// the seeds of its shard.
func checkShardSeeds(rs []seedResult, sh *shard) error {
	if len(rs) != sh.count {
		return fmt.Errorf("%d seed lines for a shard of %d seeds", len(rs), sh.count)
	}
	want := make(map[uint64]bool, sh.count)
	for k := range sh.count {
		want[sh.seed(k)] = true
	}
	for _, r := range rs {
		if !want[r.Seed] {
			return fmt.Errorf("seed %d is not one of its shard's seeds", r.Seed)
		}
	}
	return nil
}

// readResults reads one results file: "seed" lines, then a "campaign" line.
func readResults(path string) (*campaignSummary, []seedResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var (
		sum     *campaignSummary
		results []seedResult
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for line := 1; sc.Scan(); line++ {
		var ev struct{ Event string }
		err := json.Unmarshal(sc.Bytes(), &ev)
		switch {
		case err != nil:
		case sum != nil:
			err = errors.New("a line after the campaign line")
		case ev.Event == "seed":
			var r seedResult
			if err = json.Unmarshal(sc.Bytes(), &r); err == nil {
				if r.key, err = keyOf(r); err == nil && r.Outcome != r.key.String() {
					err = fmt.Errorf("seed %d: outcome %q, but its exit and code say %q", r.Seed, r.Outcome, r.key)
				}
				results = append(results, r)
			}
		case ev.Event == "campaign":
			sum = &campaignSummary{}
			err = json.Unmarshal(sc.Bytes(), sum)
		default:
			err = fmt.Errorf("event %q: want seed or campaign", ev.Event)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: not a campaign results file: %v", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if sum == nil || sum.Runs != len(results) {
		return nil, nil, fmt.Errorf("%s: incomplete: a results file ends with a campaign line counting its seed lines", path)
	}
	return sum, results, nil
}
