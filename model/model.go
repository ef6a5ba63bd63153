// Package model owns talking to language models: the small interface every
// backend implements (the OpenAI-compatible one, the scripted fake, the
// replay of a recorded transcript), the request and reply types, and the
// few kinds of error a caller has to tell apart.
package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Roles of a chat message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Name    string `json:"name,omitempty"`
	Content string `json:"content"`
	// Images go with a user message after its Content, for a model that
	// can see (the reviewer with vision). Most messages have none.
	Images []Image `json:"images,omitempty"`
}

// Image is a picture sent with a message. Its bytes never reach JSON: a
// transcript records an image by its MIME type, SHA-256 and size, which
// is all a replay needs to tell that a run sends the same picture.
type Image struct {
	MIME string `json:"mime"` // image/png or image/jpeg
	Data []byte `json:"-"`
	// SHA256 (hex) and Size describe Data; NewImage sets them, and an
	// image read back from a transcript has only them.
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// NewImage returns an image of data with its digest and size set.
func NewImage(mime string, data []byte) Image {
	sum := sha256.Sum256(data)
	return Image{MIME: mime, Data: data, SHA256: hex.EncodeToString(sum[:]), Size: len(data)}
}

// Digest is the image's SHA-256 (hex): of Data when it has bytes, else
// the recorded one.
func (i Image) Digest() string {
	if i.Data == nil {
		return i.SHA256
	}
	sum := sha256.Sum256(i.Data)
	return hex.EncodeToString(sum[:])
}

// MarshalJSON writes the digest and size of Data, never Data itself, even
// when the image was built without NewImage.
func (i Image) MarshalJSON() ([]byte, error) {
	type plain Image // without this method
	if i.Data != nil {
		i.SHA256, i.Size = i.Digest(), len(i.Data)
	}
	return json.Marshal(plain(i))
}

// Request is one chat completion request.
type Request struct {
	// Model names the model (an Azure deployment is found from it).
	Model    string
	Messages []Message
	// Temperature is the sampling temperature; nil leaves the server's default.
	Temperature *float32
	// MaxTokens bounds the reply; 0 leaves the server's default.
	MaxTokens int
	// OnDelta, when set, asks for a streamed reply and receives each piece of
	// content as it arrives; the Reply still carries the whole content.
	OnDelta func(delta string)
	// OnReasoning, when set with OnDelta, receives each piece of the
	// model's reasoning as it arrives (a reasoning model may think for
	// minutes before its first piece of content).
	OnReasoning func(delta string)
}

// Usage is the token count of one call. Known is false when the server
// reported none: the count is then unknown, not zero.
type Usage struct {
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"`
	TotalTokens      int  `json:"total_tokens"`
	Known            bool `json:"known"`
}

// Add sums two usages; the sum is known only if both are.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		PromptTokens:     u.PromptTokens + v.PromptTokens,
		CompletionTokens: u.CompletionTokens + v.CompletionTokens,
		TotalTokens:      u.TotalTokens + v.TotalTokens,
		Known:            u.Known && v.Known,
	}
}

// Reply is a model's answer.
type Reply struct {
	Content string `json:"content"`
	// Reasoning is what a reasoning model thought before it answered
	// (reasoning_content, reasoning, or <think> at the start of the
	// content). It is for people to read: never send it back to a model.
	Reasoning string `json:"reasoning,omitempty"`
	// FinishReason is the server's: "stop", or "length" (cut by MaxTokens).
	// A backend turns "content_filter" and "error" into errors.
	FinishReason string `json:"finish_reason"`
	Usage        Usage  `json:"usage"`
	// Model is the model that answered, as the server named it.
	Model string `json:"model,omitempty"`
}

// Model answers chat requests. Implementations are safe for concurrent use.
type Model interface {
	Complete(ctx context.Context, req Request) (Reply, error)
}

// Kind is what went wrong with a model call, at the level a user acts on.
type Kind string

// The kinds of model error.
const (
	KindAuth            Kind = "authentication"
	KindModelNotFound   Kind = "model_not_found"
	KindRateLimited     Kind = "rate_limited"
	KindQuota           Kind = "quota"
	KindContextTooLong  Kind = "context_too_long"
	KindBadRequest      Kind = "bad_request"
	KindServer          Kind = "server_error"
	KindNetwork         Kind = "network"
	KindCanceled        Kind = "cancelled"
	KindBadReply        Kind = "bad_reply"        // the server's answer could not be understood
	KindEmptyReply      Kind = "empty_reply"      // the answer has no text: only tool calls, only reasoning, or nothing
	KindContentFilter   Kind = "content_filter"   // the server's content filter blocked the prompt or the reply
	KindReplayDiverged  Kind = "replay_diverged"  // a replayed run asked something else
	KindReplayExhausted Kind = "replay_exhausted" // a replayed run asked more than was recorded
)

// Error is a classified model error. Its message never holds a secret.
type Error struct {
	Kind    Kind
	Status  int    // HTTP status, when there was one
	Message string // what happened, for one line
	// RetryAfter is the server's requested wait, when it gave one.
	RetryAfter time.Duration
	Err        error // the cause, for errors.Is; its text is not shown
}

func (e *Error) Error() string {
	// What the kind means, in the model's terms; a program adds which of
	// its settings to change.
	hint := map[Kind]string{
		KindModelNotFound: " (check the model or deployment name)",
		KindQuota:         " (the account's quota or credit is used up)",
		KindNetwork:       " (is the server running and reachable?)",
	}[e.Kind]
	if e.Status != 0 {
		return fmt.Sprintf("model %s (HTTP %d): %s%s", e.Kind, e.Status, e.Message, hint)
	}
	return fmt.Sprintf("model %s: %s%s", e.Kind, e.Message, hint)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a model error, or "" when err is not one.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return KindCanceled
	}
	return ""
}

// skKey and keyValue match strings shaped like API keys (OpenAI's sk-...,
// and a long opaque token after "key:" or "key="), as a server may echo them
// in an error.
var (
	skKey    = regexp.MustCompile(`\bsk-[A-Za-z0-9_\-*]{6,}`)
	keyValue = regexp.MustCompile(`((?i:key)["']?\s*[=:]\s*["']?)[A-Za-z0-9_\-*.]{16,}`)
)

// Redact removes the given secrets, and anything shaped like an API key,
// from s.
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = skKey.ReplaceAllString(s, "sk-[redacted]")
	return keyValue.ReplaceAllString(s, "${1}[redacted]")
}
