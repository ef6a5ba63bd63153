package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/safetext"
)

// AskOptions are the inputs of `agentteam ask`.
type AskOptions struct {
	IO        IO
	f         *Factory
	Models    modelFlags
	ModelFlag settingFlags // --model
	Model     string
	System    string
	JSON      bool
	NoStream  bool
	Prompt    []string
}

// AskResult is what `ask --json` prints.
type AskResult struct {
	Model        string      `json:"model"`
	Content      string      `json:"content"`
	Reasoning    string      `json:"reasoning,omitempty"` // what a reasoning model thought first
	FinishReason string      `json:"finish_reason"`
	Usage        model.Usage `json:"usage"`
	DurationMS   int64       `json:"duration_ms"`
}

func newAskCmd(f *Factory) *cobra.Command {
	s := f.IO
	opts := &AskOptions{IO: s, f: f}
	cmd := &cobra.Command{
		Use:   "ask [flags] PROMPT...|-",
		Short: "Send one prompt to the configured model and print its reply",
		Long: `Sends one prompt to the model backend (OpenAI, Azure, Ollama, vLLM, llama.cpp,
LM Studio, OpenRouter or any OpenAI-compatible server) and streams the reply:
a quick way to check a model configuration before a team run.

Exit status: 0 answered, 1 a model error (one line: no key, unreachable
server, unknown model, quota...), 2 usage error, 130 interrupted.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("no prompt: give it as arguments (agentteam ask \"Say hi\"), or - to read it from standard input")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Prompt = args
			return runAsk(cmd.Context(), opts)
		},
	}
	opts.ModelFlag.addAs(cmd.Flags(), "AGENTTEAM_CODER_MODEL", "model", "model (or Azure deployment) to ask")
	cmd.Flags().StringVar(&opts.System, "system", "", "a system prompt")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object with the reply and its usage")
	cmd.Flags().BoolVar(&opts.NoStream, "no-stream", false, "wait for the whole reply instead of streaming it")
	opts.Models.register(cmd.Flags())
	return cmd
}

func runAsk(ctx context.Context, opts *AskOptions) error {
	prompt := strings.Join(opts.Prompt, " ")
	if prompt == "-" {
		var err error
		if prompt, err = readInput(ctx, opts.IO, "prompt", 16<<20); err != nil {
			return err
		}
	}
	if strings.TrimSpace(prompt) == "" {
		return usageError("the prompt is empty")
	}
	st, err := opts.f.Settings()
	if err != nil {
		return err
	}
	opts.Model, _ = st.agentModels(opts.ModelFlag)
	ms, err := opts.Models.models(opts.f, st, slog.Default())
	if err != nil {
		return err
	}
	var msgs []model.Message
	if opts.System != "" {
		msgs = append(msgs, model.Message{Role: model.RoleSystem, Content: opts.System})
	}
	msgs = append(msgs, model.Message{Role: model.RoleUser, Content: prompt})
	req := ms.request(opts.Model, msgs)
	streamed := !opts.JSON && !opts.NoStream
	th := &thinking{io: opts.IO}
	printed := false
	if streamed {
		req.OnDelta = func(d string) {
			th.end()
			printed = true
			fmt.Fprint(opts.IO.Out, safetext.Output(d))
		}
		req.OnReasoning = th.show
	}
	start := time.Now()
	reply, err := ms.backend.Complete(ctx, req)
	if err != nil {
		th.end()
		if printed {
			fmt.Fprintln(opts.IO.Out) // end the partial reply's line
		}
		call := modelCall{model: opts.Model, endpoint: endpointOf(ms.backend), setting: "--model or AGENTTEAM_CODER_MODEL", fixes: askFixes()}
		return call.explain(err)
	}
	if opts.JSON {
		return json.NewEncoder(opts.IO.Out).Encode(AskResult{Model: opts.Model, Content: reply.Content, Reasoning: reply.Reasoning,
			FinishReason: reply.FinishReason, Usage: reply.Usage, DurationMS: time.Since(start).Milliseconds()})
	}
	if !streamed {
		if reply.Reasoning != "" {
			th.show(reply.Reasoning)
			th.end()
		}
		fmt.Fprint(opts.IO.Out, safetext.Output(reply.Content))
	}
	if !strings.HasSuffix(reply.Content, "\n") {
		fmt.Fprintln(opts.IO.Out)
	}
	if reply.FinishReason == "length" {
		fmt.Fprintln(opts.IO.ErrOut, "agentteam: the reply was cut at the token limit; raise --max-tokens (or AGENTTEAM_MAX_TOKENS) for a longer one")
	}
	return nil
}

// thinking shows a reasoning model's reasoning before its answer, on a
// terminal only (piped, standard output is the answer alone): dimmed in
// colour, else one "thinking…" line.
type thinking struct {
	io    IO
	shown bool
}

func (t *thinking) show(text string) {
	if !t.io.OutIsTTY {
		return
	}
	switch {
	case t.io.color():
		if !t.shown {
			fmt.Fprint(t.io.Out, "\x1b[2;3mthinking…\x1b[0m \x1b[2m")
		}
		fmt.Fprint(t.io.Out, safetext.Output(text))
	case !t.shown:
		fmt.Fprintln(t.io.Out, "thinking…")
	}
	t.shown = true
}

// end ends the reasoning shown, before the answer or an error.
func (t *thinking) end() {
	if t.shown && t.io.color() {
		fmt.Fprint(t.io.Out, "\x1b[0m\n\n")
	}
	t.shown = false
}
