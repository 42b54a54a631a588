package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
)

func openTestStore(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestUserPasswordPolicy(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "")
	for _, tc := range []struct {
		name, password string
		code           int
		msg            string
	}{
		{"ana", "password1234", cli.ExitUsage, "most used passwords"},
		{"ana", "Sunshine2024!", cli.ExitUsage, "most used passwords"},
		{"margaret", "margaret-kettle-river", cli.ExitUsage, "contains the user name"},
		{"ana", "ééééééééééé", cli.ExitUsage, "it has 11 characters"}, // 22 bytes
		{"ana", "éàüöñçøåßœæ€", 0, ""},                                // 12 runes
		{"bad name", "kettle river violin", cli.ExitUsage, "--name"},
	} {
		code, _, errs := run(t, tc.password+"\n", "user", "add", "--name", tc.name, "--role", "admin", "--password-stdin", "--config", cfg)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("user add %s with %q: exit %d %q; want %d %q", tc.name, tc.password, code, errs, tc.code, tc.msg)
		}
	}
	code, _, errs := run(t, "password1234\n", "user", "set", "--name", "ana", "--password-stdin", "--config", cfg)
	if code != cli.ExitUsage || !strings.Contains(errs, "most used") {
		t.Fatalf("user set --password-stdin password1234: exit %d %s", code, errs)
	}
}

func TestUserTokenRotate(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "api_token_lifetime: 60d\n")
	code, out, errs := run(t, "", "user", "add", "--name", "bot", "--role", "icb_analyst", "--config", cfg)
	first := tokenRE.FindStringSubmatch(out)
	if code != 0 || first == nil {
		t.Fatalf("user add: %d %s %s", code, out, errs)
	}
	if want := "works until " + time.Now().Add(60*24*time.Hour).UTC().Format("2006-01-02"); !strings.Contains(out, want) {
		t.Fatalf("user add does not say when the token ends (%q):\n%s", want, out)
	}
	code, out, errs = run(t, "", "user", "token", "rotate", "--name", "bot", "--lifetime", "720h", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`^stw_[A-Za-z0-9_-]{43}\n$`).MatchString(out) || !strings.Contains(errs, "earlier tokens no longer work") {
		t.Fatalf("user token rotate: exit %d, stdout %q, stderr %q; want the token alone on stdout", code, out, errs)
	}
	second := strings.TrimSpace(out)
	db := openTestStore(t, dir)
	ctx := context.Background()
	if _, err := db.UserByToken(ctx, auth.HashSecret(first[1]), time.Now()); err == nil {
		t.Fatal("the first token still works after rotation")
	}
	if u, err := db.UserByToken(ctx, auth.HashSecret(second), time.Now().Add(29*24*time.Hour)); err != nil || u.Name != "bot" {
		t.Fatalf("the new token 29 days on: %+v, %v", u, err)
	}
	if _, err := db.UserByToken(ctx, auth.HashSecret(second), time.Now().Add(31*24*time.Hour)); err == nil {
		t.Fatal("the new token works past its 720h lifetime")
	}
	code, out, _ = run(t, "", "user", "list", "--config", cfg)
	if want := time.Now().Add(30 * 24 * time.Hour).UTC().Format("2006-01-02"); code != 0 || !regexp.MustCompile(`(?m)^bot .* `+want+` [0-9:]+ +- *$`).MatchString(out) {
		t.Fatalf("user list does not show the token's expiry %s:\n%s", want, out)
	}
	if code, _, _ := run(t, "", "user", "token", "rotate", "--name", "nobody", "--config", cfg); code != cli.ExitFailure {
		t.Fatalf("rotate for an unknown user: exit %d", code)
	}
	if code, _, _ := run(t, "", "user", "token", "rotate", "--name", "bot", "--lifetime", "1m", "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("rotate with a one-minute lifetime: exit %d", code)
	}
	entries, err := db.Audit().List(ctx, "user:bot", 0)
	if err != nil || len(entries) == 0 || entries[0].Action != "user.token_rotate" {
		t.Fatalf("audit = %+v, %v", entries, err)
	}
}

func TestUserLockoutShownAndUnlocked(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "")
	if code, _, errs := run(t, "kettle river violin\n", "user", "add", "--name", "ana", "--role", "admin", "--password-stdin", "--config", cfg); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	db := openTestStore(t, dir)
	ctx := context.Background()
	until := time.Now().Add(15 * time.Minute)
	for _, s := range []string{"user:ana", "address:192.0.2.7"} {
		if err := db.LockLogin(ctx, s, until, 10, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := run(t, "", "user", "list", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`(?m)^ana .* - +`+regexp.QuoteMeta(when(until))+` *$`).MatchString(out) ||
		!strings.Contains(out, "Sign-in locked for address:192.0.2.7 until "+when(until)+" after 10 failures.") {
		t.Fatalf("user list does not show the lockouts:\n%s", out)
	}
	code, out, _ = run(t, "", "user", "set", "--name", "ana", "--unlock", "--actor", "admin-bob", "--config", cfg)
	if code != 0 || !strings.Contains(out, "User ana: unlocked") {
		t.Fatalf("user set --unlock: %d %s", code, out)
	}
	if got, err := db.LoginLockedUntil(ctx, []string{"user:ana"}, time.Now()); err != nil || !got.IsZero() {
		t.Fatalf("still locked after --unlock: %v, %v", got, err)
	}
	if code, out, _ = run(t, "", "user", "set", "--name", "ana", "--unlock", "--config", cfg); code != 0 || !strings.Contains(out, "was not locked") {
		t.Fatalf("user set --unlock again: %d %s", code, out)
	}
	if code, _, _ := run(t, "", "user", "set", "--name", "nobody", "--unlock", "--config", cfg); code != cli.ExitFailure {
		t.Fatalf("unlock an unknown user: exit %d", code)
	}
	entries, _ := db.Audit().List(ctx, "user:ana", 1)
	if len(entries) != 1 || entries[0].Action != "login.unlock" || entries[0].Actor != "admin-bob" {
		t.Fatalf("audit = %+v", entries)
	}
}

// TestServePrunesAndBoundsSignIn: serve prunes the store at start (and
// every prune_every) and logs what it deleted, and sizes the sign-in pool
// from sign_in.memory_budget_mib.
func TestServePrunesAndBoundsSignIn(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "sign_in:\n  memory_budget_mib: 256\nprune_every: 1m\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	log := watchLog(pr)
	exit := make(chan int, 1)
	go func() {
		exit <- program().Do(ctx, []string{"serve", "--config", cfg}, cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: pw})
		pw.Close()
	}()
	want := web.PoolSize(256<<20, runtime.GOMAXPROCS(0)) // 3 with 8 processors, 1 with 2
	log.waitFor(t, regexp.MustCompile(fmt.Sprintf(`msg="steward-collector serving".* sign_in_checks_at_once=%d`, want)))
	log.waitFor(t, regexp.MustCompile(`msg="pruned the store" heartbeats=0 heartbeat_nonces=0 sessions=0 enrolment_codes=0 api_tokens=0 lockouts=0`))
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("serve exit %d; log:\n%s", code, log)
	}
}
