package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// DoctorOptions are the inputs of `agentteam doctor`.
type DoctorOptions struct {
	IO      IO
	f       *Factory
	Sandbox sandboxFlags
	Models  modelFlags
	JSON    bool
}

func newDoctorCmd(f *Factory) *cobra.Command {
	s := f.IO
	opts := &DoctorOptions{IO: s, f: f}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the Docker engine, the sandbox image, the runtimes and the hardening",
		Long: `Checks the Docker engine, the sandbox image and the registered runtimes, starts a
test container to see the hardening as a code block sees it, asks the model
server for its models, and says what to do about each problem. Exit status 0
when all is well, 4 when the sandbox cannot run, 1 when only the model check
failed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the checks as JSON")
	opts.Sandbox.register(cmd.Flags())
	opts.Models.register(cmd.Flags())
	return cmd
}

func runDoctor(ctx context.Context, opts *DoctorOptions) error {
	st, err := opts.f.Settings()
	if err != nil {
		return err
	}
	cfg, err := opts.Sandbox.config(st)
	if err != nil {
		return err
	}
	checks := docker.Doctor(ctx, cfg, engineOptions(st)...)
	for i := range checks {
		checks[i] = doctorFix(checks[i])
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	sandboxOK := true
	for _, c := range checks {
		sandboxOK = sandboxOK && c.OK
	}
	modelCheck := opts.modelCheck(ctx)
	checks = append(checks, modelCheck)
	healthy := sandboxOK && modelCheck.OK
	if opts.JSON {
		if err := json.NewEncoder(opts.IO.Out).Encode(map[string]any{"ok": healthy, "checks": checks}); err != nil {
			return err
		}
	} else {
		r := newReporter(opts.IO, false)
		for _, c := range checks {
			mark := r.paint("32", "✓")
			if !c.OK {
				mark = r.paint("31", "✗")
			}
			fmt.Fprintf(opts.IO.Out, "%s %-14s %s\n", mark, c.Name, c.Detail)
			if !c.OK && c.Fix != "" {
				fmt.Fprintf(opts.IO.Out, "  %-14s %s\n", "fix:", c.Fix)
			}
		}
	}
	switch {
	case !sandboxOK:
		return &exitError{code: ExitSandbox}
	case !healthy:
		return &exitError{code: ExitFailure}
	}
	return nil
}

// modelServer is what doctor asks of a model backend.
type modelServer interface {
	Models(ctx context.Context) ([]string, error)
	Endpoint() string
}

// modelCheck asks the configured model server for its models.
func (opts *DoctorOptions) modelCheck(ctx context.Context) docker.Check {
	c := docker.Check{Name: "model server"}
	st, err := opts.f.Settings()
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	ms, err := opts.Models.models(opts.f, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		c.Detail = safetext.Line(withFix(err))
		c.Fix = "set OPENAI_API_KEY, or --provider / OPENAI_BASE_URL for a local server (see .env.example); replays need neither"
		return c
	}
	server, ok := ms.backend.(modelServer)
	if !ok {
		c.Detail = "the model backend cannot list its models"
		return c
	}
	mctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	names, err := server.Models(mctx)
	if err != nil {
		c.Detail = safetext.Line(withFix(err))
		c.Fix = "check the server, the key and the base URL (it usually ends in /v1)"
		return c
	}
	c.OK = true
	c.Detail = fmt.Sprintf("%s answers with %d model(s)", server.Endpoint(), len(names))
	coder, _ := st.agentModels(settingFlags{})
	if len(names) > 0 && !slices.Contains(names, coder) {
		c.Detail += fmt.Sprintf("; the coder's model %q is not among them (fine for Azure deployments and some proxies)", coder)
	}
	return c
}
