package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model/fakeserver"
	"github.com/agentteam/agentteam/sandbox/docker"
)

// TestDoctorModels: doctor checks the server and both agents' models
// (once when they are the same), naming each model and the endpoint and
// never the key; a model the server does not list is asked one short
// question; an unreachable server is said in words.
func TestDoctorModels(t *testing.T) {
	const key = "sk-doctor-0123456789abcdef"
	notFound := fakeserver.Step{Fault: &fakeserver.Fault{Status: 404, Code: "model_not_found", Message: "The model `typo` does not exist"}}
	type want struct {
		name, detail, fix string
		ok                bool
		agents            []string
	}
	for _, tc := range []struct {
		name            string
		script          fakeserver.Script
		coder, reviewer string
		baseURL         string // "" the fake server's
		want            []want
		requests        int // chat requests made: the questions asked
	}{
		{name: "both listed", coder: "c", reviewer: "r",
			script: fakeserver.Script{Models: map[string][]fakeserver.Step{"c": nil, "r": nil}},
			want: []want{
				{name: "model server", ok: true, detail: "the server at URL answers with 3 model(s): c, fake-model, r"},
				{name: "coder model", ok: true, detail: `"c" (coder) on the server at URL: listed by the server`, agents: []string{"coder"}},
				{name: "reviewer model", ok: true, detail: `"r" (reviewer) on the server at URL: listed by the server`, agents: []string{"reviewer"}},
			}},
		{name: "one model for both", coder: "c", reviewer: "c",
			script: fakeserver.Script{Models: map[string][]fakeserver.Step{"c": nil}},
			want: []want{
				{name: "model server", ok: true, detail: "the server at URL answers with 2 model(s): c, fake-model"},
				{name: "model", ok: true, detail: `"c" (coder and reviewer) on the server at URL: listed by the server`, agents: []string{"coder", "reviewer"}},
			}},
		{name: "Ollama's default tag", coder: "qwen2.5-coder", reviewer: "qwen2.5-coder",
			script: fakeserver.Script{Models: map[string][]fakeserver.Step{"qwen2.5-coder:latest": nil}},
			want: []want{
				{name: "model server", ok: true},
				{name: "model", ok: true, detail: `"qwen2.5-coder" (coder and reviewer) on the server at URL: listed by the server`},
			}},
		{name: "not listed: asked", coder: "fake-model", reviewer: "deployment-7", requests: 1,
			script: fakeserver.Script{Replies: []fakeserver.Step{{Content: "OK"}}},
			want: []want{
				{name: "model server", ok: true},
				{name: "coder model", ok: true, detail: `"fake-model" (coder) on the server at URL: listed by the server`},
				{name: "reviewer model", ok: true, detail: `"deployment-7" (reviewer) on the server at URL: answers, though not among the 1 model(s) the server lists`},
			}},
		{name: "not listed: no such model", coder: "fake-model", reviewer: "typo", requests: 1,
			script: fakeserver.Script{Replies: []fakeserver.Step{notFound}},
			want: []want{
				{name: "model server", ok: true},
				{name: "coder model", ok: true},
				{name: "reviewer model", detail: `"typo" (reviewer) on the server at URL: no such model (HTTP 404): The model ` + "`typo`" + ` does not exist`,
					fix: "check --reviewer-model or AGENTTEAM_REVIEWER_MODEL"},
			}},
		{name: "unreachable", coder: "c", reviewer: "r", baseURL: "http://127.0.0.1:9/v1",
			want: []want{
				{name: "model server", detail: "the server at http://127.0.0.1:9/v1: cannot reach the server: connection refused", fix: "check OPENAI_BASE_URL or --base-url"},
				{name: "coder model", detail: `"c" (coder) on the server at http://127.0.0.1:9/v1: not checked: the server did not list its models`},
				{name: "reviewer model"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.script.APIKey = key
			srv := serveModels(t, tc.script)
			t.Setenv("OPENAI_API_KEY", key)
			if tc.baseURL != "" {
				t.Setenv("OPENAI_BASE_URL", tc.baseURL)
			}
			t.Setenv("AGENTTEAM_CODER_MODEL", tc.coder)
			t.Setenv("AGENTTEAM_REVIEWER_MODEL", tc.reviewer)
			var out bytes.Buffer
			f := newFactory(IO{Out: &out, ErrOut: &out, Dir: t.TempDir(), Getenv: os.Getenv})
			opts := &DoctorOptions{IO: f.IO, f: f}
			st, err := f.Settings()
			if err != nil {
				t.Fatal(err)
			}
			checks := opts.modelChecks(context.Background(), st)
			data, _ := json.Marshal(checks)
			if strings.Contains(string(data), key) || strings.Contains(string(data), "0123456789") || leaksKind(string(data)) {
				t.Fatalf("a key or a kind in %s", data)
			}
			if len(checks) != len(tc.want) {
				t.Fatalf("%d checks, want %d: %s", len(checks), len(tc.want), data)
			}
			for i, w := range tc.want {
				c := checks[i]
				w.detail = strings.ReplaceAll(w.detail, "URL", srv.URL)
				if c.Name != w.name || c.OK != w.ok || (w.detail != "" && c.Detail != w.detail) || c.Fix != w.fix ||
					(w.agents != nil && strings.Join(c.Agents, ",") != strings.Join(w.agents, ",")) {
					t.Errorf("check %d: %+v\nwant %+v", i, c, w)
				}
				if i > 0 && (c.Model == "" || c.Endpoint == "" || len(c.Agents) == 0) {
					t.Errorf("check %d names no model, endpoint or agent: %+v", i, c)
				}
			}
			if n := len(srv.Requests()); n != tc.requests {
				t.Errorf("%d chat requests, want %d", n, tc.requests)
			}
		})
	}
}

// TestDoctorJSONFields: the fields --json gives a check stay where they
// were, and a model check adds which model it is.
func TestDoctorJSONFields(t *testing.T) {
	data, _ := json.Marshal(doctorCheck{Check: docker.Check{Name: "coder model", OK: true, Detail: "d", Fix: "f"},
		Agents: []string{"coder"}, Model: "c", Endpoint: "e"})
	const want = `{"name":"coder model","ok":true,"detail":"d","fix":"f","agents":["coder"],"model":"c","endpoint":"e"}`
	if string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
}
