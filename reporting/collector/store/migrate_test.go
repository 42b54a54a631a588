package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector"
)

func TestMigrations(t *testing.T) {
	engines := map[string]func(t *testing.T) string{
		"SQLite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "c.db") },
		"Postgres": func(t *testing.T) string { return pgtest.NewDB(t) },
	}
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			storage := dsn(t)
			db, err := Open(ctx, storage)
			if err != nil {
				t.Fatal(err)
			}
			// An older collector left the database at version 1 with data in it.
			if err := db.migrateTo(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if v, err := db.Version(ctx); err != nil || v != 1 {
				t.Fatalf("Version = %d, %v; want 1", v, err)
			}
			if _, err := db.w.exec(ctx, "INSERT INTO practices (ods, name, icb, created_at) VALUES (?, ?, ?, ?)",
				"Y01111", "Old", "QWE", db.ts(time.Now())); err != nil {
				t.Fatal(err)
			}
			for i, body := range []string{`{"schema":"steward.results/v1","practice":"Y01111","as_of":"2025-03-31","baseline":"2024-03-31"}`,
				`{"schema":"steward.results/v1","practice":"Y01111","as_of":"2025-04-30"}`} {
				if _, err := db.w.exec(ctx, `INSERT INTO submissions (practice, idempotency_key, body_sha256, body, signature, key_id,
				signed_at, received_at, pack, pack_version, as_of, state) VALUES (?, ?, '', ?, '', '', '', ?, 'medsip', '1', ?, 'current')`,
					"Y01111", fmt.Sprint("k", i), []byte(body), db.ts(time.Now()), []string{"2025-03-31", "2025-04-30"}[i]); err != nil {
					t.Fatal(err)
				}
			}
			// A token from before tokens expired.
			if _, err := db.w.exec(ctx, "INSERT INTO users (name, role, created_at) VALUES ('bot', 'admin', ?)", db.ts(time.Now())); err != nil {
				t.Fatal(err)
			}
			if _, err := db.w.exec(ctx, "INSERT INTO api_tokens (token_hash, user_id, created_at) SELECT 'tok', id, ? FROM users WHERE name = 'bot'", db.ts(time.Now())); err != nil {
				t.Fatal(err)
			}
			db.Close()

			// The new collector upgrades it on start, keeping the data.
			db, err = Open(ctx, storage)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			if v, err := db.Version(ctx); err != nil || v != SchemaVersion() {
				t.Fatalf("Version after upgrade = %d, %v; want %d", v, err, SchemaVersion())
			}
			if p, err := db.Practice(ctx, "Y01111"); err != nil || p.Name != "Old" {
				t.Fatalf("practice after upgrade = %+v, %v", p, err)
			}
			if _, err := db.Audit().Append(ctx, auditEntryForTest()); err != nil {
				t.Fatalf("audit log (version 2) after upgrade: %v", err)
			}
			// Version 4 took each stored submission's baseline from its body.
			baselines, err := queryAll(ctx, db.r, "SELECT baseline FROM submissions ORDER BY idempotency_key", func(rows *sql.Rows) (string, error) {
				var b string
				err := rows.Scan(&b)
				return b, err
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(baselines, ",") != "2024-03-31," {
				t.Fatalf("baselines after upgrade = %q, want [2024-03-31 \"\"]", baselines)
			}
			// Version 7 gave the token 90 days from the upgrade.
			if u, err := db.UserByToken(ctx, "tok", time.Now().Add(89*24*time.Hour)); err != nil || u.Name != "bot" {
				t.Fatalf("old token 89 days after the upgrade: %+v, %v", u, err)
			}
			if _, err := db.UserByToken(ctx, "tok", time.Now().Add(91*24*time.Hour)); err == nil {
				t.Fatal("old token still works 91 days after the upgrade")
			}
			// On a PostgreSQL server built with lz4, stored results use it.
			if db.engine == Postgres {
				if _, err := db.w.exec(ctx, "CREATE TEMP TABLE lz4_probe (x text COMPRESSION lz4)"); err == nil {
					var method string
					if err := db.r.queryRow(ctx, `SELECT attcompression FROM pg_attribute
					WHERE attrelid = 'reconciliations'::regclass AND attname = 'result'`).Scan(&method); err != nil || method != "l" {
						t.Fatalf("reconciliations.result compression = %q, %v; want lz4 (l)", method, err)
					}
				}
			}
			// Running again on an up-to-date database changes nothing.
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("re-run: %v", err)
			}
			var n int
			if err := db.r.queryRow(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(migrations) {
				t.Fatalf("schema_migrations has %d rows, %v; want %d", n, err, len(migrations))
			}
			// A database from a newer collector is refused.
			if _, err := db.w.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				SchemaVersion()+1, "future", db.ts(time.Now())); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "newer than this program") {
				t.Fatalf("Migrate on a newer schema = %v", err)
			}
		})
	}
}

func auditEntryForTest() collector.AuditEntry {
	return collector.AuditEntry{Actor: "test", Action: "migrate.check"}
}

// Version 6 lets a claim be closed and a scheme be retired, keeping every
// claim stored before it.
func TestMigrationClosedClaims(t *testing.T) {
	engines := map[string]func(t *testing.T) string{
		"SQLite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "c.db") },
		"Postgres": func(t *testing.T) string { return pgtest.NewDB(t) },
	}
	for name, dsn := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.migrateTo(ctx, 4); err != nil {
				t.Fatal(err)
			}
			now := db.ts(time.Now())
			for _, stmt := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO practices (ods, name, icb, created_at) VALUES (?, ?, ?, ?)", []any{"Y01111", "Old", "QWE", now}},
				{"INSERT INTO schemes (id, yaml, added_at, added_by) VALUES (?, ?, ?, ?)", []any{"s", "version: 1", now, "test"}},
				{"INSERT INTO claims (scheme, period, practice, state, updated_at, paid_pence) VALUES (?, ?, ?, ?, ?, ?)", []any{"s", "2027-03", "Y01111", "paid", now, 1234}},
			} {
				if _, err := db.w.exec(ctx, stmt.sql, stmt.args...); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.w.exec(ctx, "INSERT INTO claims (scheme, period, practice, state, updated_at) VALUES (?, ?, ?, ?, ?)",
				"s", "2027-02", "Y01111", "closed", now); err == nil {
				t.Fatal("version 4 accepted a closed claim")
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			var state string
			var paid int64
			if err := db.r.queryRow(ctx, "SELECT state, paid_pence FROM claims WHERE period = '2027-03'").Scan(&state, &paid); err != nil || state != "paid" || paid != 1234 {
				t.Fatalf("claim after upgrade = %s %d, %v", state, paid, err)
			}
			if _, err := db.w.exec(ctx, "INSERT INTO claims (scheme, period, practice, state, updated_at) VALUES (?, ?, ?, ?, ?)",
				"s", "2027-02", "Y01111", "closed", now); err != nil {
				t.Fatalf("closed claim after upgrade: %v", err)
			}
			if _, err := db.w.exec(ctx, "INSERT INTO claims (scheme, period, practice, state, updated_at) VALUES (?, ?, ?, ?, ?)",
				"s", "2027-01", "Y01111", "lost", now); err == nil {
				t.Fatal("a claim in an unknown state was stored")
			}
			if _, err := db.w.exec(ctx, "INSERT INTO claims (scheme, period, practice, state, updated_at) VALUES (?, ?, ?, ?, ?)",
				"nope", "2027-01", "Y01111", "open", now); err == nil {
				t.Fatal("a claim of an unknown scheme was stored: the rebuilt table lost its foreign keys")
			}
			s, err := db.Scheme(ctx, "s")
			if err != nil || !s.RetiredAt.IsZero() {
				t.Fatalf("scheme after upgrade = %+v, %v", s, err)
			}
		})
	}
}
