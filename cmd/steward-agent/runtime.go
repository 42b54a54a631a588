package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/agent"
	"github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/redact"
	"github.com/nhs-steward/steward/reporting/disclosure"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/run"
	"github.com/nhs-steward/steward/reporting/wire"
	sbundle "github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
)

// env is everything a command builds from the config.
type env struct {
	cfg *config.Config
	log *slog.Logger
	// lockWait is how long the bundle updater waits for the data folder's
	// lock (0: its default).
	lockWait time.Duration
}

func loadEnv(path string, stderr io.Writer) (*env, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return &env{cfg: cfg, log: newLogger(stderr, cfg.LogLevel)}, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: logLevel(level)}))
}

// updater returns the bundle updater, or nil when no trusted root is
// configured (the agent then runs its built-in pack).
func (e *env) updater() (*bundle.Updater, error) {
	if e.cfg.Bundle.TrustedRoot == "" {
		return nil, nil
	}
	mode := bundle.ApprovalAuto
	if e.cfg.Bundle.Approval == "manual" {
		mode = bundle.ApprovalManual
	}
	client := &http.Client{Timeout: e.cfg.Collector.Timeout.Duration}
	return bundle.New(e.cfg.DataDir, e.cfg.Bundle.TrustedRoot, e.cfg.Collector.URL, client, mode,
		bundle.WithPack(e.cfg.Bundle.Pack), bundle.WithLogger(e.log), bundle.WithCheck(sbundle.Lint),
		bundle.WithPractice(e.cfg.Practice), bundle.WithLockWait(e.lockWait))
}

// bundleReport is the search-bundle part of the heartbeat: what runs, what
// waits for approval, what failed, and withdrawn versions held here.
func (e *env) bundleReport(u *bundle.Updater) *wire.BundleReport {
	r := &wire.BundleReport{Pack: e.cfg.Bundle.Pack}
	if p, source, err := e.pack(); err == nil {
		r.Running, r.BuiltIn = p.Version, strings.HasPrefix(source, "built-in")
	}
	if u == nil {
		return r
	}
	st, err := u.Status()
	if err != nil {
		return r
	}
	r.Waiting = st.WaitingApproval
	if st.Failed != nil {
		r.Failed, r.FailedReason = st.Failed.Version, wire.Clip(st.Failed.Reason)
	}
	if fb := st.FellBack; fb != nil && (fb.To == r.Running && !r.BuiltIn || fb.To == "" && r.BuiltIn) {
		r.FellBackFrom = fb.From
	}
	var held []string
	for v, w := range st.Withdrawn {
		if w.Held {
			held = append(held, v)
		}
	}
	slices.SortFunc(held, func(a, b string) int { c, _ := sbundle.CompareVersions(b, a); return c })
	for _, v := range held[:min(len(held), wire.MaxWithdrawnReported)] {
		r.Withdrawn = append(r.Withdrawn, wire.WithdrawnVersion{Version: v, Reason: wire.Clip(st.Withdrawn[v].Reason)})
	}
	return r
}

// pack returns the pack to run: the current verified bundle when there is
// one, else the built-in pack the config names.
func (e *env) pack() (*model.Pack, string, error) {
	u, err := e.updater()
	if err != nil {
		return nil, "", err
	}
	if u != nil {
		dir, version, err := u.Current()
		switch {
		case err == nil:
			p, err := lang.LoadPack(dir)
			if err != nil {
				return nil, "", fmt.Errorf("current bundle %s: %w", version, err)
			}
			return p, "bundle " + version, nil
		case !errors.Is(err, bundle.ErrNoBundle):
			return nil, "", err
		}
	}
	p, err := run.LoadPack(e.cfg.Bundle.Pack)
	if err != nil {
		return nil, "", err
	}
	return p, "built-in " + p.ID + " " + p.Version, nil
}

// runner computes documents from the practice database, with the pack
// that runs, or with pack when it is set (a version waiting for approval,
// for preview --bundle).
type runner struct {
	e    *env
	pack *model.Pack
}

var _ agent.SearchLister = runner{}

func (r runner) loadPack() (*model.Pack, error) {
	if r.pack != nil {
		return r.pack, nil
	}
	p, _, err := r.e.pack()
	return p, err
}

func (r runner) Run(ctx context.Context, asOf, baseline time.Time) (*results.Document, error) {
	return r.document(ctx, asOf, baseline)
}

// Searches names the searches of the pack that runs, so a run that fails
// before any search finished still reports each of them.
func (r runner) Searches() ([]string, error) {
	p, err := r.loadPack()
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(p.Searches))
	for i, s := range p.Searches {
		ids[i] = s.ID
	}
	return ids, nil
}

// open connects to the practice database. Its errors are classified for
// the heartbeat (agent.Classify) and never hold the database password.
func (r runner) open() (*run.Runner, error) {
	p, err := r.loadPack()
	if err != nil {
		return nil, agent.Classify("searches could not be loaded", err)
	}
	url, err := r.e.cfg.DatabaseURL()
	if err != nil {
		return nil, agent.Classify("database url unreadable", err)
	}
	if err := checkDatabaseURL(url); err != nil {
		return nil, agent.Classify("database url invalid", err)
	}
	prof, err := r.e.cfg.Profile()
	if err != nil {
		return nil, agent.Classify("schema profile could not be loaded", fmt.Errorf("database.profile: %w", err))
	}
	rr, err := run.OpenWith(url, prof, p, "steward-agent")
	if err != nil {
		return nil, agent.Classify("database could not be opened", fmt.Errorf("open the practice database: %w", redact.Secrets(err, url)))
	}
	rr.Producer.Name = "steward-agent"
	rr.Practice = r.e.cfg.Practice
	return rr, nil
}

func (r runner) document(ctx context.Context, asOf, baseline time.Time) (*results.Document, error) {
	rr, err := r.open()
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.Database.Timeout.Duration)
	defer cancel()
	doc, err := rr.Document(ctx, run.Request{Practice: r.e.cfg.Practice, AsOf: asOf, Baseline: baseline})
	if err != nil {
		url, _ := r.e.cfg.DatabaseURL()
		err = redact.Query(err, url)
		if errors.Is(err, run.ErrBadRequest) {
			return nil, agent.Classify("bad run request", err)
		}
		return nil, agent.Classify("search failed", err)
	}
	return doc, nil
}

// quality reads the data-quality figures of the practice database for the
// agent's gate.
func (r runner) quality(ctx context.Context, asOf time.Time) (*agent.Quality, error) {
	rr, err := r.open()
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	ctx, cancel := context.WithTimeout(ctx, r.e.cfg.Database.Timeout.Duration)
	defer cancel()
	q, err := rr.Quality(ctx, asOf)
	if err != nil {
		url, _ := r.e.cfg.DatabaseURL()
		return nil, agent.Classify("data-quality check failed", redact.Query(err, url))
	}
	return &agent.Quality{Issues: q.Issues, UnreadableIssues: q.Unreadable, Newest: q.Newest}, nil
}

// checkDatabaseURL refuses a database URL that does not parse, with a
// message that does not quote it: the parser's own message would (and
// with it the password).
func checkDatabaseURL(s string) error {
	if !strings.Contains(s, "://") {
		return nil // sqlite:PATH, or a key=value connection string
	}
	if _, err := neturl.Parse(s); err != nil {
		return errors.New("the database url is not a valid URL: check its form, and percent-encode special characters in the user name and password (e.g. %40 for @)")
	}
	return nil
}

func (e *env) client() (*upload.Client, error) {
	key, err := upload.LoadKey(e.cfg.KeyPath())
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	pinned, err := upload.LoadCollectorKey(e.cfg.CollectorKeyPath())
	if err != nil && !errors.Is(err, upload.ErrNoCollectorKey) {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return upload.New(upload.Options{
		URL: e.cfg.Collector.URL, CAFile: e.cfg.Collector.CAFile, Practice: e.cfg.Practice, Key: key,
		Timeout: e.cfg.Collector.Timeout.Duration, Logger: e.log, CollectorKey: pinned, Now: clock(),
	})
}

// pin makes sure the client has the collector's receipt key: an agent
// enrolled before receipts were signed pins the key the collector names
// in its (self-signed) receipt list, over the verified TLS connection, on
// first use.
func (e *env) pin(ctx context.Context, c *upload.Client) error {
	if c.PinnedKey() != nil {
		return nil
	}
	pub, err := c.CollectorKeyFromReceipts(ctx)
	if err != nil {
		return fmt.Errorf("pin the collector's receipt key: %w", err)
	}
	if err := upload.SaveCollectorKey(e.cfg.CollectorKeyPath(), pub); err != nil {
		return err
	}
	c.Pin(pub)
	e.log.Warn("pinned the collector's receipt key on first use (this agent was enrolled before receipts were signed)", "key_id", wire.KeyID(pub))
	return nil
}

func (e *env) agent(sender agent.Sender) (*agent.Agent, error) { return e.agentWith(sender, 0) }

// agentWith is agent with how long a cycle waits for the data folder's
// lock (0: the default).
func (e *env) agentWith(sender agent.Sender, lockWait time.Duration) (*agent.Agent, error) {
	var first time.Time
	if e.cfg.Schedule.FirstAsOf != "" {
		first, _ = time.Parse(time.DateOnly, e.cfg.Schedule.FirstAsOf)
	}
	var hour, minute int
	if t, err := time.Parse("15:04", e.cfg.Schedule.Time); err == nil {
		hour, minute = t.Hour(), t.Minute()
	}
	u, err := e.updater()
	if err != nil {
		return nil, err
	}
	packID := e.cfg.Bundle.Pack
	q := e.cfg.Quality
	gate := agent.Gate{MinRegisteredAdults: q.MinRegisteredAdults, MaxAdultsChange: float64(q.MaxAdultsChangePercent) / 100,
		MaxOpioidChange: float64(q.MaxOpioidChangePercent) / 100, MinOpioidChange: q.MinOpioidChange,
		MaxUnreadable: float64(q.MaxUnreadablePercent) / 100, MaxExtractAge: q.MaxExtractAgeDays}
	return agent.New(agent.Options{
		Gate: gate, ClockTolerance: q.ClockTolerance.Duration, LockWait: lockWait, Now: clock(),
		Quality:    runner{e: e}.quality,
		Checkpoint: crashPoint(),
		Practice:   e.cfg.Practice, Pack: packID, DataDir: e.cfg.DataDir, Baseline: e.cfg.BaselineDate(),
		Schedule: agent.Schedule{DayOfMonth: e.cfg.Schedule.DayOfMonth, Hour: hour, Minute: minute,
			CatchUpMonths: e.cfg.Schedule.CatchUpMonths, FirstAsOf: first},
		Runner: runner{e: e}, Sender: sender, Protect: disclosure.Protected, Logger: e.log,
		BundleVersion: func() (string, string) {
			running := ""
			if p, source, err := e.pack(); err == nil {
				running = p.Version
				if strings.HasPrefix(source, "built-in") {
					running = "built-in " + packID + " " + p.Version
				}
			}
			if u == nil {
				return running, ""
			}
			st, err := u.Status()
			if err != nil {
				return running, ""
			}
			stale := ""
			if st.Stale() {
				stale = st.StaleSince.UTC().Format(time.RFC3339)
			}
			return running, stale
		},
		Bundle: func() *wire.BundleReport { return e.bundleReport(u) },
	})
}

func dataPath(e *env, name string) string { return filepath.Join(e.cfg.DataDir, name) }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// clock is the agent's clock: the machine's, shifted by
// STEWARD_AGENT_CLOCK_OFFSET (a Go duration) when that is set. Tests use it
// to run the real binary with a clock that is wrong; it is inert otherwise.
func clock() func() time.Time {
	d, err := time.ParseDuration(os.Getenv("STEWARD_AGENT_CLOCK_OFFSET"))
	if err != nil || d == 0 {
		return time.Now
	}
	return func() time.Time { return time.Now().Add(d) }
}

// crashPoint returns the crash-injection hook: with STEWARD_AGENT_KILL_AT=N
// the process kills itself (SIGKILL on Unix) at the N-th checkpoint of its
// cycle. Tests use it to prove nothing is lost or duplicated wherever a
// crash lands; it is inert otherwise.
func crashPoint() func(string) {
	n, err := strconv.Atoi(os.Getenv("STEWARD_AGENT_KILL_AT"))
	if err != nil || n <= 0 {
		return nil
	}
	seen := 0
	return func(step string) {
		seen++
		if seen == n {
			fmt.Fprintf(os.Stderr, "crash injection: killed at checkpoint %d (%s)\n", n, step)
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill()
			select {} // wait for the signal
		}
	}
}
