package main

import (
	"os"
	"strings"
)

// maxSlugWords and maxSlugLen bound the task's part of a run's name: enough
// to recognise it in a listing, short enough for a path.
const (
	maxSlugWords = 6
	maxSlugLen   = 40
)

// slug is the first words of text as a run name's label: lowercase ASCII
// letters and digits joined by single hyphens ("Write a prime checker!" →
// "write-a-prime-checker"); any other character ends a word. It is "" when text has no such word.
func slug(text string) string {
	var words []string
	var w strings.Builder
	flush := func() {
		if w.Len() > 0 {
			words = append(words, w.String())
			w.Reset()
		}
	}
	for _, r := range text {
		switch {
		case len(words) == maxSlugWords:
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			w.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			w.WriteRune(r + 'a' - 'A')
		default:
			flush()
		}
	}
	flush()
	s := strings.Join(words, "-")
	if len(s) > maxSlugLen {
		s = strings.TrimRight(s[:maxSlugLen], "-")
	}
	return s
}

// removeIfEmpty removes the workspace a run made for itself when the run
// failed before its first model reply or block left anything there, so
// that failed starts leave no empty directories. The transcript stays: it
// says why the run failed, and runs lists it as an error.
func removeIfEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > 0 {
		return false
	}
	return os.Remove(dir) == nil
}
