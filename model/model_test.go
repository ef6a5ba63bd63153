package model

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct{ in, secret, want string }{
		{"Incorrect API key provided: sk-abc123def456ghi.", "", "Incorrect API key provided: sk-[redacted]."},
		{"masked sk-proj-****************wxyz too", "", "masked sk-[redacted] too"},
		{"api-key: 0123456789abcdef0123456789abcdef", "", "api-key: [redacted]"},
		{"my own token tok_live_A1B2 leaked", "tok_live_A1B2", "my own token [redacted] leaked"},
		{"nothing secret: sk- alone, key: short", "", "nothing secret: sk- alone, key: short"},
	}
	for _, tc := range cases {
		if got := Redact(tc.in, tc.secret); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		err  error
		want Kind
	}{
		{&Error{Kind: KindQuota}, KindQuota},
		{fmt.Errorf("call coder: %w", &Error{Kind: KindAuth}), KindAuth},
		{context.Canceled, KindCanceled},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), KindCanceled},
		{errors.New("plain"), ""},
		{nil, ""},
	}
	for _, tc := range cases {
		if got := KindOf(tc.err); got != tc.want {
			t.Errorf("KindOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{Kind: KindAuth, Status: 401, Message: "Incorrect API key"}
	if got := e.Error(); got != "model authentication (HTTP 401): Incorrect API key" {
		t.Fatalf("message %q", got)
	}
	e = &Error{Kind: KindNetwork, Message: "cannot reach http://x/v1"}
	if got := e.Error(); got != "model network: cannot reach http://x/v1 (is the server running and reachable?)" {
		t.Fatalf("message %q", got)
	}
}

func TestUsageAdd(t *testing.T) {
	a := Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3, Known: true}
	if s := a.Add(a); s.TotalTokens != 6 || !s.Known {
		t.Fatalf("sum %+v", s)
	}
	if s := a.Add(Usage{}); s.Known {
		t.Fatalf("a sum with an unknown usage is known: %+v", s)
	}
}
