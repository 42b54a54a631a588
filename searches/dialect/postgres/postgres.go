// Package postgres is the PostgreSQL dialect of the search compiler (pgx
// through database/sql, driver "pgx"). Codelists and reference tables
// travel as arrays, one parameter per column, read with unnest. Queries run
// inside BEGIN READ ONLY on a session whose default is read-only too.
package postgres

import (
	"database/sql"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/schema"
)

// Dialect is PostgreSQL.
type Dialect struct{}

var _ compile.Dialect = Dialect{}

// New returns the PostgreSQL dialect.
func New() Dialect { return Dialect{} }

// Name implements compile.Dialect.
func (Dialect) Name() schema.Dialect { return schema.Postgres }

var casts = map[compile.ArgKind]string{
	compile.ArgDate:        "date",
	compile.ArgNumber:      "double precision",
	compile.ArgInt:         "bigint", // profile parameters such as an Organisation_ID are bigint
	compile.ArgText:        "text",
	compile.ArgJSON:        "jsonb",
	compile.ArgIntArray:    "integer[]",
	compile.ArgTextArray:   "text[]",
	compile.ArgNumberArray: "double precision[]",
}

// Placeholder implements compile.Dialect: $N with an explicit cast, so
// every parameter has a known type wherever it appears.
func (Dialect) Placeholder(n int, k compile.ArgKind) string {
	return "CAST($" + strconv.Itoa(n) + " AS " + casts[k] + ")"
}

// DriverArg implements compile.Dialect: pgx takes the canonical values
// (time.Time for dates, slices for arrays) as they are.
func (Dialect) DriverArg(_ compile.ArgKind, v any) any { return v }

// Float implements compile.Dialect.
func (Dialect) Float(x string) string { return "CAST(" + x + " AS double precision)" }

// Round implements compile.Dialect: round(double precision, int) does not
// exist; numeric rounding is exact.
func (Dialect) Round(x string, places int) string {
	return "CAST(ROUND(CAST(" + x + " AS numeric), " + strconv.Itoa(places) + ") AS double precision)"
}

// AddDays implements compile.Dialect.
func (Dialect) AddDays(x string, n int) string {
	return fmt.Sprintf("CAST(%s + %d AS date)", x, n)
}

// AddMonths implements compile.Dialect: adding an interval of months
// clamps to the last day of a shorter month.
func (Dialect) AddMonths(x string, n int) string {
	return fmt.Sprintf("CAST(%s + INTERVAL '%d months' AS date)", x, n)
}

// DaysBetween implements compile.Dialect: date - date is whole days.
func (Dialect) DaysBetween(a, b string) string {
	return "(CAST(" + b + " AS date) - CAST(" + a + " AS date))"
}

// Year implements compile.Dialect.
func (Dialect) Year(x string) string { return "CAST(EXTRACT(YEAR FROM " + x + ") AS integer)" }

// MonthDay implements compile.Dialect.
func (Dialect) MonthDay(x string) string {
	return "CAST(EXTRACT(MONTH FROM " + x + ") * 100 + EXTRACT(DAY FROM " + x + ") AS integer)"
}

// MonthKey implements compile.Dialect.
func (Dialect) MonthKey(x string) string { return "date_trunc('month', " + x + ")" }

// Unindexed implements compile.Dialect.
func (Dialect) Unindexed(x string) string { return x }

// Materialized implements compile.Dialect.
func (Dialect) Materialized() string { return "MATERIALIZED " }

// ReadOnlyTx implements compile.Dialect.
func (Dialect) ReadOnlyTx() bool { return true }

// Lookups implements compile.Dialect.
func (Dialect) Lookups(b *compile.Binder, lists [][]string, refs []map[string]float64) (*compile.Lookups, error) {
	var ids []int32
	var codes []string
	for i, l := range lists {
		for _, c := range l {
			ids = append(ids, int32(i))
			codes = append(codes, c)
		}
	}
	if ids == nil {
		ids, codes = []int32{}, []string{}
	}
	lk := &compile.Lookups{
		Codes: "SELECT u.list_id, u.code FROM unnest(" + b.Bind(compile.ArgIntArray, ids) + ", " +
			b.Bind(compile.ArgTextArray, codes) + ") AS u(list_id, code)",
	}
	if len(refs) > 0 {
		rids, rcodes, vals := []int32{}, []string{}, []float64{}
		for i, r := range refs {
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				rids = append(rids, int32(i))
				rcodes = append(rcodes, k)
				vals = append(vals, r[k])
			}
		}
		lk.Refs = "SELECT u.ref_id, u.code, u.value FROM unnest(" + b.Bind(compile.ArgIntArray, rids) + ", " +
			b.Bind(compile.ArgTextArray, rcodes) + ", " + b.Bind(compile.ArgNumberArray, vals) + ") AS u(ref_id, code, value)"
	}
	return lk, nil
}

// DSN adds the read-only session default, a connect timeout and jit=off to a
// postgres:// URL (or key=value connection string) unless already set.
func DSN(conn string) (string, error) {
	if strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://") {
		u, err := url.Parse(conn)
		if err != nil {
			return "", fmt.Errorf("postgres URL: %w", err)
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on")
		if q.Get("connect_timeout") == "" {
			q.Set("connect_timeout", "15")
		}
		if q.Get("jit") == "" {
			// JIT compilation of the one large search statement costs about
			// 2 s and saves nothing at practice scale (measured: 2.2 s with
			// it, 0.19 s without, 10,000 patients).
			q.Set("jit", "off")
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	s := strings.TrimSpace(conn) + " default_transaction_read_only=on"
	if !strings.Contains(conn, "connect_timeout") {
		s += " connect_timeout=15"
	}
	if !strings.Contains(conn, "jit") {
		s += " jit=off"
	}
	return s, nil
}

// Open opens a PostgreSQL database read-only.
func Open(conn string) (*sql.DB, error) {
	dsn, err := DSN(conn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return db, nil
}
