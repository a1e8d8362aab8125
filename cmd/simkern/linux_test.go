package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	cmd := simkernProcess("campaign", filepath.Join(dir, "flaky.yaml"), "--seeds", "1-5000", "-o", fifo)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The runs end and the results fill the pipe, whose reader never
	// reads: only then is the write blocked, however slow the build.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, err := unix.IoctlGetInt(int(reader.Fd()), unix.TIOCINQ); err == nil && n >= 4096 {
			time.Sleep(200 * time.Millisecond) // the writer is in its blocked write by now
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the campaign never wrote its results into the pipe")
		}
	}
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

// TestKDRefusesWhatIsNotAFile: kd reads a dump or a scenario, so a FIFO
// or a directory is refused by name, in kd's words (a FIFO was once
// refused in the scenario loader's, though it might have been a dump).
func TestKDRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, path := range []string{fifo, dir} {
		code, stdout, stderr := kdcli("", "kd", path, "-c", "!vm")
		want := "simkern: " + path + ": not a regular file: kd reads a crash dump or a scenario file\n"
		if code != 2 || stdout != "" || stderr != want {
			t.Errorf("kd %s: exit %d, stdout %q, stderr %q; want exit 2 and %q", path, code, stdout, stderr, want)
		}
	}
}
