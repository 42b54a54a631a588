package compile

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/schema"
)

// Dialect is what the compiler needs to know about one SQL engine. The
// implementations live in their own packages (searches/dialect/...), and
// searches/dialect registers them in one place.
type Dialect interface {
	// Name is the dialect's name, which selects the profile's fragments.
	Name() schema.Dialect
	// Placeholder is the text of bind parameter n (from 1) of kind k, with
	// any cast the engine needs to type it.
	Placeholder(n int, k ArgKind) string
	// DriverArg converts a parameter's value (see ArgKind) to what the
	// database driver should receive.
	DriverArg(k ArgKind, v any) any
	// Float casts a numeric expression to double precision.
	Float(x string) string
	// Round rounds a double precision expression to places decimals,
	// giving double precision.
	Round(x string, places int) string
	// Year and MonthDay give a date's year and month*100+day as integers.
	Year(x string) string
	MonthDay(x string) string
	// MonthKey gives a value identifying the calendar month of a date.
	MonthKey(x string) string
	// AddDays shifts a date by n days; AddMonths by n calendar months,
	// clamped to the last day of the target month when it is shorter
	// (model.AddMonths); both give a date, and NULL for NULL.
	AddDays(x string, n int) string
	AddMonths(x string, n int) string
	// DaysBetween gives the whole days from date a to date b (b - a) as
	// an integer, NULL when either is NULL.
	DaysBetween(a, b string) string
	// Unindexed wraps a column so that the planner does not read the big
	// tables through an index for a predicate or grouping on it (SQLite:
	// +x). One sequential scan of the issues table is far cheaper than an
	// index-order or skip-scan walk with a table lookup per row.
	Unindexed(x string) string
	// Materialized is the keyword that makes a CTE materialized ("" when
	// the engine has none).
	Materialized() string
	// Lookups makes codelists and reference tables available to the query:
	// the SELECTs giving codes(list_id, code) and refs(ref_id, code,
	// value), whose bind parameters it takes from b, and statements to run
	// on the same connection before and after the query (temporary
	// tables).
	Lookups(b *Binder, lists [][]string, refs []map[string]float64) (*Lookups, error)
	// ReadOnlyTx reports whether the query runs inside a read-only
	// transaction (BEGIN READ ONLY).
	ReadOnlyTx() bool
}

// Lookups is how a dialect provides codelists and reference tables.
type Lookups struct {
	Codes, Refs     string // SELECT list_id, code ...; SELECT ref_id, code, value ...
	Setup, Teardown []Exec
}

// ArgKind is the type of a bind parameter. Values are held in a canonical
// Go type and converted by Dialect.DriverArg.
type ArgKind int

// Parameter kinds and the canonical Go type of their values.
const (
	ArgDate        ArgKind = iota + 1 // time.Time (UTC midnight)
	ArgNumber                         // float64
	ArgInt                            // int64
	ArgText                           // string (codes, ODS codes, labels)
	ArgJSON                           // string holding JSON
	ArgIntArray                       // []int32
	ArgTextArray                      // []string
	ArgNumberArray                    // []float64
)

func (k ArgKind) String() string {
	switch k {
	case ArgDate:
		return "date"
	case ArgNumber:
		return "number"
	case ArgInt:
		return "int"
	case ArgText:
		return "text"
	case ArgJSON:
		return "json"
	case ArgIntArray:
		return "int[]"
	case ArgTextArray:
		return "text[]"
	case ArgNumberArray:
		return "number[]"
	}
	return "?"
}

// Param is one bind parameter of a statement.
type Param struct {
	Kind  ArgKind
	Value any
}

// Exec is one SQL statement with its parameters.
type Exec struct {
	SQL string
	// Params are the parameters in placeholder order (the first is
	// placeholder 1); Args are the same values as the driver receives them.
	Params []Param
	Args   []any
}

// Binder collects the bind parameters of one statement. Each method returns
// the text to put in the SQL; equal scalar values share one parameter.
// Placeholders are numbered in order of first appearance in the finished
// text (see Binder.Finish).
type Binder struct {
	d      Dialect
	params []Param
	seen   map[string]int
	// distinct gives every Bind its own parameter (series compiles: which
	// parameters vary with the month end is found by position).
	distinct bool
}

// NewBinder returns an empty binder for a dialect.
func NewBinder(d Dialect) *Binder {
	return &Binder{d: d, seen: map[string]int{}}
}

// token marks parameter i in unfinished text; \x00 never occurs in SQL we
// generate or in a profile.
func token(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

// Bind adds a parameter and returns its token.
func (b *Binder) Bind(k ArgKind, v any) string {
	key := ""
	switch v.(type) {
	case time.Time, float64, int64, string:
		if k != ArgJSON {
			key = fmt.Sprintf("%d\x01%v", k, v)
			if t, ok := v.(time.Time); ok {
				key = fmt.Sprintf("%d\x01%s", k, t.Format(time.DateOnly))
			}
			if i, ok := b.seen[key]; ok && !b.distinct {
				return token(i)
			}
		}
	}
	b.params = append(b.params, Param{Kind: k, Value: v})
	i := len(b.params) - 1
	if key != "" {
		b.seen[key] = i
	}
	return token(i)
}

// Date binds a date.
func (b *Binder) Date(t time.Time) string {
	return b.Bind(ArgDate, time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
}

// Number binds a double precision number.
func (b *Binder) Number(f float64) string { return b.Bind(ArgNumber, f) }

// Int binds an integer.
func (b *Binder) Int(i int64) string { return b.Bind(ArgInt, i) }

// Text binds a text value.
func (b *Binder) Text(s string) string { return b.Bind(ArgText, s) }

// Finish numbers the placeholders of text in order of first appearance and
// returns the statement. Parameters bound but not used are dropped.
func (b *Binder) Finish(text string) (Exec, error) {
	var out strings.Builder
	number := map[int]int{}
	var ex Exec
	for {
		i := strings.IndexByte(text, 0)
		if i < 0 {
			out.WriteString(text)
			break
		}
		j := strings.IndexByte(text[i+1:], 0)
		if j < 0 {
			return Exec{}, fmt.Errorf("compile: unterminated parameter token")
		}
		idx, err := strconv.Atoi(text[i+1 : i+1+j])
		if err != nil || idx < 0 || idx >= len(b.params) {
			return Exec{}, fmt.Errorf("compile: bad parameter token")
		}
		n, ok := number[idx]
		if !ok {
			p := b.params[idx]
			ex.Params = append(ex.Params, p)
			ex.Args = append(ex.Args, b.d.DriverArg(p.Kind, p.Value))
			n = len(ex.Params)
			number[idx] = n
		}
		out.WriteString(text[:i])
		out.WriteString(b.d.Placeholder(n, b.params[idx].Kind))
		text = text[i+1+j+1:]
	}
	ex.SQL = out.String()
	return ex, nil
}
