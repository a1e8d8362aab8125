// Package bugcheck is how the simulated machine halts.
//
// A real kernel that finds itself in a state it cannot trust calls
// KeBugCheckEx with a code and four parameters and stops. simkern does the
// same, but the stop is a Go value: every layer that can halt the machine
// returns a *Error, it travels up the stack like any other error, and the
// runner catches it with errors.As and prints the report. A bugcheck is the
// simulator doing its job, so it is never a panic; a panic in simkern means
// simkern itself is broken.
//
// Three kinds of failure are kept apart, and this package is only about the
// second:
//
//	bad input        a scenario or command line that is wrong: file:line:col, exit 2
//	bugcheck         the simulated kernel found a fault: *Error, exit 1
//	                 unless the scenario expected it (then exit 0)
//	simkern bug      a broken invariant of our own: a panic (tests and fuzzers)
//
// The code table (codes.go) lists every code simkern raises, with its
// Windows name, a short description and what each parameter means. Several
// codes (0x19, 0xC1, 0xC2, 0xC4, 0x1A) are families whose first or last
// parameter picks the sub-case; their parameter meanings are computed from
// the parameters themselves.
//
// Analysis lays an *Error out the way WinDbg's !analyze -v does, with 16-hex-
// digit arguments, and Error() gives the short "BugCheck D1, {...}" line.
// Layers above add their own details (the faulting code address mapped back
// to a scenario line, the pool region of the address) as Detail lines.
package bugcheck
