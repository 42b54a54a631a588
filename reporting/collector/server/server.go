// Package server is steward-collector's HTTP service: the agent API under
// /v1 (enrolment, signed submissions and heartbeats, the search-bundle
// repository) and the browser pages of collector/web, with graceful
// shutdown.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/catalogue"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/wire"
)

// Store is what the server needs from storage; *store.DB implements it.
type Store interface {
	web.Store
	Practice(ctx context.Context, ods string) (collector.Practice, error)
	Enrol(ctx context.Context, ods, codeHash string, pub []byte, keyID string, now time.Time) (collector.Practice, error)
	Ingest(ctx context.Context, sub collector.Submission) (store.IngestResult, error)
	RecordHeartbeat(ctx context.Context, hb collector.Heartbeat) error
	CurrentSubmissions(ctx context.Context, f store.SubmissionFilter) ([]collector.Submission, error)
}

var _ Store = (*store.DB)(nil)

// Options configure a Server.
type Options struct {
	Store  Store
	Logger *slog.Logger // nil: slog.Default()
	// MaxRequestBytes limits request bodies (413 beyond it).
	MaxRequestBytes int64
	// SessionLifetime is how long a browser sign-in lasts.
	SessionLifetime time.Duration
	// SecureCookies marks cookies Secure; set it whenever users reach the
	// collector over HTTPS (directly or through a proxy).
	SecureCookies bool
	// Claims shows schemes' payments on the dashboard and moves claims;
	// nil hides them.
	Claims web.Claims
	// SignIn bounds the browser sign-in's password checks and guessing.
	SignIn web.SignInLimits
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Schemes tells agents which schemes include their practice; nil:
	// Claims, when it can (*claims.Service can), else none.
	Schemes PracticeSchemes
	// Bundles is the search-bundle repository to serve (*tufrepo.Repo);
	// nil serves none. Its metadata and bundles are served to agents under
	// wire.PathTUF, and users who may publish (collector.CanPublishBundles)
	// upload releases to wire.PathBundles with an API token.
	Bundles Bundles
	// ReceiptKey signs the receipts the collector gives for stored
	// submissions; agents pin its public half at enrolment. nil: a key
	// made for this process alone (tests), with a warning, since agents
	// enrolled against it cannot verify receipts after a restart.
	ReceiptKey ed25519.PrivateKey
	// Packs holds each submission to the pack version it names; nil: a
	// catalogue of the built-in packs and, when Bundles is a
	// *tufrepo.Repo, of every bundle it holds.
	Packs Packs
}

// Route is one method and path the server answers.
type Route struct {
	Method, Path string
	handler      http.HandlerFunc
}

// Server serves the collector's HTTP interface.
type Server struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	web    *web.Web
	packs  Packs
	routes []Route
	mux    *http.ServeMux
}

// New returns a server for opts.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.MaxRequestBytes <= 0 {
		s.opts.MaxRequestBytes = 1 << 20
	}
	if s.opts.ReceiptKey == nil {
		_, s.opts.ReceiptKey, _ = ed25519.GenerateKey(nil)
		s.log.Warn("no receipt key configured: receipts are signed with a key that lasts only as long as this process")
	}
	if s.opts.Schemes == nil {
		s.opts.Schemes, _ = opts.Claims.(PracticeSchemes)
	}
	s.packs = opts.Packs
	if s.packs == nil {
		src, _ := opts.Bundles.(catalogue.Source)
		s.packs = catalogue.New(src, s.log)
	}
	releases, _ := opts.Bundles.(web.Releases) // *tufrepo.Repo: the authors' pilots and withdrawals
	s.web = web.New(web.Options{
		Store: opts.Store, Claims: opts.Claims, Logger: s.log, SessionLifetime: opts.SessionLifetime,
		SecureCookies: opts.SecureCookies, Now: s.now, SignIn: opts.SignIn, Releases: releases, Packs: s.packs,
	})
	s.routes = []Route{
		{"GET", "/healthz", s.healthz},
		{"POST", "/v1/enrol", s.enrol},
		{"POST", "/v1/submissions", s.submit},
		{"POST", "/v1/heartbeats", s.heartbeat},
		{"GET", wire.PathReceipts, s.receipts},
		{"GET", wire.PathPracticeSchemes, s.practiceSchemes},
	}
	if opts.Bundles != nil {
		files := opts.Bundles.Handler().ServeHTTP
		s.routes = append(s.routes,
			Route{"GET", wire.PathTUF + "{file}", files},
			Route{"GET", wire.PathTUF + "targets/{pack}/{file}", files},
			Route{"POST", wire.PathBundles, opts.Bundles.PublishHandler(s.mayPublish).ServeHTTP},
		)
	}
	for _, r := range s.web.Routes() {
		s.routes = append(s.routes, Route{Method: r.Method, Path: r.Path, handler: r.Handler})
	}
	s.mux = http.NewServeMux()
	for _, r := range s.routes {
		pattern := r.Method + " " + r.Path
		if r.Path == "/" {
			pattern += "{$}"
		}
		s.mux.HandleFunc(pattern, r.handler)
	}
	return s
}

// Routes lists every method and path the server registers.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Web returns the browser side, for registering more pages.
func (s *Server) Web() *web.Web { return s.web }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		// The collector's clock, from which agents decide a month has
		// ended (net/http would write the machine's own).
		h.Set("Date", s.now().UTC().Format(http.TimeFormat))
		// A browser asking for a page that does not exist gets the
		// dashboard's own page, not the mux's bare text; the API, and
		// a method a path does not take (405), answer as they always did.
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/v1/") && strings.Contains(r.Header.Get("Accept"), "text/html") {
			if _, pattern := s.mux.Handler(r); pattern == "" {
				post := r.Clone(r.Context())
				post.Method = http.MethodPost
				if _, p := s.mux.Handler(post); p == "" {
					s.web.NotFound(w, r)
					return
				}
			}
		}
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// TLS names the certificate and key files to serve HTTPS with.
type TLS struct{ Cert, Key string }

// ErrRequestsCutOff is returned by Serve when requests were still in flight
// at the shutdown timeout and had to be cut off. None of them was
// acknowledged: an agent retries its submission and gets the original
// answer if it was stored.
var ErrRequestsCutOff = errors.New("requests still in flight at the shutdown timeout were cut off")

// cutOffGrace bounds how long Serve waits, after cutting requests off, for
// their handlers to return (they stop at the next read, write or store call).
const cutOffGrace = 10 * time.Second

// Serve answers requests on ln until ctx is cancelled, then stops accepting
// connections, lets requests in flight finish (at most shutdownTimeout) and
// returns once no handler is running. With tls set it serves HTTPS. The
// caller closes the store after Serve returns.
//
// A request still running at the timeout is cut off: its connection is
// closed and store work it has not yet handed to a commit is cancelled, so
// it is never acknowledged; Serve then returns an error wrapping
// ErrRequestsCutOff. A submission is acknowledged only after its commit, so
// whatever Serve returns, every acknowledged submission is stored.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tls *TLS, shutdownTimeout time.Duration) error {
	defer ln.Close() // http.Server closes it too, unless it stopped before it began
	// Requests outlive ctx (shutdown lets them finish) but not a cut-off.
	hard, cutOff := context.WithCancel(context.WithoutCancel(ctx))
	defer cutOff()
	var flight inFlight
	h := s.Handler()
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			flight.enter()
			defer flight.leave()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithValue(hard, cutOffKey{}, hard) },
	}
	errc := make(chan error, 1)
	go func() {
		if tls != nil {
			errc <- hs.ServeTLS(ln, tls.Cert, tls.Key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new connections, finishing requests in flight",
		"in_flight", flight.count(), "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		n := flight.count()
		s.log.Warn("shutdown timeout: cutting off requests still in flight; none of them is acknowledged",
			"in_flight", n, "timeout", shutdownTimeout)
		hs.Close()
		cutOff()
		select {
		case <-flight.drained():
		case <-time.After(cutOffGrace):
			s.log.Error("requests cut off at shutdown are still running", "in_flight", flight.count())
		}
		return fmt.Errorf("shut down: %w (%d in a handler after %s)", ErrRequestsCutOff, n, shutdownTimeout)
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// cutOffKey holds, in every request's context, the context that is
// cancelled when Serve cuts requests off.
type cutOffKey struct{}

// storeContext is the context for r's store work. It is not cancelled when
// the client hangs up (work that may have been stored finishes, and a retry
// is answered from it) but it is when Serve cuts requests off.
func storeContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	hard, ok := r.Context().Value(cutOffKey{}).(context.Context)
	if !ok {
		return ctx, cancel
	}
	stop := context.AfterFunc(hard, cancel)
	return ctx, func() { stop(); cancel() }
}

// inFlight counts the handlers running.
type inFlight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0, if someone waits
}

func (f *inFlight) enter() { f.mu.Lock(); f.n++; f.mu.Unlock() }

func (f *inFlight) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
}

func (f *inFlight) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

// drained returns a channel closed once no handler is running.
func (f *inFlight) drained() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan struct{})
	if f.n == 0 {
		close(c)
	} else {
		f.zero = c
	}
	return c
}
