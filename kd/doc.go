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
package kd
