package scenario

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// A workload's generator stays below its bound and reaches every value of
// a small range, and the same seed draws the same numbers.
func TestWorkloadRandBelow(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 1009, 1 << 40} {
		g, h := workloadRand{42}, workloadRand{42}
		seen := map[uint64]bool{}
		for range 10000 {
			v := g.below(n)
			if v >= n {
				t.Fatalf("below(%d) = %d", n, v)
			}
			if w := h.below(n); w != v {
				t.Fatalf("below(%d): two generators with one seed drew %d and %d", n, v, w)
			}
			seen[v] = true
		}
		if n <= 1009 && uint64(len(seen)) != n {
			t.Errorf("below(%d) drew %d distinct values in 10000 draws, want all %d", n, len(seen), n)
		}
	}
}

const workloadScenario = `name: churn
machine: {ram: 16MiB, pagefile: 0}
steps:
  - workload: {ops: 20000, pool: NonPagedPool, sizes: 16-1024, live: 500, tag: Wkld, verify: true}
  - kd: "!poolused 2 Wkld"
expect:
  bugcheck: none
`

// Run needs no output writer, and a workload run twice with one seed
// reports the same bytes.
func TestWorkloadRuns(t *testing.T) {
	s, err := Parse("churn.yaml", []byte(workloadScenario))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Run(s, Options{})
	if err != nil || out.Exit != ExitOK || out.Steps != 2 {
		t.Fatalf("Run without Out: %+v, %v; want exit 0 after 2 steps", out, err)
	}
	var a, b bytes.Buffer
	for _, w := range []*bytes.Buffer{&a, &b} {
		if out, err := Run(s, Options{Out: w, Seed: 7, SeedSet: true}); err != nil || out.Exit != ExitOK {
			t.Fatalf("Run: %+v, %v", out, err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two runs with seed 7 differ:\n%s\n---\n%s", a.Bytes(), b.Bytes())
	}
	if !bytes.Contains(a.Bytes(), []byte("allocations, ")) {
		t.Errorf("the report has no workload result:\n%s", a.Bytes())
	}
}

// A workload whose allocations fail half the time still fills to live
// blocks before it churns: NULLs cost operations, not the fill.
func TestWorkloadFillsThroughFailures(t *testing.T) {
	s, err := Parse("null.yaml", []byte(`name: null-fill
drivers: [mydrv.sys]
verifier: {drivers: [mydrv.sys], low_resources: {probability: 0.5}}
steps:
  - workload: {ops: 1000, pool: NonPagedPool, sizes: 16-16, live: 10, tag: Wrk4, keep: true}
    driver: mydrv.sys
`))
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 5; seed++ {
		var out bytes.Buffer
		if _, err := Run(s, Options{Out: &out, Seed: seed, SeedSet: true, JSON: true}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out.Bytes(), []byte(`"peak_live":10`)) {
			t.Errorf("seed %d: the workload did not reach 10 live blocks:\n%s", seed, out.Bytes())
		}
		if !regexp.MustCompile(`"workload":\{[^}]*"failures":[1-9]`).Match(out.Bytes()) {
			t.Errorf("seed %d: no allocation returned NULL, so the test shows nothing:\n%s", seed, out.Bytes())
		}
	}
}

// TestWorkloadLiveAboveOps: the format says a workload allocates until
// live blocks are alive, and stops when ops operations are done; with
// live above ops it never gets to free, so it makes ops allocations
// (and, with keep, leaves them). That used to be refused at load.
func TestWorkloadLiveAboveOps(t *testing.T) {
	for _, tc := range []struct {
		keep string
		want string
	}{
		{"false", `"workload":{"allocs":10,"frees":10,"failures":0,"peak_live":10,"left":0}`},
		{"true", `"workload":{"allocs":10,"frees":0,"failures":0,"peak_live":10,"left":10}`},
	} {
		s, err := Parse("live.yaml", []byte("name: live\nsteps:\n  - workload: {ops: 10, pool: NonPagedPool, sizes: 16-64, live: 50, keep: "+tc.keep+"}\n"))
		if err != nil {
			t.Fatalf("keep %s: %v", tc.keep, err)
		}
		var out bytes.Buffer
		o, err := Run(s, Options{Out: &out, JSON: true})
		if err != nil || o.Exit != ExitOK {
			t.Fatalf("keep %s: %+v, %v", tc.keep, o, err)
		}
		if !bytes.Contains(out.Bytes(), []byte(tc.want)) {
			t.Errorf("keep %s: want %s in\n%s", tc.keep, tc.want, out.Bytes())
		}
	}
}

// A NULL takes an allocation's turn, and the next allocation may come on
// a free's turn (nothing is live to free): the live set must still never
// grow past live blocks, whatever the failures do to the alternation.
func TestWorkloadNeverAboveLive(t *testing.T) {
	peak := regexp.MustCompile(`"peak_live":(\d+)`)
	for _, live := range []int{1, 3} {
		s, err := Parse("above.yaml", []byte(fmt.Sprintf(`name: above
drivers: [mydrv.sys]
verifier: {drivers: [mydrv.sys], low_resources: {probability: 0.5}}
steps:
  - workload: {ops: 400, pool: NonPagedPool, sizes: 16-64, live: %d, tag: Wrk5}
    driver: mydrv.sys
`, live)))
		if err != nil {
			t.Fatal(err)
		}
		for seed := uint64(1); seed <= 6; seed++ {
			var out bytes.Buffer
			if _, err := Run(s, Options{Out: &out, Seed: seed, SeedSet: true, JSON: true}); err != nil {
				t.Fatal(err)
			}
			m := peak.FindSubmatch(out.Bytes())
			if m == nil {
				t.Fatalf("live %d, seed %d: no peak_live in\n%s", live, seed, out.Bytes())
			}
			if got, _ := strconv.Atoi(string(m[1])); got > live {
				t.Errorf("live %d, seed %d: peak %d live blocks", live, seed, got)
			}
		}
	}
}
