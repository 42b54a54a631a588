// Package server is steward-collector's HTTP service: the agent API under
// /v1 (enrolment, signed submissions and heartbeats) and the browser pages
// of collector/web, with graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
)

// Store is what the server needs from storage; *store.DB implements it.
type Store interface {
	web.Store
	Practice(ctx context.Context, ods string) (collector.Practice, error)
	Enrol(ctx context.Context, ods, codeHash string, pub []byte, keyID string, now time.Time) (collector.Practice, error)
	Ingest(ctx context.Context, sub collector.Submission) (store.IngestResult, error)
	RecordHeartbeat(ctx context.Context, hb collector.Heartbeat) error
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
	// Now is the clock; nil: time.Now.
	Now func() time.Time
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
	s.web = web.New(web.Options{
		Store: opts.Store, Logger: s.log, SessionLifetime: opts.SessionLifetime,
		SecureCookies: opts.SecureCookies, Now: s.now,
	})
	s.routes = []Route{
		{"GET", "/healthz", s.healthz},
		{"POST", "/v1/enrol", s.enrol},
		{"POST", "/v1/submissions", s.submit},
		{"POST", "/v1/heartbeats", s.heartbeat},
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
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// TLS names the certificate and key files to serve HTTPS with.
type TLS struct{ Cert, Key string }

// Serve answers requests on ln until ctx is cancelled, then stops accepting
// connections, lets requests in flight finish (at most shutdownTimeout) and
// returns. With tls set it serves HTTPS. The caller closes the store after
// Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tls *TLS, shutdownTimeout time.Duration) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
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
	s.log.Info("shutting down: no new connections, finishing requests in flight", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
