// Package agent is the practice runtime: it decides which month ends are
// due, runs the pack for each, checks that the document is disclosure
// controlled, queues it durably, delivers the queue in order, and tells the
// collector it is alive. Each step is safe to interrupt at any point: the
// outbox makes delivery exactly-once, and a month is computed only while it
// is neither queued nor sent.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nhs-steward/steward/agent/outbox"
	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/internal/fsutil"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/wire"
)

// Runner computes the disclosure-controlled results document of the
// current pack as of a month end.
type Runner interface {
	Run(ctx context.Context, asOf, baseline time.Time) (*results.Document, error)
}

// SearchLister is implemented by a Runner that can name its pack's searches
// without the database, so that a run that fails before any search has
// finished still reports every search as failed.
type SearchLister interface {
	Searches() ([]string, error)
}

// Sender delivers to the collector.
type Sender interface {
	Submit(ctx context.Context, id string, body []byte) ([]byte, error)
	Heartbeat(ctx context.Context, hb wire.Heartbeat) error
}

var _ Sender = (*upload.Client)(nil)

// Options configure an Agent.
type Options struct {
	Practice string
	Pack     string // pack id, for outbox names and Has checks
	DataDir  string
	Baseline time.Time
	Schedule Schedule
	Runner   Runner
	Sender   Sender
	// Protect checks a document is disclosure controlled before it is
	// queued (disclosure.Protected). Required: an agent never queues an
	// unchecked document.
	Protect func(*results.Document) error
	// BundleVersion names the running bundle, for heartbeats and status.
	BundleVersion func() (version, staleSince string)
	Logger        *slog.Logger
	Now           func() time.Time
	// Checkpoint, when set, is called at each step of a cycle where a
	// crash must lose nothing (crash-injection tests kill the process
	// there).
	Checkpoint func(step string)
}

// Schedule says which month ends are due.
type Schedule struct {
	DayOfMonth int
	// Hour and Minute are the time of day (in the clock's location) on
	// DayOfMonth from which the month just ended is due.
	Hour, Minute  int
	CatchUpMonths int
	FirstAsOf     time.Time
}

// Agent runs cycles.
type Agent struct {
	o     Options
	box   *outbox.Outbox
	state *StateFile
}

// New opens the agent's data directory.
func New(o Options) (*Agent, error) {
	if o.Runner == nil || o.Sender == nil || o.Protect == nil {
		return nil, errors.New("agent: runner, sender and disclosure check are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Checkpoint == nil {
		o.Checkpoint = func(string) {}
	}
	if o.BundleVersion == nil {
		o.BundleVersion = func() (string, string) { return "", "" }
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// What an older agent or an administrator's umask left readable by
	// others is narrowed: the data directory to 0750 (the service's group
	// may list it), what is in it to 0700 and 0600; on Windows an access
	// list for the service account, SYSTEM and Administrators.
	if err := narrowDataDir(o.DataDir); err != nil {
		o.Logger.Warn("could not narrow the permissions of the agent's data directory; run the agent as the account that owns it, or fix its owner",
			"data_dir", o.DataDir, "error", err)
	}
	box, err := outbox.Open(o.DataDir)
	if err != nil {
		return nil, err
	}
	if n, err := box.Reconcile(); err != nil {
		return nil, err
	} else if n > 0 {
		o.Logger.Info("outbox: removed items already acknowledged before a restart", "count", n)
	}
	return &Agent{o: o, box: box, state: &StateFile{Path: filepath.Join(o.DataDir, "state.json")}}, nil
}

// narrowDataDir restricts the data directory and everything in it.
func narrowDataDir(dir string) error {
	if err := fsutil.RestrictDir(dir, 0o750); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			errs = append(errs, fsutil.RestrictTree(p))
		case e.Type().IsRegular():
			errs = append(errs, fsutil.RestrictFile(p))
		}
	}
	return errors.Join(errs...)
}

// Outbox returns the agent's outbox.
func (a *Agent) Outbox() *outbox.Outbox { return a.box }

// Due returns the month ends that should have been delivered by now, oldest
// first: the month just ended once its run day has come, and earlier months
// back to the catch-up limit and never before FirstAsOf.
func Due(s Schedule, now time.Time) []time.Time {
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	latest := monthStart.AddDate(0, 0, -1) // end of last month
	runAt := time.Date(now.Year(), now.Month(), s.DayOfMonth, s.Hour, s.Minute, 0, 0, now.Location())
	if now.Before(runAt) {
		latest = monthStart.AddDate(0, -1, -1)
	}
	var out []time.Time
	for i := s.CatchUpMonths; i >= 0; i-- {
		firstOfNext := time.Date(latest.Year(), latest.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		end := firstOfNext.AddDate(0, -i, -1)
		if !s.FirstAsOf.IsZero() && end.Before(s.FirstAsOf) {
			continue
		}
		out = append(out, end)
	}
	return out
}

// CycleReport says what a cycle did.
type CycleReport struct {
	Computed  []string // as-of dates computed and queued
	Delivered []string // submission ids acknowledged
	Rejected  []string // submission ids the collector refused for good
	Pending   int
	Errors    []error
}

// Cycle computes every due month not yet queued or sent, then delivers the
// queue. asOf, when not zero, computes just that month (if not already
// queued or sent).
func (a *Agent) Cycle(ctx context.Context, asOf time.Time) (*CycleReport, error) {
	rep := &CycleReport{}
	st, _ := a.state.Load()
	now := a.o.Now()
	st.LastRun = now.UTC().Format(time.RFC3339)
	due := []time.Time{asOf}
	if asOf.IsZero() {
		due = Due(a.o.Schedule, now)
	}
	for _, d := range due {
		if err := a.compute(ctx, d, rep, st); err != nil {
			// A database that is down is retried at the next schedule;
			// nothing for this month was queued.
			rep.Errors = append(rep.Errors, err)
			st.LastError = err.Error()
			a.o.Logger.Error("run failed; it will be retried at the next schedule", "as_of", d.Format(time.DateOnly), "error", err)
			break
		}
	}
	if err := a.Flush(ctx, rep); err != nil {
		rep.Errors = append(rep.Errors, err)
		st.LastError = err.Error()
	}
	if len(rep.Delivered) > 0 {
		st.LastDelivery = a.o.Now().UTC().Format(time.RFC3339)
	}
	pending, _ := a.box.Pending()
	rep.Pending = len(pending)
	st.Pending = len(pending)
	if len(rep.Errors) == 0 {
		st.LastError = ""
		st.LastSuccess = st.LastRun
	}
	if err := a.state.Save(st); err != nil {
		return rep, err
	}
	return rep, errors.Join(rep.Errors...)
}

func (a *Agent) compute(ctx context.Context, asOf time.Time, rep *CycleReport, st *State) error {
	day := asOf.Format(time.DateOnly)
	if has, err := a.box.Has(a.o.Pack, day); err != nil || has {
		return err
	}
	start := time.Now()
	a.o.Checkpoint("before-run")
	doc, err := a.o.Runner.Run(ctx, asOf, a.o.Baseline)
	if err != nil {
		err = fmt.Errorf("run %s as of %s: %w", a.o.Pack, day, err)
		st.Searches = a.searchStatuses(st.Searches, day, doc, err)
		return err
	}
	if err := a.o.Protect(doc); err != nil {
		err = Classify("not disclosure controlled", fmt.Errorf("as of %s: refusing to queue a document that is not disclosure controlled: %w", day, err))
		st.Searches = a.searchStatuses(st.Searches, day, doc, err)
		return err
	}
	if doc.Practice != a.o.Practice {
		err := Classify("wrong practice", fmt.Errorf("as of %s: document is for practice %s, not %s", day, doc.Practice, a.o.Practice))
		st.Searches = a.searchStatuses(st.Searches, day, doc, err)
		return err
	}
	st.Searches = a.searchStatuses(st.Searches, day, doc, nil)
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	it := &outbox.Item{ID: outbox.NewID(), Practice: a.o.Practice, Pack: a.o.Pack, AsOf: day, Body: body, Created: a.o.Now().UTC()}
	a.o.Checkpoint("before-queue")
	if err := a.box.Add(it); err != nil {
		return err
	}
	a.o.Checkpoint("after-queue")
	rep.Computed = append(rep.Computed, day)
	a.o.Logger.Info("queued submission", "as_of", day, "submission", it.ID, "measures", len(doc.Measures), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// searchStatuses returns the status of each search after a run as of day:
// each search's own outcome from the document of a run that succeeded;
// failed, with the class of runErr, for every search of a run that did not
// produce a document that may be queued. The searches of a run that failed
// are named by the document when there is one, else by the Runner (a
// SearchLister), else by the previous statuses, else by the pack alone.
func (a *Agent) searchStatuses(prev []SearchStatus, day string, doc *results.Document, runErr error) []SearchStatus {
	at := a.o.Now().UTC().Format(time.RFC3339)
	var out []SearchStatus
	add := func(search, status string, ms float64, rows int64) {
		s := SearchStatus{RunStatus: wire.RunStatus{Search: search, Status: status, DurationMS: ms, Rows: rows, At: at},
			Pack: a.o.Pack, AsOf: day}
		if runErr != nil {
			s.Status, s.Error = StatusFailed, ErrorClass(runErr)
		}
		out = append(out, s)
	}
	if doc != nil && len(doc.Runs) > 0 {
		for _, r := range doc.Runs {
			status := r.Status
			switch status {
			case StatusOK, StatusNoData, StatusFailed:
			default:
				status = StatusFailed
			}
			add(r.Search, status, r.DurationMS, r.Rows)
		}
		return out
	}
	if runErr == nil {
		return nil // a document without run records: nothing to report per search
	}
	var names []string
	if l, ok := a.o.Runner.(SearchLister); ok {
		names, _ = l.Searches()
	}
	if len(names) == 0 {
		for _, p := range prev {
			names = append(names, p.Search)
		}
	}
	if len(names) == 0 {
		names = []string{a.o.Pack}
	}
	for _, n := range names {
		add(n, StatusFailed, 0, 0)
	}
	return out
}

// Flush delivers pending items oldest first. It stops at the first
// temporary failure, so months always arrive in order; a document the
// collector refuses as invalid is moved to rejected/ with the answer, and
// delivery goes on.
func (a *Agent) Flush(ctx context.Context, rep *CycleReport) error {
	pending, err := a.box.Pending()
	if err != nil {
		return err
	}
	for _, it := range pending {
		a.o.Checkpoint("before-submit")
		ack, err := a.o.Sender.Submit(ctx, it.ID, it.Body)
		a.o.Checkpoint("after-submit")
		var ue *upload.Error
		switch {
		case err == nil:
			if err := a.box.MarkSent(it, ack, a.o.Now()); err != nil {
				return err
			}
			a.o.Checkpoint("after-mark-sent")
			rep.Delivered = append(rep.Delivered, it.ID)
			a.o.Logger.Info("delivered", "as_of", it.AsOf, "submission", it.ID)
		case errors.As(err, &ue) && ue.Permanent():
			if err := a.box.Reject(it, err.Error()); err != nil {
				return err
			}
			rep.Rejected = append(rep.Rejected, it.ID)
			a.o.Logger.Error("collector refused a submission; it is kept in rejected/ for your ICB to look at", "as_of", it.AsOf, "submission", it.ID, "error", err)
		default:
			a.o.Logger.Warn("delivery failed; will retry", "as_of", it.AsOf, "submission", it.ID, "error", err)
			return fmt.Errorf("deliver %s: %w", it.AsOf, err)
		}
	}
	return nil
}

// Heartbeat tells the collector the agent is alive.
func (a *Agent) Heartbeat(ctx context.Context) error {
	st, _ := a.state.Load()
	pending, _ := a.box.Pending()
	ver, stale := a.o.BundleVersion()
	hb := wire.Heartbeat{
		Practice: a.o.Practice, AgentVersion: buildinfo.String(),
		BundleVersion: ver, BundleStale: stale,
		LastRun: st.LastRun, LastDelivery: st.LastDelivery, Pending: len(pending),
		SentAt: a.o.Now().UTC().Format(time.RFC3339), Nonce: wire.NewNonce(),
	}
	for _, s := range st.Searches {
		hb.Searches = append(hb.Searches, s.RunStatus)
	}
	if err := a.o.Sender.Heartbeat(ctx, hb); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	st.LastHeartbeat = hb.SentAt
	return a.state.Save(st)
}

// State is what `steward-agent status` shows.
type State struct {
	LastRun       string `json:"last_run,omitempty"`
	LastSuccess   string `json:"last_success,omitempty"`
	LastDelivery  string `json:"last_delivery,omitempty"`
	LastHeartbeat string `json:"last_heartbeat,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	Pending       int    `json:"pending"`
	// Searches is the outcome of each search of the latest run.
	Searches []SearchStatus `json:"searches,omitempty"`
}

// Search statuses, as wire.RunStatus names them.
const (
	StatusOK     = "ok"
	StatusNoData = "no_data" // the search ran and found no patients
	StatusFailed = "failed"
)

// SearchStatus is the latest outcome of one search at this practice. The
// heartbeat carries its wire.RunStatus part; the pack, the as-of date and
// the error class stay in the state file for `steward-agent status`,
// because a heartbeat has no field for them.
type SearchStatus struct {
	wire.RunStatus
	Pack string `json:"pack,omitempty"`
	AsOf string `json:"as_of,omitempty"`
	// Error says why the run failed in fixed words (ErrorClass): never a
	// database message, which could quote a value from a row.
	Error string `json:"error,omitempty"`
}

// Failure is an error with a fixed description of its kind.
type Failure struct {
	Class string
	Err   error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// Classify gives err a fixed description, which ErrorClass reports and the
// state file keeps. class must be a constant text: never a message from the
// database or a value read from a row. A nil err stays nil.
func Classify(class string, err error) error {
	if err == nil {
		return nil
	}
	return &Failure{Class: class, Err: err}
}

// ErrorClass describes a failed run in fixed words, safe to keep and show:
// a timeout, a database that cannot be reached, the class a Runner gave
// with Classify, or "run failed".
func ErrorClass(err error) string {
	var ne net.Error
	var f *Failure
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &ne):
		return "database unreachable"
	case errors.As(err, &f):
		return f.Class
	}
	return "run failed"
}

// StateFile keeps State durably.
type StateFile struct{ Path string }

// Load reads the state; a missing file is an empty state.
func (f *StateFile) Load() (*State, error) {
	st := &State{}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return &State{}, fmt.Errorf("state file %s is corrupt: %w", f.Path, err)
	}
	return st, nil
}

// Save writes the state atomically.
func (f *StateFile) Save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return outbox.WriteFileAtomic(f.Path, b, fsutil.PrivateFile)
}
