package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// migration is one versioned schema change. Its SQL uses type words that
// each engine spells its own way: {{id}}, {{time}}, {{blob}}, {{real}},
// {{bool}}, {{false}}, {{date}}, {{bigint}}.
type migration struct {
	version int
	name    string
	sql     string
	// engineSQL runs after sql, for changes only one engine can spell.
	engineSQL map[Engine]string
}

// migrations are applied in order; never edit one that has shipped, add a
// new one.
var migrations = []migration{
	{1, "practices, people, submissions, heartbeats", `
CREATE TABLE practices (
	ods TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	icb TEXT NOT NULL,
	pcn TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	public_key {{blob}},
	key_id TEXT NOT NULL DEFAULT '',
	enrolled_at {{time}},
	last_heartbeat_at {{time}}
);
CREATE INDEX practices_icb ON practices (icb);
CREATE TABLE enrolment_codes (
	code_hash TEXT PRIMARY KEY,
	practice TEXT NOT NULL REFERENCES practices (ods),
	created_at {{time}} NOT NULL,
	expires_at {{time}} NOT NULL,
	used_at {{time}}
);
CREATE TABLE users (
	id {{id}},
	name TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL,
	icb TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	disabled {{bool}} NOT NULL DEFAULT {{false}}
);
CREATE TABLE api_tokens (
	token_hash TEXT PRIMARY KEY,
	user_id {{bigint}} NOT NULL REFERENCES users (id),
	created_at {{time}} NOT NULL,
	expires_at {{time}}
);
CREATE TABLE sessions (
	id_hash TEXT PRIMARY KEY,
	user_id {{bigint}} NOT NULL REFERENCES users (id),
	csrf_token TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	expires_at {{time}} NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE TABLE submissions (
	id {{id}},
	practice TEXT NOT NULL REFERENCES practices (ods),
	idempotency_key TEXT NOT NULL,
	body_sha256 TEXT NOT NULL,
	body {{blob}} NOT NULL,
	signature TEXT NOT NULL,
	key_id TEXT NOT NULL,
	signed_at TEXT NOT NULL,
	received_at {{time}} NOT NULL,
	pack TEXT NOT NULL,
	pack_version TEXT NOT NULL,
	as_of {{date}} NOT NULL,
	agent_version TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL CHECK (state IN ('current', 'superseded')),
	supersedes_id {{bigint}} REFERENCES submissions (id),
	superseded_by_id {{bigint}} REFERENCES submissions (id),
	UNIQUE (practice, idempotency_key)
);
CREATE UNIQUE INDEX submissions_current ON submissions (practice, pack, as_of) WHERE state = 'current';
CREATE INDEX submissions_pack_as_of ON submissions (pack, as_of);
CREATE TABLE measure_rows (
	submission_id {{bigint}} NOT NULL REFERENCES submissions (id),
	measure_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	numerator {{real}},
	denominator {{real}},
	per {{real}} NOT NULL DEFAULT 0,
	value {{real}},
	suppressed {{bool}} NOT NULL DEFAULT {{false}},
	PRIMARY KEY (submission_id, measure_id)
);
CREATE TABLE heartbeats (
	id {{id}},
	practice TEXT NOT NULL REFERENCES practices (ods),
	received_at {{time}} NOT NULL,
	agent_version TEXT NOT NULL DEFAULT '',
	bundle_version TEXT NOT NULL DEFAULT '',
	pending {{bigint}} NOT NULL DEFAULT 0,
	body {{blob}} NOT NULL
);
CREATE INDEX heartbeats_practice ON heartbeats (practice, received_at);
`, nil},
	{2, "audit log; measure index", `
CREATE TABLE audit_log (
	id {{id}},
	at {{time}} NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	subject TEXT NOT NULL DEFAULT '',
	before_json TEXT NOT NULL DEFAULT '',
	after_json TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_subject ON audit_log (subject, at);
CREATE INDEX measure_rows_measure ON measure_rows (measure_id);
`, nil},
	{3, "schemes", `
CREATE TABLE schemes (
	id TEXT PRIMARY KEY,
	yaml TEXT NOT NULL,
	added_at {{time}} NOT NULL,
	added_by TEXT NOT NULL
);
`, nil},
	{4, "claims, reconciliations, list sizes, declarations; sign-off roles", `
ALTER TABLE users ADD COLUMN practice TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN sign_off TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN baseline TEXT NOT NULL DEFAULT '';
CREATE TABLE list_sizes (
	practice TEXT NOT NULL REFERENCES practices (ods),
	month TEXT NOT NULL,
	list_size {{bigint}} NOT NULL CHECK (list_size >= 0),
	recorded_at {{time}} NOT NULL,
	recorded_by TEXT NOT NULL,
	PRIMARY KEY (practice, month)
);
CREATE TABLE declarations (
	id {{id}},
	scheme TEXT NOT NULL REFERENCES schemes (id),
	practice TEXT NOT NULL REFERENCES practices (ods),
	declaration TEXT NOT NULL,
	from_period TEXT NOT NULL,
	made {{bool}} NOT NULL,
	recorded_at {{time}} NOT NULL,
	recorded_by TEXT NOT NULL
);
CREATE INDEX declarations_scheme ON declarations (scheme, practice, declaration, from_period);
CREATE TABLE reconciliations (
	scheme TEXT NOT NULL REFERENCES schemes (id),
	period TEXT NOT NULL,
	version {{bigint}} NOT NULL,
	calculated_at {{time}} NOT NULL,
	calculated_by TEXT NOT NULL,
	inputs_sha256 TEXT NOT NULL,
	result TEXT NOT NULL,
	PRIMARY KEY (scheme, period)
);
CREATE TABLE claims (
	scheme TEXT NOT NULL REFERENCES schemes (id),
	period TEXT NOT NULL,
	practice TEXT NOT NULL REFERENCES practices (ods),
	state TEXT NOT NULL CHECK (state IN ('open', 'calculated', 'declared', 'approved', 'paid')),
	updated_at {{time}} NOT NULL,
	paid_pence {{bigint}},
	PRIMARY KEY (scheme, period, practice)
);
CREATE TABLE claim_events (
	id {{id}},
	scheme TEXT NOT NULL,
	period TEXT NOT NULL,
	practice TEXT NOT NULL,
	at {{time}} NOT NULL,
	actor TEXT NOT NULL,
	role TEXT NOT NULL,
	from_state TEXT NOT NULL,
	to_state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX claim_events_claim ON claim_events (scheme, period, practice, id);
CREATE INDEX submissions_current_pack ON submissions (pack, as_of, practice) WHERE state = 'current';
`, map[Engine]string{
		// Submissions stored before version 4 get their baseline from the
		// stored body, which was validated on receipt.
		SQLite: `UPDATE submissions SET baseline = COALESCE(json_extract(CAST(body AS TEXT), '$.baseline'), '')`,
		Postgres: `UPDATE submissions SET baseline = COALESCE(convert_from(body, 'UTF8')::jsonb->>'baseline', '');
DO $$ BEGIN
	-- A period's stored result is megabytes of JSON: lz4 compresses it several
	-- times faster than the default pglz. Servers built without lz4 keep pglz.
	ALTER TABLE reconciliations ALTER COLUMN result SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
END $$`,
	}},
	{5, "submissions: generation time, corrections", `
ALTER TABLE submissions ADD COLUMN generated_at TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN corrects TEXT NOT NULL DEFAULT '';
ALTER TABLE submissions ADD COLUMN correction_reason TEXT NOT NULL DEFAULT ''
`, map[Engine]string{
		// Submissions stored before version 5 get their generation time
		// from the stored body, which was validated on receipt.
		SQLite:   `UPDATE submissions SET generated_at = COALESCE(json_extract(CAST(body AS TEXT), '$.generated_at'), '')`,
		Postgres: `UPDATE submissions SET generated_at = COALESCE(convert_from(body, 'UTF8')::jsonb->>'generated_at', '')`,
	}},
	{6, "closed claims; retired schemes", `
ALTER TABLE schemes ADD COLUMN retired_at {{time}};
ALTER TABLE schemes ADD COLUMN retired_by TEXT NOT NULL DEFAULT '';
ALTER TABLE schemes ADD COLUMN retired_reason TEXT NOT NULL DEFAULT ''
`, map[Engine]string{
		// A claim with nothing payable is closed. SQLite cannot change a
		// CHECK constraint, so the table is rebuilt; nothing refers to it.
		SQLite: `CREATE TABLE claims_v6 (
	scheme TEXT NOT NULL REFERENCES schemes (id),
	period TEXT NOT NULL,
	practice TEXT NOT NULL REFERENCES practices (ods),
	state TEXT NOT NULL CHECK (state IN ('open', 'calculated', 'declared', 'approved', 'paid', 'closed')),
	updated_at TEXT NOT NULL,
	paid_pence INTEGER,
	PRIMARY KEY (scheme, period, practice)
);
INSERT INTO claims_v6 (scheme, period, practice, state, updated_at, paid_pence)
	SELECT scheme, period, practice, state, updated_at, paid_pence FROM claims;
DROP TABLE claims;
ALTER TABLE claims_v6 RENAME TO claims`,
		Postgres: `ALTER TABLE claims DROP CONSTRAINT claims_state_check;
ALTER TABLE claims ADD CONSTRAINT claims_state_check CHECK (state IN ('open', 'calculated', 'declared', 'approved', 'paid', 'closed'))`,
	}},
	{7, "sign-in lockouts, heartbeat nonces, API token expiry, indexes for pruning", `
CREATE TABLE login_lockouts (
	subject TEXT PRIMARY KEY,
	locked_at {{time}} NOT NULL,
	locked_until {{time}} NOT NULL,
	failures {{bigint}} NOT NULL DEFAULT 0
);
CREATE INDEX login_lockouts_until ON login_lockouts (locked_until);
CREATE TABLE heartbeat_nonces (
	practice TEXT NOT NULL,
	nonce TEXT NOT NULL,
	seen_at {{time}} NOT NULL,
	PRIMARY KEY (practice, nonce)
);
CREATE INDEX heartbeat_nonces_seen ON heartbeat_nonces (seen_at);
CREATE INDEX heartbeats_received ON heartbeats (received_at);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE INDEX api_tokens_expires ON api_tokens (expires_at);
CREATE INDEX enrolment_codes_expires ON enrolment_codes (expires_at)
`, map[Engine]string{
		// Tokens made before tokens expired get 90 days from the upgrade,
		// so no script stops working on the day the collector is upgraded.
		SQLite:   `UPDATE api_tokens SET expires_at = strftime('%Y-%m-%dT%H:%M:%S', 'now', '+90 days') || '.000000Z' WHERE expires_at IS NULL`,
		Postgres: `UPDATE api_tokens SET expires_at = now() + interval '90 days' WHERE expires_at IS NULL`,
	}},
	{8, "submission bodies apart; each practice's part of a reconciliation", `
CREATE TABLE submission_bodies (
	submission_id {{bigint}} PRIMARY KEY REFERENCES submissions (id),
	body {{blob}} NOT NULL
);
INSERT INTO submission_bodies (submission_id, body) SELECT id, body FROM submissions;
ALTER TABLE submissions DROP COLUMN body;
CREATE TABLE reconciliation_practices (
	scheme TEXT NOT NULL,
	period TEXT NOT NULL,
	practice TEXT NOT NULL,
	result TEXT NOT NULL,
	PRIMARY KEY (scheme, period, practice),
	FOREIGN KEY (scheme, period) REFERENCES reconciliations (scheme, period)
)
`, map[Engine]string{
		// Each stored reconciliation's practices get their rows from the
		// stored result: the practice page reads one practice's rows, not
		// every practice's result of every period.
		SQLite: `INSERT INTO reconciliation_practices (scheme, period, practice, result)
	SELECT r.scheme, r.period, json_extract(p.value, '$.ODS'), p.value FROM reconciliations r, json_each(r.result, '$.Practices') p
	WHERE json_type(r.result, '$.Practices') = 'array'`,
		Postgres: `INSERT INTO reconciliation_practices (scheme, period, practice, result)
	SELECT r.scheme, r.period, p->>'ODS', p::text FROM reconciliations r,
		jsonb_array_elements(CASE WHEN jsonb_typeof(r.result::jsonb->'Practices') = 'array' THEN r.result::jsonb->'Practices' ELSE '[]'::jsonb END) p`,
	}},
}

// SchemaVersion is the version Migrate brings a database to.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

var typeWords = map[Engine]*strings.Replacer{
	SQLite: strings.NewReplacer(
		"{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{time}}", "TEXT", "{{blob}}", "BLOB", "{{real}}", "REAL",
		"{{bool}}", "INTEGER", "{{false}}", "0", "{{date}}", "TEXT", "{{bigint}}", "INTEGER"),
	Postgres: strings.NewReplacer(
		"{{id}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
		"{{time}}", "TIMESTAMPTZ", "{{blob}}", "BYTEA", "{{real}}", "DOUBLE PRECISION",
		"{{bool}}", "BOOLEAN", "{{false}}", "FALSE", "{{date}}", "DATE", "{{bigint}}", "BIGINT"),
}

// Migrate brings the schema up to date, applying each missing migration in
// its own transaction, and then gathers the planner's statistics if it
// applied any or the store holds figures without them (a restored backup).
// Running it on an up-to-date, analysed database changes nothing.
func (db *DB) Migrate(ctx context.Context) error {
	before, err := db.Version(ctx)
	if err != nil {
		return err
	}
	if err := db.migrateTo(ctx, SchemaVersion()); err != nil {
		return err
	}
	if before < SchemaVersion() {
		return db.Analyze(ctx)
	}
	return db.analyzeIfMissing(ctx)
}

// Version returns the schema version of the database (0 when empty).
func (db *DB) Version(ctx context.Context) (int, error) {
	if err := db.ensureMigrationsTable(ctx); err != nil {
		return 0, err
	}
	var v sql.NullInt64
	if err := db.w.queryRow(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

func (db *DB) ensureMigrationsTable(ctx context.Context) error {
	ddl := typeWords[db.engine].Replace(`CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at {{time}} NOT NULL
)`)
	if _, err := db.w.exec(ctx, ddl); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	return nil
}

func (db *DB) migrateTo(ctx context.Context, target int) error {
	if err := db.ensureMigrationsTable(ctx); err != nil {
		return err
	}
	current, err := db.Version(ctx)
	if err != nil {
		return err
	}
	if current > SchemaVersion() {
		return fmt.Errorf("database schema is version %d, newer than this program's %d: upgrade steward-collector", current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current || m.version > target {
			continue
		}
		err := db.inTx(ctx, func(tx handle) error {
			if db.engine == Postgres {
				// Two collectors starting at once take turns.
				if _, err := tx.exec(ctx, "SELECT pg_advisory_xact_lock(7306271)"); err != nil {
					return err
				}
			}
			var done int
			if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil
			}
			for _, stmt := range append(strings.Split(typeWords[db.engine].Replace(m.sql), ";"), m.engineSQL[db.engine]) {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.exec(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", strings.TrimSpace(stmt), err)
				}
			}
			_, err := tx.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, db.ts(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate to version %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
