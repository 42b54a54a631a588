// Package sqlite is the SQLite dialect of the search compiler
// (modernc.org/sqlite, driver "sqlite"). Codelists and reference tables
// travel as one JSON text parameter each, read with json_each.
package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/schema"
)

// Dialect is SQLite.
type Dialect struct{}

var _ compile.Dialect = Dialect{}

// New returns the SQLite dialect.
func New() Dialect { return Dialect{} }

// Name implements compile.Dialect.
func (Dialect) Name() schema.Dialect { return schema.SQLite }

// Placeholder implements compile.Dialect: ?N (numbered, so a value bound
// once may appear many times).
func (Dialect) Placeholder(n int, _ compile.ArgKind) string { return "?" + strconv.Itoa(n) }

// DriverArg implements compile.Dialect: dates are ISO-8601 text, as SQLite
// stores them.
func (Dialect) DriverArg(k compile.ArgKind, v any) any {
	if t, ok := v.(time.Time); ok && k == compile.ArgDate {
		return t.Format(time.DateOnly)
	}
	return v
}

// Float implements compile.Dialect.
func (Dialect) Float(x string) string { return "CAST(" + x + " AS REAL)" }

// Round implements compile.Dialect.
func (Dialect) Round(x string, places int) string {
	return "ROUND(" + x + ", " + strconv.Itoa(places) + ")"
}

// Year implements compile.Dialect.
func (Dialect) Year(x string) string { return "CAST(strftime('%Y', " + x + ") AS INTEGER)" }

// MonthDay implements compile.Dialect.
func (Dialect) MonthDay(x string) string { return "CAST(strftime('%m%d', " + x + ") AS INTEGER)" }

// AddDays implements compile.Dialect.
func (Dialect) AddDays(x string, n int) string {
	return fmt.Sprintf("date(%s, '%+d days')", x, n)
}

// AddMonths implements compile.Dialect. SQLite's '+N months' rolls an
// overflowing day into the next month (31 January + 1 month is 3 March),
// so the day is added to the first of the target month and capped at
// that month's last day.
func (Dialect) AddMonths(x string, n int) string {
	return fmt.Sprintf("min(date(%s, 'start of month', '%+d months', '+' || (CAST(strftime('%%d', %s) AS INTEGER) - 1) || ' days'), date(%s, 'start of month', '%+d months', '-1 day'))",
		x, n, x, x, n+1)
}

// DaysBetween implements compile.Dialect.
func (Dialect) DaysBetween(a, b string) string {
	return "CAST(julianday(" + b + ") - julianday(" + a + ") AS INTEGER)"
}

// MonthKey implements compile.Dialect.
func (Dialect) MonthKey(x string) string { return "strftime('%Y-%m', " + x + ")" }

// Unindexed implements compile.Dialect.
func (Dialect) Unindexed(x string) string { return "+" + x }

// Materialized implements compile.Dialect.
func (Dialect) Materialized() string { return "MATERIALIZED " }

// ReadOnlyTx implements compile.Dialect: the database is opened read-only
// instead.
func (Dialect) ReadOnlyTx() bool { return false }

// Lookups implements compile.Dialect: codelists as one JSON array of arrays
// of codes (list id = index), reference tables as one JSON array of objects
// code -> value (ref id = index).
func (Dialect) Lookups(b *compile.Binder, lists [][]string, refs []map[string]float64) (*compile.Lookups, error) {
	if lists == nil {
		lists = [][]string{}
	}
	for i := range lists {
		if lists[i] == nil {
			lists[i] = []string{}
		}
	}
	codes, err := json.Marshal(lists)
	if err != nil {
		return nil, fmt.Errorf("codelists as JSON: %w", err)
	}
	lk := &compile.Lookups{
		Codes: "SELECT CAST(l.key AS INTEGER) AS list_id, c.value AS code FROM json_each(" +
			b.Bind(compile.ArgJSON, string(codes)) + ") AS l, json_each(l.value) AS c",
	}
	if len(refs) > 0 {
		objs := make([]map[string]float64, len(refs))
		for i, r := range refs {
			objs[i] = r
			if r == nil {
				objs[i] = map[string]float64{}
			}
		}
		data, err := json.Marshal(objs)
		if err != nil {
			return nil, fmt.Errorf("reference tables as JSON: %w", err)
		}
		lk.Refs = "SELECT CAST(r.key AS INTEGER) AS ref_id, c.key AS code, CAST(c.value AS REAL) AS value FROM json_each(" +
			b.Bind(compile.ArgJSON, string(data)) + ") AS r, json_each(r.value) AS c"
	}
	return lk, nil
}

// DSN returns the modernc data source name opening path read-only.
func DSN(path string) string {
	p := filepath.ToSlash(path)
	if len(p) >= 2 && p[1] == ':' { // a Windows drive letter
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p}
	if !strings.HasPrefix(p, "/") {
		u = url.URL{Scheme: "file", Opaque: (&url.URL{Path: p}).EscapedPath()}
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens the SQLite database file at path read-only.
func Open(path string) (*sql.DB, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite: no path")
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}
