package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/queue"
	"github.com/agentteam/agentteam/taskrun"
)

// WorkerOptions are the inputs of `agentteam worker`.
type WorkerOptions struct {
	IO         IO
	f          *Factory
	team       teamOptions // only its model and sandbox flags: the team's come with each task
	Queue      string
	Jobs       int
	Containers int
	Root       string
	Hosts      []string
	Transcript int64
	Workspace  int64
}

func newWorkerCmd(f *Factory) *cobra.Command {
	opts := &WorkerOptions{IO: f.IO, f: f}
	cmd := &cobra.Command{
		Use:   "worker --queue nats://HOST:PORT[,...]",
		Short: "Run the tasks of batches submitted with --queue, on this machine's engine",
		Long: `Pulls tasks from a NATS JetStream queue (batch --queue URL submits them), runs each
team on this machine's Docker engine with its workspace on this machine's disk,
heartbeats while a task runs, and sends its result line back, with its transcript
(up to --send-transcript bytes) and its workspace (through the queue's object
store, up to --send-workspace bytes of files), which the submitter unpacks where
a local run would have put them. The team settings (models, turns, timeout, budgets,
prompts) come with each task; the model endpoint and key are this machine's own
(environment or .env) and never travel on the queue. Ctrl-C stops pulling and
hands the running tasks back; a worker killed outright loses nothing (its tasks
go to another worker once its heartbeats stop).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runWorker(cmd.Context(), opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Queue, "queue", "", "the queue's URLs, comma-separated (required)")
	fl.IntVarP(&opts.Jobs, "jobs", "j", 4, "teams at once")
	fl.IntVar(&opts.Containers, "max-containers", max(2, 2*runtime.NumCPU()), "sandbox containers alive at once")
	fl.StringVar(&opts.Root, "workspace", "", "directory for the tasks' workspaces (default: ./.agentteam/runs/worker)")
	fl.StringArrayVar(&opts.Hosts, "docker-host", nil, "an engine to spread tasks over (repeat); default: DOCKER_HOST")
	fl.Int64Var(&opts.Transcript, "send-transcript", 1<<20, "send a task's transcript back with its result when it is at most this many bytes (0: never)")
	fl.Int64Var(&opts.Workspace, "send-workspace", 64<<20, "send a task's workspace back (through the queue's object store) when its files hold at most this many bytes (0: never)")
	opts.team.Models.register(fl)
	opts.team.Sandbox.registerAs(fl, "exec-timeout")
	return cmd
}

func runWorker(ctx context.Context, opts *WorkerOptions) error {
	switch {
	case opts.Queue == "":
		return usageError("--queue is required")
	case opts.Jobs < 1 || opts.Containers < 1:
		return usageError("--jobs and --max-containers must be at least 1")
	case opts.Transcript < 0:
		return usageError("--send-transcript cannot be negative")
	case opts.Workspace < 0:
		return usageError("--send-workspace cannot be negative")
	}
	if opts.Root == "" {
		root, err := runsDir(opts.IO)
		if err != nil {
			return err
		}
		opts.Root = filepath.Join(root, "worker")
	}
	opts.team.MaxTurns = 1 // checked per task
	runner, err := opts.team.runner(ctx, opts.f, false)
	if err != nil {
		return err
	}
	sb, err := openPool(ctx, opts.f, runner, opts.Hosts, opts.Root, opts.Containers)
	if err != nil {
		return err
	}
	defer sb.Close(context.WithoutCancel(ctx))
	host, _ := os.Hostname()
	nc, err := opts.f.dialQueueAs(opts.Queue, "agentteam worker "+host)
	if err != nil {
		return err
	}
	defer nc.Close()
	q, err := queue.Open(ctx, nc, queue.Config{})
	if err != nil {
		return err
	}
	h := &taskHandler{sendTranscript: min(opts.Transcript, nc.MaxPayload()/2), sendWorkspace: opts.Workspace, remote: q, worker: host, up: sb.Up,
		batch: func(qt queuedTeam) *taskrun.Batch {
			return &taskrun.Batch{Root: opts.Root, Jobs: 1, Team: qt.apply(runner.team), Sandboxes: sb,
				Attempts: sb.Engines, EnginesUp: sb.Up,
				Models:   func(taskrun.Item) (model.Model, model.Model, error) { return runner.backend, runner.backend, nil },
				ExitCode: taskExitCode(ctx)}
		}}
	fmt.Fprintf(opts.IO.ErrOut, "worker %s: %d teams at once, taking tasks from %s\n", host, opts.Jobs, opts.Queue)
	if err := q.Work(ctx, opts.Jobs, h); err != nil {
		return err
	}
	return ctx.Err()
}
