// Package scenario loads the YAML files `simkern run` executes: what a
// scenario is, how it is read, and every rule it must meet before anything
// runs. The format is a public contract (docs/scenarios.md describes it for
// users); keys may be added, never renamed or dropped.
//
// A scenario is a machine (RAM, pagefile, CPUs, NUMA nodes, seed), the
// drivers steps may act as, optional Driver Verifier settings and hardware
// faults, a program (steps:, or threads: whose steps interleave), and an
// optional expectation about how the run ends. Its life is
//
//	load      Load/Parse: bytes -> YAML tree (go-yaml, with positions)
//	validate  the tree -> *Scenario, defaults filled, every rule checked
//	run       the runner executes Steps on a simulated machine
//
// and only the first two are this package's loader half: Parse never
// touches a machine, so a file that loads is well-formed, and a file that
// does not load has run nothing (exit status 2).
//
// # Loading
//
// Parse walks the go-yaml AST rather than decoding into structs, because
// the tree keeps the line and column of every key and value. Each section
// has one reader (load.go: machine, drivers, verifier, faults, threads,
// expect; steps.go: steps; trace.go: replay traces), and values.go turns
// nodes into typed values. Order matters only where checks depend on each
// other: machine and drivers are read before the steps that name CPUs and
// drivers, steps before the faults that count them, and names are checked
// last, once every `alloc ... as:` is known.
//
// YAML conveniences work as YAML users expect: anchors and aliases,
// `<<:` merge keys, YAML's own tags where they fit the value, and numbers written as text
// ("0xC000009C"). Null is the same as absent. A file holds one document.
//
// # Errors
//
// Every failure is an *Error: Pos (file, line, column of the offending
// key or value; the map's first key for a missing key), Key (the dotted
// path, indexes from 0: "steps[3].alloc.size") and Msg, printed as
// "FILE:LINE:COL: KEY: MSG". The loader checks everything it can, keeps
// the error that comes first in the file and returns that one: later
// errors are often consequences of it. When a section is itself wrong (a
// bad machine.cpus, a malformed drivers: list), the checks that lean on it
// are skipped rather than reported against every step. YAML syntax errors
// carry go-yaml's position. An error in a trace file carries the trace's
// path, line and the column of the bad field.
//
// Unknown keys are errors, with the closest valid key at that spot when one
// is close (a case-insensitive match, a prefix, or at most 3 edits, a swap
// of neighbours counting as one, and no more than half the key's length):
// `unknown key "sizee"; did you mean "size"?`. Otherwise the message lists
// the valid keys. A map with an unknown key is not also reported for the
// key it lacks: that is most likely the same key, misspelt.
//
// # Values
//
// Numbers are YAML integers or text holding one: decimal, 0x, 0o or 0b
// (010 is ten, not YAML 1.1's octal eight: intValue).
// Sizes (machine.ram, machine.pagefile, alloc size, workload sizes, write
// and read length) may carry a unit: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB,
// in any case. "64M" is refused rather than guessed at. Addresses are a
// bound name, a name plus or minus an offset ("buf+0x10", "buf-16"), or a
// number. Names are a letter or _, then letters, digits and _; "all" is
// taken by `trim: all`. Pool types and IRQLs are checked by simkern/pool
// and simkern/cpu, tags by pool.ParseTag (1 to 4 printable characters, or
// 0x...).
//
// cpu: and driver: may stand beside a step's verb or inside its map, not
// both; for verbs taking one value (irql, trim, page_out, write_modified,
// kd, unload, replay) only beside. A step without cpu: runs on its enclosing repeat's
// CPU, else its thread's, else 0 (Step.CPUSet says whether it gave its
// own); driver: is inherited from a repeat the same way.
//
// Names must be bound before they are used: in steps:, by an alloc earlier
// in program order (a repeat's body counts once, in place); in threads:,
// by an alloc in any thread, since the schedule decides the order; in
// expect:, anywhere. kd: commands are not checked. Names are checked only
// when every step loaded, since a broken step may be the missing alloc.
//
// Defaults: ram 64 MiB, pagefile 256 MiB, cpus 1, numa_nodes 1, seed 1
// (SeedSet false), schedule round-robin, special_pool off,
// low_resources.probability 0.06, alloc tag "None" (as ExAllocatePool),
// workload live 1 and tag "Wrkl", fault status 0xC000009C
// (STATUS_DEVICE_DATA_ERROR).
//
// # Limits
//
// Each limit turns a typo or a hostile file into an error instead of a
// machine nobody meant to build, a run that never ends, or a loader that
// eats memory. The constants are in ast.go.
//
//	machine.ram        1 MiB .. 1 TiB
//	machine.pagefile   0, or 8 KiB .. 1 TiB (0: no pagefile; pagefile faults
//	                   refused; a pagefile's first 4 KiB slot is reserved)
//	machine.cpus       1 .. 256;  numa_nodes 1 .. cpus, 12 KiB of RAM each
//	                   (every node has its own pool descriptors)
//	alloc size         0 .. 4 GiB (0 is allowed: the pool decides what it means)
//	write/read length  1 .. 16 MiB each; 64 MiB of data in the whole file
//	repeat times       0 .. 1,000,000, nested at most 32 deep
//	steps executed     10,000,000 (repeats multiplied out, never expanded)
//	pool operations    100,000,000 (workload ops and replayed trace lines)
//	trace file         512 MiB, 10,000,000 operations
//	kd command         4 KiB
//	scenario file      16 MiB; 500,000 YAML tokens; maps and lists
//	                   nested at most 200 deep; 1,000 keys in a block map
//
// Two limits are counted as the run goes, for steps whose cost grows with
// a size the loader cannot multiply out: 2^30 pages of ranges mapped,
// unmapped, trimmed or paged out, and 64 GiB read, written, filled with a
// workload's pattern, or printed or searched by kd: commands. The step
// that passes one stops the run (Outcome.Limit).
//
// The YAML limits are checked before go-yaml's parser runs (shape.go):
// its cost grows with the square of the nesting depth, of the keys in a
// block map and of the documents in a file, and it spends about a
// kilobyte a token, so a small file could otherwise take gigabytes and
// minutes. A second document is refused there too.
//
// Repeats are counted, not expanded, so the loader's memory follows the
// file's size. Aliases could make a small file describe an enormous tree:
// a list of steps reached again in the same context (CPU, driver, depth)
// is not read again, and the loader stops after reading 1,000,000 steps.
//
// # Traces
//
// replay: names a trace file relative to the scenario's directory; Parse
// reads it (regular files only) and checks every line, so a bad trace is a
// load error. A second free of an ID replays a double free (the address
// its last free freed, within the last 65,536 frees; trace.go's
// recentFrees, kept only for a trace that has one); frees of IDs never
// allocated and second allocations of live IDs are errors. The reader is a
// streaming scanner that hands each
// operation to its caller and allocates nothing per line: Parse keeps the
// operations of short traces (keptTraceOps in all), and a replay of a
// longer one reads the file again as it runs, checking that it is the file
// Parse read (its size, its operations, its SHA-256); that check is the
// one way a scenario that loaded can fail for its input at run time.
// ParseTrace is the same reader for other callers, returning every
// operation.
//
// # Faults
//
// pagefile_read_error and pagefile_write_error take nth (the Nth I/O of
// that direction, from 1) or probability (each I/O), not both, and an
// optional status. bit_flip takes step (from 1, at most the number of
// steps the run executes: the bit flips before that step), and optionally
// frame (below ram/4 KiB) and bit (0..63 within a 64-bit word of the
// frame); the runner picks what is absent from the seed: a frame is a
// resident page of small pool blocks, or any frame of RAM when there is
// none.
package scenario
