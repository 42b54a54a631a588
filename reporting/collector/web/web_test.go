package web

import (
	"context"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
)

// fakeStore keeps users, sessions and practices in maps.
type fakeStore struct {
	users     map[string]collector.User
	sessions  map[string]collector.Session
	practices []collector.Practice
	subs      []collector.Submission // current submissions
	beats     map[string]collector.Heartbeat
	lockouts  map[string]time.Time // subject: until
	audit     []string             // "action subject"
}

func (f *fakeStore) Practice(_ context.Context, ods string) (collector.Practice, error) {
	for _, p := range f.practices {
		if p.ODS == ods {
			return p, nil
		}
	}
	return collector.Practice{}, collector.ErrNotFound
}

func (f *fakeStore) LastHeartbeats(context.Context, string) (map[string]collector.Heartbeat, error) {
	return f.beats, nil
}

func (f *fakeStore) MeasureSeries(_ context.Context, practice, pack, id string) ([]collector.MeasureRow, error) {
	var out []collector.MeasureRow
	for _, s := range f.subs {
		for _, m := range s.Measures {
			if s.Practice == practice && s.Pack == pack && m.MeasureID == id {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func (f *fakeStore) LatestMeasures(_ context.Context, pack, icb string, ids []string) ([]collector.MeasureRow, error) {
	latest := map[string]collector.Submission{}
	for _, s := range f.subs {
		p, err := f.Practice(context.Background(), s.Practice)
		if s.Pack != pack || err != nil || (icb != "" && p.ICB != icb) {
			continue
		}
		if s.AsOf > latest[s.Practice].AsOf {
			latest[s.Practice] = s
		}
	}
	var out []collector.MeasureRow
	for _, s := range latest {
		for _, m := range s.Measures {
			if slices.Contains(ids, m.MeasureID) {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func (f *fakeStore) CurrentSubmission(_ context.Context, practice, pack, asOf string) (collector.Submission, error) {
	for _, s := range f.subs {
		if s.Practice == practice && s.Pack == pack && s.AsOf == asOf {
			return s, nil
		}
	}
	return collector.Submission{}, collector.ErrNotFound
}

func (f *fakeStore) SubmissionHistory(_ context.Context, flt store.SubmissionFilter) ([]collector.Submission, error) {
	var out []collector.Submission
	for _, s := range f.subs {
		if (flt.Practice == "" || s.Practice == flt.Practice) && (flt.Pack == "" || s.Pack == flt.Pack) && (flt.AsOf == "" || s.AsOf == flt.AsOf) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeStore) UserByName(_ context.Context, name string) (collector.User, error) {
	u, ok := f.users[name]
	if !ok {
		return u, collector.ErrNotFound
	}
	return u, nil
}

func (f *fakeStore) UserByToken(context.Context, string, time.Time) (collector.User, error) {
	return collector.User{}, collector.ErrNotFound
}

func (f *fakeStore) CreateSession(_ context.Context, id string, s collector.Session) error {
	f.sessions[id] = s
	return nil
}

func (f *fakeStore) Session(_ context.Context, id string, now time.Time) (collector.Session, collector.User, error) {
	s, ok := f.sessions[id]
	if !ok || !now.Before(s.ExpiresAt) {
		return s, collector.User{}, collector.ErrNotFound
	}
	for _, u := range f.users {
		if u.ID == s.UserID {
			return s, u, nil
		}
	}
	return s, collector.User{}, collector.ErrNotFound
}

func (f *fakeStore) DeleteSession(_ context.Context, id string) error {
	delete(f.sessions, id)
	return nil
}

func (f *fakeStore) Practices(_ context.Context, icb string) ([]collector.Practice, error) {
	var out []collector.Practice
	for _, p := range f.practices {
		if icb == "" || p.ICB == icb {
			out = append(out, p)
		}
	}
	return out, nil
}

func newFake(t *testing.T) (*fakeStore, *Web, http.Handler) {
	t.Helper()
	hash, err := auth.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeStore{
		users: map[string]collector.User{
			"ana": {ID: 1, Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QWE", PasswordHash: hash},
			"bob": {ID: 2, Name: "bob", Role: collector.RoleAdmin, PasswordHash: hash},
		},
		sessions: map[string]collector.Session{},
		practices: []collector.Practice{
			{ODS: "Y01111", Name: "Riverside Surgery", ICB: "QWE"},
			{ODS: "Z02222", Name: "Hilltop Medical Centre", ICB: "QXY"},
		},
	}
	w := New(Options{Store: f})
	mux := http.NewServeMux()
	for _, r := range w.Routes() {
		p := r.Method + " " + r.Path
		if r.Path == "/" {
			p += "{$}"
		}
		mux.HandleFunc(p, r.Handler)
	}
	return f, w, mux
}

// session makes a session for user id directly and returns its cookie
// value and CSRF token.
func session(f *fakeStore, userID int64) (string, string) {
	id, _ := auth.RandomToken(32)
	csrf, _ := auth.RandomToken(32)
	f.sessions[auth.HashSecret(id)] = collector.Session{UserID: userID, CSRFToken: csrf, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	return id, csrf
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestAnalystSeesOnlyOwnICB(t *testing.T) {
	f, _, h := newFake(t)
	id, _ := session(f, 1)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: id})
	rec := serve(h, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "Riverside Surgery") || strings.Contains(body, "Hilltop") || strings.Contains(body, "Z02222") {
		t.Fatalf("an analyst of QWE sees:\n%s", body)
	}
	// The admin sees both.
	id, _ = session(f, 2)
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: id})
	if body := serve(h, req).Body.String(); !strings.Contains(body, "Riverside") || !strings.Contains(body, "Hilltop") {
		t.Fatalf("the admin sees:\n%s", body)
	}
}

func TestCanSeePractice(t *testing.T) {
	qwe, qxy := &collector.Practice{ODS: "Y01111", ICB: "QWE"}, &collector.Practice{ODS: "Z02222", ICB: "QXY"}
	ana := &collector.User{Role: collector.RoleICBAnalyst, ICB: "QWE"}
	tests := []struct {
		u    *collector.User
		p    *collector.Practice
		want bool
	}{
		{ana, qwe, true},
		{ana, qxy, false},
		{&collector.User{Role: collector.RoleICBAnalyst}, qwe, false},
		{&collector.User{Role: collector.RoleAdmin}, qxy, true},
		{&collector.User{Role: collector.RoleSearchAuthor, ICB: "QWE"}, qwe, false},
		{&collector.User{Role: collector.RoleICBAnalyst, ICB: "QWE", Disabled: true}, qwe, false},
		{nil, qwe, false},
	}
	for i, tc := range tests {
		if got := collector.CanSeePractice(tc.u, tc.p); got != tc.want {
			t.Errorf("%d: CanSeePractice(%+v, %s) = %t, want %t", i, tc.u, tc.p.ICB, got, tc.want)
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	_, _, h := newFake(t)
	rec := serve(h, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("GET / signed out = %d %s", rec.Code, rec.Header().Get("Location"))
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: "forged"})
	if rec := serve(h, req); rec.Code != http.StatusSeeOther {
		t.Fatalf("GET / with an unknown session = %d", rec.Code)
	}
}

func TestCSRF(t *testing.T) {
	f, _, h := newFake(t)
	id, csrf := session(f, 1)
	post := func(form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: id})
		return serve(h, req)
	}
	if rec := post(url.Values{}); rec.Code != http.StatusForbidden {
		t.Fatalf("POST /logout without a CSRF token = %d, want 403", rec.Code)
	}
	if rec := post(url.Values{CSRFField: {"wrong"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("POST /logout with a wrong CSRF token = %d, want 403", rec.Code)
	}
	if len(f.sessions) != 1 {
		t.Fatal("a refused POST ended the session")
	}
	if rec := post(url.Values{CSRFField: {csrf}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /logout with the token = %d, want 303", rec.Code)
	}
	if len(f.sessions) != 0 {
		t.Fatal("logout kept the session")
	}
}

func TestLogin(t *testing.T) {
	f, _, h := newFake(t)
	rec := serve(h, httptest.NewRequest("GET", "/login", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /login = %d", rec.Code)
	}
	var loginTok string
	for _, c := range rec.Result().Cookies() {
		if c.Name == loginCookie {
			loginTok = c.Value
		}
	}
	if loginTok == "" || !strings.Contains(rec.Body.String(), `value="`+loginTok+`"`) {
		t.Fatal("the sign-in form carries no CSRF token")
	}
	login := func(tok, cookie, password string) *httptest.ResponseRecorder {
		form := url.Values{"name": {"ana"}, "password": {password}}
		if tok != "" {
			form.Set(CSRFField, tok)
		}
		req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: loginCookie, Value: cookie})
		}
		return serve(h, req)
	}
	if rec := login("", loginTok, "a long enough password"); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-in without the CSRF field = %d, want 403", rec.Code)
	}
	if rec := login(loginTok, "", "a long enough password"); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-in without the CSRF cookie = %d, want 403", rec.Code)
	}
	if rec := login(loginTok, loginTok, "wrong password!"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "name or password is wrong") {
		t.Fatalf("wrong password = %d", rec.Code)
	}
	rec = login(loginTok, loginTok, "a long enough password")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("sign-in = %d %s", rec.Code, rec.Header().Get("Location"))
	}
	var sc *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Expires.IsZero() || len(sc.Value) < 40 {
		t.Fatalf("session cookie = %+v", sc)
	}
	if _, ok := f.sessions[sc.Value]; ok {
		t.Fatal("the session id is stored in the clear")
	}
	if _, ok := f.sessions[auth.HashSecret(sc.Value)]; !ok {
		t.Fatal("no session stored under the id's hash")
	}
}
