package scenario

import (
	"errors"
	"strings"
	"testing"
)

// A run that maps, unmaps, trims or pages out more pages of ranges than a
// run may stops at the step that passed the limit, whether the step is
// one call (an alloc, a page_out) or a workload of many, and its outcome
// says why: the file is at fault.
func TestRunStopsPastTheRangeLimit(t *testing.T) {
	defer func(n uint64) { maxRangePages = n }(maxRangePages)
	maxRangePages = 3000
	for _, tc := range []struct {
		name  string
		steps string
		at    string // the step that passed the limit
		ran   uint64 // steps executed, that one included
	}{
		{"big allocations", "  - repeat: {times: 10, steps: [{alloc: {as: b, pool: PagedPool, size: 4MiB, tag: Big}}, {free: b}]}\n",
			"lim.yaml:3:34: alloc: {as: b, pool: PagedPool, size: 4MiB, tag: Big}", 3},
		{"paging a range out", "  - alloc: {as: b, pool: PagedPool, size: 2MiB, tag: Big}\n  - repeat: {times: 10, steps: [{page_out: b}]}\n",
			"lim.yaml:4:34: page_out: b", 4},
		{"a workload", "  - workload: {ops: 1000, pool: PagedPool, sizes: 4MiB, live: 1}\n",
			"lim.yaml:3:5: workload: {ops: 1000, pool: PagedPool, sizes: 4MiB, live: 1}", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "lim.yaml", "name: lim\nsteps:\n"+tc.steps)
			_, o, out := runInline(t, s, Options{})
			if o.Limit == nil || !errors.Is(o.Limit, errRangeLimit) || !strings.HasPrefix(o.Limit.Error(), tc.at+": ") {
				t.Fatalf("outcome %+v; want the range limit at %s\n%s", o, tc.at, out)
			}
			if o.Exit != ExitUsage || o.Steps != tc.ran {
				t.Errorf("exit %d after %d steps; want %d after %d", o.Exit, o.Steps, ExitUsage, tc.ran)
			}
			if strings.Contains(out, "Outcome:") {
				t.Errorf("a run stopped by a limit printed an outcome\n%s", out)
			}
		})
	}
}
