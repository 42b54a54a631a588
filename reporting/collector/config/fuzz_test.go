package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/fuzzcheck"
)

// FuzzParse gives Parse arbitrary configuration text, as an ICB's
// administrator might write it. Seeds: testdata/fuzz/FuzzParse (the
// example, the demo's, broken ones).
//
// Properties:
//   - an error is an Error naming the file, each problem at a line and
//     column of the text (only an empty file has none), in order, one a
//     line;
//   - an accepted config holds what serve relies on (a host:port, positive
//     durations and limits);
//   - an accepted config, written out again with every key, parses to the
//     same config.
func FuzzParse(f *testing.F) {
	f.Add([]byte(Example))
	f.Fuzz(func(t *testing.T, src []byte) {
		const name = "collector.yaml"
		cfg, err := Parse(name, src)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Parse returned a config and the error %v", err)
			}
			var e Error
			if !errors.As(err, &e) || len(e) == 0 {
				t.Fatalf("error %T %v is not an Error with problems", err, err)
			}
			for i, p := range e {
				if p.File != name || p.Msg == "" {
					t.Fatalf("problem %+v", p)
				}
				if p.Line == 0 && p.Col == 0 && len(e) == 1 && strings.Contains(p.Msg, "empty") {
					continue
				}
				if !fuzzcheck.InYAML(src, p.Line, p.Col) {
					t.Fatalf("problem %q is not at a place in the %d lines", p, fuzzcheck.YAMLLines(src))
				}
				if i > 0 {
					q := e[i-1]
					if q.Line > p.Line || q.Line == p.Line && q.Col > p.Col {
						t.Fatalf("problems out of order: %q before %q", q, p)
					}
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(e) {
				t.Fatalf("%d problems printed on %d lines:\n%v", len(e), got, err)
			}
			return
		}
		if cfg.EnrolmentCodeLifetime <= 0 || cfg.SessionLifetime <= 0 || cfg.ShutdownTimeout <= 0 ||
			cfg.HeartbeatSilenceDays < 1 || cfg.MaxRequestBytes <= 0 || cfg.ICB == "" || cfg.Storage == "" {
			t.Fatalf("accepted config %+v", cfg)
		}
		out, err := yaml.Marshal(encode(cfg))
		if err != nil {
			t.Fatal(err)
		}
		cfg2, err := Parse(name, out)
		if err != nil {
			t.Fatalf("the accepted config, written out again, is refused: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("the config written out again reads differently:\n%+v\n%+v\n%s", cfg, cfg2, out)
		}
	})
}

// encode writes every setting of c as a configuration file would hold it.
func encode(c *Config) map[string]any {
	m := map[string]any{
		"version": c.Version, "listen": c.Listen, "storage": c.Storage, "icb": c.ICB,
		"enrolment_code_lifetime": c.EnrolmentCodeLifetime.String(), "heartbeat_silence_days": c.HeartbeatSilenceDays,
		"max_request_bytes": c.MaxRequestBytes, "session_lifetime": c.SessionLifetime.String(),
		"shutdown_timeout": c.ShutdownTimeout.String(), "receipt_key": c.ReceiptKey,
		"api_token_lifetime": c.APITokenLifetime.String(), "heartbeat_history_days": c.HeartbeatHistoryDays,
		"prune_every": c.PruneEvery.String(),
		"sign_in": map[string]any{
			"memory_budget_mib": c.SignIn.MemoryBudgetMiB, "queue_wait": c.SignIn.QueueWait.String(),
			"account_lockout_after": c.SignIn.AccountLockoutAfter, "address_lockout_after": c.SignIn.AddressLockoutAfter,
			"lockout_duration": c.SignIn.LockoutDuration.String(), "client_address_header": c.SignIn.ClientAddressHeader,
		},
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		m["tls"] = map[string]any{"cert": c.TLSCert, "key": c.TLSKey}
	}
	if c.TUFRepository != "" {
		m["tuf_repository"] = c.TUFRepository
	}
	return m
}
