// Package fakeserver owns a fake OpenAI-compatible chat server that answers
// from a script, streams like the real API and injects faults, so tests
// exercise the real HTTP client path.
//
// Routes, under the server root:
//
//	POST /v1/chat/completions                                  OpenAI, Ollama, vLLM, llama.cpp
//	POST /openai/deployments/{deployment}/chat/completions     Azure (?api-version= required)
//	GET  /v1/models                                            the model names of the script
//
// Server.URL ends in /v1, the base URL an OpenAI client is given. An Azure
// client is given the root instead: strings.TrimSuffix(s.URL, "/v1").
package fakeserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// Script is what the server answers, read from a JSON file by LoadScript or
// built in a test.
type Script struct {
	// APIKey, when set, must be carried by every request as
	// "Authorization: Bearer KEY" or as Azure's "api-key: KEY" header;
	// otherwise the answer is a 401 invalid_api_key error.
	APIKey string `json:"api_key,omitempty"`
	// Replies are used in order for a model that has no queue in Models.
	Replies []Step `json:"replies,omitempty"`
	// Models are per model name (or Azure deployment) queues, used in order.
	// A model named here only ever takes from its own queue: once that is
	// used up, its requests fail even if Replies has steps left.
	Models map[string][]Step `json:"models,omitempty"`
}

// Step is one scripted answer: a reply or a fault.
type Step struct {
	Content string `json:"content"`
	// FinishReason defaults to "stop".
	FinishReason string `json:"finish_reason,omitempty"`
	// Chunks is how Content is split when streaming; their concatenation
	// must equal Content. By default Content is split into pieces of about 8
	// bytes at UTF-8 boundaries.
	Chunks []string `json:"chunks,omitempty"`
	// Usage is the token count reported. By default prompt_tokens is the
	// total bytes of the request's message contents / 4 and
	// completion_tokens is len(Content)/4, each at least 1.
	Usage *Usage `json:"usage,omitempty"`
	// NoUsage omits the usage entirely: no "usage" key in a plain reply, no
	// usage chunk in a stream even when the client asks for one.
	NoUsage bool `json:"no_usage,omitempty"`
	// KeepAlive is how many ": keep-alive" SSE comments a stream sends
	// before its first chunk (ChunkDelayMS apart).
	KeepAlive int `json:"keep_alive,omitempty"`
	// DelayMS is how long to wait before sending the response headers (a
	// slow first byte). The wait ends early if the client goes away.
	DelayMS int `json:"delay_ms,omitempty"`
	// ChunkDelayMS is how long a stream waits between chunks.
	ChunkDelayMS int `json:"chunk_delay_ms,omitempty"`
	// CutAfter, in a stream, ends the response abruptly after this many
	// content chunks: no finish chunk, no [DONE], the connection closes
	// mid-body. In a plain (non-stream) reply, any CutAfter > 0 sends half
	// of the JSON body and then closes the connection.
	CutAfter int `json:"cut_after,omitempty"`
	// Fault answers with this HTTP error instead of a reply; the step is
	// used up all the same.
	Fault *Fault `json:"fault,omitempty"`

	// Reasoning is what the model thought before Content, sent where
	// ReasoningField says.
	Reasoning string `json:"reasoning,omitempty"`
	// ReasoningField is "reasoning_content" (the default: DeepSeek,
	// vLLM), "reasoning" (OpenRouter, Ollama, Groq) or "think" (in the
	// content, as <think>...</think> before the answer, as DeepSeek-R1
	// and its distillations do).
	ReasoningField string `json:"reasoning_field,omitempty"`
	// ToolCall, when set, is the name of a tool the reply calls (with
	// empty arguments), though none were offered.
	ToolCall string `json:"tool_call,omitempty"`
	// UsageField is where the usage goes: "" (usage, as OpenAI) or
	// "x_groq" (x_groq.usage of the last chunk or of the body, as Groq).
	UsageField string `json:"usage_field,omitempty"`
	// Error is an error the server reports inside a 200 answer: after
	// Content's chunks in a stream (what the user saw first), as the whole
	// body otherwise.
	Error *StreamError `json:"error,omitempty"`
}

// StreamError is an error inside a 200 answer, in one of the shapes real
// servers give it.
type StreamError struct {
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`
	// Code is the error's code, "" for null; a number ("400") is sent as
	// one.
	Code string `json:"code,omitempty"`
	// StatusCode, when set, is sent as status_code (Groq).
	StatusCode int `json:"status_code,omitempty"`
	// Shape is "" ({"error": {...}}, OpenAI), "string" ({"error": "text"},
	// Ollama's native API), "top_level" ({"object": "error", "message":
	// ...}, vLLM) or "in_chunk" (inside a chunk whose finish_reason is
	// "error", OpenRouter).
	Shape string `json:"shape,omitempty"`
	// Event precedes the frame with an "event: error" line (Groq).
	Event bool `json:"event,omitempty"`
	// Raw sends the frame as a bare JSON line, without "data: " (Ollama).
	Raw bool `json:"raw,omitempty"`
}

// Usage is a token count as the OpenAI API reports it.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Fault is an HTTP error answer.
type Fault struct {
	// Status is the HTTP status, 400 to 599: 429, 500, 503, 401, 404, 400...
	Status int `json:"status"`
	// RetryAfter is the value of the Retry-After header: "1", or an HTTP date.
	RetryAfter string `json:"retry_after,omitempty"`
	// Code is the OpenAI error code: "rate_limit_exceeded",
	// "insufficient_quota", "context_length_exceeded", "model_not_found",
	// "invalid_api_key"... Empty gives a null code.
	Code string `json:"code,omitempty"`
	// Message is the error message; empty gives one from the status.
	Message string `json:"message,omitempty"`
	// Body is sent as is instead of the OpenAI error JSON (an HTML error
	// page from a proxy, say).
	Body string `json:"body,omitempty"`
	// ContentType defaults to application/json; use "text/html" for an HTML
	// Body.
	ContentType string `json:"content_type,omitempty"`
	// Shape is the error JSON's: "" ({"error": {...}}), "string" ({"error":
	// "text"}) or "top_level" ({"object": "error", "message": ...}).
	Shape string `json:"shape,omitempty"`
}

// LoadScript reads a script from a JSON file. Unknown fields are an error,
// and so is a script that Validate rejects; errors name the file.
func LoadScript(path string) (Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Script{}, fmt.Errorf("fake server script: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Script
	if err := dec.Decode(&s); err != nil {
		return Script{}, fmt.Errorf("fake server script %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Script{}, fmt.Errorf("fake server script %s: unexpected data after the JSON object", path)
	}
	if err := s.Validate(); err != nil {
		return Script{}, fmt.Errorf("fake server script %s: %w", path, err)
	}
	return s, nil
}

// Validate reports the first step that cannot be served as written: chunks
// that do not add up to the content, a negative count or delay, a fault
// status outside 400-599, usage both given and turned off.
func (s Script) Validate() error {
	for i, st := range s.Replies {
		if err := st.validate(); err != nil {
			return fmt.Errorf("replies[%d]: %w", i, err)
		}
	}
	names := make([]string, 0, len(s.Models))
	for name := range s.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for i, st := range s.Models[name] {
			if err := st.validate(); err != nil {
				return fmt.Errorf("models[%q][%d]: %w", name, i, err)
			}
		}
	}
	return nil
}

func (st Step) validate() error {
	switch {
	case st.Chunks != nil && strings.Join(st.Chunks, "") != st.Content:
		return errors.New("the chunks do not add up to the content")
	case st.KeepAlive < 0, st.DelayMS < 0, st.ChunkDelayMS < 0, st.CutAfter < 0:
		return errors.New("keep_alive, delay_ms, chunk_delay_ms and cut_after cannot be negative")
	case st.NoUsage && st.Usage != nil:
		return errors.New("usage is given but no_usage is set")
	case st.Fault != nil && (st.Fault.Status < 400 || st.Fault.Status > 599):
		return fmt.Errorf("fault status %d is not an HTTP error (400-599)", st.Fault.Status)
	case st.Fault != nil && !oneOf(st.Fault.Shape, "", "string", "top_level"):
		return fmt.Errorf("fault shape %q is not string or top_level", st.Fault.Shape)
	case !oneOf(st.ReasoningField, "", "reasoning_content", "reasoning", "think"):
		return fmt.Errorf("reasoning field %q is not reasoning_content, reasoning or think", st.ReasoningField)
	case !oneOf(st.UsageField, "", "x_groq"):
		return fmt.Errorf("usage field %q is not x_groq", st.UsageField)
	case st.Error != nil && (st.Fault != nil || st.CutAfter > 0):
		return errors.New("an error inside the answer goes with neither a fault nor cut_after")
	case st.Error != nil && !oneOf(st.Error.Shape, "", "string", "top_level", "in_chunk"):
		return fmt.Errorf("error shape %q is not string, top_level or in_chunk", st.Error.Shape)
	}
	return nil
}

func oneOf(s string, values ...string) bool { return slices.Contains(values, s) }
