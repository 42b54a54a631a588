// Package check proves a schema profile against a practice database and
// reports what the data say, for `steward profile check` and
// `steward-agent check`: every fragment runs; every canonical column is
// present with a usable type; and a data report a practice manager can act
// on (rows per table, the dates covered, the newest record, issues with no
// dm+d code, unreadable quantities and dates, sentinel dates, patients with
// no registration). Each problem names its fix.
//
// It only reads: a handful of single-pass aggregate queries over the
// profile's fragments, on the read-only connection the dialect package
// opens, so its time grows with the extract like one search's.
package check

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/redact"
	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile"
	"github.com/nhs-steward/steward/searches/schema"
)

// Options say what to check a profile against.
type Options struct {
	// Practice is the practice's ODS code: the check counts the patients
	// registered there on AsOf. Empty skips that check.
	Practice string
	// AsOf binds {{as_of}} and is the date the report counts to (records
	// after it are future-dated). Zero means the end of last month.
	AsOf time.Time
	// Plans, when given, are the pack's searches: the measures the layout
	// cannot compute are named.
	Plans []*model.Plan
	// SampleRows is how many rows of each table the type checks read
	// (default 10,000).
	SampleRows int
	// Thresholds of the warnings, as percentages (defaults: 5, the agent's
	// quality gate's max_unreadable_percent), and the staleness in days
	// (default 7, its max_extract_age_days). A negative one turns its
	// warning off.
	MaxUnmappedPercent, MaxUnreadablePercent float64
	MaxExtractAgeDays                        int
}

// Level grades a finding.
type Level string

// Finding levels: a failure makes the check fail; a warning is a problem
// the practice should fix but searches still run; info is what the data
// say.
const (
	OK   Level = "ok"
	Info Level = "info"
	Warn Level = "warn"
	Fail Level = "fail"
)

// Finding is one line of the report.
type Finding struct {
	Level Level
	Msg   string
	Fix   string
}

// Column is one canonical column as the database gives it.
type Column struct {
	Name string
	// Type is what the sampled values are (integer, number, text, date,
	// datetime, null) or the database's type name.
	Type string
}

// Table is what one canonical table holds.
type Table struct {
	Name string
	// Runs is false when the fragment fails; Err says why. Counted is
	// true when the figures below were read (the columns are usable).
	Runs, Counted bool
	Err           string
	Columns       []Column
	Rows          int64
	// DateColumn is the table's main date; First and Last its range (sentinel
	// dates aside) and Newest the latest on or before the as-of date.
	DateColumn          string
	First, Last, Newest time.Time
	NullDates           int64 // main date NULL (unreadable, or a sentinel read as unknown)
	FutureDates         int64 // main date after the as-of date
	SentinelDates       int64 // any date column at 9999-12-31 (or later)
	EarlyDates          int64 // any date column on or before 1900-01-01
	NullCodes           int64 // issues: no dm+d code; events: no SNOMED CT code
	NullQuantities      int64 // issues: no readable quantity
}

// Report is the outcome of a check.
type Report struct {
	Profile, Source, Dialect, Practice string
	AsOf                               time.Time
	Tables                             []*Table
	// Patients and registrations.
	DuplicatePatients int64 // patients rows beyond the first for an id
	Unregistered      int64 // patients with no registration anywhere
	Orphans           int64 // patient ids with registrations but no patients row
	RegisteredAtAsOf  int64 // patients with a spell at Practice covering AsOf, -1 when not counted
	BusiestPractices  []PracticeCount
	Uncomputable      []string // measures the layout cannot compute
	Findings          []Finding
	Elapsed           time.Duration
}

// PracticeCount is how many patients hold a spell at a practice on the
// as-of date, as the registrations give the practice.
type PracticeCount struct {
	Practice string
	Patients int64
}

// Failed reports whether any finding is a failure.
func (r *Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Level == Fail {
			return true
		}
	}
	return false
}

// Count returns the number of findings of a level.
func (r *Report) Count(l Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == l {
			n++
		}
	}
	return n
}

// Table returns the stats of a canonical table.
func (r *Report) Table(name string) *Table {
	for _, t := range r.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func (r *Report) add(l Level, fix, format string, a ...any) {
	r.Findings = append(r.Findings, Finding{Level: l, Msg: fmt.Sprintf(format, a...), Fix: fix})
}

var mainDate = map[string]string{
	profile.Patients:         "date_of_birth",
	profile.Registrations:    "start_date",
	profile.MedicationIssues: "issue_date",
	profile.ClinicalEvents:   "event_date",
}

var dateColumns = map[string][]string{
	profile.Patients:         {"date_of_birth", "date_of_death"},
	profile.Registrations:    {"start_date", "end_date"},
	profile.MedicationIssues: {"issue_date"},
	profile.ClinicalEvents:   {"event_date"},
}

// Run checks prof (with its parameters bound) on db, a database of dialect
// d. An error means the check could not be made (a cancelled context); a
// profile that does not fit the database is a Report with failures.
func Run(ctx context.Context, db *sql.DB, d compile.Dialect, prof *profile.Profile, opt Options) (*Report, error) {
	start := time.Now()
	if opt.AsOf.IsZero() {
		now := time.Now().UTC()
		opt.AsOf = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	}
	if opt.SampleRows <= 0 {
		opt.SampleRows = 10000
	}
	if opt.MaxUnmappedPercent == 0 {
		opt.MaxUnmappedPercent = 5
	}
	if opt.MaxUnreadablePercent == 0 {
		opt.MaxUnreadablePercent = 5
	}
	if opt.MaxExtractAgeDays == 0 {
		opt.MaxExtractAgeDays = 7
	}
	c := &checker{db: db, d: d, prof: prof, opt: opt}
	r := &Report{Profile: prof.Name, Source: prof.Source, Dialect: string(d.Name()), Practice: opt.Practice, AsOf: opt.AsOf, RegisteredAtAsOf: -1}
	c.r = r
	for _, name := range schema.Tables {
		t := &Table{Name: name, DateColumn: mainDate[name]}
		r.Tables = append(r.Tables, t)
		if err := c.columns(ctx, t); err != nil {
			return nil, err
		}
	}
	for _, t := range r.Tables {
		if !c.usable(t) {
			continue
		}
		if err := c.stats(ctx, t); err != nil {
			return nil, err
		}
	}
	if err := c.patients(ctx); err != nil {
		return nil, err
	}
	r.Uncomputable = Uncomputable(prof, opt.Plans)
	c.judge()
	r.Elapsed = time.Since(start)
	return r, nil
}

type checker struct {
	db   *sql.DB
	d    compile.Dialect
	prof *profile.Profile
	opt  Options
	r    *Report
	bad  map[string]bool // tables whose columns are unusable
}

// query runs text (with fragments bound through b) and scans one row.
func (c *checker) query(ctx context.Context, b *compile.Binder, text string, dest ...any) error {
	ex, err := b.Finish(text)
	if err != nil {
		return err
	}
	return c.db.QueryRowContext(ctx, ex.SQL, ex.Args...).Scan(dest...)
}

func (c *checker) fragment(table string, b *compile.Binder) (string, error) {
	return compile.Fragment(c.prof, c.d, table, b, c.opt.AsOf, c.opt.Practice)
}

// stopped reports whether err came of the context ending: the check
// cannot go on, and says so rather than blaming the profile.
func stopped(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil
}

func (c *checker) limit(sel, from string) string {
	n := strconv.Itoa(c.opt.SampleRows)
	if c.d.Name() == schema.SQLServer {
		return "SELECT TOP (" + n + ") " + sel + " FROM " + from
	}
	return "SELECT " + sel + " FROM " + from + " LIMIT " + n
}

// columns runs a table's fragment on a sample and types its columns.
func (c *checker) columns(ctx context.Context, t *Table) error {
	defer func() {
		switch {
		case t.Err != "":
			c.r.add(Fail, fmt.Sprintf("correct the profile's %s SQL for %s: the table and column names must be the database's (steward profile lint checks the file itself)", t.Name, c.d.Name()),
				"%s: the SQL does not run: %s", t.Name, t.Err)
		case t.Runs && !c.bad[t.Name]:
			c.r.add(OK, "", "%s: the SQL runs; %s", t.Name, describeColumns(t.Columns))
		}
	}()
	b := compile.NewBinder(c.d)
	frag, err := c.fragment(t.Name, b)
	if err != nil {
		t.Err = err.Error()
		return nil
	}
	want := profile.Columns[t.Name]
	sel := make([]string, len(want))
	for i, col := range want {
		sel[i] = "t." + col
		if c.d.Name() == schema.SQLite && isDate(col) {
			// SQLite holds dates as text: read the text itself, which a
			// driver may otherwise parse whatever it holds.
			sel[i] = "CAST(t." + col + " AS TEXT) AS " + col
		}
	}
	ex, err := b.Finish(c.limit(strings.Join(sel, ", "), "("+frag+") AS t"))
	if err != nil {
		return err
	}
	rows, err := c.db.QueryContext(ctx, ex.SQL, ex.Args...)
	if err != nil {
		if stopped(ctx, err) {
			return err
		}
		t.Err = oneLine(err.Error())
		return nil
	}
	defer rows.Close()
	t.Runs = true
	types, _ := rows.ColumnTypes()
	seen := make([]map[string]int, len(want))
	bad := make([]string, len(want))
	for i := range seen {
		seen[i] = map[string]int{}
	}
	vals := make([]any, len(want))
	ptrs := make([]any, len(want))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, col := range want {
			kind, problem := judgeValue(col, vals[i])
			seen[i][kind]++
			if problem != "" && bad[i] == "" {
				bad[i] = problem
			}
		}
	}
	if err := rows.Err(); err != nil {
		if stopped(ctx, err) {
			return err
		}
		t.Runs, t.Err = false, oneLine(err.Error())
		return nil
	}
	for i, col := range want {
		typ := kinds(seen[i])
		if i < len(types) && c.d.Name() != schema.SQLite {
			if db := strings.ToUpper(types[i].DatabaseTypeName()); db != "" {
				if p := judgeDBType(col, db); p != "" {
					bad[i] = p // the database's own type says it best
				}
				typ = strings.ToLower(db)
			}
		}
		t.Columns = append(t.Columns, Column{Name: col, Type: typ})
		if bad[i] != "" {
			c.markBad(t.Name)
			c.r.add(Fail, fixFor(col), "%s.%s %s", t.Name, col, bad[i])
		}
	}
	return nil
}

func (c *checker) markBad(table string) {
	if c.bad == nil {
		c.bad = map[string]bool{}
	}
	c.bad[table] = true
}

func (c *checker) usable(t *Table) bool { return t.Runs && !c.bad[t.Name] }

func isDate(col string) bool {
	return strings.HasSuffix(col, "_date") || strings.HasPrefix(col, "date_of")
}

func isCode(col string) bool {
	return col == "dmd_code" || col == "snomed_code" || col == "practice_ods"
}

// judgeValue names the kind of a sampled value and what is wrong with it
// for col, if anything.
func judgeValue(col string, v any) (kind, problem string) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch x := v.(type) {
	case nil:
		switch col {
		case "patient_id", "sex", "date_of_birth", "practice_ods", "start_date":
			return "null", "is NULL"
		}
		return "null", ""
	case int64, int32, int:
		switch {
		case isDate(col):
			return "integer", "is a number, not a date"
		case isCode(col):
			return "integer", "is a number: codes must be text (they exceed 32 bits and must never pass through floating point)"
		case col == "sex":
			return "integer", "is a number: sex must be F, M or U"
		case col == "imd_decile":
			n := toInt(x)
			if n < 1 || n > 10 {
				return "integer", fmt.Sprintf("holds %d: a decile is 1 to 10 (NULL when unknown)", n)
			}
		}
		return "integer", ""
	case float64, float32:
		f := toFloat(x)
		switch {
		case col == "patient_id":
			return "number", "is a floating-point number: patient ids must be whole numbers or text"
		case isDate(col):
			return "number", "is a number, not a date"
		case isCode(col):
			return "number", "is a floating-point number: codes must be text, never through floating point"
		case col == "sex":
			return "number", "is a number: sex must be F, M or U"
		case col == "imd_decile" && (f != math.Trunc(f) || f < 1 || f > 10):
			return "number", fmt.Sprintf("holds %v: a decile is a whole number 1 to 10", f)
		}
		return "number", ""
	case time.Time:
		switch {
		case !isDate(col):
			return "date", "is a date"
		case x.Hour() != 0 || x.Minute() != 0 || x.Second() != 0 || x.Nanosecond() != 0:
			return "datetime", "holds a time of day: an event at 14:00 on the as-of date must count on that date"
		}
		return "date", ""
	case string:
		switch {
		case isDate(col):
			if len(x) == 10 {
				if _, err := time.Parse(time.DateOnly, x); err == nil {
					return "date", ""
				}
			}
			if len(x) > 10 {
				if _, err := time.Parse(time.DateOnly, x[:10]); err == nil {
					return "datetime", fmt.Sprintf("holds text shaped %q, a date with a time of day: compare dates, not datetimes", shape(x))
				}
			}
			return "text", fmt.Sprintf("holds text shaped %q, not a YYYY-MM-DD date", shape(x))
		case col == "sex":
			if x != "F" && x != "M" && x != "U" {
				return "text", fmt.Sprintf("holds %q: sex must be F, M or U", shape(x))
			}
		case col == "quantity" || col == "numeric_value" || col == "imd_decile":
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
				return "text", fmt.Sprintf("holds text shaped %q, not a number", shape(x))
			}
			return "number", ""
		case col == "patient_id" && strings.TrimSpace(x) == "":
			return "text", "is empty"
		}
		return "text", ""
	case bool:
		return "boolean", "is a boolean"
	}
	return fmt.Sprintf("%T", v), fmt.Sprintf("has values of an unexpected type (%T)", v)
}

// judgeDBType checks a column's type as PostgreSQL or SQL Server name it.
func judgeDBType(col, t string) string {
	texty := strings.Contains(t, "CHAR") || t == "TEXT" || t == "NAME"
	switch {
	case isDate(col) && strings.Contains(t, "TIMESTAMP"), isDate(col) && strings.Contains(t, "DATETIME"):
		return "is a " + strings.ToLower(t) + ": cast it to date, so that a time of day never moves a record out of a window"
	case isDate(col) && t != "DATE":
		return "is of type " + strings.ToLower(t) + ", not date"
	case isCode(col) && !texty:
		return "is of type " + strings.ToLower(t) + ": codes must be text"
	case (col == "quantity" || col == "numeric_value") && texty:
		return "is of type " + strings.ToLower(t) + ": it must be a number"
	}
	return ""
}

func fixFor(col string) string {
	switch {
	case isDate(col):
		return "cast it to a date in the profile: date(x) on SQLite, CAST(x AS date) on PostgreSQL and SQL Server; read sentinels such as 9999-12-31 as NULL"
	case isCode(col):
		return "cast it to text in the profile: CAST(x AS TEXT) on SQLite, CAST(x AS varchar) on PostgreSQL, CAST(x AS varchar(20)) on SQL Server"
	case col == "sex":
		return "map the layout's values in the profile, e.g. CASE WHEN x IN ('F', 'M') THEN x ELSE 'U' END"
	case col == "imd_decile":
		return "map the layout's IMD rank or score to a decile 1 to 10 in the profile (see the tpp profile), NULL when unknown"
	case col == "quantity":
		return "take the number out of the text in the profile (see the tpp profile), NULL when there is none"
	case col == "patient_id":
		return "give every row the patient's id"
	}
	return "correct the profile's SQL for this column"
}

func kinds(m map[string]int) string {
	var ks []string
	for k := range m {
		if k != "null" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "null"
	}
	return strings.Join(ks, "/")
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	}
	return 0
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	}
	return 0
}

// oneLine is a database's error message on one line, with any value it
// quotes (which may come from a patient's record) blanked.
func oneLine(s string) string {
	return strings.Join(strings.Fields(redact.Values(errors.New(s)).Error()), " ")
}

// shape shows what a sampled value looks like without what it says: every
// digit reads 9, and long text is cut.
func shape(s string) string {
	b := []rune(s)
	if len(b) > 24 {
		b = append(b[:24], '…')
	}
	for i, r := range b {
		if r >= '0' && r <= '9' {
			b[i] = '9'
		}
	}
	return string(b)
}

var (
	sentinel = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	early    = time.Date(1900, 1, 2, 0, 0, 0, 0, time.UTC)
)

// stats reads a table's counts and dates in one pass.
func (c *checker) stats(ctx context.Context, t *Table) error {
	b := compile.NewBinder(c.d)
	frag, err := c.fragment(t.Name, b)
	if err != nil {
		return err
	}
	asOf, hi, lo := b.Date(c.opt.AsOf), b.Date(sentinel), b.Date(early)
	m := "t." + t.DateColumn
	clean := "CASE WHEN " + m + " > " + lo + " AND " + m + " < " + hi + " THEN " + m + " END"
	// Dates compare as dates on every engine (ISO text on SQLite), so
	// MIN and MAX need no conversion per row: one cheap pass.
	sel := []string{
		"COUNT(*)",
		"MIN(" + clean + ")",
		"MAX(" + clean + ")",
		"MAX(CASE WHEN " + m + " <= " + asOf + " THEN " + m + " END)",
		"SUM(CASE WHEN " + m + " IS NULL THEN 1 ELSE 0 END)",
		"SUM(CASE WHEN " + m + " > " + asOf + " AND " + m + " < " + hi + " THEN 1 ELSE 0 END)",
	}
	var sent, earl []string
	for _, col := range dateColumns[t.Name] {
		sent = append(sent, "t."+col+" >= "+hi)
		earl = append(earl, "t."+col+" <= "+lo)
	}
	sel = append(sel, "SUM(CASE WHEN "+strings.Join(sent, " OR ")+" THEN 1 ELSE 0 END)", "SUM(CASE WHEN "+strings.Join(earl, " OR ")+" THEN 1 ELSE 0 END)")
	switch t.Name {
	case profile.MedicationIssues:
		sel = append(sel, "SUM(CASE WHEN t.dmd_code IS NULL OR t.dmd_code = '' THEN 1 ELSE 0 END)", "SUM(CASE WHEN t.quantity IS NULL THEN 1 ELSE 0 END)")
	case profile.ClinicalEvents:
		sel = append(sel, "SUM(CASE WHEN t.snomed_code IS NULL OR t.snomed_code = '' THEN 1 ELSE 0 END)", "0")
	default:
		sel = append(sel, "0", "0")
	}
	var rows, nullDates, future, sentinels, earlies, nullCodes, nullQty sql.NullInt64
	var first, last, newest any
	src := "(" + frag + ")"
	if c.d.Name() == schema.SQLite {
		// SQLite would flatten the fragment into this aggregate and
		// compute each of its columns once per mention (date() a dozen
		// times a row); a LIMIT keeps it a subquery read once.
		src = "(SELECT * FROM (" + frag + ") AS f LIMIT -1)"
	}
	err = c.query(ctx, b, "SELECT "+strings.Join(sel, ",\n       ")+"\nFROM "+src+" AS t",
		&rows, &first, &last, &newest, &nullDates, &future, &sentinels, &earlies, &nullCodes, &nullQty)
	if err != nil {
		if stopped(ctx, err) {
			return err
		}
		c.r.add(Fail, "correct the profile's "+t.Name+" SQL", "%s: counting its rows failed: %s", t.Name, oneLine(err.Error()))
		c.markBad(t.Name)
		return nil
	}
	t.Counted = true
	t.Rows, t.NullDates, t.FutureDates, t.SentinelDates, t.EarlyDates = rows.Int64, nullDates.Int64, future.Int64, sentinels.Int64, earlies.Int64
	t.NullCodes, t.NullQuantities = nullCodes.Int64, nullQty.Int64
	t.First, t.Last, t.Newest = asDate(first), asDate(last), asDate(newest)
	return nil
}

// asDate reads a date a driver returns (time.Time, or ISO text), zero
// when there is none.
func asDate(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)
	case []byte:
		return asDate(string(x))
	case string:
		if len(x) >= 10 {
			if d, err := time.Parse(time.DateOnly, x[:10]); err == nil {
				return d
			}
		}
	}
	return time.Time{}
}

// patients checks patients against registrations.
func (c *checker) patients(ctx context.Context) error {
	r := c.r
	pat, reg := r.Table(profile.Patients), r.Table(profile.Registrations)
	if c.usable(pat) {
		b := compile.NewBinder(c.d)
		frag, err := c.fragment(profile.Patients, b)
		if err != nil {
			return err
		}
		var distinct sql.NullInt64
		if err := c.query(ctx, b, "SELECT COUNT(DISTINCT t.patient_id) FROM ("+frag+") AS t", &distinct); err != nil {
			if stopped(ctx, err) {
				return err
			}
		} else {
			r.DuplicatePatients = pat.Rows - distinct.Int64
		}
	}
	if !c.usable(pat) || !c.usable(reg) {
		return nil
	}
	b := compile.NewBinder(c.d)
	pf, err := c.fragment(profile.Patients, b)
	if err != nil {
		return err
	}
	rf, err := c.fragment(profile.Registrations, b)
	if err != nil {
		return err
	}
	var unreg, orphans sql.NullInt64
	err = c.query(ctx, b, "SELECT COUNT(*) FROM ("+pf+") AS p\nLEFT JOIN (SELECT DISTINCT r.patient_id FROM ("+rf+") AS r) AS g ON g.patient_id = p.patient_id\nWHERE g.patient_id IS NULL", &unreg)
	if stopped(ctx, err) {
		return err
	}
	r.Unregistered = unreg.Int64
	b = compile.NewBinder(c.d)
	pf, _ = c.fragment(profile.Patients, b)
	rf, _ = c.fragment(profile.Registrations, b)
	err = c.query(ctx, b, "SELECT COUNT(DISTINCT r.patient_id) FROM ("+rf+") AS r\nLEFT JOIN (SELECT p.patient_id FROM ("+pf+") AS p) AS q ON q.patient_id = r.patient_id\nWHERE q.patient_id IS NULL", &orphans)
	if stopped(ctx, err) {
		return err
	}
	r.Orphans = orphans.Int64
	if c.opt.Practice == "" {
		return nil
	}
	// Patients with a spell covering the as-of date, by practice.
	b = compile.NewBinder(c.d)
	rf, err = c.fragment(profile.Registrations, b)
	if err != nil {
		return err
	}
	asOf := b.Date(c.opt.AsOf)
	ex, err := b.Finish("SELECT t.practice_ods, COUNT(DISTINCT t.patient_id) FROM (" + rf + ") AS t\nWHERE t.start_date <= " + asOf +
		" AND (t.end_date IS NULL OR t.end_date >= " + asOf + ")\nGROUP BY t.practice_ods")
	if err != nil {
		return err
	}
	rows, err := c.db.QueryContext(ctx, ex.SQL, ex.Args...)
	if err != nil {
		if stopped(ctx, err) {
			return err
		}
		r.add(Fail, "correct the profile's registrations SQL", "registrations: counting the patients registered on %s failed: %s", c.opt.AsOf.Format(time.DateOnly), oneLine(err.Error()))
		return nil
	}
	defer rows.Close()
	r.RegisteredAtAsOf = 0
	for rows.Next() {
		var p sql.NullString
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return err
		}
		if p.String == c.opt.Practice {
			r.RegisteredAtAsOf = n
			continue
		}
		r.BusiestPractices = append(r.BusiestPractices, PracticeCount{Practice: p.String, Patients: n})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sort.Slice(r.BusiestPractices, func(i, j int) bool {
		a, b := r.BusiestPractices[i], r.BusiestPractices[j]
		return a.Patients > b.Patients || a.Patients == b.Patients && a.Practice < b.Practice
	})
	if len(r.BusiestPractices) > 5 {
		r.BusiestPractices = r.BusiestPractices[:5]
	}
	return nil
}

// Uncomputable lists the measures of plans that prof's layout cannot
// compute, in plan order: those reading issue quantities when the layout
// has none. Their figures come out as if every quantity were unknown.
func Uncomputable(prof *profile.Profile, plans []*model.Plan) []string {
	if !prof.Lacks(profile.MedicationIssues, "quantity") {
		return nil
	}
	var out []string
	for _, p := range plans {
		for _, m := range p.Measures {
			if m.ReadsQuantity() {
				out = append(out, m.ID)
			}
		}
	}
	return out
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// judge turns the figures into findings, each with its fix.
func (c *checker) judge() {
	r := c.r
	asOf := c.opt.AsOf.Format(time.DateOnly)
	pat, reg, iss, evt := r.Table(profile.Patients), r.Table(profile.Registrations), r.Table(profile.MedicationIssues), r.Table(profile.ClinicalEvents)
	if c.usable(pat) && pat.Rows == 0 {
		r.add(Fail, "check that this is the practice's extract and that the profile's patients SQL reads its patient table", "patients is empty")
	}
	if r.DuplicatePatients > 0 {
		r.add(Fail, "the patients SQL must give one row per patient (GROUP BY the patient id, or join only to one row of each other table)",
			"patients has %d rows repeating a patient id already given: those patients would count twice", r.DuplicatePatients)
	}
	if r.Orphans > 0 {
		r.add(Fail, "make the patients SQL include every patient the registrations name (check its joins and filters)",
			"registrations name %d patients that patients does not hold: they would count with no sex or age", r.Orphans)
	}
	if c.usable(pat) && c.usable(reg) {
		l := Info
		fix := "an extract of everyone ever known to the practice has some; if it is most patients, check the registrations SQL"
		if pat.Rows > 0 && pct(r.Unregistered, pat.Rows) > 50 {
			l = Warn
		}
		r.add(l, fix, "patients with no registration: %d of %d (%.1f%%)", r.Unregistered, pat.Rows, pct(r.Unregistered, pat.Rows))
	}
	if r.RegisteredAtAsOf == 0 {
		var others []string
		for _, p := range r.BusiestPractices {
			others = append(others, fmt.Sprintf("%s (%d)", p.Practice, p.Patients))
		}
		fix := "check the practice's ODS code"
		if len(c.prof.Parameters) > 0 {
			fix = "if one of those is this practice, set the profile parameter that names it (" + paramNames(c.prof) + ": database.profile_parameters in the agent config, --profile-param on the command line); otherwise check the practice's ODS code"
		}
		if len(others) == 0 {
			r.add(Fail, fix, "no patient is registered at %s on %s, nor anywhere else: the registrations hold no spell covering that day", r.Practice, asOf)
		} else {
			r.add(Fail, fix, "no patient is registered at %s on %s; the registrations give most patients to %s", r.Practice, asOf, strings.Join(others, ", "))
		}
	} else if r.RegisteredAtAsOf > 0 {
		r.add(Info, "", "patients registered at %s on %s: %d", r.Practice, asOf, r.RegisteredAtAsOf)
	}
	if c.usable(iss) {
		if iss.Rows == 0 {
			r.add(Warn, "check the profile's medication_issues SQL and that the extract holds prescribing", "medication_issues is empty")
		}
		unmapped := pct(iss.NullCodes, iss.Rows)
		l := Info
		if unmapped > c.opt.MaxUnmappedPercent && c.opt.MaxUnmappedPercent >= 0 {
			l = Warn
		}
		r.add(l, "a drug with no dm+d code is in no codelist: if opioids are among them they are missed; check the drug dictionary (SystmOne: MedicationDictionary.DMD_ID) and the profile's dmd_code",
			"medication issues whose drug maps to no dm+d code: %d of %d (%.1f%%)", iss.NullCodes, iss.Rows, unmapped)
		if c.prof.Lacks(profile.MedicationIssues, "quantity") {
			ids := "the OME measures"
			if len(r.Uncomputable) > 0 {
				ids = strings.Join(r.Uncomputable, ", ")
			}
			r.add(Warn, "use an extract whose medication table carries the quantity issued; until then leave these measures out of any claim or comparison",
				"this layout (profile %s) has no issue quantities: %s cannot be computed on it (their figures read as if every quantity were unknown)", c.prof.Name, ids)
		} else {
			unreadable := pct(iss.NullQuantities, iss.Rows)
			l := Info
			if unreadable > c.opt.MaxUnreadablePercent && c.opt.MaxUnreadablePercent >= 0 {
				l = Warn
			}
			r.add(l, "quantities that are text (\"28 tablet\") need their leading number taken (see the tpp profile); the agent holds a month with more than quality.max_unreadable_percent unreadable",
				"medication issues with an unreadable quantity: %d of %d (%.1f%%)", iss.NullQuantities, iss.Rows, unreadable)
		}
		if iss.NullDates > 0 {
			r.add(Warn, "read only sentinel dates as NULL, and cast the others to dates; the agent's quality gate counts these as unreadable",
				"medication issues with an unreadable date: %d", iss.NullDates)
		} else {
			r.add(Info, "", "medication issues with an unreadable date: 0")
		}
		switch {
		case iss.Newest.IsZero() && iss.Rows > 0:
			r.add(Warn, "check the as-of date and that the extract is the current one", "no medication issue is dated on or before %s", asOf)
		case !iss.Newest.IsZero() && c.opt.MaxExtractAgeDays >= 0 && c.opt.AsOf.Sub(iss.Newest) > time.Duration(c.opt.MaxExtractAgeDays)*24*time.Hour:
			r.add(Warn, "refresh the extract: the agent holds a month whose newest issue is more than quality.max_extract_age_days before its end",
				"the newest medication issue on or before %s is dated %s: the extract looks %d days old", asOf, iss.Newest.Format(time.DateOnly), int(c.opt.AsOf.Sub(iss.Newest).Hours()/24))
		}
	}
	if c.usable(evt) && evt.NullCodes > 0 {
		r.add(Warn, "check the profile's snomed_code", "clinical events with no SNOMED CT code: %d of %d", evt.NullCodes, evt.Rows)
	}
	var sentinels, earlies, future int64
	var where, whereEarly []string
	for _, t := range r.Tables {
		if !c.usable(t) {
			continue
		}
		sentinels += t.SentinelDates
		earlies += t.EarlyDates
		future += t.FutureDates
		if t.SentinelDates > 0 {
			where = append(where, fmt.Sprintf("%s %d", t.Name, t.SentinelDates))
		}
		if t.EarlyDates > 0 {
			whereEarly = append(whereEarly, fmt.Sprintf("%s %d", t.Name, t.EarlyDates))
		}
	}
	if sentinels > 0 {
		r.add(Warn, "read the layout's 'no date' sentinel as NULL in the profile (see how the tpp profile reads 9999-12-31)",
			"sentinel dates seen: %d rows hold a date in the year 9999 (%s)", sentinels, strings.Join(where, ", "))
	} else {
		r.add(Info, "", "sentinel dates seen: none in the year 9999")
	}
	if earlies > 0 {
		r.add(Info, "SystmOne dates a record of something at an unknown time in the past 1900-01-01: it counts in windows reaching back that far; if your layout means 'unknown', read it as NULL",
			"dates on or before 1900-01-01: %d rows (%s)", earlies, strings.Join(whereEarly, ", "))
	}
	if future > 0 {
		r.add(Info, "", "records dated after %s: %d (no search as of %s reads them)", asOf, future, asOf)
	}
}

func paramNames(p *profile.Profile) string {
	names := make([]string, len(p.Parameters))
	for i, prm := range p.Parameters {
		names[i] = prm.Name
	}
	return strings.Join(names, ", ")
}

func describeColumns(cols []Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.Name + " " + c.Type
	}
	return "columns " + strings.Join(parts, ", ")
}

// WriteText writes the report for a practice manager.
func (r *Report) WriteText(w io.Writer) {
	src := r.Source
	if src == "" {
		src = "built-in"
	}
	fmt.Fprintf(w, "profile %s (%s) on %s, as of %s", r.Profile, src, r.Dialect, r.AsOf.Format(time.DateOnly))
	if r.Practice != "" {
		fmt.Fprintf(w, ", practice %s", r.Practice)
	}
	fmt.Fprintf(w, "\n\n%-19s %12s  %-23s  %s\n", "table", "rows", "dates covered", "newest on or before the as-of date")
	for _, t := range r.Tables {
		if !t.Counted {
			fmt.Fprintf(w, "%-19s %12s\n", t.Name, "-")
			continue
		}
		span := "-"
		if !t.First.IsZero() {
			span = t.First.Format(time.DateOnly) + " to " + t.Last.Format(time.DateOnly)
		}
		newest := ""
		if t.Name == profile.MedicationIssues || t.Name == profile.ClinicalEvents {
			newest = "-"
			if !t.Newest.IsZero() {
				newest = t.Newest.Format(time.DateOnly)
			}
		}
		fmt.Fprintf(w, "%-19s %12s  %-23s  %s\n", t.Name, thousands(t.Rows), span, newest)
	}
	fmt.Fprintln(w)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-5s %s\n", f.Level, f.Msg)
		if f.Fix != "" && (f.Level == Warn || f.Level == Fail) {
			fmt.Fprintf(w, "      fix: %s\n", f.Fix)
		}
	}
	fmt.Fprintf(w, "\n%d failed, %d %s, in %s\n", r.Count(Fail), r.Count(Warn), plural(r.Count(Warn), "warning"), r.Elapsed.Round(time.Millisecond))
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
