package openaicompat

import "strings"

const (
	thinkOpen  = "<think>"
	thinkClose = "</think>"
)

// thinkSplitter separates the <think>...</think> that some reasoning models
// (DeepSeek-R1 and its distillations, on Groq, Together, llama.cpp...) put
// at the start of their content from the answer after it. It reads the
// content in the pieces it arrives in, which may cut a tag anywhere.
type thinkSplitter struct {
	state    int    // undecided, thinking or answering
	buf      string // what cannot be told yet
	trimLead bool   // drop the newlines between </think> and the answer
}

const (
	undecided = iota
	thinking
	answering
)

// split returns the reasoning and the answer in piece.
func (s *thinkSplitter) split(piece string) (reasoning, content string) {
	s.buf += piece
	if s.state == undecided {
		t := strings.TrimLeft(s.buf, " \t\r\n")
		switch {
		case strings.HasPrefix(t, thinkOpen):
			s.state, s.buf = thinking, t[len(thinkOpen):]
		case strings.HasPrefix(thinkOpen, t):
			return "", "" // maybe the start of the tag: wait for more
		default:
			s.state = answering
		}
	}
	if s.state == thinking {
		if i := strings.Index(s.buf, thinkClose); i >= 0 {
			reasoning = s.buf[:i]
			s.state, s.buf, s.trimLead = answering, s.buf[i+len(thinkClose):], true
		} else {
			keep := overlap(s.buf, thinkClose)
			reasoning, s.buf = s.buf[:len(s.buf)-keep], s.buf[len(s.buf)-keep:]
			return reasoning, ""
		}
	}
	content, s.buf = s.buf, ""
	if s.trimLead {
		content = strings.TrimLeft(content, "\r\n")
		s.trimLead = content == ""
	}
	return reasoning, content
}

// flush returns what split still holds, at the end of the content: an
// unclosed <think> is all reasoning.
func (s *thinkSplitter) flush() (reasoning, content string) {
	out := s.buf
	s.buf = ""
	if s.state == thinking {
		return out, ""
	}
	return "", out
}

// overlap is the length of the longest end of s that is the start of tag
// (and not all of it).
func overlap(s, tag string) int {
	for n := min(len(s), len(tag)-1); n > 0; n-- {
		if strings.HasSuffix(s, tag[:n]) {
			return n
		}
	}
	return 0
}

// minSecret is the shortest key redacted from reply content: a shorter one
// would also match ordinary words of an answer, and no real key is that
// short.
const minSecret = 8

// redactor removes a secret from a text that arrives in pieces, holding
// back the end of a piece that could be the start of the secret, so that a
// key split across two pieces is never shown either.
type redactor struct {
	secret  string
	pending string
}

func newRedactor(secret string) *redactor {
	if len(secret) < minSecret {
		secret = ""
	}
	return &redactor{secret: secret}
}

// write returns what of piece can be shown now.
func (r *redactor) write(piece string) string {
	if r.secret == "" {
		return piece
	}
	s := strings.ReplaceAll(r.pending+piece, r.secret, "[redacted]")
	keep := overlap(s, r.secret)
	r.pending = s[len(s)-keep:]
	return s[:len(s)-keep]
}

// flush returns what write held back.
func (r *redactor) flush() string {
	out := r.pending
	r.pending = ""
	return out
}
