package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/wire"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := program().Do(context.Background(), args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	if code, _, errs := run(t, "", "init-config", "--out", cfg); code != 0 {
		t.Fatalf("init-config: %d %s", code, errs)
	}
	if code, _, _ := run(t, "", "init-config", "--out", cfg); code != cli.ExitFailure {
		t.Fatalf("init-config over an existing file: exit %d", code)
	}
	code, out, errs := run(t, "", "practice", "add", "--ods", "Y01234", "--name", "Riverside Surgery", "--pcn", "North", "--config", cfg)
	if code != 0 {
		t.Fatalf("practice add: %d %s", code, errs)
	}
	codeRE := regexp.MustCompile(`(?m)^  ([0-9A-Z]{4}(-[0-9A-Z]{4}){7})$`)
	if !codeRE.MatchString(out) {
		t.Fatalf("practice add printed no enrolment code:\n%s", out)
	}
	if code, _, _ := run(t, "", "practice", "add", "--ods", "Y01234", "--name", "Again", "--config", cfg); code != cli.ExitFailure {
		t.Fatalf("practice add twice: exit %d", code)
	}
	if code, _, _ := run(t, "", "practice", "add", "--ods", "y1", "--name", "Bad", "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("practice add with a bad ODS code: exit %d", code)
	}
	if code, out, _ = run(t, "", "practice", "code", "--ods", "Y01234", "--config", cfg); code != 0 || !codeRE.MatchString(out) {
		t.Fatalf("practice code: %d\n%s", code, out)
	}
	if code, out, _ = run(t, "", "practice", "list", "--config", cfg); code != 0 || !strings.Contains(out, "Y01234  Riverside Surgery  QWE  North") {
		t.Fatalf("practice list: %d\n%s", code, out)
	}
	if code, _, errs = run(t, "a long enough password\n", "user", "add", "--name", "ana", "--role", "icb_analyst", "--password-stdin", "--config", cfg); code != 0 {
		t.Fatalf("user add --password-stdin: %d %s", code, errs)
	}
	code, out, _ = run(t, "", "user", "add", "--name", "bot", "--role", "admin", "--config", cfg)
	if code != 0 || !regexp.MustCompile(`^stw_[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("user add (token): %d\n%s", code, out)
	}
	if code, _, errs := run(t, "", "user", "add", "--name", "x", "--role", "admin", "--token-lifetime", "5m", "--config", cfg); code != cli.ExitUsage || !strings.Contains(errs, "at least 1h") {
		t.Fatalf("user add with a 5-minute token: exit %d %s", code, errs)
	}
	if code, _, _ := run(t, "", "user", "add", "--name", "x", "--role", "boss", "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("user add with a bad role: exit %d", code)
	}
	if code, _, _ := run(t, "short\n", "user", "add", "--name", "x", "--role", "admin", "--password-stdin", "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("user add with a short password: exit %d", code)
	}
	if code, out, _ = run(t, "", "user", "list", "--config", cfg); code != 0 || !regexp.MustCompile(`(?m)^ana +icb_analyst +QWE +- +- +true `).MatchString(out) {
		t.Fatalf("user list: %d\n%s", code, out)
	}
	// Sign-off roles are those a scheme in force names: one of this ICB
	// (QWE) whose ICB roles are icb_lead and icb_finance.
	qwe := schemeFile(t, dir, "qwe.yaml", "icb: QXX", "icb: QWE", "  - Y01001\n  - Y01002\n  - Y01003\n  - Y01004\n", "  - Y01234\n",
		"approve: [icb_medicines_optimisation_lead]", "approve: [icb_lead]")
	if code, _, errs := run(t, "", "scheme", "add", "--config", cfg, qwe); code != 0 {
		t.Fatalf("scheme add: %d %s", code, errs)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--name", "ana", "--sign-off", "icb_finance,icb_lead"}, 0, "User ana: enabled, sign-off icb_finance,icb_lead."},
		{[]string{"--name", "ana", "--disable"}, 0, "User ana: disabled, sign-off icb_finance,icb_lead."},
		{[]string{"--name", "ana", "--enable", "--sign-off", ""}, 0, "User ana: enabled, sign-off -."},
		{[]string{"--name", "ana"}, cli.ExitUsage, ""},
		{[]string{"--name", "ana", "--enable", "--disable"}, cli.ExitUsage, ""},
		// A flag given as false is a flag not given: it disables nobody.
		{[]string{"--name", "ana", "--disable=false"}, cli.ExitUsage, ""},
		{[]string{"--name", "ana", "--enable", "--disable=false"}, 0, "User ana: enabled, sign-off -."},
		{[]string{"--name", "ana", "--sign-off", "steward"}, cli.ExitUsage, ""},
		{[]string{"--name", "nobody", "--disable"}, cli.ExitFailure, ""},
		{[]string{"--name", "ana", "--password-stdin"}, 0, "User ana: enabled"},
	} {
		code, out, errs := run(t, "a new long password\n", append([]string{"user", "set", "--config", cfg}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("user set %v: exit %d, %q %s; want %d, %q", tc.args, code, out, errs, tc.code, tc.out)
		}
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	ana, err := db.UserByName(context.Background(), "ana")
	db.Close()
	if err != nil || auth.CheckPassword(ana.PasswordHash, "a new long password") != nil {
		t.Fatalf("password after user set --password-stdin does not check: %v", err)
	}
	if code, _, _ := run(t, "", "user", "add", "--name", "steward", "--role", "admin", "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("user add --name steward: exit %d", code)
	}
	if code, out, _ = run(t, "", "serve", "--check", "--config", cfg); code != 0 || !strings.Contains(out, "configuration ok") {
		t.Fatalf("serve --check: %d %s", code, out)
	}

	// What the commands stored: the code and password only as hashes.
	db, err = store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByName(context.Background(), "ana")
	if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("stored user = %+v, %v", u, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("a long enough password")) {
		t.Fatal("the password is stored in the clear")
	}
}

func TestBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("version: 1\nicb: QWE\nlisten_on: x\n"), 0o600)
	code, _, errs := run(t, "", "practice", "list", "--config", cfg)
	if code != cli.ExitConfig || !strings.Contains(errs, `c.yaml:3:1: unknown key "listen_on"`) {
		t.Fatalf("bad config: exit %d, %s", code, errs)
	}
	if code, _, _ := run(t, "", "practice", "list"); code != cli.ExitUsage {
		t.Fatalf("no --config: exit %d", code)
	}
}

// Every command's help names it once: "Usage: steward-collector claim list",
// never "claim claim list".
func TestHelpNamesEachCommandOnce(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(path), c.Name)
			if len(c.Sub) > 0 {
				walk(p, c.Sub)
				continue
			}
			code, out, _ := run(t, "", append(slices.Clone(p), "--help")...)
			first, _, _ := strings.Cut(out, "\n")
			want := "Usage: steward-collector " + strings.Join(p, " ") + " "
			if code != cli.ExitOK || !strings.HasPrefix(first+" ", want) || strings.HasPrefix(first, want+c.Name+" ") {
				t.Errorf("%s --help: exit %d, first line %q", strings.Join(p, " "), code, first)
			}
		}
	}
	walk(nil, commands())
}

// TestMonthFlags: every flag that takes a month refuses anything else the
// same way, before the config or store is opened.
func TestMonthFlags(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "absent.yaml")
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"period", []string{"reconcile", "--scheme", "s", "--config", cfg, "--period"}},
		{"period", []string{"export", "--scheme", "s", "--config", cfg, "--period"}},
		{"month", []string{"practice", "list-size", "--config", cfg, "--month"}},
		{"from", []string{"scheme", "declare", "--scheme", "s", "--ods", "Y01234", "--declaration", "d", "--config", cfg, "--from"}},
	} {
		for _, bad := range []string{"2026-13", "2026-1", "April"} {
			args := append(slices.Clone(tc.args), bad)
			if tc.flag == "month" {
				args = append(args, "sizes.csv")
			}
			code, _, errs := run(t, "", args...)
			want := "--" + tc.flag + ` "` + bad + `": want a month, YYYY-MM`
			if code != cli.ExitUsage || !strings.Contains(errs, want) {
				t.Errorf("%s: exit %d, stderr %q; want %d and %q", strings.Join(args, " "), code, errs, cli.ExitUsage, want)
			}
		}
	}
}

// TestReceiptKeyCheckAndErrors: serve --check says where the receipt key
// is (or that serve makes it), refuses a damaged one, and serve names the
// fix when the key's folder is not writable (a packaged collector whose key
// sat beside a root-owned configuration failed its first start).
func TestReceiptKeyCheckAndErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	if code, _, errs := run(t, "", "init-config", "--out", cfg); code != 0 {
		t.Fatalf("init-config: %d %s", code, errs)
	}
	key := filepath.Join(dir, "steward-collector-receipt.key")
	code, out, errs := run(t, "", "serve", "--check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "receipt key "+key+": made on first start") {
		t.Fatalf("serve --check without a key: %d %q %s", code, out, errs)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("serve --check made the receipt key (%v): checking must not change anything", err)
	}
	made, _, err := loadReceiptKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, _ = run(t, "", "serve", "--check", "--config", cfg); code != 0 || !strings.Contains(out, "key id "+wire.KeyID(made.Public().(ed25519.PublicKey))) {
		t.Fatalf("serve --check with a key: %d %q", code, out)
	}
	again, isNew, err := loadReceiptKey(key)
	if err != nil || isNew || !again.Equal(made) {
		t.Fatalf("second load: new=%v err=%v, same key %v", isNew, err, again.Equal(made))
	}
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs = run(t, "", "serve", "--check", "--config", cfg); code != cli.ExitConfig || !strings.Contains(errs, "restore it from the backup") {
		t.Fatalf("serve --check with a damaged key: exit %d %s", code, errs)
	}

	// A folder the key cannot be written in (one that does not exist: a
	// folder without write permission is writable by root, who runs CI).
	locked := filepath.Join(dir, "no-such-folder")
	_, _, err = loadReceiptKey(filepath.Join(locked, "receipt.key"))
	if err == nil || !strings.Contains(err.Error(), "set receipt_key") {
		t.Fatalf("receipt key in an unwritable folder: %v; want the fix named", err)
	}
}
