package main

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
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
	return err.Error() + fixFor(err)
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
		return &model.Error{Kind: model.KindAuth, Err: err, Message: fmt.Sprintf(
			"no API key for %s: set %s, or use a local server (--provider %s, or OPENAI_BASE_URL)",
			cmp.Or(cfg.Provider, "openai"), keyEnv, strings.Join(openaicompat.LocalProviders(), "|"))}
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
