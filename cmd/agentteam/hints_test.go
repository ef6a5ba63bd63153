package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentteam/agentteam/model"
)

// TestFixes: the CLI adds to an error the libraries report in their own
// terms which of its settings to change.
func TestFixes(t *testing.T) {
	cases := []struct {
		err  error
		code int
		want string
	}{
		{fmt.Errorf("coder: %w", &model.Error{Kind: model.KindAuth, Status: 401, Message: "Incorrect API key provided"}), ExitFailure,
			"coder: model authentication (HTTP 401): Incorrect API key provided (check OPENAI_API_KEY or AZURE_OPENAI_API_KEY)"},
		{&model.Error{Kind: model.KindNetwork, Message: "cannot reach http://127.0.0.1:9/v1"}, ExitFailure,
			"model network: cannot reach http://127.0.0.1:9/v1 (is the server running and reachable?); check OPENAI_BASE_URL or --base-url"},
		{&model.Error{Kind: model.KindQuota, Message: "You exceeded your current quota"}, ExitFailure,
			"model quota: You exceeded your current quota (the account's quota or credit is used up)"},
	}
	for _, tc := range cases {
		if code, msg := exitStatus(context.Background(), tc.err); code != tc.code || msg != tc.want {
			t.Errorf("exitStatus(%v) = %d, %q; want %d, %q", tc.err, code, msg, tc.code, tc.want)
		}
	}
}
