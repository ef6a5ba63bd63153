// Package sandboxtest owns the conformance suite that every sandbox backend
// runs: the Docker backend on the real engine and the fake, scripted with
// the answers the suite expects, must keep the contract of package sandbox
// alike. The fake runs no code, so what only running code can show (that
// one block sees the files of the last) is shown by the backends that do:
// for the fake, the same cases check that it answers each block in turn.
package sandboxtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/workspace"
)

// Exchange is one block a case runs and the answer a backend that runs it
// must give.
type Exchange struct {
	Code sandbox.Code
	// Result is the answer: the suite compares its exit code, output,
	// created files, flags, whether it has an Error, and OK.
	Result sandbox.Result
	// Runs is how long the block runs when nothing ends it; a fake waits
	// this long.
	Runs time.Duration
}

// Factory returns the backend under test, primed to answer the exchanges
// of one case (each Source comes with one answer only); a backend that
// runs code needs no priming.
type Factory func(t *testing.T, exchanges []Exchange) sandbox.Opener

// cancelBound is how long a cancelled block may take to end: the Docker
// backend waits up to 2 s for its runner, then removes the container.
const cancelBound = 20 * time.Second

func created(names ...string) workspace.Changes { return workspace.Changes{Created: names} }
func deleted(names ...string) workspace.Changes { return workspace.Changes{Deleted: names} }

// Run runs the suite against the backend open returns.
func Run(t *testing.T, open Factory) {
	var (
		// after is run last in a case: the session still runs blocks.
		after = Exchange{Code: sandbox.Code{Language: sandbox.Sh, Source: "echo after"},
			Result: sandbox.Result{Stdout: "after\n"}}

		carry = []Exchange{
			{Code: sandbox.Code{Language: sandbox.Sh, Source: "printf one > carry.txt"},
				Result: sandbox.Result{Files: created("carry.txt")}},
			{Code: sandbox.Code{Language: sandbox.Python, Source: "print(open('carry.txt').read() + ' two')"},
				Result: sandbox.Result{Stdout: "one two\n"}},
			{Code: sandbox.Code{Language: sandbox.Bash, Source: `echo "$(cat carry.txt) three"`, Filename: "steps/three.sh"},
				Result: sandbox.Result{Stdout: "one three\n", Files: created("steps/three.sh")}},
			{Code: sandbox.Code{Language: sandbox.Sh, Source: "rm carry.txt; ls"},
				Result: sandbox.Result{Stdout: "steps\n", Files: deleted("carry.txt")}},
		}

		failing = []Exchange{
			{Code: sandbox.Code{Language: sandbox.Python, Source: "import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)"},
				Result: sandbox.Result{ExitCode: 3, Stderr: "boom\n"}},
			{Code: sandbox.Code{Language: sandbox.Sh, Source: "echo partial; exit 7"},
				Result: sandbox.Result{ExitCode: 7, Stdout: "partial\n"}},
			after,
		}

		// saved are blocks to save, not run: the second would write
		// ran.txt if it ran, and the third saves over the second.
		saved = []Exchange{
			{Code: sandbox.Code{Language: "html", Source: "<p>hi</p>\n", Filename: "site/index.html", SaveOnly: true},
				Result: sandbox.Result{Files: created("site/index.html")}},
			{Code: sandbox.Code{Language: sandbox.Sh, Source: "touch ran.txt", Filename: "run.sh", SaveOnly: true},
				Result: sandbox.Result{Files: created("run.sh")}},
			{Code: sandbox.Code{Language: "", Source: "echo second", Filename: "run.sh", SaveOnly: true},
				Result: sandbox.Result{}},
			{Code: sandbox.Code{Language: sandbox.Sh, Source: "cat site/index.html run.sh; echo; ls"},
				Result: sandbox.Result{Stdout: "<p>hi</p>\necho second\nrun.sh\nsite\n"}},
		}

		// refused are blocks no backend runs or saves; each would write a
		// file in the workspace if it ran or was saved.
		refused = []sandbox.Code{
			{Language: "ruby", Source: "File.write('ruby.txt', 'x')"},
			{Language: "", Source: "touch none.txt"},
			{Language: sandbox.Sh, Source: "touch up.txt", Filename: "../up.sh"},
			{Language: sandbox.Python, Source: "open('deep.txt', 'w')", Filename: "a/../../deep.py"},
			{Language: sandbox.Sh, Source: "touch abs.txt", Filename: "/tmp/abs.sh"},
			{Language: sandbox.Bash, Source: "touch dir.txt", Filename: "dir/"},
			{Language: "html", Source: "touch nameless.txt", SaveOnly: true},
			{Language: "json", Source: "{}", Filename: "../up.json", SaveOnly: true},
			{Language: sandbox.Sh, Source: "touch abs.txt", Filename: "/tmp/abs.sh", SaveOnly: true},
		}

		// apart: a second session on another workspace does not see the
		// first's files.
		apart = []Exchange{
			{Code: sandbox.Code{Language: sandbox.Sh, Source: "printf a > mine.txt; cat mine.txt"},
				Result: sandbox.Result{Stdout: "a", Files: created("mine.txt")}},
			{Code: sandbox.Code{Language: sandbox.Python, Source: "import os\nprint(os.path.exists('mine.txt'))"},
				Result: sandbox.Result{Stdout: "False\n"}},
		}
	)

	t.Run("blocks run in order and share the workspace", func(t *testing.T) {
		s, _ := session(t, open, carry)
		for _, ex := range carry {
			exchange(t, s, ex)
		}
	})

	t.Run("a failing block is a result", func(t *testing.T) {
		s, _ := session(t, open, failing)
		for _, ex := range failing {
			exchange(t, s, ex)
		}
	})

	t.Run("blocks to save are saved byte for byte, not run", func(t *testing.T) {
		s, _ := session(t, open, saved)
		for _, ex := range saved {
			exchange(t, s, ex)
		}
	})

	t.Run("refused blocks are results", func(t *testing.T) {
		s, dir := session(t, open, []Exchange{after})
		for _, code := range refused {
			why := code.Validate()
			if why == nil {
				t.Fatalf("the suite's block %+v is not refused by Validate", code)
			}
			res, err := s.Run(context.Background(), code)
			if err != nil {
				t.Fatalf("%+v: error %v, want a Result", code, err)
			}
			if res.Error != why.Error() || res.OK() {
				t.Fatalf("%+v: Error %q (OK %v), want %q", code, res.Error, res.OK(), why)
			}
			if err := echoes(res, code); err != nil {
				t.Fatal(err)
			}
		}
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Fatalf("refused blocks left %d entries in the workspace (%v)", len(entries), err)
		}
		exchange(t, s, after)
	})

	t.Run("sessions are apart", func(t *testing.T) {
		one, _ := session(t, open, apart)
		exchange(t, one, apart[0])
		two, err := open(t, apart).NewSession(context.Background(), t.TempDir())
		if err != nil {
			t.Fatalf("NewSession: %v", err)
		}
		t.Cleanup(func() { two.Close(context.Background()) })
		exchange(t, two, apart[1])
	})

	t.Run("output streams while the block runs", func(t *testing.T) {
		// The runner sends the first piece of output at once; "a" must be
		// seen long before the block, still asleep, ends.
		talks := Exchange{Code: sandbox.Code{Language: sandbox.Sh, Source: "echo a; sleep 1; echo b >&2; printf 'c\\033[31m'"},
			Result: sandbox.Result{Stdout: "a\nc\x1b[31m", Stderr: "b\n"}, Runs: time.Second}
		silent := Exchange{Code: sandbox.Code{Language: sandbox.Sh, Source: "true"}}
		s, _ := session(t, open, []Exchange{talks, silent, after})

		var l listener
		code := talks.Code
		code.Output = l.output
		got, err := s.Run(context.Background(), code)
		end := l.returned()
		if err != nil {
			t.Fatalf("%q: %v", code.Source, err)
		}
		if err := same(got, talks.Result); err != nil {
			t.Fatalf("%q: %v", code.Source, err)
		}
		if err := echoes(got, code); err != nil {
			t.Fatal(err)
		}
		chunks := l.all()
		for _, stream := range []string{sandbox.Stdout, sandbox.Stderr} {
			var joined string
			for _, c := range chunks {
				if c.stream == stream {
					joined += c.text
				}
			}
			want := map[string]string{sandbox.Stdout: got.Stdout, sandbox.Stderr: got.Stderr}[stream]
			if joined != want {
				t.Errorf("%s streamed %q, the result has %q", stream, joined, want)
			}
		}
		for _, c := range chunks {
			if c.stream != sandbox.Stdout && c.stream != sandbox.Stderr {
				t.Errorf("a chunk on stream %q", c.stream)
			}
		}
		if len(chunks) == 0 || chunks[0].stream != sandbox.Stdout || !strings.HasPrefix(chunks[0].text, "a") {
			t.Fatalf("chunks %+v: the first is not stdout's \"a\"", chunks)
		}
		if early := end.Sub(chunks[0].at); early < 500*time.Millisecond {
			t.Errorf("the first chunk came %v before Run returned, want the block's second of sleep", early)
		}

		var quiet listener
		code = silent.Code
		code.Output = quiet.output
		exchange(t, s, Exchange{Code: code, Result: silent.Result})
		quiet.returned()
		exchange(t, s, after)
		time.Sleep(100 * time.Millisecond)
		if n := len(quiet.all()); n != 0 {
			t.Errorf("a block that printed nothing gave %d chunks", n)
		}
		if n := l.late() + quiet.late(); n != 0 {
			t.Errorf("%d chunks came after Run returned", n)
		}
	})

	cancels := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled before the block", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"cancelled while it runs", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"past its deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tc := range cancels {
		t.Run(tc.name, func(t *testing.T) {
			long := Exchange{Code: sandbox.Code{Language: sandbox.Sh, Source: "sleep 60; echo slept"},
				Result: sandbox.Result{Stdout: "slept\n"}, Runs: time.Minute}
			s, _ := session(t, open, []Exchange{long, after})
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			res, err := s.Run(ctx, long.Code)
			if took := time.Since(start); took > cancelBound {
				t.Fatalf("Run returned %v after it started, past %v", took, cancelBound)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.want)
			}
			if !res.Canceled || res.OK() {
				t.Fatalf("Result %+v, want one marked cancelled, not OK", res)
			}
			if err := echoes(res, long.Code); err != nil {
				t.Fatal(err)
			}
			exchange(t, s, after)
		})
	}

	t.Run("close", func(t *testing.T) {
		s, _ := session(t, open, []Exchange{after})
		exchange(t, s, after)
		for i := range 2 {
			if err := s.Close(context.Background()); err != nil {
				t.Fatalf("Close %d: %v", i+1, err)
			}
		}
		if _, err := s.Run(context.Background(), after.Code); err == nil {
			t.Fatal("Run after Close: no error")
		}
	})
}

// listener records what a block's Output function is given, and when.
type listener struct {
	mu     sync.Mutex
	chunks []chunk
	done   bool // Run returned
	after  int  // chunks given after Run returned
}

type chunk struct {
	stream, text string
	at           time.Time
}

func (l *listener) output(stream string, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chunks = append(l.chunks, chunk{stream, string(data), time.Now()})
	if l.done {
		l.after++
	}
}

// returned marks the end of Run, and says when it was.
func (l *listener) returned() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	return time.Now()
}

func (l *listener) all() []chunk {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]chunk(nil), l.chunks...)
}

func (l *listener) late() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.after
}

// session opens a session of the backend primed for exchanges on a fresh
// workspace, and closes it when the test ends.
func session(t *testing.T, open Factory, exchanges []Exchange) (sandbox.Session, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := open(t, exchanges).NewSession(context.Background(), dir)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, dir
}

// exchange runs ex's block and compares the answer.
func exchange(t *testing.T, s sandbox.Session, ex Exchange) {
	t.Helper()
	got, err := s.Run(context.Background(), ex.Code)
	if err != nil {
		t.Fatalf("%q: %v", ex.Code.Source, err)
	}
	if err := same(got, ex.Result); err != nil {
		t.Fatalf("%q: %v", ex.Code.Source, err)
	}
	if err := echoes(got, ex.Code); err != nil {
		t.Fatalf("%q: %v", ex.Code.Source, err)
	}
}

// same compares what the suite pins of a result.
func same(got, want sandbox.Result) error {
	switch {
	case got.ExitCode != want.ExitCode:
		return fmt.Errorf("exit code %d, want %d (stderr %q, error %q)", got.ExitCode, want.ExitCode, got.Stderr, got.Error)
	case got.Stdout != want.Stdout:
		return fmt.Errorf("stdout %q, want %q", got.Stdout, want.Stdout)
	case got.Stderr != want.Stderr:
		return fmt.Errorf("stderr %q, want %q", got.Stderr, want.Stderr)
	case !slices.Equal(got.Files.Created, want.Files.Created):
		return fmt.Errorf("created %q, want %q", got.Files.Created, want.Files.Created)
	case !slices.Equal(got.Files.Deleted, want.Files.Deleted):
		return fmt.Errorf("deleted %q, want %q", got.Files.Deleted, want.Files.Deleted)
	case !slices.Equal(got.Flags(), want.Flags()):
		return fmt.Errorf("flags %q, want %q", got.Flags(), want.Flags())
	case (got.Error == "") != (want.Error == ""):
		return fmt.Errorf("error %q, want %q", got.Error, want.Error)
	case got.OK() != want.OK():
		return fmt.Errorf("OK %v, want %v", got.OK(), want.OK())
	}
	return nil
}

// echoes checks that a result names the block's language and filename.
func echoes(res sandbox.Result, code sandbox.Code) error {
	if res.Language != code.Language || res.Filename != code.Filename {
		return fmt.Errorf("result for %s %q names %s %q", code.Language, code.Filename, res.Language, res.Filename)
	}
	return nil
}
