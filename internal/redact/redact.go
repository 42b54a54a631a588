// Package redact keeps secrets and patient values out of what Steward
// prints and logs. Every command and the collector use it:
//
//   - URL shows a database or storage URL without its password;
//   - Secrets removes every secret of a database URL from an error's text
//     (drivers quote the URL or connection string they were given);
//   - Values removes quoted values from a database error (a database
//     quotes the value it could not convert, which may come from a
//     patient's record), keeping the names of tables, columns and types.
//
// A redacted error still unwraps to the original, so errors.Is and
// errors.As see the cause.
package redact

import (
	"errors"
	"net"
	neturl "net/url"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces a secret in text.
const Mask = "xxxxx"

// Error is an error whose text has had secrets or values replaced.
type Error struct {
	msg string
	err error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.err }

// passwordParam matches a password in a key=value connection string
// (password=... or Pwd=...;), quoted or not.
var passwordParam = regexp.MustCompile(`(?i)\b(password|pwd)\s*=\s*('[^']*'|"[^"]*"|[^\s;&]+)`)

// URL returns a database or storage URL fit to print: sqlite:PATH as it
// is, a URL with its password replaced, a key=value connection string with
// its password= values replaced; a URL that does not parse is not shown.
func URL(s string) string {
	if strings.HasPrefix(s, "sqlite:") {
		return s
	}
	if strings.Contains(s, "://") {
		u, err := neturl.Parse(s)
		if err != nil {
			return "(a URL that does not parse: not shown, as it may hold a password)"
		}
		return passwordParam.ReplaceAllString(u.Redacted(), "${1}="+Mask)
	}
	return passwordParam.ReplaceAllString(s, "${1}="+Mask)
}

// Secrets returns err with every secret of the database URL dbURL (the URL
// itself when it holds one, its password raw and decoded, password=
// values) replaced by Mask in its text. Driver messages are not ours: this
// keeps a password out of logs, state files and the terminal whatever a
// driver puts in them. A nil err stays nil.
func Secrets(err error, dbURL string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := passwordParam.ReplaceAllString(msg, "${1}="+Mask)
	for _, s := range secrets(dbURL) {
		clean = strings.ReplaceAll(clean, s, Mask)
	}
	if clean == msg {
		return err
	}
	return &Error{msg: clean, err: err}
}

// secrets lists the secrets a database URL or connection string holds,
// longest first.
func secrets(dbURL string) []string {
	var out []string
	add := func(s string) {
		if s = strings.Trim(s, `'"`); len(s) >= 3 {
			out = append(out, s)
		}
	}
	if strings.Contains(dbURL, "@") || passwordParam.MatchString(dbURL) {
		add(dbURL)
	}
	if _, rest, ok := strings.Cut(dbURL, "://"); ok {
		// Whatever sits between the scheme and the last @ may hold the
		// password, parseable or not.
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			if _, pw, ok := strings.Cut(rest[:i], ":"); ok {
				add(pw)
				if d, err := neturl.PathUnescape(pw); err == nil {
					add(d)
				}
			}
		}
	}
	if u, err := neturl.Parse(dbURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw)
			add(neturl.QueryEscape(pw))
			add(neturl.PathEscape(pw))
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(dbURL, -1) {
		add(m[2])
		if d, err := neturl.QueryUnescape(strings.Trim(m[2], `'"`)); err == nil {
			add(d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// quoted matches a '...' or "..." literal in a database message.
var quoted = regexp.MustCompile(`'(?:[^']|'')*'|"(?:[^"\\]|\\.)*"`)

// identifier matches a quoted text that names a table, column or type
// (patients, public.patients, date), which a message may keep.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// Values returns a query error with every quoted literal that is not a
// plain name replaced by '…': a database quotes the value it could not
// convert ("invalid input syntax for type date: \"1961-07-14\"",
// "Conversion failed when converting the varchar value '...'"), which may
// come from a patient's record. Names of tables, columns and types are
// kept: they say what to fix. A connection error holds no row and is left
// whole.
func Values(err error) error {
	var ne net.Error
	if err == nil || errors.As(err, &ne) {
		return err
	}
	msg := err.Error()
	clean := quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if identifier.MatchString(q[1 : len(q)-1]) {
			return q
		}
		return q[:1] + "…" + q[:1]
	})
	if clean == msg {
		return err
	}
	return &Error{msg: clean, err: err}
}

// Query is Secrets then Values: what every error of a search run against a
// practice database goes through before anyone sees it.
func Query(err error, dbURL string) error { return Values(Secrets(err, dbURL)) }
