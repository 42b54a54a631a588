package redact

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	cases := []struct{ url, msg, want string }{
		{"postgres://u:p%40ss@h/db", `parse "postgres://u:p%40ss@h/db": bad`, `parse "xxxxx": bad`},
		{"postgres://u:p%40ss@h/db", "login failed for p@ss", "login failed for xxxxx"},
		{"postgres://u:p@ss@h/db", "cannot parse postgres://u:p@ss@h/db", "cannot parse xxxxx"},
		{"sqlserver://h?database=x&password=s3cr3t", "bad password=s3cr3t", "bad password=xxxxx"},
		{"sqlserver://h?database=x&password=s3cr3t", "dial failed (s3cr3t)", "dial failed (xxxxx)"},
		{"host=h password='a b c' dbname=d", "cannot use 'a b c'", "cannot use 'xxxxx'"},
		{"Server=h;Database=d;User Id=u;Pwd=hunter22;", "login Pwd=hunter22 refused", "login Pwd=xxxxx refused"},
		{"sqlite:/var/lib/practice.db", "open /var/lib/practice.db: no such file", "open /var/lib/practice.db: no such file"},
	}
	for _, c := range cases {
		cause := errors.New(c.msg)
		err := Secrets(cause, c.url)
		if got := err.Error(); got != c.want {
			t.Errorf("Secrets(%q, %q) = %q, want %q", c.msg, c.url, got, c.want)
		}
		if !errors.Is(err, cause) {
			t.Errorf("redacted error does not unwrap to its cause")
		}
	}
	if Secrets(nil, "x") != nil {
		t.Error("Secrets(nil) is not nil")
	}
}

func TestValues(t *testing.T) {
	cases := []struct{ msg, want string }{
		{`search medsip: ERROR: invalid input syntax for type date: "1961-07-14" (SQLSTATE 22007)`,
			`search medsip: ERROR: invalid input syntax for type date: "…" (SQLSTATE 22007)`},
		{`mssql: Conversion failed when converting the varchar value '28 tablet' to data type int.`,
			`mssql: Conversion failed when converting the varchar value '…' to data type int.`},
		{`value 'O''Brien 4471' is bad`, `value '…' is bad`},
		{`ERROR: relation "public.patients" does not exist`, `ERROR: relation "public.patients" does not exist`},
		{`mssql: Invalid object name 'MedicationIssue'.`, `mssql: Invalid object name 'MedicationIssue'.`},
		{`no such column: date_of_birth`, `no such column: date_of_birth`},
	}
	for _, c := range cases {
		cause := errors.New(c.msg)
		err := Values(cause)
		if got := err.Error(); got != c.want {
			t.Errorf("Values(%q) = %q, want %q", c.msg, got, c.want)
		}
		if !errors.Is(err, cause) {
			t.Errorf("Values(%q) does not unwrap to its cause", c.msg)
		}
	}
	// A connection error quotes no row: the host stays, to say what to fix.
	refused := fmt.Errorf("unable to open tcp connection with host '10.0.0.5:1433': %w",
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")})
	if got := Values(refused).Error(); !strings.Contains(got, "'10.0.0.5:1433'") {
		t.Errorf("connection error lost its host: %s", got)
	}
}

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:/var/lib/steward/collector.db":               "sqlite:/var/lib/steward/collector.db",
		"postgres://steward:s3cret@db.icb.example/collector": "postgres://steward:xxxxx@db.icb.example/collector",
		"sqlserver://h?database=x&password=s3cr3t":           "sqlserver://h?database=x&password=xxxxx",
		"host=h password='a b c' dbname=d":                   "host=h password=xxxxx dbname=d",
		"postgres://u:%zz@h/db":                              "(a URL that does not parse: not shown, as it may hold a password)",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}
