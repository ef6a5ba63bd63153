package main

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
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
	return ""
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
