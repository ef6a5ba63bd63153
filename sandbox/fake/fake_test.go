package fake_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/agentteam/agentteam/sandbox/fake"
)

var _ sandbox.Opener = (*fake.Opener)(nil)
var _ sandbox.Session = (*fake.Session)(nil)

func open(t *testing.T, script fake.Script) (*fake.Opener, *fake.Session) {
	t.Helper()
	o := fake.New(script)
	s, err := o.NewSession(context.Background(), "/ws")
	if err != nil {
		t.Fatal(err)
	}
	return o, s.(*fake.Session)
}

func sh(src string) sandbox.Code { return sandbox.Code{Language: sandbox.Sh, Source: src} }

func TestStepsInOrder(t *testing.T) {
	boom := errors.New("engine gone")
	_, s := open(t, fake.Steps(
		fake.Step{Result: sandbox.Result{Stdout: "one\n", Language: "not this"}},
		fake.Step{Result: sandbox.Result{ExitCode: 2}},
		fake.Step{Err: boom, Result: sandbox.Result{Stdout: "ignored"}},
	))
	ctx := context.Background()
	tests := []struct {
		code    sandbox.Code
		want    sandbox.Result
		wantErr error
	}{
		{code: sandbox.Code{Language: sandbox.Python, Source: "a", Filename: "a.py"},
			want: sandbox.Result{Language: sandbox.Python, Filename: "a.py", Stdout: "one\n"}},
		{code: sh("b"), want: sandbox.Result{Language: sandbox.Sh, ExitCode: 2}},
		{code: sh("c"), want: sandbox.Result{Language: sandbox.Sh, ExitCode: -1}, wantErr: boom},
		{code: sh("d"), want: sandbox.Result{Language: sandbox.Sh, ExitCode: -1}, wantErr: fake.ErrUnscripted},
	}
	for i, tt := range tests {
		got, err := s.Run(ctx, tt.code)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("block %d: error %v, want %v", i+1, err, tt.wantErr)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("block %d: %+v, want %+v", i+1, got, tt.want)
		}
	}
}

func TestResults(t *testing.T) {
	_, s := open(t, fake.Results(sandbox.Result{Stdout: "x"}, sandbox.Result{Stdout: "y"}))
	for _, want := range []string{"x", "y"} {
		if got, err := s.Run(context.Background(), sh(want)); err != nil || got.Stdout != want {
			t.Fatalf("%+v, %v; want stdout %q", got, err, want)
		}
	}
	if _, err := s.Run(context.Background(), sh("z")); !errors.Is(err, fake.ErrUnscripted) {
		t.Fatalf("past the script: %v", err)
	}
}

func TestBySource(t *testing.T) {
	steps := map[string]fake.Step{"echo hi": {Result: sandbox.Result{Stdout: "hi\n"}}}
	_, s := open(t, fake.BySource(steps))
	steps["echo hi"] = fake.Step{Result: sandbox.Result{Stdout: "changed"}} // the script kept its own copy
	for range 2 {
		if got, err := s.Run(context.Background(), sh("echo hi")); err != nil || got.Stdout != "hi\n" {
			t.Fatalf("%+v, %v", got, err)
		}
	}
	_, err := s.Run(context.Background(), sh("echo other"))
	if !errors.Is(err, fake.ErrUnscripted) || !strings.Contains(err.Error(), `"echo other"`) {
		t.Fatalf("unknown source: %v", err)
	}
}

// TestRefusedUseNoStep: a refused block is answered before the script,
// so it does not take the step meant for the next block.
func TestRefusedUseNoStep(t *testing.T) {
	_, s := open(t, fake.Results(sandbox.Result{Stdout: "meant for the next"}))
	refused := []sandbox.Code{{Language: "ruby"}, {Language: sandbox.Sh, Filename: "../x.sh"},
		{Language: "html", SaveOnly: true}, {Language: "json", Filename: "../x.json", SaveOnly: true}}
	for _, c := range refused {
		got, err := s.Run(context.Background(), c)
		if err != nil || got.Error != c.Validate().Error() || got.ExitCode != -1 {
			t.Fatalf("%+v: %+v, %v", c, got, err)
		}
	}
	if got, err := s.Run(context.Background(), sh("ok")); err != nil || got.Stdout != "meant for the next" {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestRecords(t *testing.T) {
	o, s := open(t, func(sandbox.Code) fake.Step { return fake.Step{} }) // a default answer
	codes := []sandbox.Code{sh("one"), {Language: "ruby", Source: "two"}, {Language: sandbox.Python, Source: "three", Filename: "t.py"},
		{Language: "html", Source: "<p>", Filename: "i.html", SaveOnly: true}}
	for _, c := range codes {
		s.Run(context.Background(), c)
	}
	if s.Closed() {
		t.Fatal("closed before Close")
	}
	s.Close(context.Background())
	s.Run(context.Background(), sh("four")) // refused: closed, still recorded
	if got, want := s.Codes(), append(codes, sh("four")); !reflect.DeepEqual(got, want) {
		t.Errorf("Codes %+v, want %+v", got, want)
	}
	if !s.Closed() || s.Dir() != "/ws" {
		t.Errorf("Closed %v, Dir %q", s.Closed(), s.Dir())
	}
	second, _ := o.NewSession(context.Background(), "/other")
	if got := o.Sessions(); len(got) != 2 || got[0] != s || got[1] != second || len(got[1].Codes()) != 0 {
		t.Errorf("Sessions %v", got)
	}
}

func TestNewSessionCancelled(t *testing.T) {
	o := fake.New(fake.Results())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := o.NewSession(ctx, "/ws"); !errors.Is(err, context.Canceled) || s != nil {
		t.Fatalf("%v, %v; want context.Canceled", s, err)
	}
	if n := len(o.Sessions()); n != 0 {
		t.Fatalf("%d sessions recorded", n)
	}
}

// TestOneBlockAtATime: blocks given to one session at once run in turn,
// while two sessions run side by side.
func TestOneBlockAtATime(t *testing.T) {
	const delay = 100 * time.Millisecond
	wait := func(sandbox.Code) fake.Step { return fake.Step{Delay: delay} }
	both := func(a, b sandbox.Session) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for _, s := range []sandbox.Session{a, b} {
			wg.Go(func() {
				if _, err := s.Run(context.Background(), sh("sleep")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	o, s := open(t, wait)
	if took := both(s, s); took < 2*delay {
		t.Errorf("two blocks in one session took %v, less than two delays", took)
	}
	other, _ := o.NewSession(context.Background(), "/other")
	if took := both(s, other); took >= 2*delay {
		t.Errorf("blocks in two sessions took %v: they waited for each other", took)
	}
}
