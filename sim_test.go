package simkern_test

// The end-to-end tests: every example scenario runs through the same path
// as `simkern run`, and its text and JSON output must equal the golden
// files under testdata/ byte for byte. `go test -update` rewrites them;
// review the diff like code.

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"simkern/examples"
	"simkern/internal/golden"
	"simkern/scenario"
)

// runExample runs an embedded example as `simkern run` would.
func runExample(t *testing.T, name string, jsonOut bool) (string, *scenario.Outcome) {
	t.Helper()
	data, ok := examples.Read(name)
	if !ok {
		t.Fatalf("no example %s", name)
	}
	s, err := scenario.ParseFS(examples.FS(), name+".yaml", data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out bytes.Buffer
	o, err := scenario.Run(s, scenario.Options{JSON: jsonOut, Version: "test", Out: &out})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), o
}

func TestExamplesMatchGoldenOutput(t *testing.T) {
	names := examples.Names()
	if len(names) < 12 {
		t.Fatalf("%d examples, the issue names 12", len(names))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			text, o := runExample(t, name, false)
			if o.Exit != scenario.ExitOK {
				t.Errorf("%s exits %d, want 0 (its expect: should hold):\n%s", name, o.Exit, text)
			}
			golden.Check(t, filepath.Join("testdata", name+".txt"), text)

			js, _ := runExample(t, name, true)
			for i, line := range strings.Split(strings.TrimSuffix(js, "\n"), "\n") {
				var e map[string]any
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("JSON line %d is not an object: %v\n%s", i+1, err, line)
				}
				if _, ok := e["event"]; !ok {
					t.Fatalf("JSON line %d has no event field: %s", i+1, line)
				}
			}
			golden.Check(t, filepath.Join("testdata", name+".jsonl"), js)
		})
	}
}

func TestRunsAreDeterministic(t *testing.T) {
	for _, name := range []string{"tour", "memory-pressure", "race", "replay"} {
		a, _ := runExample(t, name, true)
		b, _ := runExample(t, name, true)
		if a != b {
			t.Errorf("%s: two runs with the same seed differ:\n%s", name, golden.FirstDiff(a, b))
		}
	}
}
