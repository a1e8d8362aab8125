package scenario

// The loaded form of a scenario file. Parse fills every default, so a runner
// never looks at the YAML again; see doc.go for the rules behind each field.

import (
	"io/fs"
	"slices"
	"strconv"

	"simkern/cpu"
	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// Limits the loader enforces. Each keeps a typo or a hostile file from
// becoming a machine nobody meant to build or a run that never ends;
// doc.go explains them.
const (
	MinRAMBytes      = mm.MinRAMBytes // machine.ram lower bound (1 MiB)
	MaxRAMBytes      = mm.MaxRAMBytes // machine.ram upper bound (1 TiB)
	MaxPagefileBytes = 1 << 40        // machine.pagefile upper bound (1 TiB)
	MinPagefileBytes = 8 << 10        // a pagefile's two 4 KiB slots, the first reserved
	MinNodeRAMBytes  = 12 << 10       // RAM each NUMA node needs: its nonpaged pool descriptors' pages, a share of the rest
	pageBytes        = mm.PageBytes   // machine.ram is used in whole pages
	MaxCPUs          = cpu.MaxCPUs    // machine.cpus upper bound
	MaxAllocBytes    = 4 << 30        // largest alloc size, workload size or trace size (4 GiB)
	MaxIOBytes       = 16 << 20       // largest single write or read (16 MiB)
	MaxDataBytes     = 64 << 20       // all write data and read expectations of a file together
	MaxKDBytes       = 4 << 10        // one kd: command
	MaxRepeat        = 1_000_000
	MaxSteps         = 10_000_000  // steps a run may execute, repeats expanded
	MaxOps           = 100_000_000 // workload and replay operations, repeats expanded
	MaxTraceOps      = 10_000_000  // operations in one trace file
	MaxTraceBytes    = 512 << 20   // size of one trace file
	MaxFileBytes     = 16 << 20    // size of a scenario file
	MaxNesting       = 32          // repeats inside repeats
	maxStepVisits    = 1_000_000   // steps the loader reads, aliases expanded

	// The YAML itself (shape.go), far above what a scenario needs: 32
	// nested repeats in block style are about 100 levels deep.
	MaxYAMLDepth  = 200     // maps and lists inside one another
	MaxYAMLKeys   = 1000    // keys in one block map
	MaxYAMLTokens = 500_000 // keys, values, brackets, ... in a file
)

// Defaults Parse fills in.
const (
	DefaultRAMBytes      = 64 << 20
	DefaultPagefileBytes = 256 << 20
	DefaultSeed          = 1
	DefaultProbability   = 0.06 // verifier.low_resources.probability
	DefaultFaultStatus   = 0xC000009C
)

// Pos is a place in a file; Line and Col count from 1.
type Pos struct {
	File      string
	Line, Col int
}

// String returns "file:line:col", or fewer parts when they are unknown.
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line)
		if p.Col > 0 {
			s += ":" + strconv.Itoa(p.Col)
		}
	}
	return s
}

// Error is a problem with a scenario or trace file. Every error Load and
// Parse return is an *Error.
type Error struct {
	Pos Pos
	Key string // dotted key path, e.g. "steps[3].alloc.size"; for a syntax error, the key of its line, or ""
	Msg string
}

// Error returns "FILE:LINE:COL: KEY: MSG".
func (e *Error) Error() string {
	if e.Key == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Key + ": " + e.Msg
}

// Scenario is one loaded file.
type Scenario struct {
	Name, Description string
	File              string // the name given to Parse (the path given to Load)
	Hash              string // hex SHA-256 of Raw, and of the traces it replays (inputsHash)
	Machine           Machine
	Drivers           []string
	Verifier          *Verifier // nil when the file has no verifier:
	Faults            []Fault

	// Exactly one of Steps and Threads is non-empty.
	Steps    []Step
	Threads  []Thread
	Schedule string // "round-robin" or "random"; meaningful with Threads

	Expect *Expect // nil when the file has no expect:
	Raw    []byte  // the file as read

	// Names holds every name a step binds (an alloc's as:), in name order: the
	// debugger takes one of them for an address even before its step has
	// run (an error then), never for a hex number.
	Names []string
}

// Machine is the simulated hardware.
type Machine struct {
	RAM       uint64 `json:"ram"`      // bytes
	Pagefile  uint64 `json:"pagefile"` // bytes; 0 means no pagefile
	CPUs      int    `json:"cpus"`     // 1..MaxCPUs
	NUMANodes int    `json:"numa_nodes"`
	Seed      uint64 `json:"seed"`
	SeedSet   bool   `json:"-"` // the file gave seed:, so --seed is an override
}

// Verifier holds Driver Verifier-style settings.
type Verifier struct {
	Drivers      []string // names from Scenario.Drivers, or ["*"] for all
	SpecialPool  string   // "off", "overrun" or "underrun"
	PoolTracking bool
	IRQLChecking bool
	LowResources *verifier.LowResources // nil when not given
	Pos          Pos                    // the verifier: key
}

// Fault is a failure of the simulated hardware.
type Fault struct {
	Kind string // "pagefile_read_error", "pagefile_write_error" or "bit_flip"

	// Pagefile errors: the Nth I/O of that direction fails (Nth > 0), or
	// each fails with Probability (Nth == 0); the I/O completes with Status.
	Nth         uint64
	Probability float64
	Status      uint32

	// bit_flip: before the Step'th executed step (1-based, repeats
	// expanded) one bit of RAM flips: in Frame (random if nil), bit Bit
	// (0..63) of a 64-bit word at a random offset (random if nil).
	Step  int
	Frame *uint64
	Bit   *uint8

	Pos Pos // the kind key
}

// Thread is one entry of threads:.
type Thread struct {
	Name  string
	CPU   int
	Steps []Step // steps without their own cpu: carry CPU
	Pos   Pos
}

// Step is one action. Exactly the field that matches Verb is set.
type Step struct {
	Pos  Pos    // the verb key
	Line string // the step re-rendered on one short line, for reports
	Verb string // alloc free write read irql trim page_out kd unload repeat workload replay

	CPU    int    // explicit, else inherited (enclosing repeat, thread), else 0
	CPUSet bool   // the step itself gave cpu:
	Driver string // "" means the kernel; inherited like CPU
	Thread string // the threads: entry the step is in; "" under steps:

	Alloc   *AllocStep
	Free    *FreeStep
	Write   *WriteStep
	Read    *ReadStep
	IRQL    *cpu.IRQL
	Trim    *Target
	PageOut *Target
	// WriteModified is simkern's own verb (write_modified:): the modified
	// page writer alone, which trim and page_out bracket.
	WriteModified *Target
	KD            string
	Unload        string
	Repeat        *RepeatStep
	Workload      *WorkloadStep
	Replay        *ReplayStep
}

// Addr is an address operand: a bound name plus an offset, or a literal.
type Addr struct {
	Name      string
	Offset    int64
	Literal   uint64
	IsLiteral bool
}

// String renders a as a scenario would write it.
func (a Addr) String() string {
	if a.IsLiteral {
		return "0x" + strconv.FormatUint(a.Literal, 16)
	}
	return nameOffset(a.Name, a.Offset)
}

func nameOffset(name string, off int64) string {
	switch {
	case off > 0:
		return name + "+0x" + strconv.FormatUint(uint64(off), 16)
	case off < 0:
		return name + "-0x" + strconv.FormatUint(-uint64(off), 16)
	}
	return name
}

// AllocStep is ExAllocatePoolWithTag.
type AllocStep struct {
	Pool       pool.Type
	Size       uint64
	Tag        pool.Tag // default 'None', as ExAllocatePool uses
	As         string   // "" binds nothing
	ExpectNull bool
}

// FreeStep is ExFreePool, or ExFreePoolWithTag when WithTag.
type FreeStep struct {
	At      Addr
	Tag     pool.Tag
	WithTag bool
}

// WriteStep stores Data at At; every form of write: becomes bytes.
type WriteStep struct {
	At   Addr
	Data []byte
}

// ReadStep loads Length bytes at At and, when HasExpect, compares them.
type ReadStep struct {
	At        Addr
	Length    uint64
	Expect    []byte
	HasExpect bool
}

// Target is the operand of trim: and page_out:.
type Target struct {
	All  bool
	Name string
}

// RepeatStep runs Steps Times times (0..MaxRepeat).
type RepeatStep struct {
	Times int
	Steps []Step
	// BodySteps counts the steps one pass runs, inner repeats multiplied
	// out (saturating). A repeat whose passes run nothing is skipped
	// whole, not passed through a million times.
	BodySteps uint64
}

// WorkloadStep is a seeded random allocation workload.
type WorkloadStep struct {
	Ops              uint64
	Pool             pool.Type
	MinSize, MaxSize uint64
	Live             uint64 // default 1; above Ops, the workload only allocates
	Tag              pool.Tag
	Verify, Keep     bool
}

// ReplayStep replays a trace file, which the loader has read through and
// checked (trace.go).
type ReplayStep struct {
	Path string // resolved against the scenario file's directory
	FS   fs.FS  // the file system Path is in; nil: the host's
	Ops  uint64 // operations in the file
	file *traceFile
}

// TraceOp is one line of a trace file.
type TraceOp struct {
	ID     uint64
	Size   uint64
	CPU    int
	Line   int
	Pool   pool.Type
	Tag    pool.Tag
	Alloc  bool // false: free
	CPUSet bool
}

// Expect is what the run must end with, beyond the default of no
// bugcheck (which bugcheck: none states: it reads as no Expect).
type Expect struct {
	Bugcheck *ExpectBugcheck
}

// ExpectBugcheck is an expected bugcheck; nil parameters match anything.
// A parameter that names an allocation is known only at run time.
type ExpectBugcheck struct {
	Code uint32
	P    [4]*Addr
}

// declares reports whether a step of s binds name.
func (s *Scenario) declares(name string) bool {
	_, ok := slices.BinarySearch(s.Names, name)
	return ok
}
