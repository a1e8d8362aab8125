// Package kd is simkern's debugger: WinDbg-style commands that read the
// simulated machine without changing it.
//
// A Target bundles what a command looks at (the machine, its pool, the
// names a scenario bound, pooltag.txt). Run parses one command line and
// writes its output; every command only peeks at memory, so running one
// never faults a page in, moves a frame or changes a counter: a debugger
// looks, it does not touch.
//
// Output layouts follow the real debugger's, as the reference records them
// (addresses as 16 hex digits without a backtick in !pool and !poolused,
// sizes in hex bytes with the header, Used in decimal bytes). Numbers are
// hex by default, as in kd; 0n marks decimal; scenario names evaluate to
// their addresses, with + and - offsets.
//
// pooltag.txt is parsed in its real format (rem comments, "TAG - binary -
// description", * and ? wildcards). simkern embeds one for its own tags;
// a user's file replaces it.
//
// The commands that run the machine (step, go, go back, breakpoints:
// LiveCommands) belong to a live session, which cmd/simkern drives over a
// scenario; a Target alone, in a scenario's kd: step or on a dump, only
// says they need one. The debugger's processor is the one the last step
// ran on.
//
// A crash dump (dump.go, docs/dumps.md) is a Target saved: a gob-encoded
// Dump holding the snapshots of the machine, the pool and the verifier,
// which keep their Go bookkeeping but no PFN entry, pagefile slot or page
// of memory; then a record per frame handed out (its PFN entry, then its
// page if it has bytes) and per pagefile slot in use (its owner and
// page), streamed between the file and the machine one at a time, so
// writing or reading a dump costs about what the machine holds. Dumps are
// input: ReadDump refuses a truncated or damaged file with an error that
// says which, frame records must be exactly the frames handed out and
// slot records the slots in use, in order, and a Dump that expands far
// more than simkern's do is refused before gob holds it whole.
package kd
