package docker

import (
	"strings"
	"testing"

	"github.com/agentteam/agentteam/sandbox"
)

// TestLanguages: javascript blocks run with node under the same limits,
// `python` is Python 3, and a block saved without running is not run.
func TestLanguages(t *testing.T) {
	s, dir := newTestSession(t, newTestDocker(t, testConfig()))
	for _, tc := range []struct {
		name string
		code sandbox.Code
		want string // stdout
		ok   bool
	}{
		{"node", sandbox.Code{Language: sandbox.JavaScript, Source: "console.log([1, 2, 3].map(x => x * 2).join(','))"}, "2,4,6\n", true},
		{"node saved and run", sandbox.Code{Language: sandbox.JavaScript, Filename: "app.js", Source: "console.log(require('path').basename(__filename))"}, "app.js\n", true},
		{"node has no network", sandbox.Code{Language: sandbox.JavaScript, Source: "require('http').get('http://192.0.2.1/', () => {}).on('error', e => { console.log('no network'); })"}, "no network\n", true},
		{"python is python 3", sandbox.Code{Language: sandbox.Sh, Source: "python -c 'import sys; print(sys.version_info[0])'"}, "3\n", true},
		{"save only", sandbox.Code{Language: "html", Filename: "site/index.html", Source: "<h1>hi</h1>\n", SaveOnly: true}, "", true},
		{"a saved script is not run", sandbox.Code{Language: sandbox.Sh, Filename: "x.sh", Source: "touch ran\n", SaveOnly: true}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Run(t.Context(), tc.code)
			if err != nil || res.OK() != tc.ok || res.Stdout != tc.want {
				t.Fatalf("%v: %+v", err, res)
			}
		})
	}
	res := run(t, s, sandbox.Sh, "cat site/index.html; ls ran 2>&1 | head -1")
	if !strings.HasPrefix(res.Stdout, "<h1>hi</h1>\n") || !strings.Contains(res.Stdout, "No such file") {
		t.Fatalf("saved files: %+v (workspace %s)", res, dir)
	}
}
