// Package dialect is the one registry of the SQL dialects the search
// compiler speaks, and opens practice databases read-only by URL.
package dialect

import (
	"database/sql"
	"fmt"
	"github.com/nhs-steward/steward/internal/redact"
	"sort"
	"strings"

	"github.com/nhs-steward/steward/searches/compile"
	"github.com/nhs-steward/steward/searches/dialect/postgres"
	"github.com/nhs-steward/steward/searches/dialect/sqlite"
	"github.com/nhs-steward/steward/searches/dialect/sqlserver"
	"github.com/nhs-steward/steward/searches/schema"
)

// registry maps each dialect's name to it. Adding a dialect is one line here.
var registry = build(sqlite.New(), postgres.New(), sqlserver.New())

func build(ds ...compile.Dialect) map[schema.Dialect]compile.Dialect {
	m := map[schema.Dialect]compile.Dialect{}
	for _, d := range ds {
		if _, dup := m[d.Name()]; dup {
			panic(fmt.Sprintf("dialect %s registered twice", d.Name()))
		}
		m[d.Name()] = d
	}
	return m
}

// Names lists the dialects.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, string(n))
	}
	sort.Strings(out)
	return out
}

// Lookup returns the dialect called name.
func Lookup(name string) (compile.Dialect, error) {
	d, ok := registry[schema.Dialect(name)]
	if !ok {
		return nil, fmt.Errorf("unknown dialect %q (want %s)", name, strings.Join(Names(), ", "))
	}
	return d, nil
}

// Open opens a practice database read-only from a URL: sqlite:PATH,
// postgres://... (or postgresql://...), or sqlserver://...
func Open(url string) (*sql.DB, compile.Dialect, error) {
	var (
		db  *sql.DB
		d   compile.Dialect
		err error
	)
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		db, err = sqlite.Open(strings.TrimPrefix(url, "sqlite:"))
		d = registry[schema.SQLite]
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err = postgres.Open(url)
		d = registry[schema.Postgres]
	case strings.HasPrefix(url, "sqlserver://"):
		db, err = sqlserver.Open(url)
		d = registry[schema.SQLServer]
	default:
		return nil, nil, fmt.Errorf("database URL %q: want sqlite:PATH, a postgres:// URL or a sqlserver:// URL", redact.URL(url))
	}
	if err != nil {
		return nil, nil, redact.Secrets(err, url)
	}
	return db, d, nil
}
