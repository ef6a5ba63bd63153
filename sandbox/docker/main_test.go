package docker

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/agentteam/agentteam/sandbox"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// TestMain checks that the engine and the image are there (the sandbox is
// tested against the real engine, never a mock) and, after the suite, that
// no container was left behind.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Only the tests that need no engine run; the others skip
		// (requireDocker).
		os.Exit(m.Run())
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox tests need a running Docker engine:", err)
		os.Exit(1)
	}
	image := cmp.Or(testConfig().Image, Defaults().Image)
	if _, err := cli.ImageInspect(context.Background(), image); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox tests need the image %s: run 'make image' (%v)\n", image, err)
		os.Exit(1)
	}
	volumesBefore := volumeCount(cli)
	code := m.Run()
	if n := volumeCount(cli); n > volumesBefore && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the suite left %d volume(s) behind\n", n-volumesBefore)
		code = 1
	}
	// AutoRemove finishes asynchronously; give it a moment.
	var left []string
	for i := 0; i < 50; i++ {
		left = nil
		left = ownContainers(cli)
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the suite left %d sandbox container(s) behind: %v\n", len(left), left)
		code = 1
	}
	os.Exit(code)
}

func volumeCount(cli *client.Client) int {
	v, err := cli.VolumeList(context.Background(), volume.ListOptions{})
	if err != nil {
		panic(err)
	}
	return len(v.Volumes)
}

// ownContainers lists the sandbox containers this test process made (other
// packages' tests may run at the same time).
func ownContainers(cli *client.Client) []string {
	list, err := cli.ContainerList(context.Background(), container.ListOptions{
		All: true, Filters: filters.NewArgs(filters.Arg("label", LabelOwner+"="+OwnerLabel())),
	})
	if err != nil {
		panic(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID[:12])
	}
	return ids
}

// testConfig is small enough that every limit is reached quickly.
func testConfig() Config {
	return Config{
		Memory:           256 << 20,
		CPUs:             1,
		Pids:             64,
		Timeout:          3 * time.Second,
		WorkspaceBytes:   32 << 20,
		WorkspaceEntries: 2000,
		TmpBytes:         16 << 20,
		FileSize:         8 << 20,
		MaxOutput:        4 << 10,
		OutputLimit:      4 << 20,
		// scripts/test-gvisor.sh runs part of the suite again with runsc
		// (gVisor) in a second engine.
		Runtime: os.Getenv("AGENTTEAM_TEST_RUNTIME"),
		// A work tree that changes the runner tests it in an image of its
		// own tag (IMAGE=agentteam-sandbox:mine make image).
		Image: os.Getenv("AGENTTEAM_TEST_IMAGE"),
	}
}

// requireDocker skips a test that needs the engine under -short (TestMain
// checks the engine and the image otherwise).
func requireDocker(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Docker engine: skipped under -short")
	}
}

func newTestDocker(t testing.TB, cfg Config) *Backend {
	t.Helper()
	requireDocker(t)
	d, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newTestSession opens a session on a fresh workspace, closed at cleanup.
func newTestSession(t testing.TB, d *Backend) (*session, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := d.NewSession(context.Background(), dir)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s.(*session), dir
}

func run(t testing.TB, s sandbox.Session, lang, code string) sandbox.Result {
	t.Helper()
	res, err := s.Run(context.Background(), sandbox.Code{Language: lang, Source: code})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// assertAlive checks that the session still runs a block normally.
func assertAlive(t *testing.T, s sandbox.Session) {
	t.Helper()
	res := run(t, s, sandbox.Python, "print('alive')")
	if !res.OK() || res.Stdout != "alive\n" {
		t.Fatalf("session no longer works: %+v", res)
	}
}
