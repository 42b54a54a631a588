// Package sqlserver is the SQL Server (T-SQL) dialect of the search compiler
// (github.com/microsoft/go-mssqldb, driver "sqlserver"). A statement may
// carry at most 2,100 parameters, so codelists and reference tables go into
// session temporary tables (#steward_codes, #steward_refs): created by an
// unparameterised batch on the pinned connection, filled with batched
// parameterised INSERTs, read by the query, dropped after it. Codes are
// sent as varchar (mssql.VarChar), never nvarchar, so that they compare with
// varchar columns without conversion; dates as date (civil.Date).
package sqlserver

import (
	"database/sql"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-sql/civil"
	mssql "github.com/microsoft/go-mssqldb"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/schema"
)

// MaxParams is the most parameters a generated statement carries (SQL
// Server's limit is 2,100).
const MaxParams = 2000

// maxRows is the most rows of one INSERT ... VALUES (SQL Server's limit is
// 1,000).
const maxRows = 1000

// Dialect is SQL Server.
type Dialect struct{}

var _ compile.Dialect = Dialect{}

// New returns the SQL Server dialect.
func New() Dialect { return Dialect{} }

// Name implements compile.Dialect.
func (Dialect) Name() schema.Dialect { return schema.SQLServer }

// Placeholder implements compile.Dialect: @pN.
func (Dialect) Placeholder(n int, _ compile.ArgKind) string { return "@p" + strconv.Itoa(n) }

// DriverArg implements compile.Dialect: dates as civil.Date (sent as date),
// text as mssql.VarChar (sent as varchar).
func (Dialect) DriverArg(k compile.ArgKind, v any) any {
	switch x := v.(type) {
	case time.Time:
		return civil.DateOf(x)
	case string:
		if k == compile.ArgText {
			return mssql.VarChar(x)
		}
	}
	return v
}

// Float implements compile.Dialect.
func (Dialect) Float(x string) string { return "CAST(" + x + " AS float)" }

// Round implements compile.Dialect.
func (Dialect) Round(x string, places int) string {
	return "ROUND(" + x + ", " + strconv.Itoa(places) + ")"
}

// AddDays implements compile.Dialect.
func (Dialect) AddDays(x string, n int) string {
	return fmt.Sprintf("DATEADD(day, %d, %s)", n, x)
}

// AddMonths implements compile.Dialect: DATEADD clamps to the last day of
// a shorter month.
func (Dialect) AddMonths(x string, n int) string {
	return fmt.Sprintf("DATEADD(month, %d, %s)", n, x)
}

// DaysBetween implements compile.Dialect.
func (Dialect) DaysBetween(a, b string) string {
	return "DATEDIFF(day, " + a + ", " + b + ")"
}

// Year implements compile.Dialect.
func (Dialect) Year(x string) string { return "YEAR(" + x + ")" }

// MonthDay implements compile.Dialect.
func (Dialect) MonthDay(x string) string { return "(MONTH(" + x + ") * 100 + DAY(" + x + "))" }

// MonthKey implements compile.Dialect.
func (Dialect) MonthKey(x string) string { return "(YEAR(" + x + ") * 12 + MONTH(" + x + "))" }

// Unindexed implements compile.Dialect.
func (Dialect) Unindexed(x string) string { return x }

// Materialized implements compile.Dialect: T-SQL has no such hint.
func (Dialect) Materialized() string { return "" }

// ReadOnlyTx implements compile.Dialect: SQL Server refuses read-only
// transactions; read-only is the login's permission (db_datareader).
func (Dialect) ReadOnlyTx() bool { return false }

// The temporary tables. COLLATE DATABASE_DEFAULT: tempdb's collation may
// differ from the practice database's, and a join between them would fail.
// varchar(64) is the width of the code columns of the schema.
const (
	createCodes = `IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
)`
	createRefs = `IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;
CREATE TABLE #steward_refs (
  ref_id int NOT NULL,
  code   varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  value  float NOT NULL,
  PRIMARY KEY (ref_id, code)
)`
	dropCodes = `IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes`
	dropRefs  = `IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs`
)

// Lookups implements compile.Dialect.
func (d Dialect) Lookups(_ *compile.Binder, lists [][]string, refs []map[string]float64) (*compile.Lookups, error) {
	lk := &compile.Lookups{
		Codes: "SELECT list_id, code FROM #steward_codes",
		Setup: []compile.Exec{{SQL: createCodes}},
	}
	var rows [][]compile.Param
	for i, l := range lists {
		for _, c := range l {
			if len(c) > 64 {
				return nil, fmt.Errorf("code %q is longer than 64 characters", c)
			}
			rows = append(rows, []compile.Param{{Kind: compile.ArgInt, Value: int64(i)}, {Kind: compile.ArgText, Value: c}})
		}
	}
	ins, err := d.inserts("INSERT INTO #steward_codes (list_id, code) VALUES ", rows)
	if err != nil {
		return nil, err
	}
	lk.Setup = append(lk.Setup, ins...)
	lk.Teardown = []compile.Exec{{SQL: dropCodes}}
	if len(refs) > 0 {
		lk.Refs = "SELECT ref_id, code, value FROM #steward_refs"
		lk.Setup = append(lk.Setup, compile.Exec{SQL: createRefs})
		rows = nil
		for i, r := range refs {
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if len(k) > 64 {
					return nil, fmt.Errorf("reference code %q is longer than 64 characters", k)
				}
				rows = append(rows, []compile.Param{{Kind: compile.ArgInt, Value: int64(i)}, {Kind: compile.ArgText, Value: k}, {Kind: compile.ArgNumber, Value: r[k]}})
			}
		}
		ins, err := d.inserts("INSERT INTO #steward_refs (ref_id, code, value) VALUES ", rows)
		if err != nil {
			return nil, err
		}
		lk.Setup = append(lk.Setup, ins...)
		lk.Teardown = append(lk.Teardown, compile.Exec{SQL: dropRefs})
	}
	return lk, nil
}

// inserts batches rows into INSERT statements of at most MaxParams
// parameters and maxRows rows each.
func (d Dialect) inserts(prefix string, rows [][]compile.Param) ([]compile.Exec, error) {
	if len(rows) == 0 {
		return nil, nil
	}
	width := len(rows[0])
	per := min(MaxParams/width, maxRows)
	var out []compile.Exec
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		b := compile.NewBinder(d)
		var sb strings.Builder
		sb.WriteString(prefix)
		for i, row := range rows[start:end] {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(")
			for j, p := range row {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(b.Bind(p.Kind, p.Value))
			}
			sb.WriteString(")")
		}
		ex, err := b.Finish(sb.String())
		if err != nil {
			return nil, err
		}
		out = append(out, ex)
	}
	return out, nil
}

// DSN adds read-only intent, an application name, and dial, connection
// and keep-alive timeouts to a sqlserver:// URL unless already set.
func DSN(conn string) (string, error) {
	u, err := url.Parse(conn)
	if err != nil || u.Scheme != "sqlserver" {
		return "", fmt.Errorf("sql server: want a sqlserver://user:password@host/instance?database=NAME URL")
	}
	q := u.Query()
	set := func(k, v string) {
		for have := range q {
			if strings.EqualFold(have, k) {
				return
			}
		}
		q.Set(k, v)
	}
	set("ApplicationIntent", "ReadOnly")
	set("app name", "steward")
	set("dial timeout", "15")
	set("connection timeout", "30")
	set("keepAlive", "30")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Open opens a SQL Server database with read-only intent. Read-only
// access itself is the login's: grant it db_datareader only.
func Open(conn string) (*sql.DB, error) {
	dsn, err := DSN(conn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sql server: %w", err)
	}
	return db, nil
}
