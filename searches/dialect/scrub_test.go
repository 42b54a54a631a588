package dialect

import (
	"errors"
	"github.com/nhs-steward/steward/internal/redact"
	"strings"
	"testing"
)

// A driver's error quoting the URL it could not use never carries the
// password out.
func TestOpenErrorsCarryNoPassword(t *testing.T) {
	for _, url := range []string{
		"postgres://steward:s3cret-Pass@db.example:5432/practice?sslmode=disable",
		"postgres://steward:s3cret%zzPass@db.example/practice", // does not parse
		"sqlserver://steward:s3cret-Pass@db.example?database=s1&connection+timeout=1",
		"postgres://steward@db.example/practice?password=s3cret-Pass&sslmode=verify",
	} {
		// Driver errors as they are written: quoting the URL or a
		// key=value form of it.
		for _, driverErr := range []error{
			errors.New("cannot parse `" + url + "`: failed to parse as URL"),
			errors.New("failed to connect to host=db.example user=steward password=s3cret-Pass database=practice: refused"),
		} {
			got := redact.Secrets(driverErr, url)
			if strings.Contains(got.Error(), "s3cret") {
				t.Errorf("redact.Secrets(%q) = %q", url, got)
			}
			if !errors.Is(got, driverErr) {
				t.Errorf("redact.Secrets lost the driver's error for %q", url)
			}
		}
	}
	// And through Open itself.
	_, _, err := Open("postgres://steward:s3cret%zzPass@db.example/practice")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open with an unparseable URL = %v", err)
	}
}
