package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox/docker"
	"github.com/agentteam/agentteam/taskrun"
)

// DoctorOptions are the inputs of `agentteam doctor`.
type DoctorOptions struct {
	IO      IO
	f       *Factory
	Sandbox sandboxFlags
	Models  modelFlags
	Agents  settingFlags // the coder's and the reviewer's models
	JSON    bool
}

// doctorCheck is one line of doctor's report: a check of the sandbox's as
// docker.Doctor gives it, or of a model, which then says which. --json
// prints these fields; new ones are only ever added.
type doctorCheck struct {
	docker.Check
	Agents   []string `json:"agents,omitempty"`   // the agents whose model this is
	Model    string   `json:"model,omitempty"`    // the model checked
	Endpoint string   `json:"endpoint,omitempty"` // where its requests go, with no key
	Models   []string `json:"models,omitempty"`   // the model server's, when it lists few
}

func newDoctorCmd(f *Factory) *cobra.Command {
	s := f.IO
	opts := &DoctorOptions{IO: s, f: f}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the Docker engine, the sandbox image, the runtimes, the hardening and the models",
		Long: `Checks the Docker engine, the sandbox image and the registered runtimes, starts a
test container to see the hardening as a code block sees it, asks the model
server for its models and checks the coder's and the reviewer's (with one
short request when the server does not list one), and says what to do about
each problem. Exit status 0 when all is well, 4 when the sandbox cannot run,
1 when only a model check failed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the checks as JSON")
	opts.Sandbox.register(cmd.Flags())
	opts.Models.register(cmd.Flags())
	opts.Agents.add(cmd.Flags(), "AGENTTEAM_CODER_MODEL")
	opts.Agents.add(cmd.Flags(), "AGENTTEAM_REVIEWER_MODEL")
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
	var checks []doctorCheck
	sandboxOK := true
	for _, c := range docker.Doctor(ctx, cfg, engineOptions(st)...) {
		checks = append(checks, doctorCheck{Check: doctorFix(c)})
		sandboxOK = sandboxOK && c.OK
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	modelsOK := true
	for _, c := range opts.modelChecks(ctx, st) {
		checks = append(checks, c)
		modelsOK = modelsOK && c.OK
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	healthy := sandboxOK && modelsOK
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
	model.Model
	Models(ctx context.Context) ([]string, error)
	Endpoint() string
}

// Bounds of doctor's model checks.
const (
	maxModelsNamed   = 12               // a server's models are named when it has no more
	modelCheckWait   = 20 * time.Second // per request: a local server may load a model first
	modelProbeTokens = 16               // enough for a reasoning model to answer at all
)

// modelChecks checks the model server (it lists its models) and the
// coder's and the reviewer's models on it: once when they are the same.
// A model the server lists passes; one it does not list (Azure's
// deployments, llama.cpp's any name) is asked one short question.
func (opts *DoctorOptions) modelChecks(ctx context.Context, st settings) []doctorCheck {
	server := doctorCheck{Check: docker.Check{Name: "model server"}}
	ms, err := opts.Models.models(opts.f, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		server.Detail = safetext.Line(withFix(err))
		server.Fix = "set OPENAI_API_KEY, or --provider / OPENAI_BASE_URL for a local server (see .env.example); replays need neither"
		return []doctorCheck{server}
	}
	backend, ok := ms.backend.(modelServer)
	if !ok {
		server.Detail = "the model backend cannot list its models"
		return []doctorCheck{server}
	}
	server.Endpoint = backend.Endpoint()
	lctx, cancel := context.WithTimeout(ctx, modelCheckWait)
	names, listErr := backend.Models(lctx)
	cancel()
	if listErr != nil {
		server.Detail, server.Fix = modelTrouble(modelCall{endpoint: server.Endpoint}, listErr)
		server.Detail = safetext.Line(server.Endpoint + ": " + server.Detail)
		server.Fix = cmp.Or(server.Fix, "check the server, the key and the base URL (it usually ends in /v1)")
	} else {
		server.OK = true
		server.Detail = fmt.Sprintf("%s answers with %d model(s)", server.Endpoint, len(names))
		if len(names) > 0 && len(names) <= maxModelsNamed {
			server.Models = slices.Sorted(slices.Values(names))
			shown := make([]string, len(server.Models))
			for i, n := range server.Models {
				shown[i] = safetext.Name(n)
			}
			server.Detail += ": " + strings.Join(shown, ", ")
		}
	}
	checks := []doctorCheck{server}
	coder, reviewer := st.agentModels(opts.Agents)
	agents := []struct{ agent, model string }{{taskrun.Coder, coder}, {taskrun.Reviewer, reviewer}}
	if coder == reviewer {
		agents = agents[:1]
	}
	for _, a := range agents {
		c := doctorCheck{Check: docker.Check{Name: a.agent + " model"}, Agents: []string{a.agent}, Model: a.model, Endpoint: server.Endpoint}
		call := modelCall{agent: a.agent, model: a.model, endpoint: server.Endpoint, setting: agentSetting(a.agent)}
		if len(agents) == 1 {
			c.Name, c.Agents = "model", []string{taskrun.Coder, taskrun.Reviewer}
			call.setting = agentSetting(taskrun.Coder) + ", " + agentSetting(taskrun.Reviewer)
		}
		c.OK, c.Detail, c.Fix = checkModel(ctx, backend, ms, a.model, names, listErr, call)
		c.Detail = safetext.Line(fmt.Sprintf("%q (%s) on %s: %s", a.model, strings.Join(c.Agents, " and "), server.Endpoint, c.Detail))
		checks = append(checks, c)
	}
	return checks
}

// checkModel says whether the server has name: it lists it, or answers a
// short request for it. A server that could not be reached, or refused
// the key, is not asked again.
func checkModel(ctx context.Context, backend model.Model, ms modelSettings, name string, listed []string, listErr error,
	call modelCall) (ok bool, detail, fix string) {
	if listErr == nil && (slices.Contains(listed, name) || slices.Contains(listed, name+":latest")) { // Ollama's default tag
		return true, "listed by the server", ""
	}
	switch model.KindOf(listErr) {
	case model.KindNetwork, model.KindAuth:
		return false, "not checked: the server did not list its models", ""
	}
	req := ms.request(name, []model.Message{{Role: model.RoleUser, Content: "Say OK."}})
	req.MaxTokens = modelProbeTokens
	pctx, cancel := context.WithTimeout(ctx, modelCheckWait)
	defer cancel()
	_, err := backend.Complete(pctx, req)
	// A reasoning model may spend the few tokens on thinking: it answered.
	if err == nil || model.KindOf(err) == model.KindEmptyReply {
		if listErr != nil {
			return true, "answers", ""
		}
		return true, fmt.Sprintf("answers, though not among the %d model(s) the server lists", len(listed)), ""
	}
	if pctx.Err() != nil && ctx.Err() == nil {
		return false, fmt.Sprintf("no answer within %s", modelCheckWait), "a local server may still be loading the model: try again, or agentteam ask --model NAME \"Say hi\""
	}
	detail, fix = modelTrouble(call, err)
	return false, detail, fix
}

// modelTrouble is err in words without the model and the endpoint, which
// a doctor line names already, and what to change.
func modelTrouble(call modelCall, err error) (what, fix string) {
	var me *model.Error
	if errors.As(err, &me) {
		if _, ok := modelWords[me.Kind]; ok {
			return call.trouble(me)
		}
	}
	return err.Error(), ""
}
