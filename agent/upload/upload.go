// Package upload delivers the agent's submissions and heartbeats to the
// collector over HTTPS with go-retryablehttp: exponential backoff with
// jitter, Retry-After honoured (within a cap) on 429 and 503, no retry of
// 4xx other than 408, 409 and 429, a bounded number of attempts per call,
// and a fresh signature on every attempt. Every request is idempotent on the
// collector side (the submission id is the Idempotency-Key), which is what
// makes retrying a POST safe.
package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/reporting/wire"
)

// Options configure a Client.
type Options struct {
	// URL is the collector's base URL, e.g. https://steward.icb.example.
	URL string
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile   string
	Practice string
	Key      ed25519.PrivateKey
	// Timeout bounds each attempt (default 60 s).
	Timeout time.Duration
	// Attempts bounds the attempts per call (default 5).
	Attempts int
	// WaitMin and WaitMax bound the exponential backoff (defaults 2 s, 5 min).
	WaitMin, WaitMax time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 15 min).
	MaxRetryAfter time.Duration
	Logger        *slog.Logger
	// Now is the clock signatures use (default time.Now).
	Now func() time.Time
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
	// CollectorKey is the collector's receipt key, pinned at enrolment. A
	// submission counts as delivered only on a receipt it signed; without
	// it Submit refuses every answer (pin one with PinCollectorKey).
	CollectorKey ed25519.PublicKey
}

// Client talks to one collector as one practice.
type Client struct {
	base *url.URL
	opts Options
	http *http.Client

	mu        sync.Mutex
	clockSeen time.Time // our clock when the collector's Date was read
	clockAt   time.Time // the collector's clock then
}

// New returns a client. The URL must be https, except on a loopback host.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("collector url %q: want https://host[:port]", o.URL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("collector url %q: must be https (plain http is allowed only on loopback)", o.URL)
	}
	if u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("collector url must not hold credentials or a query (they would reach logs)")
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.WaitMin <= 0 {
		o.WaitMin = 2 * time.Second
	}
	if o.WaitMax <= 0 {
		o.WaitMax = 5 * time.Minute
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 20 * time.Second
		t.ResponseHeaderTimeout = o.Timeout
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("collector CA bundle: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("collector CA bundle %s holds no PEM certificate", o.CAFile)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		} else {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr = t
	}
	return &Client{base: u, opts: o, http: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
}

// retrying returns a retrying client whose every retry is re-prepared by
// prepare (a fresh signature, so a long backoff never outlives the
// collector's clock-skew window).
func (c *Client) retrying(prepare retryablehttp.PrepareRetry) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.HTTPClient = c.http
	rc.RetryMax = c.opts.Attempts - 1
	rc.RetryWaitMin = c.opts.WaitMin
	rc.RetryWaitMax = c.opts.WaitMax
	rc.Logger = c.opts.Logger
	rc.CheckRetry = CheckRetry
	rc.Backoff = Backoff(c.opts.MaxRetryAfter)
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	rc.PrepareRetry = prepare
	return rc
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckRetry retries connection errors, 408, 409, 429 and 5xx except 501;
// never other 4xx.
func CheckRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && strings.Contains(ue.Error(), "certificate") {
			return false, err // a TLS trust failure will not heal by retrying
		}
		return true, nil
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusConflict, s == http.StatusTooManyRequests:
		return true, nil
	case s == http.StatusNotImplemented:
		return false, nil
	case s >= 500:
		return true, nil
	}
	return false, nil
}

// Backoff is exponential backoff with full jitter between min and max, or
// the server's Retry-After on 429 and 503, capped at maxRetryAfter.
func Backoff(maxRetryAfter time.Duration) retryablehttp.Backoff {
	return func(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
		if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			if d, ok := RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				return min(d, maxRetryAfter)
			}
		}
		ceil := float64(lo) * float64(uint64(1)<<min(uint(attempt)+1, 30))
		if ceil > float64(hi) {
			ceil = float64(hi)
		}
		// Full jitter: anywhere from lo to the exponential ceiling, so many
		// practices retrying after one outage do not arrive together.
		return lo + time.Duration(rand.Float64()*(ceil-float64(lo)))
	}
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date).
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// Error is a response the collector gave up with.
type Error struct {
	Status  int
	Problem wire.Problem
}

func (e *Error) Error() string {
	msg := e.Problem.Title
	if e.Problem.Detail != "" {
		msg += ": " + e.Problem.Detail
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("collector answered %d: %s", e.Status, msg)
}

// Permanent reports whether resending the same request can never succeed
// (the document was refused as invalid or too large).
func (e *Error) Permanent() bool {
	return e.Status == http.StatusUnprocessableEntity || e.Status == http.StatusRequestEntityTooLarge ||
		e.Status == http.StatusBadRequest
}

// Submit sends a results document with its submission id and returns the
// collector's receipt, only once it has checked that the receipt proves
// storage: signed by the pinned collector key and naming this practice,
// this id and this body's digest. Any other answer, whatever its status
// (a proxy's 200 {"status":"ok"}, an empty 200, a 204, a page of HTML), is
// a *ReceiptError: the item stays pending and is sent again.
func (c *Client) Submit(ctx context.Context, id string, body []byte) ([]byte, error) {
	b, resp, err := c.postResp(ctx, wire.PathSubmissions, id, body)
	if err != nil {
		return nil, err
	}
	ack, err := c.checkReceipt(resp, b)
	if err == nil {
		err = ack.Matches(c.opts.Practice, id, body)
	}
	if err != nil {
		return nil, &ReceiptError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), First: firstBytes(b), Err: err}
	}
	return b, nil
}

// ReceiptError is a 2xx answer to a submission that is not a receipt
// proving storage. It is temporary: the submission is sent again.
type ReceiptError struct {
	Status      int
	ContentType string
	First       string // the answer's first bytes, printable
	Err         error
}

func (e *ReceiptError) Error() string {
	ct := e.ContentType
	if ct == "" {
		ct = "no content type"
	}
	first := e.First
	if first == "" {
		first = "an empty body"
	} else {
		first = fmt.Sprintf("%q", first)
	}
	return fmt.Sprintf("the collector's answer is not a receipt for this submission (%d, %s, %s): %v; the month stays pending. If a proxy sits between the practice and the ICB, it must pass answers through unchanged",
		e.Status, ct, first, e.Err)
}

func (e *ReceiptError) Unwrap() error { return e.Err }

func firstBytes(b []byte) string {
	const n = 80
	if len(b) > n {
		b = b[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '.'
		}
		return r
	}, string(b))
}

// checkReceipt decodes and verifies a receipt answer.
func (c *Client) checkReceipt(resp *http.Response, b []byte) (wire.Ack, error) {
	var a wire.Ack
	if len(c.opts.CollectorKey) != ed25519.PublicKeySize {
		return a, fmt.Errorf("%w: no collector key is pinned (enrol again, or let the agent pin it from the collector's receipt list)", wire.ErrReceipt)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return a, fmt.Errorf("%w: it is not JSON", wire.ErrReceipt)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("%w: %v", wire.ErrReceipt, err)
	}
	if err := wire.VerifyReceipt(a, c.opts.CollectorKey); err != nil {
		return a, err
	}
	return a, nil
}

// Receipts asks the collector which submissions it holds for the practice
// (a signed GET) and verifies the signed list against the pinned key.
func (c *Client) Receipts(ctx context.Context) (*wire.Receipts, error) {
	b, resp, err := c.do(ctx, http.MethodGet, wire.ReceiptsPath(c.opts.Practice), "", nil)
	if err != nil {
		return nil, err
	}
	var r wire.Receipts
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, &ReceiptError{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), First: firstBytes(b),
			Err: fmt.Errorf("%w: the receipt list does not decode: %v", wire.ErrReceipt, err)}
	}
	key := c.opts.CollectorKey
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: no collector key is pinned", wire.ErrReceipt)
	}
	if err := wire.VerifyReceipts(r, key); err != nil {
		return nil, err
	}
	if r.Practice != c.opts.Practice {
		return nil, fmt.Errorf("%w: the receipt list is for practice %q", wire.ErrReceipt, r.Practice)
	}
	return &r, nil
}

// Schemes asks the collector which incentive schemes include the practice,
// with the baseline and pack versions each pays on (a signed GET).
func (c *Client) Schemes(ctx context.Context) (*wire.PracticeSchemes, error) {
	b, resp, err := c.do(ctx, http.MethodGet, wire.PracticeSchemesPath(c.opts.Practice), "", nil)
	if err != nil {
		return nil, err
	}
	var ps wire.PracticeSchemes
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("the collector's list of schemes does not decode (%d, %s, %q): %w",
			resp.StatusCode, resp.Header.Get("Content-Type"), firstBytes(b), err)
	}
	return &ps, nil
}

// CollectorKeyFromReceipts fetches the receipt list and returns the
// collector key it names, for an agent enrolled before receipts were
// signed to pin on first use (over the verified TLS connection).
func (c *Client) CollectorKeyFromReceipts(ctx context.Context) (ed25519.PublicKey, error) {
	b, _, err := c.do(ctx, http.MethodGet, wire.ReceiptsPath(c.opts.Practice), "", nil)
	if err != nil {
		return nil, err
	}
	var r wire.Receipts
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: the receipt list does not decode: %v", wire.ErrReceipt, err)
	}
	pub, err := base64.StdEncoding.DecodeString(r.CollectorKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: the receipt list names no collector key", wire.ErrReceipt)
	}
	if err := wire.VerifyReceipts(r, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// PinnedKey returns the collector key the client checks receipts with.
func (c *Client) PinnedKey() ed25519.PublicKey { return c.opts.CollectorKey }

// Pin sets the collector key the client checks receipts with.
func (c *Client) Pin(pub ed25519.PublicKey) { c.opts.CollectorKey = pub }

// CollectorTime estimates the collector's clock now from the Date header
// of its latest answer; ok is false before any answer.
func (c *Client) CollectorTime() (t time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clockAt.IsZero() {
		return time.Time{}, false
	}
	return c.clockAt.Add(c.opts.Now().Sub(c.clockSeen)), true
}

func (c *Client) noteClock(resp *http.Response) {
	t, err := http.ParseTime(resp.Header.Get(wire.HeaderDate))
	if err != nil {
		return
	}
	c.mu.Lock()
	c.clockAt, c.clockSeen = t, c.opts.Now()
	c.mu.Unlock()
}

// Heartbeat tells the collector the agent is alive.
func (c *Client) Heartbeat(ctx context.Context, hb wire.Heartbeat) error {
	body, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	_, err = c.post(ctx, wire.PathHeartbeats, "", body)
	return err
}

// Enrol registers the practice's public key with a one-time code.
func (c *Client) Enrol(ctx context.Context, code string) (*wire.EnrolResponse, error) {
	pub := c.opts.Key.Public().(ed25519.PublicKey)
	body, err := json.Marshal(wire.EnrolRequest{
		Code: code, Practice: c.opts.Practice,
		PublicKey:    encodeKey(pub),
		AgentVersion: buildinfo.String(),
	})
	if err != nil {
		return nil, err
	}
	b, err := c.post(ctx, wire.PathEnrol, "", body)
	if err != nil {
		return nil, err
	}
	var r wire.EnrolResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("enrol: collector answer: %w", err)
	}
	if r.CollectorKey != "" {
		pub, err := base64.StdEncoding.DecodeString(r.CollectorKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("enrol: the collector's receipt key in its answer is not an ed25519 public key")
		}
		c.opts.CollectorKey = pub
	}
	return &r, nil
}

// Ping checks that the collector answers at all (any HTTP status).
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach collector at %s: %w", c.base.Redacted(), err)
	}
	resp.Body.Close()
	return nil
}

func (c *Client) post(ctx context.Context, path, key string, body []byte) ([]byte, error) {
	b, _, err := c.postResp(ctx, path, key, body)
	return b, err
}

func (c *Client) postResp(ctx context.Context, path, key string, body []byte) ([]byte, *http.Response, error) {
	return c.do(ctx, http.MethodPost, path, key, body)
}

// do sends a signed request with retries and returns a 2xx answer's body
// (up to 1 MiB) and response, or an *Error.
func (c *Client) do(ctx context.Context, method, path, key string, body []byte) ([]byte, *http.Response, error) {
	var rdr any
	if body != nil {
		rdr = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, c.base.String()+path, rdr)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "steward-agent/"+buildinfo.String())
	req.Header.Set(wire.HeaderAgentVersion, buildinfo.String())
	if key != "" {
		req.Header.Set(wire.HeaderIdempotencyKey, key)
	}
	sign := func(r *http.Request) error {
		wire.Sign(r, c.opts.Key, c.opts.Practice, body, c.opts.Now())
		return nil
	}
	_ = sign(req.Request)
	resp, err := c.retrying(sign).Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", strings.ToLower(method), path, err)
	}
	defer resp.Body.Close()
	c.noteClock(resp)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resp, fmt.Errorf("%s %s: read answer: %w", strings.ToLower(method), path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, resp, nil
	}
	e := &Error{Status: resp.StatusCode}
	_ = json.Unmarshal(b, &e.Problem)
	return nil, resp, e
}
