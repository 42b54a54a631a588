package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/schemes"
)

// Form, query and path values are checked here before they reach the
// store: a malformed value is the sender's mistake (4xx), never a failed
// query (500).
var (
	odsPattern      = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	schemeIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	periodPattern   = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)
)

// Bounds on form values, in bytes.
const (
	maxUserName = 64
	maxPassword = 1024
	maxReason   = 1000
)

// formError names a form value that cannot be right and says what it must
// be. Its message never repeats the value.
type formError struct{ field, msg string }

func (e *formError) Error() string { return "form field " + e.field + ": " + e.msg }

// plainText reports whether s is valid UTF-8 of at most max bytes without
// control or formatting characters (a reason may hold line breaks and
// tabs).
func plainText(s string, max int, lines bool) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if lines && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// practiceNamed looks up the practice with ODS code ods; a value that is
// not an ODS code is a practice that does not exist.
func (w *Web) practiceNamed(ctx context.Context, ods string) (collector.Practice, error) {
	if !odsPattern.MatchString(ods) {
		return collector.Practice{}, fmt.Errorf("practice: not an ODS code: %w", collector.ErrNotFound)
	}
	return w.opts.Store.Practice(ctx, ods)
}

// checkPeriod checks that the move's scheme exists and covers its period,
// before the claims service recalculates anything. It returns the status to
// answer with and why.
func (w *Web) checkPeriod(ctx context.Context, req claims.MoveRequest) (int, error) {
	sc, err := w.opts.Claims.Scheme(ctx, req.Scheme)
	switch {
	case errors.Is(err, collector.ErrNotFound):
		return http.StatusUnprocessableEntity, fmt.Errorf("there is no scheme %s", req.Scheme)
	case err != nil:
		return http.StatusInternalServerError, err
	}
	if err := claims.CheckPeriod(sc, req.Period); err != nil {
		return http.StatusUnprocessableEntity, err
	}
	// A retired scheme's claims do not move: the claims service answers
	// that, as a conflict.
	return 0, nil
}

// moveRequest reads the rest of the claim-move form.
func moveRequest(f url.Values, ods string) (claims.MoveRequest, *formError) {
	req := claims.MoveRequest{Scheme: f.Get("scheme"), Period: f.Get("period"), Practice: ods,
		To: schemes.State(f.Get("to")), Reason: f.Get("reason")}
	v, err := strconv.ParseInt(f.Get("version"), 10, 64)
	switch {
	case err != nil || v <= 0:
		return req, &formError{"version", "the form has no calculation version: reload the page"}
	case !schemeIDPattern.MatchString(req.Scheme):
		return req, &formError{"scheme", "not a scheme id: reload the page"}
	case !periodPattern.MatchString(req.Period):
		return req, &formError{"period", "not a month, YYYY-MM: reload the page"}
	}
	switch req.To {
	case schemes.Calculated, schemes.Declared, schemes.Approved, schemes.Paid:
	default:
		return req, &formError{"to", fmt.Sprintf("not a claim state: %s, %s, %s or %s", schemes.Declared, schemes.Approved, schemes.Paid, schemes.Calculated)}
	}
	if !plainText(req.Reason, maxReason, true) {
		return req, &formError{"reason", fmt.Sprintf("at most %d bytes of text, without control characters", maxReason)}
	}
	req.Version = v
	return req, nil
}

// overviewQuery checks the overview's ?scheme= and ?period=: absent, or a
// scheme id and a month. (A well-formed scheme or period the user may not
// see is shown as none.)
func overviewQuery(q url.Values) *formError {
	if id := q.Get("scheme"); id != "" && !schemeIDPattern.MatchString(id) {
		return &formError{"scheme", "not a scheme id"}
	}
	if p := q.Get("period"); p != "" && !periodPattern.MatchString(p) {
		return &formError{"period", "not a month, YYYY-MM"}
	}
	return nil
}

// signInName checks the sign-in form's name and password.
func signInName(name, password string) *formError {
	if !plainText(name, maxUserName, false) {
		return &formError{"name", fmt.Sprintf("not a user name: at most %d bytes of text", maxUserName)}
	}
	if len(password) > maxPassword {
		return &formError{"password", fmt.Sprintf("longer than %d bytes", maxPassword)}
	}
	return nil
}
