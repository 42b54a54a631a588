package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
)

// Gate is the data-quality gate a month passes before it is queued. A
// figure computed from an empty or half-refreshed extract is worse than a
// late one: it would be paid on. A month that fails is held, and checked
// again at every cycle until the data are fixed or the practice manager
// releases it. Zero turns a check off.
type Gate struct {
	// MinRegisteredAdults holds a month with fewer registered adults.
	MinRegisteredAdults int
	// MaxAdultsChange is the largest rise or fall in registered adults
	// against the previous month, as a fraction (0.10 is 10%).
	MaxAdultsChange float64
	// MaxOpioidChange and MinOpioidChange hold a month whose long-term
	// opioid users changed by more than this fraction and by at least this
	// many patients against the previous month.
	MaxOpioidChange float64
	MinOpioidChange int
	// MaxUnreadable is the largest share of medication issues with an
	// unreadable date or quantity.
	MaxUnreadable float64
	// MaxExtractAge holds a month whose newest medication issue on or
	// before its end is more than this many days before it: the extract was
	// refreshed before the month ended, or stopped being refreshed.
	MaxExtractAge int
}

// DefaultGate is the gate of a config that sets none.
var DefaultGate = Gate{MinRegisteredAdults: 1, MaxAdultsChange: 0.10, MaxOpioidChange: 0.5, MinOpioidChange: 10, MaxUnreadable: 0.05, MaxExtractAge: 7}

// Quality is what the practice database says about its own state as of a
// month end.
type Quality struct {
	// Issues counts medication issues; UnreadableIssues those whose date
	// or quantity could not be read.
	Issues, UnreadableIssues int64
	// Newest is the date of the newest medication issue on or before the
	// month end (zero when there is none).
	Newest time.Time
}

// Measures the gate reads from a document.
const (
	measureAdults = "registered_adults"
	measureOpioid = "long_term"
)

// gate returns why doc may not be queued, or "".
func (a *Agent) gate(ctx context.Context, doc *results.Document, asOf time.Time) string {
	g := a.o.Gate
	adults, hasAdults := figure(doc, measureAdults)
	if g.MinRegisteredAdults > 0 && hasAdults && adults < float64(g.MinRegisteredAdults) {
		return fmt.Sprintf("held: %.0f registered adults (fewer than %d): the registrations table looks empty or half refreshed", adults, g.MinRegisteredAdults)
	}
	if a.o.Quality != nil && (g.MaxUnreadable > 0 || g.MaxExtractAge > 0) {
		q, err := a.o.Quality(ctx, asOf)
		switch {
		case err != nil:
			return "held: the data-quality check could not run: " + ErrorClass(err)
		case g.MaxExtractAge > 0 && (q.Newest.IsZero() || q.Newest.Before(asOf.AddDate(0, 0, -g.MaxExtractAge))):
			newest := "it has no medication issue up to then"
			if !q.Newest.IsZero() {
				newest = "its newest medication issue is of " + q.Newest.Format(time.DateOnly)
			}
			return fmt.Sprintf("held: the extract ends before the month does (%s; month end %s, %d days allowed): wait for the next refresh of the reporting database",
				newest, asOf.Format(time.DateOnly), g.MaxExtractAge)
		case g.MaxUnreadable > 0 && q.Issues > 0 && float64(q.UnreadableIssues)/float64(q.Issues) > g.MaxUnreadable:
			return fmt.Sprintf("held: %d of %d medication issues (%.1f%%) have an unreadable date or quantity, more than the %.0f%% allowed",
				q.UnreadableIssues, q.Issues, 100*float64(q.UnreadableIssues)/float64(q.Issues), 100*g.MaxUnreadable)
		}
	}
	prev := a.previous(asOf)
	if prev == nil {
		return ""
	}
	if p, ok := figure(prev, measureAdults); ok && hasAdults && g.MaxAdultsChange > 0 && p > 0 {
		if ch := (adults - p) / p; math.Abs(ch) > g.MaxAdultsChange {
			return fmt.Sprintf("held: registered adults %s from %.0f to %.0f (%+.1f%%) since %s, more than the %.0f%% allowed", rose(ch), p, adults, 100*ch, prev.AsOf, 100*g.MaxAdultsChange)
		}
	}
	if n, ok := figure(doc, measureOpioid); ok && g.MaxOpioidChange > 0 {
		if p, ok := figure(prev, measureOpioid); ok && p > 0 && math.Abs(n-p) >= float64(g.MinOpioidChange) {
			if ch := (n - p) / p; math.Abs(ch) > g.MaxOpioidChange {
				return fmt.Sprintf("held: long-term opioid users %s from %.0f to %.0f (%+.1f%%) since %s, more than the %.0f%% allowed", rose(ch), p, n, 100*ch, prev.AsOf, 100*g.MaxOpioidChange)
			}
		}
	}
	return ""
}

func rose(ch float64) string {
	if ch < 0 {
		return "fell"
	}
	return "rose"
}

// figure is a measure's unsuppressed value.
func figure(doc *results.Document, id string) (float64, bool) {
	m := doc.Find(id)
	if m == nil || m.Value == nil || m.Suppressed {
		return 0, false
	}
	return *m.Value, true
}

// previous is the latest document queued or sent for the month before
// asOf, or nil.
func (a *Agent) previous(asOf time.Time) *results.Document {
	prevEnd := time.Date(asOf.Year(), asOf.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	it, _, err := a.box.Latest(a.o.Pack, prevEnd.Format(time.DateOnly))
	if err != nil || it == nil {
		return nil
	}
	var doc results.Document
	if err := json.Unmarshal(it.Body, &doc); err != nil {
		return nil
	}
	return &doc
}
