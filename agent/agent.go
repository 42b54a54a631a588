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
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/nhs-steward/steward/agent/lock"
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
	// Bundle reports the search bundle's state for the heartbeat (nil:
	// none is sent).
	Bundle func() *wire.BundleReport
	Logger *slog.Logger
	Now    func() time.Time
	// Checkpoint, when set, is called at each step of a cycle where a
	// crash must lose nothing (crash-injection tests kill the process
	// there).
	Checkpoint func(step string)
	// Gate is the data-quality gate a month passes before it is queued.
	Gate Gate
	// ClockTolerance is how far the local clock may be from the
	// collector's (default 1 hour).
	ClockTolerance time.Duration
	// LockWait is how long a cycle waits for another process working on
	// the data directory before it gives way (default 10 s).
	LockWait time.Duration
	// Quality, when set, reads the data-quality figures of the practice
	// database as of a month end, for the gate.
	Quality func(ctx context.Context, asOf time.Time) (*Quality, error)
}

// ReceiptSource is a Sender that can list what the collector holds.
type ReceiptSource interface {
	Receipts(ctx context.Context) (*wire.Receipts, error)
}

// CollectorClock is a Sender that knows the collector's clock.
type CollectorClock interface {
	CollectorTime() (time.Time, bool)
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
	if o.ClockTolerance <= 0 {
		o.ClockTolerance = time.Hour
	}
	if o.LockWait <= 0 {
		o.LockWait = 10 * time.Second
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
	Restored  []string // as-of dates sent again to a collector that had lost them
	Held      []wire.HeldMonth
	Pending   int
	Errors    []error
	// Busy is set when another process was working on the data directory:
	// this cycle did nothing and is not a failure.
	Busy error
}

// Cycle computes every due month not yet queued or sent, then delivers the
// queue. asOf, when not zero, computes just that month (if not already
// queued or sent). Only one process works on a data directory at a time:
// when another holds it for longer than LockWait, Cycle does nothing and
// says so in rep.Busy.
func (a *Agent) Cycle(ctx context.Context, asOf time.Time) (*CycleReport, error) {
	return a.cycle(ctx, asOf, a.o.Schedule)
}

// History is a cycle that also computes the months ending at the latest due
// month, months of them in all (but none before the schedule's FirstAsOf),
// that are not yet queued or sent: a new practice's run chart then starts
// with its history. Each month is a results document of its own, queued,
// delivered and receipted like any other, so a month is still never sent
// twice and an interrupted backfill resumes where it stopped.
func (a *Agent) History(ctx context.Context, months int) (*CycleReport, error) {
	if months < 1 || months > MaxHistoryMonths {
		return &CycleReport{}, fmt.Errorf("history of %d months: want 1 to %d", months, MaxHistoryMonths)
	}
	s := a.o.Schedule
	s.CatchUpMonths = max(s.CatchUpMonths, months-1)
	return a.cycle(ctx, time.Time{}, s)
}

// MaxHistoryMonths is the longest history History computes: five years.
const MaxHistoryMonths = 60

func (a *Agent) cycle(ctx context.Context, asOf time.Time, sched Schedule) (*CycleReport, error) {
	rep := &CycleReport{}
	l, err := lock.Acquire(ctx, a.o.DataDir, a.o.LockWait)
	if errors.Is(err, lock.ErrBusy) {
		rep.Busy = err
		a.o.Logger.Info(err.Error() + "; this one leaves the work to it")
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	defer l.Release()
	st, serr := a.state.Load()
	if serr != nil {
		a.o.Logger.Warn("state file unreadable; starting a new one (what was sent is kept in the outbox)", "error", serr)
	}
	now := a.o.Now()
	st.LastRun = now.UTC().Format(time.RFC3339)
	// The collector is the record of what arrived: send again what it has
	// lost, and learn its clock.
	collectorHas, err := a.restore(ctx, rep, st)
	if err != nil {
		a.o.Logger.Warn("could not compare with the collector's receipts; will try at the next cycle", "error", err)
	}
	due := []time.Time{asOf}
	if asOf.IsZero() {
		due = Due(sched, now)
	}
	st.Held = nil
	for _, d := range due {
		day := d.Format(time.DateOnly)
		if collectorHas[day] && asOf.IsZero() {
			continue // the collector holds it though this agent's outbox does not (a reinstall): not sent twice
		}
		if reason := a.notEnded(d); reason != "" {
			a.hold(rep, st, day, reason)
			continue
		}
		if err := a.compute(ctx, d, rep, st); err != nil {
			// A database that is down is retried at the next schedule;
			// nothing for this month was queued.
			rep.Errors = append(rep.Errors, err)
			st.LastError = err.Error()
			a.o.Logger.Error("run failed; it will be retried at the next schedule", "as_of", day, "error", err)
			break
		}
	}
	if err := a.Flush(ctx, rep); err != nil {
		rep.Errors = append(rep.Errors, err)
		st.LastError = err.Error()
	}
	if len(rep.Delivered) > 0 || len(rep.Restored) > 0 {
		st.LastDelivery = a.o.Now().UTC().Format(time.RFC3339)
	}
	rep.Pending = a.box.PendingCount()
	st.Pending = rep.Pending
	if len(rep.Errors) == 0 {
		st.LastError = ""
		st.LastSuccess = st.LastRun
	}
	if err := a.state.Save(st); err != nil {
		return rep, err
	}
	return rep, errors.Join(rep.Errors...)
}

// hold records that a month is held back, and why.
func (a *Agent) hold(rep *CycleReport, st *State, day, reason string) {
	h := wire.HeldMonth{AsOf: day, Reason: reason, Since: a.o.Now().UTC().Format(time.RFC3339)}
	for _, p := range st.heldBefore {
		if p.AsOf == day && p.Reason == reason && p.Since != "" {
			h.Since = p.Since
		}
	}
	st.Held = append(st.Held, h)
	rep.Held = append(rep.Held, h)
	a.o.Logger.Warn("month held: "+reason, "as_of", day)
}

// notEnded says why the month ending asOf may not be computed yet: it has
// not ended by the local clock, or by the collector's clock as last seen,
// or the two clocks disagree by more than the tolerance.
func (a *Agent) notEnded(asOf time.Time) string {
	local := a.o.Now()
	end := time.Date(asOf.Year(), asOf.Month(), asOf.Day()+1, 0, 0, 0, 0, time.UTC)
	if c, ok := a.o.Sender.(CollectorClock); ok {
		if coll, ok := c.CollectorTime(); ok {
			if d := local.Sub(coll); d > a.o.ClockTolerance || d < -a.o.ClockTolerance {
				return fmt.Sprintf("the practice server's clock is %s the collector's (%s UTC there): correct the clock; nothing is computed until the two agree within %s",
					describeSkew(d), coll.UTC().Format("2006-01-02 15:04"), a.o.ClockTolerance)
			}
			if coll.Before(end) {
				return fmt.Sprintf("month not ended by the collector's clock (%s UTC); it is computed from %s", coll.UTC().Format("2006-01-02 15:04"), end.Format(time.DateOnly))
			}
		}
	}
	if local.Before(end) {
		return fmt.Sprintf("month not ended by this server's clock (%s); it is computed from %s", local.Format("2006-01-02 15:04"), end.Format(time.DateOnly))
	}
	return ""
}

func describeSkew(d time.Duration) string {
	dir := "ahead of"
	if d < 0 {
		dir, d = "behind", -d
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days %s", int(d.Hours()/24), dir)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f hours %s", d.Hours(), dir)
	}
	return fmt.Sprintf("%s %s", d.Round(time.Second), dir)
}

// restore compares what this agent has sent with the receipts the
// collector holds. A month whose latest document the collector lacks (a
// collector restored from a backup) is sent again, with its own id and
// body; a month the collector holds that this agent never sent is
// reported. It returns the months the collector holds.
func (a *Agent) restore(ctx context.Context, rep *CycleReport, st *State) (map[string]bool, error) {
	src, ok := a.o.Sender.(ReceiptSource)
	if !ok {
		return nil, nil
	}
	rs, err := src.Receipts(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]wire.Ack{}
	has := map[string]bool{}
	for _, r := range rs.Receipts {
		if r.Pack == a.o.Pack {
			held[r.AsOf] = r
			has[r.AsOf] = true
		}
	}
	sent, err := a.box.Sent()
	if err != nil {
		return has, err
	}
	latest := map[string]*outbox.Item{}
	known := map[string]bool{}
	for _, it := range sent {
		if it.Pack != a.o.Pack {
			continue
		}
		latest[it.AsOf] = it // Sent is in delivery order: the last is the newest
		known[it.ID] = true
	}
	pending, _ := a.box.Pending()
	for _, it := range pending {
		known[it.ID] = true
	}
	st.Unknown = nil
	for _, it := range sent {
		if latest[it.AsOf] != it {
			continue
		}
		r, ok := held[it.AsOf]
		if ok && r.SubmissionID == it.ID {
			continue
		}
		if ok && !known[r.SubmissionID] {
			continue // reported below
		}
		// The collector lacks this month, or holds an older document of
		// ours: send the newest again.
		ack, err := a.o.Sender.Submit(ctx, it.ID, it.Body)
		if err == nil {
			err = checkAck(ack, a.o.Practice, it)
		}
		if err != nil {
			return has, fmt.Errorf("send %s again to the collector: %w", it.AsOf, err)
		}
		if err := a.box.UpdateSent(it, ack, a.o.Now()); err != nil {
			return has, err
		}
		has[it.AsOf] = true
		rep.Restored = append(rep.Restored, it.AsOf)
		a.o.Logger.Warn("the collector did not hold a month this agent had delivered (restored from a backup?); sent it again", "as_of", it.AsOf, "submission", it.ID)
	}
	for _, r := range rs.Receipts {
		if r.Pack == a.o.Pack && !known[r.SubmissionID] {
			st.Unknown = append(st.Unknown, r.AsOf)
			a.o.Logger.Warn("the collector holds a month this agent never sent: another agent may be enrolled with this practice's key; ask your ICB", "as_of", r.AsOf, "submission", r.SubmissionID)
		}
	}
	return has, nil
}

// checkAck checks that a receipt names the item sent.
func checkAck(ack []byte, practice string, it *outbox.Item) error {
	var a wire.Ack
	if err := json.Unmarshal(ack, &a); err != nil {
		return fmt.Errorf("%w: %v", wire.ErrReceipt, err)
	}
	return a.Matches(practice, it.ID, it.Body)
}

func (a *Agent) compute(ctx context.Context, asOf time.Time, rep *CycleReport, st *State) error {
	day := asOf.Format(time.DateOnly)
	if has, err := a.box.Has(a.o.Pack, day); err != nil || has {
		return err
	}
	start := time.Now()
	a.o.Checkpoint("before-run")
	doc, err := a.document(ctx, asOf, st)
	if err != nil {
		return err
	}
	if reason := a.gate(ctx, doc, asOf); reason != "" {
		if st.Released[day] == "" {
			a.hold(rep, st, day, reason+"; fix the data and it is checked again at the next cycle, or release it: steward-agent release --as-of "+day)
			return nil
		}
		a.o.Logger.Warn("month released by the practice manager despite the quality gate", "as_of", day, "gate", reason, "released_by", st.Released[day])
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	it := &outbox.Item{ID: outbox.NewID(), Practice: a.o.Practice, Pack: a.o.Pack, AsOf: day, Body: body, Created: a.o.Now().UTC()}
	a.o.Checkpoint("before-queue")
	if err := a.box.Add(it); err != nil {
		return err
	}
	delete(st.Released, day)
	a.o.Checkpoint("after-queue")
	rep.Computed = append(rep.Computed, day)
	a.o.Logger.Info("queued submission", "as_of", day, "submission", it.ID, "measures", len(doc.Measures), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// document runs the pack as of asOf and checks the result may leave the
// practice.
func (a *Agent) document(ctx context.Context, asOf time.Time, st *State) (*results.Document, error) {
	day := asOf.Format(time.DateOnly)
	doc, err := a.o.Runner.Run(ctx, asOf, a.o.Baseline)
	if err != nil {
		err = fmt.Errorf("run %s as of %s: %w", a.o.Pack, day, err)
		st.Searches = a.searchStatuses(st.Searches, day, doc, err)
		return nil, err
	}
	if err := a.o.Protect(doc); err != nil {
		err = Classify("not disclosure controlled", fmt.Errorf("as of %s: refusing to queue a document that is not disclosure controlled: %w", day, err))
		st.Searches = a.searchStatuses(st.Searches, day, doc, err)
		return nil, err
	}
	if doc.Practice != a.o.Practice {
		err := Classify("wrong practice", fmt.Errorf("as of %s: document is for practice %s, not %s", day, doc.Practice, a.o.Practice))
		st.Searches = a.searchStatuses(st.Searches, day, doc, err)
		return nil, err
	}
	st.Searches = a.searchStatuses(st.Searches, day, doc, nil)
	if doc.GeneratedAt == "" {
		doc.GeneratedAt = a.o.Now().UTC().Format(time.RFC3339Nano)
	}
	return doc, nil
}

// Resend recomputes a month already queued or sent with today's config
// and data, and queues it as a correction of the latest document for that
// month, with the practice manager's reason. It refuses a month that fails
// the quality gate unless force is set.
func (a *Agent) Resend(ctx context.Context, asOf time.Time, reason string, force bool) (*CycleReport, error) {
	rep := &CycleReport{}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > results.MaxCorrectionReason {
		return rep, fmt.Errorf("give a reason of 1 to %d characters with --reason: it is kept at the collector and shown beside the claim", results.MaxCorrectionReason)
	}
	l, err := lock.Acquire(ctx, a.o.DataDir, a.o.LockWait)
	if err != nil {
		return rep, err
	}
	defer l.Release()
	st, _ := a.state.Load()
	day := asOf.Format(time.DateOnly)
	prev, _, err := a.box.Latest(a.o.Pack, day)
	if err != nil {
		return rep, err
	}
	if prev == nil {
		return rep, fmt.Errorf("nothing was sent for %s yet: there is nothing to correct (steward-agent once --as-of %s computes and sends it)", day, day)
	}
	if why := a.notEnded(asOf); why != "" {
		return rep, errors.New(why)
	}
	doc, err := a.document(ctx, asOf, st)
	if err != nil {
		return rep, err
	}
	if why := a.gate(ctx, doc, asOf); why != "" && !force {
		return rep, fmt.Errorf("the recomputed month fails the quality gate: %s; fix the data first, or pass --force to send it anyway", why)
	}
	doc.Correction = &results.Correction{Supersedes: prev.ID, Reason: reason}
	body, err := json.Marshal(doc)
	if err != nil {
		return rep, err
	}
	it := &outbox.Item{ID: outbox.NewID(), Practice: a.o.Practice, Pack: a.o.Pack, AsOf: day, Body: body, Created: a.o.Now().UTC()}
	if err := a.box.AddCorrection(it); err != nil {
		return rep, err
	}
	rep.Computed = append(rep.Computed, day)
	a.o.Logger.Info("queued a correction", "as_of", day, "submission", it.ID, "corrects", prev.ID, "reason", reason)
	if err := a.Flush(ctx, rep); err != nil {
		rep.Errors = append(rep.Errors, err)
	}
	for _, id := range rep.Rejected {
		if id == it.ID {
			rep.Errors = append(rep.Errors, fmt.Errorf("the collector refused the correction for good; it is kept in rejected/ with the collector's answer (steward-agent status), and the month keeps the figures sent before"))
		}
	}
	rep.Pending = a.box.PendingCount()
	st.Pending = rep.Pending
	if len(rep.Delivered) > 0 {
		st.LastDelivery = a.o.Now().UTC().Format(time.RFC3339)
	}
	if err := a.state.Save(st); err != nil {
		return rep, err
	}
	return rep, errors.Join(rep.Errors...)
}

// MonthsComputedWith lists, oldest first, the months whose latest document
// (sent or waiting to be sent) was computed with version of the agent's
// pack: after its authors withdraw a version, these are the months to
// resend under the version that runs now.
func (a *Agent) MonthsComputedWith(version string) ([]time.Time, error) {
	sent, err := a.box.Sent()
	if err != nil {
		return nil, err
	}
	pending, err := a.box.Pending()
	if err != nil {
		return nil, err
	}
	latest := map[string]*outbox.Item{}
	for _, it := range append(sent, pending...) {
		if it.Pack == a.o.Pack {
			latest[it.AsOf] = it // delivery order, then queue order: the last is the newest
		}
	}
	var out []time.Time
	for day, it := range latest {
		var doc struct {
			Pack results.PackRef `json:"pack"`
		}
		if json.Unmarshal(it.Body, &doc) != nil || doc.Pack.Version != version {
			continue
		}
		t, err := time.Parse(time.DateOnly, day)
		if err != nil {
			continue
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	return out, nil
}

// Release lets a month held by the quality gate be queued at the next
// cycle, as it is. who names the person, for the log.
func (a *Agent) Release(ctx context.Context, asOf time.Time, who string) error {
	l, err := lock.Acquire(ctx, a.o.DataDir, a.o.LockWait)
	if err != nil {
		return err
	}
	defer l.Release()
	st, _ := a.state.Load()
	if st.Released == nil {
		st.Released = map[string]string{}
	}
	st.Released[asOf.Format(time.DateOnly)] = who
	return a.state.Save(st)
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
// delivery goes on. An item counts as delivered only on a receipt that
// names its id and body.
func (a *Agent) Flush(ctx context.Context, rep *CycleReport) error {
	pending, err := a.box.Pending()
	if err != nil {
		return err
	}
	for _, it := range pending {
		a.o.Checkpoint("before-submit")
		ack, err := a.o.Sender.Submit(ctx, it.ID, it.Body)
		if err == nil {
			err = checkAck(ack, a.o.Practice, it)
		}
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

// Problems lists faults in the agent's own files that need the practice
// manager, each with its fix: unreadable outbox items and a corrupt state
// file.
func (a *Agent) Problems() []string {
	var out []string
	for _, u := range a.box.Check() {
		out = append(out, u.Fix())
	}
	if _, err := a.state.Load(); err != nil {
		out = append(out, fmt.Sprintf("%v: delete it; the next cycle writes a new one (what was sent is kept in the outbox)", err))
	}
	return out
}

// Heartbeat tells the collector the agent is alive. It takes the data
// folder's lock, as it records the heartbeat in the state file; when
// another process holds the lock it sends nothing (that process will).
func (a *Agent) Heartbeat(ctx context.Context) error {
	l, err := lock.Acquire(ctx, a.o.DataDir, a.o.LockWait)
	if errors.Is(err, lock.ErrBusy) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.Release()
	st, _ := a.state.Load()
	ver, stale := a.o.BundleVersion()
	hb := wire.Heartbeat{
		Practice: a.o.Practice, AgentVersion: buildinfo.String(),
		BundleVersion: ver, BundleStale: stale,
		LastRun: st.LastRun, LastDelivery: st.LastDelivery, Pending: a.box.PendingCount(),
		SentAt: a.o.Now().UTC().Format(time.RFC3339),
		Held:   st.Held, Problems: a.Problems(), Nonce: wire.NewNonce(),
	}
	if a.o.Bundle != nil {
		hb.Bundle = a.o.Bundle()
	}
	for _, d := range st.Unknown {
		hb.Problems = append(hb.Problems, "the collector holds "+d+", which this agent never sent")
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
	// Held are the months the latest cycle held back, and why.
	Held []wire.HeldMonth `json:"held,omitempty"`
	// Released are held months the practice manager let through, with who.
	Released map[string]string `json:"released,omitempty"`
	// Unknown are months the collector holds that this agent never sent.
	Unknown []string `json:"unknown,omitempty"`

	heldBefore []wire.HeldMonth
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
	st.heldBefore = st.Held
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
