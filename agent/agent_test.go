package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/reporting/collector/server/servertest"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/wire"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func dates(ts []time.Time) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Format(time.DateOnly))
	}
	return strings.Join(s, " ")
}

func TestDue(t *testing.T) {
	cases := []struct {
		now  string
		s    Schedule
		want string
	}{
		{"2025-04-05", Schedule{DayOfMonth: 5}, "2025-03-31"},
		{"2025-04-04", Schedule{DayOfMonth: 5}, "2025-02-28"},
		{"2025-04-05", Schedule{DayOfMonth: 5, CatchUpMonths: 3}, "2024-12-31 2025-01-31 2025-02-28 2025-03-31"},
		{"2025-04-05", Schedule{DayOfMonth: 5, CatchUpMonths: 3, FirstAsOf: day("2025-02-28")}, "2025-02-28 2025-03-31"},
		{"2025-01-10", Schedule{DayOfMonth: 1, CatchUpMonths: 1}, "2024-11-30 2024-12-31"},
		{"2024-03-28", Schedule{DayOfMonth: 28}, "2024-02-29"},
		{"2025-04-05", Schedule{DayOfMonth: 5, Hour: 2}, "2025-02-28"},
	}
	for _, c := range cases {
		if got := dates(Due(c.s, day(c.now))); got != c.want {
			t.Errorf("Due(%+v, %s) = %s, want %s", c.s, c.now, got, c.want)
		}
	}
}

type fakeRunner struct {
	mu   sync.Mutex
	runs []string
	fail error
	// failAt fails the runs as of this date (YYYY-MM-DD) only.
	failAt string
	calls  int
	// medsip makes documents of the built-in pack that a real collector
	// accepts (it holds each submission to its pack version).
	medsip bool
}

func (f *fakeRunner) Run(_ context.Context, asOf, _ time.Time) (*results.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	if f.failAt != "" && asOf.Format(time.DateOnly) == f.failAt {
		return nil, errors.New("database unavailable")
	}
	f.runs = append(f.runs, asOf.Format(time.DateOnly))
	if f.medsip {
		d := servertest.MedsipDocument("Y01234", asOf.Format(time.DateOnly), servertest.Figures{Eligible: 900, LongTerm: 4, HighDose: 1, Reviewed: 2, OMEmg: 5000})
		return &d, nil
	}
	return &results.Document{Schema: results.Schema, Practice: "Y01234", Pack: results.PackRef{ID: "medsip", Version: "1"},
		AsOf: asOf.Format(time.DateOnly), Measures: []results.Measure{{ID: "long_term", Kind: "count", Value: results.F(4)}},
		Runs: []results.SearchRun{
			{Search: "long_term", DurationMS: 12.5, Rows: 40, Status: "ok"},
			{Search: "high_dose", DurationMS: 3, Rows: 0, Status: "no_data"},
		}}, nil
}

type fakeSender struct {
	mu     sync.Mutex
	down   bool
	reject map[string]bool
	got    []string // as_of of each accepted submission, in order
	ids    map[string]bool
	beats  int
	last   wire.Heartbeat
}

func (f *fakeSender) Submit(_ context.Context, id string, body []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("connection refused")
	}
	doc, err := results.Decode(strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	if f.reject[doc.AsOf] {
		return nil, &upload.Error{Status: 422, Problem: wire.Problem{Title: "invalid"}}
	}
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	if !f.ids[id] {
		f.ids[id] = true
		f.got = append(f.got, doc.AsOf)
	}
	sum := sha256.Sum256(body)
	return json.Marshal(wire.Ack{SubmissionID: id, Practice: doc.Practice, Pack: doc.Pack.ID, AsOf: doc.AsOf, BodySHA256: hex.EncodeToString(sum[:]), State: wire.StateCurrent})
}

func (f *fakeSender) Heartbeat(_ context.Context, hb wire.Heartbeat) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("connection refused")
	}
	f.beats++
	f.last = hb
	return nil
}

func newAgent(t *testing.T, dir string, r Runner, s Sender, now *time.Time) *Agent {
	t.Helper()
	a, err := New(Options{
		Practice: "Y01234", Pack: "medsip", DataDir: dir,
		Schedule: Schedule{DayOfMonth: 5, CatchUpMonths: 2},
		Runner:   r, Sender: s,
		Protect: func(*results.Document) error { return nil },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:     func() time.Time { return *now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCycleCatchesUpAndDeliversInOrderAfterAnOutage(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{down: true}
	a := newAgent(t, dir, r, s, &now)
	// A day of simulated time with the collector down: hourly cycles.
	for h := 0; h < 24; h++ {
		if _, err := a.Cycle(context.Background(), time.Time{}); err == nil {
			t.Fatal("cycle with the collector down reported no error")
		}
		now = now.Add(time.Hour)
	}
	if got, want := strings.Join(r.runs, " "), "2025-01-31 2025-02-28 2025-03-31"; got != want {
		t.Fatalf("computed %q, want each due month once: %q", got, want)
	}
	p, _ := a.Outbox().Pending()
	if len(p) != 3 {
		t.Fatalf("pending = %d, want 3", len(p))
	}
	s.down = false
	rep, err := a.Cycle(context.Background(), time.Time{})
	if err != nil {
		t.Fatalf("cycle after recovery: %v", err)
	}
	if got, want := strings.Join(s.got, " "), "2025-01-31 2025-02-28 2025-03-31"; got != want {
		t.Fatalf("delivered %q, want %q in order", got, want)
	}
	if rep.Pending != 0 || len(r.runs) != 3 {
		t.Fatalf("pending %d, runs %d after recovery", rep.Pending, len(r.runs))
	}
	// A restarted agent finds nothing to do.
	a2 := newAgent(t, dir, r, s, &now)
	if _, err := a2.Cycle(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(r.runs) != 3 || len(s.got) != 3 {
		t.Fatalf("after restart: runs %d, delivered %d; want 3 and 3", len(r.runs), len(s.got))
	}
	st, _ := (&StateFile{Path: dir + "/state.json"}).Load()
	if st.LastDelivery == "" || st.Pending != 0 || st.LastError != "" {
		t.Errorf("state = %+v", st)
	}
}

func TestDatabaseDownIsRetriedNextCycle(t *testing.T) {
	now := day("2025-04-06")
	r, s := &fakeRunner{fail: errors.New("dial tcp: connection refused")}, &fakeSender{}
	a := newAgent(t, t.TempDir(), r, s, &now)
	if _, err := a.Cycle(context.Background(), time.Time{}); err == nil {
		t.Fatal("want an error while the database is down")
	}
	if r.calls != 1 {
		t.Errorf("runner called %d times in a failing cycle, want 1 (stop at the first failure)", r.calls)
	}
	r.fail = nil
	if _, err := a.Cycle(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 3 {
		t.Fatalf("delivered %v after the database came back, want 3 months", s.got)
	}
}

func TestRejectedSubmissionDoesNotBlockTheQueue(t *testing.T) {
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{reject: map[string]bool{"2025-02-28": true}}
	a := newAgent(t, t.TempDir(), r, s, &now)
	rep, err := a.Cycle(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rejected) != 1 || strings.Join(s.got, " ") != "2025-01-31 2025-03-31" {
		t.Fatalf("rejected %v, delivered %v", rep.Rejected, s.got)
	}
}

func TestProtectIsEnforced(t *testing.T) {
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{}
	a := newAgent(t, t.TempDir(), r, s, &now)
	a.o.Protect = func(*results.Document) error { return errors.New("cell 3 not suppressed") }
	if _, err := a.Cycle(context.Background(), time.Time{}); err == nil || !strings.Contains(err.Error(), "not disclosure controlled") {
		t.Fatalf("err = %v", err)
	}
	if len(s.got) != 0 {
		t.Fatalf("an unprotected document was sent: %v", s.got)
	}
	if p, _ := a.Outbox().Pending(); len(p) != 0 {
		t.Fatalf("an unprotected document was queued")
	}
}

func TestLoopRunsDaysOfSimulatedTime(t *testing.T) {
	now := day("2025-03-20")
	r, s := &fakeRunner{}, &fakeSender{down: true}
	a := newAgent(t, t.TempDir(), r, s, &now)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticks := 0
	err := a.Loop(ctx, LoopOptions{Tick: time.Hour, Heartbeat: 6 * time.Hour,
		Sleep: func(ctx context.Context, d time.Duration) error {
			ticks++
			now = now.Add(d)
			if now.After(day("2025-04-06")) {
				s.mu.Lock()
				s.down = false // the collector comes back after a day of outage
				s.mu.Unlock()
			}
			if now.After(day("2025-05-07")) {
				return context.Canceled
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	// 2025-03-20 start: Feb due and Dec, Jan caught up (catch-up 2); Mar due
	// on Apr 5 but the collector is down until Apr 6; Apr due on May 5.
	all := "2024-12-31 2025-01-31 2025-02-28 2025-03-31 2025-04-30"
	if got, want := strings.Join(s.got, " "), all; got != want {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if got, want := strings.Join(r.runs, " "), all; got != want {
		t.Fatalf("computed %q, want each month once: %q", got, want)
	}
	// Heartbeats every 6 hours while the collector was up (about 31 days).
	if s.beats < 4*30 || s.beats > 4*32 {
		t.Errorf("heartbeats = %d over ~31 days at 6h, want about 124", s.beats)
	}
}

// listingRunner is a fakeRunner that names its searches, as the real
// runner does from the pack.
type listingRunner struct{ *fakeRunner }

func (listingRunner) Searches() ([]string, error) {
	return []string{"long_term", "high_dose", "gabapentinoid"}, nil
}

func statusLine(ss []wire.RunStatus) string {
	var out []string
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%s:%s:%g:%d", s.Search, s.Status, s.DurationMS, s.Rows))
	}
	return strings.Join(out, " ")
}

func TestHeartbeatCarriesTheSearchStatusesOfTheLatestRun(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{}
	a := newAgent(t, dir, listingRunner{r}, s, &now)
	if err := a.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.last.Searches) != 0 {
		t.Fatalf("heartbeat before any run has statuses %v", s.last.Searches)
	}
	if _, err := a.Cycle(context.Background(), day("2025-03-31")); err != nil {
		t.Fatal(err)
	}
	if err := a.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := statusLine(s.last.Searches), "long_term:ok:12.5:40 high_dose:no_data:3:0"; got != want {
		t.Fatalf("heartbeat searches = %s, want %s", got, want)
	}
	if at := s.last.Searches[0].At; at != "2025-04-06T00:00:00Z" {
		t.Errorf("at = %q, want the time of the run", at)
	}

	// The statuses survive a restart: a new agent on the same data
	// directory sends them before it has run anything.
	now = now.Add(time.Hour)
	s2 := &fakeSender{}
	a2 := newAgent(t, dir, listingRunner{r}, s2, &now)
	if err := a2.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := statusLine(s2.last.Searches), "long_term:ok:12.5:40 high_dose:no_data:3:0"; got != want {
		t.Fatalf("after a restart heartbeat searches = %s, want %s", got, want)
	}

	// A month that is already queued or sent is not run again: the
	// statuses stay those of the latest run.
	if _, err := a2.Cycle(context.Background(), day("2025-03-31")); err != nil {
		t.Fatal(err)
	}
	if err := a2.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s2.last.Searches[0].At; got != "2025-04-06T00:00:00Z" {
		t.Errorf("a cycle that ran nothing changed the statuses: at = %s", got)
	}
}

func TestFailedRunMarksEverySearchFailedWithAFixedReason(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	// The database's own message may quote a value from a row: it must
	// not reach the statuses.
	dbErr := Classify("search failed", errors.New(`invalid input syntax for type date: "1961-07-14 patient 4471"`))
	r, s := &fakeRunner{fail: dbErr}, &fakeSender{}
	a := newAgent(t, dir, listingRunner{r}, s, &now)
	if _, err := a.Cycle(context.Background(), day("2025-03-31")); err == nil {
		t.Fatal("cycle with a failing run reported no error")
	}
	if err := a.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := statusLine(s.last.Searches), "long_term:failed:0:0 high_dose:failed:0:0 gabapentinoid:failed:0:0"; got != want {
		t.Fatalf("heartbeat searches = %s, want %s", got, want)
	}
	st, err := (&StateFile{Path: filepath.Join(dir, "state.json")}).Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, ss := range st.Searches {
		if ss.Error != "search failed" || ss.AsOf != "2025-03-31" || ss.Pack != "medsip" {
			t.Errorf("state status = %+v, want error class, as-of date and pack", ss)
		}
	}
	b, _ := json.Marshal(s.last)
	if strings.Contains(string(b), "1961") || strings.Contains(string(b), "4471") {
		t.Errorf("heartbeat holds a value from the database message: %s", b)
	}

	// The database comes back: the next run replaces the failures.
	r.fail = nil
	now = now.Add(time.Hour)
	if _, err := a.Cycle(context.Background(), day("2025-03-31")); err != nil {
		t.Fatal(err)
	}
	if err := a.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := statusLine(s.last.Searches), "long_term:ok:12.5:40 high_dose:no_data:3:0"; got != want {
		t.Fatalf("after recovery heartbeat searches = %s, want %s", got, want)
	}
}

func TestFailedRunWithoutAListNamesThePreviousSearches(t *testing.T) {
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{}
	a := newAgent(t, t.TempDir(), r, s, &now)
	if _, err := a.Cycle(context.Background(), day("2025-02-28")); err != nil {
		t.Fatal(err)
	}
	r.fail = errors.New("boom")
	_, _ = a.Cycle(context.Background(), day("2025-03-31"))
	if err := a.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := statusLine(s.last.Searches), "long_term:failed:0:0 high_dose:failed:0:0"; got != want {
		t.Fatalf("heartbeat searches = %s, want %s", got, want)
	}

	// With nothing known at all, the pack itself is reported failed.
	s2 := &fakeSender{}
	a2 := newAgent(t, t.TempDir(), &fakeRunner{fail: errors.New("boom")}, s2, &now)
	_, _ = a2.Cycle(context.Background(), day("2025-03-31"))
	_ = a2.Heartbeat(context.Background())
	if got, want := statusLine(s2.last.Searches), "medsip:failed:0:0"; got != want {
		t.Fatalf("heartbeat searches = %s, want %s", got, want)
	}
}

func TestProtectFailureMarksTheSearchesFailed(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{}
	a := newAgent(t, dir, r, s, &now)
	a.o.Protect = func(*results.Document) error { return errors.New("cell 3 not suppressed") }
	_, _ = a.Cycle(context.Background(), day("2025-03-31"))
	st, _ := (&StateFile{Path: filepath.Join(dir, "state.json")}).Load()
	if len(st.Searches) != 2 {
		t.Fatalf("statuses = %+v", st.Searches)
	}
	for _, ss := range st.Searches {
		if ss.Status != StatusFailed || ss.Error != "not disclosure controlled" {
			t.Errorf("status = %+v, want failed: not disclosure controlled", ss)
		}
	}
}

func TestErrorClass(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("anything"), "run failed"},
		{fmt.Errorf("run: %w", context.DeadlineExceeded), "timed out"},
		{fmt.Errorf("run: %w", context.Canceled), "interrupted"},
		{fmt.Errorf("search x: %w", refused), "database unreachable"},
		{Classify("search failed", fmt.Errorf("wrapped: %w", refused)), "database unreachable"},
		{fmt.Errorf("run: %w", Classify("database could not be opened", errors.New("x"))), "database could not be opened"},
	}
	for _, c := range cases {
		if got := ErrorClass(c.err); got != c.want {
			t.Errorf("ErrorClass(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// TestHistoryBackfillsMonthsOnce: History computes the months ending at the
// latest due month, each once, and a later cycle or history sends none again.
func TestHistoryBackfillsMonthsOnce(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	r, s := &fakeRunner{}, &fakeSender{}
	a := newAgent(t, dir, r, s, &now)
	if _, err := a.Cycle(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	rep, err := a.History(context.Background(), 6)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rep.Computed, " "), "2024-10-31 2024-11-30 2024-12-31"; got != want {
		t.Fatalf("history computed %q, want the months not yet sent: %q", got, want)
	}
	if got, want := strings.Join(s.got, " "), "2025-01-31 2025-02-28 2025-03-31 2024-10-31 2024-11-30 2024-12-31"; got != want {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	rep, err = a.History(context.Background(), 6)
	if err != nil || len(rep.Computed) != 0 || len(s.got) != 6 {
		t.Fatalf("second history: computed %v, delivered %d, err %v; want nothing new", rep.Computed, len(s.got), err)
	}
	if _, err := a.History(context.Background(), 61); err == nil {
		t.Fatal("a history of 61 months was accepted")
	}
}

// TestHistoryInterruptedResumes: a backfill whose database fails part way
// (here at the third month) stops there, having queued and delivered what it
// computed; the next history computes only what is missing, and every month
// reaches the collector once.
func TestHistoryInterruptedResumes(t *testing.T) {
	dir := t.TempDir()
	now := day("2025-04-06")
	r, s := &fakeRunner{failAt: "2024-12-31"}, &fakeSender{}
	a := newAgent(t, dir, r, s, &now)
	rep, err := a.History(context.Background(), 6)
	if err == nil || !strings.Contains(err.Error(), "database unavailable") || strings.Join(rep.Computed, " ") != "2024-10-31 2024-11-30" {
		t.Fatalf("interrupted history: computed %v, error %v; want the two months before the failure, and the failure", rep.Computed, err)
	}
	r.mu.Lock()
	r.failAt = ""
	r.mu.Unlock()
	rep, err = a.History(context.Background(), 6)
	if err != nil || len(rep.Errors) != 0 {
		t.Fatalf("resumed history: %v %v", err, rep.Errors)
	}
	if got, want := strings.Join(rep.Computed, " "), "2024-12-31 2025-01-31 2025-02-28 2025-03-31"; got != want {
		t.Fatalf("resumed history computed %q, want %q", got, want)
	}
	seen := map[string]int{}
	for _, m := range s.got {
		seen[m]++
	}
	for _, m := range []string{"2024-10-31", "2024-11-30", "2024-12-31", "2025-01-31", "2025-02-28", "2025-03-31"} {
		if seen[m] != 1 {
			t.Errorf("%s delivered %d times, want once (delivered: %v)", m, seen[m], s.got)
		}
	}
}
