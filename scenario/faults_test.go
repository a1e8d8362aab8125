package scenario

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"simkern/bugcheck"
	"simkern/examples"
	"simkern/mm"
)

// Tests of faults: (pagefile I/O errors, bit flips) and of how injected
// faults, the verifier's included, are numbered, logged and blamed. The
// helpers are in verifier_test.go.

// pagefileScenario pages buf out and reads it back twice. %s is the
// faults: list.
const pagefileScenario = `
name: pagefile
machine: {ram: 16MiB, pagefile: 16MiB}
faults:
%s
steps:
  - alloc: {pool: PagedPool, size: 100, tag: Pres, as: buf}
  - write: {at: buf, data: "on disk"}
  - page_out: buf
  - read: {at: buf, length: 7, expect: "on disk"}
  - page_out: buf
  - read: {at: buf, length: 7, expect: "on disk"}
`

// The lines of pagefileScenario's steps, for the injections' positions.
const (
	pagefileFirstPageOut  = 9
	pagefileFirstRead     = 10
	pagefileSecondPageOut = 11
	pagefileSecondRead    = 12
)

// TestPagefileReadErrorIsAnInpageError: a hard fault whose read fails is
// 0x7A: P1 the PTE's address, P2 the I/O status, P3 the PTE, P4 the
// address. The injection is logged as an event, after the step it hit.
func TestPagefileReadErrorIsAnInpageError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  string
		status uint64
		// the read that fails: the executed step and its line
		steps uint64
		line  int
	}{
		{"the first read fails (nth: 1), with the default status", "  - pagefile_read_error: {nth: 1}", 0xC000009C, 4, pagefileFirstRead},
		{"nth: 2 lets the first read through", "  - pagefile_read_error: {nth: 2, status: 0xC000016A}", 0xC000016A, 6, pagefileSecondRead},
		{"probability 1.0 fails every read, with the given status", "  - pagefile_read_error: {probability: 1.0, status: 0xC0000185}", 0xC0000185, 4, pagefileFirstRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "pagefile.yaml", fmt.Sprintf(pagefileScenario, tc.fault))
			sess, o, out := runInline(t, s, Options{JSON: true})
			checkBugcheck(t, o, inpageError(t, sess, "buf", tc.status), out)
			if o.Steps != tc.steps {
				t.Errorf("halted after %d steps, want %d", o.Steps, tc.steps)
			}
			want := []injection{{Number: 1, Kind: "pagefile_read_error", File: "pagefile.yaml", Line: tc.line,
				Step: "read: {at: buf, length: 7, expect: \"on disk\"}", Detail: fmt.Sprintf("a pagefile read failed during this step (status 0x%x)", tc.status)}}
			if got := injections(t, out); !slices.Equal(got, want) {
				t.Errorf("injection events %+v, want %+v", got, want)
			}
		})
	}
}

// TestPagefileWriteErrorIsSurvived: a failed write leaves the page
// modified and in memory, so it still reads; the next write is retried.
func TestPagefileWriteErrorIsSurvived(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault string
		// what happened: pages evicted by each page_out, the lines of the
		// failed writes, and the status the events report
		evicted []int
		lines   []int
		status  string
	}{
		{"the first write fails (nth: 1) and the second page_out writes the page", "  - pagefile_write_error: {nth: 1}",
			[]int{0, 1}, []int{pagefileFirstPageOut}, "0xc000009c"},
		{"probability 1.0 fails every write and the page never leaves memory", "  - pagefile_write_error: {probability: 1.0, status: 0xC0000185}",
			[]int{0, 0}, []int{pagefileFirstPageOut, pagefileSecondPageOut}, "0xc0000185"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "pagefile.yaml", fmt.Sprintf(pagefileScenario, tc.fault))
			_, o, out := runInline(t, s, Options{JSON: true})
			if o.Bugcheck != nil || o.Exit != ExitOK || len(o.Failures) != 0 {
				t.Fatalf("outcome %+v (bugcheck %v), want a clean run: the page is still readable\n%s", o, o.Bugcheck, out)
			}
			var evicted []int
			var sum *Summary
			for _, e := range events(t, out) {
				switch {
				case e.Event == "step" && e.Verb == "page_out":
					evicted = append(evicted, *e.Pages)
				case e.Event == "summary":
					sum = e.Summary
				}
			}
			if !slices.Equal(evicted, tc.evicted) {
				t.Errorf("page_out evicted %v pages, want %v", evicted, tc.evicted)
			}
			got := injections(t, out)
			if len(got) != len(tc.lines) {
				t.Fatalf("injection events %+v, want %d", got, len(tc.lines))
			}
			for i, in := range got {
				if in.Number != i+1 || in.Kind != "pagefile_write_error" || in.Line != tc.lines[i] || in.Step != "page_out: buf" ||
					!strings.Contains(in.Detail, "(status "+tc.status+")") || !strings.Contains(in.Detail, "retried") {
					t.Errorf("injection event %d = %+v, want number %d, pagefile_write_error at line %d with status %s", i, in, i+1, tc.lines[i], tc.status)
				}
			}
			if sum == nil || sum.Memory.WriteErrors != uint64(len(tc.lines)) || sum.Memory.ReadErrors != 0 {
				t.Errorf("summary memory %+v: want %d write errors, no read error", sum, len(tc.lines))
			}
		})
	}
}

// TestPagefileWriteErrorsOfOneStepKeepTheirStatus: two writes that fail
// in one page_out are logged each with the status its fault names, in the
// order they failed (both used to show the last one's).
func TestPagefileWriteErrorsOfOneStepKeepTheirStatus(t *testing.T) {
	for _, tc := range []struct {
		faults string
		want   []string
	}{
		{"  - pagefile_write_error: {nth: 1, status: 0xC0000185}\n  - pagefile_write_error: {nth: 2}", []string{"0xc0000185", "0xc000009c"}},
		{"  - pagefile_write_error: {nth: 2}\n  - pagefile_write_error: {nth: 1, status: 0xC0000185}", []string{"0xc0000185", "0xc000009c"}},
		{"  - pagefile_write_error: {nth: 1}\n  - pagefile_write_error: {nth: 3, status: 0xC0000185}", []string{"0xc000009c", "0xc0000185"}},
	} {
		t.Run(tc.faults, func(t *testing.T) {
			s := loadInline(t, "writes.yaml", `
name: writes
machine: {ram: 16MiB, pagefile: 16MiB}
faults:
`+tc.faults+`
steps:
  - alloc: {pool: PagedPool, size: 12KiB, tag: Pres, as: buf}
  - write: {at: buf, fill: 0x41, length: 12288}
  - page_out: buf
`)
			_, o, out := runInline(t, s, Options{JSON: true})
			if o.Exit != ExitOK {
				t.Fatalf("outcome %+v\n%s", o, out)
			}
			got := injections(t, out)
			if len(got) != len(tc.want) {
				t.Fatalf("injection events %+v, want %d", got, len(tc.want))
			}
			for i, in := range got {
				if in.Kind != "pagefile_write_error" || !strings.Contains(in.Detail, "(status "+tc.want[i]+")") {
					t.Errorf("injection %d = %+v, want a write error with status %s", i+1, in, tc.want[i])
				}
			}
		})
	}
}

// TestPagefileFaultWithProbabilityZeroNeverFires: probability 0 is a
// valid probability (the loader takes it, as low_resources does); the
// fault never fires, and the run is the run without it. (It used to
// reach pagefile.Inject, which panics on a fault that sets neither nth
// nor a probability.)
func TestPagefileFaultWithProbabilityZeroNeverFires(t *testing.T) {
	for _, fault := range []string{
		"  - pagefile_read_error: {probability: 0}",
		"  - pagefile_write_error: {probability: 0.0, status: 0xC0000185}",
		"  - pagefile_read_error: {probability: 0}\n  - pagefile_write_error: {probability: 0}\n  - pagefile_read_error: {nth: 9}",
	} {
		t.Run(fault, func(t *testing.T) {
			s := loadInline(t, "pagefile.yaml", fmt.Sprintf(pagefileScenario, fault))
			_, o, out := runInline(t, s, Options{JSON: true})
			if o.Bugcheck != nil || o.Exit != ExitOK || len(o.Failures) != 0 {
				t.Fatalf("outcome %+v (bugcheck %v), want a clean run\n%s", o, o.Bugcheck, out)
			}
			if got := injections(t, out); len(got) != 0 {
				t.Errorf("injection events %+v, want none", got)
			}
		})
	}
}

// flipScenario allocates and fills buf, then reads it: the bit flips
// before step 3, the read.
func flipScenario(seed uint64, fault string) string {
	return fmt.Sprintf(`
name: flip
machine: {ram: 16MiB, seed: %d}
faults:
%s
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Flip, as: buf}
  - write: {at: buf, fill: 0x41, length: 64}
  - read: {at: buf, length: 1}
`, seed, fault)
}

// frameOf runs src for steps steps and returns the frame holding name's
// page. A run is deterministic, so a second run of the same machine and
// steps puts the page in the same frame.
func frameOf(t *testing.T, src, name string, steps uint64) uint64 {
	t.Helper()
	sess, _ := startInline(t, loadInline(t, "probe.yaml", src), Options{})
	sess.RunTo(steps)
	va := mm.VA(bound(t, sess, name))
	pte := sess.Target().Machine.PTE(va)
	if !pte.Valid() {
		t.Fatalf("%s (%v) is not resident", name, va)
	}
	return uint64(pte.Frame())
}

// parseFlip reads a bit flip's detail: the bit, the offset of its u64 and
// the frame.
func parseFlip(t *testing.T, detail string) (bit uint8, offset, frame uint64) {
	t.Helper()
	if _, err := fmt.Sscanf(detail, "bit %d of the u64 at offset 0x%x of frame 0x%x", &bit, &offset, &frame); err != nil {
		t.Fatalf("bit flip detail %q: %v", detail, err)
	}
	return
}

// peekPage reads a whole resident page through the debugger's view.
func peekPage(t *testing.T, sess *Session, page mm.VA) []byte {
	t.Helper()
	b := make([]byte, mm.PageBytes)
	if n := sess.Target().Machine.Peek(page, b); n != len(b) {
		t.Fatalf("Peek(%v): %d bytes resident", page, n)
	}
	return b
}

// TestBitFlipFlipsExactlyThatBit: with frame and bit given, the flip
// before step 3 changes exactly that bit of one u64 of that frame, the one
// the injection names, and nothing else.
func TestBitFlipFlipsExactlyThatBit(t *testing.T) {
	for _, tc := range []struct {
		name string
		seed uint64
		bit  uint8
	}{
		{"bit 0 flips the lowest bit of a word", 1, 0},
		{"bit 17 flips bit 1 of the word's third byte", 2, 17},
		{"bit 63 flips the top bit of a word", 3, 63},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := frameOf(t, flipScenario(tc.seed, "  []"), "buf", 2)
			s := loadInline(t, "flip.yaml", flipScenario(tc.seed, fmt.Sprintf("  - bit_flip: {step: 3, frame: %d, bit: %d}", frame, tc.bit)))
			sess, out := startInline(t, s, Options{JSON: true})
			sess.Step()
			sess.Step()
			page := mm.VA(bound(t, sess, "buf")).PageBase()
			if fi, err := sess.Target().Machine.Frame(mm.PFN(frame)); err != nil || fi.VA != page {
				t.Fatalf("frame %#x maps %v (%v), want buf's page %v", frame, fi.VA, err, page)
			}
			before := peekPage(t, sess, page)
			sess.Step()
			after := peekPage(t, sess, page)
			if o := sess.Finish(); o.Exit != ExitOK {
				t.Fatalf("outcome %+v\n%s", o, out)
			}

			var diffs []int // bit positions in the page
			for i := range before {
				for b := range 8 {
					if (before[i]^after[i])>>b&1 != 0 {
						diffs = append(diffs, i*8+b)
					}
				}
			}
			ins := injections(t, out.String())
			if len(ins) != 1 || ins[0].Kind != "bit_flip" || ins[0].Number != 1 || ins[0].Line != 9 {
				t.Fatalf("injection events %+v, want one bit_flip, number 1, at the read (line 9)", ins)
			}
			bit, offset, inFrame := parseFlip(t, ins[0].Detail)
			if len(diffs) != 1 {
				t.Fatalf("%d bits of the page changed (%v), want 1", len(diffs), diffs)
			}
			word, got := diffs[0]/64, uint8(diffs[0]%64)
			if got != tc.bit || bit != tc.bit || inFrame != frame || offset != uint64(word*8) {
				t.Errorf("bit %d of the u64 at offset %#x flipped; the injection says bit %d at offset %#x of frame %#x; want bit %d of frame %#x",
					got, word*8, bit, offset, inFrame, tc.bit, frame)
			}
		})
	}
}

// runFlip runs src, a scenario with one bit_flip fault, as JSON and
// returns the session, the outcome and the one injection it reported, the
// frame its detail names.
func runFlip(t *testing.T, seed uint64, src string) (*Session, *Outcome, injection, uint64) {
	t.Helper()
	sess, o, out := runInline(t, loadInline(t, "flip.yaml", src), Options{JSON: true})
	ins := injections(t, out)
	if len(ins) != 1 || ins[0].Kind != "bit_flip" {
		t.Fatalf("seed %d: injection events %+v, want one bit_flip\n%s", seed, ins, out)
	}
	_, _, frame := parseFlip(t, ins[0].Detail)
	return sess, o, ins[0], frame
}

// TestBitFlipWithoutAFrameHitsASmallPoolPage: with no frame given the
// flip lands in a resident page of small pool blocks, nonpaged or paged
// (never the big allocation's pages), drawn from the seed: over 12 seeds
// both pages are hit.
func TestBitFlipWithoutAFrameHitsASmallPoolPage(t *testing.T) {
	hits := map[string]int{}
	for seed := uint64(1); seed <= 12; seed++ {
		src := fmt.Sprintf(`
name: anywhere
machine: {ram: 16MiB, seed: %d}
faults:
  - bit_flip: {step: 4}
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Flip, as: np}
  - alloc: {pool: PagedPool, size: 64, tag: Flip, as: pg}
  - alloc: {pool: NonPagedPool, size: 10000, tag: Flip, as: big}
  - kd: "!pool np"
`, seed)
		sess, o, _, frame := runFlip(t, seed, src)
		if o.Exit != ExitOK {
			t.Fatalf("seed %d: outcome %+v", seed, o)
		}
		m := sess.Target().Machine
		hit := ""
		for _, name := range []string{"np", "pg"} {
			if uint64(m.PTE(mm.VA(bound(t, sess, name))).Frame()) == frame {
				hit = name
			}
		}
		if hit == "" {
			t.Errorf("seed %d: the bit flipped in frame %#x, which holds neither np's nor pg's page", seed, frame)
		}
		hits[hit]++
	}
	if hits["np"] == 0 || hits["pg"] == 0 {
		t.Errorf("over 12 seeds the flips hit np's page %d times and pg's %d times: want both", hits["np"], hits["pg"])
	}
}

// TestBitFlipWithNoPoolPageHitsAnyFrame: a flip with no frame given,
// due before any small pool page exists, still flips a bit, in a frame of
// all RAM drawn from the seed, and says so: a fault-injection run never
// passes with its fault silently left out.
func TestBitFlipWithNoPoolPageHitsAnyFrame(t *testing.T) {
	frames := map[uint64]bool{}
	for seed := uint64(1); seed <= 4; seed++ {
		src := fmt.Sprintf(`
name: early
machine: {ram: 1MiB, seed: %d}
faults:
  - bit_flip: {step: 1}
steps:
  - alloc: {pool: NonPagedPool, size: 32, tag: Flip, as: a}
  - free: a
`, seed)
		sess, _, in, frame := runFlip(t, seed, src) // the flip may halt the machine: any outcome
		if in.Line != 7 {
			t.Errorf("seed %d: the flip is reported at line %d, want the alloc's (7)", seed, in.Line)
		}
		if !strings.HasSuffix(in.Detail, "(no page of small pool blocks was in memory: a frame of all RAM)") {
			t.Errorf("seed %d: detail %q does not say no pool page was in memory", seed, in.Detail)
		}
		if frame >= sess.Target().Machine.Frames() {
			t.Errorf("seed %d: frame %#x is past the machine's %#x frames", seed, frame, sess.Target().Machine.Frames())
		}
		frames[frame] = true
	}
	if len(frames) < 2 {
		t.Errorf("4 seeds flipped bits in frames %v: want the frame drawn from the seed", frames)
	}
}

// headerFlipScenario fills one nonpaged pool page with 128 blocks of 8
// bytes (32 bytes each, header included), flips bit 17 of a word of that
// page (frame nil: no flip) before the first free, then frees them all in
// allocation order.
func headerFlipScenario(seed uint64, frame *uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: header-flip\nmachine: {ram: 16MiB, seed: %d}\n", seed)
	if frame != nil {
		fmt.Fprintf(&b, "faults:\n  - bit_flip: {step: 129, frame: %d, bit: 17}\n", *frame)
	}
	b.WriteString("steps:\n")
	for i := range 128 {
		fmt.Fprintf(&b, "  - alloc: {pool: NonPagedPool, size: 8, tag: Flip, as: b%d}\n", i)
	}
	for i := range 128 {
		fmt.Fprintf(&b, "  - free: b%d\n", i)
	}
	return b.String()
}

// TestBitFlipInAPoolPageIsCaughtByTheNextFree: a flipped bit in a pool
// header or canary is found by the first free that checks it.
//
// The page holds 128 blocks of 32 bytes. Of each block's four u64s the
// first (PreviousSize, PoolIndex, BlockSize, PoolType, PoolTag) is checked
// at the block's free and on every walk of the page, the second
// (ProcessBilled) is never read, the third is the driver's 8 bytes, and
// the fourth is the canary the block's free checks. Bit 17 is bit 1 of
// BlockSize: a block of 2 units becomes one of 0.
//
// The word is drawn from the seed, so whether the flip is caught depends
// on the seed. Each seed below was picked for where its flip lands, and
// the test works out what must happen from the word the injection names:
//
//	a header      0x19/0xA (P2 the entry freed, P4 the page) at the first
//	              free that walks the page, which comes no later than the
//	              damaged block's own free (the first frees go to a
//	              lookaside list, which walks nothing)
//	a canary      0x19/0x21 at that block's free: P2 its address, P3 its
//	              8 bytes, P4 the canary with the bit flipped
//	anything else unnoticed: the run completes
//
// If a change to the seeded streams moves the words, the seeds may stop
// covering all three cases; the test then says so, and new seeds must be
// picked: run a few dozen and read the offset each injection names.
func TestBitFlipInAPoolPageIsCaughtByTheNextFree(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 28}
	covered := map[string]bool{}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			frame := frameOf(t, headerFlipScenario(seed, nil), "b0", 128)
			sess, out := startInline(t, loadInline(t, "flip.yaml", headerFlipScenario(seed, &frame)), Options{JSON: true})
			for sess.Executed() < 128 {
				sess.Step()
			}
			page := mm.VA(bound(t, sess, "b0")).PageBase()
			blocks := map[mm.VA]int{} // data address -> block number
			for i := range 128 {
				va := mm.VA(bound(t, sess, fmt.Sprintf("b%d", i)))
				if va.PageBase() != page {
					t.Fatalf("b%d at %v is not on b0's page %v", i, va, page)
				}
				blocks[va] = i
			}
			before := peekPage(t, sess, page)
			for sess.Step() != nil {
			}
			o := sess.Finish()
			text := out.String()
			ins := injections(t, text)
			if len(ins) != 1 || ins[0].Kind != "bit_flip" {
				t.Fatalf("injection events %+v, want one bit_flip", ins)
			}
			bit, offset, _ := parseFlip(t, ins[0].Detail)
			if bit != 17 {
				t.Fatalf("bit %d flipped, want 17", bit)
			}
			var failing string // the step that halted the machine
			for _, e := range events(t, text) {
				if e.Event == "bugcheck" {
					failing = e.Step
					if !strings.Contains(e.Analysis, "FAULT_INJECTIONS") || !strings.Contains(e.Analysis, "flipped") {
						t.Errorf("the bugcheck report does not list the bit flip:\n%s", e.Analysis)
					}
				}
			}
			// The block the flipped word belongs to, by its data address.
			damaged, ok := blocks[page+mm.VA(offset&^31)+16]
			if !ok {
				t.Fatalf("no block has its header at page offset %#x", offset&^31)
			}
			switch offset % 32 {
			case 0:
				covered["header"] = true
				if o.Bugcheck == nil {
					t.Fatalf("the damaged header of b%d was never noticed\n%s", damaged, text)
				}
				var n int
				if _, err := fmt.Sscanf(failing, "free: b%d", &n); err != nil || n > damaged {
					t.Fatalf("halted at %q, want a free no later than b%d's", failing, damaged)
				}
				entry := bound(t, sess, fmt.Sprintf("b%d", n)) - 16
				checkBugcheck(t, o, bugcheck.New(bugcheck.BadPoolHeader, 0xA, entry, 0, uint64(page)), text)
			case 24:
				covered["canary"] = true
				data := page + mm.VA(offset) - 8
				canary := binary.LittleEndian.Uint64(before[offset:]) ^ 1<<17
				checkBugcheck(t, o, bugcheck.New(bugcheck.BadPoolHeader, 0x21, uint64(data), 8, canary), text)
				if want := fmt.Sprintf("free: b%d", damaged); failing != want {
					t.Errorf("halted at %q, want %q", failing, want)
				}
			default:
				covered["unchecked"] = true
				if o.Bugcheck != nil || o.Exit != ExitOK {
					t.Fatalf("a flip at page offset %#x (ProcessBilled or data) halted the machine: %v", offset, o.Bugcheck)
				}
			}
		})
	}
	for _, c := range []string{"header", "canary", "unchecked"} {
		if !covered[c] {
			t.Errorf("no seed of %v flips a word of kind %q any more: pick new seeds", seeds, c)
		}
	}
}

// injectionLines returns the "injection #N:" lines of a text report's
// FAULT_INJECTIONS, by number.
func injectionLines(out string) map[int]string {
	lines := map[int]string{}
	for _, l := range strings.Split(out, "\n") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "injection #%d:", &n); err == nil {
			lines[n] = l
		}
	}
	return lines
}

// attributionScenario verifies flaky.sys with systematic low resources:
// each of its steps' first allocation returns NULL. %s is the steps.
const attributionScenario = `name: attr
machine: {ram: 16MiB}
drivers: [flaky.sys]
verifier:
  drivers: [flaky.sys]
  low_resources: {systematic: true}
steps:%s
`

// TestInjectionAttribution: the bugcheck report lists every injection
// before it and marks only those whose NULL the failing step used.
func TestInjectionAttribution(t *testing.T) {
	const touched = "<== touched the failing step"
	for _, tc := range []struct {
		name  string
		steps string // from line 8
		// the report: how many injections, and the text each marked one's
		// line must hold; the others must not hold touched
		count  int
		marked map[int]string
	}{
		{
			name: "of two NULLs only the one the failing write used is marked",
			steps: `
  - alloc: {pool: NonPagedPool, size: 64, tag: Flak, as: aux}
    driver: flaky.sys
  - alloc: {pool: NonPagedPool, size: 64, tag: Flak, as: ctx}
    driver: flaky.sys
  - irql: DISPATCH_LEVEL
    driver: flaky.sys
  - write: {at: ctx, data: "state"}
    driver: flaky.sys`,
			count:  2,
			marked: map[int]string{2: "at attr.yaml:10 -> ctx (= 0) used at attr.yaml:14  " + touched},
		},
		{
			name: "a name bound to NULL twice blames the second injection",
			steps: `
  - alloc: {pool: NonPagedPool, size: 64, tag: Flak, as: ctx}
    driver: flaky.sys
  - alloc: {pool: NonPagedPool, size: 32, tag: Flak, as: ctx}
    driver: flaky.sys
  - irql: DISPATCH_LEVEL
    driver: flaky.sys
  - write: {at: ctx, data: "state"}
    driver: flaky.sys`,
			count:  2,
			marked: map[int]string{2: "at attr.yaml:10 -> ctx (= 0) used at attr.yaml:14  " + touched},
		},
		{
			name: "a NULL the name lost to a real block is not blamed",
			steps: `
  - alloc: {pool: NonPagedPool, size: 64, tag: Flak, as: ctx}
    driver: flaky.sys
  - repeat:
      times: 2
      steps:
        - alloc: {pool: PagedPool, size: 32, tag: Flak, as: ctx}
    driver: flaky.sys
  - irql: DISPATCH_LEVEL
    driver: flaky.sys
  - trim: all
  - read: {at: ctx, length: 4, driver: flaky.sys}`,
			count:  2,
			marked: map[int]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "attr.yaml", fmt.Sprintf(attributionScenario, tc.steps))
			_, o, out := runInline(t, s, Options{})
			if o.Bugcheck == nil || o.Bugcheck.Code != bugcheck.DriverIrqlNotLessOrEqual {
				t.Fatalf("bugcheck %v, want 0xD1\n%s", o.Bugcheck, out)
			}
			if !strings.Contains(out, fmt.Sprintf("FAULT_INJECTIONS:  %d before the bugcheck", tc.count)) {
				t.Fatalf("no FAULT_INJECTIONS with %d injections in the report\n%s", tc.count, out)
			}
			lines := injectionLines(out)
			if len(lines) != tc.count {
				t.Fatalf("%d injection lines in the report, want %d\n%s", len(lines), tc.count, out)
			}
			for n, l := range lines {
				want, ok := tc.marked[n]
				switch {
				case ok && !strings.Contains(l, want):
					t.Errorf("injection #%d: %q, want it to contain %q", n, l, want)
				case !ok && strings.Contains(l, touched):
					t.Errorf("injection #%d is blamed: %q", n, l)
				}
			}
		})
	}
}

// TestLowResourcesExampleReportNamesTheInjection: the low-resources
// example's report lists the injection and the line that used its NULL.
func TestLowResourcesExampleReportNamesTheInjection(t *testing.T) {
	data, ok := examples.Read("low-resources")
	if !ok {
		t.Fatal("no low-resources example")
	}
	_, o, out := runInline(t, loadInline(t, "low-resources.yaml", string(data)), Options{})
	if o.Bugcheck == nil {
		t.Fatalf("no bugcheck\n%s", out)
	}
	outputHas(t, out,
		"FAULT_INJECTIONS:  1 before the bugcheck",
		"injection #1: NULL returned to flaky.sys for 64 bytes of NonPagedPool, tag Flak (systematic) at low-resources.yaml:16 -> ctx (= 0) used at low-resources.yaml:20  <== touched the failing step",
		"-> ctx = NULL (injected failure #1)",
	)
}

// TestInjectionNumbersAreShared: low resources failures and pagefile
// errors are numbered in one sequence, in the order they happen, and
// logged as JSON events with their kinds.
func TestInjectionNumbersAreShared(t *testing.T) {
	s := loadInline(t, "shared.yaml", `name: shared
machine: {ram: 16MiB, pagefile: 16MiB}
drivers: [flaky.sys]
verifier:
  drivers: [flaky.sys]
  low_resources: {systematic: true}
faults:
  - pagefile_write_error: {nth: 1}
  - pagefile_read_error: {nth: 1, status: 0xC0000185}
steps:
  - alloc: {pool: NonPagedPool, size: 64, tag: Flak, as: ctx}
    driver: flaky.sys
  - alloc: {pool: PagedPool, size: 100, tag: Pres, as: buf}
  - write: {at: buf, data: "on disk"}
  - page_out: buf
  - page_out: buf
  - alloc: {pool: NonPagedPool, size: 32, tag: Flak, as: aux}
    driver: flaky.sys
  - read: {at: buf, length: 7}
`)
	sess, o, out := runInline(t, s, Options{JSON: true})
	checkBugcheck(t, o, inpageError(t, sess, "buf", 0xC0000185), out)
	type seen struct {
		number     int
		kind, name string
		line       int
	}
	var got []seen
	for _, in := range injections(t, out) {
		got = append(got, seen{in.Number, in.Kind, in.Name, in.Line})
	}
	want := []seen{
		{1, "low_resources", "ctx", 11},
		{2, "pagefile_write_error", "", 15},
		{3, "low_resources", "aux", 17},
		{4, "pagefile_read_error", "", 19},
	}
	if !slices.Equal(got, want) {
		t.Errorf("injection events %+v, want %+v", got, want)
	}

	// The text report of the same run marks the failed read, and nothing
	// as touching the failing step (it used no NULL).
	_, _, text := runInline(t, s, Options{})
	lines := injectionLines(text)
	if len(lines) != 4 {
		t.Fatalf("%d injection lines in the report, want 4\n%s", len(lines), text)
	}
	for n, l := range lines {
		read := strings.Contains(l, "<== the in-page read that failed")
		if read != (n == 4) || strings.Contains(l, "touched the failing step") {
			t.Errorf("injection #%d: %q", n, l)
		}
	}
}

// A replayed allocation that came back NULL is not live: it counts as a
// failure, not in the peak or in what is left at the end, and its frees,
// a second one too, are skipped.
func TestReplayDoesNotCountNullAsLive(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.trace")
	if err := os.WriteFile(trace, []byte("a 1 NonPagedPool Flak 64\na 2 NonPagedPool Flak 64\nf 1\nf 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := "name: r\nmachine: {ram: 16MiB}\ndrivers: [flaky.sys]\nverifier:\n  drivers: [flaky.sys]\n  low_resources: {probability: 1.0}\n" +
		"steps:\n  - replay: t.trace\n    driver: flaky.sys\n"
	s, err := Parse(filepath.Join(dir, "r.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(s, Options{Out: &out}); err != nil {
		t.Fatal(err)
	}
	if want := "-> 2 allocations, 0 frees, 2 returned NULL, peak 0 live"; !strings.Contains(out.String(), want) {
		t.Errorf("the replay reports\n%s\nwant a line with %q", out.String(), want)
	}
}

// TestManyFaultsDoNotSlowEveryStep: the bit flips due before a step are
// looked up, not found by going through every fault at every step (50,000
// faults made each step cost 50,000 checks: a long repeat ran for hours).
func TestManyFaultsDoNotSlowEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two long scenarios")
	}
	const body = "steps:\n  - alloc: {pool: NonPagedPool, size: 64, as: a}\n  - repeat: {times: 50000, steps: [{irql: 0}]}\n"
	faults := "faults:\n" + strings.Repeat("  - bit_flip: {step: 1, frame: 0x10, bit: 3}\n", 30_000)
	run := func(src string) func() time.Duration {
		s := loadInline(t, "many.yaml", src)
		return func() time.Duration {
			start := time.Now()
			if _, err := Run(s, Options{}); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		}
	}
	if d, baseline, ok := notSlower(run("name: many\n"+faults+body), run("name: few\n"+body), 10); !ok {
		t.Errorf("50,000 steps with 30,000 faults took %v, without them %v", d, baseline)
	}
}

// A step that halts the machine without an access failing (page_out
// meeting page tables a write wiped) is the step the report names, and
// nothing after it runs.
func TestHaltInsideAStepStopsAtThatStep(t *testing.T) {
	s := loadInline(t, "wiped-pde.yaml", "name: wiped\nsteps:\n"+
		"  - alloc: {pool: PagedPool, size: 100, as: p}\n"+
		"  - write: {at: 0xFFFFF6FB7E280000, u64: 0}\n"+ // the PDE over paged pool's first page
		"  - page_out: all\n"+
		"  - alloc: {pool: PagedPool, size: 100, as: q}\n")
	_, o, out := runInline(t, s, Options{})
	if o.Bugcheck == nil || o.Bugcheck.Code != bugcheck.MemoryManagement || o.Bugcheck.P[0] != 0x61941 {
		t.Fatalf("bugcheck %v, want 0x1A/0x61941\n%s", o.Bugcheck, out)
	}
	if o.Steps != 3 || !strings.Contains(out, "halted at wiped-pde.yaml:5:5: page_out: all") {
		t.Errorf("%d steps ran, want the machine to halt at the page_out, the third:\n%s", o.Steps, out)
	}
}

// TestHostPagefileFailureStopsTheRun: a pagefile write the host fails (its
// file closed under it here, a full disk in life) is not a planned fault:
// no injection is logged, and the run stops at that step with the host's
// error, which the command line reports as exit 1.
func TestHostPagefileFailureStopsTheRun(t *testing.T) {
	s := loadInline(t, "host.yaml", `name: host
steps:
  - alloc: {pool: PagedPool, size: 64, tag: Host, as: buf}
  - write: {at: buf, data: "hello"}
  - page_out: all
  - read: {at: buf, length: 5, expect: "hello"}
`)
	sess, out := startInline(t, s, Options{JSON: true})
	sess.Step()
	sess.Step()
	if err := sess.Target().Machine.Pagefile.Close(); err != nil {
		t.Fatal(err)
	}
	sess.RunTo(10)
	o := sess.Finish()
	if o.Host == nil || !strings.Contains(o.Host.Error(), "host.yaml:5:5: page_out: all: pagefile: write of slot") || o.Exit != ExitFailed {
		t.Fatalf("outcome %+v, want the host's write failure at the page_out step and exit 1", o)
	}
	if o.Steps != 3 || sess.Next() != nil {
		t.Errorf("the run went on after the host failed: %d steps, next %v", o.Steps, sess.Next())
	}
	if ins := injections(t, out.String()); len(ins) != 0 {
		t.Errorf("the host's failure was logged as injections: %+v", ins)
	}
}

// TestReplayDoubleFree: a trace that frees an ID twice replays a driver's
// double free: the second free is of the same address, and the pool halts
// with 0xC2/7, or, when the address was handed out again in between,
// frees the new owner's block, whose own free is then the double free.
func TestReplayDoubleFree(t *testing.T) {
	for _, tc := range []struct {
		name, trace string
		kept        uint64 // keptTraceOps: 1 reads the trace from its file as it replays
		p1          uint64 // of the 0xC2
	}{
		{"at once", "a 1 NonPagedPool Dbl 64\nf 1\nf 1\n", keptTraceOps, 7},
		// 2 gets 1's block back from the lookaside list; 1's second free
		// takes it from 2, and 2's free is the double one.
		{"after the address was reused", "a 1 NonPagedPool Dbl 64\nf 1\na 2 NonPagedPool Dbl 64\nf 1\nf 2\n", keptTraceOps, 7},
		// A page given back to mm: the second free is of no pool at all,
		// a nonpaged pool page no allocation owns.
		{"after the page went back", "a 1 NonPagedPool Dbl 600\nf 1\nf 1\n", keptTraceOps, 0x44},
		{"read from the file as it replays", "a 1 NonPagedPool Dbl 64\nf 1\n# the last line frees 1 again\nf 1\n", 1, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(n uint64) { keptTraceOps = n }(keptTraceOps)
			keptTraceOps = tc.kept
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "t.trace"), []byte(tc.trace), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Parse(filepath.Join(dir, "r.yaml"), []byte("name: r\nsteps:\n  - replay: t.trace\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, o, out := runInline(t, s, Options{})
			if o.Bugcheck == nil || o.Bugcheck.Code != bugcheck.BadPoolCaller || o.Bugcheck.P[0] != tc.p1 {
				t.Fatalf("bugcheck %v, want 0xC2/%#x:\n%s", o.Bugcheck, tc.p1, out)
			}
		})
	}
}

// TestReplayDoubleFreeWindow: an ID may be freed again while its last free
// is among the recent ones, read from memory or from the file; once the
// ring of recent frees has wrapped past it, the trace does not load.
func TestReplayDoubleFreeWindow(t *testing.T) {
	defer func(n int, k uint64) { freeRecall, keptTraceOps = n, k }(freeRecall, keptTraceOps)
	freeRecall = 2
	inside := "a 1 NonPagedPool Dbl 64\nf 1\na 2 NonPagedPool Dbl 64\nf 2\nf 1\n"
	outside := "a 1 NonPagedPool Dbl 64\nf 1\na 2 NonPagedPool Dbl 64\nf 2\na 3 NonPagedPool Dbl 64\nf 3\nf 1\n"
	for _, kept := range []uint64{1 << 20, 1} {
		keptTraceOps = kept
		dir := t.TempDir()
		load := func(trace string) (*Scenario, error) {
			if err := os.WriteFile(filepath.Join(dir, "t.trace"), []byte(trace), 0o644); err != nil {
				t.Fatal(err)
			}
			return Parse(filepath.Join(dir, "r.yaml"), []byte("name: r\nsteps:\n  - replay: t.trace\n"))
		}
		s, err := load(inside)
		if err != nil {
			t.Fatalf("kept %d: %v", kept, err)
		}
		// 2 got 1's block back from the lookaside list and freed it; 1's
		// second free is of that address again.
		if _, o, out := runInline(t, s, Options{}); o.Bugcheck == nil || o.Bugcheck.Code != bugcheck.BadPoolCaller || o.Bugcheck.P[0] != 7 {
			t.Errorf("kept %d: bugcheck %v, want 0xC2/7:\n%s", kept, o.Bugcheck, out)
		}
		if _, err := load(outside); err == nil || !strings.Contains(err.Error(), "t.trace:7:3: id: frees id 1, which is not allocated (never, or freed before the last 2 frees)") {
			t.Errorf("kept %d: a free past the window: %v", kept, err)
		}
	}
}

// TestFlipTargetsAfterAPageTableFlip: the pages a flip may hit are listed
// once for a step's flips, and listed again after a flip in a page table,
// which can take a page out of memory: the next flip must not pick it.
func TestFlipTargetsAfterAPageTableFlip(t *testing.T) {
	s := loadInline(t, "targets.yaml", "name: targets\nsteps:\n"+
		"  - alloc: {pool: NonPagedPool, size: 64, tag: Flip, as: np}\n"+
		"  - alloc: {pool: PagedPool, size: 64, tag: Flip, as: pg}\n"+
		"  - write: {at: pg, u64: 1}\n")
	sess, _, _ := runInline(t, s, Options{})
	r, m := sess.r, sess.r.m
	pg := mm.VA(bound(t, sess, "pg")).PageBase()
	var targets flipTargets
	r.flipFrame(Fault{}, &targets)
	if !slices.Contains(targets.pages, pg) || len(targets.pages) != 2 {
		t.Fatalf("the pages a flip may hit: %v, want np's and pg's (%v)", targets.pages, pg)
	}
	// A flip of a data frame changes nothing the list depends on.
	targets.flipped(m, m.PTE(mm.VA(bound(t, sess, "np"))).Frame())
	if !targets.listed {
		t.Errorf("a flip in a data frame made the pages be listed again")
	}
	// Clear pg's valid bit, as a flip in its page table would.
	table := m.PTEChain(pg)[mm.LevelPDE].Value.Frame()
	if err := m.FlipBit(table, int(pg>>mm.PageShift&511), 0); err != nil {
		t.Fatal(err)
	}
	targets.flipped(m, table)
	r.flipFrame(Fault{}, &targets)
	if slices.Contains(targets.pages, pg) || len(targets.pages) != 1 {
		t.Errorf("after pg's PTE lost its valid bit the pages a flip may hit are %v; want only np's", targets.pages)
	}
}
