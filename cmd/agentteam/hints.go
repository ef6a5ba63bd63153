package main

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
	"github.com/agentteam/agentteam/safetext"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// The libraries say what is wrong in their own terms; what to do about it
// in the CLI's (a flag, a variable, a make target) is added here.

// fixFor is the how-to-fix the CLI adds to the message of err, with its
// leading separator; "" when the message says it all.
func fixFor(err error) string {
	var ce *openaicompat.ConfigError
	switch model.KindOf(err) {
	case model.KindAuth:
		if errors.As(err, &ce) {
			return "" // no key: modelConfigError named the variable
		}
		return " (check OPENAI_API_KEY or AZURE_OPENAI_API_KEY)"
	case model.KindNetwork:
		return "; check OPENAI_BASE_URL or --base-url"
	}
	switch {
	case errors.Is(err, sandbox.ErrImageMissing):
		return "; build it with 'make image' (or set AGENTTEAM_IMAGE)"
	case errors.Is(err, sandbox.ErrRuntimeMissing):
		return " or drop --runtime"
	case errors.Is(err, sandbox.ErrRuntimeFailed) && strings.Contains(err.Error(), "runsc"):
		return "; 'make runsc' builds a current one"
	}
	return ""
}

// doctorFix is a doctor check with its fix, and the runtimes line, in the
// CLI's terms.
func doctorFix(c docker.Check) docker.Check {
	if c.Name == "runtimes" && c.OK && strings.HasSuffix(c.Detail, docker.RunscAvailable) {
		c.Detail += ": --runtime runsc"
	}
	if c.OK || c.Fix == "" {
		return c
	}
	switch c.Name {
	case "configuration":
		c.Fix = "correct the flag or AGENTTEAM_* variable it names"
	case "docker engine":
		c.Fix += "; check DOCKER_HOST"
	case "sandbox image":
		c.Fix = "build it: make image (offline, from Debian packages), or set AGENTTEAM_IMAGE"
	case "runtimes":
		c.Fix = strings.Replace(c.Fix, "configure no runtime", "unset AGENTTEAM_RUNTIME", 1)
	case "hardening":
		c.Fix = strings.Replace(c.Fix, "the configured runtime", "--runtime / AGENTTEAM_RUNTIME", 1)
	case "leftovers":
		c.Fix = "agentteam cleanup"
	}
	return c
}

// withFix is err's message with the CLI's how-to-fix.
func withFix(err error) string {
	var ee *explainedError
	if errors.As(err, &ee) {
		return err.Error() // says what to change already
	}
	// A batch's task error comes back from the queue as its recorded
	// text, explained already, with only its kind kept.
	msg, fix := err.Error(), fixFor(err)
	if strings.Contains(msg, strings.Trim(fix, " ();")) {
		return msg
	}
	return msg + fix
}

// modelConfigError says which flag or variable to change when the model
// backend refuses the configuration the CLI built: cfg, with its key
// expected in keyEnv.
func modelConfigError(err error, cfg openaicompat.Config, keyEnv string) error {
	var ce *openaicompat.ConfigError
	if !errors.As(err, &ce) {
		if model.KindOf(err) != "" {
			return err
		}
		return usageError("model configuration: %v", err)
	}
	var fix string
	switch ce.Field {
	case "APIKey": // a model error, exit 1, as a refused key would be
		text := fmt.Sprintf("no API key for %s: set %s, or use a local server (--provider %s, or OPENAI_BASE_URL)",
			cmp.Or(cfg.Provider, "openai"), keyEnv, strings.Join(openaicompat.LocalProviders(), "|"))
		return &explainedError{text: text, err: &model.Error{Kind: model.KindAuth, Err: err, Message: text}}
	case "Provider":
		fix = "choose one with --provider or AGENTTEAM_PROVIDER, or name any server with --base-url or OPENAI_BASE_URL"
	case "AzureEndpoint":
		fix = "set AZURE_OPENAI_ENDPOINT"
	case "BaseURL":
		fix = "check --base-url or OPENAI_BASE_URL"
	case "MaxTokensField":
		fix = "check AGENTTEAM_MAX_TOKENS_FIELD"
	}
	if fix == "" {
		return usageError("model configuration: %v", err)
	}
	return usageError("model configuration: %v; %s", err, fix)
}

// explainedError is an error in a person's words; its cause stays
// reachable for errors.Is and model.KindOf (the exit status).
type explainedError struct {
	text string
	err  error
}

func (e *explainedError) Error() string { return e.text }
func (e *explainedError) Unwrap() error { return e.err }

// modelWords says what a kind of model error means, and what to change;
// fix "model" stands for the flag and variable naming the model asked.
var modelWords = map[model.Kind]struct{ what, fix string }{
	model.KindAuth:          {"the key was refused", "check OPENAI_API_KEY or AZURE_OPENAI_API_KEY"},
	model.KindModelNotFound: {"no such model", "model"},
	model.KindQuota:         {"the account's quota or credit is used up", ""},
	model.KindRateLimited:   {"too many requests", "try fewer at once (--jobs) or later"},
	model.KindNetwork:       {"cannot reach the server", "check OPENAI_BASE_URL or --base-url"},
	model.KindContextTooLong: {"the conversation is longer than the model takes",
		"lower --history-budget or --max-turns"},
	model.KindBadRequest:    {"the server refused the request", ""},
	model.KindServer:        {"the server failed", ""},
	model.KindBadReply:      {"a reply that could not be read", ""},
	model.KindEmptyReply:    {"an empty reply", ""},
	model.KindContentFilter: {"blocked by the content filter", ""},
}

// modelCall names a model call for the words of its error: the agent that
// made it ("" for none), the model, where it went, and the setting that
// names the model.
type modelCall struct {
	agent, model, endpoint string
	setting                string // "--coder-model or AGENTTEAM_CODER_MODEL"; "" when unknown
	// fixes replace modelWords' fixes where a command has other settings
	// (ask has one prompt, not a team's history).
	fixes map[model.Kind]string
}

// askFixes are what to change after a failed ask.
func askFixes() map[model.Kind]string {
	return map[model.Kind]string{
		model.KindContextTooLong: "shorten the prompt",
		model.KindRateLimited:    "try again later",
	}
}

// agentSetting is the flag and variable that name an agent's model.
func agentSetting(agent string) string {
	return fmt.Sprintf("--%s-model or AGENTTEAM_%s_MODEL", agent, strings.ToUpper(agent))
}

// explainModelError rewrites a model error an agent met ("coder: model
// model_not_found (HTTP 404): …") as one line naming the agent's model
// and the endpoint, in plain words, with what to change. Any other error
// is returned as it is.
func explainModelError(err error, models map[string]string, endpoint string) error {
	call := modelCall{endpoint: endpoint}
	for a := range models {
		if err != nil && strings.HasPrefix(err.Error(), a+": ") {
			call = modelCall{agent: a, model: models[a], endpoint: endpoint, setting: agentSetting(a)}
		}
	}
	return call.explain(err)
}

// explain is err in plain words when it is a model error: "coder: model
// "c" (the server at …): no such model (HTTP 404): …; check …". Any other
// error, and one already explained, is returned as it is.
func (c modelCall) explain(err error) error {
	var me *model.Error
	var ce *openaicompat.ConfigError
	var ee *explainedError
	if err == nil || !errors.As(err, &me) || errors.As(err, &ce) || errors.As(err, &ee) {
		return err
	}
	if _, ok := modelWords[me.Kind]; !ok {
		return err // replay and cancel errors say it already
	}
	var b strings.Builder
	if c.agent != "" {
		b.WriteString(c.agent + ": ")
	}
	b.WriteString("model")
	if c.model != "" {
		fmt.Fprintf(&b, " %q", c.model)
	}
	if c.endpoint != "" {
		fmt.Fprintf(&b, " (%s)", c.endpoint)
	}
	what, fix := c.trouble(me)
	b.WriteString(": " + what)
	if fix != "" {
		b.WriteString("; " + fix)
	}
	return &explainedError{text: safetext.Line(b.String()), err: err}
}

// trouble is what went wrong with the call, without naming the model or
// the endpoint ("no such model (HTTP 404): …"), and what to change ("check
// --coder-model or …"; "" when nothing the user sets would help).
func (c modelCall) trouble(me *model.Error) (what, fix string) {
	words := modelWords[me.Kind]
	var b strings.Builder
	b.WriteString(words.what)
	if me.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", me.Status)
	}
	// A network message restates the endpoint: keep only the cause.
	msg := strings.TrimPrefix(me.Message, "cannot reach "+c.endpoint+": ")
	if msg != "" {
		b.WriteString(": " + msg)
	}
	fix = words.fix
	if f, ok := c.fixes[me.Kind]; ok {
		fix = f
	}
	if fix == "model" {
		fix = ""
		if c.setting != "" {
			fix = "check " + c.setting
		}
	}
	return b.String(), fix
}

// endpointOf says where a backend sends requests, "" when it does not say.
func endpointOf(m model.Model) string {
	if e, ok := m.(interface{ Endpoint() string }); ok {
		return e.Endpoint()
	}
	return ""
}
