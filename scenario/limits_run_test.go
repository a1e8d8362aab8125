package scenario

import (
	"errors"
	"strings"
	"testing"
)

// A run that maps, unmaps, trims or pages out more pages of ranges, or
// moves more bytes, than a run may stops at the step that passed the
// limit, whether the step is one call (an alloc, a page_out, a read) or a
// workload of many, and its outcome says why: the file is at fault.
func TestRunStopsPastItsLimits(t *testing.T) {
	defer func(n, b uint64) { maxRangePages, maxBytesMoved = n, b }(maxRangePages, maxBytesMoved)
	maxRangePages, maxBytesMoved = 3000, 1<<20
	for _, tc := range []struct {
		name  string
		steps string
		at    string // the step that passed the limit
		ran   uint64 // steps executed, that one included
		err   error
	}{
		{"big allocations", "  - repeat: {times: 10, steps: [{alloc: {as: b, pool: PagedPool, size: 4MiB, tag: Big}}, {free: b}]}\n",
			"lim.yaml:3:34: alloc: {as: b, pool: PagedPool, size: 4MiB, tag: Big}", 3, errRangeLimit},
		{"paging a range out", "  - alloc: {as: b, pool: PagedPool, size: 2MiB, tag: Big}\n  - repeat: {times: 10, steps: [{page_out: b}]}\n",
			"lim.yaml:4:34: page_out: b", 4, errRangeLimit},
		{"writing a range's modified pages", "  - alloc: {as: b, pool: PagedPool, size: 2MiB, tag: Big}\n  - repeat: {times: 10, steps: [{write_modified: b}]}\n",
			"lim.yaml:4:34: write_modified: b", 6, errRangeLimit},
		{"a workload", "  - workload: {ops: 1000, pool: PagedPool, sizes: 4MiB, live: 1}\n",
			"lim.yaml:3:5: workload: {ops: 1000, pool: PagedPool, sizes: 4MiB, live: 1}", 1, errRangeLimit},
		{"reads", "  - alloc: {as: b, pool: NonPagedPool, size: 64KiB, tag: Big}\n  - repeat: {times: 100, steps: [{read: {at: b, length: 64KiB}}]}\n",
			"lim.yaml:4:35: read: {at: b, length: 64KiB}", 18, errBytesLimit},
		{"a workload's patterns", "  - workload: {ops: 1000, pool: NonPagedPool, sizes: 3000-4000, live: 10, verify: true}\n",
			"lim.yaml:3:5: workload: {ops: 1000, pool: NonPagedPool, sizes: 3000-4000, live: 10, verify: true}", 1, errBytesLimit},
		{"a search of a large pool", "  - workload: {ops: 2000, pool: NonPagedPool, sizes: 1000, live: 2000, keep: true}\n  - repeat: {times: 10, steps: [{kd: \"!poolfind Zzzz\"}]}\n",
			"lim.yaml:4:34: kd: \"!poolfind Zzzz\"", 2, errBytesLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := loadInline(t, "lim.yaml", "name: lim\nsteps:\n"+tc.steps)
			_, o, out := runInline(t, s, Options{})
			if o.Limit == nil || !errors.Is(o.Limit, tc.err) || !strings.HasPrefix(o.Limit.Error(), tc.at+": ") {
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
