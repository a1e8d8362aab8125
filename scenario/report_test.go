package scenario

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"simkern/examples"
)

// Tests of the report: the summary a run ends with, and a step's notes.

// TestSummaryCountsEveryLeak: the summary lists the first 20 blocks
// still allocated, then counts the rest, in text and in JSON.
func TestSummaryCountsEveryLeak(t *testing.T) {
	s := loadInline(t, "leaks.yaml", `name: leaks
steps:
  - repeat: {times: 23, steps: [{alloc: {pool: NonPagedPool, size: 40, tag: Leak}}]}
`)
	sess, _, out := runInline(t, s, Options{})
	if n := strings.Count(out, "  still allocated 0x"); n != maxLeaks {
		t.Errorf("%d blocks listed, want %d\n%s", n, maxLeaks, out)
	}
	if want := "  still allocated ... and 3 more (23 in all; the first 20 by address are listed)\n"; !strings.Contains(out, want) {
		t.Errorf("the summary lacks %q\n%s", want, out)
	}
	if sum := sess.r.summary(); sum.StillAllocated != 23 || len(sum.Leaks) != maxLeaks {
		t.Errorf("summary: still_allocated %d, %d leaks listed; want 23, %d", sum.StillAllocated, len(sum.Leaks), maxLeaks)
	}
}

// TestTagChargedOnAFreeCanGoNegative: a free charges the tag in the
// block's header, as Windows' tracker does, so a stray write that renamed
// the tag leaves the real tag looking leaked and the new one holding less
// than nothing; the summary and !poolused print those as negative
// numbers, not as counters wrapped around 2^64.
func TestTagChargedOnAFreeCanGoNegative(t *testing.T) {
	s := loadInline(t, "renamed.yaml", `name: renamed
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Good, as: a}
  - write: {at: a-12, data: "Evil"}
  - free: a
  - kd: "!poolused 1"
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Exit != ExitOK {
		t.Fatalf("exit %d\n%s", o.Exit, out)
	}
	outputHas(t, out,
		" Evil        0        1       -1      -96        0        0        0        0",
		" Good        1        0        1       96        0        0        0        0",
		"                 Evil        -1      -96 B         0        0 B\n",
	)
	evil := slices.IndexFunc(sess.r.summary().Tags, func(r SummaryTag) bool { return r.Tag == "Evil" })
	if evil < 0 {
		t.Fatalf("the summary has no row for Evil: %+v", sess.r.summary().Tags)
	}
	if row := sess.r.summary().Tags[evil]; row.NonPagedAlloc != -1 || row.NonPagedBytes != -96 {
		t.Errorf("summary row %+v, want -1 allocation of -96 bytes", row)
	}
}

// TestRenamedTagRowsStay: a tag whose counts net to zero on one side
// after a rename (no blocks but bytes, or blocks but no bytes) still has
// its row, in the summary and in !poolused, and !poolused 2 sorts a row
// below zero last.
func TestRenamedTagRowsStay(t *testing.T) {
	for _, tc := range []struct {
		name, steps string
		poolused    string // Evil's !poolused row
		summary     string // Evil's summary row
	}{
		{
			name: "no blocks, bytes",
			steps: `  - alloc: {pool: NonPagedPool, size: 64, tag: Good, as: a}
  - alloc: {pool: NonPagedPool, size: 200, tag: Evil, as: e}
`,
			poolused: " Evil        0      128         0        0",
			summary:  "                 Evil         0      128 B         0        0 B\n",
		},
		{
			name: "blocks, no bytes",
			steps: `  - alloc: {pool: NonPagedPool, size: 64, tag: Good, as: a}
  - alloc: {pool: NonPagedPool, size: 16, tag: Evil, as: e}
  - alloc: {pool: NonPagedPool, size: 16, tag: Evil, as: f}
`,
			poolused: " Evil        1        0         0        0",
			summary:  "                 Evil         1        0 B         0        0 B\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "renamed.yaml", "name: renamed\nsteps:\n"+tc.steps+`  - write: {at: a-12, data: "Evil"}
  - free: a
  - kd: "!poolused"
`)
			_, _, out := runInline(t, s, Options{})
			if !strings.Contains(out, tc.poolused) || !strings.Contains(out, tc.summary) {
				t.Errorf("want the !poolused row %q and the summary row %q\n%s", tc.poolused, tc.summary, out)
			}
		})
	}
	s := loadInline(t, "sorted.yaml", `name: sorted
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Good, as: a}
  - alloc: {pool: NonPagedPool, size: 500, tag: Zeta}
  - write: {at: a-12, data: "Evil"}
  - free: a
  - kd: "!poolused 2"
`)
	_, _, out := runInline(t, s, Options{})
	rows := regexp.MustCompile(`(?m)^ (Zeta|Good|Evil) `).FindAllStringSubmatch(out, -1)
	var order []string
	for _, r := range rows {
		order = append(order, r[1])
	}
	if want := []string{"Zeta", "Good", "Evil"}; !slices.Equal(order, want) {
		t.Errorf("!poolused 2 lists %v, want %v (most nonpaged bytes first, below zero last)\n%s", order, want, out)
	}
}

// TestSummaryCountsFailedPagefileIO: the summary's pagefile line counts
// I/Os, failed ones included, and says how many failed; a run whose I/Os
// all succeeded says nothing of failures.
func TestSummaryCountsFailedPagefileIO(t *testing.T) {
	for _, tc := range []struct{ faults, want string }{
		{"", ", 1 read, 1 write\n"},
		{"faults:\n  - pagefile_write_error: {nth: 1}\n", ", 1 read, 2 writes (1 failed)\n"},
		{"faults:\n  - pagefile_read_error: {nth: 1, status: 0xc000009d}\n", ", 1 read (1 failed), 1 write\n"},
	} {
		s := loadInline(t, "pf.yaml", "name: pf\n"+tc.faults+`steps:
  - alloc: {pool: PagedPool, size: 64, tag: PfIo, as: p}
  - write: {at: p, data: "abc"}
  - page_out: p
  - page_out: p
  - read: {at: p, length: 3}
`)
		_, _, out := runInline(t, s, Options{})
		if line := regexp.MustCompile(`(?m)^  pagefile .*\n`).FindString(out); !strings.HasSuffix(line, tc.want) {
			t.Errorf("%q: the pagefile line is %q, want it to end %q\n%s", tc.faults, line, tc.want, out)
		}
	}
}

// An overrun that writes into a canary the very bytes it held cannot be
// seen by any check; the write's report says so, in text and in JSON. The
// overrun example's one-byte overrun is such a write with seed 212, and a
// plain one with seed 1.
func TestUnseenOverrunIsNoted(t *testing.T) {
	data, ok := examples.Read("overrun")
	if !ok {
		t.Fatal("no overrun example")
	}
	s := loadInline(t, "overrun.yaml", string(data))
	const note = "note: the write went past the 40 bytes of the block at fffffa8000003010 into its canary, but wrote what the canary held there"
	for _, tc := range []struct {
		seed   uint64
		unseen bool
	}{{1, false}, {212, true}} {
		_, o, out := runInline(t, s, Options{Seed: tc.seed, SeedSet: true})
		if got := strings.Contains(out, "      "+note); got != tc.unseen || (o.Bugcheck == nil) != tc.unseen {
			t.Errorf("seed %d: note %v, bugcheck %v; want the note only where no bugcheck comes\n%s", tc.seed, got, o.Bugcheck, out)
		}
		_, _, out = runInline(t, s, Options{Seed: tc.seed, SeedSet: true, JSON: true})
		var notes []string
		for _, e := range events(t, out) {
			if e.Note != "" {
				notes = append(notes, e.Note)
			}
		}
		if want := tc.unseen; (len(notes) == 1 && strings.HasPrefix(notes[0], note)) != want {
			t.Errorf("seed %d: JSON notes %q, want one only where no bugcheck comes", tc.seed, notes)
		}
	}
}
