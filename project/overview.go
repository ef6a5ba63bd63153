package project

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agentteam/agentteam/safetext"
)

// Bounds of the overview in the team's first message.
const (
	overviewFiles  = 60   // files listed one by one; more are summed up by directory
	overviewDirs   = 40   // directories summed up
	readmeMaxBytes = 2000 // of the README quoted
	readmeMaxLines = 40
)

// Prompt is the team's first message for task on the project: the task,
// then guide (how to work on a copy of a project), then an overview of the
// copy: its files (all of them up to a few dozen, else the top-level files
// and a count per directory) and the start of its README. It depends only
// on the copy, so a replay of the same project asks the same.
func (c *Copy) Prompt(task, guide string) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(task))
	b.WriteString("\n\n---\n")
	if guide = strings.TrimSpace(guide); guide != "" {
		b.WriteString(guide)
		b.WriteString("\n\n")
	}
	b.WriteString(c.Overview())
	return b.String()
}

// Overview describes the copy for a model.
func (c *Copy) Overview() string {
	var b strings.Builder
	paths := slices.Sorted(maps.Keys(c.Files))
	if c.Git {
		fmt.Fprintf(&b, "The project, a git repository, is copied to /workspace without its .git: %d files", len(paths))
	} else {
		fmt.Fprintf(&b, "The project is copied to /workspace: %d files", len(paths))
	}
	if len(paths) <= overviewFiles {
		b.WriteString(":\n")
		for _, p := range paths {
			fmt.Fprintf(&b, "  %s%s\n", safetext.Name(p), linkNote(c.Files[p]))
		}
	} else {
		b.WriteString("; at the top:\n")
		dirs := map[string]int{}
		for _, p := range paths {
			if top, _, ok := strings.Cut(p, "/"); ok {
				dirs[top]++
			} else {
				fmt.Fprintf(&b, "  %s%s\n", safetext.Name(p), linkNote(c.Files[p]))
			}
		}
		names := slices.Sorted(maps.Keys(dirs))
		for _, d := range names[:min(len(names), overviewDirs)] {
			fmt.Fprintf(&b, "  %s/ (%d files)\n", safetext.Name(d), dirs[d])
		}
		if n := len(names) - overviewDirs; n > 0 {
			fmt.Fprintf(&b, "  … and %d more directories\n", n)
		}
	}
	if name, text := c.readme(); text != "" {
		fmt.Fprintf(&b, "\nThe start of %s:\n\n%s\n", safetext.Name(name), text)
	}
	return strings.TrimRight(b.String(), "\n")
}

func linkNote(e Entry) string {
	if e.Link {
		return " (symlink)"
	}
	return ""
}

// readme finds the top-level README and returns its first lines.
func (c *Copy) readme() (string, string) {
	for _, p := range slices.Sorted(maps.Keys(c.Files)) {
		e := c.Files[p]
		if strings.Contains(p, "/") || e.Link || !strings.HasPrefix(strings.ToLower(p), "readme") {
			continue
		}
		data, err := c.readOld(p, e.Hash)
		if err != nil || isBinary(data) {
			continue
		}
		text := string(data[:min(len(data), readmeMaxBytes)])
		lines := strings.Split(text, "\n")
		cut := len(data) > readmeMaxBytes || len(lines) > readmeMaxLines
		if len(lines) > readmeMaxLines {
			lines = lines[:readmeMaxLines]
		} else if len(data) > readmeMaxBytes && len(lines) > 1 {
			lines = lines[:len(lines)-1] // a line cut part way
		}
		text = strings.ToValidUTF8(strings.TrimRight(strings.Join(lines, "\n"), "\n "), string(utf8.RuneError))
		if cut {
			text += "\n[…]"
		}
		return path.Base(p), safetext.Output(text)
	}
	return "", ""
}
