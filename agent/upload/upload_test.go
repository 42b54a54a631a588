package upload

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/wire"
)

// server is a loopback collector stand-in that answers each attempt from a
// script and verifies every signature it receives.
type server struct {
	t       *testing.T
	pub     ed25519.PublicKey
	mu      sync.Mutex
	script  []func(w http.ResponseWriter)
	times   []time.Time
	keys    []string
	stamps  []string
	badSigs int
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.keys = append(s.keys, r.Header.Get(wire.HeaderIdempotencyKey))
	s.stamps = append(s.stamps, r.Header.Get(wire.HeaderTimestamp))
	if err := wire.Verify(r, s.pub, body, time.Now()); err != nil {
		s.badSigs++
	}
	n := len(s.times) - 1
	var step func(http.ResponseWriter)
	if n < len(s.script) {
		step = s.script[n]
	}
	s.mu.Unlock()
	if step == nil {
		sum := sha256.Sum256(body)
		a := wire.Ack{SubmissionID: r.Header.Get(wire.HeaderIdempotencyKey), Practice: r.Header.Get(wire.HeaderPractice),
			BodySHA256: hex.EncodeToString(sum[:]), State: wire.StateCurrent}
		wire.SignReceipt(&a, collectorKey)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(a)
		return
	}
	step(w)
}

func status(code int, hdr ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(wire.Problem{Title: http.StatusText(code), Status: code})
	}
}

func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	conn, _, _ := hj.Hijack()
	conn.Close()
}

func slow(d time.Duration) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { time.Sleep(d); w.WriteHeader(http.StatusCreated) }
}

// collectorKey signs the stand-in's receipts; clients pin its public half.
var collectorKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

func newPair(t *testing.T, script ...func(http.ResponseWriter)) (*server, *Client) {
	t.Helper()
	return newPairTimeout(t, 300*time.Millisecond, script...)
}

// newPairTimeout is newPair with each attempt bounded by timeout: tests
// that must see exactly one attempt give a busy machine room to answer.
func newPairTimeout(t *testing.T, timeout time.Duration, script ...func(http.ResponseWriter)) (*server, *Client) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	s := &server{t: t, pub: pub, script: script}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c, err := New(Options{URL: ts.URL, Practice: "Y01234", Key: priv, Attempts: 6,
		WaitMin: 20 * time.Millisecond, WaitMax: 200 * time.Millisecond, Timeout: timeout,
		CollectorKey: collectorKey.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestSubmitRetriesThroughFailures(t *testing.T) {
	s, c := newPair(t,
		status(500), reset, slow(time.Second), status(503), status(429, "Retry-After", "1"))
	start := time.Now()
	ack, err := c.Submit(context.Background(), "sub-1", []byte(`{"x":1}`))
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	var a wire.Ack
	if err := json.Unmarshal(ack, &a); err != nil || a.SubmissionID != "sub-1" {
		t.Fatalf("ack = %s (%v), want submission sub-1", ack, err)
	}
	if got, want := len(s.times), 6; got != want {
		t.Fatalf("attempts = %d, want %d", got, want)
	}
	for i, k := range s.keys {
		if k != "sub-1" {
			t.Errorf("attempt %d idempotency key = %q, want sub-1 on every attempt", i, k)
		}
	}
	if s.badSigs != 0 {
		t.Errorf("%d attempts carried a signature that does not verify", s.badSigs)
	}
	// Backoff observed: every gap at least the minimum wait; the gap after
	// the 429 honours Retry-After: 1.
	for i := 1; i < len(s.times); i++ {
		if i == 2 {
			// net/http itself resends a request that carries an
			// Idempotency-Key at once when the connection was reset.
			continue
		}
		if gap := s.times[i].Sub(s.times[i-1]); gap < 20*time.Millisecond {
			t.Errorf("gap before attempt %d = %v, want >= 20ms backoff", i, gap)
		}
	}
	if gap := s.times[5].Sub(s.times[4]); gap < time.Second {
		t.Errorf("gap after 429 Retry-After: 1 = %v, want >= 1s", gap)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestSubmitDoesNotRetryClientErrors(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 413, 422} {
		s, c := newPairTimeout(t, 10*time.Second, status(code))
		_, err := c.Submit(context.Background(), "k", []byte(`{}`))
		var e *Error
		if !errors.As(err, &e) || e.Status != code {
			t.Fatalf("%d: err = %v, want *Error with that status", code, err)
		}
		if len(s.times) != 1 {
			t.Errorf("%d: attempts = %d, want 1 (no retry)", code, len(s.times))
		}
	}
}

func TestSubmitRetriesTimeoutConflictAndTooMany(t *testing.T) {
	for _, code := range []int{408, 409, 429, 502} {
		s, c := newPair(t, status(code))
		if _, err := c.Submit(context.Background(), "k", []byte(`{}`)); err != nil {
			t.Fatalf("%d then 201: %v", code, err)
		}
		if len(s.times) != 2 {
			t.Errorf("%d: attempts = %d, want 2", code, len(s.times))
		}
	}
}

func TestSubmitGivesUpAfterBoundedAttempts(t *testing.T) {
	script := make([]func(http.ResponseWriter), 20)
	for i := range script {
		script[i] = status(500)
	}
	s, c := newPair(t, script...)
	_, err := c.Submit(context.Background(), "k", []byte(`{}`))
	var e *Error
	if !errors.As(err, &e) || e.Status != 500 {
		t.Fatalf("err = %v, want the last 500", err)
	}
	if got, want := len(s.times), 6; got != want {
		t.Errorf("attempts = %d, want %d", got, want)
	}
}

func TestRetryAfterCapped(t *testing.T) {
	b := Backoff(2 * time.Second)
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"86400"}}}
	if got := b(time.Millisecond, time.Second, 0, resp); got != 2*time.Second {
		t.Errorf("Retry-After one day with cap 2s -> %v, want 2s", got)
	}
	resp.Header.Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
	b = Backoff(time.Hour)
	if got := b(time.Millisecond, time.Second, 0, resp); got < time.Second || got > 3*time.Second {
		t.Errorf("Retry-After as a date 3s ahead -> %v", got)
	}
	for i := 0; i < 50; i++ {
		got := b(100*time.Millisecond, 400*time.Millisecond, 5, nil)
		if got < 100*time.Millisecond || got > 400*time.Millisecond {
			t.Fatalf("jittered backoff %v outside [100ms, 400ms]", got)
		}
	}
}

func TestNewRefusesPlainHTTPOffLoopback(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	if _, err := New(Options{URL: "http://collector.example", Key: priv}); err == nil {
		t.Fatal("plain http to a remote host accepted")
	}
	if _, err := New(Options{URL: "https://u:p@collector.example", Key: priv}); err == nil {
		t.Fatal("credentials in URL accepted")
	}
}

// TestOnlyAReceiptCountsAsDelivered: answers that are 2xx but prove no
// storage (a proxy's own 200, an empty 200, a 204, a page of HTML, a
// receipt for another submission or body, one signed by another key) are
// errors naming what came back, never an acknowledgement.
func TestOnlyAReceiptCountsAsDelivered(t *testing.T) {
	body := []byte(`{"x":1}`)
	sum := sha256.Sum256(body)
	signed := func(mod func(*wire.Ack), key ed25519.PrivateKey) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			a := wire.Ack{SubmissionID: "sub-1", Practice: "Y01234", BodySHA256: hex.EncodeToString(sum[:]), State: wire.StateCurrent}
			mod(&a)
			wire.SignReceipt(&a, key)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(a)
		}
	}
	answer := func(code int, ctype, text string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte(text))
		}
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct {
		name   string
		step   func(http.ResponseWriter)
		inText string
	}{
		{"proxy 200 ok", answer(200, "application/json", `{"status":"ok"}`), `200, application/json, "{\"status\":\"ok\"}"`},
		{"empty 200", answer(200, "", ""), "200, no content type, an empty body"},
		{"204", answer(204, "", ""), "204"},
		{"html", answer(200, "text/html", "<html><body>Welcome</body></html>"), "text/html"},
		{"another submission", signed(func(a *wire.Ack) { a.SubmissionID = "sub-2" }, collectorKey), `names submission "sub-2"`},
		{"another body", signed(func(a *wire.Ack) { a.BodySHA256 = strings.Repeat("0", 64) }, collectorKey), "body digest"},
		{"another practice", signed(func(a *wire.Ack) { a.Practice = "Y09999" }, collectorKey), `practice "Y09999"`},
		{"another key", signed(func(*wire.Ack) {}, otherKey), "not the pinned key"},
		{"unsigned", answer(201, "application/json", `{"submission_id":"sub-1","practice":"Y01234"}`), "not signed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newPair(t, tc.step)
			ack, err := c.Submit(context.Background(), "sub-1", body)
			var re *ReceiptError
			if !errors.As(err, &re) || ack != nil {
				t.Fatalf("Submit = %s, %v; want a ReceiptError and no acknowledgement", ack, err)
			}
			if !strings.Contains(err.Error(), tc.inText) || !strings.Contains(err.Error(), "stays pending") {
				t.Errorf("message %q does not say what came back (%q) and that the month stays pending", err, tc.inText)
			}
		})
	}
	// And the real thing is accepted.
	_, c := newPair(t, signed(func(*wire.Ack) {}, collectorKey))
	if _, err := c.Submit(context.Background(), "sub-1", body); err != nil {
		t.Fatalf("a good receipt: %v", err)
	}
}
