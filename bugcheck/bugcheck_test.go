package bugcheck

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"simkern/internal/golden"
)

func TestErrorLine(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "a driver IRQL fault prints upper-case code and lower-case parameters",
			err:  New(DriverIrqlNotLessOrEqual, 4, 2, 1, 0xfffff880045e135c),
			want: "BugCheck D1, {4, 2, 1, fffff880045e135c}",
		},
		{
			name: "parameters have no leading zeros and zero prints as 0",
			err:  New(BadPoolHeader, 0x20, 0xffffa80001234560, 0, 0x10),
			want: "BugCheck 19, {20, ffffa80001234560, 0, 10}",
		},
		{
			name: "the site never shows in the short line",
			err:  New(KernelDataInpageError, 0xfffff6fb40000008, 0xc000009c, 0x12345000000080, 0xfffff88000001000).At("inPage"),
			want: "BugCheck 7A, {fffff6fb40000008, c000009c, 12345000000080, fffff88000001000}",
		},
		{
			name: "a code simkern does not know still prints",
			err:  New(Code(0x123), 0, 0, 0, 0),
			want: "BugCheck 123, {0, 0, 0, 0}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
		})
	}
}

func TestErrorsAsAndIs(t *testing.T) {
	bc := New(BadPoolCaller, 0x7, 0x1205, 0, 0xffffa80001234560).At("checkDoubleFree")
	wrapped := fmt.Errorf("scenario line 12: %w", fmt.Errorf("ExFreePool: %w", bc))
	tests := []struct {
		name   string
		err    error
		target *Error // for errors.Is; nil to skip
		wantAs bool
		wantIs bool
	}{
		{name: "errors.As finds a bugcheck through two wrappings", err: wrapped, wantAs: true},
		{name: "errors.Is matches the same code and parameters", err: wrapped, target: New(BadPoolCaller, 0x7, 0x1205, 0, 0xffffa80001234560), wantAs: true, wantIs: true},
		{name: "errors.Is ignores the site", err: wrapped, target: New(BadPoolCaller, 0x7, 0x1205, 0, 0xffffa80001234560).At("elsewhere"), wantAs: true, wantIs: true},
		{name: "errors.Is tells parameters apart", err: wrapped, target: New(BadPoolCaller, 0x7, 0x1205, 0, 0), wantAs: true, wantIs: false},
		{name: "errors.Is tells codes apart", err: wrapped, target: New(BadPoolHeader, 0x7, 0x1205, 0, 0xffffa80001234560), wantAs: true, wantIs: false},
		{name: "an ordinary error is no bugcheck", err: fmt.Errorf("wrap: %w", errors.New("disk full")), target: bc, wantAs: false, wantIs: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *Error
			if as := errors.As(tt.err, &got); as != tt.wantAs {
				t.Fatalf("errors.As(%v) = %v, want %v", tt.err, as, tt.wantAs)
			}
			if tt.wantAs && got != bc {
				t.Errorf("errors.As found %v (site %q), want the original %v", got, got.Site, bc)
			}
			if tt.target != nil {
				if is := errors.Is(tt.err, tt.target); is != tt.wantIs {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", tt.err, tt.target, is, tt.wantIs)
				}
			}
		})
	}
}

func TestAnalysis(t *testing.T) {
	d1 := New(DriverIrqlNotLessOrEqual, 4, 2, 1, 0xfffff880045e135c)
	tests := []struct {
		name    string
		err     *Error
		details []Detail
		// Lines (or runs of lines) the report must hold, and must not.
		want    []string
		notWant []string
		// How many times each string must appear.
		count map[string]int
	}{
		{
			name: "the report opens with the banner",
			err:  d1,
			want: []string{banner, "*                        Bugcheck Analysis                                    *\n"},
		},
		{
			name: "the name line follows the banner straight away",
			err:  d1,
			want: []string{"*******\nDRIVER_IRQL_NOT_LESS_OR_EQUAL (d1)\n"},
		},
		{
			name: "the name line gives the code in lower-case hex",
			err:  d1,
			want: []string{"\nDRIVER_IRQL_NOT_LESS_OR_EQUAL (d1)\n"},
		},
		{
			name: "each argument prints 16 hex digits and its meaning",
			err:  d1,
			want: []string{
				"\nArguments:\nArg1: 0000000000000004, memory referenced\n",
				"\nArg2: 0000000000000002, IRQL\n",
				"\nArg3: 0000000000000001, value 0 = read operation, 1 = write operation\n",
				"\nArg4: fffff880045e135c, address which referenced memory\n",
			},
		},
		{
			name: "an argument with no meaning ends at the comma",
			err:  New(IrqlNotGreaterOrEqual, 2, 0, 0, 0),
			want: []string{"\nArg1: 0000000000000002, current IRQL\n", "\nArg3: 0000000000000000, \n", "\nArg4: 0000000000000000, \n"},
		},
		{
			name: "BUGCHECK lines are lower-case hex without leading zeros",
			err:  d1,
			want: []string{
				"\nBUGCHECK_CODE:  d1\n\n",
				"\nBUGCHECK_P1: 4\n\n",
				"\nBUGCHECK_P2: 2\n\n",
				"\nBUGCHECK_P3: 1\n\n",
				"\nBUGCHECK_P4: fffff880045e135c\n\n",
			},
			notWant: []string{"BUGCHECK_P1: 0", "BUGCHECK_CODE:  D1", "BUGCHECK_P4: 0x"},
		},
		{
			name: "the default bucket of a plain code is the code",
			err:  d1,
			want: []string{"\nFAILURE_BUCKET_ID:  0xD1\n"},
		},
		{
			name: "the default bucket of a pool family adds the P1 sub-code",
			err:  New(BadPoolHeader, 0x20, 0xffffa80001234560, 0xffffa80001234580, 0x25010002),
			want: []string{"\nBAD_POOL_HEADER (19)\n", "\nFAILURE_BUCKET_ID:  0x19_20\n"},
		},
		{
			name: "the default bucket of special pool corruption takes the P4 sub-code",
			err:  New(SpecialPoolDetectedMemoryCorruption, 0xffffcf8000a3ef00, 0xffffcf8000a3f000, 0, 0x24),
			want: []string{"\nFAILURE_BUCKET_ID:  0xC1_24\n", "Arg4: 0000000000000024, the driver wrote past the end of its allocation\n"},
		},
		{
			name:    "an IMAGE_NAME detail ends the bucket, after the sub-code",
			err:     New(DriverVerifierDetectedViolation, 0x62, 0xfffff88001000100, 0, 2),
			details: []Detail{{Key: "IMAGE_NAME", Value: "leaky.sys"}},
			want:    []string{"\nIMAGE_NAME:  leaky.sys\n", "\nFAILURE_BUCKET_ID:  0xC4_62_leaky.sys\n"},
			count:   map[string]int{"FAILURE_BUCKET_ID": 1},
		},
		{
			name:    "details print after the BUGCHECK lines in the order given",
			err:     d1,
			details: []Detail{{Key: "SIMKERN_SCENARIO", Value: "irql.scn:7"}, {Key: "POOL_ADDRESS", Value: "fffff880045e1000"}},
			want:    []string{"BUGCHECK_P4: fffff880045e135c\n\nSIMKERN_SCENARIO:  irql.scn:7\n\nPOOL_ADDRESS:  fffff880045e1000\n\nFAILURE_BUCKET_ID:  0xD1\n"},
		},
		{
			name: "the site appears as SIMKERN_CHECK just before the bucket",
			err:  New(BadPoolHeader, 0x5, 1, 0, 2).At("checkHeaderNeighbours"),
			want: []string{"\nSIMKERN_CHECK:  checkHeaderNeighbours\n\nFAILURE_BUCKET_ID:  0x19_5\n"},
		},
		{
			name:    "a report without a site has no SIMKERN_CHECK line",
			err:     d1,
			notWant: []string{"SIMKERN_CHECK"},
		},
		{
			name:    "an unknown code gets a made-up name and no description",
			err:     New(Code(0x123), 1, 0, 0, 0),
			want:    []string{"*\nBUGCHECK_0x123 (123)\nArguments:\nArg1: 0000000000000001, \n", "\nFAILURE_BUCKET_ID:  0x123\n"},
			notWant: []string{"BUGCHECK_0x123 (123)\n\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.err.Analysis(tt.details...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q\n--- report ---\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("report holds %q\n--- report ---\n%s", w, out)
				}
			}
			for s, n := range tt.count {
				if got := strings.Count(out, s); got != n {
					t.Errorf("report holds %q %d times, want %d", s, got, n)
				}
			}
			if !strings.HasSuffix(out, "\n") || strings.HasSuffix(out, "\n\n") {
				t.Errorf("report should end in exactly one newline: ...%q", out[max(0, len(out)-40):])
			}
		})
	}
}

// goldenHeader opens each golden file; the test strips the lines that
// start with '#' before comparing.
const goldenHeader = `# Golden output of (*bugcheck.Error).Analysis, WinDbg's !analyze -v layout.
# Everything after these '#' lines is compared byte for byte (note the
# trailing space after an argument with no meaning).
# Regenerate with: go test ./bugcheck -run TestAnalysisGolden -update
`

func TestAnalysisGolden(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		err     *Error
		details []Detail
	}{
		{
			name:    "a driver touching pageable memory at DISPATCH_LEVEL",
			file:    "driver_irql_not_less_or_equal.golden",
			err:     New(DriverIrqlNotLessOrEqual, 4, 2, 1, 0xfffff880045e135c).At("accessCheckIrql"),
			details: []Detail{{Key: "SIMKERN_SCENARIO", Value: "irql.scn:7:3"}},
		},
		{
			name: "a pool block whose neighbour disagrees about its size",
			file: "bad_pool_header_20.golden",
			err:  New(BadPoolHeader, 0x20, 0xffffa80001234560, 0xffffa80001234580, 0x25010002).At("checkNextHeader"),
		},
		{
			name: "a must-succeed request that cannot be met: P2 and P3 are page counts",
			file: "must_succeed_pool_empty.golden",
			err:  New(MustSucceedPoolEmpty, 0x1000, 3, 0x100, 0x3f2).At("ExAllocatePoolWithTag: must succeed"),
		},
		{
			name: "a raise to a lower IRQL, whose last two arguments mean nothing",
			file: "irql_not_greater_or_equal.golden",
			err:  New(IrqlNotGreaterOrEqual, 2, 0, 0, 0).At("KeRaiseIrql"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.Analysis(tt.details...)
			golden.Check(t, filepath.Join("testdata", tt.file), goldenHeader+got)
		})
	}
}

func TestCodeTable(t *testing.T) {
	// Every code constant, so a new one that misses the table fails here.
	all := []struct {
		code Code
		name string
	}{
		{IrqlNotGreaterOrEqual, "IRQL_NOT_GREATER_OR_EQUAL"},
		{IrqlNotLessOrEqual, "IRQL_NOT_LESS_OR_EQUAL"},
		{BadPoolHeader, "BAD_POOL_HEADER"},
		{MemoryManagement, "MEMORY_MANAGEMENT"},
		{KmodeExceptionNotHandled, "KMODE_EXCEPTION_NOT_HANDLED"},
		{MustSucceedPoolEmpty, "MUST_SUCCEED_POOL_EMPTY"},
		{NoPagesAvailable, "NO_PAGES_AVAILABLE"},
		{PageFaultInNonpagedArea, "PAGE_FAULT_IN_NONPAGED_AREA"},
		{KernelDataInpageError, "KERNEL_DATA_INPAGE_ERROR"},
		{SpecialPoolDetectedMemoryCorruption, "SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION"},
		{BadPoolCaller, "BAD_POOL_CALLER"},
		{DriverVerifierDetectedViolation, "DRIVER_VERIFIER_DETECTED_VIOLATION"},
		{DriverCorruptedExpool, "DRIVER_CORRUPTED_EXPOOL"},
		{PageFaultInFreedSpecialPool, "PAGE_FAULT_IN_FREED_SPECIAL_POOL"},
		{PageFaultBeyondEndOfAllocation, "PAGE_FAULT_BEYOND_END_OF_ALLOCATION"},
		{DriverIrqlNotLessOrEqual, "DRIVER_IRQL_NOT_LESS_OR_EQUAL"},
		{DriverPageFaultInFreedSpecialPool, "DRIVER_PAGE_FAULT_IN_FREED_SPECIAL_POOL"},
		{DriverPageFaultBeyondEndOfAllocation, "DRIVER_PAGE_FAULT_BEYOND_END_OF_ALLOCATION"},
	}
	var want []Code
	for _, c := range all {
		want = append(want, c.code)
	}
	slices.Sort(want)
	if got := Codes(); !slices.Equal(got, want) {
		t.Fatalf("Codes() = %x\nwant      %x (in numeric order)", got, want)
	}
	nameRE := regexp.MustCompile(`^[A-Z][A-Z_]*[A-Z]$`)
	for _, c := range all {
		t.Run(fmt.Sprintf("code %#x is known, named %s and described", uint32(c.code), c.name), func(t *testing.T) {
			if !c.code.Known() {
				t.Errorf("Known() = false")
			}
			if got := c.code.Name(); got != c.name || !nameRE.MatchString(got) {
				t.Errorf("Name() = %q, want %q", got, c.name)
			}
			d := c.code.Description()
			if strings.TrimSpace(d) == "" {
				t.Errorf("Description() is empty")
			}
			if strings.HasSuffix(d, "\n") || !strings.HasSuffix(d, ".") {
				t.Errorf("Description() should be whole sentences without a trailing newline: %q", d)
			}
			// Every code has some parameter that means something, for
			// the parameters its family documents.
			p := [4]uint64{}
			switch c.code {
			case BadPoolHeader:
				p[0] = 0x3
			case BadPoolCaller:
				p[0] = 0x6
			case DriverVerifierDetectedViolation:
				p[0] = 0x10
			case SpecialPoolDetectedMemoryCorruption:
				p[3] = 0x20
			}
			m := c.code.ArgMeanings(p)
			if m == [4]string{} {
				t.Errorf("ArgMeanings(%x) are all empty", p)
			}
		})
	}
	t.Run("a code simkern does not know says so", func(t *testing.T) {
		c := Code(0xDEAD)
		if c.Known() || c.Name() != "BUGCHECK_0xDEAD" || c.Description() != "" || c.ArgMeanings([4]uint64{1, 2, 3, 4}) != [4]string{} {
			t.Errorf("Code(0xDEAD): Known %v, Name %q, Description %q, ArgMeanings %q", c.Known(), c.Name(), c.Description(), c.ArgMeanings([4]uint64{}))
		}
	})
}

func TestSubCodes(t *testing.T) {
	tests := []struct {
		name   string
		code   Code
		p1     uint64
		wantP1 string // what Arg1 means
		wantP2 string // and Arg2, where the family defines one
	}{
		// BAD_POOL_HEADER (0x19).
		{name: "0x19/3 is a corrupt free list", code: BadPoolHeader, p1: 0x3, wantP1: "the pool freelist is corrupt", wantP2: "the pool entry being checked"},
		{name: "0x19/5 is neighbours that contradict each other", code: BadPoolHeader, p1: 0x5, wantP1: "adjacent pool headers contradict each other", wantP2: "one of the pool entries"},
		{name: "0x19/6 is a previous size too large", code: BadPoolHeader, p1: 0x6, wantP1: "a pool header's previous size is too large", wantP2: "the incorrectly calculated entry"},
		// P2 of 7 and 8 is documented as 0, and is labelled so, as 0xC2's are.
		{name: "0x19/7 is a first block not page aligned", code: BadPoolHeader, p1: 0x7, wantP1: "a pool header's size is corrupt (first block not page aligned)", wantP2: "0"},
		{name: "0x19/8 is a block size of zero", code: BadPoolHeader, p1: 0x8, wantP1: "a pool header's size is zero", wantP2: "0"},
		{name: "0x19/9 is a block size too large", code: BadPoolHeader, p1: 0x9, wantP1: "a pool header's size is too large"},
		{name: "0x19/0xA is a page walk that overran", code: BadPoolHeader, p1: 0xA, wantP1: "the page walk did not end at the page end"},
		{name: "0x19/0x20 is a next header that disagrees", code: BadPoolHeader, p1: 0x20, wantP1: "the next pool header disagrees about this block's size", wantP2: "the pool entry that should have been found"},
		{name: "0x19/0x21 is an overrun found at free", code: BadPoolHeader, p1: 0x21, wantP1: "the data following the pool block being freed is corrupt (an overrun)", wantP2: "the pool pointer being freed"},
		{name: "0x19/2 has no text for its sub-code", code: BadPoolHeader, p1: 0x2, wantP1: "", wantP2: "pool entry being checked"},
		{name: "0x19 with a sub-code simkern does not know means nothing", code: BadPoolHeader, p1: 0x99},
		// BAD_POOL_CALLER (0xC2).
		{name: "0xC2/0 is a zero-byte request", code: BadPoolCaller, p1: 0x0, wantP1: "The caller is requesting a zero byte pool allocation.", wantP2: "zero"},
		{name: "0xC2/1 is a corrupt pool header", code: BadPoolCaller, p1: 0x1, wantP1: "Pool header has been corrupted", wantP2: "Pointer to pool header"},
		{name: "0xC2/4 shares the corrupt header text", code: BadPoolCaller, p1: 0x4, wantP1: "Pool header has been corrupted", wantP2: "Pointer to pool header"},
		{name: "0xC2/6 is a double free", code: BadPoolCaller, p1: 0x6, wantP1: "Attempt to free pool which was already freed", wantP2: "(reserved)"},
		{name: "0xC2/7 is a double free seen in the block", code: BadPoolCaller, p1: 0x7, wantP1: "Attempt to free pool which was already freed", wantP2: "(reserved)"},
		{name: "0xC2/8 is an allocation at a bad IRQL", code: BadPoolCaller, p1: 0x8, wantP1: "Attempt to allocate pool at invalid IRQL", wantP2: "Current IRQL"},
		{name: "0xC2/9 is a free at a bad IRQL", code: BadPoolCaller, p1: 0x9, wantP1: "Attempt to free pool at invalid IRQL", wantP2: "Current IRQL"},
		{name: "0xC2/0xA is a free with the wrong tag", code: BadPoolCaller, p1: 0xA, wantP1: "Attempt to free pool with the wrong tag", wantP2: "Address of pool"},
		{name: "0xC2/0x42 is a free of an address in no pool", code: BadPoolCaller, p1: 0x42, wantP1: "Attempt to free a virtual address which was never in any pool", wantP2: "Address being freed"},
		{name: "0xC2/0x99 is a free of an invalid address", code: BadPoolCaller, p1: 0x99, wantP1: "Attempt to free pool with an invalid address (or the pool header is corrupt)"},
		{name: "0xC2/0x9B is a tag of zero", code: BadPoolCaller, p1: 0x9B, wantP1: "Attempt to allocate pool with a tag of zero", wantP2: "Pool type"},
		{name: "0xC2/0x41286 is a free in the middle of paged pool", code: BadPoolCaller, p1: 0x41286, wantP1: "Attempt to free a paged pool address in the middle of an allocation"},
		{name: "0xC2 with a sub-code simkern does not know means nothing", code: BadPoolCaller, p1: 0x5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.code.ArgMeanings([4]uint64{tt.p1, 0xffffa80001234560, 0, 0})
			if m[0] != tt.wantP1 {
				t.Errorf("P1 %#x means %q, want %q", tt.p1, m[0], tt.wantP1)
			}
			if tt.wantP2 != "" && m[1] != tt.wantP2 {
				t.Errorf("P1 %#x: P2 means %q, want %q", tt.p1, m[1], tt.wantP2)
			}
			if tt.wantP1 == "" && tt.wantP2 == "" && m != [4]string{} {
				t.Errorf("P1 %#x: unknown sub-code has meanings %q", tt.p1, m)
			}
			// And the report prints the P1 meaning on the Arg1 line.
			line := fmt.Sprintf("\nArg1: %016x, %s\n", tt.p1, tt.wantP1)
			if out := New(tt.code, tt.p1, 0xffffa80001234560, 0, 0).Analysis(); !strings.Contains(out, line) {
				t.Errorf("report lacks %q", line)
			}
		})
	}
}

// Codes lists every code simkern can raise, in numeric order.
func Codes() []Code {
	out := make([]Code, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Known reports whether simkern documents this code.
func (c Code) Known() bool { _, ok := codes[c]; return ok }
