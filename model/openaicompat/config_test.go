package openaicompat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestConfig checks what New makes of a Config: defaults, presets, and the
// configurations it refuses.
func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(t *testing.T, c *Client)
	}{
		{name: "openai needs a key", cfg: Config{}, wantErr: "no API key for openai (a local server needs none: presets llamacpp|lmstudio|ollama|vllm"},
		{name: "azure needs an endpoint", cfg: Config{Provider: "azure", APIKey: "k"}, wantErr: "azure needs an endpoint"},
		{name: "azure needs its key", cfg: Config{AzureEndpoint: "https://x.openai.azure.com"}, wantErr: "no API key for azure"},
		{name: "unknown provider", cfg: Config{Provider: "skynet"}, wantErr: `unknown provider "skynet"`},
		{name: "bad base url", cfg: Config{BaseURL: "localhost:8000"}, wantErr: "not an http(s) URL"},
		{name: "credentials in the url are not shown", cfg: Config{BaseURL: "ftp://user:hunter2@host/v1"}, wantErr: "[redacted]"},
		{name: "bad max tokens field", cfg: Config{APIKey: "k", MaxTokensField: "n_predict"}, wantErr: `max tokens field "n_predict"`},
		{name: "ollama needs no key", cfg: Config{Provider: "ollama"},
			check: func(t *testing.T, c *Client) {
				if c.Endpoint() != "ollama at http://localhost:11434/v1" {
					t.Errorf("endpoint %s", c.Endpoint())
				}
			}},
		{name: "own server needs no key", cfg: Config{BaseURL: "http://gpu-box:8000/v1"},
			check: func(t *testing.T, c *Client) {
				if c.Endpoint() != "the server at http://gpu-box:8000/v1" {
					t.Errorf("endpoint %s", c.Endpoint())
				}
			}},
		{name: "azure from its endpoint", cfg: Config{AzureEndpoint: "https://x.openai.azure.com", APIKey: "k", Deployments: map[string]string{"mini": "m"}},
			check: func(t *testing.T, c *Client) {
				if c.cfg.Provider != "azure" || c.cfg.AzureAPIVersion != DefaultAzureAPIVersion || c.cfg.BaseURL != "https://x.openai.azure.com" || c.cfg.Deployments["mini"] != "m" {
					t.Errorf("config %+v", c.cfg)
				}
			}},
		{name: "openai's own service: max_completion_tokens", cfg: Config{APIKey: "k"},
			check: func(t *testing.T, c *Client) {
				if f := c.cfg.maxTokensField(); f != MaxCompletionTokens {
					t.Errorf("max tokens field %q", f)
				}
			}},
		{name: "local preset: max_tokens", cfg: Config{Provider: "ollama"},
			check: func(t *testing.T, c *Client) {
				if f := c.cfg.maxTokensField(); f != MaxTokensLegacy {
					t.Errorf("max tokens field %q", f)
				}
			}},
		{name: "max tokens field chosen", cfg: Config{BaseURL: "http://gpu-box:8000/v1", MaxTokensField: MaxCompletionTokens},
			check: func(t *testing.T, c *Client) {
				if f := c.cfg.maxTokensField(); f != MaxCompletionTokens {
					t.Errorf("max tokens field %q", f)
				}
			}},
		{name: "defaults", cfg: Config{APIKey: "k"},
			check: func(t *testing.T, c *Client) {
				if c.cfg.Retry.MaxAttempts != 4 || c.cfg.IdleTimeout != 2*time.Minute || c.cfg.HeaderTimeout != 10*time.Minute {
					t.Errorf("config %+v", c.cfg)
				}
			}},
		{name: "retry and timeouts", cfg: Config{APIKey: "k", Retry: RetryPolicy{MaxAttempts: 2}, IdleTimeout: 30 * time.Second},
			check: func(t *testing.T, c *Client) {
				if c.cfg.Retry.MaxAttempts != 2 || c.cfg.IdleTimeout != 30*time.Second || c.cfg.HeaderTimeout != 10*time.Minute {
					t.Errorf("config %+v", c.cfg)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if tc.wantErr != "" {
				var ce *ConfigError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2") || !errors.As(err, &ce) {
					t.Fatalf("error %v, want a ConfigError containing %q", err, tc.wantErr)
				}
				// The package's words: no variable or flag of a program's.
				if strings.Contains(err.Error(), "OPENAI_") || strings.Contains(err.Error(), "--") {
					t.Errorf("error %q names a setting of the CLI's", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
