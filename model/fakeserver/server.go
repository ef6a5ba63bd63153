package fakeserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/model"
)

// fakeModel is always listed by GET /v1/models.
const fakeModel = "fake-model"

// maxBody bounds a request body.
const maxBody = 32 << 20

// Recorded is one chat request as the server received it.
type Recorded struct {
	Path, Query string
	// Model is the request's "model", or the Azure deployment from the path.
	Model    string
	Messages []model.Message
	Stream   bool
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
	Temperature  *float32
	// MaxTokens is max_tokens, or max_completion_tokens.
	MaxTokens int
	// Authorization is the raw Authorization header, "" when absent.
	Authorization string
	// APIKeyHeader is the raw api-key header (Azure), "" when absent.
	APIKeyHeader string
}

// Server is a Handler served by an httptest.Server on 127.0.0.1.
type Server struct {
	// URL is the base URL of the OpenAI API, ending in /v1, e.g.
	// http://127.0.0.1:PORT/v1. Azure is served under the root:
	// strings.TrimSuffix(URL, "/v1").
	URL string
	h   *Handler
	ts  *httptest.Server
}

// New starts a server answering from script. It panics if the script is
// invalid (see Script.Validate): that is a mistake in the test.
func New(script Script) *Server {
	h := NewHandler(script)
	ts := httptest.NewServer(h)
	return &Server{URL: ts.URL + "/v1", h: h, ts: ts}
}

// Requests returns a copy of every chat request received, in order,
// including those answered with an error.
func (s *Server) Requests() []Recorded { return s.h.Requests() }

// Remaining returns how many steps have not been used yet.
func (s *Server) Remaining() int { return s.h.Remaining() }

// Close shuts the server down, closing the connections still open (a
// request waiting out a delay ends at once).
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Handler is the fake server as an http.Handler, for serving on a real
// listener. It is safe for concurrent requests.
type Handler struct {
	apiKey string
	names  []string // for GET /v1/models

	mu      sync.Mutex
	replies []Step
	models  map[string][]Step
	records []Recorded
	nextID  int
}

// NewHandler returns a handler answering from script. It panics if the
// script is invalid (see Script.Validate).
func NewHandler(script Script) *Handler {
	if err := script.Validate(); err != nil {
		panic("fakeserver: invalid script: " + err.Error())
	}
	h := &Handler{
		apiKey:  script.APIKey,
		replies: append([]Step(nil), script.Replies...),
		models:  make(map[string][]Step, len(script.Models)),
	}
	seen := map[string]bool{fakeModel: true}
	h.names = []string{fakeModel}
	for name, steps := range script.Models {
		h.models[name] = append([]Step(nil), steps...)
		if !seen[name] {
			seen[name] = true
			h.names = append(h.names, name)
		}
	}
	sort.Strings(h.names)
	return h
}

// Requests returns a copy of every chat request received, in order,
// including those answered with an error.
func (h *Handler) Requests() []Recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Recorded, len(h.records))
	for i, r := range h.records {
		r.Messages = append([]model.Message(nil), r.Messages...)
		if r.Temperature != nil {
			t := *r.Temperature
			r.Temperature = &t
		}
		out[i] = r
	}
	return out
}

// Remaining returns how many steps have not been used yet.
func (h *Handler) Remaining() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.replies)
	for _, q := range h.models {
		n += len(q)
	}
	return n
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/chat/completions":
		h.chat(w, r, "", false)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/openai/deployments/") && strings.HasSuffix(path, "/chat/completions"):
		dep := strings.TrimSuffix(strings.TrimPrefix(path, "/openai/deployments/"), "/chat/completions")
		if dep == "" || strings.Contains(dep, "/") {
			notFound(w, r)
			return
		}
		h.chat(w, r, dep, true)
	case r.Method == http.MethodGet && path == "/v1/models":
		h.listModels(w, r)
	default:
		notFound(w, r)
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
}

func (h *Handler) authorized(r *http.Request) bool {
	if h.apiKey == "" {
		return true
	}
	return r.Header.Get("Authorization") == "Bearer "+h.apiKey || r.Header.Get("api-key") == h.apiKey
}

// unauthorized answers as the OpenAI API does, showing only the ends of a
// wrong key.
func unauthorized(w http.ResponseWriter, r *http.Request) {
	given := r.Header.Get("api-key")
	if a := r.Header.Get("Authorization"); a != "" {
		given = strings.TrimPrefix(a, "Bearer ")
	}
	msg := "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
	if given != "" {
		msg = "Incorrect API key provided: " + maskKey(given) + "."
	}
	writeError(w, http.StatusUnauthorized, "invalid_api_key", msg)
}

func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	return k[:3] + strings.Repeat("*", len(k)-7) + k[len(k)-4:]
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		unauthorized(w, r)
		return
	}
	type entry struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		OwnedBy string `json:"owned_by"`
	}
	data := make([]entry, len(h.names))
	for i, n := range h.names {
		data[i] = entry{ID: n, Object: "model", OwnedBy: "fake"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// chatRequest is the part of a chat completion request the server reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Name    string          `json:"name"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Stream        bool `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Temperature         *float32 `json:"temperature"`
	MaxTokens           int      `json:"max_tokens"`
	MaxCompletionTokens int      `json:"max_completion_tokens"`
}

// contentText reads a message content: a string, or an array of parts whose
// text parts are joined and whose image_url parts are images. An image
// whose URL is not a base64 data URI is recorded with no MIME type and no
// data, so a test sees that it came.
func contentText(raw json.RawMessage) (string, []model.Image) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		ImageURL *struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		var images []model.Image
		for _, p := range parts {
			b.WriteString(p.Text)
			if p.Type == "image_url" && p.ImageURL != nil {
				images = append(images, dataURI(p.ImageURL.URL))
			}
		}
		return b.String(), images
	}
	if string(raw) == "null" {
		return "", nil
	}
	return string(raw), nil
}

// dataURI reads "data:MIME;base64,DATA"; anything else is an image with
// neither.
func dataURI(u string) model.Image {
	meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	mime, isBase64 := strings.CutSuffix(meta, ";base64")
	if !ok || !strings.HasPrefix(u, "data:") || !isBase64 {
		return model.Image{}
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return model.Image{}
	}
	return model.NewImage(mime, b)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request, deployment string, azure bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "", "fake server: reading the request body: "+err.Error())
		return
	}
	var req chatRequest
	parseErr := json.Unmarshal(body, &req)
	rec := Recorded{
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		Model:         req.Model,
		Stream:        req.Stream,
		IncludeUsage:  req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		Temperature:   req.Temperature,
		MaxTokens:     req.MaxTokens,
		Authorization: r.Header.Get("Authorization"),
		APIKeyHeader:  r.Header.Get("api-key"),
	}
	if rec.MaxTokens == 0 {
		rec.MaxTokens = req.MaxCompletionTokens
	}
	if azure {
		rec.Model = deployment
	}
	promptBytes := 0
	for _, m := range req.Messages {
		c, images := contentText(m.Content)
		promptBytes += len(c)
		rec.Messages = append(rec.Messages, model.Message{Role: m.Role, Name: m.Name, Content: c, Images: images})
	}

	h.mu.Lock()
	h.records = append(h.records, rec)
	h.mu.Unlock()

	switch {
	case !h.authorized(r):
		unauthorized(w, r)
		return
	case azure && r.URL.Query().Get("api-version") == "":
		writeError(w, http.StatusBadRequest, "", "fake server: the api-version query parameter is required on Azure routes")
		return
	case parseErr != nil:
		writeError(w, http.StatusBadRequest, "", "fake server: could not parse the JSON body of the request: "+parseErr.Error())
		return
	}

	h.mu.Lock()
	st, ok := h.next(rec.Model)
	h.nextID++
	id := fmt.Sprintf("chatcmpl-fake%d", h.nextID)
	h.mu.Unlock()
	if !ok {
		writeError(w, http.StatusInternalServerError, "", fmt.Sprintf("fake server: no scripted reply left for model %q", rec.Model))
		return
	}

	if !sleep(r.Context(), st.DelayMS) {
		return
	}
	if st.Fault != nil {
		writeFault(w, st.Fault)
		return
	}
	name := rec.Model
	if name == "" {
		name = fakeModel
	}
	usage := st.Usage
	if usage == nil && !st.NoUsage {
		p, c := max(promptBytes/4, 1), max(len(st.Content)/4, 1)
		usage = &Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}
	}
	finish := st.FinishReason
	switch {
	case finish != "":
	case st.ToolCall != "":
		finish = "tool_calls"
	default:
		finish = "stop"
	}
	rp := reply{id: id, model: name, created: time.Now().Unix(), step: st, finish: finish, usage: usage}
	if req.Stream {
		rp.stream(w, r, rec.IncludeUsage)
	} else {
		rp.plain(w)
	}
}

// next takes the next step for a model; h.mu is held.
func (h *Handler) next(name string) (Step, bool) {
	q, own := h.models[name]
	if !own {
		q = h.replies
	}
	if len(q) == 0 {
		return Step{}, false
	}
	st := q[0]
	if own {
		h.models[name] = q[1:]
	} else {
		h.replies = q[1:]
	}
	return st, true
}

type reply struct {
	id, model string
	created   int64
	step      Step
	finish    string
	usage     *Usage
}

// message is a reply's message, or a chunk's delta.
type message struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	Reasoning        *string    `json:"reasoning,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
}

type toolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// reasoning is a message with reasoning text r in the step's field; with
// "think" it goes in the content instead (see thinkText).
func (rp reply) reasoning(r string) message {
	if rp.step.ReasoningField == "reasoning" {
		return message{Reasoning: &r}
	}
	return message{ReasoningContent: &r}
}

// thinkText is what goes before the content when the reasoning is sent
// in <think> tags, "" otherwise.
func (rp reply) thinkText() string {
	if rp.step.ReasoningField != "think" || rp.step.Reasoning == "" {
		return ""
	}
	return "<think>\n" + rp.step.Reasoning + "\n</think>\n\n"
}

func (rp reply) toolCalls() []toolCall {
	if rp.step.ToolCall == "" {
		return nil
	}
	tc := toolCall{ID: "call_fake", Type: "function"}
	tc.Function.Name, tc.Function.Arguments = rp.step.ToolCall, "{}"
	return []toolCall{tc}
}

// xgroq is the x_groq object that carries the usage when the step says so.
func (rp reply) xgroq() map[string]any {
	if rp.step.UsageField != "x_groq" || rp.usage == nil {
		return nil
	}
	return map[string]any{"id": "req_" + rp.id, "usage": rp.usage}
}

func (rp reply) plain(w http.ResponseWriter) {
	if rp.step.Error != nil {
		writeJSON(w, http.StatusOK, rp.step.Error.body(rp))
		return
	}
	type choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	}
	content := rp.thinkText() + rp.step.Content
	msg := message{Role: "assistant", Content: &content, ToolCalls: rp.toolCalls()}
	if rp.step.Reasoning != "" && rp.step.ReasoningField != "think" {
		r := rp.reasoning(rp.step.Reasoning)
		msg.ReasoningContent, msg.Reasoning = r.ReasoningContent, r.Reasoning
	}
	usage := rp.usage
	if rp.xgroq() != nil {
		usage = nil
	}
	body, _ := json.Marshal(struct {
		ID      string         `json:"id"`
		Object  string         `json:"object"`
		Created int64          `json:"created"`
		Model   string         `json:"model"`
		Choices []choice       `json:"choices"`
		Usage   *Usage         `json:"usage,omitempty"`
		XGroq   map[string]any `json:"x_groq,omitempty"`
	}{rp.id, "chat.completion", rp.created, rp.model,
		[]choice{{Message: msg, FinishReason: rp.finish}}, usage, rp.xgroq()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if rp.step.CutAfter > 0 {
		_, _ = w.Write(body[:len(body)/2])
		abort(w)
	}
	_, _ = w.Write(body)
}

// chunk is one streamed event. Delta and FinishReason are always present,
// as in the real API; Usage only in the last chunk, when asked for.
type chunk struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Created int64          `json:"created"`
	Model   string         `json:"model"`
	Choices []chunkChoice  `json:"choices"`
	Usage   *Usage         `json:"usage,omitempty"`
	XGroq   map[string]any `json:"x_groq,omitempty"`
	Error   map[string]any `json:"error,omitempty"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        message `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

func (rp reply) stream(w http.ResponseWriter, r *http.Request, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flush := func() { _ = rc.Flush() }
	flush()
	st := rp.step
	wait := func() bool { return sleep(r.Context(), st.ChunkDelayMS) }

	for i := 0; i < st.KeepAlive; i++ {
		if i > 0 && !wait() {
			return
		}
		_, _ = io.WriteString(w, ": keep-alive\n\n")
		flush()
	}
	send := func(c chunk) {
		c.ID, c.Object, c.Created, c.Model = rp.id, "chat.completion.chunk", rp.created, rp.model
		if c.Choices == nil {
			c.Choices = []chunkChoice{}
		}
		b, _ := json.Marshal(c)
		_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		flush()
	}

	// The deltas: reasoning first, then the content (which starts with
	// the <think> block when the reasoning goes there), then a tool call.
	var deltas []message
	if st.Reasoning != "" && st.ReasoningField != "think" {
		for _, p := range split(st.Reasoning, 8) {
			deltas = append(deltas, rp.reasoning(p))
		}
	}
	for _, p := range split(rp.thinkText(), 8) {
		deltas = append(deltas, message{Content: &p})
	}
	pieces := st.Chunks
	if pieces == nil {
		pieces = split(st.Content, 8)
	}
	if len(pieces) == 0 && len(deltas) == 0 && st.ToolCall == "" {
		pieces = []string{""}
	}
	firstContent := len(deltas)
	for _, p := range pieces {
		deltas = append(deltas, message{Content: &p})
	}
	if tc := rp.toolCalls(); tc != nil {
		deltas = append(deltas, message{ToolCalls: tc})
	}
	for i, d := range deltas {
		if (i > 0 || st.KeepAlive > 0) && !wait() {
			return
		}
		if i == 0 {
			d.Role = "assistant"
		}
		send(chunk{Choices: []chunkChoice{{Delta: d}}})
		if st.CutAfter > 0 && i+1-firstContent >= st.CutAfter {
			abort(w)
		}
	}
	if st.CutAfter > 0 {
		abort(w)
	}
	if !wait() {
		return
	}
	if st.Error != nil {
		st.Error.write(w, rp)
		flush()
		return
	}
	finish := rp.finish
	send(chunk{Choices: []chunkChoice{{FinishReason: &finish}}, XGroq: rp.xgroq()})
	if includeUsage && rp.usage != nil && rp.xgroq() == nil {
		send(chunk{Usage: rp.usage})
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	flush()
}

// object is the error object of e.
func (e *StreamError) object() map[string]any {
	var code any
	if n, err := strconv.Atoi(e.Code); err == nil {
		code = n
	} else if e.Code != "" {
		code = e.Code
	}
	obj := map[string]any{"message": e.Message, "type": e.Type, "param": nil, "code": code}
	if e.Type == "" {
		obj["type"] = nil
	}
	if e.StatusCode != 0 {
		obj["status_code"] = e.StatusCode
	}
	return obj
}

// body is e as a whole JSON value in its shape.
func (e *StreamError) body(rp reply) any {
	switch e.Shape {
	case "string":
		return map[string]any{"error": e.Message}
	case "top_level":
		obj := e.object()
		obj["object"] = "error"
		return obj
	case "in_chunk":
		empty, finish := "", "error"
		return chunk{ID: rp.id, Object: "chat.completion.chunk", Created: rp.created, Model: rp.model, Error: e.object(),
			Choices: []chunkChoice{{Delta: message{Content: &empty}, FinishReason: &finish}}}
	}
	return map[string]any{"error": e.object()}
}

// write sends e as a stream frame: after an "event: error" line, as a bare
// line or a data line, as each server does; OpenRouter's chunk is followed
// by [DONE].
func (e *StreamError) write(w io.Writer, rp reply) {
	b, _ := json.Marshal(e.body(rp))
	if e.Event {
		_, _ = io.WriteString(w, "event: error\n")
	}
	if e.Raw {
		_, _ = fmt.Fprintf(w, "%s\n", b)
		return
	}
	_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
	if e.Shape == "in_chunk" {
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}
}

// abort ends the response without finishing the body: the client sees the
// connection close mid-body.
func abort(w http.ResponseWriter) {
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// split cuts s into pieces of about n bytes, at UTF-8 boundaries.
func split(s string, n int) []string {
	var out []string
	for i := 0; i < len(s); {
		j := min(i+n, len(s))
		for j < len(s) && !utf8.RuneStart(s[j]) {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// sleep waits ms milliseconds; false if ctx ended first.
func sleep(ctx context.Context, ms int) bool {
	if ms <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeFault(w http.ResponseWriter, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" {
		ct := f.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.Body)
		return
	}
	msg := f.Message
	if msg == "" {
		msg = "fake server: " + http.StatusText(f.Status)
		if f.Code != "" {
			msg += " (" + f.Code + ")"
		}
	}
	writeErrorType(w, f.Status, f.Code, msg, f.ContentType, f.Shape)
}

// errorType is the OpenAI error type for a status and code.
func errorType(status int, code string) string {
	switch {
	case code == "insufficient_quota":
		return "insufficient_quota"
	case status >= 500:
		return "server_error"
	case status == http.StatusTooManyRequests:
		return "requests"
	}
	return "invalid_request_error"
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeErrorType(w, status, code, msg, "", "")
}

// writeErrorType writes an error JSON in shape (see Fault.Shape); an empty
// code is null.
func writeErrorType(w http.ResponseWriter, status int, code, msg, contentType, shape string) {
	if contentType == "" {
		contentType = "application/json"
	}
	e := &StreamError{Message: msg, Type: errorType(status, code), Code: code, Shape: shape}
	body, _ := json.Marshal(e.body(reply{}))
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
