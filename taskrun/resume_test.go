package taskrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentteam/agentteam/model"
	"github.com/agentteam/agentteam/model/fake"
)

func TestRepairResults(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
		cut              int64
	}{
		{"whole lines", "{\"id\":\"a\"}\n", "{\"id\":\"a\"}\n", 0},
		{"torn last line", "{\"id\":\"a\"}\n{\"id\":\"b\",\"sta", "{\"id\":\"a\"}\n", 14},
		{"only a fragment", "{\"id\":", "", 6},
		{"empty", "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.jsonl")
			os.WriteFile(p, []byte(tc.text), 0o644)
			cut, err := RepairResults(p)
			data, _ := os.ReadFile(p)
			if err != nil || cut != tc.cut || string(data) != tc.want {
				t.Fatalf("cut %d (want %d), err %v, file %q", cut, tc.cut, err, data)
			}
		})
	}
	if cut, err := RepairResults(filepath.Join(t.TempDir(), "none")); cut != 0 || err != nil {
		t.Fatalf("missing file: %d, %v", cut, err)
	}
}

// testBatch is a set of ids whose models come from models, in a new root.
func testBatch(t *testing.T, models func(Item) (model.Model, model.Model, error), ids ...string) *Batch {
	t.Helper()
	dir := t.TempDir()
	b := &Batch{Root: filepath.Join(dir, "ws"), Results: filepath.Join(dir, "results.jsonl"), Jobs: 1,
		Team: Team{MaxTurns: 3}, Sandboxes: noSandbox{}, Models: models}
	os.Mkdir(b.Root, 0o755)
	for _, id := range ids {
		b.Items = append(b.Items, Item{ID: id, Text: "say hi " + id})
	}
	return b
}

func approving(Item) (model.Model, model.Model, error) {
	return fake.Replies("hi"), fake.Replies("APPROVE"), nil
}

// TestBatchResume: a torn last line is cut before anything is appended;
// tasks recorded as errors stay done unless RetryErrors asks for them.
func TestBatchResume(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprint("retry ", retry), func(t *testing.T) {
			b := testBatch(t, approving, "a", "b", "c")
			b.RetryErrors = retry
			os.WriteFile(b.Results, []byte(`{"id":"a","status":"approved"}`+"\n"+`{"id":"b","status":"error","error":"model down"}`+"\n"+`{"id":"c","sta`), 0o644)
			sum, err := b.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(b.Results)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			want := map[bool]int{false: 3, true: 4}[retry]
			if len(lines) != want || strings.Contains(string(data), `"sta{`) {
				t.Fatalf("results:\n%s", data)
			}
			done, _ := ReadRecords(b.Results)
			wantB := map[bool]Status{false: Failed, true: Approved}[retry]
			if done["b"].Status != wantB || done["c"].Status != Approved || sum.Ran != want-2 || len(sum.Records) != 3 {
				t.Fatalf("records %+v, summary ran %d of %d", done, sum.Ran, len(sum.Records))
			}
		})
	}
}

// TestBatchStopsOnConfigErrors: configuration errors in a row stop the
// starting of tasks; other errors, or a success in between, do not.
func TestBatchStopsOnConfigErrors(t *testing.T) {
	failing := func(kind model.Kind, okID string) func(Item) (model.Model, model.Model, error) {
		return func(it Item) (model.Model, model.Model, error) {
			if it.ID == okID {
				return approving(it)
			}
			return fake.New(fake.Step{Err: &model.Error{Kind: kind, Message: "no"}}), fake.Replies(), nil
		}
	}
	ids := []string{"1", "2", "3", "4", "5", "6", "7", "8"}
	for _, tc := range []struct {
		name       string
		kind       model.Kind
		okID       string
		ran        int
		notStarted int
	}{
		{"bad key", model.KindAuth, "", 3, 5},
		{"no such model", model.KindModelNotFound, "", 3, 5},
		{"a success breaks the run", model.KindQuota, "3", 6, 2},
		{"server errors do not stop", model.KindServer, "", 8, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBatch(t, failing(tc.kind, tc.okID), ids...)
			b.StopAfter = 3
			sum, err := b.Run(context.Background())
			var se *StoppedError
			if stopped := errors.As(err, &se); stopped != (tc.notStarted > 0) || (stopped && (se.NotStarted != tc.notStarted || model.KindOf(err) != tc.kind)) {
				t.Fatalf("err %v", err)
			}
			if err == nil && tc.notStarted > 0 || sum.Ran != tc.ran {
				t.Fatalf("ran %d, want %d; err %v", sum.Ran, tc.ran, err)
			}
		})
	}
}
