package server_test

import (
	"bytes"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/nhs-steward/steward/reporting/collector/catalogue"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/wire"
)

// fuzzEngines are the stores a fuzz target's inputs go to: SQLite in a
// temporary folder always; PostgreSQL too when the seeds run as tests
// with STEWARD_TEST_PG set (not while fuzzing: a million inputs are the
// SQLite run's job).
func fuzzEngines(f *testing.F) map[string]string {
	out := map[string]string{"SQLite": "sqlite:" + filepath.Join(f.TempDir(), "collector.db")}
	if fz := flag.Lookup("test.fuzz"); (fz == nil || fz.Value.String() == "") && os.Getenv(pgtest.EnvURL) != "" {
		out["Postgres"] = pgtest.NewDB(f)
	}
	return out
}

// fuzzCollector is a collector on loopback over a store of its own, with
// practice Y01234 (which the harness's agent enrols) and Y05678 (never
// enrolled).
type fuzzCollector struct {
	name string
	env  *env
	code string  // Y01234's unused enrolment code
	raw  *sql.DB // the store's database, for checks the store has no method for
}

func newFuzzCollector(f *testing.F, name, storage string) *fuzzCollector {
	db := openStore(f, storage)
	srv := server.New(server.Options{Store: db, MaxRequestBytes: 1 << 20, Logger: quiet})
	ts := httptest.NewServer(srv.Handler())
	f.Cleanup(func() { ts.Close(); db.Close() })
	driver, dsn := "pgx", storage
	if path, ok := strings.CutPrefix(storage, "sqlite:"); ok {
		driver, dsn = "sqlite", path
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { raw.Close() })
	c := &fuzzCollector{name: name, env: &env{db: db, url: ts.URL}, raw: raw}
	c.code = c.env.addPractice(f, "Y01234", "QWE", 24*time.Hour)
	c.env.addPractice(f, "Y05678", "QWE", 24*time.Hour)
	return c
}

// fuzzPost sends body to path with headers, and returns the status, the
// Content-Type and the body of the answer.
func fuzzPost(t *testing.T, url string, body []byte, header http.Header) (int, string, []byte) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, b := do(t, req)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// checkRefusal checks a 4xx: a problem+json whose status is the response's,
// with a detail; never a 5xx.
func checkRefusal(t *testing.T, engine string, status int, ctype string, body []byte) {
	t.Helper()
	if status >= 500 || status < 400 {
		t.Fatalf("%s: answered %d: %s", engine, status, body)
	}
	var p wire.Problem
	if ctype != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != status || p.Detail == "" {
		t.Fatalf("%s: %d answered with %q %s, not a problem naming what is wrong", engine, status, ctype, body)
	}
}

// FuzzEnrol posts arbitrary bodies to /v1/enrol of a collector on
// loopback. The text {{code}} in an input stands for Y01234's current
// unused enrolment code (the harness issues a new one after each
// enrolment), so that inputs keep reaching the store. Seeds:
// testdata/fuzz/FuzzEnrol (the agent's request, and refused ones).
//
// Properties:
//   - the answer is 200 or a 4xx problem+json, never a 5xx;
//   - 200 only for a well-formed request with a valid code of the practice
//     it names, and then the store holds the request's key for it and the
//     answer names it;
//   - after anything else no practice's key has changed.
func FuzzEnrol(f *testing.F) {
	var cs []*fuzzCollector
	for name, storage := range fuzzEngines(f) {
		cs = append(cs, newFuzzCollector(f, name, storage))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, c := range cs {
			in := bytes.ReplaceAll(body, []byte("{{code}}"), []byte(c.code))
			before := map[string]collector.Practice{}
			for _, ods := range []string{"Y01234", "Y05678"} {
				p, err := c.env.db.Practice(ctx, ods)
				if err != nil {
					t.Fatal(err)
				}
				before[ods] = p
			}
			status, ctype, out := fuzzPost(t, c.env.url+wire.PathEnrol, in, http.Header{"Content-Type": {"application/json"}})
			if status != http.StatusOK {
				checkRefusal(t, c.name, status, ctype, out)
				for ods, p := range before {
					after, err := c.env.db.Practice(ctx, ods)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(after.PublicKey, p.PublicKey) || after.KeyID != p.KeyID || !after.EnrolledAt.Equal(p.EnrolledAt) {
						t.Fatalf("%s: a refused enrolment (%d) changed the key of %s", c.name, status, ods)
					}
				}
				continue
			}
			var req wire.EnrolRequest
			if err := json.Unmarshal(in, &req); err != nil {
				t.Fatalf("%s: enrolled with a body that is not an enrolment request: %v", c.name, err)
			}
			pub, err := base64.StdEncoding.DecodeString(req.PublicKey)
			if err != nil || len(pub) != ed25519.PublicKeySize || req.Practice != "Y01234" ||
				auth.HashEnrolmentCode(req.Code) != auth.HashEnrolmentCode(c.code) {
				t.Fatalf("%s: enrolled %+v", c.name, req)
			}
			p, err := c.env.db.Practice(ctx, "Y01234")
			if err != nil {
				t.Fatal(err)
			}
			var er wire.EnrolResponse
			if err := json.Unmarshal(out, &er); err != nil || er.Practice != "Y01234" || er.KeyID != wire.KeyID(pub) ||
				!bytes.Equal(p.PublicKey, pub) || p.KeyID != er.KeyID {
				t.Fatalf("%s: enrolment answered %s; the store holds key %x (%s)", c.name, out, p.PublicKey, p.KeyID)
			}
			c.code = c.env.code(t, "Y01234", 24*time.Hour)
		}
	})
}

// acceptable reports whether a decoded document passes the collector's
// other checks: it matches the pack version it names and its month has
// ended, and it was not generated in the future.
func acceptable(packs *catalogue.Catalogue, doc *results.Document, now time.Time) bool {
	spec, err := packs.Lookup(doc.Pack.ID, doc.Pack.Version)
	if err != nil || doc.CheckPack(spec) != nil {
		return false
	}
	asOf, err := time.Parse(time.DateOnly, doc.AsOf)
	if err != nil || !now.UTC().After(asOf.AddDate(0, 0, 1)) {
		return false
	}
	if g, err := time.Parse(time.RFC3339Nano, doc.GeneratedAt); err == nil && g.Sub(now) > wire.MaxClockSkew {
		return false
	}
	return true
}

// FuzzSubmit posts arbitrary bodies, each signed by the enrolled agent of
// practice Y01234 with a new idempotency key, to /v1/submissions of a
// collector on loopback: the ingest path end to end, from the signature
// check through results validation to the store. Seeds:
// testdata/fuzz/FuzzSubmit (documents steward run and the agent send,
// another practice's, broken ones).
//
// Properties:
//   - the answer is 201 or a 4xx problem+json, never a 5xx;
//   - 201 exactly when results.Decode accepts the body, the document is the
//     signing practice's, matches the pack version it names (the built-in
//     catalogue) and its month has ended; the acknowledgement names the
//     submission, and the store holds the body byte for byte;
//   - after a 4xx nothing is stored under the key.
func FuzzSubmit(f *testing.F) {
	type target struct {
		c *fuzzCollector
		a *agent
	}
	var ts []target
	for name, storage := range fuzzEngines(f) {
		c := newFuzzCollector(f, name, storage)
		ts = append(ts, target{c, c.env.enrolledWithCode(f, "Y01234", c.code)})
	}
	n := 0
	packs := catalogue.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, body []byte) {
		n++
		key := fmt.Sprintf("fuzz-%d-%d", os.Getpid(), n)
		doc, derr := results.Decode(bytes.NewReader(body))
		accept := derr == nil && doc.Practice == "Y01234" && acceptable(packs, doc, time.Now())
		for _, tg := range ts {
			resp, out := do(t, tg.a.request(t, tg.c.env.url, wire.PathSubmissions, key, body, time.Now()))
			status, ctype := resp.StatusCode, resp.Header.Get("Content-Type")
			if status != http.StatusCreated {
				checkRefusal(t, tg.c.name, status, ctype, out)
				if accept {
					t.Fatalf("%s: refused (%d %s) a valid document of the signing practice", tg.c.name, status, out)
				}
				if _, err := tg.c.env.db.Submission(ctx, "Y01234", key); !errors.Is(err, collector.ErrNotFound) {
					t.Fatalf("%s: a refused submission (%d) is in the store: %v", tg.c.name, status, err)
				}
				continue
			}
			if !accept {
				t.Fatalf("%s: stored a submission results.Decode refuses (%v) or of another practice", tg.c.name, derr)
			}
			a := ack(t, out)
			if a.SubmissionID != key || a.Practice != "Y01234" || a.Pack != doc.Pack.ID || a.AsOf != doc.AsOf || a.Duplicate {
				t.Fatalf("%s: acknowledgement %+v", tg.c.name, a)
			}
			sub, err := tg.c.env.db.Submission(ctx, "Y01234", key)
			if err != nil {
				t.Fatalf("%s: an acknowledged submission is not in the store: %v", tg.c.name, err)
			}
			if !bytes.Equal(sub.Body, body) || sub.Pack != doc.Pack.ID || sub.AsOf != doc.AsOf {
				t.Fatalf("%s: stored %q for pack %q as of %s, sent %q", tg.c.name, sub.Body, sub.Pack, sub.AsOf, body)
			}
		}
	})
}

// enrolledWithCode enrols a new agent for ods with code, through the API.
func (e *env) enrolledWithCode(t testing.TB, ods, code string) *agent {
	t.Helper()
	a := newAgent(ods)
	resp, body := e.enrol(t, a, ods, code)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrol %s: %d %s", ods, resp.StatusCode, body)
	}
	return a
}

// FuzzHeartbeat posts arbitrary bodies, each signed by the enrolled agent
// of practice Y01234, to /v1/heartbeats of a collector on loopback. Seeds:
// testdata/fuzz/FuzzHeartbeat (the agent's heartbeat, another practice's,
// broken ones).
//
// Properties:
//   - the answer is 204 or a 4xx problem+json, never a 5xx;
//   - 204 only for one JSON heartbeat of the signing practice, which is
//     then the practice's last heartbeat, byte for byte;
//   - after a 4xx the practice's last heartbeat is what it was.
func FuzzHeartbeat(f *testing.F) {
	type target struct {
		c *fuzzCollector
		a *agent
	}
	var ts []target
	for name, storage := range fuzzEngines(f) {
		c := newFuzzCollector(f, name, storage)
		ts = append(ts, target{c, c.env.enrolledWithCode(f, "Y01234", c.code)})
	}
	// last is the newest heartbeat stored, which can only be Y01234's.
	// (store.LastHeartbeats reads every heartbeat on SQLite, 20 ms at
	// 20,000 of them: too slow to call twice for each of a million.)
	last := func(t *testing.T, c *fuzzCollector) []byte {
		var body []byte
		err := c.raw.QueryRowContext(ctx, "SELECT body FROM heartbeats ORDER BY id DESC LIMIT 1").Scan(&body)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		return body
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tg := range ts {
			before := last(t, tg.c)
			resp, out := do(t, tg.a.request(t, tg.c.env.url, wire.PathHeartbeats, "", body, time.Now()))
			if resp.StatusCode != http.StatusNoContent {
				checkRefusal(t, tg.c.name, resp.StatusCode, resp.Header.Get("Content-Type"), out)
				if got := last(t, tg.c); !bytes.Equal(got, before) {
					t.Fatalf("%s: a refused heartbeat (%d) is the practice's last", tg.c.name, resp.StatusCode)
				}
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			var hb wire.Heartbeat
			if err := dec.Decode(&hb); err != nil || !json.Valid(body) || hb.Practice != "Y01234" {
				t.Fatalf("%s: accepted the heartbeat %q (%v)", tg.c.name, body, err)
			}
			if got := last(t, tg.c); !bytes.Equal(got, body) {
				t.Fatalf("%s: the last heartbeat is %q, sent %q", tg.c.name, got, body)
			}
		}
	})
}

// TestSubmitSeedsReachTheStore: FuzzSubmit's seeds hold at least one
// document the collector accepts, so the store side of its properties is
// exercised by plain go test.
func TestSubmitSeedsReachTheStore(t *testing.T) {
	packs := catalogue.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzSubmit", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	accepted := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, lit, ok := strings.Cut(string(b), "[]byte(")
		if !ok {
			continue
		}
		body, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lit), ")")))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc, err := results.Decode(strings.NewReader(body)); err == nil && doc.Practice == "Y01234" && acceptable(packs, doc, time.Now()) {
			accepted++
		}
	}
	if accepted == 0 {
		t.Fatal("no seed of FuzzSubmit is a document the collector accepts: regenerate steward-run from `steward run`")
	}
}
