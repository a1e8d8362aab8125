//go:build !invariants

// Package invariants switches simkern's self-checks on and off. The checks
// guard state no scenario can reach, so a failure is a bug in simkern and
// panics; they cost time, so they compile away unless the build has
// -tags invariants, which the tests and fuzzers use.
package invariants

// Enabled is false in ordinary builds; see on.go.
const Enabled = false
