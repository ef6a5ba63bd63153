package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/openaicompat"
	"github.com/agentteam/agentteam/transcript"
)

// observed is what a command resolved: the sandbox it asked for, the
// model backend's configuration, and the requests the agents sent.
type observed struct {
	req      sandboxRequest
	model    openaicompat.Config
	requests []model.Request
	vision   bool // the transcript's task event says the reviewer sees images
	// queue is how batch --queue and worker would connect (run takes no
	// queue).
	queue queueAuth
}

func (o observed) request(i int) model.Request {
	if i < len(o.requests) {
		return o.requests[i]
	}
	return model.Request{}
}

// observeRun runs a team for one round (coder, executor, reviewer) on fakes in a directory whose .env is
// dotenv, with env as the whole environment.
func observeRun(t *testing.T, env map[string]string, dotenv string, args ...string) observed {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, ".env", dotenv)
	fs, fm := &fakeSandboxes{}, &fakeModels{}
	args = append(append([]string{"run", "--max-turns", "3"}, args...), "task")
	if code, out, errOut := cliWith(t, fs, fm, env, dir, "", args...); code != ExitNotApproved {
		t.Fatalf("%q: exit %d: %s %s", args, code, out, errOut)
	}
	f := newFactory(IO{Dir: dir, Getenv: func(k string) string { return env[k] }})
	qa, err := f.queueAuth()
	if err != nil {
		t.Fatal(err)
	}
	o := observed{req: fs.lastRequest(t), model: fm.lastConfig(t), requests: fm.requests, queue: qa}
	paths, _ := filepath.Glob(filepath.Join(dir, ".agentteam", "runs", "*.transcript.jsonl"))
	for _, p := range paths {
		events, err := transcript.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		o.vision = o.vision || len(events) > 0 && events[0].Extra["reviewer_vision"] == true
	}
	return o
}

// dotenvExample is the variables .env.example lists, set or commented out.
func dotenvExample(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^#? *([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(string(data), -1) {
		names = append(names, m[1])
	}
	return names
}

// TestEveryDotenvExampleEntryWorks: each variable .env.example lists,
// given a distinctive value in .env and nowhere else, reaches its typed
// place; and the table and .env.example list the same variables.
func TestEveryDotenvExampleEntryWorks(t *testing.T) {
	// base lets a run start with any one variable changed: its own server,
	// with a key for the providers that need one.
	const base = "OPENAI_BASE_URL=http://base.test/v1\nOPENAI_API_KEY=base-key\n"
	cases := map[string]struct {
		value string
		extra string // other lines the value needs
		got   func(o observed) any
		want  any
	}{
		"AGENTTEAM_IMAGE":         {value: "dotenv-image:7", got: func(o observed) any { return o.req.Config.Image }, want: "dotenv-image:7"},
		"AGENTTEAM_MEMORY":        {value: "300m", got: func(o observed) any { return o.req.Config.Memory }, want: int64(300 << 20)},
		"AGENTTEAM_CPUS":          {value: "1.5", got: func(o observed) any { return o.req.Config.CPUs }, want: 1.5},
		"AGENTTEAM_PIDS":          {value: "99", got: func(o observed) any { return o.req.Config.Pids }, want: int64(99)},
		"AGENTTEAM_TIMEOUT":       {value: "7", got: func(o observed) any { return o.req.Config.Timeout.String() }, want: "7s"},
		"AGENTTEAM_WORKSPACE_CAP": {value: "2g", got: func(o observed) any { return o.req.Config.WorkspaceBytes }, want: int64(2 << 30)},
		"AGENTTEAM_RUNTIME":       {value: "runsc-test", got: func(o observed) any { return o.req.Config.Runtime }, want: "runsc-test"},
		"AGENTTEAM_EGRESS":        {value: "pypi, 127.0.0.1:9", got: func(o observed) any { return strings.Join(o.req.Config.Egress, " ") }, want: "pypi 127.0.0.1:9"},
		"AGENTTEAM_PIP_INDEX": {value: "http://127.0.0.1:9/simple/", extra: "AGENTTEAM_EGRESS=127.0.0.1:9\n",
			got: func(o observed) any { return o.req.Config.PipIndex }, want: "http://127.0.0.1:9/simple/"},
		"DOCKER_HOST":               {value: "unix:///dotenv.sock", got: func(o observed) any { return o.req.DefaultHost }, want: "unix:///dotenv.sock"},
		"AGENTTEAM_PROVIDER":        {value: "vllm", got: func(o observed) any { return o.model.Provider }, want: "vllm"},
		"OPENAI_API_KEY":            {value: "dotenv-key", got: func(o observed) any { return o.model.APIKey }, want: "dotenv-key"},
		"OPENAI_BASE_URL":           {value: "http://dotenv.test/v1", got: func(o observed) any { return o.model.BaseURL }, want: "http://dotenv.test/v1"},
		"AGENTTEAM_CODER_MODEL":     {value: "dotenv-coder", got: func(o observed) any { return o.request(0).Model }, want: "dotenv-coder"},
		"AGENTTEAM_REVIEWER_MODEL":  {value: "dotenv-reviewer", got: func(o observed) any { return o.request(1).Model }, want: "dotenv-reviewer"},
		"AGENTTEAM_REVIEWER_VISION": {value: "yes", got: func(o observed) any { return o.vision }, want: true},
		"AGENTTEAM_TEMPERATURE": {value: "0.7", got: func(o observed) any {
			if t := o.request(0).Temperature; t != nil {
				return *t
			}
			return nil
		}, want: float32(0.7)},
		"AGENTTEAM_MAX_TOKENS":  {value: "77", got: func(o observed) any { return o.request(0).MaxTokens }, want: 77},
		"AZURE_OPENAI_ENDPOINT": {value: "https://dotenv.openai.azure.com", got: func(o observed) any { return o.model.Provider + " " + o.model.AzureEndpoint }, want: "azure https://dotenv.openai.azure.com"},
		"AZURE_OPENAI_API_KEY": {value: "dotenv-azure-key", extra: "AZURE_OPENAI_ENDPOINT=https://x.openai.azure.com\n",
			got: func(o observed) any { return o.model.APIKey }, want: "dotenv-azure-key"},
		"AZURE_OPENAI_API_VERSION":       {value: "2025-01-01", got: func(o observed) any { return o.model.AzureAPIVersion }, want: "2025-01-01"},
		"AZURE_OPENAI_DEPLOYMENTS":       {value: "gpt-4o=dotenv-dep", got: func(o observed) any { return fmt.Sprint(o.model.Deployments) }, want: "map[gpt-4o:dotenv-dep]"},
		"AGENTTEAM_MODEL_RETRIES":        {value: "7", got: func(o observed) any { return o.model.Retry.MaxAttempts }, want: 7},
		"AGENTTEAM_MODEL_HEADER_TIMEOUT": {value: "3m", got: func(o observed) any { return o.model.HeaderTimeout.String() }, want: "3m0s"},
		"AGENTTEAM_MODEL_IDLE_TIMEOUT":   {value: "45s", got: func(o observed) any { return o.model.IdleTimeout.String() }, want: "45s"},
		"AGENTTEAM_QUEUE_TOKEN":          {value: "dotenv-token", got: func(o observed) any { return o.queue.Token }, want: "dotenv-token"},
		"AGENTTEAM_QUEUE_CA":             {value: "/etc/passwd", got: func(o observed) any { return o.queue.CA }, want: "/etc/passwd"},
		"AGENTTEAM_MAX_TOKENS_FIELD": {value: "max_completion_tokens", got: func(o observed) any { return o.model.MaxTokensField },
			want: openaicompat.MaxCompletionTokens},
	}
	listed := dotenvExample(t)
	var table []string
	for _, s := range settingsTable() {
		table = append(table, s.env)
	}
	slices.Sort(listed)
	slices.Sort(table)
	if !slices.Equal(listed, table) {
		t.Errorf(".env.example lists %q,\nthe table of settings %q", listed, table)
	}
	defaults := observeRun(t, nil, base)
	// .env.example itself, copied to .env, is valid and says the defaults.
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if o := observeRun(t, map[string]string{"OPENAI_API_KEY": "k"}, string(example)); !reflect.DeepEqual(o.req.Config, defaults.req.Config) ||
		o.model.BaseURL != "" || o.request(0).Model != DefaultModel || o.request(1).Model != DefaultModel {
		t.Errorf(".env.example as .env: sandbox %+v, model %+v; want the defaults %+v", o.req.Config, o.model, defaults.req.Config)
	}
	for _, name := range listed {
		t.Run(name, func(t *testing.T) {
			tc, ok := cases[name]
			if !ok {
				t.Fatalf(".env.example lists %s, and this test has no case for it", name)
			}
			if got := tc.got(defaults); got == tc.want {
				t.Fatalf("%v is the default: choose a value that shows the setting was read", got)
			}
			var lines []string
			for _, l := range strings.Split(base+tc.extra, "\n") {
				if l != "" && !strings.HasPrefix(l, name+"=") {
					lines = append(lines, l)
				}
			}
			o := observeRun(t, nil, strings.Join(append(lines, name+"="+tc.value), "\n")+"\n")
			if got := tc.got(o); got != tc.want {
				t.Errorf("%s=%s in .env gave %v (%T), want %v (%T)", name, tc.value, got, got, tc.want, tc.want)
			}
		})
	}
}

// TestPrecedence: for representative rows, a flag beats the environment,
// which beats .env, which beats the default; an empty variable is unset.
func TestPrecedence(t *testing.T) {
	const base = "OPENAI_BASE_URL=http://base.test/v1\n"
	rows := []struct {
		env, flag                string
		dotenv, environ, flagged string
		got                      func(o observed) string
	}{
		{"AGENTTEAM_MEMORY", "--memory", "300m", "400m", "200m", func(o observed) string { return fmt.Sprintf("%dm", o.req.Config.Memory>>20) }},
		{"AGENTTEAM_TIMEOUT", "--exec-timeout", "1s", "2s", "3s", func(o observed) string { return o.req.Config.Timeout.String() }},
		{"AGENTTEAM_IMAGE", "--image", "a:1", "b:1", "c:1", func(o observed) string { return o.req.Config.Image }},
		{"DOCKER_HOST", "", "unix:///a.sock", "unix:///b.sock", "", func(o observed) string { return o.req.DefaultHost }},
		{"OPENAI_BASE_URL", "--base-url", "http://a.test/v1", "http://b.test/v1", "http://c.test/v1", func(o observed) string { return o.model.BaseURL }},
		{"AGENTTEAM_PROVIDER", "--provider", "ollama", "vllm", "lmstudio", func(o observed) string { return o.model.Provider }},
		{"AGENTTEAM_MODEL_RETRIES", "", "2", "3", "", func(o observed) string { return fmt.Sprint(o.model.Retry.MaxAttempts) }},
		{"AGENTTEAM_TEMPERATURE", "--temperature", "0.1", "0.2", "0.3", func(o observed) string {
			if t := o.request(0).Temperature; t != nil {
				return fmt.Sprint(*t)
			}
			return "unset"
		}},
		{"AGENTTEAM_MAX_TOKENS", "--max-tokens", "10", "20", "30", func(o observed) string { return fmt.Sprint(o.request(0).MaxTokens) }},
		{"AGENTTEAM_CODER_MODEL", "--coder-model", "a", "b", "c", func(o observed) string { return o.request(0).Model }},
		{"AGENTTEAM_REVIEWER_MODEL", "--reviewer-model", "a", "b", "c", func(o observed) string { return o.request(1).Model }},
	}
	for _, r := range rows {
		t.Run(r.env, func(t *testing.T) {
			dotenv := base + r.env + "=" + r.dotenv + "\n"
			env := map[string]string{r.env: r.environ}
			check := func(what string, o observed, want string) {
				t.Helper()
				if got := r.got(o); got != want {
					t.Errorf("%s: got %q, want %q", what, got, want)
				}
			}
			check(".env", observeRun(t, nil, dotenv), r.dotenv)
			check("environment and .env", observeRun(t, env, dotenv), r.environ)
			check("empty variable and .env", observeRun(t, map[string]string{r.env: ""}, dotenv), r.dotenv)
			if r.flag != "" {
				check("flag, environment and .env", observeRun(t, env, dotenv, r.flag, r.flagged), r.flagged)
			}
		})
	}
}

// TestAskModelPrecedence: ask's --model is the coder's model under
// another name.
func TestAskModelPrecedence(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, ".env", "OPENAI_BASE_URL=http://base.test/v1\nAGENTTEAM_CODER_MODEL=a\n")
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, nil, "a"},
		{map[string]string{"AGENTTEAM_CODER_MODEL": "b"}, nil, "b"},
		{map[string]string{"AGENTTEAM_CODER_MODEL": "b"}, []string{"--model", "c"}, "c"},
	} {
		fm := &fakeModels{}
		code, out, errOut := cliWith(t, &fakeSandboxes{}, fm, tc.env, dir, "", append(append([]string{"ask", "--json"}, tc.args...), "hi")...)
		if code != ExitOK || len(fm.requests) != 1 || fm.requests[0].Model != tc.want || !strings.Contains(out, `"model":"`+tc.want+`"`) {
			t.Errorf("%v %q: exit %d, requests %+v, stdout %s, stderr %s; want model %q", tc.env, tc.args, code, fm.requests, out, errOut, tc.want)
		}
	}
}

// TestReadmeListsEverySetting: the README's Configuration and Models
// sections name every variable of the table, and every flag.
func TestReadmeListsEverySetting(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, s := range settingsTable() {
		if !strings.Contains(readme, "`"+s.env+"`") {
			t.Errorf("README does not name %s", s.env)
		}
		if s.flag != "" && !strings.Contains(readme, "`--"+s.flag+"`") {
			t.Errorf("README does not name --%s", s.flag)
		}
	}
}
