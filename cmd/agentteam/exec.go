package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

// ExecOptions are the inputs of `agentteam exec`.
type ExecOptions struct {
	IO        IO
	f         *Factory
	Sandbox   sandboxFlags
	JSON      bool
	Workspace string // "" means a new run directory under ./.agentteam/runs
	File      string // "-" or "" means standard input
	message   string // read from File
}

// ExecReport is the JSON that `exec --json` prints.
type ExecReport struct {
	ExitCode  int         `json:"exit_code"`
	Workspace string      `json:"workspace"`
	Blocks    []ExecBlock `json:"blocks"`
	Error     string      `json:"error,omitempty"`
}

// ExecBlock is one fenced block of the message and, when it ran or was
// saved, its result. ExitCode is -1 for a block that did not run.
type ExecBlock struct {
	Index      int    `json:"index"`
	Line       int    `json:"line"`
	Skipped    bool   `json:"skipped"`
	SkipReason string `json:"skip_reason,omitempty"`
	// Saved marks a block saved under its filename and not run: a
	// language the sandbox does not run whose first line names a file.
	Saved bool `json:"saved,omitempty"`
	sandbox.Result
}

func newExecCmd(f *Factory) *cobra.Command {
	s := f.IO
	opts := &ExecOptions{IO: s, f: f}
	cmd := &cobra.Command{
		Use:   "exec [flags] [FILE|-]",
		Short: "Run the fenced code blocks of a Markdown message in the sandbox",
		Long: `Reads a Markdown message (as a model writes one), runs its python, sh, bash
and javascript blocks in order in one sandbox session, and stops at the first
failure. A block of another language, or untagged, whose first line names a
file ("# filename: NAME", "<!-- filename: NAME -->", ...) is saved there and
not run; other blocks are reported as skipped.

Exit status: 0 every block passed, 1 a block failed or none could run,
2 usage error, 4 the sandbox cannot run, 130 interrupted, 141 stdout closed
(| head; it stops as on Ctrl-C).`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.File = args[0]
			}
			return runExec(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object instead of the report")
	cmd.Flags().StringVar(&opts.Workspace, "workspace", "", "workspace directory (default: a new one under ./.agentteam/runs)")
	opts.Sandbox.register(cmd.Flags())
	return cmd
}

func runExec(ctx context.Context, opts *ExecOptions) error {
	msg, err := readMessage(ctx, opts)
	if err != nil {
		return err
	}
	st, err := opts.f.Settings()
	if err != nil {
		return err
	}
	cfg, err := opts.Sandbox.config(st)
	if err != nil {
		return err
	}
	opts.message = msg
	blocks := codeblock.Extract(msg)
	report := ExecReport{ExitCode: ExitOK, Blocks: make([]ExecBlock, 0, len(blocks))}
	out := newReporter(opts.IO, opts.JSON)
	runErr := execBlocks(ctx, opts, sandboxRequest{Config: cfg, DefaultHost: dockerHost(st)}, blocks, &report, out)

	for _, b := range report.Blocks {
		if !b.Skipped && !b.OK() {
			report.ExitCode = ExitFailure
		}
	}
	if runErr != nil {
		report.ExitCode, report.Error = exitStatus(ctx, runErr)
	}
	if opts.JSON {
		if err := json.NewEncoder(opts.IO.Out).Encode(report); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else if report.Workspace != "" {
		out.summary(report)
	}
	switch {
	case runErr != nil:
		return runErr
	case report.ExitCode != ExitOK:
		return &exitError{code: report.ExitCode}
	}
	return nil
}

// errNoBlocks is exec's answer to a message with nothing to run or save.
var errNoBlocks = &exitError{code: ExitFailure, err: errors.New("no python, sh, bash or javascript code block to run, nor a block naming a file to save, in the message")}

// execBlocks runs or saves the blocks that are not skipped in one session,
// stopping at the first failure, and records every block in report. The engine and the image are
// checked before a workspace is made; the session is closed on every path,
// Ctrl-C included.
func execBlocks(ctx context.Context, opts *ExecOptions, req sandboxRequest, blocks []codeblock.Block, report *ExecReport, out *reporter) error {
	if !slices.ContainsFunc(blocks, func(b codeblock.Block) bool { return b.SkipReason() == "" }) {
		for _, b := range blocks {
			report.Blocks = append(report.Blocks, skipped(b, b.SkipReason()))
		}
		return errNoBlocks
	}
	sb, err := opts.f.OpenSandbox(ctx, req)
	if err != nil {
		return err
	}
	defer sb.Close(context.WithoutCancel(ctx))
	reused := isDir(opts.Workspace)
	ws, err := openWorkspace(opts.IO, opts.Workspace, strings.TrimSuffix("exec-"+slug(opts.message), "-"))
	if err != nil {
		return err
	}
	ws.Close() // the session opens its own handle
	report.Workspace = ws.Dir()
	if reused { // the user's: given back once the session is gone
		reusedDir, err := openUserDir(ctx, report.Workspace, sb.Owner, 0)
		if err != nil {
			return err
		}
		defer reusedDir.finish(ctx)
	}
	sess, err := sb.NewSession(ctx, report.Workspace)
	if err != nil {
		if opts.Workspace == "" && removeIfEmpty(report.Workspace) {
			report.Workspace = ""
		}
		return err
	}
	defer sess.Close(context.WithoutCancel(ctx))

	failed := false
	for _, b := range blocks {
		switch {
		case b.SkipReason() != "":
			report.Blocks = append(report.Blocks, skipped(b, b.SkipReason()))
			out.block(report.Blocks[len(report.Blocks)-1])
			continue
		case failed:
			report.Blocks = append(report.Blocks, skipped(b, "not run: an earlier block failed"))
			continue
		}
		out.start(b)
		code := agents.SandboxCode(b)
		if out.wantsOutput() {
			code.Output = out.output
		}
		res, err := sess.Run(ctx, code)
		eb := ExecBlock{Index: b.Index + 1, Line: b.Line, Saved: b.SaveOnly() && res.OK(), Result: res}
		report.Blocks = append(report.Blocks, eb)
		out.block(eb)
		if err != nil {
			return err
		}
		failed = !res.OK()
	}
	return nil
}

func skipped(b codeblock.Block, reason string) ExecBlock {
	lang := b.Language
	if lang == "" {
		lang = "untagged"
	}
	return ExecBlock{Index: b.Index + 1, Line: b.Line, Skipped: true, SkipReason: reason,
		Result: sandbox.Result{Language: lang, Filename: b.Filename, ExitCode: -1}}
}

// readMessage reads the message from the file or standard input.
func readMessage(ctx context.Context, opts *ExecOptions) (string, error) {
	const maxMessage = 16 << 20
	var r io.Reader
	switch opts.File {
	case "", "-":
		if opts.File == "" && opts.IO.InIsTTY {
			return "", usageError("no message: give a FILE, or pipe one in (agentteam exec - < message.md)")
		}
		if opts.IO.InIsTTY {
			data, err := readInput(ctx, opts.IO, "message", maxMessage+1)
			if err != nil {
				return "", err
			}
			r = strings.NewReader(data)
			break
		}
		r = opts.IO.In
	default:
		f, err := os.Open(opts.File)
		if err != nil {
			return "", usageError("read message: %v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMessage+1))
	if err != nil {
		return "", usageError("read message: %v", err)
	}
	if len(data) > maxMessage {
		return "", usageError("read message: larger than %d MiB", maxMessage>>20)
	}
	return string(data), nil
}

// defaultRunsDir is where runs and batches keep their workspaces and
// transcripts unless told otherwise, under the working directory. Hidden,
// so that Go's ./..., pytest and similar tools of the user's own project
// do not pick up the code a team writes there; a .gitignore inside keeps
// it out of git status.
const defaultRunsDir = ".agentteam/runs"

// openWorkspace opens the given directory, or a new run directory under
// defaultRunsDir whose name carries label (see slug; "" for none).
func openWorkspace(s IO, dir, label string) (*workspace.Workspace, error) {
	if dir != "" {
		ws, err := workspace.Open(dir)
		if err != nil {
			return nil, usageError("%v", err) // "workspace: …" already
		}
		return ws, nil
	}
	root, err := runsDir(s)
	if err != nil {
		return nil, err
	}
	if label == "" {
		label = "run"
	}
	ws, err := workspace.NewNamed(root, label)
	if err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	return ws, nil
}

// runsDir creates the default runs directory and returns its path.
func runsDir(s IO) (string, error) {
	root := filepath.Join(s.Dir, defaultRunsDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create runs directory: %w", err)
	}
	ignore := filepath.Join(s.Dir, filepath.Dir(defaultRunsDir), ".gitignore")
	if _, err := os.Lstat(ignore); errors.Is(err, fs.ErrNotExist) {
		os.WriteFile(ignore, []byte("# agentteam's runs: workspaces and transcripts\n*\n"), 0o644) // best effort
	}
	return root, nil
}
