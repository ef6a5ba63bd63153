package runner

import (
	"bytes"
	"strings"
	"testing"
)

func TestCapture(t *testing.T) {
	cases := []struct {
		name   string
		max    int
		writes []string
		want   string
		total  int64
	}{
		{"fits", 10, []string{"abc", "de"}, "abcde", 5},
		{"exactly full", 6, []string{"abcdef"}, "abcdef", 6},
		{"head and tail", 6, []string{"abcdefghij"}, "abc\n[... 4 bytes omitted ...]\nhij", 10},
		{"many small writes", 4, []string{"a", "b", "c", "d", "e", "f", "g"}, "ab\n[... 3 bytes omitted ...]\nfg", 7},
		{"a write larger than the tail", 4, []string{"ab", "0123456789"}, "ab\n[... 8 bytes omitted ...]\n89", 12},
		{"tail wraps around", 6, []string{"abc", "12", "34", "56", "7"}, "abc\n[... 4 bytes omitted ...]\n567", 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapture(tc.max, nil)
			for _, w := range tc.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			got, total := c.bytes()
			if string(got) != tc.want || total != tc.total {
				t.Fatalf("got %q (%d bytes), want %q (%d)", got, total, tc.want, tc.total)
			}
		})
	}
}

func TestOutputLimitTripsOnce(t *testing.T) {
	trips := 0
	limit := &outputLimit{max: 10, onLimit: func() { trips++ }}
	out, errs := newCapture(64, limit), newCapture(64, limit)
	out.Write([]byte("123456"))
	errs.Write([]byte("12345")) // 11 > 10 across both streams
	out.Write(bytes.Repeat([]byte("x"), 100))
	if trips != 1 || !limit.hit() {
		t.Fatalf("trips = %d, hit = %v; want exactly one trip", trips, limit.hit())
	}
	if got, total := out.bytes(); total != 106 || !strings.Contains(string(got), "omitted") {
		t.Fatalf("stdout kept %q of %d", got, total)
	}
}
