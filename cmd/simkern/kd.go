package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/chzyer/readline"
	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"simkern/kd"
	"simkern/pool"
	"simkern/scenario"
)

// kdCmd is `simkern kd FILE`: the debugger on a crash dump, or on a
// scenario run live, one step at a time, with time travel.
func kdCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	var (
		commands []string
		seed     = numberFlag{what: "a seed"}
		pooltags string
	)
	cmd := &cobra.Command{
		Use:   "kd FILE",
		Short: "Debug a crash dump, or step through a scenario live",
		Long: "simkern kd DUMP opens a crash dump written by `simkern run --dump`.\n" +
			"simkern kd SCENARIO.yaml runs a scenario under the debugger: p (next step), g (go),\n" +
			"bp alloc TAG, bp free NAME, bp bugcheck, bl, bc N|*, .restart, !tt N (go to step N),\n" +
			"p- (one step back), q (quit), and every debugger command (.help lists them).\n" +
			"-c \"CMD; CMD\" runs commands and exits; -c may be given more than once.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			tags, err := loadPoolTags(pooltags)
			if err != nil {
				return err
			}
			d, err := newDebugger(args[0], tags, c.Flags().Changed("seed"), seed.n, stdout)
			if err != nil {
				return err
			}
			defer d.close()
			if c.Flags().Changed("command") {
				for _, arg := range commands {
					for _, line := range strings.Split(arg, ";") {
						if line = strings.TrimSpace(line); line != "" {
							fmt.Fprintf(stdout, "%s%s\n", d.prompt(), line)
							if d.exec(line) {
								return nil
							}
						}
					}
				}
				return nil
			}
			return d.repl(stdin)
		},
	}
	cmd.Flags().StringArrayVarP(&commands, "command", "c", nil, "run these commands (separated by ;) and exit; each -c runs after the one before")
	cmd.Flags().Var(&seed, "seed", "the seed of a live scenario, decimal or 0x hex (overrides machine.seed)")
	cmd.Flags().StringVar(&pooltags, "pooltag", "", "a pooltag.txt to describe tags with (default: simkern's own)")
	return cmd
}

func loadPoolTags(path string) (*kd.PoolTags, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--pooltag: %w", err)}
	}
	defer f.Close()
	// It may be a pipe (--pooltag <(...)): read no more than any real
	// pooltag.txt needs.
	r := &io.LimitedReader{R: f, N: maxPoolTagBytes + 1}
	t, err := kd.ParsePoolTags(path, r)
	if r.N == 0 { // before the error a line cut short makes
		err = fmt.Errorf("%s is larger than %s, which no pooltag.txt needs", path, humanize.IBytes(uint64(maxPoolTagBytes)))
	}
	if err != nil {
		return nil, usageError{err}
	}
	return t, nil
}

// maxPoolTagBytes bounds a --pooltag file; Windows' own is about 1 MiB.
// Tests lower it.
var maxPoolTagBytes int64 = 64 << 20

// debugger is one kd session: on a dump (sess nil) or on a live run.
type debugger struct {
	out      io.Writer
	target   *kd.Target         // the dump's; a live session's comes from sess
	scenario *scenario.Scenario // a live session's
	sess     *scenario.Session
	bps      []breakpoint
	ended    bool // the live run reached its end and printed its outcome
	shown    bool // the outcome was printed once in this session
}

// breakpoint stops `g` before a step that matches it (bp bugcheck: when
// the machine halts).
type breakpoint struct {
	kind string   // alloc, free, bugcheck
	arg  string   // tag or name, as typed
	tag  pool.Tag // bp alloc's
}

func (b breakpoint) String() string { return strings.TrimSpace("bp " + b.kind + " " + b.arg) }

// matches reports whether b stops before step.
func (b breakpoint) matches(step *scenario.Step) bool {
	switch {
	case b.kind == "alloc" && step.Alloc != nil:
		return step.Alloc.Tag&^pool.ProtectedTag == b.tag&^pool.ProtectedTag
	case b.kind == "free" && step.Free != nil:
		return !step.Free.At.IsLiteral && step.Free.At.Name == b.arg
	}
	return false
}

func newDebugger(path string, tags *kd.PoolTags, seedSet bool, seed uint64, out io.Writer) (*debugger, error) {
	d := &debugger{out: out}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// A FIFO would block the open, waiting for a writer.
		return nil, usageError{fmt.Errorf("%s: not a regular file: kd reads a crash dump or a scenario file", path)}
	}
	if isDumpFile(path) {
		if seedSet {
			return nil, usageError{fmt.Errorf("--seed is for a scenario: %s is a crash dump, of a run whose seed is fixed", path)}
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, usageError{err}
		}
		dump, t, err := kd.ReadDump(f)
		f.Close()
		if he := (kd.HostError{}); errors.As(err, &he) {
			return nil, hostError{fmt.Errorf("%s: %w", path, err)}
		}
		if err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", path, err)}
		}
		t.Tags = tags
		d.target = t
		fmt.Fprintf(out, "Loading dump %s: simkern %s, %s, seed %d, %d steps\n", path, dump.Simkern, dump.ScenarioFile, dump.Seed, dump.Steps)
		if dump.Bugcheck != nil {
			fmt.Fprintln(out, dump.Bugcheck) // WinDbg's short "BugCheck D5, {...}" line
		}
		return d, nil
	}
	s, err := scenario.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	opt := scenario.Options{Version: version, Out: out, Tags: tags, Seed: seed, SeedSet: seedSet}
	d.scenario = s
	if d.sess, err = scenario.NewSession(s, opt); err != nil {
		return nil, hostError{err}
	}
	d.showNext()
	return d, nil
}

func (d *debugger) close() {
	if d.sess != nil {
		d.sess.Close()
	} else {
		d.target.Machine.Close()
	}
}

func (d *debugger) kdTarget() *kd.Target {
	if d.sess != nil {
		return d.sess.Target()
	}
	return d.target
}

// prompt is "N: kd> " with N the debugger's processor: the one the last
// step ran on (what !irql reports without an argument).
func (d *debugger) prompt() string {
	return strconv.Itoa(d.kdTarget().CPU) + ": kd> "
}

// showNext tells where a live run stands.
func (d *debugger) showNext() {
	if d.sess == nil {
		return
	}
	switch next := d.sess.Next(); {
	case next != nil:
		fmt.Fprintf(d.out, "step %d next: %s:%d  %s\n", d.sess.Executed()+1, next.Pos.File, next.Pos.Line, next.Line)
	case d.sess.Halted() != nil:
		fmt.Fprintf(d.out, "the machine has bugchecked (step %d): !analyze -v shows why\n", d.sess.Executed())
	default:
		fmt.Fprintf(d.out, "the run is over after %d steps\n", d.sess.Executed())
	}
}

// liveCommands runs a live session's commands (kd.LiveCommands), by name.
var liveCommands = map[string]func(d *debugger, args []string){
	"p": (*debugger).stepCount,
	"t": (*debugger).stepCount,
	"g": func(d *debugger, args []string) {
		if d.noArgs("g", args, "bp sets where it stops") {
			d.run()
		}
	},
	"p-": func(d *debugger, args []string) {
		switch n := d.sess.Executed(); {
		case !d.noArgs("p-", args, "!tt N goes to step N"):
		case n > 0:
			d.travel(n - 1)
		default:
			fmt.Fprintln(d.out, "already at the start")
		}
	},
	"!tt": func(d *debugger, args []string) {
		if len(args) != 1 {
			fmt.Fprintln(d.out, "usage: !tt N (the step to go to, in decimal; 0 is the start)")
			return
		}
		n, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			fmt.Fprintf(d.out, "!tt: %q is not a step number\n", args[0])
			return
		}
		d.travel(n)
	},
	".restart": func(d *debugger, args []string) {
		if d.noArgs(".restart", args, "!tt N goes to step N") {
			d.travel(0)
		}
	},
	"bp": (*debugger).setBreakpoint,
	"bl": func(d *debugger, args []string) {
		if !d.noArgs("bl", args, "") {
			return
		}
		if len(d.bps) == 0 {
			fmt.Fprintln(d.out, "no breakpoints")
		}
		for i, b := range d.bps {
			fmt.Fprintf(d.out, "%2d e %s\n", i, b)
		}
	},
	"bc": (*debugger).clearBreakpoints,
}

// liveHelp is .help's part for the commands only a live session has.
const liveHelp = `p [N], t [N]              run the next step, or the next N (decimal)
g                         run to a breakpoint, the bugcheck or the end
p-                        go back one step
!tt N                     go to step N (decimal; 0 is the start)
.restart                  go back to the start
bp alloc TAG | bp free NAME | bp bugcheck
                          stop g before such a step, or at the bugcheck
bl, bc N... | bc *        list breakpoints, clear them
q                         quit
`

// noArgs reports whether a command that takes no arguments got none, and
// says so when it did, with a hint.
func (d *debugger) noArgs(cmd string, args []string, hint string) bool {
	if len(args) == 0 {
		return true
	}
	if hint != "" {
		hint = "; " + hint
	}
	fmt.Fprintf(d.out, "%s takes no arguments%s\n", cmd, hint)
	return false
}

// stepCount is p [N] and t [N]: N steps, or one.
func (d *debugger) stepCount(args []string) {
	n := uint64(1)
	if len(args) > 1 {
		fmt.Fprintln(d.out, "usage: p [N] (how many steps, in decimal)")
		return
	}
	if len(args) == 1 {
		var err error
		if n, err = strconv.ParseUint(args[0], 10, 64); err != nil || n == 0 {
			fmt.Fprintf(d.out, "p: %q is not a number of steps\n", args[0])
			return
		}
	}
	for i := uint64(0); i < n && (i == 0 || d.sess.Next() != nil); i++ {
		d.step()
	}
}

// exec runs a line of commands, separated by ';' as WinDbg's are, and
// reports whether one of them ends the session.
func (d *debugger) exec(line string) (quit bool) {
	for _, cmd := range strings.Split(line, ";") {
		if d.execOne(cmd) {
			return true
		}
	}
	return false
}

// execOne runs one command and reports whether the session should end.
func (d *debugger) execOne(line string) (quit bool) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return false
	}
	cmd := strings.ToLower(fields[0])
	run, isLive := liveCommands[cmd]
	switch {
	case cmd == "q" || cmd == "qq" || cmd == ".quit":
		return true
	case isLive && d.sess != nil:
		run(d, fields[1:])
	case cmd == ".help" && d.sess != nil:
		fmt.Fprint(d.out, liveHelp)
		d.kdTarget().Run(d.out, line)
	default: // on a dump, kd says a live command needs a live session
		d.kdTarget().Run(d.out, line)
	}
	return false
}

// step runs the next step of a live run.
func (d *debugger) step() {
	halted := d.sess.Halted() != nil
	d.sess.Step()
	d.bugcheckBreakpoints(halted)
	d.atEnd()
	d.showNext()
}

// bugcheckBreakpoints reports the bp bugcheck breakpoints hit, when the
// machine has halted and had not before (wasHalted).
func (d *debugger) bugcheckBreakpoints(wasHalted bool) {
	if wasHalted || d.sess.Halted() == nil {
		return
	}
	for i, b := range d.bps {
		if b.kind == "bugcheck" {
			fmt.Fprintf(d.out, "Breakpoint %d hit\n", i)
		}
	}
}

// run steps until a breakpoint, the bugcheck or the end.
func (d *debugger) run() {
	halted := d.sess.Halted() != nil
	first := true
	for {
		next := d.sess.Next()
		if next == nil {
			break
		}
		if !first {
			if i := d.matchBreakpoint(next); i >= 0 {
				fmt.Fprintf(d.out, "Breakpoint %d hit\n", i)
				d.showNext()
				return
			}
		}
		first = false
		d.sess.Step()
	}
	d.bugcheckBreakpoints(halted)
	d.atEnd()
	d.showNext()
}

// atEnd prints the run's outcome once, when it has ended.
func (d *debugger) atEnd() {
	if d.sess.Next() != nil || d.ended {
		return
	}
	d.ended, d.shown = true, true
	if o := d.sess.Finish(); o.Host != nil || o.Limit != nil {
		fmt.Fprintf(d.out, "the run stopped: %v\n", cmp.Or(o.Host, o.Limit))
	}
}

// travel rebuilds the run and replays it to step n.
func (d *debugger) travel(n uint64) {
	ns, err := d.sess.GoTo(n, d.out)
	if err != nil {
		fmt.Fprintf(d.out, "time travel failed: %v\n", err)
		return
	}
	// A run travelled to its end whose outcome the session has printed
	// has ended, as it had when it first got there; one that has not
	// prints it at the next p or g.
	d.sess, d.ended = ns, ns.Next() == nil && d.shown
	fmt.Fprintf(d.out, "Time travel to step %d\n", d.sess.Executed())
	if got := d.sess.Executed(); got < n {
		fmt.Fprintf(d.out, "(the run ends at step %d: there is no step %d)\n", got, n)
	}
	d.showNext()
}

func (d *debugger) setBreakpoint(args []string) {
	if len(args) == 0 {
		fmt.Fprintln(d.out, "usage: bp alloc TAG | bp free NAME | bp bugcheck")
		return
	}
	b := breakpoint{kind: strings.ToLower(args[0])}
	switch {
	case b.kind == "bugcheck" && len(args) == 1:
	case (b.kind == "alloc" || b.kind == "free") && len(args) == 2:
		b.arg = args[1]
	default:
		fmt.Fprintln(d.out, "usage: bp alloc TAG | bp free NAME | bp bugcheck")
		return
	}
	if b.kind == "alloc" {
		var err error
		if b.tag, err = pool.ParseTag(b.arg); err != nil {
			fmt.Fprintf(d.out, "bp: %v\n", err)
			return
		}
	}
	d.bps = append(d.bps, b)
	fmt.Fprintf(d.out, "Breakpoint %d set: %s\n", len(d.bps)-1, b)
	if b.kind != "bugcheck" && !anyStep(d.scenario, b.matches) {
		fmt.Fprintf(d.out, "(no step of %s matches it: it will not be hit)\n", d.scenario.File)
	}
}

func (d *debugger) clearBreakpoints(args []string) {
	if len(args) == 1 && args[0] == "*" {
		d.bps = nil
		return
	}
	clear := make([]bool, len(d.bps))
	for _, a := range args {
		i, err := strconv.Atoi(a)
		if err != nil || i < 0 || i >= len(d.bps) {
			fmt.Fprintf(d.out, "bc: no breakpoint %s\n", a)
			continue
		}
		clear[i] = true
	}
	kept := d.bps[:0]
	for i, b := range d.bps {
		if !clear[i] {
			kept = append(kept, b)
		}
	}
	d.bps = kept
}

// matchBreakpoint returns the breakpoint that stops before step, or -1.
func (d *debugger) matchBreakpoint(step *scenario.Step) int {
	for i, b := range d.bps {
		if b.matches(step) {
			return i
		}
	}
	return -1
}

// anyStep reports whether some step of s, in a repeat or a thread too,
// satisfies match. It asks match of each step once: the repeats YAML
// aliases make of one list share it, and a file of a few lines can nest
// them to more steps than any machine could walk.
func anyStep(s *scenario.Scenario, match func(*scenario.Step) bool) bool {
	searched := map[*scenario.Step]bool{} // lists, by their first step
	var in func(steps []scenario.Step) bool
	in = func(steps []scenario.Step) bool {
		if len(steps) == 0 || searched[&steps[0]] {
			return false // a list searched before held no match
		}
		searched[&steps[0]] = true
		for i := range steps {
			if st := &steps[i]; match(st) || st.Repeat != nil && in(st.Repeat.Steps) {
				return true
			}
		}
		return false
	}
	if in(s.Steps) {
		return true
	}
	for _, th := range s.Threads {
		if in(th.Steps) {
			return true
		}
	}
	return false
}

// completer offers the command names for tab completion: the live
// session's own, then kd's from its table, so none is left out.
func completer() readline.AutoCompleter {
	var names []string
	for _, n := range kd.LiveCommands() {
		if n == "bp" { // completed with the kinds of breakpoint
			names = append(names, "bp alloc", "bp free", "bp bugcheck")
			continue
		}
		names = append(names, n)
	}
	names = append(names, "q")
	for _, n := range kd.CommandNames() {
		switch n { // completed with the argument they always take
		case "!analyze":
			n += " -v"
		case "dt":
			n += " _POOL_HEADER"
		}
		names = append(names, n)
	}
	items := make([]readline.PrefixCompleterInterface, len(names))
	for i, n := range names {
		items[i] = readline.PcItem(n)
	}
	return readline.NewPrefixCompleter(items...)
}

// repl reads commands until q or the end of input. On a terminal it uses
// readline (history, editing, tab completion); otherwise it reads lines,
// so a script can drive it through stdin.
func (d *debugger) repl(stdin io.Reader) error {
	if f, ok := stdin.(*os.File); ok && readline.IsTerminal(int(f.Fd())) {
		rl, err := readline.NewEx(&readline.Config{Prompt: d.prompt(), AutoComplete: completer(), HistoryLimit: 1000, Stdout: d.out})
		if err != nil {
			return err
		}
		defer rl.Close()
		for {
			rl.SetPrompt(d.prompt())
			line, err := rl.Readline()
			if err != nil { // io.EOF, or ^C on an empty line
				return nil
			}
			if d.exec(line) {
				return nil
			}
		}
	}
	r := bufio.NewReader(stdin)
	for {
		// Output that cannot be written ends the session: nobody reads it.
		if _, err := fmt.Fprint(d.out, d.prompt()); err != nil {
			return nil // runWithInput reports the failed write
		}
		line, tooLong, err := readCommandLine(r)
		if err != nil {
			fmt.Fprintln(d.out)
			if err == io.EOF {
				return nil
			}
			return err
		}
		if tooLong {
			fmt.Fprintf(d.out, "...\nA command line over %d bytes: ignored.\n", maxCommandLine)
			continue
		}
		fmt.Fprintln(d.out, line)
		if d.exec(line) {
			return nil
		}
	}
}

// maxCommandLine bounds one line of commands read from a pipe: a longer
// one is skipped with a message, and the session goes on.
const maxCommandLine = 64 << 10

// readCommandLine reads one line (without its end), reporting a line over
// maxCommandLine bytes as tooLong after reading past it. err is io.EOF
// only when no line is left.
func readCommandLine(r *bufio.Reader) (line string, tooLong bool, err error) {
	var b []byte
	for {
		chunk, more, err := r.ReadLine()
		if err != nil {
			return "", false, err
		}
		if !tooLong && len(b)+len(chunk) > maxCommandLine {
			tooLong, b = true, nil
		}
		if !tooLong {
			b = append(b, chunk...)
		}
		if !more {
			return string(b), tooLong, nil
		}
	}
}

// isDumpFile reports whether path is a crash dump (by its first bytes)
// rather than a scenario. A file that cannot be read is left to the
// scenario loader, whose message names the problem.
func isDumpFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [8]byte
	n, _ := io.ReadFull(f, head[:])
	return kd.IsDump(head[:n])
}
