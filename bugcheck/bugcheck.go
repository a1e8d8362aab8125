package bugcheck

import (
	"fmt"
	"strings"
)

// Error is a halted machine: the code and four parameters KeBugCheckEx was
// given, and the simkern check that raised it.
type Error struct {
	Code Code
	P    [4]uint64 // exactly as Microsoft documents them for Code
	Site string    // the check that fired, for the report; never a parameter
}

// New returns the bugcheck code(p1, p2, p3, p4).
func New(code Code, p1, p2, p3, p4 uint64) *Error {
	return &Error{Code: code, P: [4]uint64{p1, p2, p3, p4}}
}

// At names the check that raised e and returns e.
func (e *Error) At(site string) *Error {
	e.Site = site
	return e
}

// Error is the short line WinDbg prints first: "BugCheck D1, {4, 2, 1, fffff880045e135c}".
func (e *Error) Error() string {
	return fmt.Sprintf("BugCheck %X, {%x, %x, %x, %x}", uint32(e.Code), e.P[0], e.P[1], e.P[2], e.P[3])
}

// Is makes errors.Is(err, bugcheck.New(code, ...)) match on code and parameters.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.P == e.P
}

// Detail is one "KEY:  value" line of the Debugging Details section.
type Detail struct {
	Key   string
	Value string
}

const banner = `*******************************************************************************
*                                                                             *
*                        Bugcheck Analysis                                    *
*                                                                             *
*******************************************************************************
`

// Analysis lays e out as WinDbg's !analyze -v does. details are printed
// after the BUGCHECK_ lines; an IMAGE_NAME among them ends the
// FAILURE_BUCKET_ID.
func (e *Error) Analysis(details ...Detail) string {
	var b strings.Builder
	b.WriteString(banner)
	fmt.Fprintf(&b, "%s (%x)\n", e.Code.Name(), uint32(e.Code))
	if d := e.Code.Description(); d != "" {
		b.WriteString(d)
		b.WriteString("\n")
	}
	b.WriteString("Arguments:\n")
	meanings := e.Code.ArgMeanings(e.P)
	for i, p := range e.P {
		fmt.Fprintf(&b, "Arg%d: %016x, %s\n", i+1, p, meanings[i])
	}
	b.WriteString("\nDebugging Details:\n------------------\n\n")
	fmt.Fprintf(&b, "BUGCHECK_CODE:  %x\n\n", uint32(e.Code))
	for i, p := range e.P {
		fmt.Fprintf(&b, "BUGCHECK_P%d: %x\n\n", i+1, p)
	}
	bucket := e.bucket()
	for _, d := range details {
		if d.Key == "IMAGE_NAME" {
			bucket += "_" + d.Value
		}
		fmt.Fprintf(&b, "%s:  %s\n\n", d.Key, d.Value)
	}
	if e.Site != "" {
		fmt.Fprintf(&b, "SIMKERN_CHECK:  %s\n\n", e.Site)
	}
	fmt.Fprintf(&b, "FAILURE_BUCKET_ID:  %s\n", bucket)
	return b.String()
}

// bucket is the FAILURE_BUCKET_ID of an analysis that blames no driver:
// the code, and for the families with a sub-code, that too.
func (e *Error) bucket() string {
	if s, ok := e.Code.Subtype(e.P); ok {
		return fmt.Sprintf("0x%X_%x", uint32(e.Code), s)
	}
	return fmt.Sprintf("0x%X", uint32(e.Code))
}

// Subtype returns the parameter that picks the case in the families that
// have one: P1 of 0x19, 0x1A, 0xC2 and 0xC4, P4 of 0xC1. Other codes'
// parameters are addresses and values, which say where, not what.
func (c Code) Subtype(p [4]uint64) (uint64, bool) {
	switch c {
	case BadPoolHeader, BadPoolCaller, DriverVerifierDetectedViolation, MemoryManagement:
		return p[0], true
	case SpecialPoolDetectedMemoryCorruption:
		return p[3], true
	}
	return 0, false
}
