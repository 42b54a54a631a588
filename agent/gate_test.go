package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
)

// figuresRunner returns, for each month, the registered adults and
// long-term users the test sets.
type figuresRunner struct {
	mu               sync.Mutex
	adults, longTerm map[string]float64
}

func (f *figuresRunner) Run(_ context.Context, asOf, _ time.Time) (*results.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := asOf.Format(time.DateOnly)
	return &results.Document{Schema: results.Schema, Practice: "Y01234", Pack: results.PackRef{ID: "medsip", Version: "1"}, AsOf: d,
		Measures: []results.Measure{
			{ID: "registered_adults", Kind: "count", Value: results.F(f.adults[d])},
			{ID: "long_term", Kind: "count", Value: results.F(f.longTerm[d])},
		}}, nil
}

func gateAgent(t *testing.T, dir string, r Runner, s Sender, now *time.Time, q func(context.Context, time.Time) (*Quality, error)) *Agent {
	t.Helper()
	a := newAgent(t, dir, r, s, now)
	a.o.Gate, a.o.Quality = DefaultGate, q
	return a
}

// TestGateHoldsJumpsUntilReleased: a month whose registered adults or
// long-term users jump against the month before is held, with the reason
// in the report and the state; fixed data go at the next cycle; a real
// change goes once the practice manager releases it.
func TestGateHoldsJumpsUntilReleased(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	r := &figuresRunner{
		adults:   map[string]float64{"2025-01-31": 1000, "2025-02-28": 1010, "2025-03-31": 700},
		longTerm: map[string]float64{"2025-01-31": 40, "2025-02-28": 42, "2025-03-31": 41},
	}
	s := &fakeSender{}
	a := gateAgent(t, dir, r, s, &now, nil)
	ctx := context.Background()
	for _, m := range []string{"2025-01-31", "2025-02-28"} {
		if _, err := a.Cycle(ctx, day(m)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := a.Cycle(ctx, day("2025-03-31"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Held) != 1 || !strings.Contains(rep.Held[0].Reason, "registered adults fell from 1010 to 700") {
		t.Fatalf("held = %+v, want March held for the fall in registered adults", rep.Held)
	}
	if st, _ := a.state.Load(); len(st.Held) != 1 || st.Held[0].AsOf != "2025-03-31" {
		t.Fatalf("state held = %+v", st.Held)
	}
	if got := strings.Join(s.got, " "); got != "2025-01-31 2025-02-28" {
		t.Fatalf("delivered %q: a held month was sent", got)
	}

	// Long-term users jump too (the adults are fixed): held for that.
	r.mu.Lock()
	r.adults["2025-03-31"], r.longTerm["2025-03-31"] = 1005, 90
	r.mu.Unlock()
	rep, _ = a.Cycle(ctx, day("2025-03-31"))
	if len(rep.Held) != 1 || !strings.Contains(rep.Held[0].Reason, "long-term opioid users rose from 42 to 90") {
		t.Fatalf("held = %+v, want March held for the rise in long-term users", rep.Held)
	}
	// The change is real: the practice manager releases it.
	if err := a.Release(ctx, day("2025-03-31"), "pm"); err != nil {
		t.Fatal(err)
	}
	rep, err = a.Cycle(ctx, day("2025-03-31"))
	if err != nil || len(rep.Held) != 0 || len(rep.Computed) != 1 {
		t.Fatalf("after release: %+v, %v", rep, err)
	}
	if got := strings.Join(s.got, " "); got != "2025-01-31 2025-02-28 2025-03-31" {
		t.Fatalf("delivered %q after the release", got)
	}
	if st, _ := a.state.Load(); len(st.Held) != 0 || len(st.Released) != 0 {
		t.Fatalf("state after the release: held %+v, released %+v", st.Held, st.Released)
	}
}

// TestGateHoldsUnreadableAndStaleExtracts: the database's own figures hold
// a month with too many unreadable issues or an extract that ends early;
// a failing data-quality query holds it too, in fixed words.
func TestGateHoldsUnreadableAndStaleExtracts(t *testing.T) {
	now := day("2025-04-06")
	r := &figuresRunner{adults: map[string]float64{"2025-03-31": 1000}, longTerm: map[string]float64{"2025-03-31": 40}}
	for _, c := range []struct {
		name string
		q    Quality
		err  error
		want string
	}{
		{"unreadable", Quality{Issues: 1000, UnreadableIssues: 80, Newest: day("2025-03-30")}, nil, "80 of 1000 medication issues (8.0%) have an unreadable date or quantity"},
		{"stale", Quality{Issues: 1000, Newest: day("2025-03-10")}, nil, "its newest medication issue is of 2025-03-10"},
		{"empty", Quality{}, nil, "it has no medication issue up to then"},
		{"query fails", Quality{}, context.DeadlineExceeded, "the data-quality check could not run: timed out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &fakeSender{}
			a := gateAgent(t, t.TempDir(), r, s, &now, func(context.Context, time.Time) (*Quality, error) {
				if c.err != nil {
					return nil, c.err
				}
				q := c.q
				return &q, nil
			})
			rep, err := a.Cycle(context.Background(), day("2025-03-31"))
			if err != nil || len(rep.Held) != 1 || !strings.Contains(rep.Held[0].Reason, c.want) || len(s.got) != 0 {
				t.Fatalf("report %+v (%v), sent %v; want March held: %q", rep.Held, err, s.got, c.want)
			}
		})
	}
	// A clean extract goes.
	s := &fakeSender{}
	a := gateAgent(t, t.TempDir(), r, s, &now, func(context.Context, time.Time) (*Quality, error) {
		return &Quality{Issues: 1000, UnreadableIssues: 10, Newest: day("2025-03-31")}, nil
	})
	if rep, err := a.Cycle(context.Background(), day("2025-03-31")); err != nil || len(rep.Held) != 0 || len(s.got) != 1 {
		t.Fatalf("clean extract: %+v, %v, sent %v", rep, err, s.got)
	}
}

// TestProblemsNameTheFix: an unreadable outbox file and a damaged state
// file are reported by Problems (what status, check and the heartbeat
// show) with what to do, and the heartbeat counts the unreadable item as
// pending.
func TestProblemsNameTheFix(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	s := &fakeSender{}
	a := newAgent(t, dir, &fakeRunner{}, s, &now)
	if len(a.Problems()) != 0 {
		t.Fatalf("a new agent has problems: %v", a.Problems())
	}
	half := filepath.Join(dir, "outbox", "2025-03-31_medsip_20250406T000000.000000000_x.json")
	if err := os.WriteFile(half, []byte(`{"id":"x","as_of":"2025-03-31","bo`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(a.Problems(), "\n")
	for _, want := range []string{"2025-03-31_medsip_20250406T000000.000000000_x.json is unreadable", "holds back every later month",
		"Move it out of", "state file", "delete it; the next cycle writes a new one"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
	if err := a.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.last.Pending != 1 || len(s.last.Problems) != 2 {
		t.Fatalf("heartbeat: pending %d, problems %v; want the unreadable item counted and both problems", s.last.Pending, s.last.Problems)
	}
}
