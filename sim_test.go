package simkern_test

// The end-to-end tests: every example scenario runs through the same path
// as `simkern run`, and its text and JSON output must equal the golden
// files under testdata/ byte for byte. `go test -update` rewrites them;
// review the diff like code.

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"simkern/examples"
	"simkern/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

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

func golden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the run's output (go test -update rewrites it):\n%s", path, firstDiff(string(want), got))
	}
}

// firstDiff shows the first line where two outputs part.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + a + "\n  got:  " + b
		}
	}
	return "(same lines, different bytes)"
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
			golden(t, name+".txt", text)

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
			golden(t, name+".jsonl", js)
		})
	}
}

func TestRunsAreDeterministic(t *testing.T) {
	for _, name := range []string{"tour", "memory-pressure", "race", "replay"} {
		a, _ := runExample(t, name, true)
		b, _ := runExample(t, name, true)
		if a != b {
			t.Errorf("%s: two runs with the same seed differ:\n%s", name, firstDiff(a, b))
		}
	}
}
