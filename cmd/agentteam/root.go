package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
)

// Exit statuses, documented in the README.
const (
	ExitOK          = 0   // success; every block passed
	ExitFailure     = 1   // a block failed, or an error
	ExitUsage       = 2   // wrong flags or arguments
	ExitNotApproved = 3   // a team stopped without approval
	ExitSandbox     = 4   // the sandbox cannot run: no engine, no image, no runtime, hardening not in effect
	ExitInterrupted = 130 // Ctrl-C
	// ExitStdoutClosed is 128+SIGPIPE, what a shell reports for a program a
	// closed pipe killed; agentteam stops cleanly first.
	ExitStdoutClosed = 141 // standard output closed, e.g. a pipe to head
)

// exitError carries an exit status with an optional message.
type exitError struct {
	code int
	err  error // nil: the command already said what happened
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// IO is where a command reads and writes; tests pass buffers.
type IO struct {
	In       io.Reader
	Out      io.Writer
	ErrOut   io.Writer
	InIsTTY  bool
	OutIsTTY bool
	Getenv   func(string) string // the process environment; nil means os.Getenv
	Cols     int                 // the terminal's columns when stdout is one and says; 0: unknown
	Dir      string              // working directory for .env and ./.agentteam/runs; "" means the current one
}

func systemIO() IO {
	s := IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, InIsTTY: isTerminal(os.Stdin), OutIsTTY: isTerminal(os.Stdout), Getenv: os.Getenv}
	if ws, err := unix.IoctlGetWinsize(int(os.Stdout.Fd()), unix.TIOCGWINSZ); err == nil {
		s.Cols = int(ws.Col)
	}
	return s
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// color reports whether output to a terminal should be coloured.
func (s IO) color() bool {
	return s.OutIsTTY && s.getenv("NO_COLOR") == "" && s.getenv("TERM") != "dumb"
}

func (s IO) getenv(k string) string {
	if s.Getenv == nil {
		return os.Getenv(k)
	}
	return s.Getenv(k)
}

// Main runs the CLI with args and returns the exit status.
func Main(ctx context.Context, args []string, s IO) int {
	return mainWith(ctx, args, newFactory(s))
}

// mainWith runs the CLI with the dependencies f gives (tests pass fakes).
func mainWith(ctx context.Context, args []string, f *Factory) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s := f.IO
	out := &stdoutGuard{w: s.Out, closed: func() { cancel(errStdoutClosed) }}
	if file, ok := s.Out.(*os.File); ok {
		go watchStdout(ctx, file, out)
	}
	s.Out = out
	f.IO = s
	f.line = &statusLine{w: out, width: s.Cols}
	root := newRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code, msg := exitStatus(ctx, err)
	if msg != "" {
		fmt.Fprintln(s.ErrOut, "agentteam: "+msg) // stderr may be gone too: nothing to do about it
	}
	return code
}

// exitStatus maps an error to the exit status and the one line to print.
// A closed stdout wins over the rest: whatever the command did after it,
// its output was lost.
func exitStatus(ctx context.Context, err error) (int, string) {
	if errors.Is(context.Cause(ctx), errStdoutClosed) {
		return ExitStdoutClosed, "stopped: " + errStdoutClosed.Error()
	}
	if err == nil {
		return ExitOK, ""
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code, ""
	}
	msg := safetext.Line(withFix(err))
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted, "interrupted"
	case errors.As(err, &ee):
		return ee.code, msg
	case errors.Is(err, sandbox.ErrConfig):
		return ExitUsage, msg
	case errors.Is(err, sandbox.ErrEngineUnavailable), errors.Is(err, sandbox.ErrImageMissing),
		errors.Is(err, sandbox.ErrHardening), errors.Is(err, sandbox.ErrRuntimeMissing), errors.Is(err, sandbox.ErrRuntimeFailed):
		return ExitSandbox, msg
	}
	return ExitFailure, msg
}

// usageArgs wraps a cobra argument check so that its complaint is a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		return nil
	}
}

// logHandler is where logs go: slog's text (-v) or JSON (--log-format
// json) handler, or one plain line per warning; --quiet leaves only errors.
func logHandler(w io.Writer, line *statusLine, format string, verbose, quiet bool) (slog.Handler, error) {
	level := slog.LevelWarn
	switch {
	case verbose:
		level = slog.LevelDebug
	case quiet:
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if line != nil {
		w = aboveLine{line: line, w: w}
	}
	switch format {
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "":
		if verbose {
			return slog.NewTextHandler(w, opts), nil
		}
		return &humanHandler{w: w, level: level}, nil
	}
	return nil, usageError("--log-format %q: want text or json", format)
}

func newRootCmd(f *Factory) *cobra.Command {
	s := f.IO
	var verbose bool
	var logFormat string
	root := &cobra.Command{
		Use:           "agentteam",
		Short:         "Run a team of AI agents whose code runs in a hardened sandbox",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			quiet := false
			if q := cmd.Flags().Lookup("quiet"); q != nil {
				quiet = q.Value.String() == "true"
			}
			h, err := logHandler(s.ErrOut, f.line, logFormat, verbose, quiet)
			if err != nil {
				return err
			}
			slog.SetDefault(slog.New(h))
			return nil
		},
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log details (debug level) on stderr")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "", "logs as text or json lines (slog's); default: one plain line per warning")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		// A task or prompt that starts with "-" reads as a flag: say how
		// to give it.
		if strings.HasPrefix(err.Error(), "unknown shorthand flag") || strings.HasPrefix(err.Error(), "unknown flag") {
			switch cmd.Name() {
			case "run", "ask":
				err = fmt.Errorf("%w (a task that starts with - goes after --: agentteam %s -- \"-n ...\")", err, cmd.Name())
			}
		}
		return &exitError{code: ExitUsage, err: err}
	})
	root.AddCommand(newRunCmd(f), newBatchCmd(f), newExecCmd(f), newAskCmd(f), newDoctorCmd(f), newCleanupCmd(f), newFakeLLMCmd(f),
		newReportCmd(f), newWorkerCmd(f), newQueueCmd(f), newVersionCmd(f), newRunsCmd(f))
	examples := commandExamples()
	for _, c := range root.Commands() {
		c.Example = examples[c.Name()]
	}
	addCompletions(root, f)
	root.Version = buildVersion()
	root.SetVersionTemplate("agentteam {{.Version}}\n")
	// Unknown commands and bad arguments are usage errors too, with
	// cobra's suggestion for a typo.
	root.SuggestionsMinimumDistance = 2 // cobra's own default, applied only in its own lookup
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			return usageError("unknown command %q: did you mean %s? (see 'agentteam --help')", args[0], strings.Join(s, " or "))
		}
		return usageError("unknown command %q (see 'agentteam --help')", args[0])
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// addCompletions teaches `agentteam completion`'s scripts the values of
// the flags that take few (--provider ollama, --log-format json) and the
// IDs of the runs under ./.agentteam/runs (runs show, run --continue).
func addCompletions(root *cobra.Command, f *Factory) {
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	runIDs := func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		runs, _ := listRuns(filepath.Join(f.IO.Dir, defaultRunsDir))
		ids := make([]cobra.Completion, 0, len(runs))
		for _, r := range runs {
			ids = append(ids, cobra.CompletionWithDesc(r.ID, r.Status+": "+safetext.Line(r.Task)))
		}
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
	root.RegisterFlagCompletionFunc("log-format", fixed("text", "json"))
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
			if t, ok := fl.Value.(*flagText); ok && len(t.values) > 0 {
				c.RegisterFlagCompletionFunc(fl.Name, fixed(t.values...))
			}
		})
		switch c.CommandPath() {
		case "agentteam run":
			c.RegisterFlagCompletionFunc("continue", runIDs)
		case "agentteam runs show", "agentteam runs rm":
			c.ValidArgsFunction = runIDs
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
