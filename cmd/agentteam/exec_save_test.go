package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
	"github.com/agentteam/agentteam/workspace"
)

// saveMessage has a block to save, one to run and one to skip.
const saveMessage = "```html\n<!-- filename: site/index.html -->\n<p>hi</p>\n```\n" +
	"```js\nconsole.log(1)\n```\n" +
	"```console\n$ ls\nsite\n```\n"

// saveSandboxes answers a block to save as a backend does, and any other
// block with exit 0 and "ok".
func saveSandboxes() *fakeSandboxes {
	return &fakeSandboxes{opener: fake.New(func(c sandbox.Code) fake.Step {
		if c.SaveOnly {
			return fake.Step{Result: sandbox.Result{Files: workspace.Changes{Created: []string{c.Filename}}}}
		}
		return fake.Step{Result: sandbox.Result{Stdout: "ok\n"}}
	})}
}

// TestExecSavesFiles: exec saves a block that names a file in a language
// the sandbox does not run, and says so in its JSON.
func TestExecSavesFiles(t *testing.T) {
	dir := t.TempDir()
	fs := saveSandboxes()
	code, out, errOut := cliFake(t, context.Background(), fs, dir, saveMessage, "exec", "--json", "--workspace", filepath.Join(dir, "ws"), "-")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s, stdout %s", code, errOut, out)
	}
	var rep ExecReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Blocks) != 3 {
		t.Fatalf("%v: %s", err, out)
	}
	if b := rep.Blocks[0]; !b.Saved || b.Skipped || b.Language != "html" || b.Filename != "site/index.html" || b.ExitCode != 0 {
		t.Errorf("block 1 = %+v, want html saved as site/index.html", b)
	}
	if b := rep.Blocks[1]; b.Saved || b.Skipped || b.Language != sandbox.JavaScript || b.Stdout != "ok\n" {
		t.Errorf("block 2 = %+v, want javascript run", b)
	}
	if b := rep.Blocks[2]; !b.Skipped || b.Saved || !strings.Contains(b.SkipReason, "terminal session") {
		t.Errorf("block 3 = %+v, want the console block skipped", b)
	}
	if !strings.Contains(out, `"saved":true`) || strings.Count(out, `"saved"`) != 1 {
		t.Errorf("JSON marks saved blocks wrongly: %s", out)
	}
	want := []sandbox.Code{
		{Language: "html", Source: "<p>hi</p>\n", Filename: "site/index.html", SaveOnly: true},
		{Language: sandbox.JavaScript, Source: "console.log(1)\n"},
	}
	if got := fs.opener.Sessions()[0].Codes(); !reflect.DeepEqual(got, want) {
		t.Errorf("sandbox given %+v\nwant %+v", got, want)
	}
}

func TestExecReportsSavedForPeople(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := cliFake(t, context.Background(), saveSandboxes(), dir, "```ht\x1bml\n<!-- filename: a.html -->\n```\n"+saveMessage,
		"exec", "--workspace", filepath.Join(dir, "ws"), "-")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s, stdout %s", code, errOut, out)
	}
	for _, want := range []string{
		"block 1 · ht\\x1bml · save as a.html", "block 2 · html · save as site/index.html", "✓ saved, not run",
		"block 3 · javascript", "✓ passed", "1 of 1 blocks run passed · 2 saved",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") || strings.Count(out, "exit 0") != 1 {
		t.Errorf("raw escape, or an exit status for a saved block, in the report: %q", out)
	}
}

// TestExecErrorWords: exec says what stopped it in one plain line, as run
// does: the engine or the image named, what to change, each said once.
func TestExecErrorWords(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "msg.md", "```sh\ntrue\n```\n")
	for _, tc := range []struct {
		name string
		open error // the sandbox's answer
		args []string
		code int
		want string // all of stderr
	}{
		{"no engine", fmt.Errorf("%w: nothing answers at unix:///x.sock; is it running?", sandbox.ErrEngineUnavailable), nil, ExitSandbox,
			"agentteam: docker engine unavailable: nothing answers at unix:///x.sock; is it running?\n"},
		{"no image", fmt.Errorf("%w: no image %q on the engine", sandbox.ErrImageMissing, "x:1"), nil, ExitSandbox,
			`agentteam: sandbox image missing: no image "x:1" on the engine; build it with 'make image' (or set AGENTTEAM_IMAGE)` + "\n"},
		{"workspace is a file", nil, []string{"--workspace", file}, ExitUsage,
			fmt.Sprintf("agentteam: workspace: %q exists and is not a directory\n", file)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{open: tc.open}, dir, "", append(append([]string{"exec"}, tc.args...), file)...)
			if code != tc.code || errOut != tc.want {
				t.Fatalf("exit %d, stderr %q\nwant exit %d, %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}
