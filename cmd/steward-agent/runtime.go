package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nhs-steward/steward/agent"
	"github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/disclosure"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/run"
)

// env is everything a command builds from the config.
type env struct {
	cfg *config.Config
	log *slog.Logger
}

func loadEnv(path string, stderr io.Writer) (*env, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return &env{cfg: cfg, log: newLogger(stderr, cfg.LogLevel)}, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
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
		bundle.WithPack(e.cfg.Bundle.Pack), bundle.WithLogger(e.log), bundle.WithCheck(checkPack))
}

// checkPack is what a new bundle must pass before it runs: every search
// loads and plans.
func checkPack(dir string) error {
	p, err := lang.LoadPack(dir)
	if err != nil {
		return err
	}
	for _, s := range p.Searches {
		if _, err := model.Resolve(s); err != nil {
			return fmt.Errorf("search %s: %w", s.ID, err)
		}
	}
	return nil
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

// runner computes documents from the practice database.
type runner struct{ e *env }

func (r runner) Run(ctx context.Context, asOf, baseline time.Time) (*results.Document, error) {
	return r.document(ctx, asOf, baseline)
}

func (r runner) open() (*run.Runner, error) {
	p, _, err := r.e.pack()
	if err != nil {
		return nil, err
	}
	url, err := r.e.cfg.DatabaseURL()
	if err != nil {
		return nil, err
	}
	rr, err := run.Open(url, r.e.cfg.Database.Profile, p, "steward-agent")
	if err != nil {
		return nil, fmt.Errorf("open the practice database: %w", err)
	}
	rr.Producer.Name = "steward-agent"
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
	return rr.Document(ctx, run.Request{Practice: r.e.cfg.Practice, AsOf: asOf, Baseline: baseline})
}

func (e *env) client() (*upload.Client, error) {
	key, err := upload.LoadKey(e.cfg.KeyPath())
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return upload.New(upload.Options{
		URL: e.cfg.Collector.URL, CAFile: e.cfg.Collector.CAFile, Practice: e.cfg.Practice, Key: key,
		Timeout: e.cfg.Collector.Timeout.Duration, Logger: e.log,
	})
}

func (e *env) agent(sender agent.Sender) (*agent.Agent, error) {
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
	return agent.New(agent.Options{
		Checkpoint: crashPoint(),
		Practice:   e.cfg.Practice, Pack: packID, DataDir: e.cfg.DataDir, Baseline: e.cfg.BaselineDate(),
		Schedule: agent.Schedule{DayOfMonth: e.cfg.Schedule.DayOfMonth, Hour: hour, Minute: minute,
			CatchUpMonths: e.cfg.Schedule.CatchUpMonths, FirstAsOf: first},
		Runner: runner{e}, Sender: sender, Protect: disclosure.Protected, Logger: e.log,
		BundleVersion: func() (string, string) {
			if u == nil {
				return "built-in " + packID + " " + buildinfo.String(), ""
			}
			st, err := u.Status()
			if err != nil {
				return "", ""
			}
			stale := ""
			if st.Stale() {
				stale = st.StaleSince.UTC().Format(time.RFC3339)
			}
			return st.Current, stale
		},
	})
}

func dataPath(e *env, name string) string { return filepath.Join(e.cfg.DataDir, name) }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
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
