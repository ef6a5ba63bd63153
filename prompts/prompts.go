// Package prompts owns the agents' system prompts: Markdown files embedded
// in the binary, which a directory given at run time can override.
package prompts

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed *.md
var embedded embed.FS

// Prompts are the system prompts of the LLM agents, and the guide a task on
// the user's own project (run --project) carries in its first message.
type Prompts struct {
	Coder    string
	Reviewer string
	Project  string
}

// Load returns the embedded prompts, each replaced by DIR/coder.md,
// DIR/reviewer.md or DIR/project.md when dir is set and that file exists.
func Load(dir string) (Prompts, error) {
	var p Prompts
	for name, dst := range map[string]*string{"coder.md": &p.Coder, "reviewer.md": &p.Reviewer, "project.md": &p.Project} {
		data, err := fs.ReadFile(embedded, name)
		if err != nil {
			return p, fmt.Errorf("read embedded prompt %s: %w", name, err)
		}
		if dir != "" {
			own, err := os.ReadFile(filepath.Join(dir, name))
			switch {
			case err == nil:
				data = own
			case !errors.Is(err, fs.ErrNotExist):
				return p, fmt.Errorf("read prompt: %w", err)
			}
		}
		*dst = strings.TrimSpace(string(data))
		if *dst == "" {
			return p, fmt.Errorf("prompt %s is empty", filepath.Join(dir, name))
		}
	}
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return p, fmt.Errorf("prompts directory %s: not a directory", dir)
		}
	}
	return p, nil
}
