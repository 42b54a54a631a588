package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// This file keeps what reconciliation needs beyond submissions: practices'
// list sizes and scheme declarations, each calculated reconciliation, and
// every claim's state with the events that moved it. Package claims
// (reporting/collector/claims) holds the rules; the store only checks that
// nothing changed underneath a move.

// ListSize is a practice's registered list size from a month on.
type ListSize struct {
	Practice   string
	Month      string // YYYY-MM: applies from this month until a later entry
	Size       int64
	RecordedAt time.Time
	RecordedBy string
}

// SetListSizes records list sizes in one transaction, replacing any given
// before for the same practice and month, with one audit entry for the
// batch.
func (db *DB) SetListSizes(ctx context.Context, sizes []ListSize, actor string, now time.Time) error {
	return db.inTx(ctx, func(tx handle) error {
		months := map[string]int{}
		for _, l := range sizes {
			if _, err := tx.exec(ctx, "DELETE FROM list_sizes WHERE practice = ? AND month = ?", l.Practice, l.Month); err != nil {
				return fmt.Errorf("set list size of %s: %w", l.Practice, err)
			}
			_, err := tx.exec(ctx, "INSERT INTO list_sizes (practice, month, list_size, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?)",
				l.Practice, l.Month, l.Size, db.ts(now), actor)
			if db.isForeignKeyViolation(err) {
				return fmt.Errorf("list size of %s: practice %w", l.Practice, collector.ErrNotFound)
			}
			if err != nil {
				return fmt.Errorf("set list size of %s: %w", l.Practice, err)
			}
			months[l.Month]++
		}
		after, _ := json.Marshal(map[string]any{"practices_by_month": months})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: now, Actor: actor, Action: "list_size.set", Subject: "list_sizes", After: string(after)})
	})
}

// ListSizesAt returns each practice's list size in force in month (the
// latest entry from that month or before), keyed by ODS code.
func (db *DB) ListSizesAt(ctx context.Context, month string) (map[string]int64, error) {
	query := `SELECT l.practice, l.list_size FROM list_sizes l
	JOIN (SELECT practice, MAX(month) AS month FROM list_sizes WHERE month <= ? GROUP BY practice) m
	ON m.practice = l.practice AND m.month = l.month`
	if db.engine == Postgres {
		// One backward walk of the primary key, no join: a quarter of the
		// time for 6,500 practices, on every calculation.
		query = `SELECT DISTINCT ON (practice) practice, list_size FROM list_sizes
		WHERE month <= $1 ORDER BY practice DESC, month DESC`
	}
	out := map[string]int64{}
	err := db.r.queryEach(ctx, query, func(rows *sql.Rows) error {
		var ods string
		var n int64
		if err := rows.Scan(&ods, &n); err != nil {
			return err
		}
		out[ods] = n
		return nil
	}, month)
	if err != nil {
		return nil, fmt.Errorf("read list sizes: %w", err)
	}
	return out, nil
}

// Declaration records that a practice made (or withdrew) a scheme
// declaration from a period on.
type Declaration struct {
	Scheme      string
	Practice    string
	Declaration string
	FromPeriod  string // YYYY-MM
	Made        bool   // false: withdrawn from FromPeriod
	RecordedAt  time.Time
	RecordedBy  string
}

// RecordDeclaration stores d and audits it.
func (db *DB) RecordDeclaration(ctx context.Context, d Declaration) error {
	return db.inTx(ctx, func(tx handle) error {
		_, err := tx.exec(ctx, `INSERT INTO declarations (scheme, practice, declaration, from_period, made, recorded_at, recorded_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, d.Scheme, d.Practice, d.Declaration, d.FromPeriod, d.Made, db.ts(d.RecordedAt), d.RecordedBy)
		if db.isForeignKeyViolation(err) {
			return fmt.Errorf("declaration: scheme %s or practice %s %w", d.Scheme, d.Practice, collector.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("record declaration: %w", err)
		}
		action := "declaration.make"
		if !d.Made {
			action = "declaration.withdraw"
		}
		after, _ := json.Marshal(map[string]string{"declaration": d.Declaration, "from": d.FromPeriod})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: d.RecordedAt, Actor: d.RecordedBy, Action: action,
			Subject: "scheme:" + d.Scheme + "/" + d.Practice, After: string(after)})
	})
}

// DeclarationsAt returns the declarations in force for a scheme in period,
// by practice: for each declaration the latest record from that period or
// before decides (a later record of the same period wins).
func (db *DB) DeclarationsAt(ctx context.Context, scheme, period string) (map[string][]string, error) {
	type key struct{ practice, declaration string }
	state := map[key]bool{}
	var order []key
	err := db.r.queryEach(ctx, `SELECT practice, declaration, made FROM declarations
	WHERE scheme = ? AND from_period <= ? ORDER BY practice, declaration, from_period, id`, func(rows *sql.Rows) error {
		var k key
		var made bool
		if err := rows.Scan(&k.practice, &k.declaration, &made); err != nil {
			return err
		}
		if _, seen := state[k]; !seen {
			order = append(order, k)
		}
		state[k] = made
		return nil
	}, scheme, period)
	if err != nil {
		return nil, fmt.Errorf("read declarations: %w", err)
	}
	out := map[string][]string{}
	for _, k := range order {
		if state[k] {
			out[k.practice] = append(out[k.practice], k.declaration)
		}
	}
	return out, nil
}

// PeriodFigures is one practice's current submission of a pack at an
// as-of date, with its measures: what reconciliation reads.
type PeriodFigures struct {
	SubmissionID   int64
	Practice       string
	IdempotencyKey string
	PackVersion    string
	Baseline       string
	ReceivedAt     time.Time
	Measures       []MeasureFigure
}

// MeasureFigure is one measure of a submission as reconciliation needs it.
type MeasureFigure struct {
	ID, Kind                      string
	Numerator, Denominator, Value *float64
}

// PeriodSubmissions returns the current submissions of pack at asOf of
// the practices of icb ("" for all), ordered by practice, without their
// measures (MeasuresOf reads those).
func (db *DB) PeriodSubmissions(ctx context.Context, pack, asOf, icb string) ([]PeriodFigures, error) {
	where, args := periodWhere(pack, asOf, icb)
	out, err := queryAll(ctx, db.r, "SELECT s.id, s.practice, s.idempotency_key, s.pack_version, s.baseline, s.received_at FROM submissions s"+
		where+" ORDER BY s.practice", func(rows *sql.Rows) (PeriodFigures, error) {
		var f PeriodFigures
		err := rows.Scan(&f.SubmissionID, &f.Practice, &f.IdempotencyKey, &f.PackVersion, &f.Baseline, timeScan{&f.ReceivedAt})
		return f, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read submissions: %w", err)
	}
	return out, nil
}

func periodWhere(pack, asOf, icb string) (string, []any) {
	where := " WHERE s.pack = ? AND s.as_of = ? AND s.state = 'current'"
	args := []any{pack, asOf}
	if icb != "" {
		where += " AND s.practice IN (SELECT ods FROM practices WHERE icb = ?)"
		args = append(args, icb)
	}
	return where, args
}

// MeasuresOf fills in the measures named by ids (all when ids is empty) of
// subs, as PeriodSubmissions returned them, in one query, each
// submission's in measure id order. It reads the submissions named, even
// if superseded since: the figures stay those of the submission recorded
// with them, and the next calculation sees the new one.
func (db *DB) MeasuresOf(ctx context.Context, subs []PeriodFigures, ids []string) error {
	index := make(map[int64]int, len(subs))
	perSub := max(len(ids), 1)
	wanted := make([]int64, len(subs))
	for i := range subs {
		index[subs[i].SubmissionID] = i
		wanted[i] = subs[i].SubmissionID
		subs[i].Measures = make([]MeasureFigure, 0, perSub)
	}
	if len(subs) == 0 {
		return nil
	}
	// PostgreSQL walks the primary key once for the whole array, in
	// order, with no join or sort (a third of the work of joining the
	// period's submissions again); SQLite takes the list as JSON.
	where := " WHERE m.submission_id = ANY(?)"
	var args []any
	if db.engine == Postgres {
		args = append(args, wanted)
	} else {
		where = " WHERE m.submission_id IN (SELECT value FROM json_each(?))"
		list, err := json.Marshal(wanted)
		if err != nil {
			return err
		}
		args = append(args, string(list))
	}
	if len(ids) > 0 {
		where += " AND m.measure_id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	}
	query := "SELECT m.submission_id, m.measure_id, m.kind, m.numerator, m.denominator, m.value" +
		" FROM measure_rows m" + where + " ORDER BY m.submission_id, m.measure_id"
	// A period has tens of thousands of rows naming a handful of measures:
	// names are shared, and the numbers live in slabs, not one allocation
	// each.
	names := map[string]string{}
	intern := func(b []byte) string {
		if s, ok := names[string(b)]; ok {
			return s
		}
		s := string(b)
		names[s] = s
		return s
	}
	var slab []float64
	number := func(n sql.NullFloat64) *float64 {
		if !n.Valid {
			return nil
		}
		if len(slab) == cap(slab) {
			slab = make([]float64, 0, 4096)
		}
		slab = append(slab, n.Float64)
		return &slab[len(slab)-1]
	}
	add := func(id int64, measure, kind []byte, num, den, val sql.NullFloat64) {
		if i, ok := index[id]; ok {
			subs[i].Measures = append(subs[i].Measures, MeasureFigure{ID: intern(measure), Kind: intern(kind),
				Numerator: number(num), Denominator: number(den), Value: number(val)})
		}
	}
	var err error
	if db.engine == Postgres {
		err = db.periodMeasuresPostgres(ctx, query, args, add)
	} else {
		err = db.periodMeasures(ctx, query, args, add)
	}
	if err != nil {
		return fmt.Errorf("read measures: %w", err)
	}
	return nil
}

// periodMeasures runs a MeasuresOf query through database/sql.
func (db *DB) periodMeasures(ctx context.Context, query string, args []any, add func(int64, []byte, []byte, sql.NullFloat64, sql.NullFloat64, sql.NullFloat64)) error {
	return db.r.queryEach(ctx, query, func(rows *sql.Rows) error {
		var id int64
		var measure, kind sql.RawBytes
		var num, den, val sql.NullFloat64
		if err := rows.Scan(&id, &measure, &kind, &num, &den, &val); err != nil {
			return err
		}
		add(id, measure, kind, num, den, val)
		return nil
	}, args...)
}

// Calculation is a stored reconciliation of a scheme's period: Result is
// the reconciliation as JSON (package schemes' Reconciliation), Version
// counts calculations that changed something.
type Calculation struct {
	Scheme       string
	Period       string
	Version      int64
	CalculatedAt time.Time
	CalculatedBy string
	// Inputs is a digest of everything the result was calculated from: an
	// equal digest means an equal result, without calculating.
	Inputs string
	Result []byte
	// Practices are each practice's part of Result, as JSON, stored
	// beside it so that one practice's results are read without the
	// whole period's. Nil: SaveCalculation takes them from Result.
	Practices []PracticePart
}

// ErrStale is returned when a claim or calculation changed between reading
// and writing it; the caller reads again and retries.
var ErrStale = errors.New("changed since it was read")

// Calculation returns the stored calculation of a scheme's period
// (ErrNotFound if it was never calculated).
func (db *DB) Calculation(ctx context.Context, scheme, period string) (Calculation, error) {
	c := Calculation{Scheme: scheme, Period: period}
	err := db.r.queryRow(ctx, "SELECT version, calculated_at, calculated_by, inputs_sha256, result FROM reconciliations WHERE scheme = ? AND period = ?",
		scheme, period).Scan(&c.Version, timeScan{&c.CalculatedAt}, &c.CalculatedBy, &c.Inputs, &c.Result)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("calculation of %s %s: %w", scheme, period, collector.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("read calculation of %s %s: %w", scheme, period, err)
	}
	return c, nil
}

// Calculations lists the calculated periods of a scheme (all schemes when
// scheme is ""), without their results, by scheme and newest period first.
func (db *DB) Calculations(ctx context.Context, scheme string) ([]Calculation, error) {
	query, args := "SELECT scheme, period, version, calculated_at, calculated_by, inputs_sha256 FROM reconciliations", []any{}
	if scheme != "" {
		query += " WHERE scheme = ?"
		args = append(args, scheme)
	}
	out, err := queryAll(ctx, db.r, query+" ORDER BY scheme, period DESC", func(rows *sql.Rows) (Calculation, error) {
		var c Calculation
		err := rows.Scan(&c.Scheme, &c.Period, &c.Version, timeScan{&c.CalculatedAt}, &c.CalculatedBy, &c.Inputs)
		return c, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("list calculations: %w", err)
	}
	return out, nil
}

// CalculationMeta returns a stored calculation without its result
// (ErrNotFound if the period was never calculated).
func (db *DB) CalculationMeta(ctx context.Context, scheme, period string) (Calculation, error) {
	c := Calculation{Scheme: scheme, Period: period}
	err := db.r.queryRow(ctx, "SELECT version, calculated_at, calculated_by, inputs_sha256 FROM reconciliations WHERE scheme = ? AND period = ?",
		scheme, period).Scan(&c.Version, timeScan{&c.CalculatedAt}, &c.CalculatedBy, &c.Inputs)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("calculation of %s %s: %w", scheme, period, collector.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("read calculation of %s %s: %w", scheme, period, err)
	}
	return c, nil
}

// UpdateCalculationInputs records that a calculation's result stands for
// new inputs that give the same result (version unchanged), if the stored
// version is still version.
func (db *DB) UpdateCalculationInputs(ctx context.Context, scheme, period string, version int64, inputs string) error {
	_, err := db.w.exec(ctx, "UPDATE reconciliations SET inputs_sha256 = ? WHERE scheme = ? AND period = ? AND version = ?",
		inputs, scheme, period, version)
	if err != nil {
		return fmt.Errorf("update calculation of %s %s: %w", scheme, period, err)
	}
	return nil
}

// SaveCalculation stores a new calculation of a scheme's period in one
// transaction with the events it causes: the result replaces the stored
// one only if the stored version is still prevVersion (0: none stored), and
// each event applies only if its claim is still in the event's From state;
// otherwise nothing is written and the error wraps ErrStale. Events update
// the claims' states and go to the claim history and the audit log.
func (db *DB) SaveCalculation(ctx context.Context, c Calculation, prevVersion int64, events []schemes.Event) error {
	return db.inTx(ctx, func(tx handle) error {
		var res sql.Result
		var err error
		if prevVersion == 0 {
			res, err = tx.exec(ctx, `INSERT INTO reconciliations (scheme, period, version, calculated_at, calculated_by, inputs_sha256, result)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.Scheme, c.Period, c.Version, db.ts(c.CalculatedAt), c.CalculatedBy, c.Inputs, db.text(c.Result))
			if db.isUniqueViolation(err) {
				return fmt.Errorf("calculation of %s %s: %w", c.Scheme, c.Period, ErrStale)
			}
		} else {
			res, err = tx.exec(ctx, `UPDATE reconciliations SET version = ?, calculated_at = ?, calculated_by = ?, inputs_sha256 = ?, result = ?
			WHERE scheme = ? AND period = ? AND version = ?`, c.Version, db.ts(c.CalculatedAt), c.CalculatedBy, c.Inputs, db.text(c.Result),
				c.Scheme, c.Period, prevVersion)
		}
		if err != nil {
			return fmt.Errorf("save calculation of %s %s: %w", c.Scheme, c.Period, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("calculation of %s %s: %w", c.Scheme, c.Period, ErrStale)
		}
		if err := db.savePracticeParts(ctx, tx, c, prevVersion == 0); err != nil {
			return err
		}
		return db.applyEvents(ctx, tx, events)
	})
}

// text passes b as a TEXT value: pgx writes bytes as they are, where a
// string would copy a stored result of megabytes once more; SQLite would
// store bytes as a BLOB.
func (db *DB) text(b []byte) any {
	if db.engine == Postgres {
		return b
	}
	return string(b)
}

// MoveClaim applies one event to a claim if the claim is still in e.From
// and the period's calculation is still version calcVersion (so a move is
// never made on figures that changed since they were shown); otherwise the
// error wraps ErrStale.
func (db *DB) MoveClaim(ctx context.Context, e schemes.Event, calcVersion int64) error {
	return db.inTx(ctx, func(tx handle) error {
		lock := ""
		if db.engine == Postgres {
			lock = " FOR UPDATE"
		}
		var v int64
		err := tx.queryRow(ctx, "SELECT version FROM reconciliations WHERE scheme = ? AND period = ?"+lock, e.Scheme, e.Period).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("claim %s %s %s: the period has not been calculated: %w", e.Scheme, e.Period, e.Practice, collector.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read calculation: %w", err)
		}
		if v != calcVersion {
			return fmt.Errorf("figures of %s %s were recalculated: %w", e.Scheme, e.Period, ErrStale)
		}
		return db.applyEvents(ctx, tx, []schemes.Event{e})
	})
}

// eventChunk is how many claims one statement writes: a calculation moves
// thousands of claims at once (every practice of an ICB), and one
// statement per claim would make that seconds of round trips.
const eventChunk = 500

// applyEvents moves claims, records the events and audits them, a chunk of
// claims per statement. A claim not in its event's From state makes the
// whole transaction fail with ErrStale.
//
// A claim has a row only once it has moved beyond what its calculation
// says: a practice with figures in a period's calculation and no row is
// calculated, one without figures and no row is open (package claims
// derives this). So the collector's own open -> calculated moves, one per
// practice when a period is first calculated, write no row and no event:
// they are summed up in the calculation's audit entry. Every other move
// writes the claim's row and an event; a closed claim always has a row.
func (db *DB) applyEvents(ctx context.Context, tx handle, events []schemes.Event) error {
	implicit := func(e schemes.Event) bool {
		return e.From == schemes.Open && e.To == schemes.Calculated && e.Actor == StewardActor
	}
	var recorded, closing []schemes.Event
	for _, e := range events {
		if implicit(e) {
			continue
		}
		recorded = append(recorded, e)
		if closingMove(e) {
			closing = append(closing, e)
			continue
		}
		var res sql.Result
		var err error
		if e.From == schemes.Open || e.From == schemes.Calculated {
			// No row yet, or a row left in the From state.
			res, err = tx.exec(ctx, `INSERT INTO claims (scheme, period, practice, state, updated_at, paid_pence) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (scheme, period, practice) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
			paid_pence = excluded.paid_pence WHERE claims.state = ?`, e.Scheme, e.Period, e.Practice, string(e.To), db.ts(e.At), e.PaidPence, string(e.From))
		} else {
			res, err = tx.exec(ctx, "UPDATE claims SET state = ?, updated_at = ?, paid_pence = ? WHERE scheme = ? AND period = ? AND practice = ? AND state = ?",
				string(e.To), db.ts(e.At), e.PaidPence, e.Scheme, e.Period, e.Practice, string(e.From))
		}
		if err != nil {
			return fmt.Errorf("move claim %s %s %s: %w", e.Scheme, e.Period, e.Practice, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("claim %s %s %s is no longer %s: %w", e.Scheme, e.Period, e.Practice, e.From, ErrStale)
		}
	}
	if err := db.closeClaims(ctx, tx, closing); err != nil {
		return err
	}
	// Every move goes to the claim's history; a person's move also to the
	// audit log, one entry each. The collector's own moves (a calculation
	// moves every practice's claim) are summed up in one audit entry.
	byCollector := map[string]int{}
	for _, e := range events {
		if implicit(e) {
			byCollector[string(e.From)+" -> "+string(e.To)]++
		}
	}
	for chunk := range slices.Chunk(recorded, eventChunk) {
		args := make([]any, 0, 9*len(chunk))
		var audit []any
		for _, e := range chunk {
			args = append(args, e.Scheme, e.Period, e.Practice, db.ts(e.At), e.Actor, e.Role, string(e.From), string(e.To), e.Reason)
			if e.Actor == StewardActor {
				byCollector[string(e.From)+" -> "+string(e.To)]++
				continue
			}
			before, _ := json.Marshal(map[string]string{"state": string(e.From)})
			after, _ := json.Marshal(map[string]any{"state": e.To, "role": e.Role, "reason": e.Reason, "paid_pence": e.PaidPence})
			audit = append(audit, db.ts(e.At), e.Actor, "claim.move", "claim:"+e.Scheme+"/"+e.Period+"/"+e.Practice, string(before), string(after))
		}
		if _, err := tx.exec(ctx, "INSERT INTO claim_events (scheme, period, practice, at, actor, role, from_state, to_state, reason) VALUES "+
			placeholders(len(chunk), 9), args...); err != nil {
			return fmt.Errorf("record claim events: %w", err)
		}
		if len(audit) > 0 {
			if _, err := tx.exec(ctx, "INSERT INTO audit_log (at, actor, action, subject, before_json, after_json) VALUES "+
				placeholders(len(audit)/6, 6), audit...); err != nil {
				return fmt.Errorf("append audit entries: %w", err)
			}
		}
	}
	if len(byCollector) > 0 {
		e := events[0]
		after, _ := json.Marshal(map[string]any{"claims_moved": byCollector})
		return db.appendAudit(ctx, tx, collector.AuditEntry{At: e.At, Actor: StewardActor, Action: "claim.calculate",
			Subject: "scheme:" + e.Scheme + "/" + e.Period, After: string(after)})
	}
	return nil
}

// followsCalculation are the states the collector alone moves a claim
// between, as calculations find something payable or nothing.
var followsCalculation = []schemes.State{schemes.Open, schemes.Calculated, schemes.Closed}

// closingMove reports whether e is the collector closing a claim that is
// not being signed off, or reopening a closed one: a first calculation
// can close thousands at once (every practice, in a month where nothing
// is payable yet), so these are written a chunk at a time.
func closingMove(e schemes.Event) bool {
	return e.Actor == StewardActor && (e.From == schemes.Closed || e.To == schemes.Closed) &&
		slices.Contains(followsCalculation, e.From) && slices.Contains(followsCalculation, e.To)
}

// closeClaims writes the claims of closing moves, a chunk per statement.
// Only the collector moves a claim among open, calculated and closed, and
// its calculations are serialised by the calculation's version; a claim
// found in any other state (a person declared it meanwhile) makes the
// transaction fail with ErrStale.
func (db *DB) closeClaims(ctx context.Context, tx handle, events []schemes.Event) error {
	for chunk := range slices.Chunk(events, eventChunk) {
		args := make([]any, 0, 5*len(chunk))
		for _, e := range chunk {
			args = append(args, e.Scheme, e.Period, e.Practice, string(e.To), db.ts(e.At))
		}
		res, err := tx.exec(ctx, "INSERT INTO claims (scheme, period, practice, state, updated_at) VALUES "+placeholders(len(chunk), 5)+
			` ON CONFLICT (scheme, period, practice) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, paid_pence = NULL
			WHERE claims.state IN ('open', 'calculated', 'closed')`, args...)
		if err != nil {
			return fmt.Errorf("close claims of %s %s: %w", chunk[0].Scheme, chunk[0].Period, err)
		}
		if n, _ := res.RowsAffected(); n != int64(len(chunk)) {
			return fmt.Errorf("%d of %d claims of %s %s are no longer open, calculated or closed: %w",
				int64(len(chunk))-n, len(chunk), chunk[0].Scheme, chunk[0].Period, ErrStale)
		}
	}
	return nil
}

// StewardActor is the actor of the collector's own claim moves.
const StewardActor = schemes.RoleSteward

// placeholders returns "(?, ?), (?, ?)" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}

// Claims returns the stored claims of a scheme's period by practice; a
// practice without a row is open.
func (db *DB) Claims(ctx context.Context, scheme, period string) (map[string]schemes.Claim, error) {
	out := map[string]schemes.Claim{}
	err := db.r.queryEach(ctx, "SELECT practice, state, updated_at, paid_pence FROM claims WHERE scheme = ? AND period = ?", func(rows *sql.Rows) error {
		c := schemes.Claim{Scheme: scheme, Period: period}
		var paid sql.NullInt64
		if err := rows.Scan(&c.Practice, &c.State, timeScan{&c.UpdatedAt}, &paid); err != nil {
			return err
		}
		if paid.Valid {
			c.PaidPence = &paid.Int64
		}
		out[c.Practice] = c
		return nil
	}, scheme, period)
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	return out, nil
}

// ClaimEvents returns the history of a claim (every practice's when
// practice is ""), oldest first.
func (db *DB) ClaimEvents(ctx context.Context, scheme, period, practice string) ([]schemes.Event, error) {
	query := "SELECT id, scheme, period, practice, at, actor, role, from_state, to_state, reason FROM claim_events WHERE scheme = ? AND period = ?"
	args := []any{scheme, period}
	if practice != "" {
		query += " AND practice = ?"
		args = append(args, practice)
	}
	out, err := queryAll(ctx, db.r, query+" ORDER BY id", func(rows *sql.Rows) (schemes.Event, error) {
		var e schemes.Event
		err := rows.Scan(&e.ID, &e.Scheme, &e.Period, &e.Practice, timeScan{&e.At}, &e.Actor, &e.Role, &e.From, &e.To, &e.Reason)
		return e, err
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("read claim history: %w", err)
	}
	return out, nil
}
