package kd

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"simkern/cpu"
	"simkern/mm"
	"simkern/pool"
	"simkern/verifier"
)

// Target is what the debugger looks at: a machine, its pool, the names a
// scenario bound, and the processor kd's prompt is on.
type Target struct {
	Machine *mm.Machine
	Pool    *pool.Pool
	Tags    *PoolTags // nil: BuiltinPoolTags
	CPU     int       // the "0" of "0: kd>"

	// Names resolves a scenario name (buf) to an address; nil if none.
	Names func(name string) (uint64, bool)
	// Declared reports a name the scenario binds, bound yet or not: one
	// not bound yet is an error, not a hex number. nil if none.
	Declared func(name string) bool

	// Verifier is Driver Verifier's state for !verifier; nil when the
	// run has none.
	Verifier *verifier.Verifier

	// Symbol names a code address (Symbol with the run's driver images);
	// nil names only the kernel's.
	Symbol func(pc uint64) string

	// Analysis, when set, writes !analyze -v with the runner's details
	// (the faulting scenario line); otherwise the bare analysis is shown.
	Analysis func() string

	// Examined counts the bytes of pool pages and records the commands
	// have looked through (!poolfind searches every page), so a runner
	// can bound a repeat of commands whose cost grows with the pool.
	Examined uint64
}

// recordBytes is what Examined counts for one record of the pool's
// (a large or special pool allocation).
const recordBytes = 16

// command is one debugger command: its synopsis and what it does, as
// .help prints them, the most arguments it takes, and the code.
type command struct {
	name     string
	synopsis string
	what     string
	maxArgs  int
	run      func(t *Target, w io.Writer, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"!pool", "!pool ADDR [FLAGS]", "the pool page holding ADDR (flag 1: contents, 2: only ADDR's block)", 2, (*Target).pool},
		{"!poolused", "!poolused [FLAGS [TAG]]", "pool use by tag (flag 1: verbose, 2: sort by nonpaged, 4: sort by paged)", 2, (*Target).poolused},
		{"!poolfind", "!poolfind TAG [POOLTYPE]", "blocks with a tag (POOLTYPE 0 nonpaged, 1 paged, 2 special)", 2, (*Target).poolfind},
		{"!poolval", "!poolval ADDR [LEVEL]", "validate the pool page holding ADDR", 2, (*Target).poolval},
		{"!irql", "!irql [CPU]", "the IRQL of a processor", 1, (*Target).irql},
		{"!vm", "!vm [FLAGS]", "memory use in pages and KB (any FLAGS: the same)", 1, (*Target).vm},
		{"!pte", "!pte VA", "the PXE, PPE, PDE and PTE that map VA", 1, (*Target).pte},
		{"!pfn", "!pfn N", "the PFN database entry of frame N", 1, (*Target).pfn},
		{"!lookaside", "!lookaside", "the per-CPU pool lookaside lists in use", 0, (*Target).lookaside},
		{"!analyze", "!analyze -v", "the bugcheck the machine halted with", 1, (*Target).analyze},
		{"!verifier", "!verifier [FLAGS [ARG]]", "Driver Verifier (3 DRIVER: its allocations; logs: 4, 8 [N]; 0x80 [N|ADDR])", 2, (*Target).verifier},
		{"dt", "dt _POOL_HEADER [ADDR]", "the pool header layout, or the header at ADDR", 2, (*Target).dt},
		{"db", "db ADDR [L COUNT]", "bytes", 3, (*Target).db},
		{"dc", "dc ADDR [L COUNT]", "DWORDs and their bytes as text", 3, (*Target).dc},
		{"dd", "dd ADDR [L COUNT]", "DWORDs", 3, (*Target).dd},
		{"dq", "dq ADDR [L COUNT]", "QWORDs", 3, (*Target).dq},
		{".help", ".help", "this list", 0, (*Target).help},
	}
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
}

// CommandNames returns the names of the debugger's commands in .help's
// order, so a prompt's tab completion follows the table.
func CommandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

// errUsage is a command's answer to arguments it cannot take: Run prints
// the command's synopsis.
var errUsage = errors.New("usage")

// Run executes one command line and writes its output. An unknown command
// or bad arguments are reported in the output, as kd does: they are the
// user's to read, not the caller's to handle.
func (t *Target) Run(w io.Writer, line string) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return
	}
	name := strings.ToLower(fields[0])
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := errUsage
		if len(fields)-1 <= c.maxArgs {
			err = c.run(t, w, fields[1:])
		}
		switch {
		case errors.Is(err, errUsage):
			fmt.Fprintf(w, "usage: %s\n", c.synopsis)
		case err != nil:
			fmt.Fprintf(w, "%s\n", err)
		}
		return
	}
	if slices.Contains(liveCommands, name) {
		fmt.Fprintf(w, "%s works only at a live session's prompt (simkern kd FILE.yaml)\n", fields[0])
		return
	}
	if ext, ok := strings.CutPrefix(fields[0], "!"); ok {
		fmt.Fprintf(w, "No export %s found\n", shortTerm(ext)) // kd's words for an extension no DLL exports
		return
	}
	// A command kd has and simkern lacks (dc, dps, k), or one kd would
	// call a syntax error: either way, say plainly that simkern lacks it.
	fmt.Fprintf(w, "simkern does not support '%s' (.help lists the commands it has)\n", shortTerm(fields[0]))
}

// liveCommands are the commands that run the machine: step, go, go back,
// breakpoints. Only a live session (simkern kd on a scenario) has them; a
// Target, on a dump or in a scenario's kd: step, names them as such.
var liveCommands = []string{"p", "t", "g", "p-", "!tt", ".restart", "bp", "bl", "bc"}

// LiveCommands returns the names of the commands that run the machine.
func LiveCommands() []string { return slices.Clone(liveCommands) }

func (t *Target) help(w io.Writer, _ []string) error {
	for _, c := range commands {
		fmt.Fprintf(w, "%-26s%s\n", c.synopsis, c.what)
	}
	return nil
}

func (t *Target) tags() *PoolTags {
	if t.Tags == nil {
		t.Tags = BuiltinPoolTags()
	}
	return t.Tags
}

// Evaluate parses an address or number as the debugger does: hex by
// default (0x and 0n prefixes allowed, backticks ignored), or a scenario
// name, optionally plus or minus an offset. Terms are added and
// subtracted left to right, wrapping at 64 bits; a run of signs before a
// term (-1, irp+-10) is unary minus and plus, as in WinDbg's MASM
// evaluator, so only its '-' count matters. The work is linear in the
// length of s, however many terms it has.
func (t *Target) Evaluate(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	var sum uint64
	last := 0 // where the last term began: a trailing operator names it
	for i := 0; ; {
		neg := false
		for ; i < len(s) && (s[i] == '+' || s[i] == '-'); i++ {
			neg = neg != (s[i] == '-')
		}
		start := i
		for i < len(s) && s[i] != '+' && s[i] != '-' {
			i++
		}
		if i == start {
			return 0, fmt.Errorf("Couldn't resolve error at '%s'", shortTerm(s[last:]))
		}
		v, err := t.term(s[start:i])
		if err != nil {
			return 0, err
		}
		if neg {
			v = -v
		}
		sum += v
		if i == len(s) {
			return sum, nil
		}
		last = start
	}
}

// term is one operand of Evaluate: a scenario name or a number.
func (t *Target) term(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if t.Names != nil {
		if v, ok := t.Names(s); ok {
			return v, nil
		}
	}
	if t.Declared != nil && t.Declared(s) {
		err := fmt.Sprintf("%s is not bound: the step that binds it has not completed", s)
		if _, e := strconv.ParseUint(s, 16, 64); e == nil {
			err += fmt.Sprintf(" (0x%s is the number)", s)
		}
		return 0, errors.New(err)
	}
	n := strings.ReplaceAll(s, "`", "")
	base := 16
	switch {
	case strings.HasPrefix(n, "0x"), strings.HasPrefix(n, "0X"):
		n = n[2:]
	case strings.HasPrefix(n, "0n"):
		n, base = n[2:], 10
	}
	v, err := strconv.ParseUint(n, base, 64)
	if err != nil {
		return 0, fmt.Errorf("Couldn't resolve error at '%s'", shortTerm(s))
	}
	return v, nil
}

// shortTerm keeps an error about a hostile term to one line.
func shortTerm(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 61
	for i > 0 && s[i]&0xC0 == 0x80 {
		i-- // stay on a UTF-8 boundary
	}
	return s[:i] + "..."
}

// irqlName is how !irql names a level (0 is LOW_LEVEL there).
func irqlName(l cpu.IRQL) string {
	if l == cpu.PassiveLevel {
		return "LOW_LEVEL"
	}
	return l.String()
}

func (t *Target) irql(w io.Writer, args []string) error {
	n := t.CPU
	if len(args) > 0 {
		v, err := t.Evaluate(args[0])
		if err != nil {
			return err
		}
		n = int(v)
	}
	cpus := t.Machine.CPUs.CPUs
	if n < 0 || n >= len(cpus) {
		return fmt.Errorf("Cannot get PRCB address")
	}
	l := cpus[n].IRQL()
	fmt.Fprintf(w, "Debugger saved IRQL for processor 0x%x -- %d (%s)\n", n, l, irqlName(l))
	return nil
}
