// Package openaicompat owns the backend for every server that speaks
// OpenAI's chat-completions API (OpenAI, Azure OpenAI, Ollama, vLLM,
// llama.cpp, LM Studio, OpenRouter, Groq, DeepSeek, ...): requests built
// and sent by go-openai, replies read here whatever shape a server gives
// them (wire.go), retries with backoff, timeouts that suit slow local
// models, streaming with usage and reasoning, and errors classified once,
// here, into model.Kind (errors.go).
package openaicompat

import (
	"context"
	"encoding/base64"
	"encoding/json"
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
	cfg  Config
	oc   openai.ClientConfig // without its HTTPClient: each call sets its own (see send)
	http *http.Client
	log  *slog.Logger
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
	hc := &http.Client{Transport: &retryTransport{base: base, policy: cfg.Retry, log: o.log, idle: cfg.IdleTimeout}}
	return &Client{cfg: cfg, oc: oc, http: hc, log: o.log}, nil
}

// tap is the HTTP client go-openai sends a request with: it keeps the
// response for this package to read (see wire.go for why) and gives
// go-openai only its headers, with an empty body.
type tap struct {
	doer openai.HTTPDoer
	resp *http.Response
	err  error
}

func (t *tap) Do(req *http.Request) (*http.Response, error) {
	t.resp, t.err = t.doer.Do(req)
	if t.err != nil {
		return nil, t.err
	}
	stub := *t.resp
	stub.Body = http.NoBody
	return &stub, nil
}

// send has go-openai build and send a request (call makes it on the
// client it is given) and returns the response, whose body the caller
// reads and closes.
func (c *Client) send(ctx context.Context, call func(api *openai.Client) error) (*http.Response, error) {
	t := &tap{doer: c.http}
	oc := c.oc
	oc.HTTPClient = t
	err := call(openai.NewClientWithConfig(oc))
	switch {
	case t.err != nil:
		return nil, c.transportError(ctx, t.err)
	case t.resp == nil:
		// go-openai refused the request before sending it.
		return nil, &model.Error{Kind: model.KindBadRequest, Message: fmt.Sprintf("the request was not sent: %v", err), Err: err}
	}
	return t.resp, nil
}

// errorBody reads the body of an HTTP error, bounded: a proxy's error page
// can be large, and only its start is shown.
func errorBody(resp *http.Response) []byte {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return body
}

// Endpoint says where the client sends requests, without secrets: a
// preset by its name, any other server as "the server at URL" (calling a
// local server "openai" misleads).
func (c *Client) Endpoint() string {
	if p, ok := providers[c.cfg.Provider]; ok && c.cfg.Provider != "azure" && p.baseURL != c.cfg.BaseURL {
		return "the server at " + redactURL(c.cfg.BaseURL)
	}
	return c.cfg.Provider + " at " + redactURL(c.cfg.BaseURL)
}

// Models lists the models the server offers (GET /models): a cheap check
// that the endpoint answers and accepts the key.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	names, err := c.models(ctx)
	return names, c.redact(err)
}

func (c *Client) models(ctx context.Context) ([]string, error) {
	resp, err := c.send(ctx, func(api *openai.Client) error {
		_, err := api.ListModels(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return nil, c.statusError(resp, errorBody(resp))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	var list openai.ModelsList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, &model.Error{Kind: model.KindBadReply, Err: err, Message: fmt.Sprintf(
			"%s answered GET /models with something that is not a list of models: %q", c.Endpoint(), excerpt(body))}
	}
	names := make([]string, 0, len(list.Models))
	for _, m := range list.Models {
		names = append(names, m.ID)
	}
	return names, nil
}

// Complete sends one chat request; with req.OnDelta set, it streams.
func (c *Client) Complete(ctx context.Context, req model.Request) (model.Reply, error) {
	reply, err := c.complete(ctx, req)
	return reply, c.redact(err)
}

func (c *Client) complete(ctx context.Context, req model.Request) (model.Reply, error) {
	if err := ctx.Err(); err != nil {
		return model.Reply{}, c.transportError(ctx, err)
	}
	creq := openai.ChatCompletionRequest{Model: req.Model}
	for _, m := range req.Messages {
		creq.Messages = append(creq.Messages, chatMessage(m))
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
	if req.OnDelta != nil {
		creq.Stream = true
		creq.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	reply, err := c.chat(ctx, creq, req)
	var me *model.Error
	if creq.StreamOptions != nil && errors.As(err, &me) && me.Status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(me.Message), "stream_options") {
		// Some servers reject stream_options; their usage is then unknown.
		creq.StreamOptions = nil
		reply, err = c.chat(ctx, creq, req)
	}
	return reply, err
}

// chatMessage is m on the wire: a plain string, or, with images, a text
// part followed by one image_url part per image, each a data URI (no
// server has to fetch anything).
func chatMessage(m model.Message) openai.ChatCompletionMessage {
	if len(m.Images) == 0 {
		return openai.ChatCompletionMessage{Role: m.Role, Name: m.Name, Content: m.Content}
	}
	parts := make([]openai.ChatMessagePart, 0, 1+len(m.Images))
	if m.Content != "" {
		parts = append(parts, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeText, Text: m.Content})
	}
	for _, img := range m.Images {
		parts = append(parts, openai.ChatMessagePart{Type: openai.ChatMessagePartTypeImageURL, ImageURL: &openai.ChatMessageImageURL{
			URL: "data:" + img.MIME + ";base64," + base64.StdEncoding.EncodeToString(img.Data)}})
	}
	return openai.ChatCompletionMessage{Role: m.Role, Name: m.Name, MultiContent: parts}
}

// chat makes one chat call and reads its reply.
func (c *Client) chat(ctx context.Context, creq openai.ChatCompletionRequest, req model.Request) (model.Reply, error) {
	resp, err := c.send(ctx, func(api *openai.Client) error {
		if creq.Stream {
			st, err := api.CreateChatCompletionStream(ctx, creq)
			if st != nil {
				st.Close() // its body is the tap's empty one
			}
			return err
		}
		_, err := api.CreateChatCompletion(ctx, creq)
		return err
	})
	if err != nil {
		return model.Reply{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return model.Reply{}, c.statusError(resp, errorBody(resp))
	}
	reply, err := c.read(resp.Body, resp.Header.Get("Content-Type"), newAssembly(req, c.cfg.APIKey))
	var me *model.Error
	if err != nil && !errors.As(err, &me) {
		return model.Reply{}, c.transportError(ctx, err) // the body broke off
	}
	return reply, err
}

// redact removes the key, and anything shaped like one, from an error's
// message.
func (c *Client) redact(err error) error {
	var me *model.Error
	if errors.As(err, &me) {
		me.Message = model.Redact(me.Message, c.cfg.APIKey)
	}
	return err
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

func usage(u openai.Usage) model.Usage {
	if u.TotalTokens == 0 && u.PromptTokens == 0 && u.CompletionTokens == 0 {
		return model.Usage{} // none reported: unknown, not zero
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens // some servers leave it out
	}
	return model.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens, Known: true}
}

// transportError classifies an error of the connection: cancelled, cut,
// idle, unreachable.
func (c *Client) transportError(ctx context.Context, err error) error {
	e := &model.Error{Err: err}
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
	case errors.As(err, &netErr) || isDialError(err):
		e.Kind = model.KindNetwork
		e.Message = fmt.Sprintf("cannot reach %s: %v", c.Endpoint(), rootCause(err))
	default:
		e.Kind, e.Message = model.KindBadReply, fmt.Sprintf("unexpected answer from %s: %v", c.Endpoint(), err)
	}
	return e
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

var _ model.Model = (*Client)(nil)
