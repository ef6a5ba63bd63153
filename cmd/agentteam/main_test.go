package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// cli runs the command in-process with buffers and returns its exit
// status, stdout and stderr.
func cli(t *testing.T, ctx context.Context, dir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(ctx, args, IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut, Dir: dir, Getenv: os.Getenv})
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	requireDocker(t)
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// ownedBy lists the sandbox containers of the agentteam process pid (owner
// label "host/pid/start", or the older "host/pid").
func ownedBy(t *testing.T, cli *client.Client, pid int) []container.Summary {
	t.Helper()
	host, _ := os.Hostname()
	me := host + "/" + strconv.Itoa(pid)
	list, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", docker.LabelOwner))})
	if err != nil {
		t.Fatal(err)
	}
	var mine []container.Summary
	for _, c := range list {
		if o := c.Labels[docker.LabelOwner]; o == me || strings.HasPrefix(o, me+"/") {
			mine = append(mine, c)
		}
	}
	return mine
}

// waitNone polls left until it returns nothing, for at most 5 s (auto-
// removal finishes asynchronously), and fails with what is still there.
func waitNone(t *testing.T, what string, left func() []string) {
	t.Helper()
	var names []string
	for range 50 {
		if names = left(); len(names) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, names)
}

// assertNoContainers waits briefly for auto-removal, then fails if any
// sandbox container of this process is left.
func assertNoContainers(t *testing.T, cli *client.Client) {
	t.Helper()
	assertNoContainersOf(t, cli, os.Getpid())
}

// assertNoContainersOf is assertNoContainers for the agentteam process pid.
func assertNoContainersOf(t *testing.T, cli *client.Client, pid int) {
	t.Helper()
	waitNone(t, "sandbox containers left behind", func() []string {
		var names []string
		for _, c := range ownedBy(t, cli, pid) {
			names = append(names, c.Names[0])
		}
		return names
	})
}

const message = "Here is the plan.\r\n\r\n" +
	"```python\r\n# filename: util.py\r\ndef double(x):\r\n    return 2 * x\r\n```\r\n\r\n" +
	"```py\nimport util\nprint(util.double(21))\n```\n\n" +
	"```\nuntagged\n```\n\n" +
	"```ruby\nputs 1\n```\n\n" +
	"```SHELL\necho shell $(cat util.py | wc -l)\n```\n\n" +
	"```bash\necho err >&2; [[ 1 == 1 ]] && echo bash\n```\n"

func TestExecJSON(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "msg.md", message)
	code, out, errOut := cli(t, context.Background(), dir, "", "exec", "--json", file)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s, stdout %s", code, errOut, out)
	}
	var rep ExecReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	type want struct {
		lang, stdout, stderr, skip string
		skipped                    bool
	}
	wants := []want{
		{lang: "python"},
		{lang: "python", stdout: "42\n"},
		{lang: "untagged", skipped: true, skip: "untagged code block"},
		{lang: "ruby", skipped: true, skip: `unsupported language "ruby"`},
		{lang: "sh", stdout: "shell 3\n"},
		{lang: "bash", stdout: "bash\n", stderr: "err\n"},
	}
	if rep.ExitCode != 0 || len(rep.Blocks) != len(wants) {
		t.Fatalf("exit_code %d, %d blocks: %s", rep.ExitCode, len(rep.Blocks), out)
	}
	for i, w := range wants {
		b := rep.Blocks[i]
		if b.Index != i+1 || b.Language != w.lang || b.Skipped != w.skipped || b.SkipReason != w.skip ||
			b.Stdout != w.stdout || b.Stderr != w.stderr || (!w.skipped && b.ExitCode != 0) {
			t.Errorf("block %d = %+v, want %+v", i, b, w)
		}
	}
	if _, err := os.Stat(filepath.Join(rep.Workspace, "util.py")); err != nil || !strings.HasPrefix(rep.Workspace, filepath.Join(dir, defaultRunsDir)+"/") || !strings.Contains(filepath.Base(rep.Workspace), "-exec-") {
		t.Errorf("workspace %s: util.py not saved in a new run directory: %v", rep.Workspace, err)
	}
	if rep.Blocks[0].Files.Created[0] != "util.py" {
		t.Errorf("files created by block 1: %v", rep.Blocks[0].Files)
	}
	assertNoContainers(t, dockerClient(t))
}

func TestExecStopsAtFirstFailure(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	msg := "```sh\necho one\n```\n```python\nraise SystemExit(3)\n```\n```sh\necho three\n```\n"
	code, out, _ := cli(t, context.Background(), dir, msg, "exec", "--json", "--workspace", filepath.Join(dir, "ws"), "-")
	var rep ExecReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != ExitFailure || rep.ExitCode != 1 || len(rep.Blocks) != 3 {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	if rep.Blocks[1].ExitCode != 3 || !rep.Blocks[2].Skipped || rep.Blocks[2].SkipReason != "not run: an earlier block failed" {
		t.Fatalf("blocks: %+v", rep.Blocks)
	}
	if rep.Workspace != filepath.Join(dir, "ws") {
		t.Fatalf("workspace %s, want the one given", rep.Workspace)
	}
}

func TestExecReportForPeople(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	msg := "```python\nprint('\\x1b]52;c;ZXZpbA==\\x07clipboard')\n```\n"
	code, out, _ := cli(t, context.Background(), dir, msg, "exec", "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Fatalf("raw escape sequences reached the report: %q", out)
	}
	for _, want := range []string{"block 1 · python", "✓ passed", `\x1b]52;c;ZXZpbA==\x07clipboard`, "1 of 1 blocks run passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestExecUsageErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "msg.md", "```sh\ntrue\n```\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"exec", "--frobnicate", file}, "unknown flag: --frobnicate"},
		{"two files", []string{"exec", file, file}, "accepts at most 1 arg"},
		{"missing file", []string{"exec", filepath.Join(dir, "nope.md")}, "no such file"},
		{"bad memory", []string{"exec", "--memory", "lots", file}, `invalid memory "lots"`},
		{"bad timeout", []string{"exec", "--timeout", "-3", file}, `invalid timeout "-3"`},
		{"tiny memory", []string{"exec", "--memory", "1m", file}, "below the 32 MiB"},
		{"workspace is a file", []string{"exec", "--workspace", file, file}, "workspace"},
		{"bad egress entry", []string{"exec", "--egress", "http://x.test", file}, "not a URL"},
		{"pip index not allowed", []string{"exec", "--egress", "127.0.0.1:9", "--pip-index", "http://127.0.0.1:10/simple/", file}, "pip index: 127.0.0.1:10 is not in the egress allowlist"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, dir, "", tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q (want exit 2 and one line with %q); stdout %q", code, errOut, tc.want, out)
			}
		})
	}
}

func TestExecNoTerminalInput(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"exec"}, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, InIsTTY: true, Dir: t.TempDir()})
	if code != ExitUsage || !strings.Contains(errOut.String(), "no message") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestExecSandboxUnavailable(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "msg.md", "```sh\ntrue\n```\n")
	t.Run("no engine", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "no-docker.sock"))
		code, _, errOut := cli(t, context.Background(), dir, "", "exec", file)
		if code != ExitSandbox || !strings.Contains(errOut, "nothing answers at unix://") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("no image", func(t *testing.T) {
		requireDocker(t)
		code, out, errOut := cli(t, context.Background(), dir, "", "exec", "--json", "--image", "agentteam-no-such-image:1", file)
		if code != ExitSandbox || !strings.Contains(errOut, "make image") || !strings.Contains(out, `"exit_code":4`) {
			t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
		}
	})
	t.Run("no runtime", func(t *testing.T) {
		requireDocker(t)
		code, _, errOut := cli(t, context.Background(), dir, "", "exec", "--runtime", "no-such-runtime", file)
		if code != ExitSandbox || !strings.Contains(errOut, `no runtime "no-such-runtime"`) {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	if entries, _ := os.ReadDir(filepath.Join(dir, defaultRunsDir)); len(entries) != 0 {
		t.Fatalf("a workspace was made for a sandbox that could not run: %v", entries)
	}
}

func TestExecNoCode(t *testing.T) {
	code, _, errOut := cli(t, context.Background(), t.TempDir(), "just prose, `inline` code\n", "exec", "-")
	if code != ExitFailure || !strings.Contains(errOut, "no python, sh, bash or javascript code block") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestExecSettingsPrecedence: a flag beats the environment, which beats
// .env, which beats the default.
func TestExecSettingsPrecedence(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	writeFile(t, dir, ".env", "AGENTTEAM_TIMEOUT=1s\nAGENTTEAM_MEMORY=300m\n")
	msg := "```sh\ncat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max\nsleep 4\n```\n"
	cases := []struct {
		name     string
		env      string
		args     []string
		timedOut bool
		memory   string
	}{
		{"from .env", "", nil, true, "314572800\n"},
		{"env beats .env", "6s", []string{"--memory", "200m"}, false, "209715200\n"},
		{"flag beats env", "6s", []string{"--timeout", "1"}, true, "314572800\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("AGENTTEAM_TIMEOUT", tc.env)
			}
			_, out, errOut := cli(t, context.Background(), dir, msg, append([]string{"exec", "--json", "-"}, tc.args...)...)
			var rep ExecReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Blocks) != 1 {
				t.Fatalf("%v: %s %s", err, out, errOut)
			}
			b := rep.Blocks[0]
			if b.TimedOut != tc.timedOut || b.Stdout != tc.memory {
				t.Fatalf("timed_out %v stdout %q, want %v %q", b.TimedOut, b.Stdout, tc.timedOut, tc.memory)
			}
		})
	}
}

// TestExecInterrupted: Ctrl-C in the middle of a block exits 130 and
// leaves no container.
func TestExecInterrupted(t *testing.T) {
	requireDocker(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	start := time.Now()
	code, out, errOut := cli(t, ctx, dir, "```sh\necho started\nsleep 30\n```\n", "exec", "--json", "-")
	if code != ExitInterrupted || !strings.Contains(errOut, "interrupted") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s to stop", d)
	}
	var rep ExecReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Blocks) != 1 || !rep.Blocks[0].Canceled || rep.Blocks[0].Stdout != "started\n" {
		t.Fatalf("report not written up to the interruption: %v %s", err, out)
	}
	assertNoContainers(t, dockerClient(t))
}

// TestCleanupSweepsOrphans: cleanup removes the containers of dead owners,
// --all those of live ones too, --dry-run nothing; a container made from
// the image with the managed label but no owner (a user's `docker run`, or
// any container of an image built with that label) is agentteam's in no
// case: never listed, never removed, not a leftover for doctor.
func TestCleanupSweepsOrphans(t *testing.T) {
	requireDocker(t)
	cli := dockerClient(t)
	host, _ := os.Hostname()
	// A session label of its own keeps this test away from the containers
	// of other tests running at the same time.
	session := "test-cleanup-" + strconv.Itoa(os.Getpid())
	mk := func(labels map[string]string, start bool) string {
		labels[docker.LabelSession] = session
		c, err := cli.ContainerCreate(context.Background(), &container.Config{
			Image: docker.Defaults().Image, Cmd: []string{"/bin/sh", "-c", "sleep 30"}, Labels: labels,
		}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
		if start {
			if err := cli.ContainerStart(context.Background(), c.ID, container.StartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return c.ID
	}
	managed := func(owner string) map[string]string {
		return map[string]string{docker.LabelManaged: "true", docker.LabelOwner: owner}
	}
	ids := map[string]string{
		"orphan":   mk(managed(host+"/999999999"), false),
		"live":     mk(managed(docker.OwnerLabel()), false),
		"live-old": mk(managed(host+"/"+strconv.Itoa(os.Getpid())), false), // the older "host/pid" label
		"foreign":  mk(map[string]string{docker.LabelManaged: "true"}, true),
	}
	state := func(name string) string {
		c, err := cli.ContainerInspect(context.Background(), ids[name])
		if err != nil {
			return "gone"
		}
		return c.State.Status
	}
	for _, step := range []struct {
		args   []string
		listed []string // in the --json output
		want   map[string]string
	}{
		{[]string{"cleanup", "--dry-run", "--all", "--json"}, []string{"live", "live-old", "orphan"},
			map[string]string{"orphan": "created", "live": "created", "live-old": "created", "foreign": "running"}},
		{[]string{"cleanup"}, nil,
			map[string]string{"orphan": "gone", "live": "created", "live-old": "created", "foreign": "running"}},
		{[]string{"cleanup", "--all", "--json"}, []string{"live", "live-old"},
			map[string]string{"live": "gone", "live-old": "gone", "foreign": "running"}},
	} {
		code, out, errOut := cliIn(t, append(step.args, "--session", session)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", step.args, code, out, errOut)
		}
		if step.listed != nil {
			var res struct {
				Containers []docker.Leftover `json:"containers"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v: %v: %s", step.args, err, out)
			}
			var listed []string
			for _, c := range res.Containers {
				for name, id := range ids {
					if c.ID == id {
						listed = append(listed, name)
					}
				}
				if c.Removed == slices.Contains(step.args, "--dry-run") {
					t.Errorf("%v: %s removed %v", step.args, c.Name, c.Removed)
				}
			}
			slices.Sort(listed)
			if !slices.Equal(listed, step.listed) {
				t.Errorf("%v listed %v, want %v", step.args, listed, step.listed)
			}
		}
		for name, want := range step.want {
			if got := state(name); got != want {
				t.Errorf("after %v: %s is %s, want %s\n%s", step.args, name, got, want, out)
			}
		}
	}
	askEnv(t)
	_, out, _ := cliIn(t, "doctor", "--json")
	var rep struct {
		Checks []docker.Check `json:"checks"`
	}
	json.Unmarshal([]byte(out), &rep)
	if i := slices.IndexFunc(rep.Checks, func(c docker.Check) bool { return c.Name == "leftovers" }); i < 0 || !rep.Checks[i].OK {
		t.Errorf("doctor's leftovers check: %s", out)
	}
	if state("foreign") != "running" {
		t.Errorf("doctor removed a container that is not agentteam's: %s", state("foreign"))
	}
}

// cliIn runs a command in a fresh directory with no input.
func cliIn(t *testing.T, args ...string) (int, string, string) {
	return cli(t, context.Background(), t.TempDir(), "", args...)
}

func TestDoctor(t *testing.T) {
	requireDocker(t)
	askEnv(t, fakeserver.Step{Content: "OK"})        // a fake model server: the model checks pass
	t.Setenv("AGENTTEAM_CODER_MODEL", "fake-model")  // listed by the server
	t.Setenv("AGENTTEAM_REVIEWER_MODEL", "reviewer") // not listed: asked, and answers
	tmpBefore, _ := filepath.Glob(filepath.Join(os.TempDir(), "agentteam-doctor-*"))
	code, out, errOut := cliIn(t, "doctor", "--json")
	if tmpAfter, _ := filepath.Glob(filepath.Join(os.TempDir(), "agentteam-doctor-*")); len(tmpAfter) > len(tmpBefore) {
		t.Errorf("doctor left temporary directories: %v", tmpAfter)
	}
	var rep struct {
		OK     bool           `json:"ok"`
		Checks []docker.Check `json:"checks"`
	}
	check := func(name string) docker.Check {
		i := slices.IndexFunc(rep.Checks, func(c docker.Check) bool { return c.Name == name })
		if i < 0 {
			t.Fatalf("doctor has no %q check: %s", name, out)
		}
		return rep.Checks[i]
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("doctor: exit %d, %v, %s %s", code, err, out, errOut)
	}
	for _, name := range []string{"docker engine", "sandbox image", "runtimes", "hardening", "isolation", "first block", "leftovers", "model server",
		"coder model", "reviewer model"} {
		if c := check(name); !c.OK {
			t.Errorf("doctor's %s check failed: %+v", name, c)
		}
	}
	// Sizes in binary units, not bytes.
	if h := check("hardening"); !regexp.MustCompile(`memory max (\d+(\.\d+)?[KMG]iB|none|max), /tmp \d+(\.\d+)?MiB`).MatchString(h.Detail) {
		t.Errorf("hardening check: %+v", h)
	}
	if img := check("sandbox image"); !regexp.MustCompile(`\(\d+(\.\d+)?[MG]iB, built `).MatchString(img.Detail) {
		t.Errorf("sandbox image check: %+v", img)
	}
	// The runner found this engine's memory cgroup (v1 or v2) and watches it.
	if guard := check("memory guard"); !strings.HasPrefix(guard.Detail, "on (cgroup v") {
		t.Errorf("memory guard check: %+v", guard)
	}
	// Which kernel runs the blocks, and that the profile's probes were refused.
	if iso := check("isolation"); !strings.Contains(iso.Detail, "host kernel") || !strings.Contains(iso.Detail, "io_uring_setup") {
		t.Errorf("isolation check: %+v", iso)
	}
	code, out, _ = cliIn(t, "doctor", "--image", "agentteam-no-such-image:1")
	if code != ExitSandbox || !strings.Contains(out, "✗ sandbox image") || !strings.Contains(out, "fix:") {
		t.Fatalf("doctor without image: exit %d\n%s", code, out)
	}
	t.Setenv("OPENAI_BASE_URL", "")
	t.Setenv("AZURE_OPENAI_ENDPOINT", "")
	code, out, _ = cliIn(t, "doctor")
	if code != ExitFailure || !strings.Contains(out, "✗ model server") || !strings.Contains(out, "no API key for openai") {
		t.Fatalf("doctor without a model: exit %d\n%s", code, out)
	}
}

// requireDocker skips a test that needs the Docker engine under -short,
// and fails it with one clear line when the engine does not answer.
func requireDocker(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Docker engine: skipped under -short")
	}
	if err := pingDocker(); err != nil {
		t.Fatalf("this test needs a running Docker engine and the sandbox image (make image): %v", err)
	}
}

// pingDocker asks the environment's engine once per test binary.
var pingDocker = sync.OnceValue(func() error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cli.Ping(ctx)
	return err
})

// TestExecEgress: --egress lets a block reach exactly what it names, and
// exec --json records every attempt, allowed or refused, with the block.
func TestExecEgress(t *testing.T) {
	requireDocker(t)
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") }))
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaked") }))
	defer other.Close()
	block := "```python\nimport urllib.request\nfor u in ['" + allowed.URL + "', '" + other.URL + "']:\n" +
		"    try:\n        print(urllib.request.urlopen(u, timeout=10).read().decode())\n    except Exception as e:\n        print('refused')\n```\n"
	code, out, errOut := cli(t, context.Background(), t.TempDir(), block, "exec", "--json", "--egress", strings.TrimPrefix(allowed.URL, "http://"), "-")
	var rep ExecReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != ExitOK || len(rep.Blocks) != 1 {
		t.Fatalf("exit %d, %v: %s %s", code, err, out, errOut)
	}
	b := rep.Blocks[0]
	if b.Stdout != "reached\nrefused\n" || len(b.Egress) != 2 || !b.Egress[0].Allowed || b.Egress[1].Allowed ||
		!strings.Contains(out, `"egress":[{"host":"127.0.0.1"`) {
		t.Fatalf("stdout %q, egress %+v", b.Stdout, b.Egress)
	}
	// Without the flag, nothing is reached and nothing recorded: there is
	// no network at all.
	_, out, _ = cli(t, context.Background(), t.TempDir(), block, "exec", "--json", "-")
	rep = ExecReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Blocks[0].Stdout != "refused\nrefused\n" || len(rep.Blocks[0].Egress) != 0 {
		t.Fatalf("without --egress: %s", out)
	}
}

// TestLimitsBeyondTheEngine: --cpus or --memory past what the engine has
// is a usage error naming it, before any container (it was the engine's
// own refusal at create).
func TestLimitsBeyondTheEngine(t *testing.T) {
	requireDocker(t)
	for _, tc := range []struct{ flag, value, want string }{
		{"--cpus", "512", "more than the engine's"},
		{"--memory", "64t", "more than the engine's"},
	} {
		code, _, errOut := cli(t, context.Background(), t.TempDir(), "```sh\ntrue\n```\n", "exec", tc.flag, tc.value, "-")
		if code != ExitUsage || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%s %s: exit %d, stderr %q", tc.flag, tc.value, code, errOut)
		}
	}
}
