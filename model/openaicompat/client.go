// Package openaicompat owns the backend for every server that speaks
// OpenAI's chat-completions API (OpenAI, Azure OpenAI, Ollama, vLLM,
// llama.cpp, LM Studio, OpenRouter, ...), built on go-openai: retries with
// backoff, timeouts that suit slow local models, streaming with usage, and
// errors classified once, here, into model.Kind.
package openaicompat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/agentteam/agentteam/model"
)

// Client is a model.Model on an OpenAI-compatible server.
type Client struct {
	cfg Config
	api *openai.Client
	log *slog.Logger
}

// Option configures a Client.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets where retries are logged (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// New checks cfg and returns a client. A missing key where the endpoint
// needs one is a model.Error of kind KindAuth.
func New(cfg Config, opts ...Option) (*Client, error) {
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = cfg.HeaderTimeout
	var oc openai.ClientConfig
	if cfg.Provider == "azure" {
		oc = openai.DefaultAzureConfig(cfg.APIKey, cfg.BaseURL)
		oc.APIVersion = cfg.AzureAPIVersion
		deployments := cfg.Deployments
		oc.AzureModelMapperFunc = func(m string) string {
			if d, ok := deployments[m]; ok {
				return d
			}
			return m
		}
	} else {
		oc = openai.DefaultConfig(cfg.APIKey)
		oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	}
	oc.HTTPClient = &http.Client{Transport: &retryTransport{base: base, policy: cfg.Retry, log: o.log, idle: cfg.IdleTimeout}}
	// Keep-alive comment lines count as empty messages in go-openai; a slow
	// local model may send many before its first token.
	oc.EmptyMessagesLimit = 100000
	return &Client{cfg: cfg, api: openai.NewClientWithConfig(oc), log: o.log}, nil
}

// Endpoint says where the client sends requests, without secrets.
func (c *Client) Endpoint() string { return c.cfg.Provider + " at " + redactURL(c.cfg.BaseURL) }

// Models lists the models the server offers (GET /models): a cheap check
// that the endpoint answers and accepts the key.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	list, err := c.api.ListModels(ctx)
	if err != nil {
		return nil, c.classify(ctx, err)
	}
	names := make([]string, 0, len(list.Models))
	for _, m := range list.Models {
		names = append(names, m.ID)
	}
	return names, nil
}

// Complete sends one chat request; with req.OnDelta set, it streams.
func (c *Client) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	if err := ctx.Err(); err != nil {
		return model.Reply{}, c.classify(ctx, err)
	}
	creq := openai.ChatCompletionRequest{Model: req.Model}
	for _, m := range req.Messages {
		creq.Messages = append(creq.Messages, openai.ChatCompletionMessage{Role: m.Role, Name: m.Name, Content: m.Content})
	}
	if req.Temperature != nil {
		creq.Temperature = *req.Temperature
		if creq.Temperature == 0 {
			// go-openai omits a zero temperature (omitempty), which would
			// leave the server's default; the smallest positive value is 0
			// to every server.
			creq.Temperature = 1e-9
		}
	}
	c.setMaxTokens(&creq, req.MaxTokens)
	if req.OnDelta == nil {
		resp, err := c.api.CreateChatCompletion(ctx, creq)
		if err != nil {
			return model.Reply{}, c.classify(ctx, err)
		}
		if len(resp.Choices) == 0 {
			return model.Reply{}, &model.Error{Kind: model.KindBadReply, Message: "the server's reply has no choices"}
		}
		return model.Reply{
			Content:      resp.Choices[0].Message.Content,
			FinishReason: string(resp.Choices[0].FinishReason),
			Usage:        usage(resp.Usage),
			Model:        resp.Model,
		}, nil
	}
	return c.stream(ctx, creq, req.OnDelta)
}

// setMaxTokens puts n (0: none) in the field the configuration chooses
// (see MaxTokensField).
func (c *Client) setMaxTokens(creq *openai.ChatCompletionRequest, n int) {
	if n <= 0 {
		return
	}
	if c.cfg.maxTokensField() == MaxCompletionTokens {
		creq.MaxCompletionTokens = n
		return
	}
	creq.MaxTokens = n
	// go-openai refuses, before sending, max_tokens for the models it knows
	// to be reasoning ones; asking it keeps its list in one place.
	if c.cfg.MaxTokensField == MaxTokensAuto &&
		errors.Is(openai.NewReasoningValidator().Validate(*creq), openai.ErrReasoningModelMaxTokensDeprecated) {
		creq.MaxTokens, creq.MaxCompletionTokens = 0, n
	}
}

func (c *Client) stream(ctx context.Context, creq openai.ChatCompletionRequest, onDelta func(string)) (model.Reply, error) {
	creq.Stream = true
	creq.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	st, err := c.api.CreateChatCompletionStream(ctx, creq)
	if err != nil && isStreamOptionsRefused(err) {
		// Some servers reject stream_options; their usage is then unknown.
		creq.StreamOptions = nil
		st, err = c.api.CreateChatCompletionStream(ctx, creq)
	}
	if err != nil {
		return model.Reply{}, c.classify(ctx, err)
	}
	defer st.Close()
	var reply model.Reply
	var content strings.Builder
	for {
		chunk, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return model.Reply{}, c.classify(ctx, err)
		}
		if chunk.Model != "" {
			reply.Model = chunk.Model
		}
		if chunk.Usage != nil {
			reply.Usage = usage(*chunk.Usage)
		}
		if len(chunk.Choices) == 0 {
			continue // the final usage-only chunk
		}
		ch := chunk.Choices[0]
		if ch.Delta.Content != "" {
			content.WriteString(ch.Delta.Content)
			onDelta(ch.Delta.Content)
		}
		if ch.FinishReason != "" {
			reply.FinishReason = string(ch.FinishReason)
		}
	}
	if reply.FinishReason == "" {
		// go-openai reports a connection closed mid-stream as a plain end.
		return model.Reply{}, &model.Error{Kind: model.KindNetwork,
			Message: fmt.Sprintf("the stream from %s ended before the reply was complete (%d bytes received)", c.Endpoint(), content.Len())}
	}
	reply.Content = content.String()
	return reply, nil
}

func usage(u openai.Usage) model.Usage {
	if u.TotalTokens == 0 && u.PromptTokens == 0 && u.CompletionTokens == 0 {
		return model.Usage{} // none reported: unknown, not zero
	}
	return model.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens, Known: true}
}

func isStreamOptionsRefused(err error) bool {
	var apiErr *openai.APIError
	return errors.As(err, &apiErr) && apiErr.HTTPStatusCode == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(apiErr.Message), "stream_options")
}

// classify turns any error of a call into a *model.Error whose message
// holds no secret.
func (c *Client) classify(ctx context.Context, err error) error {
	e := &model.Error{Err: err}
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var idle errIdle
	var netErr net.Error
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		e.Kind, e.Message = model.KindCanceled, "the call was cancelled"
		if ctx.Err() != nil {
			e.Err = ctx.Err()
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Kind, e.Message = model.KindNetwork, fmt.Sprintf("the connection to %s closed in the middle of a reply", c.Endpoint())
	case errors.As(err, &idle):
		e.Kind, e.Message = model.KindNetwork, fmt.Sprintf("%s sent %s", c.Endpoint(), idle.Error())
	case errors.As(err, &apiErr):
		e.Status = apiErr.HTTPStatusCode
		code, _ := apiErr.Code.(string)
		e.Kind = kindFor(e.Status, code+" "+apiErr.Type+" "+apiErr.Message)
		e.Message = apiErr.Message
	case errors.As(err, &reqErr):
		e.Status = reqErr.HTTPStatusCode
		e.Kind = kindFor(e.Status, string(reqErr.Body))
		e.Message = fmt.Sprintf("%s answered with a body that is not OpenAI's error format: %q", c.Endpoint(), excerpt(reqErr.Body))
	case errors.As(err, &netErr) || isDialError(err):
		e.Kind = model.KindNetwork
		e.Message = fmt.Sprintf("cannot reach %s: %v", c.Endpoint(), rootCause(err))
	default:
		e.Kind, e.Message = model.KindBadReply, fmt.Sprintf("unexpected answer from %s: %v", c.Endpoint(), err)
	}
	e.Message = model.Redact(e.Message, c.cfg.APIKey)
	return e
}

// kindFor maps an HTTP status and the error's words to a kind.
func kindFor(status int, words string) model.Kind {
	w := strings.ToLower(words)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return model.KindAuth
	case strings.Contains(w, "insufficient_quota") || strings.Contains(w, "exceeded your current quota"):
		return model.KindQuota
	case status == http.StatusTooManyRequests:
		return model.KindRateLimited
	case strings.Contains(w, "context_length_exceeded") || strings.Contains(w, "maximum context length") ||
		strings.Contains(w, "context length") || strings.Contains(w, "too many tokens"):
		return model.KindContextTooLong
	case status == http.StatusNotFound || strings.Contains(w, "model_not_found") || strings.Contains(w, "deploymentnotfound"):
		return model.KindModelNotFound
	case status >= 500 || status == http.StatusRequestTimeout || status == http.StatusConflict:
		return model.KindServer
	case status >= 400:
		return model.KindBadRequest
	}
	return model.KindBadReply
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no such host")
}

// rootCause is the innermost error's text, without the URL go's HTTP client
// prefixes (the endpoint is named separately, without credentials).
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// excerpt is the start of a body, tags and spacing collapsed, for one line.
func excerpt(body []byte) string {
	s := string(body)
	var b strings.Builder
	inTag := false
	for _, r := range s {
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
	out := strings.Join(strings.Fields(b.String()), " ")
	if len(out) > 120 {
		out = out[:120] + "…"
	}
	return out
}

var _ model.Model = (*Client)(nil)
