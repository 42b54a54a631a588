package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector"
)

func TestMigrations(t *testing.T) {
	for name, dsn := range engineDSNs {
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
	onEngines(t, func(t *testing.T, ctx context.Context, db *DB) {
		if err := db.migrateTo(ctx, 4); err != nil {
			t.Fatal(err)
		}
		now := db.ts(time.Now())
		execAll(t, ctx, db,
			stmt{"INSERT INTO practices (ods, name, icb, created_at) VALUES (?, ?, ?, ?)", []any{"Y01111", "Old", "QWE", now}},
			stmt{"INSERT INTO schemes (id, yaml, added_at, added_by) VALUES (?, ?, ?, ?)", []any{"s", "version: 1", now, "test"}},
			stmt{"INSERT INTO claims (scheme, period, practice, state, updated_at, paid_pence) VALUES (?, ?, ?, ?, ?, ?)", []any{"s", "2027-03", "Y01111", "paid", now, 1234}},
		)
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

// Version 8 moves each submission's body to a table of its own and gives
// each stored reconciliation's practices a row of their own, from the
// stored result; the upgrade leaves the planner statistics gathered.
func TestMigrationBodiesAndPracticeParts(t *testing.T) {
	onEngines(t, func(t *testing.T, ctx context.Context, db *DB) {
		if err := db.migrateTo(ctx, 7); err != nil {
			t.Fatal(err)
		}
		now := db.ts(time.Now())
		body := `{"schema":"steward.results/v1","practice":"Y01111","as_of":"2025-03-31"}`
		result := `{"Scheme":"s","Period":"2027-03","Practices":[{"ODS":"Y01111","Name":"Old","TotalPence":12},{"ODS":"Y02222","Name":"Ünïcode","Missing":true}],"Missing":["Y02222"]}`
		execAll(t, ctx, db,
			stmt{"INSERT INTO practices (ods, name, icb, created_at) VALUES (?, ?, ?, ?)", []any{"Y01111", "Old", "QWE", now}},
			stmt{`INSERT INTO submissions (practice, idempotency_key, body_sha256, body, signature, key_id, signed_at, received_at, pack, pack_version, as_of, state)
				VALUES (?, ?, '', ?, '', '', '', ?, 'medsip', '1', ?, 'current')`, []any{"Y01111", "k1", []byte(body), now, "2025-03-31"}},
			stmt{"INSERT INTO measure_rows (submission_id, measure_id, kind, per, value) SELECT id, 'long_term', 'count', 0, 7 FROM submissions", nil},
			stmt{"INSERT INTO schemes (id, yaml, added_at, added_by) VALUES (?, ?, ?, ?)", []any{"s", "version: 1", now, "test"}},
			stmt{"INSERT INTO reconciliations (scheme, period, version, calculated_at, calculated_by, inputs_sha256, result) VALUES (?, ?, ?, ?, ?, ?, ?)",
				[]any{"s", "2027-03", 3, now, "test", "x", result}},
			stmt{"INSERT INTO reconciliations (scheme, period, version, calculated_at, calculated_by, inputs_sha256, result) VALUES (?, ?, ?, ?, ?, ?, ?)",
				[]any{"s", "2027-02", 1, now, "test", "x", `{"Scheme":"s","Period":"2027-02","Practices":null}`}},
		)
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		sub, err := db.Submission(ctx, "Y01111", "k1")
		if err != nil || string(sub.Body) != body || len(sub.Measures) != 1 {
			t.Fatalf("submission after upgrade = %q, %d measures, %v", sub.Body, len(sub.Measures), err)
		}
		if err := db.r.queryRow(ctx, "SELECT body FROM submissions").Scan(new(any)); err == nil {
			t.Fatal("submissions still has its body column")
		}
		for ods, want := range map[string]string{"Y01111": `"TotalPence":12`, "Y02222": `Ünïcode`} {
			pcs, err := db.PracticeCalculations(ctx, "s", ods, 12)
			if err != nil || len(pcs) != 1 || pcs[0].Period != "2027-03" || pcs[0].Version != 3 || !strings.Contains(strings.ReplaceAll(string(pcs[0].Result), `": `, `":`), want) {
				t.Fatalf("%s's part after upgrade = %+v, %v; want one for 2027-03 holding %s", ods, pcs, err, want)
			}
			var p struct{ ODS string }
			if err := json.Unmarshal(pcs[0].Result, &p); err != nil || p.ODS != ods {
				t.Fatalf("%s's part is not its result: %s, %v", ods, pcs[0].Result, err)
			}
		}
		if missing, err := db.StatisticsMissing(ctx); err != nil || missing {
			t.Fatalf("statistics missing after the upgrade = %v, %v", missing, err)
		}
	})
}

// Statistics: Migrate gathers them when a store holds figures without
// them (a restored backup, a bulk load while the collector was stopped),
// and Optimize does for figures loaded while it runs.
func TestPlannerStatistics(t *testing.T) {
	onEngines(t, func(t *testing.T, ctx context.Context, db *DB) {
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		// Empty: nothing to gather yet.
		if missing, err := db.StatisticsMissing(ctx); err != nil || missing {
			t.Fatalf("empty store: statistics missing = %v, %v", missing, err)
		}
		load := func(from, to int) {
			t.Helper()
			if _, err := db.w.exec(ctx, "INSERT INTO practices (ods, name, icb, created_at) VALUES (?, ?, ?, ?)",
				fmt.Sprint("Y", from), "P", "QWE", db.ts(time.Now())); err != nil {
				t.Fatal(err)
			}
			for i := from; i < to; i++ {
				if _, err := db.Ingest(ctx, collector.Submission{Practice: fmt.Sprint("Y", from), IdempotencyKey: fmt.Sprint("k", i), BodySHA256: "x",
					Body: []byte("{}"), Pack: "medsip", PackVersion: "1", AsOf: time.Date(2020, 1, 31, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly),
					ReceivedAt: time.Now(), Measures: []collector.MeasureRow{{MeasureID: "long_term", Kind: "count"}, {MeasureID: "high_dose", Kind: "count"}}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Loaded behind the collector's back (a restore): Migrate
		// finds them without statistics and gathers them.
		load(0, 200)
		if missing, err := db.StatisticsMissing(ctx); err != nil || !missing {
			t.Fatalf("after a load: statistics missing = %v, %v; want true", missing, err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if missing, err := db.StatisticsMissing(ctx); err != nil || missing {
			t.Fatalf("after Migrate: statistics missing = %v, %v", missing, err)
		}
		rows := func() float64 {
			t.Helper()
			var n float64
			var err error
			if db.engine == SQLite {
				var stat string
				err = db.r.queryRow(ctx, "SELECT stat FROM sqlite_stat1 WHERE tbl = 'measure_rows' ORDER BY idx LIMIT 1").Scan(&stat)
				if err == nil {
					_, err = fmt.Sscan(stat, &n)
				}
			} else {
				err = db.r.queryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = 'measure_rows'::regclass").Scan(&n)
			}
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := rows(); n != 400 {
			t.Fatalf("statistics say measure_rows holds %v rows, want 400", n)
		}
		// Many more loaded while running: Optimize brings them up to date.
		load(200, 2500)
		if err := db.Optimize(ctx); err != nil {
			t.Fatal(err)
		}
		if n := rows(); n != 5000 {
			t.Fatalf("after Optimize, statistics say measure_rows holds %v rows, want 5000", n)
		}
	})
}

// engineDSNs give a new, empty store of each engine.
var engineDSNs = map[string]func(t *testing.T) string{
	"SQLite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "c.db") },
	"Postgres": func(t *testing.T) string { return pgtest.NewDB(t) },
}

// onEngines runs f on a new, empty store of each engine, opened but not
// migrated.
func onEngines(t *testing.T, f func(t *testing.T, ctx context.Context, db *DB)) {
	for name, dsn := range engineDSNs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			f(t, ctx, db)
		})
	}
}

// stmt is a statement and its arguments.
type stmt struct {
	sql  string
	args []any
}

// execAll runs statements on db's writer, failing on the first error.
func execAll(t *testing.T, ctx context.Context, db *DB, stmts ...stmt) {
	t.Helper()
	for _, st := range stmts {
		if _, err := db.w.exec(ctx, st.sql, st.args...); err != nil {
			t.Fatalf("%s: %v", st.sql, err)
		}
	}
}
