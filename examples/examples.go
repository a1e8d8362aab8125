// Package examples holds simkern's example scenarios, embedded in the
// binary so `simkern run` and `simkern examples` work anywhere. Each file
// teaches one thing and says what in its description.
package examples

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed *.yaml traces
var files embed.FS

// FS returns the examples as a file system: NAME.yaml at the top, trace
// files under traces/.
func FS() fs.FS { return files }

// Names lists the examples, without .yaml, in name order.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(out)
	return out
}

// Read returns an example's file by name (with or without .yaml).
func Read(name string) ([]byte, bool) {
	b, err := fs.ReadFile(files, path.Clean(strings.TrimSuffix(name, ".yaml")+".yaml"))
	return b, err == nil
}
