// Package upload delivers the agent's submissions and heartbeats to the
// collector over HTTPS with go-retryablehttp: exponential backoff with
// jitter, Retry-After honoured (within a cap) on 429 and 503, no retry of
// 4xx other than 408, 409 and 429, a bounded number of attempts per call,
// and a fresh signature on every attempt. Every request is idempotent on the
// collector side (the submission id is the Idempotency-Key), which is what
// makes retrying a POST safe.
package upload

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

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
}

// Client talks to one collector as one practice.
type Client struct {
	base *url.URL
	opts Options
	http *http.Client
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
// collector's acknowledgement body.
func (c *Client) Submit(ctx context.Context, id string, body []byte) ([]byte, error) {
	return c.post(ctx, wire.PathSubmissions, id, body)
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
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
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
		return nil, fmt.Errorf("post %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("post %s: read answer: %w", path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return b, nil
	}
	e := &Error{Status: resp.StatusCode}
	_ = json.Unmarshal(b, &e.Problem)
	return nil, e
}
