package openaicompat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentteam/agentteam/model"
)

// apiError is an error as a server reports it, whatever its shape.
type apiError struct {
	Message string
	Type    string
	Code    string // a string code, or a numeric one as text
	Status  int    // a status inside the error (status_code, status, or a numeric code)
	// Detail is more from the server, shown after the message: the
	// provider and its own message behind OpenRouter, the categories of
	// Azure's content filter.
	Detail string
	// Signals are other words that classify it but are not shown (Azure's
	// inner error code).
	Signals string
}

// parseError reads an error out of a JSON body or stream frame, in the
// shapes servers use: {"error": {...}} (OpenAI and most), {"error": "text"}
// (Ollama's native API, older LM Studio), a top-level {"object": "error",
// "message": ...} (vLLM), {"detail": "text"} (FastAPI-based proxies). ok is
// false when data holds none of them.
func parseError(data []byte) (apiError, bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(data), &top) != nil {
		return apiError{}, false
	}
	_, hasChoices := top["choices"]
	if raw, ok := top["error"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return apiError{Message: s}, true
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			return errorObject(obj), true
		}
		return apiError{Message: string(raw)}, true
	}
	_, hasMessage := top["message"]
	_, hasType := top["type"]
	_, hasCode := top["code"]
	if text(top["object"]) == "error" || (hasMessage && !hasChoices && (hasType || hasCode)) {
		return errorObject(top), true
	}
	if d := text(top["detail"]); d != "" && !hasChoices {
		return apiError{Message: d}, true
	}
	return apiError{}, false
}

// errorObject reads the fields of an error object; each may be missing,
// null, a string or a number.
func errorObject(obj map[string]json.RawMessage) apiError {
	e := apiError{Message: text(obj["message"]), Type: text(obj["type"]), Code: text(obj["code"])}
	var parts []string
	if json.Unmarshal(obj["message"], &parts) == nil {
		e.Message = strings.Join(parts, ", ") // go-openai's issue 381: a list of messages
	}
	for _, k := range []string{"status_code", "status", "code"} {
		if n, err := strconv.Atoi(text(obj[k])); err == nil && n >= 100 && n <= 599 {
			e.Status = n
			break
		}
	}
	var meta struct {
		Provider string          `json:"provider_name"`
		Raw      json.RawMessage `json:"raw"`
	}
	if json.Unmarshal(obj["metadata"], &meta) == nil {
		raw := text(meta.Raw)
		if raw == "" && len(meta.Raw) > 0 && !isNull(meta.Raw) {
			raw = string(meta.Raw)
		}
		switch {
		case meta.Provider != "" && raw != "":
			e.Detail = meta.Provider + ": " + raw
		case raw != "":
			e.Detail = raw
		}
	}
	var inner struct {
		Code    string                     `json:"code"`
		Results map[string]json.RawMessage `json:"content_filter_result"`
	}
	if json.Unmarshal(obj["innererror"], &inner) == nil {
		e.Signals = inner.Code
		if cats := filteredCategories(inner.Results); len(cats) > 0 {
			e.Detail = "filtered: " + strings.Join(cats, ", ")
		}
	}
	return e
}

// filteredCategories lists, sorted, the categories of an Azure content
// filter result that fired.
func filteredCategories(results map[string]json.RawMessage) []string {
	var cats []string
	for name, raw := range results {
		var r struct {
			Filtered bool `json:"filtered"`
		}
		if json.Unmarshal(raw, &r) == nil && r.Filtered {
			cats = append(cats, name)
		}
	}
	slices.Sort(cats)
	return cats
}

// text is a JSON string's value, or a number's text; "" for anything else.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// line is the error's message for one line, with its detail.
func (e apiError) line() string {
	msg := e.Message
	if msg == "" {
		msg = strings.TrimSpace(e.Code + " " + e.Type)
	}
	if msg == "" {
		msg = "the server reported an error without a message"
	}
	if e.Detail != "" && !strings.Contains(msg, e.Detail) {
		msg += " (" + e.Detail + ")"
	}
	return oneLine(msg, 500)
}

// words are all the error's text that can classify it.
func (e apiError) words() string {
	return strings.Join([]string{e.Code, e.Type, e.Signals, e.Message, e.Detail}, " ")
}

// modelError is the classified error for e, reported with HTTP status
// httpStatus (200 for an error inside a reply).
func modelError(httpStatus int, header http.Header, e apiError) *model.Error {
	me := &model.Error{Message: e.line()}
	status := e.Status
	if httpStatus >= 400 {
		me.Status, status = httpStatus, httpStatus
	}
	me.Kind = kindFor(status, e.words(), true)
	if after, ok := retryAfter(header.Get("Retry-After"), time.Now()); ok {
		me.RetryAfter = after
	}
	return me
}

// kindFor classifies an error by every signal: the status (the HTTP
// status, or one the error carries when it came inside a 200), the error's
// codes and type, and the phrasings servers use for each case. reported
// says the server itself said it is an error (an error object); without
// a status it is then a server error, else the answer is merely not
// understood.
func kindFor(status int, words string, reported bool) model.Kind {
	w := strings.ToLower(words)
	has := func(phrases ...string) bool {
		for _, p := range phrases {
			if strings.Contains(w, p) {
				return true
			}
		}
		return false
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || has("invalid_api_key", "authentication_error"):
		return model.KindAuth
	case has("content_filter", "responsibleaipolicyviolation", "content management policy"):
		return model.KindContentFilter
	case status == http.StatusPaymentRequired || has("insufficient_quota", "exceeded your current quota", "insufficient credits"):
		return model.KindQuota
	case status == http.StatusTooManyRequests || has("rate_limit_exceeded", "rate limit", "rate-limited"):
		return model.KindRateLimited
	case has("context_length_exceeded", "exceed_context_size", "maximum context length", "context length",
		"context size", "context window", "maximum model length", "too many tokens", "prompt is too long"):
		return model.KindContextTooLong
	case has("invalid url"): // OpenAI's 404 for a path it does not serve
		return model.KindBadRequest
	case status == http.StatusNotFound || has("model_not_found", "deploymentnotfound", "no models loaded") ||
		(has("model") && has("does not exist", "not found")):
		return model.KindModelNotFound
	case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusConflict:
		return model.KindServer
	case status >= 400 || has("invalid_request_error", "badrequesterror"):
		return model.KindBadRequest
	case reported:
		return model.KindServer
	}
	return model.KindBadReply
}

// oneLine collapses s's spacing and bounds it to max bytes (at a rune
// start).
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// excerpt is the start of a body that is not an API error, markup and
// spacing collapsed, for one line.
func excerpt(body []byte) string {
	var b strings.Builder
	inTag := false
	for _, r := range string(body) {
		switch {
		case r == '<':
			inTag = true
		case r == '>':
			inTag = false
			b.WriteByte(' ')
		case !inTag:
			b.WriteRune(r)
		}
	}
	return oneLine(b.String(), 120)
}

// statusError is the error for an HTTP error response with body.
func (c *Client) statusError(resp *http.Response, body []byte) *model.Error {
	if e, ok := parseError(body); ok {
		return modelError(resp.StatusCode, resp.Header, e)
	}
	// Only the status classifies a page that is not an API error: its
	// words are a proxy's or a web server's, not the model server's.
	me := modelError(resp.StatusCode, resp.Header, apiError{})
	me.Message = fmt.Sprintf("%s answered with a body that is not an API error: %q", c.Endpoint(), excerpt(body))
	if resp.StatusCode == http.StatusNotFound {
		// Not an API's "no such model": the base URL points at something else.
		me.Kind = model.KindBadRequest
		me.Message = fmt.Sprintf("%s has no chat completions there (HTTP 404 without an API error: check the base URL): %q",
			c.Endpoint(), excerpt(body))
	}
	return me
}
