package scenario

import (
	"fmt"
	"strings"
	"testing"
)

// A run may inject millions of faults: a step lists at most
// maxListedInjections and counts the rest, and a bugcheck's report lists
// the last recentInjections, plus an older one whose NULL the failing
// step's name still holds, so memory does not grow with the injections.
func TestInjectionsAreBounded(t *testing.T) {
	s := loadInline(t, "inj.yaml", `name: inj
drivers: [d.sys]
verifier: {drivers: "*", low_resources: {probability: 1, tags: [Fail]}}
steps:
  - alloc: {as: old, pool: NonPagedPool, size: 16, tag: Fail, driver: d.sys}
  - workload: {ops: 3000, pool: NonPagedPool, sizes: 16, live: 1, tag: Fail}
    driver: d.sys
  - write: {at: old, bytes: [1]}
`)
	sess, o, out := runInline(t, s, Options{})
	if o.Bugcheck == nil {
		t.Fatalf("writing through the NULL did not bugcheck\n%s", out)
	}
	total := sess.r.injections()
	if total < 1000+maxListedInjections {
		t.Fatalf("%d injections: the test wants more than a step lists", total)
	}
	listed := strings.Count(out, "      ! injection #")
	more := fmt.Sprintf("      ! %d more injections in this step, not listed (a step lists at most %d)\n", total-1-maxListedInjections, maxListedInjections)
	if listed != 1+maxListedInjections || !strings.Contains(out, more) {
		t.Errorf("%d injection lines and the line %q: %v; want %d lines", listed, more, strings.Contains(out, more), 1+maxListedInjections)
	}
	if sess.r.recent.Len() != recentInjections || len(sess.r.named) != 1 {
		t.Errorf("the run keeps %d recent injections and %d named ones; want %d and 1", sess.r.recent.Len(), len(sess.r.named), recentInjections)
	}
	report := fmt.Sprintf("FAULT_INJECTIONS:  %d before the bugcheck (the last %d listed, and those the failing step's names hold)\n    injection #1: ", total, recentInjections)
	if !strings.Contains(out, report) || !strings.Contains(out, "-> old (= 0) used at inj.yaml:8") {
		t.Errorf("the report does not begin %q and mark old's NULL\n%s", report, out[strings.Index(out, "FAULT_INJECTIONS"):])
	}
	if n := strings.Count(out, "\n    injection #"); n != 1+recentInjections {
		t.Errorf("the report lists %d injections, want %d", n, 1+recentInjections)
	}
	// The last ones in order, oldest first.
	rep := out[strings.Index(out, "FAULT_INJECTIONS"):]
	first := strings.Index(rep, fmt.Sprintf("\n    injection #%d: ", total-recentInjections+1))
	next := strings.Index(rep, fmt.Sprintf("\n    injection #%d: ", total-recentInjections+2))
	end := strings.Index(rep, fmt.Sprintf("\n    injection #%d: ", total))
	if first < 0 || !(first < next && next < end) {
		t.Errorf("the last %d injections are not listed oldest first: at %d, %d, %d", recentInjections, first, next, end)
	}
}
