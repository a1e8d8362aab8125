//go:build unix

package scenario

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A trace that is a FIFO is refused before it is opened: opening one
// waits for a writer, and none may ever come.
func TestTraceFIFOIsRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.trace")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFO here:", err)
	}
	_, err := Parse(filepath.Join(dir, "f.yaml"), []byte("name: f\nsteps:\n  - replay: "+fifo+"\n"))
	if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("replay of a FIFO: %v, want it refused as not a regular file", err)
	}
}
