package openaicompat

import (
	"strings"
	"testing"
)

// cuts returns s cut at every pair of places: every way a tag or a key can
// be split across three pieces of a stream.
func cuts(s string) [][]string {
	var out [][]string
	for i := 0; i <= len(s); i++ {
		for j := i; j <= len(s); j++ {
			out = append(out, []string{s[:i], s[i:j], s[j:]})
		}
	}
	return out
}

func TestThinkSplitter(t *testing.T) {
	cases := []struct{ in, reasoning, content string }{
		{"<think>\nWhy? Because.\n</think>\n\nThe answer.", "\nWhy? Because.\n", "The answer."},
		{"  <think>short</think>answer", "short", "answer"},
		{"<think>cut while thinking", "cut while thinking", ""},
		{"<think></think>\n", "", ""},
		{"No tags. <think>later</think> stays", "", "No tags. <think>later</think> stays"},
		{"<thinking> is not the tag", "", "<thinking> is not the tag"},
		{"<thi", "", "<thi"},
		{"\n\n", "", "\n\n"},
		{"</think>", "", "</think>"},
	}
	for _, tc := range cases {
		for _, pieces := range cuts(tc.in) {
			var s thinkSplitter
			var r, c strings.Builder
			for _, p := range pieces {
				pr, pc := s.split(p)
				r.WriteString(pr)
				c.WriteString(pc)
			}
			pr, pc := s.flush()
			r.WriteString(pr)
			c.WriteString(pc)
			if r.String() != tc.reasoning || c.String() != tc.content {
				t.Fatalf("%q in pieces %q: reasoning %q, content %q; want %q, %q", tc.in, pieces, r.String(), c.String(), tc.reasoning, tc.content)
			}
		}
	}
}

func TestRedactor(t *testing.T) {
	const key = "sk-live-0123456789"
	cases := []struct{ secret, in, want string }{
		{key, "header: Bearer " + key + ", again " + key + ".", "header: Bearer [redacted], again [redacted]."},
		{key, "sk-live- is only the start", "sk-live- is only the start"},
		{key, "ends with the start sk-li", "ends with the start sk-li"},
		{"short", "a short key is not looked for", "a short key is not looked for"},
	}
	for _, tc := range cases {
		for _, pieces := range cuts(tc.in) {
			r := newRedactor(tc.secret)
			var out strings.Builder
			for _, p := range pieces {
				got := r.write(p)
				if strings.Contains(out.String()+got, tc.secret) && len(tc.secret) >= minSecret {
					t.Fatalf("%q in pieces %q: the key was let through: %q", tc.in, pieces, out.String()+got)
				}
				out.WriteString(got)
			}
			out.WriteString(r.flush())
			if out.String() != tc.want {
				t.Fatalf("%q in pieces %q: %q, want %q", tc.in, pieces, out.String(), tc.want)
			}
		}
	}
}
