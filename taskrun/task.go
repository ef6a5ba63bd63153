// Package taskrun owns running tasks with a team: one task (its team, its
// transcript, its sandbox session, its outcome) and a set of tasks (read,
// run several at once, resumed from a results file, each ending with a
// typed status). It has no terminal code: callers watch through an
// Observer and render outcomes themselves. The CLI and a distributed worker
// both call it.
package taskrun

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/agentteam/agentteam/agents"
	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/prompts"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/team"
	"github.com/agentteam/agentteam/transcript"
	"github.com/agentteam/agentteam/workspace"
)

// Agent names of the default team.
const (
	Coder    = "coder"
	Executor = "executor"
	Reviewer = "reviewer"
)

// Transcript event types a task adds to the model layer's.
const (
	EventTask    = "task"
	EventMessage = "message"
	EventResult  = "result"
	// EventBlockStart and EventBlock are a block starting and its end
	// (see blockRecorder).
	EventBlockStart = "block_start"
	EventBlock      = "block"
)

// Status is how a task ended.
type Status string

const (
	Approved    Status = "approved"     // the reviewer approved
	NotApproved Status = "not_approved" // a limit, or the user (--approve), stopped the team first
	Failed      Status = "error"        // an error ended it (model, sandbox, transcript, ...)
)

// Team is what every team of a run or a set of tasks shares.
type Team struct {
	CoderModel    string
	ReviewerModel string
	// ReviewerVision shows the reviewer the images the blocks under review
	// made (agents.WithVision); its model must accept images.
	ReviewerVision bool
	MaxTurns       int           // at least 1
	Timeout        time.Duration // 0: no limit
	TokenBudget    int           // 0: no limit
	HistoryBudget  int           // estimated tokens above which old reports are shortened
	Prompts        prompts.Prompts
	Temperature    *float32 // nil: the server's default
	MaxTokens      int      // 0: the server's default
	// Approve, when set, is asked before each block runs or is saved
	// (see agents.Approver); a Quit ends the task not approved, its stop
	// reason agents.ReasonStoppedByUser.
	Approve agents.Approver
	// Explain, when set, puts an error the team stopped with in a person's
	// words, given the team's models: the outcome's error and the
	// transcript's result then say it so.
	Explain func(err error, coderModel, reviewerModel string) error
}

// Check reports settings no team can run with.
func (t Team) Check() error {
	switch {
	case t.MaxTurns < 1:
		return errors.New("max turns must be at least 1")
	case t.Timeout < 0 || t.TokenBudget < 0 || t.HistoryBudget < 0:
		return errors.New("timeout, token budget and history budget cannot be negative")
	}
	return nil
}

// Observer watches a task as it happens: the agents' work and each message
// once it is complete. Its methods are called from the team's goroutines
// and must not block long.
type Observer interface {
	agents.Observer
	Message(m agents.Message)
}

// nopObserver watches nothing.
type nopObserver struct{ agents.NopObserver }

func (nopObserver) Message(agents.Message) {}

// Task is one team on one task.
type Task struct {
	Text       string
	Dir        string // the workspace, mounted in the sandbox; it must exist
	Transcript string // the transcript file to write
	Coder      model.Model
	Reviewer   model.Model
	Observer   Observer       // nil: nobody watches
	Extra      map[string]any // more fields for the transcript's task event
	// ResultExtra, when set, adds fields to the transcript's result event
	// (the CLI's exit status, say).
	ResultExtra func(Outcome) map[string]any
	// Finish, when set, is called once the team has stopped and its
	// sandbox is gone (nothing writes the workspace any more), before the
	// result event; the events it returns are written to the transcript
	// first (the change set of a run on the user's project, say).
	Finish func(Outcome) []transcript.Event
	// History, when set, is the earlier conversation this task continues
	// in the same workspace: Text is then the follow-up, and the events
	// are appended to Transcript, the task event marked "continuation".
	History []agents.Message
	// Lines, when set, sees each transcript line as it is written (a
	// worker sends them on as the task's live events); it must not block.
	Lines func(line []byte)
}

// Keys of the events' Extra.
const (
	// ExtraContinuation marks the task event of a continued conversation.
	ExtraContinuation = "continuation"
	// ExtraMaxTurns and ExtraTokenBudget are the limits the team ran
	// with (the budget only when it had one): a replay takes them, so
	// that it ends where the recorded run did.
	ExtraMaxTurns    = "max_turns"
	ExtraTokenBudget = "token_budget"
	// ExtraDeclined, in a message event, numbers the blocks the user
	// declined (agents.Message.Declined), so that a continued
	// conversation still knows that nothing of them ran.
	ExtraDeclined = "declined"
)

// Outcome is how one task ended.
type Outcome struct {
	Status     Status
	StopReason string
	Turns      int
	Usage      map[string]model.Usage // by agent
	Duration   time.Duration
	Workspace  string
	Transcript string
	// Files are the regular files the team left in the workspace, sorted,
	// at most MaxFilesListed; FilesOmitted counts the others found.
	Files        []string
	FilesOmitted int
	// LastExitCode is the exit code of the last block that ran, if any.
	LastExitCode *int
	Engine       string // the engine the sandbox ran on, when the opener names it
	Err          error  // why the task failed (Status Failed)
}

// Tokens is the total of every agent's tokens.
func (o Outcome) Tokens() int {
	n := 0
	for _, u := range o.Usage {
		n += u.TotalTokens
	}
	return n
}

// Run plays one team on one task to its end, in a session opened from
// sandboxes, and writes its transcript. The error is the outcome's Err: a
// failed model, sandbox or transcript. The sandbox is gone when Run
// returns, even after a cancel.
func Run(ctx context.Context, sandboxes sandbox.Opener, cfg Team, t Task) (Outcome, error) {
	out := Outcome{Status: Failed, Workspace: t.Dir, Transcript: t.Transcript}
	create := transcript.Create
	if t.History != nil {
		create = transcript.Append
	}
	tw, err := create(t.Transcript)
	if err != nil {
		out.Err = err
		return out, err
	}
	if t.Lines != nil {
		tw.Tee(t.Lines)
	}
	obs := t.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	info := map[string]any{"workspace": t.Dir, "coder_model": cfg.CoderModel, "reviewer_model": cfg.ReviewerModel, ExtraMaxTurns: cfg.MaxTurns}
	if cfg.TokenBudget > 0 {
		info[ExtraTokenBudget] = cfg.TokenBudget
	}
	if cfg.ReviewerVision {
		info["reviewer_vision"] = true // a replay must see them too
	}
	maps.Copy(info, t.Extra)
	if t.History != nil {
		info[ExtraContinuation] = true
	}
	tw.Write(transcript.Event{Type: EventTask, Content: t.Text, Extra: info}) // a failed write shows at Close

	execOpts := []agents.ExecutorOption{agents.WithExecObserver(obs), agents.WithExecObserver(blockRecorder{tw: tw})}
	if cfg.Approve != nil {
		execOpts = append(execOpts, agents.WithApprover(cfg.Approve))
	}
	executor := agents.NewExecutor(Executor, func(ctx context.Context) (sandbox.Session, error) {
		return sandboxes.NewSession(ctx, t.Dir)
	}, execOpts...)
	defer executor.Close(context.WithoutCancel(ctx))

	llmOpts := []agents.LLMOption{agents.WithObserver(obs), agents.WithSampling(cfg.Temperature, cfg.MaxTokens), agents.WithHistoryBudget(cfg.HistoryBudget)}
	coder := agents.NewLLM(Coder, cfg.Prompts.Coder, transcript.Record(t.Coder, Coder, tw), cfg.CoderModel, llmOpts...)
	reviewerOpts := llmOpts
	if cfg.ReviewerVision {
		reviewerOpts = append(slices.Clip(llmOpts), agents.WithVision(t.Dir))
	}
	reviewer := agents.NewLLM(Reviewer, cfg.Prompts.Reviewer, transcript.Record(t.Reviewer, Reviewer, tw), cfg.ReviewerModel, reviewerOpts...)
	stop := []team.Condition{team.Approval(Reviewer, "APPROVE"), team.MaxTurns(cfg.MaxTurns)}
	if cfg.TokenBudget > 0 {
		stop = append(stop, team.TokenBudget(cfg.TokenBudget))
	}
	tm := &team.Team{
		Agents:  []agents.Agent{coder, executor, reviewer},
		Stop:    team.AnyOf(stop...),
		Timeout: cfg.Timeout,
		History: t.History,
		OnMessage: func(m agents.Message) {
			obs.Message(m)
			if n := len(m.Results); n > 0 {
				code := m.Results[n-1].ExitCode
				out.LastExitCode = &code
			}
			if m.Agent != agents.UserName {
				ev := transcript.Event{Type: EventMessage, Agent: m.Agent, Content: m.Content, Usage: &m.Usage,
					DurationMS: float64(m.Duration.Microseconds()) / 1000}
				if len(m.Declined) > 0 {
					ev.Extra = map[string]any{ExtraDeclined: m.Declined}
				}
				tw.Write(ev)
			}
		},
	}
	res, runErr := tm.Run(ctx, t.Text)
	if runErr != nil && cfg.Explain != nil {
		runErr = cfg.Explain(runErr, cfg.CoderModel, cfg.ReviewerModel)
	}
	if e, ok := executor.Started().(sandbox.EngineNamer); ok {
		out.Engine = e.Engine()
	}
	executor.Close(context.WithoutCancel(ctx)) // before the outcome: no sandbox outlives the task

	out.StopReason, out.Turns, out.Usage, out.Duration = res.StopReason, res.Turns, res.Usage, res.Duration
	out.Files, out.FilesOmitted = ListFiles(context.WithoutCancel(ctx), t.Dir)
	switch {
	case runErr != nil:
		out.Err = runErr
	case res.Approved:
		out.Status = Approved
	default:
		out.Status = NotApproved
	}
	if t.Finish != nil {
		for _, e := range t.Finish(out) {
			tw.Write(e)
		}
	}
	extra := map[string]any{"approved": res.Approved, "turns": res.Turns, "status": string(out.Status)}
	if t.ResultExtra != nil {
		maps.Copy(extra, t.ResultExtra(out))
	}
	tw.Write(transcript.Event{Type: EventResult, Content: res.StopReason, Error: ErrorText(ctx, runErr), Extra: extra})
	// A transcript cut short (a full disk) fails the task: its record is
	// what a replay and a person rely on.
	if err := tw.Close(); err != nil && runErr == nil {
		out.Status, out.Err = Failed, fmt.Errorf("write transcript %s: %w", t.Transcript, err)
	}
	return out, out.Err
}

// blockRecorder writes the blocks' start and end to the transcript, as
// they happen: which block (numbered from 1 in its message, as every
// report and view numbers them), its language and file, and how it ended
// (exit code, duration, flags). The output is in the executor's message.
type blockRecorder struct {
	agents.NopObserver
	tw *transcript.Writer
}

func (r blockRecorder) BlockStart(agent string, b codeblock.Block) {
	r.tw.Write(transcript.Event{Type: EventBlockStart, Agent: agent, Extra: blockFields(b)}) // a failed write shows at Close
}

func (r blockRecorder) BlockDone(agent string, b codeblock.Block, res sandbox.Result) {
	extra := blockFields(b)
	extra["exit_code"] = res.ExitCode
	if flags := res.Flags(); len(flags) > 0 {
		extra["flags"] = flags
	}
	if res.Error != "" {
		extra["error"] = res.Error
	}
	if b.SaveOnly() && res.OK() {
		extra["saved"] = true
	}
	r.tw.Write(transcript.Event{Type: EventBlock, Agent: agent, DurationMS: res.DurationMS, Extra: extra})
}

// blockFields name a block in a block event.
func blockFields(b codeblock.Block) map[string]any {
	f := map[string]any{"index": b.Index + 1, "line": b.Line, "language": b.Language}
	if b.Filename != "" {
		f["filename"] = b.Filename
	}
	return f
}

// ErrorText is err as one printable line for a record: "interrupted" when
// ctx was cancelled, "" for no error.
func ErrorText(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return ""
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return safetext.Line(err.Error())
}

// Bounds of ListFiles.
const (
	MaxFilesListed = 200  // names in an outcome
	maxFilesWalked = 5000 // directory entries looked at
	maxFilesDepth  = 32   // directory levels descended
)

// ListFiles names the regular files the team left in dir, sorted, at most
// MaxFilesListed of them, and counts the others it found. The walk is
// bounded (entries, depth) and follows no symlink: the sandbox made what it
// walks. Hidden files and directories (.git, __pycache__) are left out.
func ListFiles(ctx context.Context, dir string) (files []string, omitted int) {
	ws, err := workspace.Open(dir)
	if err != nil {
		return nil, 0
	}
	defer ws.Close()
	files, _, _ = ws.Files(ctx, maxFilesWalked, maxFilesDepth) // what it found before any error
	if len(files) > MaxFilesListed {
		omitted, files = len(files)-MaxFilesListed, files[:MaxFilesListed]
	}
	return files, omitted
}
