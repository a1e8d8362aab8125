package main

// simkern campaign: one scenario, many seeds. docs/campaigns.md is the
// user's guide; this comment is the design.
//
// The scenario is parsed once. Each seed is a Session of its own (its own
// machine, pagefile and generators); runs share only the read-only
// *scenario.Scenario, so they go in parallel, at most --parallel machines
// alive at a time. Workers take the seeds lowest first, and their results
// are handed on in seed order, so the output never depends on --parallel
// or on which run ended first. Nothing is kept per seed:
//
//	parseSeeds  "1-100,200"   -> ranges; no backwards range, no seed twice
//	newShard    ranges, I/N   -> the seeds whose position p has p mod N == I,
//	                             found by arithmetic, lowest first
//	runEach     a shard       -> one seedResult per seed, in seed order; a
//	                             result waits for those before it, and a
//	                             worker waits rather than run far ahead
//	tally       seedResults   -> one row per outcome class: count, first seeds
//	spill       seedResults   -> the results file's seed lines, in a
//	                             temporary file until the campaign line is known
//	minimize    failing rows  -> the shortest --steps that fails the same way
//
// A results file is the --json stream: one "seed" line per run in seed
// order, then one "campaign" line. merge (merge.go) reads such files,
// checks that they belong together and counts them with a tally again, so
// the table of a campaign and the table of its merged shards are the same
// text.

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

	// Planned is set when the campaign was interrupted: the seeds it was
	// to run, of which the table counts the first Runs.
	Planned int `json:"-"`
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
	s = strings.TrimSpace(s) // " 1 - 5" reads as "1-5"
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

// shard is the seeds of a --seeds list at positions i, i+n, i+2n, ...
// (counting from 0 in the list's order), without listing them: seed(k)
// finds the k-th lowest and contains tells whether a seed is one, so a
// campaign of millions of seeds costs no memory per seed.
type shard struct {
	parts []shardPart // one per range of the list, lowest seeds first
	n     uint64
	count int
}

// shardPart is what a shard takes of one range: count seeds, n apart,
// from first.
type shardPart struct {
	r      seedRange
	first  uint64
	count  int
	before int // the seeds the shard takes from the parts before
}

func newShard(rs []seedRange, i, n uint64) *shard {
	sh := &shard{n: n}
	var pos uint64 // the list position of r.lo; at most maxCampaignSeeds (parseSeeds checks)
	for _, r := range rs {
		size := r.hi - r.lo + 1
		p := shardPart{r: r}
		// skip: from r.lo to the first position that is i mod n.
		skip := i - pos%n
		if i < pos%n {
			skip = n - (pos%n - i)
		}
		if skip < size {
			p.first = r.lo + skip
			p.count = int((size-1-skip)/n + 1)
		}
		sh.parts = append(sh.parts, p)
		pos += size
	}
	slices.SortFunc(sh.parts, func(a, b shardPart) int { return cmp.Compare(a.r.lo, b.r.lo) })
	for j := range sh.parts {
		sh.parts[j].before = sh.count
		sh.count += sh.parts[j].count
	}
	return sh
}

// seed returns the shard's k-th lowest seed, 0 <= k < count.
func (sh *shard) seed(k int) uint64 {
	j := sort.Search(len(sh.parts), func(j int) bool { return sh.parts[j].before+sh.parts[j].count > k })
	p := sh.parts[j]
	return p.first + uint64(k-p.before)*sh.n
}

// contains reports whether seed is one of the shard's.
func (sh *shard) contains(seed uint64) bool {
	j := sort.Search(len(sh.parts), func(j int) bool { return sh.parts[j].r.hi >= seed })
	if j == len(sh.parts) {
		return false
	}
	p := sh.parts[j]
	return p.count > 0 && seed >= p.first && (seed-p.first)%sh.n == 0
}

// campaignRun runs each seed of `simkern campaign`. Tests swap in their
// own.
var campaignRun runFunc = runSeed

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
	if o.Limit != nil {
		return nil, usageError{o.Limit}
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

	// stop, once closed, ends the campaign early: no seed is started
	// after it, and the seeds under way finish (nil: never). notices is
	// told when that happens.
	stop    <-chan struct{}
	notices io.Writer
}

// stopped reports whether c.stop is closed.
func (c *campaign) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// runShard runs the shard's seeds and counts their outcomes into sum's
// table, keeping per outcome class only its count and first seeds. With
// lines, each seed's line of the results file goes to it as well, in
// seed order. Memory does not grow with the number of seeds.
func (c *campaign) runShard(sh *shard, sum *campaignSummary, lines *spill) error {
	if os.Getenv("GOGC") == "" {
		// Each run allocates a machine and drops it; with nothing kept per
		// seed the live heap is small, and the default target would
		// collect every few runs, slowing a campaign by half.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	t := newTally()
	err := c.runEach(sh.count, sh.seed, func(r *seedResult) error {
		t.add(r)
		if lines != nil {
			if err := lines.add(r); err != nil {
				return hostError{fmt.Errorf("the temporary results file: %w", err)}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.fill(sum)
	if lines != nil {
		if err := lines.finish(); err != nil {
			return hostError{err}
		}
	}
	return nil
}

// maxParallel bounds --parallel: each run holds a whole machine, so a
// mistyped 100000 would ask for a hundred thousand of them at once.
const maxParallel = 1024

// runEach runs the seeds seedAt(0) to seedAt(n-1), parallel at a time,
// and hands each result to done in that order, one call at a time. A
// result that ends before those ahead of it waits for them, so no worker
// starts a seed more than aheadLimit seeds per worker past the first
// unfinished one: what waits stays small. An error from a run or from done stops the
// campaign; runEach returns the one of the lowest k, which does not depend
// on which worker was quicker: every k below it was taken before it, and
// has finished by the time runEach returns. Once c.stop closes, no seed
// starts: those under way finish, and done gets the results that follow
// the last one it got without a gap, so the seeds done are still the
// first ones.
func (c *campaign) runEach(n int, seedAt func(int) uint64, done func(r *seedResult) error) error {
	var bar *progressbar.ProgressBar
	if c.progress != nil && n > 0 {
		bar = progressbar.NewOptions(n, progressbar.OptionSetWriter(c.progress),
			progressbar.OptionSetDescription("seeds"), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	ahead := min(min(c.parallel, n)*aheadLimit, n)
	var (
		mu       sync.Mutex
		moved    = sync.NewCond(&mu) // next moved on, or the campaign stopped
		waiting  = make([]seedResult, ahead)
		ended    = make([]bool, ahead) // ended[k%ahead]: waiting[k%ahead] holds k's result
		next     int                   // the first k not handed to done
		taken    int                   // the first k no worker has taken
		firstErr error
		errAt    = n // the k of firstErr
		wg       sync.WaitGroup
		finished = make(chan struct{})
	)
	go func() { // wakes the waiting workers when the campaign stops
		select {
		case <-c.stop:
			if bar != nil {
				_ = bar.Clear()
			}
			fmt.Fprintln(c.notices, "simkern: interrupted: the runs under way finish first (interrupt again to stop at once)")
			mu.Lock()
			moved.Broadcast()
			mu.Unlock()
		case <-finished:
		}
	}()
	defer close(finished)
	for range min(c.parallel, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				for firstErr == nil && !c.stopped() && taken < n && taken >= next+ahead {
					moved.Wait()
				}
				if firstErr != nil || c.stopped() || taken >= n {
					mu.Unlock()
					return
				}
				k := taken
				taken++
				mu.Unlock()

				r, err := c.runOne(seedAt(k))

				mu.Lock()
				at := k
				if err == nil {
					waiting[k%ahead], ended[k%ahead] = r, true
					for ; next < n && ended[next%ahead] && err == nil && firstErr == nil; next++ {
						at, err = next, done(&waiting[next%ahead])
						waiting[next%ahead], ended[next%ahead] = seedResult{}, false
					}
				}
				if err != nil && at < errAt {
					firstErr, errAt = err, at
				}
				moved.Broadcast()
				mu.Unlock()
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

// aheadLimit is how many seeds, per worker, may run past the first
// unfinished one.
const aheadLimit = 64

// runOne runs one seed, twice with --check-determinism. An error names
// the seed, to be run alone.
func (c *campaign) runOne(seed uint64) (seedResult, error) {
	if !c.determinism {
		o, err := c.run(c.s, seed, noStepLimit, false, io.Discard)
		if err != nil {
			return seedResult{}, fmt.Errorf("seed %d: %w", seed, err)
		}
		return resultOf(seed, o), nil
	}
	var r seedResult
	var digests [2]string
	for i := range digests {
		h := sha256.New()
		o, err := c.run(c.s, seed, noStepLimit, true, h)
		if err != nil {
			return seedResult{}, fmt.Errorf("seed %d: %w", seed, err)
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
			return false, fmt.Errorf("seed %d, %d steps: %w", first.Seed, k, err)
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
			if parallel < 1 || parallel > maxParallel {
				return usageError{fmt.Errorf("--parallel %d: want 1 to %d (each run is a machine in memory, and runs beyond the processors only wait)", parallel, maxParallel)}
			}
			s, err := load(args)
			if err != nil {
				return err
			}
			// The results file is opened first, so a bad path costs no
			// runs, but emptied only when the results are ready, so a
			// campaign that fails leaves an earlier file as it was (and
			// removes one it created).
			// Before the results file: an interrupt from now on stops
			// the campaign with a table of what ran.
			stop, release := stopOnInterrupt()
			defer release()
			var out *outFile
			if outPath != "" {
				if out, err = openOut(outPath, inputsOf(s, s.File, "")); err != nil {
					return usageError{fmt.Errorf("--out: %w", err)}
				}
				defer out.abandon()
			}
			c := &campaign{s: s, run: campaignRun, parallel: parallel, determinism: det, stop: stop, notices: stderr}
			if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				c.progress = stderr
			}
			sum := &campaignSummary{Event: "campaign", Simkern: version, Scenario: s.Name, File: s.File,
				SHA256: s.Hash, Seeds: seeds, Shard: shard, Determinism: det}
			var lines *spill // the seed lines, only for a results file
			if out != nil || jsonOut {
				if lines, err = newSpill(); err != nil {
					return hostError{err}
				}
				defer lines.close()
			}
			sh := newShard(rs, si, sn)
			if err := c.runShard(sh, sum, lines); err != nil {
				return err
			}
			if release(); c.stopped() {
				// A part of the seeds is no campaign to merge or minimize:
				// only the table shows what ran.
				if jsonOut || out != nil {
					fmt.Fprintf(stderr, "simkern: the campaign was interrupted after %d of %d seeds: no results written\n", sum.Runs, sh.count)
				}
				if !jsonOut {
					sum.Planned = sh.count
					printTable(stdout, sum)
				}
				return exitError{130}
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
				if err := out.replace(func(w io.Writer) error { return writeResults(w, sum, lines) }); err != nil {
					return hostError{fmt.Errorf("--out: %w", err)}
				}
			}
			return printCampaign(stdout, jsonOut, sum, lines)
		},
	}
	f := cmd.Flags()
	f.StringVar(&seeds, "seeds", "", "the seeds to run: 5, 1-10000 or 1-100,200,300-310")
	f.IntVar(&parallel, "parallel", min(runtime.NumCPU(), maxParallel), "runs at a time")
	f.StringVar(&shard, "shard", "", "run only shard I of N (0 <= I < N): the seeds at positions I, I+N, I+2N, ...")
	f.BoolVar(&jsonOut, "json", false, "print one JSON object per seed, then a summary (a results file)")
	f.StringVarP(&outPath, "out", "o", "", "also write the results file (what --json prints) to this file, for merge")
	f.BoolVar(&minimize, "minimize", false, "for each failing outcome, find the fewest steps that still fail the same way")
	f.BoolVar(&det, "check-determinism", false, "run every seed twice and fail if the two event streams differ")
	cmd.AddCommand(mergeCmd(stdout))
	return cmd
}

// printCampaign prints the table, or with asJSON the results file, and
// returns the campaign's exit status.
func printCampaign(w io.Writer, asJSON bool, sum *campaignSummary, lines *spill) error {
	if asJSON {
		if err := writeResults(w, sum, lines); err != nil {
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

// writeResults writes a results file: the seed lines, then the campaign
// line.
func writeResults(w io.Writer, sum *campaignSummary, lines *spill) error {
	bw := bufio.NewWriter(w)
	if err := lines.writeTo(bw); err != nil {
		return err
	}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sum); err != nil {
		return err
	}
	return bw.Flush()
}

// spill keeps a results file's seed lines, in order, in a temporary file
// until the campaign line that ends them is known: held in memory, ten
// million of them would take gigabytes.
type spill struct {
	f   *tempFile
	w   *bufio.Writer
	enc *json.Encoder
}

func newSpill() (*spill, error) {
	f, err := newTempFile("simkern-results-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("a temporary file for the results: %w", err)
	}
	s := &spill{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	s.enc = json.NewEncoder(s.w)
	s.enc.SetEscapeHTML(false)
	return s, nil
}

// add writes r's seed line.
func (s *spill) add(r *seedResult) error { return s.enc.Encode(r) }

// finish writes out the lines still buffered. Done before a results file
// is replaced, it keeps a failure of the temporary file (a full disk) from
// emptying an earlier results file.
func (s *spill) finish() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("the temporary results file: %w", err)
	}
	return nil
}

// writeTo copies the lines, once finished, to w.
func (s *spill) writeTo(w io.Writer) error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("the temporary results file: %w", err)
	}
	_, err := io.Copy(w, s.f)
	return err
}

func (s *spill) close() { s.f.close() }

// tempFile is a temporary file that leaves nothing on disk: its name is
// removed as soon as it is made, or, where the host does not let an open
// file be removed, when it is closed.
type tempFile struct {
	*os.File
	removed bool
}

func newTempFile(pattern string) (*tempFile, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return nil, err
	}
	return &tempFile{File: f, removed: os.Remove(f.Name()) == nil}, nil
}

func (t *tempFile) close() {
	t.File.Close()
	if !t.removed {
		os.Remove(t.Name())
	}
}

// printTable prints the campaign's outcomes as a table.
func printTable(w io.Writer, sum *campaignSummary) {
	fmt.Fprintf(w, "simkern %s  campaign  scenario %q  file %s  sha256 %s  seeds %s", sum.Simkern, sum.Scenario, sum.File, scenario.ShortHash(sum.SHA256), sum.Seeds)
	if sum.Shard != "" {
		fmt.Fprintf(w, "  shard %s", sum.Shard)
	}
	fmt.Fprintf(w, "\n\n")
	switch {
	case sum.Runs == 0 && sum.Planned != 0:
		fmt.Fprintf(w, "Outcome: interrupted before a run ended (exit 130)\n")
		return
	case sum.Runs == 0:
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
	// A merge of shards some of which were not checked is not checked as a
	// whole, but the seeds that were found to differ are still named.
	switch {
	case !sum.Determinism && len(sum.Nondeterministic) == 0:
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
	case sum.Planned != 0:
		fmt.Fprintf(w, "Outcome: interrupted after the first %d of %d seeds; %d of the %s failed (exit 130)\n",
			sum.Runs, sum.Planned, failed, scenario.Plural(uint64(sum.Runs), "run"))
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
