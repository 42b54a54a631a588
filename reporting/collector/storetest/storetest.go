// Package storetest is the conformance suite every collector store passes:
// the same tests run on SQLite and PostgreSQL.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// Opener returns a new, migrated, empty store; the test closes it.
type Opener func(t *testing.T) *store.DB

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		f    func(t *testing.T, db *store.DB)
	}{
		{"Practices", testPractices},
		{"Enrol", testEnrol},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"IngestDuplicateConflict", testIngestDuplicateConflict},
		{"Supersede", testSupersede},
		{"MeasureQueries", testMeasureQueries},
		{"PeriodFigures", testPeriodFigures},
		{"ConcurrentIngest", testConcurrentIngest},
		{"Heartbeats", testHeartbeats},
		{"Audit", testAudit},
		{"Schemes", testSchemes},
		{"RetireScheme", testRetireScheme},
		{"ClosedClaims", testClosedClaims},
		{"Lockouts", testLockouts},
		{"TokenRotation", testTokenRotation},
		{"HeartbeatReplay", testHeartbeatReplay},
		{"HeartbeatStorageBounded", testHeartbeatStorageBounded},
		{"Prune", testPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t)
			t.Cleanup(func() { db.Close() })
			tc.f(t, db)
		})
	}
}

var ctx = context.Background()

// T0 is a fixed time tests count from.
var t0 = time.Date(2025, 4, 2, 9, 30, 0, 123456000, time.UTC)

func addPractice(t *testing.T, db *store.DB, ods, icb string) {
	t.Helper()
	if err := db.AddPractice(ctx, collector.Practice{ODS: ods, Name: "Practice " + ods, ICB: icb, CreatedAt: t0}, "test"); err != nil {
		t.Fatalf("AddPractice(%s): %v", ods, err)
	}
}

func testPractices(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y02222", "QWE")
	if err := db.AddPractice(ctx, collector.Practice{ODS: "Y01111", Name: "First", ICB: "QWE", PCN: "North", CreatedAt: t0}, "test"); err != nil {
		t.Fatal(err)
	}
	addPractice(t, db, "Z09999", "QXY")
	err := db.AddPractice(ctx, collector.Practice{ODS: "Y01111", Name: "Again", ICB: "QWE"}, "test")
	if !errors.Is(err, collector.ErrExists) {
		t.Fatalf("AddPractice(duplicate) = %v, want ErrExists", err)
	}
	p, err := db.Practice(ctx, "Y01111")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "First" || p.ICB != "QWE" || p.PCN != "North" || !p.CreatedAt.Equal(t0) || p.Enrolled() {
		t.Fatalf("Practice = %+v", p)
	}
	if _, err := db.Practice(ctx, "NOPE1"); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("Practice(unknown) = %v, want ErrNotFound", err)
	}
	all, err := db.Practices(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := odsList(all), "[Y01111 Y02222 Z09999]"; got != want {
		t.Fatalf("Practices(all) = %s, want %s", got, want)
	}
	qwe, err := db.Practices(ctx, "QWE")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := odsList(qwe), "[Y01111 Y02222]"; got != want {
		t.Fatalf("Practices(QWE) = %s, want %s", got, want)
	}
}

func odsList(ps []collector.Practice) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.ODS)
	}
	return fmt.Sprint(s)
}

func testEnrol(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	addPractice(t, db, "Y02222", "QWE")
	exp := t0.Add(72 * time.Hour)
	for _, h := range []string{"good", "expired", "other"} {
		expires := exp
		if h == "expired" {
			expires = t0.Add(time.Hour)
		}
		if err := db.AddEnrolmentCode(ctx, "Y01111", h, t0, expires, "test"); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 32)
	key[0] = 7
	now := t0.Add(2 * time.Hour)
	refused := []struct{ name, ods, hash string }{
		{"unknown code", "Y01111", "nope"},
		{"expired code", "Y01111", "expired"},
		{"code for another practice", "Y02222", "other"},
	}
	for _, r := range refused {
		if _, err := db.Enrol(ctx, r.ods, r.hash, key, "kid", now); !errors.Is(err, collector.ErrEnrolRefused) {
			t.Errorf("Enrol(%s) = %v, want ErrEnrolRefused", r.name, err)
		}
	}
	p, err := db.Enrol(ctx, "Y01111", "good", key, "kid", now)
	if err != nil {
		t.Fatalf("Enrol(good) = %v", err)
	}
	if !p.Enrolled() || p.KeyID != "kid" || string(p.PublicKey) != string(key) || !p.EnrolledAt.Equal(now) {
		t.Fatalf("enrolled practice = %+v", p)
	}
	// A used code enrols nobody else's key; the same key again (an agent
	// retrying after its answer was lost or its files could not be
	// written) gets the same answer and changes nothing.
	other := make([]byte, 32)
	other[0] = 8
	if _, err := db.Enrol(ctx, "Y01111", "good", other, "kid2", now); !errors.Is(err, collector.ErrEnrolRefused) {
		t.Fatalf("Enrol(reused code, another key) = %v, want ErrEnrolRefused", err)
	}
	if again, err := db.Enrol(ctx, "Y01111", "good", key, "kid", now.Add(time.Minute)); err != nil || !again.EnrolledAt.Equal(now) {
		t.Fatalf("Enrol(reused code, same key) = %+v, %v; want the first enrolment unchanged", again, err)
	}
	p2, err := db.Practice(ctx, "Y01111")
	if err != nil || string(p2.PublicKey) != string(key) {
		t.Fatalf("Practice after enrol = %+v, %v", p2, err)
	}
}

func testUsers(t *testing.T, db *store.DB) {
	u, err := db.AddUser(ctx, collector.User{Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QWE", PasswordHash: "$argon2id$x", CreatedAt: t0,
		SignOff: []string{"icb_finance", "icb_medicines_optimisation_lead"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 {
		t.Fatal("AddUser returned no id")
	}
	if _, err := db.AddUser(ctx, collector.User{Name: "ana", Role: collector.RoleAdmin}, "test"); !errors.Is(err, collector.ErrExists) {
		t.Fatalf("AddUser(duplicate) = %v, want ErrExists", err)
	}
	got, err := db.UserByName(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("UserByName = %+v, want %+v", got, u)
	}
	if got, err := db.UserByID(ctx, u.ID); err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("UserByID = %+v, %v", got, err)
	}
	if err := db.AddAPIToken(ctx, u.ID, "tokhash", t0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddAPIToken(ctx, u.ID, "oldhash", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := db.UserByToken(ctx, "tokhash", t0.Add(24*time.Hour)); err != nil || got.ID != u.ID {
		t.Fatalf("UserByToken = %+v, %v", got, err)
	}
	if _, err := db.UserByToken(ctx, "oldhash", t0.Add(2*time.Hour)); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("UserByToken(expired) = %v, want ErrNotFound", err)
	}
	if _, err := db.UserByToken(ctx, "other", t0); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("UserByToken(unknown) = %v, want ErrNotFound", err)
	}
	users, err := db.Users(ctx)
	if err != nil || len(users) != 1 {
		t.Fatalf("Users = %v, %v", users, err)
	}

	// Changing sign-off roles; disabling stops the user's tokens at once.
	roles, yes := []string{"icb_finance"}, true
	changed, err := db.ChangeUser(ctx, "ana", store.UserChange{SignOff: &roles, Disabled: &yes}, "admin", t0)
	if err != nil || !changed.Disabled || strings.Join(changed.SignOff, ",") != "icb_finance" {
		t.Fatalf("ChangeUser = %+v, %v", changed, err)
	}
	if got, err := db.UserByName(ctx, "ana"); err != nil || !reflect.DeepEqual(got, changed) {
		t.Fatalf("UserByName after change = %+v, %v", got, err)
	}
	if _, err := db.UserByToken(ctx, "tokhash", t0); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("UserByToken of a disabled user = %v, want ErrNotFound", err)
	}
	if _, err := db.ChangeUser(ctx, "nobody", store.UserChange{Disabled: &yes}, "admin", t0); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("ChangeUser(unknown) = %v", err)
	}
	if entries, err := db.Audit().List(ctx, "user:ana", 0); err != nil || len(entries) != 2 || entries[0].Action != "user.change" {
		t.Fatalf("audit of user changes = %+v, %v", entries, err)
	}
}

func testSessions(t *testing.T, db *store.DB) {
	u, err := db.AddUser(ctx, collector.User{Name: "adm", Role: collector.RoleAdmin, CreatedAt: t0}, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := collector.Session{UserID: u.ID, CSRFToken: "csrf", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := db.CreateSession(ctx, "sid", s); err != nil {
		t.Fatal(err)
	}
	gs, gu, err := db.Session(ctx, "sid", t0.Add(time.Minute))
	if err != nil || gs != s || gu.Name != "adm" {
		t.Fatalf("Session = %+v, %+v, %v", gs, gu, err)
	}
	if _, _, err := db.Session(ctx, "sid", t0.Add(2*time.Hour)); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("Session(expired) = %v, want ErrNotFound", err)
	}
	if n, err := db.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v", n, err)
	}
	if err := db.CreateSession(ctx, "sid2", s); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, "sid2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Session(ctx, "sid2", t0); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("Session(deleted) = %v, want ErrNotFound", err)
	}
}

// Sub builds a submission with the given measure values.
func Sub(practice, key, pack, asOf string, received time.Time, longTerm, reviewed float64) collector.Submission {
	body := fmt.Sprintf(`{"practice":%q,"pack":%q,"as_of":%q,"long_term":%g,"reviewed":%g}`, practice, pack, asOf, longTerm, reviewed)
	sum := sha256.Sum256([]byte(body))
	v := longTerm
	ratio := reviewed / longTerm
	return collector.Submission{
		Practice: practice, IdempotencyKey: key, BodySHA256: hex.EncodeToString(sum[:]), Body: []byte(body),
		Signature: "sig", KeyID: "kid", SignedAt: received.Format(time.RFC3339), ReceivedAt: received,
		Pack: pack, PackVersion: "2026.1.0", AsOf: asOf, AgentVersion: "1.0.0",
		Measures: []collector.MeasureRow{
			{MeasureID: "long_term", Kind: "count", Value: &v},
			{MeasureID: "long_term_reviewed", Kind: "ratio", Numerator: &reviewed, Denominator: &longTerm, Value: &ratio},
			{MeasureID: "suppressed_one", Kind: "count", Suppressed: true},
		},
	}
}

func ingest(t *testing.T, db *store.DB, s collector.Submission) store.IngestResult {
	t.Helper()
	res, err := db.Ingest(ctx, s)
	if err != nil {
		t.Fatalf("Ingest(%s) = %v", s.IdempotencyKey, err)
	}
	return res
}

func testIngestDuplicateConflict(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	s := Sub("Y01111", "k1", "medsip", "2025-03-31", t0, 41, 30)
	res := ingest(t, db, s)
	if res.Duplicate || res.Submission.ID == 0 || res.Submission.Supersedes != "" || !res.Submission.ReceivedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Fatalf("first Ingest = %+v", res)
	}
	again := s
	again.ReceivedAt = t0.Add(time.Hour)
	dup := ingest(t, db, again)
	if !dup.Duplicate || dup.Submission.ID != res.Submission.ID || !dup.Submission.ReceivedAt.Equal(res.Submission.ReceivedAt) {
		t.Fatalf("duplicate Ingest = %+v, want the original %+v", dup, res)
	}
	changed := Sub("Y01111", "k1", "medsip", "2025-03-31", t0, 42, 30)
	if _, err := db.Ingest(ctx, changed); !errors.Is(err, collector.ErrIdempotencyConflict) {
		t.Fatalf("Ingest(same key, other body) = %v, want ErrIdempotencyConflict", err)
	}
	if _, err := db.Ingest(ctx, Sub("NOPE1", "k1", "medsip", "2025-03-31", t0, 1, 1)); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("Ingest(unknown practice) = %v, want ErrNotFound", err)
	}
	got, err := db.Submission(ctx, "Y01111", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != string(s.Body) || got.Signature != "sig" || got.KeyID != "kid" || got.AsOf != "2025-03-31" || len(got.Measures) != 3 {
		t.Fatalf("Submission = %+v", got)
	}
	m := got.Measures[1]
	if m.MeasureID != "long_term_reviewed" || *m.Numerator != 30 || *m.Denominator != 41 || m.Practice != "Y01111" {
		t.Fatalf("ratio row = %+v", m)
	}
	if sup := got.Measures[2]; !sup.Suppressed || sup.Value != nil {
		t.Fatalf("suppressed row = %+v", sup)
	}
	// The same key at another practice is another submission.
	addPractice(t, db, "Y02222", "QWE")
	if r := ingest(t, db, Sub("Y02222", "k1", "medsip", "2025-03-31", t0, 5, 1)); r.Duplicate {
		t.Fatal("same key at another practice was taken for a duplicate")
	}
}

func testSupersede(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	first := ingest(t, db, Sub("Y01111", "k1", "medsip", "2025-03-31", t0, 41, 30))
	second := ingest(t, db, Sub("Y01111", "k2", "medsip", "2025-03-31", t0.Add(time.Hour), 43, 31))
	if second.Submission.Supersedes != "k1" {
		t.Fatalf("second.Supersedes = %q, want k1", second.Submission.Supersedes)
	}
	third := ingest(t, db, Sub("Y01111", "k3", "medsip", "2025-03-31", t0.Add(2*time.Hour), 44, 32))
	if third.Submission.Supersedes != "k2" {
		t.Fatalf("third.Supersedes = %q, want k2", third.Submission.Supersedes)
	}
	// A duplicate of a superseded submission still gets its original answer.
	dup := ingest(t, db, Sub("Y01111", "k1", "medsip", "2025-03-31", t0, 41, 30))
	if !dup.Duplicate || dup.Submission.ID != first.Submission.ID || dup.Submission.Supersedes != "" {
		t.Fatalf("duplicate of superseded = %+v", dup)
	}
	cur, err := db.CurrentSubmission(ctx, "Y01111", "medsip", "2025-03-31")
	if err != nil {
		t.Fatal(err)
	}
	if cur.IdempotencyKey != "k3" || !cur.Current() || cur.Supersedes != "k2" {
		t.Fatalf("CurrentSubmission = %+v", cur)
	}
	hist, err := db.SubmissionHistory(ctx, store.SubmissionFilter{Practice: "Y01111"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 {
		t.Fatalf("history has %d submissions, want 3", len(hist))
	}
	want := []struct{ key, sup, by string }{{"k1", "", "k2"}, {"k2", "k1", "k3"}, {"k3", "k2", ""}}
	for i, w := range want {
		if h := hist[i]; h.IdempotencyKey != w.key || h.Supersedes != w.sup || h.SupersededBy != w.by {
			t.Errorf("history[%d] = %s supersedes %q by %q, want %s %q %q", i, h.IdempotencyKey, h.Supersedes, h.SupersededBy, w.key, w.sup, w.by)
		}
	}
	old, err := db.Submission(ctx, "Y01111", "k1")
	if err != nil || old.Current() || len(old.Measures) != 3 {
		t.Fatalf("superseded submission = %+v, %v", old, err)
	}
	curs, err := db.CurrentSubmissions(ctx, store.SubmissionFilter{Practice: "Y01111"})
	if err != nil || len(curs) != 1 || curs[0].IdempotencyKey != "k3" {
		t.Fatalf("CurrentSubmissions = %+v, %v", curs, err)
	}
	rows, err := db.CurrentMeasures(ctx, "medsip", "2025-03-31", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || *rows[0].Value != 44 {
		t.Fatalf("CurrentMeasures after supersede = %+v", rows)
	}
	entries, err := db.Audit().List(ctx, "Y01111/medsip/2025-03-31", 0)
	if err != nil || len(entries) != 2 || entries[0].Action != "submission.supersede" {
		t.Fatalf("audit of supersede = %+v, %v", entries, err)
	}
}

func testMeasureQueries(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	addPractice(t, db, "Y02222", "QWE")
	addPractice(t, db, "Z03333", "QXY")
	ingest(t, db, Sub("Y01111", "a", "medsip", "2025-02-28", t0, 40, 20))
	ingest(t, db, Sub("Y01111", "b", "medsip", "2025-01-31", t0, 39, 19))
	ingest(t, db, Sub("Y01111", "c", "medsip", "2025-03-31", t0, 41, 30))
	ingest(t, db, Sub("Y01111", "d", "medsip", "2025-03-31", t0.Add(time.Hour), 42, 31)) // supersedes c
	ingest(t, db, Sub("Y02222", "a", "medsip", "2025-03-31", t0, 10, 5))
	ingest(t, db, Sub("Z03333", "a", "medsip", "2025-03-31", t0, 7, 7))
	ingest(t, db, Sub("Y01111", "e", "other", "2025-03-31", t0, 1, 1))

	series, err := db.MeasureSeries(ctx, "Y01111", "medsip", "long_term")
	if err != nil {
		t.Fatal(err)
	}
	var pts []string
	for _, m := range series {
		pts = append(pts, fmt.Sprintf("%s=%g", m.AsOf, *m.Value))
	}
	if got, want := fmt.Sprint(pts), "[2025-01-31=39 2025-02-28=40 2025-03-31=42]"; got != want {
		t.Fatalf("MeasureSeries = %s, want %s", got, want)
	}
	rows, err := db.CurrentMeasures(ctx, "medsip", "2025-03-31", "QWE")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rows {
		if m.MeasureID == "long_term_reviewed" {
			got = append(got, fmt.Sprintf("%s:%g/%g", m.Practice, *m.Numerator, *m.Denominator))
		}
	}
	if g, want := fmt.Sprint(got), "[Y01111:31/42 Y02222:5/10]"; g != want {
		t.Fatalf("CurrentMeasures(QWE) ratios = %s, want %s", g, want)
	}
	all, err := db.CurrentMeasures(ctx, "medsip", "2025-03-31", "")
	if err != nil || len(all) != 9 {
		t.Fatalf("CurrentMeasures(all) = %d rows, %v; want 9", len(all), err)
	}
	curs, err := db.CurrentSubmissions(ctx, store.SubmissionFilter{ICB: "QWE", Pack: "medsip"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range curs {
		keys = append(keys, s.Practice+"/"+s.AsOf+"/"+s.IdempotencyKey)
	}
	if g, want := fmt.Sprint(keys), "[Y01111/2025-01-31/b Y01111/2025-02-28/a Y01111/2025-03-31/d Y02222/2025-03-31/a]"; g != want {
		t.Fatalf("CurrentSubmissions(QWE, medsip) = %s, want %s", g, want)
	}
	hist, err := db.SubmissionHistory(ctx, store.SubmissionFilter{Pack: "medsip", AsOf: "2025-03-31"})
	if err != nil || len(hist) != 4 {
		t.Fatalf("SubmissionHistory(medsip, 2025-03-31) = %d, %v; want 4", len(hist), err)
	}
}

// testPeriodFigures reads a period's figures as reconciliation does: the
// current submissions, then the measures asked for, nulls kept, each
// submission's in measure id order, and those of the submissions named
// even when superseded between the two reads.
func testPeriodFigures(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	addPractice(t, db, "Y02222", "QWE")
	addPractice(t, db, "Z03333", "QXY")
	ingest(t, db, Sub("Y01111", "c", "medsip", "2025-03-31", t0, 41, 30))
	ingest(t, db, Sub("Y01111", "d", "medsip", "2025-03-31", t0.Add(time.Hour), 42, 31)) // supersedes c
	ingest(t, db, Sub("Y02222", "a", "medsip", "2025-03-31", t0, 10, 5))
	ingest(t, db, Sub("Y02222", "b", "medsip", "2025-02-28", t0, 9, 4))
	ingest(t, db, Sub("Z03333", "a", "medsip", "2025-03-31", t0, 7, 7))
	ingest(t, db, Sub("Y01111", "e", "other", "2025-03-31", t0, 1, 1))

	subs, err := db.PeriodSubmissions(ctx, "medsip", "2025-03-31", "QWE")
	if err != nil {
		t.Fatal(err)
	}
	show := func(subs []store.PeriodFigures) string {
		var b strings.Builder
		num := func(p *float64) string {
			if p == nil {
				return "null"
			}
			return strconv.FormatFloat(*p, 'g', -1, 64)
		}
		for _, s := range subs {
			fmt.Fprintf(&b, "%s/%s:", s.Practice, s.IdempotencyKey)
			for _, m := range s.Measures {
				fmt.Fprintf(&b, " %s(%s) %s/%s=%s", m.ID, m.Kind, num(m.Numerator), num(m.Denominator), num(m.Value))
			}
			b.WriteString("; ")
		}
		return b.String()
	}
	if got, want := show(subs), "Y01111/d:; Y02222/a:; "; got != want {
		t.Fatalf("PeriodSubmissions(QWE) = %s, want %s", got, want)
	}
	// Y02222 resubmits after the submissions were read: the figures stay
	// those of the submission recorded with them.
	ingest(t, db, Sub("Y02222", "a2", "medsip", "2025-03-31", t0.Add(time.Hour), 11, 6))
	if err := db.MeasuresOf(ctx, subs, []string{"long_term_reviewed", "long_term"}); err != nil {
		t.Fatal(err)
	}
	want := "Y01111/d: long_term(count) null/null=42 long_term_reviewed(ratio) 31/42=0.7380952380952381; " +
		"Y02222/a: long_term(count) null/null=10 long_term_reviewed(ratio) 5/10=0.5; "
	if got := show(subs); got != want {
		t.Fatalf("MeasuresOf(two measures) =\n%s\nwant\n%s", got, want)
	}
	if err := db.MeasuresOf(ctx, subs, nil); err != nil {
		t.Fatal(err)
	}
	want = "Y01111/d: long_term(count) null/null=42 long_term_reviewed(ratio) 31/42=0.7380952380952381 suppressed_one(count) null/null=null; " +
		"Y02222/a: long_term(count) null/null=10 long_term_reviewed(ratio) 5/10=0.5 suppressed_one(count) null/null=null; "
	if got := show(subs); got != want {
		t.Fatalf("MeasuresOf(all) =\n%s\nwant\n%s", got, want)
	}
	all, err := db.PeriodSubmissions(ctx, "medsip", "2025-03-31", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := show(all), "Y01111/d:; Y02222/a2:; Z03333/a:; "; got != want {
		t.Fatalf("PeriodSubmissions(all) = %s, want %s", got, want)
	}
	if err := db.MeasuresOf(ctx, nil, []string{"long_term"}); err != nil {
		t.Fatalf("MeasuresOf(no submissions) = %v", err)
	}
}

func testConcurrentIngest(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := db.Ingest(ctx, Sub("Y01111", fmt.Sprintf("k%02d", i), "medsip", "2025-03-31", t0.Add(time.Duration(i)*time.Second), 40, 20))
			errs <- err
		}()
		go func() { // the same submission retried at once
			defer wg.Done()
			_, err := db.Ingest(ctx, Sub("Y01111", fmt.Sprintf("k%02d", i), "medsip", "2025-03-31", t0.Add(time.Duration(i)*time.Second), 40, 20))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Ingest: %v", err)
		}
	}
	hist, err := db.SubmissionHistory(ctx, store.SubmissionFilter{Practice: "Y01111"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != n {
		t.Fatalf("history has %d submissions, want %d", len(hist), n)
	}
	current := 0
	for _, h := range hist {
		if h.Current() {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("%d current submissions, want 1", current)
	}
	// The supersede chain is unbroken: every one but the first supersedes
	// another, each at most once.
	superseded := map[string]bool{}
	for _, h := range hist {
		if h.Supersedes != "" {
			if superseded[h.Supersedes] {
				t.Fatalf("%s superseded twice", h.Supersedes)
			}
			superseded[h.Supersedes] = true
		}
	}
	if len(superseded) != n-1 {
		t.Fatalf("%d supersessions, want %d", len(superseded), n-1)
	}
}

func testHeartbeats(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	addPractice(t, db, "Y02222", "QWE")
	addPractice(t, db, "Y03333", "QWE")
	addPractice(t, db, "Z04444", "QXY")
	addPractice(t, db, "Y05555", "QWE") // never enrolled: not expected to beat
	for i, ods := range []string{"Y01111", "Y02222", "Y03333", "Z04444"} {
		code := fmt.Sprintf("code%d", i)
		if err := db.AddEnrolmentCode(ctx, ods, code, t0, t0.Add(time.Hour), "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Enrol(ctx, ods, code, []byte{byte(i + 1)}, "kid", t0); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(10 * 24 * time.Hour)
	beat := func(ods string, at time.Time, version string) {
		t.Helper()
		if err := db.RecordHeartbeat(ctx, collector.Heartbeat{Practice: ods, ReceivedAt: at, AgentVersion: version, Pending: 2, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	beat("Y01111", now.Add(-5*24*time.Hour), "1.0")
	beat("Y01111", now.Add(-1*time.Hour), "1.1")
	beat("Y02222", now.Add(-4*24*time.Hour), "1.0")
	beat("Z04444", now.Add(-9*24*time.Hour), "1.0")
	last, err := db.LastHeartbeats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := last["Y01111"]; got.AgentVersion != "1.1" || !got.ReceivedAt.Equal(now.Add(-time.Hour)) || got.Pending != 2 {
		t.Fatalf("LastHeartbeats[Y01111] = %+v", got)
	}
	if len(last) != 3 {
		t.Fatalf("LastHeartbeats has %d practices, want 3", len(last))
	}
	silent, err := db.SilentPractices(ctx, "", 3*24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range silent {
		got = append(got, fmt.Sprintf("%s:%t", s.Practice.ODS, s.LastHeartbeat.IsZero()))
	}
	if g, want := fmt.Sprint(got), "[Y02222:false Y03333:true Z04444:false]"; g != want {
		t.Fatalf("SilentPractices(3 days) = %s, want %s", g, want)
	}
	silent, err = db.SilentPractices(ctx, "QWE", 3*24*time.Hour, now)
	if err != nil || len(silent) != 2 {
		t.Fatalf("SilentPractices(QWE) = %v, %v", silent, err)
	}
}

func testAudit(t *testing.T, db *store.DB) {
	a := db.Audit()
	id1, err := a.Append(ctx, collector.AuditEntry{At: t0, Actor: "user:ana", Action: "scheme.approve", Subject: "S1", Before: `{"state":"calculated"}`, After: `{"state":"approved"}`})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := a.Append(ctx, collector.AuditEntry{At: t0.Add(time.Minute), Actor: "user:ana", Action: "scheme.pay", Subject: "S1"})
	if err != nil {
		t.Fatal(err)
	}
	if id2 <= id1 {
		t.Fatalf("ids %d then %d do not increase", id1, id2)
	}
	entries, err := a.List(ctx, "S1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Action != "scheme.pay" || entries[1].Before != `{"state":"calculated"}` || !entries[1].At.Equal(t0.Truncate(time.Microsecond)) {
		t.Fatalf("List = %+v", entries)
	}
}

func testSchemes(t *testing.T, db *store.DB) {
	yaml := "version: 1\nid: s1\n"
	if err := db.AddScheme(ctx, store.StoredScheme{ID: "s1", YAML: yaml, AddedAt: t0, AddedBy: "user:ana"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddScheme(ctx, store.StoredScheme{ID: "s1", YAML: "other", AddedBy: "user:ana"}); !errors.Is(err, collector.ErrExists) {
		t.Fatalf("AddScheme twice = %v, want ErrExists", err)
	}
	if err := db.AddScheme(ctx, store.StoredScheme{ID: "a0", YAML: "a", AddedBy: "cli"}); err != nil {
		t.Fatal(err)
	}
	s, err := db.Scheme(ctx, "s1")
	if err != nil || s.YAML != yaml || s.AddedBy != "user:ana" || !s.AddedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Fatalf("Scheme(s1) = %+v, %v", s, err)
	}
	if _, err := db.Scheme(ctx, "nope"); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("Scheme(nope) = %v, want ErrNotFound", err)
	}
	all, err := db.Schemes(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "a0" || all[1].ID != "s1" {
		t.Fatalf("Schemes = %+v, %v", all, err)
	}
	entries, err := db.Audit().List(ctx, "scheme:s1", 10)
	if err != nil || len(entries) != 1 || entries[0].Action != "scheme.add" {
		t.Fatalf("audit of scheme add = %+v, %v", entries, err)
	}
}

func testRetireScheme(t *testing.T, db *store.DB) {
	addPractice(t, db, "Y01111", "QWE")
	if err := db.AddScheme(ctx, store.StoredScheme{ID: "s1", YAML: "version: 1", AddedAt: t0, AddedBy: "cli"}); err != nil {
		t.Fatal(err)
	}
	if err := db.RetireScheme(ctx, "nope", "cli", "why", t0); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("RetireScheme(nope) = %v, want ErrNotFound", err)
	}
	// A claim being signed off holds the scheme in force.
	move := func(from, to schemes.State) error {
		return db.SaveCalculation(ctx, store.Calculation{Scheme: "s1", Period: "2025-03", Version: 1, CalculatedAt: t0, CalculatedBy: "t",
			Inputs: "i", Result: []byte("{}")}, 0, []schemes.Event{{Scheme: "s1", Period: "2025-03", Practice: "Y01111", At: t0,
			Actor: "pm", Role: "practice_manager", From: from, To: to}})
	}
	if err := move("calculated", "declared"); err != nil {
		t.Fatal(err)
	}
	err := db.RetireScheme(ctx, "s1", "cli", "replaced by s2", t0.Add(time.Hour))
	if !errors.Is(err, store.ErrClaimsInProgress) || !strings.Contains(err.Error(), "2025-03 Y01111 declared") {
		t.Fatalf("RetireScheme with a declared claim = %v", err)
	}
	if s, err := db.Scheme(ctx, "s1"); err != nil || s.Retired() {
		t.Fatalf("scheme after a refused retirement = %+v, %v", s, err)
	}
	if err := db.MoveClaim(ctx, schemes.Event{Scheme: "s1", Period: "2025-03", Practice: "Y01111", At: t0, Actor: "lead",
		Role: "icb_lead", From: "declared", To: "calculated", Reason: "r"}, 1); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Hour)
	if err := db.RetireScheme(ctx, "s1", "user:ana", "replaced by s2", at); err != nil {
		t.Fatal(err)
	}
	s, err := db.Scheme(ctx, "s1")
	if err != nil || !s.Retired() || !s.RetiredAt.Equal(at.Truncate(time.Microsecond)) || s.RetiredBy != "user:ana" || s.RetiredReason != "replaced by s2" || s.YAML != "version: 1" {
		t.Fatalf("retired scheme = %+v, %v", s, err)
	}
	if err := db.RetireScheme(ctx, "s1", "cli", "again", at); !errors.Is(err, store.ErrRetired) {
		t.Fatalf("retiring twice = %v, want ErrRetired", err)
	}
	// Kept for audit: listed, with its claims and its history.
	all, err := db.Schemes(ctx)
	if err != nil || len(all) != 1 || !all[0].Retired() {
		t.Fatalf("Schemes = %+v, %v", all, err)
	}
	if events, err := db.ClaimEvents(ctx, "s1", "2025-03", ""); err != nil || len(events) != 2 {
		t.Fatalf("history of a retired scheme = %+v, %v", events, err)
	}
	entries, err := db.Audit().List(ctx, "scheme:s1", 10)
	if err != nil || len(entries) != 2 || entries[0].Action != "scheme.retire" || entries[0].Actor != "user:ana" || !strings.Contains(entries[0].After, "replaced by s2") {
		t.Fatalf("audit of retirement = %+v, %v", entries, err)
	}
}

// The collector closes claims with nothing payable in chunks (a first
// calculation can close every practice's claim), records each closing in
// the claim's history, reopens them, and never overwrites a claim someone
// has moved meanwhile.
func testClosedClaims(t *testing.T, db *store.DB) {
	const n = 1203 // more than two chunks
	var practices []string
	for i := range n {
		ods := fmt.Sprintf("Y%05d", i)
		addPractice(t, db, ods, "QWE")
		practices = append(practices, ods)
	}
	if err := db.AddScheme(ctx, store.StoredScheme{ID: "s", YAML: "version: 1", AddedBy: "t"}); err != nil {
		t.Fatal(err)
	}
	calc := func(version int64) store.Calculation {
		return store.Calculation{Scheme: "s", Period: "2025-03", Version: version, CalculatedAt: t0, CalculatedBy: "steward",
			Inputs: fmt.Sprint(version), Result: []byte("{}")}
	}
	steward := func(ods string, from, to schemes.State) schemes.Event {
		return schemes.Event{Scheme: "s", Period: "2025-03", Practice: ods, At: t0, Actor: store.StewardActor, Role: "steward",
			From: from, To: to, Reason: "nothing payable: gateway not met (x)"}
	}
	var events []schemes.Event
	for i, ods := range practices {
		if i%2 == 0 {
			events = append(events, steward(ods, "open", "closed"))
		} else {
			events = append(events, steward(ods, "open", "calculated")) // implied: no row
		}
	}
	if err := db.SaveCalculation(ctx, calc(1), 0, events); err != nil {
		t.Fatal(err)
	}
	claims, err := db.Claims(ctx, "s", "2025-03")
	if err != nil || len(claims) != (n+1)/2 || claims["Y00000"].State != "closed" || claims["Y01202"].State != "closed" {
		t.Fatalf("%d claim rows, %v; want %d closed", len(claims), err, (n+1)/2)
	}
	history, err := db.ClaimEvents(ctx, "s", "2025-03", "Y00002")
	if err != nil || len(history) != 1 || history[0].To != "closed" || history[0].Reason != "nothing payable: gateway not met (x)" {
		t.Fatalf("history of a closed claim = %+v, %v", history, err)
	}
	audit, err := db.Audit().List(ctx, "scheme:s/2025-03", 0)
	if err != nil || len(audit) != 1 || !strings.Contains(audit[0].After, fmt.Sprintf(`"open -\u003e closed":%d`, (n+1)/2)) {
		t.Fatalf("calculation audit = %+v, %v", audit, err)
	}

	// Y00000 reopens; Y00001 (calculated, no row) closes; Y00003 is
	// declared by its practice before the next calculation lands.
	if err := db.MoveClaim(ctx, schemes.Event{Scheme: "s", Period: "2025-03", Practice: "Y00003", At: t0, Actor: "pm",
		Role: "practice_manager", From: "calculated", To: "declared"}, 1); err != nil {
		t.Fatal(err)
	}
	stale := []schemes.Event{steward("Y00000", "closed", "calculated"), steward("Y00001", "calculated", "closed"), steward("Y00003", "calculated", "closed")}
	if err := db.SaveCalculation(ctx, calc(2), 1, stale); !errors.Is(err, store.ErrStale) {
		t.Fatalf("closing a claim declared meanwhile = %v, want ErrStale", err)
	}
	if claims, _ := db.Claims(ctx, "s", "2025-03"); claims["Y00000"].State != "closed" || claims["Y00003"].State != "declared" {
		t.Fatalf("a refused calculation wrote claims: %+v %+v", claims["Y00000"], claims["Y00003"])
	}
	if err := db.SaveCalculation(ctx, calc(2), 1, append(stale[:2], steward("Y00003", "declared", "closed"))); err != nil {
		t.Fatal(err)
	}
	claims, err = db.Claims(ctx, "s", "2025-03")
	if err != nil || claims["Y00000"].State != "calculated" || claims["Y00001"].State != "closed" || claims["Y00003"].State != "closed" {
		t.Fatalf("after reopening and closing: %+v %+v %+v, %v", claims["Y00000"], claims["Y00001"], claims["Y00003"], err)
	}
}

// MedsipFigures are the headline figures a test submission carries.
type MedsipFigures struct {
	Reviewed, LongTerm, Stopped, HighDoseBaseline float64
}

// MedsipSubmission builds a stored submission of a valid medsip results
// document, as the server would from a signed request: the body and its
// measure rows agree.
func MedsipSubmission(t testing.TB, ods, key, asOf string, received time.Time, f MedsipFigures) collector.Submission {
	t.Helper()
	doc := results.Document{
		Schema: results.Schema, Practice: ods, Pack: results.PackRef{ID: "medsip", Version: "2026.2.0"},
		AsOf: asOf, Baseline: "2026-03-31",
		Measures: []results.Measure{
			{ID: "eligible_adults", Kind: results.KindCount, Value: results.F(500)},
			{ID: "long_term", Kind: results.KindCount, Value: results.F(f.LongTerm)},
			{ID: "long_term_reviewed", Kind: results.KindRatio, Numerator: results.F(f.Reviewed), Denominator: results.F(f.LongTerm),
				Value: ratio(f.Reviewed, f.LongTerm)},
			{ID: "high_dose_baseline_stopped", Kind: results.KindRatio, Numerator: results.F(f.Stopped), Denominator: results.F(f.HighDoseBaseline),
				Value: ratio(f.Stopped, f.HighDoseBaseline)},
		},
		Producer: results.Producer{Name: "steward-agent", Version: "test"},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	sub := collector.Submission{
		Practice: ods, IdempotencyKey: key, BodySHA256: hex.EncodeToString(sum[:]), Body: body,
		Signature: "sig", KeyID: "kid", SignedAt: received.Format(time.RFC3339), ReceivedAt: received,
		Pack: doc.Pack.ID, PackVersion: doc.Pack.Version, AsOf: doc.AsOf, Baseline: doc.Baseline, AgentVersion: "test",
	}
	for _, m := range doc.Measures {
		sub.Measures = append(sub.Measures, collector.MeasureRow{MeasureID: m.ID, Kind: m.Kind,
			Numerator: m.Numerator, Denominator: m.Denominator, Value: m.Value})
	}
	return sub
}

func ratio(n, d float64) *float64 {
	if d == 0 {
		return nil
	}
	return results.F(results.Round4(n / d))
}
