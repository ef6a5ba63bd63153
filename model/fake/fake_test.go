package fake_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
)

var _ model.Model = (*fake.Model)(nil)

func req(contents ...string) model.Request {
	r := model.Request{Model: "m1"}
	for _, c := range contents {
		r.Messages = append(r.Messages, model.Message{Role: model.RoleUser, Content: c})
	}
	return r
}

func TestRepliesInOrder(t *testing.T) {
	m := fake.Replies("first", "second answer here", "")
	ctx := context.Background()
	wants := []struct {
		content                   string
		prompt, completion, total int
	}{
		{"first", 4, 1, 5},              // 16 bytes / 4; 5/4 = 1
		{"second answer here", 4, 4, 8}, // 18/4 = 4
		{"", 4, 1, 5},                   // at least 1
	}
	for i, w := range wants {
		if got := m.Remaining(); got != len(wants)-i {
			t.Errorf("before call %d: Remaining = %d, want %d", i+1, got, len(wants)-i)
		}
		reply, err := m.Complete(ctx, req("0123456789", "abcdef")) // 16 bytes
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		want := model.Reply{Content: w.content, FinishReason: "stop", Model: "m1",
			Usage: model.Usage{PromptTokens: w.prompt, CompletionTokens: w.completion, TotalTokens: w.total, Known: true}}
		if reply != want {
			t.Errorf("call %d: %+v, want %+v", i+1, reply, want)
		}
	}
	_, err := m.Complete(ctx, req("more"))
	if model.KindOf(err) != model.KindReplayExhausted || !strings.Contains(err.Error(), "fake model: no scripted reply left") {
		t.Fatalf("after the script: %v, want replay_exhausted", err)
	}
	if m.Remaining() != 0 {
		t.Errorf("Remaining = %d, want 0", m.Remaining())
	}
	// The call past the end is still recorded.
	if n := len(m.Requests()); n != 4 {
		t.Errorf("%d requests recorded, want 4", n)
	}
}

func TestSmallPromptUsageAtLeastOne(t *testing.T) {
	reply, err := fake.Replies("ok").Complete(context.Background(), req("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if reply.Usage.PromptTokens != 1 || reply.Usage.CompletionTokens != 1 || reply.Usage.TotalTokens != 2 {
		t.Errorf("usage %+v, want 1+1", reply.Usage)
	}
}

func TestNewStepsAnswerAsScripted(t *testing.T) {
	boom := errors.New("boom")
	scripted := model.Reply{Content: "x", FinishReason: "length", Model: "srv"} // usage unknown: kept as is
	m := fake.New(
		fake.Step{Reply: scripted},
		fake.Step{Err: boom},
		fake.Step{Err: &model.Error{Kind: model.KindAuth, Message: "no key"}},
	)
	ctx := context.Background()
	tests := []struct {
		wantReply model.Reply
		wantErr   error
		wantKind  model.Kind
	}{
		{wantReply: scripted},
		{wantErr: boom},
		{wantKind: model.KindAuth},
		{wantKind: model.KindReplayExhausted},
	}
	for i, tt := range tests {
		reply, err := m.Complete(ctx, req("q"))
		switch {
		case tt.wantErr != nil:
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("call %d: err %v, want %v", i+1, err, tt.wantErr)
			}
		case tt.wantKind != "":
			if model.KindOf(err) != tt.wantKind {
				t.Errorf("call %d: err %v, want kind %s", i+1, err, tt.wantKind)
			}
		default:
			if err != nil || reply != tt.wantReply {
				t.Errorf("call %d: %+v, %v; want %+v", i+1, reply, err, tt.wantReply)
			}
		}
	}
}

func TestRequestsAreDeepCopies(t *testing.T) {
	m := fake.Replies("a", "b")
	temp := float32(0.5)
	msgs := []model.Message{{Role: model.RoleSystem, Content: "sys"}, {Role: model.RoleUser, Content: "one"}}
	r := model.Request{Model: "m1", Messages: msgs, Temperature: &temp, MaxTokens: 9, OnDelta: func(string) {}}
	if _, err := m.Complete(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	// The caller reuses its slice and pointer for the next call.
	msgs[1].Content = "CHANGED"
	msgs = append(msgs, model.Message{Role: model.RoleAssistant, Content: "a"})
	temp = 1.5
	if _, err := m.Complete(context.Background(), model.Request{Messages: msgs}); err != nil {
		t.Fatal(err)
	}

	got := m.Requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	first := got[0]
	wantMsgs := []model.Message{{Role: model.RoleSystem, Content: "sys"}, {Role: model.RoleUser, Content: "one"}}
	if !reflect.DeepEqual(first.Messages, wantMsgs) {
		t.Errorf("first request's messages changed with the caller's slice: %+v", first.Messages)
	}
	if first.Model != "m1" || first.MaxTokens != 9 || first.Temperature == nil || *first.Temperature != 0.5 {
		t.Errorf("first request %+v", first)
	}
	if first.OnDelta != nil {
		t.Error("OnDelta kept in the copy")
	}
	if len(got[1].Messages) != 3 || got[1].Messages[1].Content != "CHANGED" {
		t.Errorf("second request %+v", got[1].Messages)
	}
	// Mutating what Requests returned does not change the record either.
	got[0].Messages[0].Content = "mutated"
	if again := m.Requests(); again[0].Messages[0].Content != "sys" {
		t.Errorf("Requests returned the record itself: %q", again[0].Messages[0].Content)
	}
}

func TestDelayAndCancel(t *testing.T) {
	t.Run("delay elapses", func(t *testing.T) {
		m := fake.New(fake.Step{Reply: model.Reply{Content: "late"}, Delay: 20 * time.Millisecond})
		start := time.Now()
		reply, err := m.Complete(context.Background(), req("q"))
		if err != nil || reply.Content != "late" {
			t.Fatalf("%+v, %v", reply, err)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("answered after %v, before the 20ms delay", d)
		}
	})
	t.Run("cancel during delay", func(t *testing.T) {
		m := fake.New(fake.Step{Reply: model.Reply{Content: "never"}, Delay: time.Hour}, fake.Step{Reply: model.Reply{Content: "next"}})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		start := time.Now()
		_, err := m.Complete(ctx, req("q"))
		if model.KindOf(err) != model.KindCanceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want cancelled wrapping context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("cancel took %v", d)
		}
		if len(m.Requests()) != 1 {
			t.Errorf("cancelled request not recorded")
		}
		// The cancelled call used its step; the next call gets the next one.
		reply, err := m.Complete(context.Background(), req("q"))
		if err != nil || reply.Content != "next" {
			t.Errorf("after cancel: %+v, %v", reply, err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		m := fake.Replies("x")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Complete(ctx, req("q")); model.KindOf(err) != model.KindCanceled {
			t.Fatalf("err = %v, want cancelled", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		m := fake.New(fake.Step{Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if _, err := m.Complete(ctx, req("q")); model.KindOf(err) != model.KindCanceled || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want cancelled wrapping DeadlineExceeded", err)
		}
	})
}

func TestOnDeltaPieces(t *testing.T) {
	tests := []struct {
		content string
		want    []string
	}{
		{"hello big world", []string{"hello ", "big ", "world"}},
		{"trailing space ", []string{"trailing ", "space "}},
		{"two  spaces", []string{"two ", " ", "spaces"}},
		{"one", []string{"one"}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.content, func(t *testing.T) {
			var got []string
			r := req("q")
			r.OnDelta = func(d string) { got = append(got, d) }
			reply, err := fake.Replies(tt.content).Complete(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("pieces %q, want %q", got, tt.want)
			}
			if strings.Join(got, "") != reply.Content || reply.Content != tt.content {
				t.Errorf("pieces %q do not add up to %q", got, reply.Content)
			}
		})
	}
}

func TestConcurrentCalls(t *testing.T) {
	const n = 50
	contents := make([]string, n)
	for i := range contents {
		contents[i] = "r"
	}
	m := fake.Replies(contents...)
	var wg sync.WaitGroup
	for range n + 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Complete(context.Background(), req("q"))
		}()
	}
	wg.Wait()
	if m.Remaining() != 0 || len(m.Requests()) != n+5 {
		t.Errorf("Remaining %d, requests %d", m.Remaining(), len(m.Requests()))
	}
}
