package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/reporting/wire"
)

// errorLog records every log line at ERROR or above.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (h *errorLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

// take returns and forgets the lines logged so far.
func (h *errorLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.lines
	h.lines = nil
	return l
}

// malformed are the values every input is driven with.
var malformed = []struct{ name, v string }{
	{"quotes", `"'"; -- <b>`},
	{"NUL", "a\x00b"},
	{"control", "a\x1b[2Jb"},
	{"overlong", strings.Repeat("x", 5000)},
	{"invalid UTF-8", "\xff\xfe\xfd"},
}

// jsonString writes v as a JSON string, escaping what JSON requires but
// leaving invalid UTF-8 as it is (encoding/json would replace it).
func jsonString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// setJSON returns body (a JSON object) with the string at path (keys
// separated by dots, array indices as numbers) replaced by raw, a JSON
// text written as is.
func setJSON(t *testing.T, body []byte, path, raw string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	const mark = "\x01MARK\x01"
	parts := strings.Split(path, ".")
	cur := v
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = mark
			} else {
				if c[p] == nil {
					c[p] = map[string]any{}
				}
				cur = c[p]
			}
		case []any:
			var n int
			fmt.Sscanf(p, "%d", &n)
			if last {
				c[n] = mark
			} else {
				cur = c[n]
			}
		default:
			t.Fatalf("setJSON: %s: %T at %s", path, cur, p)
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(out, []byte(`"\u0001MARK\u0001"`), []byte(raw), 1)
}

// inputCase is one malformed request to one route.
type inputCase struct {
	route string // "METHOD PATH" as the server registers it
	name  string
	req   func(t *testing.T) *http.Request
	// ignored: the route takes no such input and ignores the value, so
	// any answer but a 5xx will do.
	ignored bool
}

// routesEnv is a collector with every route: the agent API, the TUF
// repository, claims and the dashboard, logging to errs.
type routesEnv struct {
	*env
	srv   *server.Server
	errs  *errorLog
	agent *agent
	admin string // API token of an admin with every sign-off role
	scID  string
}

func newRoutesEnv(t *testing.T, storage string) *routesEnv {
	t.Helper()
	db := openStore(t, storage)
	errs := &errorLog{}
	f := tuftest.New(t)
	srv := server.New(server.Options{Store: db, Claims: &claims.Service{DB: db}, Logger: slog.New(errs), Bundles: f.Repo})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); db.Close() })
	e := &routesEnv{env: &env{db: db, url: ts.URL}, srv: srv, errs: errs}
	e.agent = e.enrolled(t, "Y01001", "QXX")
	_, sc := e.calculatedMarch(t)
	e.scID = sc.ID
	e.admin = e.tokenFor(t, collector.User{Name: "admin", Role: collector.RoleAdmin, ICB: "QXX",
		SignOff: []string{"practice_manager", "icb_medicines_optimisation_lead", "icb_finance"}})
	if errs := errs.take(); len(errs) > 0 {
		t.Fatalf("errors logged while setting up: %q", errs)
	}
	return e
}

func (e *routesEnv) get(t *testing.T, path string, auth bool) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.admin)
	}
	return req
}

func (e *routesEnv) form(t *testing.T, path string, f url.Values, auth bool) *http.Request {
	t.Helper()
	req := mustRequest(t, "POST", e.url+path, []byte(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth {
		req.Header.Set("Authorization", "Bearer "+e.admin)
	}
	return req
}

// signed is a request signed by the enrolled agent, with header k set to v
// afterwards when k is not "".
func (e *routesEnv) signed(t *testing.T, path, key string, body []byte, k, v string) *http.Request {
	t.Helper()
	req := e.agent.request(t, e.url, path, key, body, time.Now())
	if k != "" {
		req.Header[k] = []string{v}
	}
	return req
}

// session signs the admin in with a browser session and returns the
// cookie and its CSRF token.
func (e *routesEnv) session(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	u, err := e.db.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := auth.RandomToken(32)
	csrf, _ := auth.RandomToken(32)
	now := time.Now()
	if err := e.db.CreateSession(ctx, auth.HashSecret(id), collector.Session{UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: web.SessionCookie, Value: id}, csrf
}

// loginForm fetches the sign-in form's cookie and CSRF token.
func (e *routesEnv) loginForm(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	resp, _ := do(t, e.get(t, "/login", false))
	for _, c := range resp.Cookies() {
		if c.Name == "steward_login" {
			return c, c.Value
		}
	}
	t.Fatal("no sign-in cookie")
	return nil, ""
}

func multipartBody(t *testing.T, parts map[string][]byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for name, content := range parts {
		w, err := mw.CreateFormFile(name, "x")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
	}
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func (e *routesEnv) cases(t *testing.T) []inputCase {
	var cs []inputCase
	add := func(route, name string, req func(t *testing.T) *http.Request) {
		cs = append(cs, inputCase{route: route, name: name, req: req})
	}
	doc := document("Y01001", "2025-03-31", 41)
	hb, _ := json.Marshal(wire.Heartbeat{Practice: "Y01001", AgentVersion: "1.0.0", Pending: 1, SentAt: time.Now().UTC().Format(time.RFC3339),
		Searches: []wire.RunStatus{{Search: "medsip", Status: "ok", DurationMS: 5, Rows: 3, At: time.Now().UTC().Format(time.RFC3339)}}})
	enrol := []byte(`{"code":"AAAA-BBBB","practice":"Y01001","public_key":"` + strings.Repeat("A", 43) + `=","agent_version":"1.0.0"}`)
	seq := 0
	key := func() string { seq++; return fmt.Sprintf("input-%06d", seq) }

	for _, m := range malformed {
		v, js, pv := m.v, jsonString(m.v), url.PathEscape(m.v)
		n := m.name

		cs = append(cs, inputCase{route: "GET /healthz", name: n + " in the query", ignored: true,
			req: func(t *testing.T) *http.Request { return e.get(t, "/healthz?x="+url.QueryEscape(v), false) }})

		for _, field := range []string{"code", "practice", "public_key", "agent_version"} {
			add("POST /v1/enrol", n+" in "+field, func(t *testing.T) *http.Request {
				return mustRequest(t, "POST", e.url+wire.PathEnrol, setJSON(t, enrol, field, js))
			})
		}

		for _, path := range []string{"practice", "pack.id", "pack.version", "as_of", "baseline", "generated_at", "measures.0.id", "measures.0.kind",
			"measures.0.title", "measures.0.at", "parameters.high_dose_mg_per_day", "producer.name", "producer.version", "producer.profile"} {
			add("POST /v1/submissions", n+" in "+path, func(t *testing.T) *http.Request {
				return e.signed(t, wire.PathSubmissions, key(), setJSON(t, doc, path, js), "", "")
			})
		}
		add("POST /v1/submissions", n+" in a stratum", func(t *testing.T) *http.Request {
			body := setJSON(t, doc, "measures.2.strata", `[{"dimension":"sex","cells":[{"stratum":`+js+`,"value":10}]}]`)
			return e.signed(t, wire.PathSubmissions, key(), body, "", "")
		})
		add("POST /v1/submissions", n+" in a run", func(t *testing.T) *http.Request {
			body := setJSON(t, doc, "runs", `[{"search":`+js+`,"duration_ms":1,"rows":1,"status":"ok"}]`)
			return e.signed(t, wire.PathSubmissions, key(), body, "", "")
		})
		add("POST /v1/submissions", n+" in a reference", func(t *testing.T) *http.Request {
			body := setJSON(t, doc, "references", `[{"kind":"codelist","name":`+js+`,"version":"1"}]`)
			return e.signed(t, wire.PathSubmissions, key(), body, "", "")
		})
		add("POST /v1/submissions", n+" as a parameter name", func(t *testing.T) *http.Request {
			return e.signed(t, wire.PathSubmissions, key(), setJSON(t, doc, "parameters", `{`+js+`:"1"}`), "", "")
		})

		for _, path := range []string{"practice", "agent_version", "bundle_version", "last_run", "sent_at", "searches.0.search", "searches.0.status", "searches.0.at"} {
			add("POST /v1/heartbeats", n+" in "+path, func(t *testing.T) *http.Request {
				return e.signed(t, wire.PathHeartbeats, "", setJSON(t, hb, path, js), "", "")
			})
		}
		if n != "quotes" { // the agent's own words may quote
			add("POST /v1/heartbeats", n+" as a problem", func(t *testing.T) *http.Request {
				return e.signed(t, wire.PathHeartbeats, "", setJSON(t, hb, "problems", `[`+js+`]`), "", "")
			})
			add("POST /v1/heartbeats", n+" as a held month's reason", func(t *testing.T) *http.Request {
				return e.signed(t, wire.PathHeartbeats, "", setJSON(t, hb, "held", `[{"as_of":"2025-03-31","reason":`+js+`}]`), "", "")
			})
		}
		add("POST /v1/heartbeats", n+" as a held month", func(t *testing.T) *http.Request {
			return e.signed(t, wire.PathHeartbeats, "", setJSON(t, hb, "held", `[{"as_of":`+js+`,"reason":"held"}]`), "", "")
		})
		for pattern, format := range map[string]string{
			"GET " + wire.PathReceipts:        "/v1/practices/%s/receipts",
			"GET " + wire.PathPracticeSchemes: "/v1/practices/%s/schemes",
		} {
			add(pattern, n+" as the practice in the path", func(t *testing.T) *http.Request {
				req := mustRequest(t, "GET", e.url+fmt.Sprintf(format, url.PathEscape(v)), nil)
				wire.Sign(req, e.agent.priv, e.agent.ods, nil, time.Now())
				return req
			})
			if n != "NUL" && n != "control" {
				for _, h := range []string{wire.HeaderPractice, wire.HeaderTimestamp, wire.HeaderSignature} {
					add(pattern, n+" in "+h, func(t *testing.T) *http.Request {
						req := mustRequest(t, "GET", e.url+fmt.Sprintf(format, e.agent.ods), nil)
						wire.Sign(req, e.agent.priv, e.agent.ods, nil, time.Now())
						req.Header[h] = []string{v}
						return req
					})
				}
			}
		}

		// Headers: the client refuses NUL and control characters in a
		// header, so no server ever sees them.
		if n != "NUL" && n != "control" {
			for _, h := range []string{wire.HeaderIdempotencyKey, wire.HeaderAgentVersion, wire.HeaderPractice, wire.HeaderTimestamp, wire.HeaderSignature} {
				add("POST /v1/submissions", n+" in "+h, func(t *testing.T) *http.Request {
					return e.signed(t, wire.PathSubmissions, key(), doc, h, v)
				})
				if h != wire.HeaderIdempotencyKey && h != wire.HeaderAgentVersion {
					add("POST /v1/heartbeats", n+" in "+h, func(t *testing.T) *http.Request {
						return e.signed(t, wire.PathHeartbeats, "", hb, h, v)
					})
				}
			}
			add("POST /v1/bundles", n+" as the API token", func(t *testing.T) *http.Request {
				body, ct := multipartBody(t, map[string][]byte{"targets": []byte(`{}`)})
				req := mustRequest(t, "POST", e.url+wire.PathBundles, body)
				req.Header.Set("Content-Type", ct)
				req.Header["Authorization"] = []string{"Bearer " + v}
				return req
			})
			add("GET /v1/practices/{ods}/measure-reports/{as_of}", n+" as the API token", func(t *testing.T) *http.Request {
				req := e.get(t, "/v1/practices/Y01001/measure-reports/2027-03-31", false)
				req.Header["Authorization"] = []string{"Bearer " + v}
				return req
			})
		}

		add("GET "+wire.PathTUF+"{file}", n+" as the file", func(t *testing.T) *http.Request {
			return e.get(t, wire.PathTUF+pv, false)
		})
		add("GET "+wire.PathTUF+"targets/{pack}/{file}", n+" as the pack", func(t *testing.T) *http.Request {
			return e.get(t, wire.PathTUF+"targets/"+pv+"/"+strings.Repeat("0", 64)+".1.tar.gz", false)
		})
		add("GET "+wire.PathTUF+"targets/{pack}/{file}", n+" as the file", func(t *testing.T) *http.Request {
			return e.get(t, wire.PathTUF+"targets/medsip/"+pv, false)
		})
		add("POST /v1/bundles", n+" in targets.json", func(t *testing.T) *http.Request {
			body, ct := multipartBody(t, map[string][]byte{"targets": []byte(`{"signed":{"_type":` + js + `},"signatures":[]}`)})
			req := mustRequest(t, "POST", e.url+wire.PathBundles, body)
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			return req
		})
		add("POST /v1/bundles", n+" as a part name", func(t *testing.T) *http.Request {
			body, ct := multipartBody(t, map[string][]byte{v: []byte(`{}`)})
			req := mustRequest(t, "POST", e.url+wire.PathBundles, body)
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			return req
		})

		cs = append(cs, inputCase{route: "GET /login", name: n + " in the query", ignored: true,
			req: func(t *testing.T) *http.Request { return e.get(t, "/login?next="+url.QueryEscape(v), false) }})
		for _, field := range []string{"name", "password", "csrf_token"} {
			add("POST /login", n+" as the "+field, func(t *testing.T) *http.Request {
				c, tok := e.loginForm(t)
				f := url.Values{"name": {"admin"}, "password": {"not it"}, "csrf_token": {tok}}
				f.Set(field, v) // any text may be a password: a wrong one is 401

				req := e.form(t, "/login", f, false)
				req.AddCookie(c)
				return req
			})
		}
		add("POST /logout", n+" as the csrf_token", func(t *testing.T) *http.Request {
			c, _ := e.session(t)
			req := e.form(t, "/logout", url.Values{"csrf_token": {v}}, false)
			req.AddCookie(c)
			return req
		})
		add("POST /logout", n+" as the X-CSRF-Token", func(t *testing.T) *http.Request {
			h := v
			if n == "NUL" || n == "control" {
				h = "x" // headers cannot carry them
			}
			c, _ := e.session(t)
			req := e.form(t, "/logout", nil, false)
			req.AddCookie(c)
			req.Header[web.CSRFHeader] = []string{h}
			return req
		})
		for _, q := range []string{"scheme", "period"} {
			add("GET /", n+" as ?"+q, func(t *testing.T) *http.Request {
				return e.get(t, "/?"+q+"="+url.QueryEscape(v), true)
			})
		}
		add("GET /practices/{ods}", n+" as the practice", func(t *testing.T) *http.Request {
			return e.get(t, "/practices/"+pv, true)
		})
		add("GET /practices/{ods}", n+" as ?pack", func(t *testing.T) *http.Request {
			return e.get(t, "/practices/Y01001?pack="+url.QueryEscape(v), true)
		})
		add("GET /static/{path...}", n+" as the path", func(t *testing.T) *http.Request {
			return e.get(t, "/static/"+pv, false)
		})
		add("GET /static/{path...}", n+" under nhsuk-frontend", func(t *testing.T) *http.Request {
			return e.get(t, "/static/nhsuk-frontend/"+pv, false)
		})
		for _, q := range []string{"measure", "icb"} {
			add("GET /equity", n+" as ?"+q, func(t *testing.T) *http.Request {
				return e.get(t, "/equity?"+q+"="+url.QueryEscape(v), true)
			})
		}
		for _, q := range []string{"icb", "pcn"} {
			add("GET /icb", n+" as ?"+q, func(t *testing.T) *http.Request {
				return e.get(t, "/icb?"+q+"="+url.QueryEscape(v), true)
			})
			add("GET /icb/series/{measure}", n+" as ?"+q, func(t *testing.T) *http.Request {
				return e.get(t, "/icb/series/long_term?"+q+"="+url.QueryEscape(v), true)
			})
		}
		add("GET /icb/series/{measure}", n+" as the measure", func(t *testing.T) *http.Request {
			return e.get(t, "/icb/series/"+pv, true)
		})
		cs = append(cs, inputCase{route: "GET /help", name: n + " in the query", ignored: true,
			req: func(t *testing.T) *http.Request { return e.get(t, "/help?x="+url.QueryEscape(v), true) }})
		add("GET /practices/{ods}/series/{measure}", n+" as the practice", func(t *testing.T) *http.Request {
			return e.get(t, "/practices/"+pv+"/series/long_term", true)
		})
		add("GET /practices/{ods}/series/{measure}", n+" as the measure", func(t *testing.T) *http.Request {
			return e.get(t, "/practices/Y01001/series/"+pv, true)
		})
		add("GET /practices/{ods}/series/{measure}", n+" as ?pack", func(t *testing.T) *http.Request {
			return e.get(t, "/practices/Y01001/series/long_term?pack="+url.QueryEscape(v), true)
		})
		for _, field := range []string{"scheme", "period", "practice", "to", "reason", "version"} {
			add("POST /claims/move", n+" as the "+field, func(t *testing.T) *http.Request {
				f := url.Values{"scheme": {e.scID}, "period": {"2027-03"}, "practice": {"Y01001"}, "to": {"paid"}, "version": {"1"}}
				f.Set(field, v)
				return e.form(t, "/claims/move", f, true)
			})
		}
		add("POST /claims/move", n+" as the csrf_token of a session", func(t *testing.T) *http.Request {
			c, _ := e.session(t)
			f := url.Values{"scheme": {e.scID}, "period": {"2027-03"}, "practice": {"Y01001"}, "to": {"declared"}, "version": {"1"}, "csrf_token": {v}}
			req := e.form(t, "/claims/move", f, false)
			req.AddCookie(c)
			return req
		})
		add("GET /v1/practices/{ods}/measure-reports/{as_of}", n+" as the practice", func(t *testing.T) *http.Request {
			return e.get(t, "/v1/practices/"+pv+"/measure-reports/2027-03-31", true)
		})
		add("GET /v1/practices/{ods}/measure-reports/{as_of}", n+" as the date", func(t *testing.T) *http.Request {
			return e.get(t, "/v1/practices/Y01001/measure-reports/"+pv, true)
		})
		add("GET /v1/practices/{ods}/measure-reports/{as_of}", n+" as ?pack", func(t *testing.T) *http.Request {
			return e.get(t, "/v1/practices/Y01001/measure-reports/2027-03-31?pack="+url.QueryEscape(v), true)
		})
	}

	// JSON bodies: duplicate keys, wrong types, not JSON at all.
	dupe := func(body []byte, at string) []byte {
		// Repeat the first member of the object at the top level.
		return []byte(strings.Replace(string(body), "{", "{"+at+",", 1))
	}
	for name, body := range map[string][]byte{
		"duplicate key":           dupe(enrol, `"practice":"Y09999"`),
		"duplicate key but case":  dupe(enrol, `"PRACTICE":"Y09999"`),
		"wrong type":              setJSON(t, enrol, "code", `5`),
		"array":                   []byte(`[1,2]`),
		"invalid UTF-8 outside":   append([]byte("\xff"), enrol...),
		"empty":                   nil,
		"trailing":                append(append([]byte{}, enrol...), "{}"...),
		"deep":                    []byte(strings.Repeat("[", 5000) + strings.Repeat("]", 5000)),
		"number as the whole":     []byte(`1e999`),
		"unknown field with NULs": setJSON(t, enrol, "extra\x00", `1`),
	} {
		add("POST /v1/enrol", name, func(t *testing.T) *http.Request { return mustRequest(t, "POST", e.url+wire.PathEnrol, body) })
	}
	for name, body := range map[string][]byte{
		// The issue: a patient-level field under a duplicate key.
		"nhs_number under a duplicate key": dupe(doc, `"parameters":{"nhs_number":"9434765919"}`),
		"duplicate key deep":               []byte(strings.Replace(string(doc), `"value":41`, `"value":41,"value":40`, 1)),
		"duplicate key but case":           dupe(doc, `"Practice":"Y01001"`),
		"value as a string":                []byte(strings.Replace(string(doc), `"value":41`, `"value":"41"`, 1)),
		"measures as an object":            setJSON(t, doc, "measures", `{}`),
		"parameters as an array":           setJSON(t, doc, "parameters", `["1"]`),
		"huge number":                      []byte(strings.Replace(string(doc), `"value":41`, `"value":1e400`, 1)),
		"negative count":                   []byte(strings.Replace(string(doc), `"value":41`, `"value":-41`, 1)),
		"NHS number in a title":            setJSON(t, doc, "measures.0.title", `"943 476 5919"`),
		"date of birth in a stratum":       setJSON(t, doc, "measures.2.strata", `[{"dimension":"sex","cells":[{"stratum":"12/03/1950","value":10}]}]`),
		"unknown pack version":             setJSON(t, doc, "pack.version", `"2099.1.0"`),
		"measure not in the pack":          setJSON(t, doc, "measures.0.id", `"made_up"`),
		"title not the pack's":             setJSON(t, doc, "measures.0.title", `"Click here"`),
		"numerator above denominator":      setJSON(t, doc, "measures.4.numerator", `99`),
		"invalid UTF-8 outside strings":    append([]byte("\xef"), doc...),
		"not JSON":                         []byte("measures=1"),
	} {
		add("POST /v1/submissions", name, func(t *testing.T) *http.Request {
			return e.signed(t, wire.PathSubmissions, key(), body, "", "")
		})
	}
	for name, body := range map[string][]byte{
		"duplicate key":    dupe(hb, `"agent_version":"9"`),
		"pending a string": setJSON(t, hb, "pending", `"1"`),
		"negative pending": setJSON(t, hb, "pending", `-1`),
		"searches object":  setJSON(t, hb, "searches", `{}`),
		"bad duration":     setJSON(t, hb, "searches.0.duration_ms", `-5`),
		"not JSON":         []byte("pending=1"),
	} {
		add("POST /v1/heartbeats", name, func(t *testing.T) *http.Request {
			return e.signed(t, wire.PathHeartbeats, "", body, "", "")
		})
	}
	for name, targets := range map[string][]byte{
		"duplicate key": []byte(`{"signed":{"_type":"targets"},"signed":{"_type":"targets"},"signatures":[]}`),
		"wrong types":   []byte(`{"signed":5,"signatures":"x"}`),
		"not JSON":      []byte(`targets`),
	} {
		add("POST /v1/bundles", name+" in targets.json", func(t *testing.T) *http.Request {
			body, ct := multipartBody(t, map[string][]byte{"targets": targets})
			req := mustRequest(t, "POST", e.url+wire.PathBundles, body)
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+e.admin)
			return req
		})
	}
	add("POST /v1/bundles", "not multipart", func(t *testing.T) *http.Request {
		req := mustRequest(t, "POST", e.url+wire.PathBundles, []byte(`{}`))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		return req
	})
	for name, f := range map[string]url.Values{
		"period outside the scheme": {"period": {"1999-01"}},
		"unknown scheme":            {"scheme": {"no-such-scheme"}},
		"version not a number":      {"version": {"1.5"}},
		"month 13":                  {"period": {"2027-13"}},
	} {
		add("POST /claims/move", name, func(t *testing.T) *http.Request {
			form := url.Values{"scheme": {e.scID}, "period": {"2027-03"}, "practice": {"Y01001"}, "to": {"paid"}, "version": {"1"}}
			for k, v := range f {
				form[k] = v
			}
			return e.form(t, "/claims/move", form, true)
		})
	}
	return cs
}

// TestEveryRouteRefusesMalformedInput drives every route the collector
// serves, and every form, with malformed values (quotes, NUL, control
// characters, overlong, invalid UTF-8; in JSON bodies also repeated keys
// and wrong types): each gets a 4xx, never a 5xx, and nothing is logged at
// ERROR. A route added without cases here fails the test.
func TestEveryRouteRefusesMalformedInput(t *testing.T) {
	for name, storage := range engines {
		t.Run(name, func(t *testing.T) {
			e := newRoutesEnv(t, storage(t))
			cases := e.cases(t)
			covered := map[string]int{}
			for _, c := range cases {
				covered[c.route]++
			}
			for _, r := range e.srv.Routes() {
				if covered[r.Method+" "+r.Path] == 0 {
					t.Errorf("route %s %s has no malformed-input cases: add them to cases", r.Method, r.Path)
				}
				delete(covered, r.Method+" "+r.Path)
			}
			for route := range covered {
				t.Errorf("cases for %s, which the server does not register", route)
			}
			noRedirect := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for _, c := range cases {
				req := c.req(t)
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Errorf("%s, %s: %v", c.route, c.name, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode >= 500:
					t.Errorf("%s, %s: %d %.300s", c.route, c.name, resp.StatusCode, body)
				case !c.ignored && (resp.StatusCode < 400 || resp.StatusCode >= 500):
					t.Errorf("%s, %s: %d, want a 4xx (%.300s)", c.route, c.name, resp.StatusCode, body)
				}
				if errs := e.errs.take(); len(errs) > 0 {
					t.Errorf("%s, %s: logged at ERROR: %q", c.route, c.name, errs)
				}
			}
			// Nothing malformed was stored.
			hist, err := e.db.SubmissionHistory(ctx, store.SubmissionFilter{})
			if err != nil || len(hist) != 1 {
				t.Errorf("%d submissions stored, want only the set-up one: %v", len(hist), err)
			}
			t.Logf("%d malformed requests to %d routes", len(cases), len(e.srv.Routes()))
		})
	}
}
