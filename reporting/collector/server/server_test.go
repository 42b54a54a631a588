package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/server/servertest"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/wire"
)

var ctx = context.Background()

// quiet drops the server log in tests.
var quiet = slog.New(slog.DiscardHandler)

// engines are the stores every API test runs on.
var engines = map[string]func(t testing.TB) string{
	"SQLite":   func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "collector.db") },
	"Postgres": func(t testing.TB) string { return pgtest.NewDB(t) },
}

func openStore(t testing.TB, storage string) *store.DB {
	t.Helper()
	db, err := store.Open(ctx, storage)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

type env struct {
	db  *store.DB
	url string
}

// serving is a collector answering on a loopback listener through Serve,
// as steward-collector serve runs it.
type serving struct {
	addr, url string
	cancel    context.CancelFunc // begins the shutdown
	done      chan error         // Serve's result
	once      sync.Once
	err       error
}

// receiptKey is the collector's receipt key in these tests.
var receiptKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// serve runs Serve for opts (quiet unless opts.Logger is set) until stop
// or the end of the test.
func serve(t testing.TB, opts server.Options, shutdownTimeout time.Duration) *serving {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.ReceiptKey == nil {
		opts.ReceiptKey = receiptKey // one collector key across restarts, as serve keeps it
	}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &serving{addr: ln.Addr().String(), url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	srv := server.New(opts)
	go func() { s.done <- srv.Serve(sctx, ln, nil, shutdownTimeout) }()
	t.Cleanup(func() { s.stop() })
	return s
}

// stop shuts the server down and returns what Serve returned.
func (s *serving) stop() error {
	s.once.Do(func() { s.cancel(); s.err = <-s.done })
	return s.err
}

// newEnv starts a collector on a loopback listener over a fresh store.
func newEnv(t testing.TB, storage string) *env {
	t.Helper()
	db := openStore(t, storage)
	srv := server.New(server.Options{Store: db, Claims: &claims.Service{DB: db}, MaxRequestBytes: 1 << 20, Logger: quiet, ReceiptKey: receiptKey})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); db.Close() })
	return &env{db: db, url: ts.URL}
}

// agent is a practice's agent: its ODS code and key.
type agent struct {
	ods  string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newAgent(ods string) *agent {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &agent{ods: ods, pub: pub, priv: priv}
}

// addPractice adds a practice and returns a fresh enrolment code for it.
func (e *env) addPractice(t testing.TB, ods, icb string, lifetime time.Duration) string {
	t.Helper()
	if _, err := e.db.Practice(ctx, ods); err != nil {
		if err := e.db.AddPractice(ctx, collector.Practice{ODS: ods, Name: "The " + ods + " Surgery", ICB: icb}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return e.code(t, ods, lifetime)
}

func (e *env) code(t testing.TB, ods string, lifetime time.Duration) string {
	t.Helper()
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := e.db.AddEnrolmentCode(ctx, ods, auth.HashEnrolmentCode(code), now, now.Add(lifetime), "test"); err != nil {
		t.Fatal(err)
	}
	return code
}

func (e *env) enrol(t testing.TB, a *agent, ods, code string) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(wire.EnrolRequest{Code: code, Practice: ods, PublicKey: base64.StdEncoding.EncodeToString(a.pub), AgentVersion: "test"})
	return do(t, mustRequest(t, "POST", e.url+wire.PathEnrol, body))
}

// enrolled returns an enrolled agent for a new practice.
func (e *env) enrolled(t testing.TB, ods, icb string) *agent {
	t.Helper()
	a := newAgent(ods)
	resp, body := e.enrol(t, a, ods, e.addPractice(t, ods, icb, time.Hour))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrol %s: %d %s", ods, resp.StatusCode, body)
	}
	return a
}

func mustRequest(t testing.TB, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

var client = &http.Client{Timeout: 30 * time.Second}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// request returns a POST of body to url+path signed by a at signedAt.
func (a *agent) request(t testing.TB, url, path, key string, body []byte, signedAt time.Time) *http.Request {
	t.Helper()
	req := mustRequest(t, "POST", url+path, body)
	if key != "" {
		req.Header.Set(wire.HeaderIdempotencyKey, key)
	}
	req.Header.Set(wire.HeaderAgentVersion, "test-1.0")
	wire.Sign(req, a.priv, a.ods, body, signedAt)
	return req
}

// post sends a signed request as a, signed at signedAt.
func (a *agent) post(t testing.TB, url, path, key string, body []byte, signedAt time.Time) (*http.Response, []byte) {
	t.Helper()
	return do(t, a.request(t, url, path, key, body, signedAt))
}

func (a *agent) submit(t testing.TB, url, key string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return a.post(t, url, wire.PathSubmissions, key, body, time.Now())
}

// document returns a valid results document for practice.
func document(practice, asOf string, longTerm float64) []byte {
	return servertest.Document(practice, asOf, longTerm)
}

func ack(t testing.TB, body []byte) wire.Ack {
	t.Helper()
	var a wire.Ack
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("ack %s: %v", body, err)
	}
	return a
}

func problem(t testing.TB, resp *http.Response, body []byte) wire.Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %s)", ct, body)
	}
	var p wire.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem %s: %v", body, err)
	}
	if p.Status != resp.StatusCode {
		t.Fatalf("problem status %d, response %d", p.Status, resp.StatusCode)
	}
	return p
}

func eachEngine(t *testing.T, f func(t *testing.T, e *env)) {
	for name, storage := range engines {
		t.Run(name, func(t *testing.T) { f(t, newEnv(t, storage(t))) })
	}
}

func TestEnrolThenSubmit(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := newAgent("Y01234")
		code := e.addPractice(t, "Y01234", "QWE", time.Hour)
		resp, body := e.enrol(t, a, "Y01234", strings.ToLower(code)) // typed by hand
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("enrol: %d %s", resp.StatusCode, body)
		}
		var er wire.EnrolResponse
		if err := json.Unmarshal(body, &er); err != nil {
			t.Fatal(err)
		}
		if er != (wire.EnrolResponse{Practice: "Y01234", Name: "The Y01234 Surgery", ICB: "QWE", KeyID: wire.KeyID(a.pub),
			CollectorKey: base64.StdEncoding.EncodeToString(receiptKey.Public().(ed25519.PublicKey))}) {
			t.Fatalf("EnrolResponse = %+v, want the collector's receipt key in it", er)
		}

		doc := document("Y01234", "2025-03-31", 41)
		resp, body = a.submit(t, e.url, "sub-0001-aaaa", doc)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("submit: %d %s", resp.StatusCode, body)
		}
		first := ack(t, body)
		if first.SubmissionID != "sub-0001-aaaa" || first.Practice != "Y01234" || first.Pack != "medsip" || first.AsOf != "2025-03-31" || first.Duplicate || first.Supersedes != "" {
			t.Fatalf("ack = %+v", first)
		}

		// The same request again (a retry): the original ack, marked duplicate.
		resp, body = a.submit(t, e.url, "sub-0001-aaaa", doc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("duplicate: %d %s", resp.StatusCode, body)
		}
		dup := ack(t, body)
		want := first
		want.Duplicate = true
		if dup != want {
			t.Fatalf("duplicate ack = %+v, want %+v", dup, want)
		}

		// The same key with a changed body is a conflict.
		resp, body = a.submit(t, e.url, "sub-0001-aaaa", document("Y01234", "2025-03-31", 42))
		if resp.StatusCode != http.StatusConflict || problem(t, resp, body).Type != server.ProblemConflict {
			t.Fatalf("changed body, same key: %d %s", resp.StatusCode, body)
		}

		// New figures with a new key supersede; both are kept.
		resp, body = a.submit(t, e.url, "sub-0002-bbbb", document("Y01234", "2025-03-31", 43))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("resubmit: %d %s", resp.StatusCode, body)
		}
		if got := ack(t, body); got.Supersedes != "sub-0001-aaaa" {
			t.Fatalf("resubmission ack = %+v, want Supersedes sub-0001-aaaa", got)
		}
		hist, err := e.db.SubmissionHistory(ctx, store.SubmissionFilter{Practice: "Y01234"})
		if err != nil || len(hist) != 2 || hist[0].SupersededBy != "sub-0002-bbbb" {
			t.Fatalf("history = %+v, %v", hist, err)
		}
		cur, err := e.db.CurrentSubmission(ctx, "Y01234", "medsip", "2025-03-31")
		if err != nil {
			t.Fatal(err)
		}
		if cur.IdempotencyKey != "sub-0002-bbbb" || cur.KeyID != wire.KeyID(a.pub) || cur.AgentVersion != "test-1.0" || cur.Signature == "" {
			t.Fatalf("current = %+v", cur)
		}
		if i := slices.IndexFunc(cur.Measures, func(m collector.MeasureRow) bool { return m.MeasureID == "long_term" }); i < 0 || *cur.Measures[i].Value != 43 {
			t.Fatalf("measure rows = %+v", cur.Measures)
		}
		if first, _ := e.db.Submission(ctx, "Y01234", "sub-0001-aaaa"); !bytes.Equal(first.Body, doc) {
			t.Fatal("the raw body is not stored exactly")
		}
	})
}

func TestEnrolRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := newAgent("Y01234")
		expired := e.addPractice(t, "Y01234", "QWE", -time.Minute)
		resp, body := e.enrol(t, a, "Y01234", expired)
		if resp.StatusCode != http.StatusForbidden || problem(t, resp, body).Type != server.ProblemEnrolRefused {
			t.Fatalf("expired code: %d %s", resp.StatusCode, body)
		}
		good := e.code(t, "Y01234", time.Hour)
		other := e.addPractice(t, "Y05678", "QWE", time.Hour)
		resp, body = e.enrol(t, a, "Y01234", other)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another practice's code: %d %s", resp.StatusCode, body)
		}
		resp, body = e.enrol(t, a, "Y01234", "0000-0000-0000-0000")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unknown code: %d %s", resp.StatusCode, body)
		}
		if resp, body = e.enrol(t, a, "Y01234", good); resp.StatusCode != http.StatusOK {
			t.Fatalf("good code: %d %s", resp.StatusCode, body)
		}
		resp, body = e.enrol(t, newAgent("Y01234"), "Y01234", good)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(problem(t, resp, body).Detail, "already used") {
			t.Fatalf("reused code: %d %s", resp.StatusCode, body)
		}
		// The refused second agent's key was not registered.
		p, _ := e.db.Practice(ctx, "Y01234")
		if !bytes.Equal(p.PublicKey, a.pub) {
			t.Fatal("a refused enrolment replaced the key")
		}
		for name, req := range map[string]string{
			"bad key":      `{"code":"x","practice":"Y01234","public_key":"AAAA"}`,
			"unknown":      `{"code":"x","practice":"Y01234","public_key":"AAAA","extra":1}`,
			"not json":     `code=x`,
			"bad practice": `{"code":"x","practice":"y0","public_key":"AAAA"}`,
		} {
			resp, body := do(t, mustRequest(t, "POST", e.url+wire.PathEnrol, []byte(req)))
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, body)
			}
		}
	})
}

func TestSubmitRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		e.enrolled(t, "Y05678", "QWE")
		doc := document("Y01234", "2025-03-31", 41)
		check := func(name string, resp *http.Response, body []byte, status int, typ, detail string) {
			t.Helper()
			if resp.StatusCode != status {
				t.Errorf("%s: status %d, want %d (%s)", name, resp.StatusCode, status, body)
				return
			}
			p := problem(t, resp, body)
			if p.Type != typ || !strings.Contains(p.Detail, detail) {
				t.Errorf("%s: problem %+v, want type %s and detail containing %q", name, p, typ, detail)
			}
		}

		forger := newAgent("Y01234") // right ODS code, wrong key
		resp, body := forger.submit(t, e.url, "forged-0001", doc)
		check("forged signature", resp, body, 401, server.ProblemUnauthorised, "signature does not verify")

		req := mustRequest(t, "POST", e.url+wire.PathSubmissions, doc)
		req.Header.Set(wire.HeaderIdempotencyKey, "tamper-0001")
		wire.Sign(req, a.priv, a.ods, doc, time.Now())
		req.Body = io.NopCloser(bytes.NewReader(document("Y01234", "2025-03-31", 5)))
		req.ContentLength = -1
		resp, body = do(t, req)
		check("body changed after signing", resp, body, 401, server.ProblemUnauthorised, "signature does not verify")

		resp, body = a.post(t, e.url, wire.PathSubmissions, "stale-0001", doc, time.Now().Add(-wire.MaxClockSkew-time.Minute))
		check("stale timestamp", resp, body, 401, server.ProblemStale, "outside the allowed clock skew")

		// A replay of an accepted request with a changed body: same key, 409.
		if resp, body := a.submit(t, e.url, "replay-0001", doc); resp.StatusCode != 201 {
			t.Fatalf("submit: %d %s", resp.StatusCode, body)
		}
		resp, body = a.submit(t, e.url, "replay-0001", document("Y01234", "2025-03-31", 1))
		check("replay with changed body", resp, body, 409, server.ProblemConflict, "different body")

		stranger := newAgent("Y09999")
		resp, body = stranger.submit(t, e.url, "unknown-0001", document("Y09999", "2025-03-31", 41))
		check("unknown practice", resp, body, 401, server.ProblemNotEnrolled, "not enrolled")

		req = mustRequest(t, "POST", e.url+wire.PathSubmissions, doc)
		req.Header.Set(wire.HeaderIdempotencyKey, "unsigned-0001")
		resp, body = do(t, req)
		check("unsigned", resp, body, 401, server.ProblemUnauthorised, "not signed")

		resp, body = a.submit(t, e.url, "", doc)
		check("no idempotency key", resp, body, 400, server.ProblemBadRequest, "Idempotency-Key is required")

		resp, body = a.submit(t, e.url, "other-0001", document("Y05678", "2025-03-31", 41))
		check("another practice's document", resp, body, 403, server.ProblemForbidden, "is for practice Y05678 but was signed by Y01234")

		big := bytes.Repeat([]byte(" "), 1<<20+1)
		resp, body = a.submit(t, e.url, "big-0001", big)
		check("oversized", resp, body, 413, server.ProblemTooLarge, "limit")

		resp, body = a.submit(t, e.url, "bad-0001", []byte(`{"schema": "steward.results/v1", `))
		check("malformed JSON", resp, body, 422, server.ProblemInvalid, "invalid results document")

		resp, body = a.submit(t, e.url, "bad-0002", []byte(`{"schema":"steward.results/v1","practice":"Y01234","pack":{"id":"medsip","version":"1"},"as_of":"2025-03-30","measures":[]}`))
		check("invalid document", resp, body, 422, server.ProblemInvalid, "not the last day of a month")

		var m map[string]any
		_ = json.Unmarshal(doc, &m)
		m["measures"].([]any)[0].(map[string]any)["nhs_number"] = "9434765919"
		withPatient, _ := json.Marshal(m)
		resp, body = a.submit(t, e.url, "patient-0001", withPatient)
		check("patient-level field", resp, body, 422, server.ProblemPatientLevel, `"nhs_number"`)

		hist, _ := e.db.SubmissionHistory(ctx, store.SubmissionFilter{})
		if len(hist) != 1 {
			t.Fatalf("%d submissions stored, want only the one accepted", len(hist))
		}
	})
}

func TestHeartbeat(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		e.enrolled(t, "Y05678", "QWE")
		hb, _ := json.Marshal(wire.Heartbeat{Practice: "Y01234", AgentVersion: "1.2.3", BundleVersion: "2026.1.0", Pending: 1, SentAt: time.Now().UTC().Format(time.RFC3339)})
		resp, body := a.post(t, e.url, wire.PathHeartbeats, "", hb, time.Now())
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
		}
		last, err := e.db.LastHeartbeats(ctx, "QWE")
		if err != nil || last["Y01234"].AgentVersion != "1.2.3" || last["Y01234"].Pending != 1 {
			t.Fatalf("LastHeartbeats = %+v, %v", last, err)
		}
		silent, err := e.db.SilentPractices(ctx, "QWE", 24*time.Hour, time.Now())
		if err != nil || len(silent) != 1 || silent[0].Practice.ODS != "Y05678" {
			t.Fatalf("SilentPractices = %+v, %v", silent, err)
		}
		other, _ := json.Marshal(wire.Heartbeat{Practice: "Y05678", AgentVersion: "1"})
		if resp, body := a.post(t, e.url, wire.PathHeartbeats, "", other, time.Now()); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("heartbeat for another practice: %d %s", resp.StatusCode, body)
		}
		if resp, body := a.post(t, e.url, wire.PathHeartbeats, "", hb, time.Now().Add(-time.Hour)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("stale heartbeat: %d %s", resp.StatusCode, body)
		}
		if resp, body := a.post(t, e.url, wire.PathHeartbeats, "", []byte(`{"practice":"Y01234","cpu":1}`), time.Now()); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("heartbeat with unknown field: %d %s", resp.StatusCode, body)
		}
	})
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	e := newEnv(t, engines["SQLite"](t))
	resp, _ := do(t, mustRequest(t, "GET", e.url+wire.PathSubmissions, nil))
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET submissions: %d", resp.StatusCode)
	}
	resp, _ = do(t, mustRequest(t, "GET", e.url+"/v1/nothing", nil))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	resp, body := do(t, mustRequest(t, "GET", e.url+"/healthz", nil))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
}

// TestRestartKeepsAcknowledged stops a collector after it acknowledged
// submissions and starts another on the same store: every acknowledged
// submission is there, and a retry gets the original ack.
func TestRestartKeepsAcknowledged(t *testing.T) {
	for name, storage := range engines {
		t.Run(name, func(t *testing.T) {
			storage := storage(t)
			start := func() (url string, stop func()) {
				db := openStore(t, storage)
				s := serve(t, server.Options{Store: db}, 10*time.Second)
				return s.url, func() {
					if err := s.stop(); err != nil {
						t.Errorf("Serve: %v", err)
					}
					if err := db.Close(); err != nil {
						t.Errorf("close store: %v", err)
					}
				}
			}
			url, stop := start()
			e := &env{db: nil, url: url}
			db := openStore(t, storage) // an operator adding a practice while it runs
			e.db = db
			a := e.enrolled(t, "Y01234", "QWE")
			db.Close()
			acks := map[string]wire.Ack{}
			for i := range 20 {
				key := fmt.Sprintf("restart-%04d", i)
				resp, body := a.submit(t, url, key, document("Y01234", time.Date(2016, time.Month(i+2), 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), 41))
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("submit %s: %d %s", key, resp.StatusCode, body)
				}
				acks[key] = ack(t, body)
			}
			stop()

			url, stop = start()
			defer stop()
			for key, want := range acks {
				var i int
				fmt.Sscanf(key, "restart-%04d", &i)
				resp, body := a.submit(t, url, key, document("Y01234", time.Date(2016, time.Month(i+2), 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), 41))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("retry %s after restart: %d %s", key, resp.StatusCode, body)
				}
				want.Duplicate = true
				if got := ack(t, body); got != want {
					t.Fatalf("retry %s after restart: ack %+v, want %+v", key, got, want)
				}
			}
		})
	}
}

// withGenerated sets a document's generation time (and, optionally, marks
// it a correction of another submission).
func withGenerated(t testing.TB, body []byte, at time.Time, corrects string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["generated_at"] = at.UTC().Format(time.RFC3339Nano)
	if corrects != "" {
		m["correction"] = map[string]string{"supersedes": corrects, "reason": "registrations were half refreshed"}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLateOlderDocumentNeverSupersedes: a document generated before the
// one the collector holds, arriving after it, is kept but never current
// (its receipt says superseded); a correction is current whatever its
// generation time; every receipt verifies with the key given at
// enrolment; the receipts list names the current document of each month.
func TestLateOlderDocumentNeverSupersedes(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		pub := receiptKey.Public().(ed25519.PublicKey)
		send := func(key string, body []byte, wantStatus int) wire.Ack {
			t.Helper()
			resp, b := a.submit(t, e.url, key, body)
			if resp.StatusCode != wantStatus {
				t.Fatalf("submit %s: %d %s", key, resp.StatusCode, b)
			}
			r := ack(t, b)
			if err := wire.VerifyReceipt(r, pub); err != nil {
				t.Fatalf("receipt for %s: %v", key, err)
			}
			if err := r.Matches("Y01234", key, body); err != nil {
				t.Fatalf("receipt for %s: %v", key, err)
			}
			return r
		}
		t0 := time.Date(2025, 4, 5, 2, 0, 0, 0, time.UTC)
		newer := send("newer-0001", withGenerated(t, document("Y01234", "2025-03-31", 41), t0.Add(time.Hour), ""), http.StatusCreated)
		if newer.State != wire.StateCurrent {
			t.Fatalf("first document state %q", newer.State)
		}
		late := send("older-0001", withGenerated(t, document("Y01234", "2025-03-31", 40), t0, ""), http.StatusCreated)
		if late.State != wire.StateSuperseded || late.Supersedes != "" {
			t.Fatalf("late older document: state %q supersedes %q; want superseded from the start", late.State, late.Supersedes)
		}
		cur, err := e.db.CurrentSubmission(ctx, "Y01234", "medsip", "2025-03-31")
		if err != nil || cur.IdempotencyKey != "newer-0001" {
			t.Fatalf("current = %q, %v; want the newer document", cur.IdempotencyKey, err)
		}
		// A retry of the late one gets the same receipt.
		if again := send("older-0001", withGenerated(t, document("Y01234", "2025-03-31", 40), t0, ""), http.StatusOK); again.State != wire.StateSuperseded {
			t.Fatalf("retry of the late document: state %q", again.State)
		}
		// A correction generated by a clock that is behind still wins: it
		// names what it corrects.
		corr := send("fix-00001", withGenerated(t, document("Y01234", "2025-03-31", 39), t0.Add(-time.Hour), "newer-0001"), http.StatusCreated)
		if corr.State != wire.StateCurrent || corr.Supersedes != "newer-0001" {
			t.Fatalf("correction: state %q supersedes %q", corr.State, corr.Supersedes)
		}
		cur, err = e.db.CurrentSubmission(ctx, "Y01234", "medsip", "2025-03-31")
		if err != nil || cur.IdempotencyKey != "fix-00001" || cur.CorrectionReason != "registrations were half refreshed" || cur.Corrects != "newer-0001" {
			t.Fatalf("current after the correction = %+v, %v", cur, err)
		}

		// The receipts list: signed, one current document per month.
		resp, body := a.get(t, e.url, wire.ReceiptsPath("Y01234"), time.Now())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("receipts: %d %s", resp.StatusCode, body)
		}
		var rs wire.Receipts
		if err := json.Unmarshal(body, &rs); err != nil {
			t.Fatal(err)
		}
		if err := wire.VerifyReceipts(rs, pub); err != nil {
			t.Fatalf("receipts list: %v", err)
		}
		if len(rs.Receipts) != 1 || rs.Receipts[0].SubmissionID != "fix-00001" {
			t.Fatalf("receipts = %+v, want the correction alone", rs.Receipts)
		}
		rs.Receipts = nil // cut short: no longer verifies
		if err := wire.VerifyReceipts(rs, pub); err == nil {
			t.Fatal("a receipts list cut short still verifies")
		}
		other := e.enrolled(t, "Y05678", "QWE")
		if resp, body := other.get(t, e.url, wire.ReceiptsPath("Y01234"), time.Now()); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another practice reading Y01234's receipts: %d %s", resp.StatusCode, body)
		}
	})
}

// TestMonthNotEndedRefused: figures for a month that has not ended by the
// collector's clock are refused with a problem naming the rule, as are a
// document generated in the collector's future and one for a month before
// its pack's first valid month.
func TestMonthNotEndedRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		now := time.Now().UTC()
		thisMonth := time.Date(now.Year(), now.Month()+1, 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		resp, body := a.submit(t, e.url, "early-0001", document("Y01234", thisMonth, 41))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "month-not-ended") {
			t.Fatalf("a month not yet ended: %d %s", resp.StatusCode, body)
		}
		resp, body = a.submit(t, e.url, "future-001", withGenerated(t, document("Y01234", "2025-03-31", 41), now.Add(24*time.Hour), ""))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "future") {
			t.Fatalf("generated in the future: %d %s", resp.StatusCode, body)
		}
		// Before the pack's first valid month (medsip's pack.yaml: first_as_of).
		resp, body = a.submit(t, e.url, "early-0002", document("Y01234", "2015-03-31", 41))
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "first valid month end, 2015-04-30") {
			t.Fatalf("a month before the pack's first valid month: %d %s", resp.StatusCode, body)
		}
		if resp, body := a.submit(t, e.url, "first-0001", document("Y01234", "2015-04-30", 41)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("the pack's first valid month: %d %s", resp.StatusCode, body)
		}
		if subs, _ := e.db.SubmissionHistory(ctx, store.SubmissionFilter{Practice: "Y01234"}); len(subs) != 1 {
			t.Fatalf("%d submissions stored, want only the first valid month's", len(subs))
		}
	})
}

// TestBrowserErrorPages: a browser that asks for a page that is not there,
// or one it may not see, gets the dashboard's own page with the reason;
// scripts and the API get the plain answers they always had.
func TestBrowserErrorPages(t *testing.T) {
	e := newRoutesEnv(t, engines["SQLite"](t))
	get := func(path string, html bool) *http.Response {
		t.Helper()
		req := e.get(t, path, true)
		if html {
			req.Header.Set("Accept", "text/html,application/xhtml+xml")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	body := func(r *http.Response) string {
		b, _ := io.ReadAll(r.Body)
		return string(b)
	}
	r := get("/no/such/page", true)
	if b := body(r); r.StatusCode != http.StatusNotFound || !strings.Contains(r.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(b, "Page not found") || !strings.Contains(b, "nhsuk-error-summary") || !strings.Contains(b, `href="/"`) {
		t.Errorf("browser GET of an unknown page: %d %s\n%.300s", r.StatusCode, r.Header.Get("Content-Type"), b)
	}
	if r := get("/no/such/page", false); r.StatusCode != http.StatusNotFound || strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("script GET of an unknown page: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := get("/claims/move", true); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("browser GET of a form's POST address = %d, want 405", r.StatusCode)
	}
	r = get("/practices/Y99999/series/nonsense", true)
	if b := body(r); r.StatusCode != http.StatusNotFound || !strings.Contains(b, "Measure is not one the dashboard charts") {
		t.Errorf("browser GET of an unknown chart: %d\n%.300s", r.StatusCode, b)
	}
	if r := get("/v1/nothing", true); r.StatusCode != http.StatusNotFound || strings.Contains(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("API path answered as a page: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
}
