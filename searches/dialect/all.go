// Package dialect is the one registry of the SQL dialects the search
// compiler speaks, and opens practice databases read-only by URL.
package dialect

import (
	"database/sql"
	"fmt"
	neturl "net/url"
	"regexp"
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
		return nil, nil, fmt.Errorf("database URL %q: want sqlite:PATH, a postgres:// URL or a sqlserver:// URL", redact(url))
	}
	if err != nil {
		return nil, nil, scrub(err, url)
	}
	return db, d, nil
}

// passwordField matches a password in a key=value connection string
// (password=... or Password=...;), quoted or not.
var passwordField = regexp.MustCompile(`(?i)(password|pwd)\s*=\s*('[^']*'|"[^"]*"|[^\s;&]+)`)

// scrub returns err with every password in the database URL raw replaced
// by xxxxx: drivers quote the URL or connection string they could not
// parse, and errors reach logs.
func scrub(err error, raw string) error {
	msg := err.Error()
	clean := passwordField.ReplaceAllString(msg, "${1}=xxxxx")
	var secrets []string
	if u, perr := neturl.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p, neturl.QueryEscape(p), neturl.PathEscape(p))
		}
	} else if i, j := strings.Index(raw, "://"), strings.LastIndex(raw, "@"); i >= 0 && j > i {
		// Unparseable: whatever sits between the scheme and the last @
		// may hold the password.
		userinfo := raw[i+3 : j]
		if k := strings.Index(userinfo, ":"); k >= 0 {
			secrets = append(secrets, userinfo[k+1:])
		}
		secrets = append(secrets, raw)
	}
	for _, m := range passwordField.FindAllStringSubmatch(raw, -1) {
		secrets = append(secrets, strings.Trim(m[2], `'"`))
	}
	for _, sec := range secrets {
		if len(sec) >= 3 {
			clean = strings.ReplaceAll(clean, sec, "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

// scrubbed is an error whose message had secrets removed; errors.Is and As
// still see the driver's error.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// redact hides anything after a scheme that could hold a password.
func redact(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		return "..." + s[i:]
	}
	return s
}
