package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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

// TestImageJSONHoldsNoBytes: an image marshals to its type, digest and
// size, never its bytes, however it was built; read back, its digest is
// still the one of the bytes.
func TestImageJSONHoldsNoBytes(t *testing.T) {
	data := []byte("\x89PNG\r\n\x1a\nSECRET-PIXELS")
	for name, img := range map[string]Image{
		"NewImage": NewImage("image/png", data),
		"literal":  {MIME: "image/png", Data: data},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(Message{Role: RoleUser, Content: "see", Images: []Image{img}})
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("SECRET-PIXELS")) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(data))) {
				t.Fatalf("the bytes are in the JSON: %s", b)
			}
			var back Message
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			got := back.Images[0]
			if got.Data != nil || got.MIME != "image/png" || got.Size != len(data) || got.Digest() != hex.EncodeToString(sum[:]) {
				t.Errorf("read back %+v from %s", got, b)
			}
		})
	}
	if b, _ := json.Marshal(Message{Role: RoleUser, Content: "x"}); bytes.Contains(b, []byte("images")) {
		t.Errorf("a message without images mentions them: %s", b)
	}
}
