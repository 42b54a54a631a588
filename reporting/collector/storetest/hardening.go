package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
)

// enrolled adds and enrols a practice.
func enrolled(t *testing.T, db *store.DB, ods string) {
	t.Helper()
	addPractice(t, db, ods, "QWE")
	if err := db.AddEnrolmentCode(ctx, ods, "code-"+ods, t0, t0.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enrol(ctx, ods, "code-"+ods, []byte{1}, "kid", t0); err != nil {
		t.Fatal(err)
	}
}

func testLockouts(t *testing.T, db *store.DB) {
	until := t0.Add(15 * time.Minute)
	if err := db.LockLogin(ctx, "user:ana", until, 10, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.LockLogin(ctx, "address:192.0.2.7", t0.Add(5*time.Minute), 50, t0); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoginLockedUntil(ctx, []string{"user:ana", "address:198.51.100.1"}, t0.Add(time.Minute))
	if err != nil || !got.Equal(until.Truncate(time.Microsecond)) {
		t.Fatalf("LoginLockedUntil(ana) = %v, %v; want %v", got, err, until)
	}
	if got, err := db.LoginLockedUntil(ctx, []string{"user:bob"}, t0); err != nil || !got.IsZero() {
		t.Fatalf("LoginLockedUntil(bob) = %v, %v; want none", got, err)
	}
	if got, err := db.LoginLockedUntil(ctx, []string{"user:ana"}, until.Add(time.Second)); err != nil || !got.IsZero() {
		t.Fatalf("LoginLockedUntil after the lockout = %v, %v; want none", got, err)
	}
	ls, err := db.LoginLockouts(ctx, t0.Add(time.Minute))
	if err != nil || len(ls) != 2 || ls[0].Subject != "address:192.0.2.7" || ls[1].Failures != 10 {
		t.Fatalf("LoginLockouts = %+v, %v", ls, err)
	}
	// Locking again extends.
	if err := db.LockLogin(ctx, "user:ana", until.Add(time.Hour), 20, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.LoginLockedUntil(ctx, []string{"user:ana"}, until.Add(time.Minute)); got.IsZero() {
		t.Fatal("a second lockout did not extend the first")
	}
	if ended, err := db.UnlockLogin(ctx, "user:ana", "user:admin", t0.Add(3*time.Minute)); err != nil || !ended {
		t.Fatalf("UnlockLogin = %t, %v", ended, err)
	}
	if ended, err := db.UnlockLogin(ctx, "user:ana", "user:admin", t0.Add(3*time.Minute)); err != nil || ended {
		t.Fatalf("UnlockLogin again = %t, %v; want nothing to end", ended, err)
	}
	if got, _ := db.LoginLockedUntil(ctx, []string{"user:ana"}, t0.Add(4*time.Minute)); !got.IsZero() {
		t.Fatal("still locked after UnlockLogin")
	}
	entries, err := db.Audit().List(ctx, "user:ana", 0)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" by "+e.Actor)
	}
	if err != nil || strings.Join(actions, ", ") != "login.unlock by user:admin, login.lockout by collector, login.lockout by collector" {
		t.Fatalf("audit of user:ana = %v, %v", actions, err)
	}
}

func testTokenRotation(t *testing.T, db *store.DB) {
	u, err := db.AddUser(ctx, collector.User{Name: "bot", Role: collector.RoleICBAnalyst, ICB: "QWE", CreatedAt: t0}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddAPIToken(ctx, u.ID, "old", t0, t0.Add(90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(30 * 24 * time.Hour)
	if _, err := db.RotateAPIToken(ctx, "bot", "new", t0.Add(time.Hour), exp, "cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UserByToken(ctx, "old", t0.Add(2*time.Hour)); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("the old token after rotation: %v, want ErrNotFound", err)
	}
	if got, err := db.UserByToken(ctx, "new", t0.Add(2*time.Hour)); err != nil || got.Name != "bot" {
		t.Fatalf("the new token: %+v, %v", got, err)
	}
	if _, err := db.UserByToken(ctx, "new", exp.Add(time.Second)); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("the new token after its expiry: %v, want ErrNotFound", err)
	}
	ex, err := db.TokenExpiries(ctx)
	if err != nil || !ex[u.ID].Equal(exp.Truncate(time.Microsecond)) {
		t.Fatalf("TokenExpiries = %v, %v; want %v for bot", ex, err, exp)
	}
	if _, err := db.RotateAPIToken(ctx, "nobody", "x", t0, exp, "cli"); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("RotateAPIToken(unknown) = %v", err)
	}
	if e, err := db.Audit().List(ctx, "user:bot", 1); err != nil || len(e) != 1 || e[0].Action != "user.token_rotate" || strings.Contains(e[0].After, "new") {
		t.Fatalf("audit of the rotation = %+v, %v", e, err)
	}
}

func testHeartbeatReplay(t *testing.T, db *store.DB) {
	enrolled(t, db, "Y01111")
	enrolled(t, db, "Y02222")
	hb := collector.Heartbeat{Practice: "Y01111", ReceivedAt: t0, AgentVersion: "1.0", Body: []byte(`{}`), Nonce: "n1"}
	if err := db.RecordHeartbeat(ctx, hb); err != nil {
		t.Fatal(err)
	}
	hb.ReceivedAt = t0.Add(time.Minute)
	if err := db.RecordHeartbeat(ctx, hb); !errors.Is(err, collector.ErrReplay) {
		t.Fatalf("the same nonce again = %v, want ErrReplay", err)
	}
	last, _ := db.LastHeartbeats(ctx, "")
	if !last["Y01111"].ReceivedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Fatalf("a replay moved the last heartbeat to %v", last["Y01111"].ReceivedAt)
	}
	// Another practice may use the same nonce; no nonce is not checked.
	if err := db.RecordHeartbeat(ctx, collector.Heartbeat{Practice: "Y02222", ReceivedAt: t0, Body: []byte(`{}`), Nonce: "n1"}); err != nil {
		t.Fatalf("another practice's nonce n1: %v", err)
	}
	for range 2 {
		if err := db.RecordHeartbeat(ctx, collector.Heartbeat{Practice: "Y02222", ReceivedAt: t0.Add(2 * time.Hour), Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

// testHeartbeatStorageBounded sends a flood of large heartbeats from one
// practice: the history keeps one per clock hour, so three hours of a
// heartbeat every 20 seconds store three rows, the last of each hour, and
// the latest is the newest.
func testHeartbeatStorageBounded(t *testing.T, db *store.DB) {
	enrolled(t, db, "Y01111")
	body := []byte(`{"pad":"` + strings.Repeat("x", 60<<10) + `"}`)
	start := t0.Truncate(time.Hour)
	var lastAt time.Time
	for i := range 540 { // 3 hours
		lastAt = start.Add(time.Duration(i) * 20 * time.Second)
		hb := collector.Heartbeat{Practice: "Y01111", ReceivedAt: lastAt, AgentVersion: fmt.Sprint(i), Body: body, Nonce: fmt.Sprint("n", i)}
		if err := db.RecordHeartbeat(ctx, hb); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := db.HeartbeatHistory(ctx, "Y01111")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, h.AgentVersion)
	}
	if g, want := strings.Join(got, " "), "179 359 539"; g != want {
		t.Fatalf("history after 540 heartbeats over 3 hours = %s, want the last of each hour: %s", g, want)
	}
	last, _ := db.LastHeartbeats(ctx, "")
	if !last["Y01111"].ReceivedAt.Equal(lastAt) || last["Y01111"].AgentVersion != "539" {
		t.Fatalf("latest heartbeat = %+v", last["Y01111"].AgentVersion)
	}
	// A heartbeat that lost a race to a later one of the same practice is
	// not stored beside it.
	if err := db.RecordHeartbeat(ctx, collector.Heartbeat{Practice: "Y01111", ReceivedAt: lastAt.Add(-time.Second), Body: []byte(`{}`), Nonce: "late"}); err != nil {
		t.Fatal(err)
	}
	if hist, _ := db.HeartbeatHistory(ctx, "Y01111"); len(hist) != 3 {
		t.Fatalf("history after a late heartbeat has %d rows, want 3", len(hist))
	}
}

func testPrune(t *testing.T, db *store.DB) {
	enrolled(t, db, "Y01111") // its code is used
	enrolled(t, db, "Y02222")
	addPractice(t, db, "Y03333", "QWE")
	now := t0.Add(40 * 24 * time.Hour)
	if err := db.AddEnrolmentCode(ctx, "Y03333", "expired", t0, t0.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if err := db.AddEnrolmentCode(ctx, "Y03333", "live", now, now.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	beat := func(ods string, at time.Time, nonce string) {
		t.Helper()
		if err := db.RecordHeartbeat(ctx, collector.Heartbeat{Practice: ods, ReceivedAt: at, Body: []byte(`{}`), Nonce: nonce}); err != nil {
			t.Fatal(err)
		}
	}
	beat("Y01111", t0, "a")                           // old
	beat("Y01111", now.Add(-2*24*time.Hour), "b")     // recent
	beat("Y02222", t0.Add(time.Hour), "c")            // old but its practice's latest
	beat("Y01111", now.Add(-5*time.Minute), "recent") // keeps its nonce
	u, err := db.AddUser(ctx, collector.User{Name: "ana", Role: collector.RoleAdmin, CreatedAt: t0}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for i, exp := range []time.Time{t0.Add(time.Hour), now.Add(time.Hour)} {
		s := collector.Session{UserID: u.ID, CSRFToken: "c", CreatedAt: t0, ExpiresAt: exp}
		if err := db.CreateSession(ctx, fmt.Sprint("s", i), s); err != nil {
			t.Fatal(err)
		}
		if err := db.AddAPIToken(ctx, u.ID, fmt.Sprint("t", i), t0, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.LockLogin(ctx, "user:ana", t0.Add(time.Hour), 10, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.LockLogin(ctx, "user:bob", now.Add(time.Hour), 10, now); err != nil {
		t.Fatal(err)
	}
	p, err := db.Prune(ctx, store.PruneOptions{Now: now, HeartbeatsBefore: now.Add(-30 * 24 * time.Hour), NoncesBefore: now.Add(-30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.Pruned{Heartbeats: 1, Nonces: 3, Sessions: 1, EnrolmentCodes: 3, APITokens: 1, Lockouts: 1}); p != want {
		t.Fatalf("Prune = %+v, want %+v", p, want)
	}
	last, _ := db.LastHeartbeats(ctx, "")
	if len(last) != 2 {
		t.Fatalf("after pruning, %d practices have a latest heartbeat, want 2", len(last))
	}
	if hist, _ := db.HeartbeatHistory(ctx, "Y01111"); len(hist) != 2 {
		t.Fatalf("Y01111 keeps %d heartbeats, want the 2 of the last 30 days", len(hist))
	}
	// The recent nonce is still refused; the live code still enrols.
	if err := db.RecordHeartbeat(ctx, collector.Heartbeat{Practice: "Y01111", ReceivedAt: now, Body: []byte(`{}`), Nonce: "recent"}); !errors.Is(err, collector.ErrReplay) {
		t.Fatalf("a recent nonce after pruning = %v, want ErrReplay", err)
	}
	if _, err := db.Enrol(ctx, "Y03333", "live", []byte{3}, "kid", now); err != nil {
		t.Fatalf("the live code after pruning: %v", err)
	}
	if _, _, err := db.Session(ctx, "s1", now); err != nil {
		t.Fatalf("the live session after pruning: %v", err)
	}
	if _, err := db.UserByToken(ctx, "t1", now); err != nil {
		t.Fatalf("the live token after pruning: %v", err)
	}
	// Pruning again finds only the code just used.
	if p, err := db.Prune(ctx, store.PruneOptions{Now: now, HeartbeatsBefore: now.Add(-30 * 24 * time.Hour), NoncesBefore: now.Add(-30 * time.Minute)}); err != nil || p != (store.Pruned{EnrolmentCodes: 1}) {
		t.Fatalf("Prune again = %+v, %v; want the used code only", p, err)
	}
}
