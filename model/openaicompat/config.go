package openaicompat

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agentteam/agentteam/model"
)

// Providers are presets: each only sets a base URL and whether a key is
// needed. Any other OpenAI-compatible server works with Config.BaseURL.
var providers = map[string]struct {
	baseURL  string
	needsKey bool
}{
	"openai":     {"https://api.openai.com/v1", true},
	"azure":      {"", true},
	"ollama":     {"http://localhost:11434/v1", false},
	"vllm":       {"http://localhost:8000/v1", false},
	"llamacpp":   {"http://localhost:8080/v1", false},
	"lmstudio":   {"http://localhost:1234/v1", false},
	"openrouter": {"https://openrouter.ai/api/v1", true},
}

// Providers lists the provider presets.
func Providers() []string {
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LocalProviders lists the presets of servers that need no key.
func LocalProviders() []string {
	return slices.DeleteFunc(Providers(), func(p string) bool { return providers[p].needsKey })
}

// DefaultAzureAPIVersion is used when Config.AzureAPIVersion is empty.
const DefaultAzureAPIVersion = "2024-10-21"

// MaxTokensField names the JSON field that carries model.Request.MaxTokens.
//
// OpenAI deprecated max_tokens for max_completion_tokens, and its reasoning
// models refuse max_tokens. But many compatible servers (older Ollama,
// llama.cpp, vLLM, LM Studio) read only max_tokens and silently ignore
// max_completion_tokens, so a reply would run unbounded. Hence the default,
// MaxTokensAuto: max_completion_tokens where it is known to be read,
// OpenAI's own service and Azure; max_tokens everywhere else, unless
// go-openai itself refuses to send max_tokens for the model (o1, o3, o4,
// gpt-5...). Old Azure models that reject max_completion_tokens answer with
// a 400; set MaxTokensLegacy for them.
type MaxTokensField string

const (
	MaxTokensAuto       MaxTokensField = ""                      // chosen by endpoint and model
	MaxTokensLegacy     MaxTokensField = "max_tokens"            // what every compatible server reads
	MaxCompletionTokens MaxTokensField = "max_completion_tokens" // OpenAI's current name
)

// Config says how to reach an OpenAI-compatible server.
type Config struct {
	Provider string // a preset (see Providers); "" means openai, or azure when an Azure endpoint is set
	BaseURL  string // overrides the preset's
	APIKey   string // sent as a bearer token (Azure: the api-key header); none is sent when empty

	AzureEndpoint   string            // https://NAME.openai.azure.com
	AzureAPIVersion string            // default DefaultAzureAPIVersion
	Deployments     map[string]string // Azure: model name → deployment name (default: the model name)

	Retry RetryPolicy
	// HeaderTimeout bounds the wait for a response's headers (a slow local
	// model may think for minutes before it answers; default 10m).
	HeaderTimeout time.Duration
	// IdleTimeout bounds the silence between two pieces of a streamed reply
	// (default 2m). No limit applies to a whole reply that keeps coming.
	IdleTimeout time.Duration
	// MaxTokensField is the field that bounds a reply (default
	// MaxTokensAuto, see MaxTokensField).
	MaxTokensField MaxTokensField
}

// ConfigError is a Config that New refuses. Field names the Config field
// at fault, so that a caller can say which of its own settings to change;
// the message says what is wrong in this package's terms.
type ConfigError struct {
	Field   string // Provider, BaseURL, AzureEndpoint, APIKey or MaxTokensField
	Message string
}

func (e *ConfigError) Error() string { return e.Message }

// resolve fills defaults and checks the configuration. A refusal is a
// *ConfigError, or for a missing key a model.Error of kind KindAuth
// wrapping one. Errors never show the key.
func (c Config) resolve() (Config, error) {
	if c.Provider == "" {
		c.Provider = "openai"
		if c.AzureEndpoint != "" {
			c.Provider = "azure"
		}
	}
	preset, ok := providers[c.Provider]
	if !ok {
		return c, &ConfigError{Field: "Provider", Message: fmt.Sprintf("unknown provider %q (presets: %s; any other server by its base URL)",
			c.Provider, strings.Join(Providers(), ", "))}
	}
	if c.Provider == "azure" {
		if c.AzureEndpoint == "" {
			c.AzureEndpoint = c.BaseURL
		}
		if c.AzureEndpoint == "" {
			return c, &ConfigError{Field: "AzureEndpoint", Message: "azure needs an endpoint (https://NAME.openai.azure.com)"}
		}
		if c.AzureAPIVersion == "" {
			c.AzureAPIVersion = DefaultAzureAPIVersion
		}
		c.BaseURL = c.AzureEndpoint
	} else if c.BaseURL == "" {
		c.BaseURL = preset.baseURL
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		field := "BaseURL"
		if c.Provider == "azure" {
			field = "AzureEndpoint"
		}
		return c, &ConfigError{Field: field, Message: fmt.Sprintf("base URL %q is not an http(s) URL", redactURL(c.BaseURL))}
	}
	// A key is needed by OpenAI's own service, Azure and OpenRouter; a
	// local server (any base URL of the user's) works without one.
	needsKey := preset.needsKey && (c.Provider == "azure" || c.BaseURL == preset.baseURL)
	if needsKey && c.APIKey == "" {
		msg := fmt.Sprintf("no API key for %s (a local server needs none: presets %s, or a base URL of its own)",
			c.Provider, strings.Join(LocalProviders(), "|"))
		return c, &model.Error{Kind: model.KindAuth, Message: msg, Err: &ConfigError{Field: "APIKey", Message: msg}}
	}
	switch c.MaxTokensField {
	case MaxTokensAuto, MaxTokensLegacy, MaxCompletionTokens:
	default:
		return c, &ConfigError{Field: "MaxTokensField", Message: fmt.Sprintf("max tokens field %q is not %s or %s (empty: auto)",
			c.MaxTokensField, MaxTokensLegacy, MaxCompletionTokens)}
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	c.Retry = c.Retry.withDefaults()
	return c, nil
}

// maxTokensField resolves MaxTokensAuto by endpoint (see MaxTokensField);
// c must be resolved.
func (c Config) maxTokensField() MaxTokensField {
	if c.MaxTokensField != MaxTokensAuto {
		return c.MaxTokensField
	}
	if c.Provider == "azure" {
		return MaxCompletionTokens
	}
	if u, err := url.Parse(c.BaseURL); err == nil && strings.EqualFold(u.Hostname(), openAIHost) {
		return MaxCompletionTokens
	}
	return MaxTokensLegacy
}

// openAIHost is the host of OpenAI's own service.
const openAIHost = "api.openai.com"

// redactURL drops credentials from a URL before it is shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return strings.Replace(u.String(), "://", "://[redacted]@", 1)
}
