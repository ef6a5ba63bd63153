package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model/fakeserver"
)

// TestRunErrorSaidOnce: a model error is one line, said once, naming the
// agent's model and the endpoint, whatever the output mode.
func TestRunErrorSaidOnce(t *testing.T) {
	notFound := []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 404, Code: "model_not_found", Message: "The model c does not exist"}}}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"quiet", []string{"--quiet"}},
		{"json", []string{"--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := teamServer(t, notFound, nil)
			args := append([]string{"run", "--coder-model", "c", "--reviewer-model", "r"}, tc.args...)
			code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", append(args, "Task.")...)
			want := `coder: model "c" (the server at ` + srv.URL + `): no such model (HTTP 404): The model c does not exist; check --coder-model or AGENTTEAM_CODER_MODEL`
			all := out + errOut
			if code != ExitFailure || strings.Count(all, want) != 1 {
				t.Fatalf("exit %d; want once %q\nstdout %s\nstderr %s", code, want, out, errOut)
			}
			if strings.Contains(all, "model_not_found") {
				t.Errorf("an internal kind leaked into prose:\n%s%s", out, errOut)
			}
		})
	}
}

// TestRetryLines: a retry is one plain line on stderr; -v and --log-format
// give slog's records, debug included.
func TestRetryLines(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flags     []string
		want, not []string
	}{
		{"plain", nil, []string{"agentteam: model request failed; trying again (HTTP 503, attempt 1, wait "}, []string{"level=", "msg="}},
		{"quiet", []string{"--quiet"}, nil, []string{"trying again"}},
		{"verbose", []string{"-v"}, []string{"level=WARN", "level=DEBUG msg=\"model request\"", "level=DEBUG msg=\"starting the team\""}, nil},
		{"json", []string{"--log-format", "json"}, []string{`"level":"WARN","msg":"model request failed; trying again"`}, []string{"DEBUG"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			teamServer(t, []fakeserver.Step{{Fault: &fakeserver.Fault{Status: 503, Message: "busy"}}, {Content: "no code"}},
				say("APPROVE"))
			t.Setenv("AGENTTEAM_MODEL_RETRIES", "2")
			args := append([]string{"run", "--coder-model", "c", "--reviewer-model", "r"}, tc.flags...)
			code, out, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", append(args, "Task.")...)
			if code != ExitOK {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(errOut, n) {
					t.Errorf("stderr has %q:\n%s", n, errOut)
				}
			}
		})
	}
	code, _, errOut := cliFake(t, context.Background(), &fakeSandboxes{}, t.TempDir(), "", "--log-format", "xml", "run", "x")
	if code != ExitUsage || !strings.Contains(errOut, "--log-format") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestStatusLine: a log line lands above the status line, which is
// redrawn after it and never wider than the terminal.
func TestStatusLine(t *testing.T) {
	var out, errOut bytes.Buffer
	l := &statusLine{w: &out, width: 10}
	l.set("progress 1/20 done")
	l.log(&errOut, "warning\n")
	l.clear()
	if want := "\rprogress…\x1b[K\r\x1b[2Kprogress…\x1b[K\r\x1b[2K"; out.String() != want {
		t.Fatalf("line %q, want %q", out.String(), want)
	}
	if errOut.String() != "warning\n" {
		t.Fatalf("log %q", errOut.String())
	}
	for _, tc := range []struct {
		s     string
		width int
		want  string
	}{
		{"short", 80, "short"},
		{"ab█defgh", 5, "ab█…"},
		{"exactly9!", 10, "exactly9!"},
		{"tenletters", 10, "tenlette…"},
	} {
		if got := fit(tc.s, tc.width); got != tc.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}
