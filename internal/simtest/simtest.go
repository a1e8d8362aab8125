// Package simtest holds the test helpers that the packages above the CPU
// share: asserting a bugcheck, raising an IRQL. Tests import it; nothing
// else does.
package simtest

import (
	"errors"
	"testing"

	"simkern/bugcheck"
	"simkern/cpu"
)

// WantBugcheck fails the test unless err is the bugcheck want, comparing
// the code and all four parameters.
func WantBugcheck(t testing.TB, err error, want *bugcheck.Error) {
	t.Helper()
	var got *bugcheck.Error
	if !errors.As(err, &got) {
		t.Fatalf("got error %v, want %v", err, want)
	}
	if got.Code != want.Code || got.P != want.P {
		t.Fatalf("got %v (at %s), want %v", got, got.Site, want)
	}
}

// Raise raises c's IRQL to level, failing the test if that is a bugcheck.
func Raise(t testing.TB, c *cpu.CPU, level cpu.IRQL) {
	t.Helper()
	if _, err := c.Raise(level); err != nil {
		t.Fatalf("Raise(%v): %v", level, err)
	}
}
