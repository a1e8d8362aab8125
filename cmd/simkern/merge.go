package main

// simkern campaign merge: the results files of a campaign's shards, joined
// into the table the whole campaign would have printed.
//
// A results file lists its seeds in order, so the files are read twice
// and never held: once each, for its campaign line (its last) and to check
// that it is whole, in order and belongs with the others; then all
// together, their seed lines merged in seed order as each file's shard
// allows, counted into the table and, for --json, written out. Memory
// does not grow with the number of seeds. A file that cannot be read
// twice (a pipe) is copied to a temporary file as it is read the first
// time.

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"simkern/scenario"
)

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
			var lines *spill
			if jsonOut {
				var err error
				if lines, err = newSpill(); err != nil {
					return hostError{err}
				}
				defer lines.close()
			}
			sum, err := mergeFiles(args, lines)
			if err != nil {
				return err
			}
			return printCampaign(stdout, jsonOut, sum, lines)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the merged results file instead of the table")
	return cmd
}

// mergePart is one results file of a merge.
type mergePart struct {
	path   string
	arg    int          // its place on the command line
	rf     *resultsFile // open from the first reading to the end of the merge
	sum    *campaignSummary
	i, n   uint64            // its shard; 0, 0 for a merge of shards
	shards []string          // its shards' names, "I/N"
	lo     uint64            // the first seed of its list
	holds  func(uint64) bool // whether a seed is one of its shard's (or list's)
	whose  string            // "shard's" or "list's", for the error
}

// mergeFiles reads results files that belong to one campaign and counts
// their seeds into one table; with lines, it writes the merged seed lines
// there too, in seed order. The order of the files does not matter: they
// are put in the order of their seed lists and shards, and the first of
// that order names the scenario file. A mistake in the files is a
// usageError; one of the host's (lines cannot be written), a hostError.
func mergeFiles(paths []string, lines *spill) (*campaignSummary, error) {
	var parts []mergePart
	defer func() {
		for _, p := range parts {
			p.rf.close()
		}
	}()
	for i, path := range paths {
		p, err := readPart(path)
		if err != nil {
			return nil, err
		}
		p.arg = i
		parts = append(parts, p)
		// Before the seeds: files of two scenarios that share seeds are
		// two scenarios first.
		if f := parts[0]; len(parts) > 1 {
			if p.sum.SHA256 != f.sum.SHA256 {
				return nil, usageError{fmt.Errorf("%s and %s are campaigns of different scenarios (sha256 %s and %s)", f.path, path, scenario.ShortHash(f.sum.SHA256), scenario.ShortHash(p.sum.SHA256))}
			} else if p.sum.Simkern != f.sum.Simkern {
				return nil, usageError{fmt.Errorf("%s and %s come from different simkern versions (%s and %s), whose runs may differ", f.path, path, f.sum.Simkern, p.sum.Simkern)}
			} else if p.sum.Determinism != f.sum.Determinism {
				checked, not := f.path, path
				if p.sum.Determinism {
					checked, not = path, f.path
				}
				return nil, usageError{fmt.Errorf("%s ran its seeds twice (--check-determinism) and %s did not: merge files run alike, or no table could say what was checked", checked, not)}
			}
		}
	}
	slices.SortFunc(parts, func(a, b mergePart) int {
		return cmp.Or(cmp.Compare(a.lo, b.lo), strings.Compare(a.sum.Seeds, b.sum.Seeds), cmp.Compare(a.n, b.n), cmp.Compare(a.i, b.i))
	})
	f := parts[0].sum
	var (
		specs  []string
		seeds  []seedRange             // every list's, for whether the files hold them all
		runs   = map[string]int{}      // seeds list -> the runs merged of it
		shards = map[string][]string{} // seeds list -> the shards merged of it
		total  int
	)
	for _, p := range parts {
		if _, ok := runs[p.sum.Seeds]; !ok {
			specs = append(specs, p.sum.Seeds)
			list, _ := parseSeeds(p.sum.Seeds)
			seeds = append(seeds, list...)
		}
		runs[p.sum.Seeds] += p.sum.Runs
		shards[p.sum.Seeds] = append(shards[p.sum.Seeds], p.shards...)
		total += p.sum.Runs
	}
	t := newTally()
	if err := mergeSeeds(parts, t, lines); err != nil {
		return nil, err
	}
	if lines != nil {
		if err := lines.finish(); err != nil {
			return nil, hostError{err}
		}
	}
	sum := &campaignSummary{Event: "campaign", Simkern: f.Simkern, Scenario: f.Scenario, File: f.File, SHA256: f.SHA256,
		Seeds: strings.Join(specs, ","), Determinism: f.Determinism}
	// Files that hold every seed of their lists are whole, whatever
	// shards brought them; else each list that is not names its shards,
	// after the list when there are several ("1-20:0/4+2/4"), so a later
	// merge does not take them for shards of all the lists.
	var labels []string
	if uint64(total) != rangesCount(seeds) {
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
	t.fill(sum)
	return sum, nil
}

// readPart reads a results file through once: every line well formed,
// the seeds in order, a campaign line at the end counting the seed lines,
// its shard (or, for an earlier merge, its list) holding as many seeds as
// it has lines. The file is left open, for mergeSeeds to read again. A
// mistake in the file is a usageError; a host's failure, a hostError.
func readPart(path string) (mergePart, error) {
	rf, err := openResults(path)
	if err != nil {
		return mergePart{}, err
	}
	p, err := checkPart(rf)
	if err != nil {
		rf.close()
		return mergePart{}, usageError{err}
	}
	return p, nil
}

func checkPart(rf *resultsFile) (mergePart, error) {
	path := rf.path
	n := 0
	var prev uint64
	for {
		ok, err := rf.next()
		if err != nil {
			return mergePart{}, err
		}
		if !ok {
			break
		}
		if seed := rf.r.Seed; n > 0 && seed <= prev {
			return mergePart{}, fmt.Errorf("%s: seed %d after seed %d: a results file lists each seed once, in order", path, seed, prev)
		}
		prev = rf.r.Seed
		n++
	}
	sum := rf.sum
	if sum.Runs != n {
		return mergePart{}, fmt.Errorf("%s: %d seed lines, but its campaign line counts %d runs: the file was cut or changed", path, n, sum.Runs)
	}
	if err := checkCampaignLine(sum); err != nil {
		return mergePart{}, fmt.Errorf("%s: not a campaign results file: %v", path, err)
	}
	list, err := parseSeeds(sum.Seeds)
	if err != nil {
		return mergePart{}, fmt.Errorf("%s: %v", path, err)
	}
	// A shard holds exactly its seeds; a merge of some shards of one list
	// (its shard names them, "0/4,2/4") holds seeds of its list. One of
	// several lists ("1-20:0/4+2/4") cannot be told apart again: its
	// shards are merged instead.
	if strings.Contains(sum.Shard, ":") {
		return mergePart{}, fmt.Errorf("%s is a partial merge of several seed lists (shard %s), which does not merge again: merge the shards it was made of", path, sum.Shard)
	}
	for part := range strings.SplitSeq(sum.Shard, ",") {
		if _, _, err := parseShard(part); err != nil || part == "" && sum.Shard != "" {
			return mergePart{}, fmt.Errorf("%s: not a campaign results file: shard %q is not I/N, nor a list of them", path, sum.Shard)
		}
	}
	p := mergePart{path: path, rf: rf, sum: sum, lo: list[0].lo}
	if i, n, err := parseShard(sum.Shard); err == nil {
		sh := newShard(list, i, n)
		if sh.count != sum.Runs {
			return mergePart{}, fmt.Errorf("%s: %d seed lines for a shard of %d seeds", path, sum.Runs, sh.count)
		}
		p.i, p.n, p.shards, p.holds, p.whose = i, n, []string{fmt.Sprintf("%d/%d", i, n)}, sh.contains, "shard's"
	} else {
		p.shards, p.holds, p.whose = strings.Split(sum.Shard, ","), newShard(list, 0, 1).contains, "list's"
	}
	return p, nil
}

// checkCampaignLine checks the fields of a campaign line that name what ran: a
// results file edited by hand, or not simkern's, must not merge as if it
// were.
func checkCampaignLine(sum *campaignSummary) error {
	if sum.Simkern == "" {
		return errors.New("no simkern version")
	}
	if len(sum.SHA256) != 64 || strings.Trim(sum.SHA256, "0123456789abcdef") != "" {
		return errors.New("its sha256 is not 64 hex digits")
	}
	return nil
}

// mergeSeeds reads the parts' seed lines again, together, in seed order,
// and counts each into t, and writes it to lines when there are lines. A
// part that holds a seed its shard does not, or a seed in two parts, stops
// it. A shard's file with as many lines as its shard has seeds, in order,
// each one of them, holds them all.
func mergeSeeds(parts []mergePart, t *tally, lines *spill) error {
	var q cursors
	for i := range parts {
		if err := parts[i].rf.rewind(); err != nil {
			return hostError{err}
		}
		c := &cursor{part: &parts[i], rf: parts[i].rf}
		ok, err := c.advance()
		if err != nil {
			return usageError{err}
		}
		if ok {
			q = append(q, c)
		}
	}
	heap.Init(&q)
	var last *cursor // the part of the seed counted last
	var lastSeed uint64
	for len(q) > 0 {
		c := q[0]
		r := &c.rf.r
		if last != nil && r.Seed == lastSeed {
			a, b := last.part, c.part
			if a.arg > b.arg {
				a, b = b, a
			}
			return usageError{fmt.Errorf("seed %d is in both %s and %s: merge each shard once", r.Seed, a.path, b.path)}
		}
		last, lastSeed = c, r.Seed
		t.add(r)
		if lines != nil {
			if err := lines.add(r); err != nil {
				return hostError{fmt.Errorf("the temporary results file: %w", err)}
			}
		}
		ok, err := c.advance()
		if err != nil {
			return usageError{err}
		}
		if ok {
			heap.Fix(&q, 0)
		} else {
			heap.Pop(&q)
		}
	}
	return nil
}

// cursor is a part's next seed line, in a merge.
type cursor struct {
	part  *mergePart
	rf    *resultsFile
	lines int // seed lines read
}

// advance reads the part's next seed line: false after the last.
func (c *cursor) advance() (bool, error) {
	ok, err := c.rf.next()
	if err != nil {
		return false, err
	}
	if !ok {
		if c.lines != c.part.sum.Runs || c.rf.sum.Runs != c.part.sum.Runs {
			return false, fmt.Errorf("%s changed while it was being merged", c.part.path)
		}
		return false, nil
	}
	c.lines++
	if seed := c.rf.r.Seed; !c.part.holds(seed) {
		return false, fmt.Errorf("%s: seed %d is not one of its %s seeds", c.part.path, seed, c.part.whose)
	}
	return true, nil
}

// cursors is a heap of cursors, lowest seed first.
type cursors []*cursor

func (q cursors) Len() int           { return len(q) }
func (q cursors) Less(i, j int) bool { return q[i].rf.r.Seed < q[j].rf.r.Seed }
func (q cursors) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *cursors) Push(x any)        { *q = append(*q, x.(*cursor)) }
func (q *cursors) Pop() any {
	old := *q
	c := old[len(old)-1]
	*q = old[:len(old)-1]
	return c
}

// resultsFile reads a results file a line at a time: "seed" lines, then
// a "campaign" line; and again from the start.
type resultsFile struct {
	path string
	f    *os.File
	copy *tempFile // what was read of f, when f cannot be read again (a pipe)
	sc   *bufio.Scanner
	line int
	r    seedResult       // the last seed line read
	sum  *campaignSummary // the campaign line, once read
}

// openResults opens a results file. A mistake (no such file) is a
// usageError; a failure of the host, a hostError.
func openResults(path string) (*resultsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{err}
	}
	rf := &resultsFile{path: path, f: f}
	var r io.Reader = f
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		if rf.copy, err = newTempFile("simkern-merge-*.jsonl"); err != nil {
			f.Close()
			return nil, hostError{fmt.Errorf("a temporary copy of %s: %w", path, err)}
		}
		r = io.TeeReader(f, rf.copy)
	}
	rf.read(r)
	return rf, nil
}

// read starts reading r from its first line.
func (rf *resultsFile) read(r io.Reader) {
	rf.sc = bufio.NewScanner(r)
	rf.sc.Buffer(nil, 64<<20)
	rf.line, rf.r, rf.sum = 0, seedResult{}, nil
}

// rewind goes back to the first line.
func (rf *resultsFile) rewind() error {
	f := rf.f
	if rf.copy != nil {
		f = rf.copy.File
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("reading %s again: %w", rf.path, err)
	}
	rf.read(f)
	return nil
}

func (rf *resultsFile) close() {
	rf.f.Close()
	if rf.copy != nil {
		rf.copy.close()
	}
}

// next reads the next line. It returns true for a seed line, now in rf.r,
// and false at the end of the file, after its campaign line.
func (rf *resultsFile) next() (bool, error) {
	for rf.sc.Scan() {
		rf.line++
		var ev struct{ Event string }
		err := json.Unmarshal(rf.sc.Bytes(), &ev)
		switch {
		case err != nil:
		case rf.sum != nil:
			err = errors.New("a line after the campaign line")
		case ev.Event == "seed":
			rf.r = seedResult{}
			if err = json.Unmarshal(rf.sc.Bytes(), &rf.r); err == nil {
				if rf.r.key, err = keyOf(rf.r); err == nil && rf.r.Outcome != rf.r.key.String() {
					err = fmt.Errorf("seed %d: outcome %q, but its exit and code say %q", rf.r.Seed, rf.r.Outcome, rf.r.key)
				}
			}
			if err == nil {
				return true, nil
			}
		case ev.Event == "campaign":
			rf.sum = &campaignSummary{}
			err = json.Unmarshal(rf.sc.Bytes(), rf.sum)
		default:
			err = fmt.Errorf("event %q: want seed or campaign", ev.Event)
		}
		if err != nil {
			return false, fmt.Errorf("%s:%d: not a campaign results file: %v", rf.path, rf.line, err)
		}
	}
	if err := rf.sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return false, fmt.Errorf("%s:%d: a line longer than 64 MiB: not a campaign results file", rf.path, rf.line+1)
	} else if err != nil {
		return false, fmt.Errorf("%s: %w", rf.path, err)
	}
	if rf.sum == nil {
		return false, fmt.Errorf("%s: incomplete: a results file ends with a campaign line counting its seed lines", rf.path)
	}
	return false, nil
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
