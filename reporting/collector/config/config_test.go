package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleLoads(t *testing.T) {
	cfg, err := Parse("example.yaml", []byte(Example))
	if err != nil {
		t.Fatalf("the example config does not load: %v", err)
	}
	if cfg.ICB != "QWE" || cfg.EnrolmentCodeLifetime != 72*time.Hour || cfg.MaxRequestBytes != 1<<20 {
		t.Fatalf("example = %+v", cfg)
	}
	// The example states the defaults.
	if d := Defaults(); cfg.SignIn != d.SignIn || cfg.APITokenLifetime != d.APITokenLifetime ||
		cfg.HeartbeatHistoryDays != d.HeartbeatHistoryDays || cfg.PruneEvery != d.PruneEvery {
		t.Fatalf("example sign_in %+v, tokens %s, history %d, prune %s; defaults %+v", cfg.SignIn, cfg.APITokenLifetime,
			cfg.HeartbeatHistoryDays, cfg.PruneEvery, d)
	}
}

func TestSignInKeys(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte("version: 1\nicb: QWE\nsign_in:\n  memory_budget_mib: 512\n  queue_wait: 500ms\n"+
		"  client_address_header: X-Forwarded-For\napi_token_lifetime: 30d\nheartbeat_history_days: 7\nprune_every: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults().SignIn
	want.MemoryBudgetMiB, want.QueueWait, want.ClientAddressHeader = 512, 500*time.Millisecond, "X-Forwarded-For"
	if cfg.SignIn != want || cfg.APITokenLifetime != 30*24*time.Hour || cfg.HeartbeatHistoryDays != 7 || cfg.PruneEvery != 10*time.Minute {
		t.Fatalf("cfg = %+v", cfg)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nicb: QWE\nstorage: sqlite:data/c.db\nenrolment_code_lifetime: 2d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Storage, "sqlite:"+filepath.Join(dir, "data", "c.db"); got != want {
		t.Fatalf("Storage = %q, want %q", got, want)
	}
	if cfg.EnrolmentCodeLifetime != 48*time.Hour || cfg.HeartbeatSilenceDays != 3 {
		t.Fatalf("cfg = %+v", cfg)
	}
}

// TestTUFRepository checks the optional tuf_repository key: absent by
// default (and commented out in the example), and resolved against the
// configuration file's folder when set.
func TestTUFRepository(t *testing.T) {
	if cfg, err := Parse("example.yaml", []byte(Example)); err != nil || cfg.TUFRepository != "" {
		t.Fatalf("example: TUFRepository %q, %v; want none", cfg.TUFRepository, err)
	}
	const commented = "# tuf_repository: tuf\n"
	if !strings.Contains(Example, commented) {
		t.Fatalf("the example does not document tuf_repository as %q", commented)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(Example, commented, "tuf_repository: tuf\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("the example with tuf_repository set: %v", err)
	}
	if got, want := cfg.TUFRepository, filepath.Join(dir, "tuf"); got != want {
		t.Fatalf("TUFRepository = %q, want %q", got, want)
	}
	abs := filepath.Join(t.TempDir(), "repo")
	cfg, err = Parse("c.yaml", []byte("version: 1\nicb: QWE\ntuf_repository: "+abs+"\n"))
	if err != nil || cfg.TUFRepository != abs {
		t.Fatalf("absolute tuf_repository: %q, %v", cfg.TUFRepository, err)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"empty", "", "c.yaml:1:1: the file is empty (start it with `version: 1`)"},
		{"no version", "icb: QWE\n", "c.yaml:1:1: version is required: start the file with `version: 1`"},
		{"future version", "version: 2\nicb: QWE\n", `c.yaml:1:10: unsupported version "2": this collector reads version 1`},
		{"unknown key", "version: 1\nicb: QWE\nlisten_addr: x\n",
			`c.yaml:3:1: unknown key "listen_addr" (known keys: api_token_lifetime, enrolment_code_lifetime, heartbeat_history_days, heartbeat_silence_days, icb, listen, max_request_bytes, prune_every, receipt_key, session_lifetime, shutdown_timeout, sign_in, storage, tls, tuf_repository, version)`},
		{"unknown sign_in key", "version: 1\nicb: QWE\nsign_in:\n  pool: 4\n",
			`c.yaml:4:3: unknown key "pool" in sign_in (known keys: account_lockout_after, address_lockout_after, client_address_header, lockout_duration, memory_budget_mib, queue_wait)`},
		{"sign_in not a mapping", "version: 1\nicb: QWE\nsign_in: 4\n", "c.yaml:3:10: sign_in must be a mapping"},
		{"budget under one hash", "version: 1\nicb: QWE\nsign_in:\n  memory_budget_mib: 32\n", "c.yaml:4:22: sign_in.memory_budget_mib must be between 64"},
		{"address below account", "version: 1\nicb: QWE\nsign_in:\n  account_lockout_after: 20\n  address_lockout_after: 10\n", "c.yaml:5:26: sign_in.address_lockout_after must be at least account_lockout_after"},
		{"lockout too short", "version: 1\nicb: QWE\nsign_in:\n  lockout_duration: 5s\n", "c.yaml:4:21: sign_in.lockout_duration must be between 1m and 24h"},
		{"bad header", "version: 1\nicb: QWE\nsign_in:\n  client_address_header: \"X Forwarded\"\n", `c.yaml:4:26: sign_in.client_address_header "X Forwarded" must be a header name`},
		{"token lifetime", "version: 1\nicb: QWE\napi_token_lifetime: 1000d\n", "c.yaml:3:21: api_token_lifetime must be between 1h and 400d"},
		{"history days", "version: 1\nicb: QWE\nheartbeat_history_days: 0\n", "c.yaml:3:25: heartbeat_history_days must be between 1 and 3650"},
		{"prune every", "version: 1\nicb: QWE\nprune_every: 0s\n", "c.yaml:3:14: prune_every must be between 1m and 24h"},
		{"unknown nested key", "version: 1\nicb: QWE\ntls:\n  cert: a\n  key: b\n  chain: c\n", `c.yaml:6:3: unknown key "chain" in tls (known keys: cert, key)`},
		{"second document", "version: 1\nicb: QWE\n---\nicb: QXY\n", "c.yaml:3:1: a second YAML document (---) is not allowed (the file must hold one: remove the `---` and what follows)"},
		{"several problems", "version: 1\nicb: QWE\nheartbeat_silence_days: many\nbogus: 1\n",
			"c.yaml:3:25: heartbeat_silence_days must be a whole number, not \"many\"\nc.yaml:4:1: unknown key \"bogus\""},
		{"plain http off loopback", "version: 1\nicb: QWE\nlisten: 0.0.0.0:80\n", `c.yaml:3:9: plain HTTP on "0.0.0.0:80" is not allowed`},
		{"bad storage", "version: 1\nicb: QWE\nstorage: mysql://x\n", "c.yaml:3:10: storage must be sqlite:PATH or a postgres:// URL"},
		{"missing icb", "version: 1\n", `c.yaml:1:1: icb "" must be the ICB's ODS code`},
		{"duplicate key", "version: 1\nicb: QWE\nicb: QXY\n", `c.yaml:3:1: key "icb" given twice`},
		{"bad duration", "version: 1\nicb: QWE\nsession_lifetime: forever\n", "c.yaml:3:19: session_lifetime must be a duration"},
		{"empty tuf repository", "version: 1\nicb: QWE\ntuf_repository: \"\"\n", "c.yaml:3:17: tuf_repository must name the repository folder"},
		{"tuf repository not a string", "version: 1\nicb: QWE\ntuf_repository: [a, b]\n", "c.yaml:3:17: tuf_repository must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error:\n%s\nwant prefix:\n%s", err, tc.want)
			}
		})
	}
}
