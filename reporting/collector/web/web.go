// Package web is the collector's browser side: sign-in with sessions and
// CSRF protection, and pages rendered on the server with html/template (no
// scripts from elsewhere). The dashboard grows here: add a handler method,
// a template in templates/ and a line in Routes; wrap it in RequireUser and
// ask collector.CanSeePractice before showing a practice.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/wire"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// Store is what the web side needs from storage.
type Store interface {
	UserByName(ctx context.Context, name string) (collector.User, error)
	UserByToken(ctx context.Context, tokenHash string, now time.Time) (collector.User, error)
	CreateSession(ctx context.Context, idHash string, s collector.Session) error
	Session(ctx context.Context, idHash string, now time.Time) (collector.Session, collector.User, error)
	DeleteSession(ctx context.Context, idHash string) error
	LockLogin(ctx context.Context, subject string, until time.Time, failures int, now time.Time) error
	LoginLockedUntil(ctx context.Context, subjects []string, now time.Time) (time.Time, error)
	Practices(ctx context.Context, icb string) ([]collector.Practice, error)
	Practice(ctx context.Context, ods string) (collector.Practice, error)
	LastHeartbeats(ctx context.Context, icb string) (map[string]collector.Heartbeat, error)
	MeasureSeries(ctx context.Context, practice, pack, measureID string) ([]collector.MeasureRow, error)
	CurrentSubmission(ctx context.Context, practice, pack, asOf string) (collector.Submission, error)
	LatestMeasures(ctx context.Context, pack, icb string, measureIDs []string) ([]collector.MeasureRow, error)
	SubmissionHistory(ctx context.Context, f store.SubmissionFilter) ([]collector.Submission, error)
	ICBMeasureRows(ctx context.Context, pack, icb string, measureIDs []string) ([]collector.MeasureRow, error)
	ICBDocuments(ctx context.Context, pack, icb, asOf string) ([]store.StoredDocument, error)
}

// Cookie and form names.
const (
	SessionCookie = "steward_session"
	loginCookie   = "steward_login" // CSRF token of the sign-in form, before there is a session
	CSRFField     = "csrf_token"
	CSRFHeader    = "X-CSRF-Token"
	maxFormBytes  = 64 << 10
)

// Options configure the web side.
type Options struct {
	Store Store
	// Claims shows schemes' payments and moves claims; nil hides them.
	Claims Claims
	// Releases names the search pack versions published, in a pilot or
	// withdrawn; nil: the collector has no search-bundle repository.
	Releases        Releases
	Logger          *slog.Logger
	SessionLifetime time.Duration // 0: 12h
	SecureCookies   bool
	Now             func() time.Time
	// SignIn bounds password checks and guessing; zero fields take
	// defaults (SignInLimits).
	SignIn SignInLimits
	// CheckPassword checks a password against an encoded hash; nil:
	// auth.CheckPassword. Tests count its calls.
	CheckPassword func(encoded, password string) error
	// Packs gives the titles, order and scales of each pack version's
	// measures; nil: measures are shown by their ids, in the order stored.
	Packs Packs
	// ServiceName is the name in the page header; "" gives
	// DefaultServiceName.
	ServiceName string
}

// DefaultServiceName is the header's name of the service.
const DefaultServiceName = "Steward: opioid harm reduction"

// Packs looks up a pack version's spec; the server's catalogue
// implements it.
type Packs interface {
	Lookup(id, version string) (*results.PackSpec, error)
}

// Web serves the browser pages.
type Web struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
	// Sign-in: the pool bounding concurrent password checks, recent
	// failures, and the check itself.
	limits   SignInLimits
	pool     *hashPool
	throttle *throttle
	check    func(encoded, password string) error
}

//go:embed templates/*.html
var templateFS embed.FS

// staticFS holds the stylesheets and scripts the pages load: the vendored
// NHS.UK frontend (static/nhsuk-frontend/README.md) and Steward's own.
//
//go:embed static
var staticFS embed.FS

// staticFiles serves GET /static/{path...}: the embedded files, cached
// for a day; anything else is 404.
func (w *Web) staticFiles(rw http.ResponseWriter, r *http.Request) {
	sub, _ := fs.Sub(staticFS, "static")
	name := r.PathValue("path")
	if !fs.ValidPath(name) || strings.HasSuffix(name, "/") || name == "." {
		http.NotFound(rw, r)
		return
	}
	if st, err := fs.Stat(sub, name); err != nil || st.IsDir() {
		http.NotFound(rw, r)
		return
	}
	rw.Header().Set("Cache-Control", "public, max-age=86400")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(rw, r, sub, name)
}

// New returns the web side. It panics if the embedded templates do not
// parse, which a test catches.
func New(opts Options) *Web {
	w := &Web{opts: opts, log: opts.Logger, now: opts.Now}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.opts.SessionLifetime <= 0 {
		w.opts.SessionLifetime = 12 * time.Hour
	}
	w.pages = parsePages()
	w.limits = opts.SignIn.withDefaults()
	w.pool = newHashPool(w.limits.MemoryBudget, w.limits.Procs)
	w.throttle = newThrottle(w.limits)
	w.check = opts.CheckPassword
	if w.check == nil {
		w.check = auth.CheckPassword
	}
	return w
}

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	funcs := template.FuncMap{"agentNotes": AgentNotes, "date": When, "month": Month, "money": Money,
		"num": formatValue, "pence": func(v any) string {
			switch p := v.(type) {
			case int64:
				return Pounds(p)
			case *int64:
				if p != nil {
					return Pounds(*p)
				}
			}
			return ""
		}, "fixed": func(f *schemes.Fixed) string {
			if f == nil {
				return ""
			}
			return f.String()
		}, "int": func(p *int64) string {
			if p == nil {
				return ""
			}
			return Thousands(float64(*p), 0)
		}, "thousands": func(v float64) string { return Thousands(v, 0) }}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		pages[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return pages
}

// Route is a browser route.
type Route struct {
	Method, Path string
	Handler      http.HandlerFunc
}

// Routes lists the browser routes.
func (w *Web) Routes() []Route {
	return []Route{
		{"GET", "/login", w.loginForm},
		{"GET", "/static/{path...}", w.staticFiles},
		{"GET", "/help", w.RequireUser(w.help)},
		{"POST", "/login", w.login},
		{"POST", "/logout", w.RequireUser(w.logout)},
		{"GET", "/", w.RequireUser(w.index)},
		{"GET", "/icb", w.RequireUser(w.icbView)},
		{"GET", "/icb/series/{measure}", w.RequireUser(w.icbSeries)},
		{"GET", "/equity", w.RequireUser(w.equity)},
		{"GET", "/practices/{ods}", w.RequireUser(w.practice)},
		{"GET", "/practices/{ods}/series/{measure}", w.RequireUser(w.series)},
		{"POST", "/claims/move", w.RequireUser(w.moveClaim)},
		{"GET", "/v1/practices/{ods}/measure-reports/{as_of}", w.RequireUser(w.measureReport)},
	}
}

// Page is what every template receives.
type Page struct {
	Title string
	User  *collector.User
	CSRF  string // put in every form as csrf_token
	Error string
	Data  any
	// Service is the header's service name; Nav its links (for a signed-in
	// user); Flash a success message at the top of the page.
	Service string
	Nav     []NavLink
	Flash   string
}

// NavLink is one link of the header's navigation.
type NavLink struct {
	Href, Text string
	Current    bool
}

// navFor lists the header's links, marking the one for path.
func navFor(path string, u *collector.User) []NavLink {
	links := []NavLink{{Href: "/", Text: "Practices"}}
	if u.Role == collector.RoleAdmin || u.Role == collector.RoleICBAnalyst {
		links = append(links, NavLink{Href: "/icb", Text: "ICB view"}, NavLink{Href: "/equity", Text: "Equity"})
	}
	links = append(links, NavLink{Href: "/help", Text: "How to read this dashboard"})
	for i := range links {
		links[i].Current = links[i].Href == path
	}
	return links
}

// ContentSecurityPolicy is the policy of every page: everything from the
// collector itself (the NHS.UK frontend is served from /static/), data:
// images for the stylesheet's icons, no inline scripts or styles, no
// framing, forms only to the collector.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// Render writes the page template name with p.
func (w *Web) Render(rw http.ResponseWriter, r *http.Request, status int, name string, p Page) {
	t, ok := w.pages[name]
	if !ok {
		w.log.Error("no such template", "template", name)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	if p.User == nil {
		p.User = UserFrom(r.Context())
	}
	if p.CSRF == "" {
		p.CSRF = CSRFFrom(r.Context())
	}
	if p.Service = w.opts.ServiceName; p.Service == "" {
		p.Service = DefaultServiceName
	}
	if p.User != nil && p.Nav == nil {
		p.Nav = navFor(r.URL.Path, p.User)
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
	rw.WriteHeader(status)
	if err := t.Execute(rw, p); err != nil {
		w.log.Error("render page", "template", name, "err", err)
	}
}

// NotFound answers a request for a path the collector does not serve.
func (w *Web) NotFound(rw http.ResponseWriter, r *http.Request) {
	w.refuse(rw, r, http.StatusNotFound, "there is no page at this address: check it, or start from the overview")
}

// ErrorPage is the data of a page that says what went wrong.
type ErrorPage struct{ Title, Message string }

// refuse answers a request the page cannot serve with status and msg: an
// NHS-styled page for a browser (a request that accepts HTML), the plain
// message for anything else (scripts, curl, the tests' clients).
func (w *Web) refuse(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Error(rw, msg, status)
		return
	}
	title := map[int]string{
		http.StatusBadRequest: "There is a problem with the address", http.StatusUnauthorized: "You need to sign in",
		http.StatusForbidden: "You cannot see this page", http.StatusNotFound: "Page not found",
		http.StatusInternalServerError: "Sorry, there is a problem with the service",
	}[status]
	if title == "" {
		title = http.StatusText(status)
	}
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
		if !strings.HasSuffix(msg, ".") {
			msg += "."
		}
	}
	w.Render(rw, r, status, "error", Page{Title: title, Data: ErrorPage{Title: title, Message: msg}})
}

type ctxKey int

const (
	userKey ctxKey = iota
	csrfKey
)

// UserFrom returns the signed-in user, or nil.
func UserFrom(ctx context.Context) *collector.User {
	u, _ := ctx.Value(userKey).(*collector.User)
	return u
}

// CSRFFrom returns the session's CSRF token, or "".
func CSRFFrom(ctx context.Context) string {
	s, _ := ctx.Value(csrfKey).(string)
	return s
}

// WithUser returns ctx carrying u and csrf, for tests of handlers that sit
// behind RequireUser.
func WithUser(ctx context.Context, u *collector.User, csrf string) context.Context {
	return context.WithValue(context.WithValue(ctx, userKey, u), csrfKey, csrf)
}

func isUnsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// RequireUser authenticates the request with a session cookie or an API
// token (Authorization: Bearer), and on state-changing methods under a
// session checks the CSRF token (form field csrf_token or header
// X-CSRF-Token): 403 without it. Unauthenticated browser GETs are sent to
// /login, other requests (and any request under /v1/) get 401.
func (w *Web) RequireUser(h http.HandlerFunc) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			u, err := w.opts.Store.UserByToken(ctx, auth.HashSecret(tok), w.now())
			if err != nil {
				if !errors.Is(err, collector.ErrNotFound) {
					w.log.Error("look up api token", "err", err)
				}
				http.Error(rw, "invalid or expired API token", http.StatusUnauthorized)
				return
			}
			// A bearer token is not sent by the browser on its own: no
			// CSRF check needed.
			h(rw, r.WithContext(WithUser(ctx, &u, "")))
			return
		}
		sess, u, ok := w.session(r)
		if !ok {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/v1/") {
				http.Redirect(rw, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(rw, "sign in first", http.StatusUnauthorized)
			return
		}
		if isUnsafe(r.Method) {
			r.Body = http.MaxBytesReader(rw, r.Body, maxFormBytes)
			got := r.Header.Get(CSRFHeader)
			if got == "" {
				got = r.PostFormValue(CSRFField)
			}
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				w.log.Warn("form post without a valid CSRF token", "user", u.Name, "path", r.URL.Path)
				w.refuse(rw, r, http.StatusForbidden, "the form had expired or came from another page (missing or wrong CSRF token): reload the page and try again")
				return
			}
		}
		h(rw, r.WithContext(WithUser(ctx, &u, sess.CSRFToken)))
	}
}

func (w *Web) session(r *http.Request) (collector.Session, collector.User, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return collector.Session{}, collector.User{}, false
	}
	s, u, err := w.opts.Store.Session(r.Context(), auth.HashSecret(c.Value), w.now())
	if err != nil {
		if !errors.Is(err, collector.ErrNotFound) {
			w.log.Error("look up session", "err", err)
		}
		return s, u, false
	}
	return s, u, true
}

func (w *Web) cookie(name, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: w.opts.SecureCookies, SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else if !expires.IsZero() {
		c.Expires = expires
	}
	return c
}

func (w *Web) loginForm(rw http.ResponseWriter, r *http.Request) {
	if _, _, ok := w.session(r); ok {
		http.Redirect(rw, r, "/", http.StatusSeeOther)
		return
	}
	w.renderLogin(rw, r, http.StatusOK, "")
}

func (w *Web) renderLogin(rw http.ResponseWriter, r *http.Request, status int, msg string) {
	tok, err := auth.RandomToken(32)
	if err != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	http.SetCookie(rw, w.cookie(loginCookie, tok, w.now().Add(time.Hour)))
	w.Render(rw, r, status, "login", Page{Title: "Sign in", CSRF: tok, Error: msg})
}

func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		w.refuse(rw, r, http.StatusBadRequest, "the form could not be read")
		return
	}
	c, err := r.Cookie(loginCookie)
	form := r.PostForm.Get(CSRFField)
	if err != nil || c.Value == "" || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		w.refuse(rw, r, http.StatusForbidden, "the sign-in form had expired (missing or wrong CSRF token): reload the sign-in page and try again")
		return
	}
	name, password := r.PostForm.Get("name"), r.PostForm.Get("password")
	if fe := signInName(name, password); fe != nil {
		w.log.Warn("failed sign-in: malformed form", "field", fe.field)
		w.renderLogin(rw, r, http.StatusBadRequest, "The "+fe.field+" is not valid: "+fe.msg+".")
		return
	}
	now := w.now()
	acct, addr := AccountSubject(name), w.clientAddress(r)
	// Growing delays after failures, then a lockout: refused before any
	// password is checked, the same for every name.
	if wait := w.throttle.wait(now, acct, addr); wait > 0 {
		w.tooMany(rw, r, wait, fmt.Sprintf("Too many failed sign-ins: wait %s and try again.", roundUp(wait)))
		return
	}
	until, err := w.opts.Store.LoginLockedUntil(r.Context(), []string{acct, addr}, now)
	if err != nil {
		w.log.Error("sign in: read lockouts", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	if !until.IsZero() {
		w.tooMany(rw, r, until.Sub(now), fmt.Sprintf("Signing in is locked after too many failed attempts until %s; an administrator can unlock it sooner.",
			until.UTC().Format("15:04 UTC")))
		return
	}
	u, err := w.checkSignIn(r.Context(), name, password)
	switch {
	case errors.Is(err, errBusy):
		w.log.Warn("sign-in refused: every password check is in use", "pool", w.pool.size())
		w.tooMany(rw, r, 2*time.Second, "The collector is busy signing other people in: try again in a few seconds.")
		return
	case errors.Is(err, errWrongPassword):
		w.log.Warn("failed sign-in", "user", name, "address", strings.TrimPrefix(addr, addressPrefix))
		w.signInFailed(r.Context(), now, acct, addr)
		w.renderLogin(rw, r, http.StatusUnauthorized, "The name or password is wrong.")
		return
	case err != nil:
		w.log.Error("sign in", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	w.throttle.forget(acct)
	id, err1 := auth.RandomToken(32)
	csrf, err2 := auth.RandomToken(32)
	if err := errors.Join(err1, err2); err != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	s := collector.Session{UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(w.opts.SessionLifetime)}
	if err := w.opts.Store.CreateSession(r.Context(), auth.HashSecret(id), s); err != nil {
		w.log.Error("sign in: create session", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	w.log.Info("signed in", "user", u.Name, "role", u.Role)
	http.SetCookie(rw, w.cookie(loginCookie, "", time.Time{}))
	http.SetCookie(rw, w.cookie(SessionCookie, id, s.ExpiresAt))
	http.Redirect(rw, r, "/", http.StatusSeeOther)
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := w.opts.Store.DeleteSession(r.Context(), auth.HashSecret(c.Value)); err != nil {
			w.log.Error("sign out", "err", err)
		}
	}
	http.SetCookie(rw, w.cookie(SessionCookie, "", time.Time{}))
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

// SignInChecksAtOnce is the size of the sign-in's password-check pool.
func (w *Web) SignInChecksAtOnce() int64 { return w.pool.size() }

// roundUp says d in whole seconds, rounded up.
func roundUp(d time.Duration) time.Duration {
	return ((d + time.Second - 1) / time.Second) * time.Second
}

// PracticesFor returns the practices u may see.
func (w *Web) PracticesFor(ctx context.Context, u *collector.User) ([]collector.Practice, error) {
	icb := ""
	if u.Role != collector.RoleAdmin {
		if u.ICB == "" {
			return nil, nil
		}
		icb = u.ICB
	}
	ps, err := w.opts.Store.Practices(ctx, icb)
	if err != nil {
		return nil, fmt.Errorf("list practices: %w", err)
	}
	return collector.VisiblePractices(u, ps), nil
}

// AgentNotes lists what a practice's latest heartbeat says needs a person:
// months the agent holds back and why, and faults in its own files.
func AgentNotes(hb *collector.Heartbeat) []string {
	if hb == nil || len(hb.Body) == 0 {
		return nil
	}
	var b struct {
		Held     []wire.HeldMonth `json:"held"`
		Problems []string         `json:"problems"`
	}
	if json.Unmarshal(hb.Body, &b) != nil {
		return nil
	}
	var out []string
	for _, h := range b.Held {
		out = append(out, "held "+h.AsOf+": "+h.Reason)
	}
	return append(out, b.Problems...)
}
