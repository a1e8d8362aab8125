// Command simkern runs scenarios on a simulated Windows-style kernel
// memory subsystem. `simkern run FILE.yaml` runs one; `simkern run` alone
// runs the built-in tour. See README.md and docs/scenarios.md.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"simkern/examples"
	"simkern/kd"
	"simkern/scenario"
)

// version is printed at the top of every run, so a report names the
// simkern that made it.
const version = "0.1.0"

// usageError is a bad command line or scenario: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries a run's exit status (1) without another message.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(runWithInput(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runWithInput is main without os.Exit, with a standard input (kd reads
// commands from it).
// A panic is a bug in simkern, not in the input: it exits 1, as a host
// failure does, rather than 2 (Go's own status for a panic), which would
// blame the file.
func runWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "simkern: internal error, a bug in simkern (please report it with the scenario): %v\n%s", r, debug.Stack())
			code = scenario.ExitFailed
		}
	}()
	out := &reportWriter{w: stdout}
	root := newRoot(stdin, out, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if out.err != nil && !errors.As(err, new(usageError)) {
		err = hostError{fmt.Errorf("writing standard output: %w", out.err)}
	}
	var ee exitError
	var he hostError
	switch {
	case err == nil:
		return scenario.ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &he):
		fmt.Fprintf(stderr, "simkern: %s\n", err)
		return scenario.ExitFailed
	}
	// A bad file or command line. A mistake at a place in a scenario or
	// trace file is reported as FILE:LINE:COL: message, the scenario
	// format's words, so editors and scripts can jump to it; anything else
	// (a file that cannot be opened, a bad flag) names simkern.
	if se := (*scenario.Error)(nil); errors.As(err, &se) && se.Pos.Line > 0 {
		fmt.Fprintf(stderr, "%s\n", err)
	} else {
		fmt.Fprintf(stderr, "simkern: %s\n", err)
	}
	return scenario.ExitUsage
}

// reportWriter is standard output, remembering the first write that
// failed (a full disk, a closed pipe): the report is then incomplete, a
// failure of the host, whatever the run's outcome. Writes after it are
// dropped.
type reportWriter struct {
	w   io.Writer
	err error
}

func (r *reportWriter) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.w.Write(p)
	r.err = err
	return n, err
}

// hostError is a failure of the host, not of the input: a pagefile or a
// dump that cannot be written. It exits 1, like a failed run, since the
// file and the command line were fine.
type hostError struct{ err error }

func (e hostError) Error() string { return e.err.Error() }
func (e hostError) Unwrap() error { return e.err }

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "simkern",
		Short:         "A simulator of a Windows-style kernel memory subsystem",
		Long:          "simkern simulates physical memory, x64 page tables, a pagefile, CPUs with an IRQL\nand the kernel pool on top, and runs scenarios written in YAML against them.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetHelpCommand(helpCmd(root))
	root.AddCommand(runCmd(stdout), validateCmd(stdout), examplesCmd(stdout), kdCmd(stdin, stdout),
		campaignCmd(stdout, stderr), versionCmd(stdout))
	return root
}

// helpCmd is cobra's help command, except that a topic it does not know
// is a bad command line (exit 2), as an unknown command is; cobra's own
// prints the usage and exits 0.
func helpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("unknown help topic %q; \"simkern help\" lists the commands", strings.Join(args, " "))}
			}
			return c.Help()
		},
		// A shell completes a topic as it completes a command.
		ValidArgsFunction: func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			c, _, err := root.Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
					names = append(names, sub.Name()+"\t"+sub.Short)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print simkern's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(stdout, "simkern %s\n", version)
			return nil
		},
	}
}

// load reads the scenario the command line names: the file args[0], or
// the built-in tour when there is none (an empty name is a mistake).
func load(args []string) (*scenario.Scenario, error) {
	if len(args) == 0 {
		data, _ := examples.Read("tour")
		return scenario.ParseFS(examples.FS(), "tour.yaml", data)
	}
	if args[0] == "" {
		return nil, usageError{errors.New("the scenario file name is empty")}
	}
	s, err := scenario.Load(args[0])
	if err != nil {
		return nil, usageError{err}
	}
	return s, nil
}

func runCmd(stdout io.Writer) *cobra.Command {
	var (
		seed      = numberFlag{what: "a seed"}
		steps     = numberFlag{what: "a number of steps"}
		jsonOut   bool
		quiet     bool
		pooltags  string
		dumpPath  string
		dumpAtEnd bool
		pagefile  string
	)
	cmd := &cobra.Command{
		Use:   "run [FILE.yaml]",
		Short: "Run a scenario (the built-in tour when no file is given)",
		Long: "Run a scenario and report each step, then a summary or the bugcheck the\n" +
			"machine halted with. Exit status: 0 the run ended and every expectation held,\n" +
			"1 an unexpected bugcheck or a failed expectation (or a failure of the host), 2 a bad\n" +
			"file or command line, or a run that passed a limit on its work.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			s, err := load(args)
			if err != nil {
				return err
			}
			if dumpAtEnd && dumpPath == "" {
				return usageError{errors.New("--dump-at-end needs --dump FILE")}
			}
			if pagefile != "" && s.Machine.Pagefile == 0 {
				return usageError{errors.New("--pagefile: the scenario's machine has no pagefile (machine.pagefile: 0)")}
			}
			opt := scenario.Options{JSON: jsonOut, Quiet: quiet, Version: version, Out: stdout, PagefilePath: pagefile}
			opt.Command = "simkern run"
			if path != "" {
				opt.Command += " " + scenario.ShellQuote(path)
			}
			if pooltags != "" { // it changes the report's words, so reproducing it takes it too
				opt.Command += " --pooltag " + scenario.ShellQuote(pooltags)
			}
			if cmd.Flags().Changed("seed") {
				opt.Seed, opt.SeedSet = seed.n, true
			}
			if opt.Tags, err = loadPoolTags(pooltags); err != nil {
				return err
			}
			maxSteps := uint64(noStepLimit)
			if cmd.Flags().Changed("steps") {
				maxSteps = steps.n
				opt.Steps, opt.StepsSet = steps.n, true
			}
			// The output files are checked first, so a bad path costs no
			// run. The built-in tour has no file of its own to protect.
			inputs := inputsOf(s, path, pooltags)
			if err := checkPagefilePath(pagefile, inputs, dumpPath); err != nil {
				return usageError{fmt.Errorf("--pagefile: %w", err)}
			}
			var dump *outFile
			if dumpPath != "" {
				if dump, err = openOut(dumpPath, inputs); err != nil {
					return usageError{fmt.Errorf("--dump: %w", err)}
				}
				defer dump.abandon()
			}
			o, err := runScenario(s, opt, maxSteps, dump, dumpAtEnd)
			if err != nil {
				return err
			}
			if o.Exit != 0 {
				return exitError{o.Exit}
			}
			return nil
		},
	}
	cmd.Flags().Var(&seed, "seed", "the machine's seed, decimal or 0x hex (overrides machine.seed)")
	cmd.Flags().Var(&steps, "steps", "stop after this many steps, decimal or 0x hex, then end the run as usual (what campaign --minimize prints)")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON object per event (JSON Lines; see docs/json.md)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print only the header, any bugcheck, the failed expectations and the outcome")
	cmd.Flags().StringVar(&pooltags, "pooltag", "", "a pooltag.txt to describe tags with (default: simkern's own)")
	cmd.Flags().StringVar(&pagefile, "pagefile", "", "keep the simulated pagefile in this host file (default: a temporary file that leaves nothing behind)")
	cmd.Flags().StringVar(&dumpPath, "dump", "", "write a crash dump to this file if the machine bugchecks (open it with simkern kd)")
	cmd.Flags().BoolVar(&dumpAtEnd, "dump-at-end", false, "with --dump: write the dump at the end of the run even without a bugcheck")
	return cmd
}

// checkPagefilePath refuses a --pagefile path (if any) that is one of the
// run's inputs or its --dump file, or that cannot be opened for writing;
// the machine opens it for good when it is built.
func checkPagefilePath(path string, inputs []input, dumpPath string) error {
	if path == "" {
		return nil
	}
	if dumpPath != "" {
		inputs = append(inputs, input{dumpPath, "the --dump file"})
	}
	if err := checkNotInput(path, inputs); err != nil {
		return err
	}
	_, err := os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	f.Close()
	if created {
		os.Remove(path) // the machine creates it again; a run that never starts leaves nothing
	}
	return nil
}

// runScenario runs s to its end, or for maxSteps steps, and writes a crash
// dump to dump (opened before the run; nil for none) when it bugchecks, or
// at the end with atEnd.
func runScenario(s *scenario.Scenario, opt scenario.Options, maxSteps uint64, dump *outFile, atEnd bool) (*scenario.Outcome, error) {
	sess, err := scenario.NewSession(s, opt)
	if err != nil {
		return nil, hostError{err}
	}
	defer sess.Close()
	sess.RunTo(maxSteps)
	if next := sess.Next(); next != nil && !opt.JSON {
		fmt.Fprintf(opt.Out, "\n*** Stopped by --steps %d; the next step would have been %s: %s\n", maxSteps, next.Pos, next.Line)
	}
	o := sess.Finish()
	if o.Host != nil {
		return nil, hostError{o.Host}
	}
	if o.Limit != nil {
		return nil, usageError{o.Limit}
	}
	if dump == nil || o.Bugcheck == nil && !atEnd {
		return o, nil
	}
	if err := dump.replace(func(w io.Writer) error { return kd.WriteDump(w, sess.Dump()) }); err != nil {
		return nil, hostError{fmt.Errorf("--dump: %w", err)}
	}
	if !opt.JSON {
		path := dump.f.Name()
		fmt.Fprintf(opt.Out, "Crash dump written to %s (open it with: simkern kd %s)\n", path, path)
	}
	return o, nil
}

func validateCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE.yaml...",
		Short: "Check scenario files without running them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			for _, path := range args {
				s, err := scenario.Load(path)
				if err != nil {
					return usageError{err}
				}
				fmt.Fprintf(stdout, "%s: ok (%s)\n", path, s.Name)
			}
			return nil
		},
	}
}

func examplesCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "examples [NAME [--dir DIR]]",
		Short: "List the built-in example scenarios, or print one to start from",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if dir != "" && len(args) == 0 {
				return usageError{errors.New("--dir needs an example's NAME")}
			}
			if len(args) == 1 {
				data, ok := examples.Read(args[0])
				if !ok {
					return usageError{fmt.Errorf("no example %q; `simkern examples` lists them", args[0])}
				}
				if dir != "" {
					return writeExampleFiles(dir, args[0], data)
				}
				_, err := stdout.Write(data)
				return err
			}
			names := examples.Names()
			width := 0
			for _, name := range names {
				width = max(width, len(name))
			}
			for _, name := range names {
				data, _ := examples.Read(name)
				s, err := scenario.ParseFS(examples.FS(), name+".yaml", data)
				summary := ""
				if err == nil {
					summary = firstLine(s.Description)
				}
				fmt.Fprintf(stdout, "%-*s  %s\n", width, name, summary)
			}
			fmt.Fprintf(stdout, "\nRun one with: simkern examples NAME > NAME.yaml && simkern run NAME.yaml\n")
			fmt.Fprintf(stdout, "(or simkern examples NAME --dir DIR, which writes the trace files it replays too)\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write the example, and the trace files it replays, into this directory")
	return cmd
}

// writeExampleFiles writes the example name, and each trace file it
// replays, into dir, as they sit beside it in the source tree.
func writeExampleFiles(dir, name string, data []byte) error {
	s, err := scenario.ParseFS(examples.FS(), name+".yaml", data)
	if err != nil {
		return err // the examples are tested to load
	}
	files := map[string][]byte{name + ".yaml": data}
	anyStep(s, func(st *scenario.Step) bool {
		if st.Replay != nil {
			files[st.Replay.Path], _ = fs.ReadFile(examples.FS(), st.Replay.Path)
		}
		return false
	})
	for _, path := range slices.Sorted(maps.Keys(files)) {
		to := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(to), 0o777); err != nil {
			return hostError{err}
		}
		if err := os.WriteFile(to, files[path], 0o666); err != nil {
			return hostError{err}
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
