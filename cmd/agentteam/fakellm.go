package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentteam/agentteam/model/fakeserver"
)

// FakeLLMOptions are the inputs of `agentteam fake-llm`.
type FakeLLMOptions struct {
	IO     IO
	f      *Factory
	Addr   string
	Script string
}

func newFakeLLMCmd(f *Factory) *cobra.Command {
	s := f.IO
	opts := &FakeLLMOptions{IO: s, f: f}
	cmd := &cobra.Command{
		Use:   "fake-llm",
		Short: "Serve a fake OpenAI-compatible chat API that answers from a script",
		Long: `Serves POST /v1/chat/completions (and Azure's
/openai/deployments/{deployment}/chat/completions?api-version=..., under the
root), and GET /v1/models, answering from a JSON script: replies used in order,
per-model queues, streaming, delays, cut connections and HTTP faults. It prints
one line, "fake-llm: listening on http://HOST:PORT/v1", and serves until
interrupted. Point OPENAI_BASE_URL at that URL.

Script example:
  {"api_key": "sk-test",
   "replies": [{"content": "Hello!"},
               {"fault": {"status": 429, "retry_after": "1", "code": "rate_limit_exceeded"}}],
   "models": {"gpt-4o": [{"content": "streamed slowly", "chunk_delay_ms": 50}]}}`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runFakeLLM(cmd.Context(), opts) },
	}
	cmd.Flags().StringVar(&opts.Addr, "addr", "127.0.0.1:8089", `address to listen on ("127.0.0.1:0" picks a free port)`)
	cmd.Flags().StringVar(&opts.Script, "script", "", "JSON script of the replies (required)")
	return cmd
}

func runFakeLLM(ctx context.Context, opts *FakeLLMOptions) error {
	if opts.Script == "" {
		return usageError("fake-llm needs --script FILE")
	}
	script, err := fakeserver.LoadScript(opts.Script)
	if err != nil {
		return usageError("%v", err)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("fake-llm: %w (is another server using that port? --addr 127.0.0.1:0 picks a free one)", err)
	}
	srv := &http.Server{
		Handler:           logRequests(fakeserver.NewHandler(script)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(opts.IO.Out, "fake-llm: listening on %s\n", baseURL(ln.Addr()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("fake-llm: %w", err)
	case <-ctx.Done():
	}
	// Let requests in flight finish for a moment, then cut them.
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fake-llm: %w", err)
	}
	return nil
}

// baseURL is the OpenAI base URL of a listener; an address that means all
// interfaces is shown as localhost, which a client can dial.
func baseURL(a net.Addr) string {
	host := a.String()
	if t, ok := a.(*net.TCPAddr); ok && t.IP.IsUnspecified() {
		host = net.JoinHostPort("localhost", strconv.Itoa(t.Port))
	}
	return "http://" + host + "/v1"
}

// logRequests logs each request at debug level when it is done.
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			slog.Debug("fake-llm request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter notes the status written; Unwrap lets
// http.ResponseController reach the connection's Flush.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
