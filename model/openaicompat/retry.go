package openaicompat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RetryPolicy bounds how a failed request is tried again: on transport
// errors and on HTTP 408, 409, 429 and 5xx, never on a 429 whose body says
// the quota is used up, and never once a reply has started (the transport
// only sees a response's headers, so a stream in progress is never retried).
type RetryPolicy struct {
	MaxAttempts int           // tries in all, the first included (default 4)
	MaxElapsed  time.Duration // total time for all tries and waits (default 2m)
	BaseDelay   time.Duration // first backoff (default 500ms), doubled each try
	MaxDelay    time.Duration // longest single wait (default 30s), Retry-After included
	// Sleep waits d or until ctx is done; tests inject a fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 2 * time.Minute
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryTransport retries a request as its policy allows. It sits under
// go-openai's client, so every call, streamed or not, goes through it.
type retryTransport struct {
	base   http.RoundTripper
	policy RetryPolicy
	log    *slog.Logger
	// idle bounds the wait for each piece of a streamed body.
	idle time.Duration
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	p := t.policy
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.Body != nil {
			if req.GetBody == nil {
				return nil, errors.New("retry request: body cannot be replayed")
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("retry request: %w", err)
			}
			req.Body = body
		}
		sent := time.Now()
		resp, err := t.base.RoundTrip(req)
		if resp != nil {
			t.log.Debug("model request", "url", redactURL(req.URL.String()), "status", resp.StatusCode, "attempt", attempt, "headers_after", time.Since(sent).Round(time.Millisecond))
		} else {
			t.log.Debug("model request", "url", redactURL(req.URL.String()), "error", err, "attempt", attempt)
		}
		wait, retry, why := t.decide(resp, err, attempt)
		if retry {
			if attempt >= p.MaxAttempts || time.Since(start)+wait > p.MaxElapsed {
				retry = false
			}
		}
		if !retry {
			if err == nil && t.idle > 0 && resp.StatusCode < 300 {
				resp.Body = newIdleBody(resp.Body, t.idle)
			}
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		t.log.Warn("model request failed; trying again", "why", why, "attempt", attempt, "wait", wait.Round(time.Millisecond))
		if err := p.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// decide says whether to try again, after how long, and why.
func (t *retryTransport) decide(resp *http.Response, err error, attempt int) (time.Duration, bool, string) {
	backoff := t.backoff(attempt)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 0, false, ""
		}
		return backoff, true, "transport error"
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		if quotaExhausted(resp) {
			return 0, false, ""
		}
	case s == http.StatusRequestTimeout, s == http.StatusConflict, s >= 500:
	default:
		return 0, false, ""
	}
	why := "HTTP " + strconv.Itoa(resp.StatusCode)
	if after, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		if after > t.policy.MaxDelay {
			return after, false, why // longer than we will wait: give the caller the error now
		}
		return after, true, why
	}
	return backoff, true, why
}

// backoff is exponential with jitter: a random wait between half and all
// of BaseDelay*2^(attempt-1), capped at MaxDelay.
func (t *retryTransport) backoff(attempt int) time.Duration {
	d := t.policy.BaseDelay << min(attempt-1, 20)
	if d > t.policy.MaxDelay || d <= 0 {
		d = t.policy.MaxDelay
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// quotaExhausted peeks at a 429's body for OpenAI's insufficient_quota code,
// which no wait will cure, and leaves the body readable for the caller.
func quotaExhausted(resp *http.Response) bool {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return bytes.Contains(body, []byte("insufficient_quota"))
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(0, at.Sub(now)), true
	}
	return 0, false
}

// errIdle ends a body that sent nothing for too long.
type errIdle struct{ after time.Duration }

func (e errIdle) Error() string {
	return fmt.Sprintf("no data from the server for %s", e.after)
}

// idleBody closes the underlying body when no read returns data within
// the idle time, so a server that stalls mid-reply cannot hang a run, while
// a long reply that keeps streaming is never cut.
type idleBody struct {
	body  io.ReadCloser
	idle  time.Duration
	timer *time.Timer
	mu    sync.Mutex
	fired bool
}

func newIdleBody(body io.ReadCloser, idle time.Duration) *idleBody {
	b := &idleBody{body: body, idle: idle}
	b.timer = time.AfterFunc(idle, func() {
		b.mu.Lock()
		b.fired = true
		b.mu.Unlock()
		body.Close()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		b.mu.Lock()
		fired := b.fired
		b.mu.Unlock()
		if fired {
			return n, errIdle{after: b.idle}
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.body.Close()
}
