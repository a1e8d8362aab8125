//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestInterruptWhileOutBlocks: an --out to a pipe whose reader stopped
// reading blocks the write; SIGINT must still end the campaign (it once
// waited for the write forever).
func TestInterruptWhileOutBlocks(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"flaky.yaml": flakyYAML})
	fifo := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0) // open, never read
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	cmd := exec.Command(os.Args[0], "--", "campaign", filepath.Join(dir, "flaky.yaml"), "--seeds", "1-5000", "-o", fifo)
	cmd.Env = append(os.Environ(), "SIMKERN_AS_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the runs end and the write fills the pipe
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("exit %d, want 130", code)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the campaign did not end on SIGINT while its --out write was blocked")
	}
}
