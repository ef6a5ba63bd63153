package openaicompat

// Reading a reply. go-openai builds and sends the requests, but the
// replies are read here, streamed or not, because go-openai v1.43.0 loses
// what real servers send when something goes wrong: its stream reader
// collects non-data lines (an "event: error" line, OpenRouter's ": OPENROUTER
// PROCESSING" comments) into the buffer it later parses an error from, so
// an error frame after them neither parses nor ends the stream with an
// error; an error frame it does parse has no status, and its types have no
// place for an error inside a chunk, the reasoning field, Groq's usage
// under x_groq, or an error given as a string.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"

	"github.com/agentteam/agentteam/model"
)

// maxLine bounds one line of a stream, and maxBody a whole reply that is
// not streamed.
const (
	maxLine = 16 << 20
	maxBody = 64 << 20
)

// wireBody is a chat completion or one chunk of a stream, as far as it is
// read: fields whose shape varies between servers are kept raw.
type wireBody struct {
	Model   string        `json:"model"`
	Choices []wireChoice  `json:"choices"`
	Usage   *openai.Usage `json:"usage"`
	// XGroq holds Groq's usage, which it reports there instead of in usage.
	XGroq *struct {
		Usage *openai.Usage `json:"usage"`
	} `json:"x_groq"`
}

type wireChoice struct {
	Index        int          `json:"index"`
	Delta        *wireMessage `json:"delta"`
	Message      *wireMessage `json:"message"`
	FinishReason string       `json:"finish_reason"`
	// ContentFilterResults is Azure's per-category verdict on the reply.
	ContentFilterResults map[string]json.RawMessage `json:"content_filter_results"`
}

type wireMessage struct {
	// Content is a string, null, or a list of parts.
	Content json.RawMessage `json:"content"`
	// ReasoningContent is DeepSeek's and vLLM's name for the reasoning,
	// Reasoning OpenRouter's, Ollama's and Groq's.
	ReasoningContent json.RawMessage   `json:"reasoning_content"`
	Reasoning        json.RawMessage   `json:"reasoning"`
	Refusal          json.RawMessage   `json:"refusal"`
	ToolCalls        []openai.ToolCall `json:"tool_calls"`
}

// contentText reads a content: a string, or a list of parts whose text
// parts are joined; null and anything else are "".
func contentText(raw json.RawMessage) string {
	if s := text(raw); s != "" {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// assembly builds a reply from a whole body or from the chunks of a
// stream, passing content and reasoning on as they come, with the key
// removed and <think> taken out of the content.
type assembly struct {
	onDelta, onReasoning func(string)
	think                thinkSplitter
	contentR, reasonR    *redactor
	content, reasoning   strings.Builder

	reply           model.Reply
	reasoningTokens int
	toolCalls       []string // the names of the tools the model called
	filtered        []string // the content filter categories that fired
	finished        bool     // a finish reason came
	late            *apiError
}

func newAssembly(req model.Request, key string) *assembly {
	a := &assembly{onDelta: req.OnDelta, onReasoning: req.OnReasoning, contentR: newRedactor(key), reasonR: newRedactor(key)}
	if a.onReasoning == nil || a.onDelta == nil {
		a.onReasoning = func(string) {}
	}
	if a.onDelta == nil {
		a.onDelta = func(string) {}
	}
	return a
}

func (a *assembly) emitContent(s string) {
	if s = a.contentR.write(s); s != "" {
		a.content.WriteString(s)
		a.onDelta(s)
	}
}

func (a *assembly) emitReasoning(s string) {
	s = a.reasonR.write(s)
	if a.reasoning.Len() == 0 {
		s = strings.TrimLeft(s, " \t\r\n")
	}
	if s != "" {
		a.reasoning.WriteString(s)
		a.onReasoning(s)
	}
}

// add takes in one body or chunk. Only the first choice is read: no
// request asks for more.
func (a *assembly) add(b wireBody) {
	if b.Model != "" {
		a.reply.Model = b.Model
	}
	for _, u := range []*openai.Usage{b.Usage, xgroqUsage(b)} {
		if u != nil && (u.TotalTokens > 0 || u.PromptTokens > 0 || u.CompletionTokens > 0) {
			a.reply.Usage = usage(*u)
			if u.CompletionTokensDetails != nil {
				a.reasoningTokens = u.CompletionTokensDetails.ReasoningTokens
			}
		}
	}
	for _, ch := range b.Choices {
		if ch.Index != 0 {
			continue
		}
		msg := ch.Delta
		if msg == nil {
			msg = ch.Message
		}
		if msg != nil {
			r := text(msg.ReasoningContent)
			if r == "" {
				r = text(msg.Reasoning)
			}
			if r != "" {
				a.emitReasoning(r)
			}
			c := contentText(msg.Content)
			if c == "" {
				c = text(msg.Refusal) // a refusal is the answer the user gets
			}
			if c != "" {
				tr, tc := a.think.split(c)
				a.emitReasoning(tr)
				a.emitContent(tc)
			}
			for _, tc := range msg.ToolCalls {
				if tc.Function.Name != "" {
					a.toolCalls = append(a.toolCalls, tc.Function.Name)
				}
			}
		}
		a.filtered = append(a.filtered, filteredCategories(ch.ContentFilterResults)...)
		if ch.FinishReason != "" {
			a.reply.FinishReason = strings.ToLower(ch.FinishReason)
			a.finished = true
		}
	}
}

func xgroqUsage(b wireBody) *openai.Usage {
	if b.XGroq == nil {
		return nil
	}
	return b.XGroq.Usage
}

// fail ends the reply with an error the server reported inside it. After
// a finish reason the reply is over: the error then only explains it (see
// result).
func (a *assembly) fail(e apiError) error {
	if a.finished {
		a.late = &e
		return nil
	}
	return modelError(0, nil, e)
}

// flush passes on what the splitter and the redactors still hold: at the
// end of a reply, or when it breaks off (the user then sees all that came).
func (a *assembly) flush() {
	tr, tc := a.think.flush()
	a.emitReasoning(tr)
	a.emitContent(tc)
	if s := a.reasonR.flush(); s != "" {
		a.reasoning.WriteString(s)
		a.onReasoning(s)
	}
	if s := a.contentR.flush(); s != "" {
		a.content.WriteString(s)
		a.onDelta(s)
	}
}

// result is the reply, or the error its finish reason or emptiness means.
func (a *assembly) result() (model.Reply, error) {
	a.flush()
	r := a.reply
	r.Content, r.Reasoning = a.content.String(), a.reasoning.String()
	said := ""
	if a.late != nil {
		said = "; the server added: " + a.late.line()
	}
	switch r.FinishReason {
	case "content_filter":
		what := ""
		slices.Sort(a.filtered)
		if a.filtered = slices.Compact(a.filtered); len(a.filtered) > 0 {
			what = " (" + strings.Join(a.filtered, ", ") + ")"
		}
		return model.Reply{}, &model.Error{Kind: model.KindContentFilter, Message: fmt.Sprintf(
			"the server's content filter stopped the reply%s after %d characters%s", what, utf8.RuneCountInString(r.Content), said)}
	case "error":
		if a.late != nil {
			return model.Reply{}, modelError(0, nil, *a.late)
		}
		return model.Reply{}, &model.Error{Kind: model.KindServer, Message: fmt.Sprintf(
			"the server ended the reply with an error (finish_reason \"error\") after %d characters", utf8.RuneCountInString(r.Content))}
	}
	if strings.TrimSpace(r.Content) == "" {
		return model.Reply{}, &model.Error{Kind: model.KindEmptyReply, Message: a.emptyWhy() + said}
	}
	return r, nil
}

// emptyWhy says what an empty reply holds instead of an answer.
func (a *assembly) emptyWhy() string {
	thought := utf8.RuneCountInString(a.reasoning.String())
	switch {
	case len(a.toolCalls) > 0:
		return fmt.Sprintf("the reply has no text, only a call of the tool %s, and no tools were offered",
			strings.Join(a.toolCalls, ", "))
	case a.reply.FinishReason == "length" && thought > 0:
		return fmt.Sprintf("the reply has no text: the token limit was reached while the model was still reasoning (%d characters of it); raise max tokens", thought)
	case a.reply.FinishReason == "length" && a.reasoningTokens > 0:
		return fmt.Sprintf("the reply has no text: the token limit was reached while the model was still reasoning (%d tokens, not shown); raise max tokens", a.reasoningTokens)
	case a.reply.FinishReason == "length":
		return "the reply has no text: the token limit was reached first; raise max tokens"
	case thought > 0:
		return fmt.Sprintf("the reply has no text, only reasoning (%d characters), and no answer after it", thought)
	}
	return "the reply is empty"
}

// read reads a reply into a, whatever form it comes in, whatever was
// asked: a stream of server-sent events, or one JSON body (a server may
// ignore "stream": true). Anything else is a bad_reply.
func (c *Client) read(body io.Reader, contentType string, a *assembly) (model.Reply, error) {
	reply, err := c.readBody(body, contentType, a)
	if err != nil {
		a.flush()
	}
	return reply, err
}

func (c *Client) readBody(body io.Reader, contentType string, a *assembly) (model.Reply, error) {
	br := bufio.NewReaderSize(body, 64<<10)
	// Skip the blank lines some servers (DeepSeek) send before a JSON body
	// to keep the connection alive.
	for {
		b, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return model.Reply{}, &model.Error{Kind: model.KindBadReply, Message: fmt.Sprintf("%s answered with an empty body", c.Endpoint())}
			}
			return model.Reply{}, err
		}
		if !strings.ContainsRune(" \t\r\n", rune(b)) {
			_ = br.UnreadByte()
			break
		}
	}
	head, _ := br.Peek(6)
	switch {
	case head[0] == '{':
		return c.readJSON(br, a)
	case head[0] == ':' || bytes.HasPrefix(head, []byte("data:")) || bytes.HasPrefix(head, []byte("event:")) ||
		bytes.HasPrefix(head, []byte("id:")) || bytes.HasPrefix(head, []byte("retry:")):
		return c.readEvents(br, a)
	}
	start, _ := br.Peek(512)
	what := "a body"
	if ct, _, _ := strings.Cut(contentType, ";"); ct != "" {
		what = ct
	}
	return model.Reply{}, &model.Error{Kind: model.KindBadReply, Message: fmt.Sprintf(
		"%s answered with %s that is not a chat reply: %q", c.Endpoint(), what, excerpt(start))}
}

// readJSON reads one JSON body: a chat completion, or an error.
func (c *Client) readJSON(br *bufio.Reader, a *assembly) (model.Reply, error) {
	data, err := io.ReadAll(io.LimitReader(br, maxBody))
	if err != nil {
		return model.Reply{}, err
	}
	if e, ok := parseError(data); ok {
		return model.Reply{}, modelError(0, nil, e)
	}
	var b wireBody
	if err := json.Unmarshal(data, &b); err != nil {
		return model.Reply{}, &model.Error{Kind: model.KindBadReply, Err: err, Message: fmt.Sprintf(
			"%s answered with JSON that is not a chat completion (%v): %q", c.Endpoint(), err, excerpt(data))}
	}
	if len(b.Choices) == 0 {
		return model.Reply{}, &model.Error{Kind: model.KindBadReply, Message: fmt.Sprintf(
			"%s answered with JSON that has no choices, not a chat completion: %q", c.Endpoint(), excerpt(data))}
	}
	a.add(b)
	return a.result()
}

// readEvents reads a stream of server-sent events. Each data line is one
// chunk (servers never split one over several lines, and some leave out
// the blank line between events); an event named "error", or a data line
// that holds an error, ends the reply with that error; comments and other
// fields are skipped; a bare JSON line (Ollama writes its error so) is
// read as a data line.
func (c *Client) readEvents(br *bufio.Reader, a *assembly) (model.Reply, error) {
	event := ""
	for {
		line, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return model.Reply{}, err
		}
		eof := err != nil
		var data []byte
		switch field, value, _ := bytes.Cut(line, []byte(":")); {
		case len(line) == 0:
			event = "" // the end of an event
		case line[0] == ':':
			// a comment: a keep-alive
		case line[0] == '{':
			data = line
		case string(field) == "event":
			event = string(bytes.TrimSpace(value))
		case string(field) == "data":
			data = bytes.TrimPrefix(value, []byte(" "))
		}
		if string(bytes.TrimSpace(data)) == "[DONE]" {
			break
		}
		if err := c.event(data, event, a); err != nil {
			return model.Reply{}, err
		}
		if eof {
			break
		}
	}
	if !a.finished {
		// The server closed the stream without saying the reply was done.
		return model.Reply{}, &model.Error{Kind: model.KindNetwork, Message: fmt.Sprintf(
			"the stream from %s ended before the reply was complete (%d bytes received)", c.Endpoint(), a.content.Len())}
	}
	reply, err := a.result()
	if err == nil && a.late != nil {
		c.log.Warn("the model server reported an error after a complete reply", "error", a.late.line())
	}
	return reply, err
}

// event takes in the data of one event.
func (c *Client) event(data []byte, event string, a *assembly) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if e, ok := parseError(data); ok || event == "error" {
		if !ok {
			e = apiError{Message: excerpt(data)}
		}
		return a.fail(e)
	}
	var b wireBody
	if err := json.Unmarshal(data, &b); err != nil {
		return &model.Error{Kind: model.KindBadReply, Err: err, Message: fmt.Sprintf(
			"%s sent a stream event that is not a chat chunk (%v): %q", c.Endpoint(), err, excerpt(data))}
	}
	a.add(b)
	return nil
}

// readLine reads one line without its end (LF, CRLF), at most maxLine
// bytes; io.EOF comes with the last line.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		part, err := br.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > maxLine {
			return nil, &model.Error{Kind: model.KindBadReply, Message: fmt.Sprintf("the stream has a line longer than %d bytes", maxLine)}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}
