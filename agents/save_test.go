package agents

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/agents/codeblock"
	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
	"github.com/agentteam/agentteam/workspace"
)

func TestSandboxCode(t *testing.T) {
	tests := []struct {
		name, message string
		want          sandbox.Code
	}{
		{"python runs from its file, the naming line kept", "```python\n# filename: a.py\nprint(1)\n```",
			sandbox.Code{Language: sandbox.Python, Source: "# filename: a.py\nprint(1)\n", Filename: "a.py"}},
		{"javascript runs", "```js\nconsole.log(1)\n```",
			sandbox.Code{Language: sandbox.JavaScript, Source: "console.log(1)\n"}},
		{"html is saved without the naming line", "```html\n<!-- filename: site/index.html -->\n<p>hi</p>\n```",
			sandbox.Code{Language: "html", Source: "<p>hi</p>\n", Filename: "site/index.html", SaveOnly: true}},
		{"untagged is saved", "```\n# filename: requirements.txt\nrequests\n```",
			sandbox.Code{Source: "requests\n", Filename: "requirements.txt", SaveOnly: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blocks := codeblock.Extract(tt.message)
			if len(blocks) != 1 {
				t.Fatalf("%d blocks", len(blocks))
			}
			if got := SandboxCode(blocks[0]); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestExecutorSaves: blocks that name a file in a language the sandbox
// does not run are saved in order with the others, and reported as saved.
func TestExecutorSaves(t *testing.T) {
	created := func(name string) sandbox.Result {
		return sandbox.Result{Files: workspace.Changes{Created: []string{name}}}
	}
	o := fake.New(fake.Results(created("index.html"), sandbox.Result{Stdout: "ok\n"}, created("package.json")))
	msg, err := newExec(o).Step(context.Background(), history("Save the page:\n"+
		"```html\n<!-- filename: index.html -->\n<p>hi</p>\n```\n"+
		"```python\nprint('ok')\n```\n"+
		"1. And the package:\n    ```json\n    // filename: package.json\n    {}\n    ```\n"+
		"```html\n<p>not saved: no name</p>\n```"))
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := []sandbox.Code{
		{Language: "html", Source: "<p>hi</p>\n", Filename: "index.html", SaveOnly: true},
		{Language: sandbox.Python, Source: "print('ok')\n"},
		{Language: "json", Source: "{}\n", Filename: "package.json", SaveOnly: true},
	}
	if got := ran(o); !reflect.DeepEqual(got, wantCodes) {
		t.Errorf("sandbox given %+v\nwant %+v", got, wantCodes)
	}
	for _, want := range []string{
		"Execution report: all 3 block(s) done: 1 ran and exited 0, 2 saved.\n",
		"\nBlock 1 (html, saved as index.html): saved, not run\n\nBlock 2 (python): exit code 0\n",
		"\nBlock 3 (json, saved as package.json): saved, not run\n\nSkipped block (line 14): unsupported language \"html\"\n",
		"Files created in /workspace: index.html, package.json",
	} {
		if !strings.Contains(msg.Content, want) {
			t.Errorf("report lacks %q:\n%s", want, msg.Content)
		}
	}
	if strings.Count(msg.Content, "(no output)") != 0 {
		t.Errorf("a saved block is said to have no output:\n%s", msg.Content)
	}
}

func TestExecutorSaveReports(t *testing.T) {
	tests := []struct {
		name, message string
		want          []string
	}{
		{"only saved", "```css\n/* filename: a.css */\nb {}\n```",
			[]string{"Execution report: all 1 block(s) saved, none run.\n\nBlock 1 (css, saved as a.css): saved, not run"}},
		{"refused name: not saved, and what follows is not run", "```\n# filename: ../up.txt\nx\n```\n```sh\necho never\n```",
			[]string{"Execution report: block 1 of 2 failed.\n\nBlock 1 (untagged, saved as ../up.txt): not saved\nsandbox: refused filename: ",
				"The remaining 1 block(s) were not run or saved because block 1 failed."}},
		{"a tag is escaped", "```ht\x1bml\n# filename: a\n```",
			[]string{"Block 1 (ht\\x1bml, saved as a): saved, not run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fake.New(func(sandbox.Code) fake.Step { return fake.Step{} })
			msg, err := newExec(o).Step(context.Background(), history(tt.message))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(msg.Content, want) {
					t.Errorf("report lacks %q:\n%s", want, msg.Content)
				}
			}
			if strings.ContainsRune(msg.Content, '\x1b') {
				t.Errorf("raw escape in the report:\n%q", msg.Content)
			}
		})
	}
}

// TestExecutorAsksBeforeSaving: saving writes to the workspace, so the
// approver sees blocks to save too, and nothing is saved when it declines.
func TestExecutorAsksBeforeSaving(t *testing.T) {
	o := fake.New(fake.Results())
	var asked []codeblock.Block
	e := newExec(o, WithApprover(func(_ context.Context, a Ask) (Decision, error) {
		asked = append(asked, a.Block)
		return Decision{Action: Decline}, nil
	}))
	msg, err := e.Step(context.Background(), history("```html\n<!-- filename: a.html -->\n```"))
	if err != nil || len(asked) != 1 || !asked[0].SaveOnly() || len(ran(o)) != 0 ||
		!strings.Contains(msg.Content, "Block 1 (html, saved as a.html): declined by the user, not saved") {
		t.Fatalf("err %v, asked %+v, sandbox given %d blocks, message %q", err, asked, len(ran(o)), msg.Content)
	}
}

func TestExecutorNoCodeSaysHowToSave(t *testing.T) {
	o := fake.New(fake.Results())
	msg, err := newExec(o).Step(context.Background(), history("```html\n<p>hi</p>\n```\n```console\n$ ls\na.txt\n```"))
	for _, want := range []string{
		"No code was run", `block 1 was skipped: unsupported language "html"`,
		`block 2 was skipped: "console" block: a terminal session`, `"<!-- filename: NAME -->"`,
	} {
		if err != nil || !strings.Contains(msg.Content, want) {
			t.Errorf("err %v; message lacks %q:\n%s", err, want, msg.Content)
		}
	}
	if len(o.Sessions()) != 0 {
		t.Errorf("a session was opened for nothing to do")
	}
}
