package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nhs-steward/steward/agent"
	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/agent/lock"
	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/internal/fsutil"
	"github.com/nhs-steward/steward/internal/redact"
	"github.com/nhs-steward/steward/reporting/disclosure"
	"github.com/nhs-steward/steward/reporting/schemes"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/dialect"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/profile/check"
)

func commands() []*cli.Command {
	return []*cli.Command{
		initCommand(),
		checkCommand(),
		enrolCommand(),
		previewCommand(),
		onceCommand(),
		resendCommand(),
		releaseCommand(),
		runServiceCommand(),
		statusCommand(),
		worklistCommand(),
		reviewCommand(),
		approveCommand(),
		controlCommand("install", "install the agent as a system service (Windows service or systemd unit)"),
		controlCommand("uninstall", "remove the system service (configuration and data are kept)"),
		controlCommand("start", "start the system service"),
		controlCommand("stop", "stop the system service"),
		serviceRecoveryCommand(),
	}
}

func configFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "config", service.DefaultAgentConfig(), "the agent's config file")
}

func initCommand() *cli.Command {
	var path, practice, dataDir string
	var force bool
	return &cli.Command{
		Name:    "init",
		Summary: "write a commented config for the practice to fill in",
		Usage:   "init [--config FILE] [--practice ODS] [--data-dir DIR]",
		Help: `Writes a config template with every setting explained; fill in what is marked
CHANGE ME, then run steward-agent check. An existing config is never
overwritten unless --force.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&practice, "practice", "", "the practice's ODS code")
			fs.StringVar(&dataDir, "data-dir", "", "where the agent keeps its key, outbox and bundles (default: beside the config)")
			fs.BoolVar(&force, "force", false, "overwrite an existing config")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fileExists(path) && !force {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("%s already exists: edit it, or pass --force to replace it", path))
			}
			if dataDir == "" {
				dataDir = defaultDataDir(absPath(path))
			}
			if err := os.MkdirAll(filepath.Dir(absPath(path)), 0o750); err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(config.Template(strings.ToUpper(practice), dataDir)), 0o640); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "wrote %s\nnext: fill in the values marked CHANGE ME, then run: steward-agent check --config %s\n", path, path)
			return nil
		},
	}
}

// defaultDataDir is /var/lib/steward for a config under /etc (what the
// hardened unit may write), else a data folder beside the config.
func defaultDataDir(cfg string) string {
	if runtime.GOOS == "linux" && strings.HasPrefix(cfg, "/etc/") {
		return "/var/lib/steward"
	}
	return filepath.Join(filepath.Dir(cfg), "data")
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func checkCommand() *cli.Command {
	var path string
	var offline bool
	return &cli.Command{
		Name:    "check",
		Summary: "check the config, the database, the searches and the collector",
		Usage:   "check [--config FILE] [--offline]",
		Help: `Validates the config; checks the schema profile against the practice
database read-only (steward profile check: every fragment runs, every column
is usable, and a data report with each problem's fix); runs the searches as of
the last month end; verifies the search bundle; and reaches the collector. Each
failure says what to do. Exit codes: 0 all good, 3 config, 4 database,
5 collector.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.BoolVar(&offline, "offline", false, "do not contact the collector")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			ok := func(format string, a ...any) { fmt.Fprintf(stdio.Out, "ok    "+format+"\n", a...) }
			ok("config %s (practice %s, profile %s)", path, e.cfg.Practice, e.cfg.Database.Profile)
			p, source, err := e.pack()
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("searches: %w (check bundle.pack and bundle.trusted_root)", err))
			}
			ok("searches: %s (%d searches)", source, len(p.Searches))
			asOf := latestMonthEnd(time.Now())
			if err := checkProfile(ctx, e, p, asOf, stdio.Out); err != nil {
				return err
			}
			base := e.cfg.BaselineDate()
			if base.After(asOf) {
				base = time.Time{}
			}
			start := time.Now()
			doc, err := runner{e: e}.document(ctx, asOf, base)
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, fmt.Errorf("database: %w\n  check database.url and database.profile, and that the login can read the practice tables", err))
			}
			if err := disclosure.Protected(doc); err != nil {
				return err
			}
			adults := 0.0
			if m := doc.Find("registered_adults"); m != nil && m.Value != nil {
				adults = *m.Value
			}
			ok("database: searches ran as of %s in %s; %.0f registered adults at %s", doc.AsOf, time.Since(start).Round(time.Millisecond), adults, e.cfg.Practice)
			if adults == 0 {
				fmt.Fprintf(stdio.Out, "warn  no registered adults found: is practice %s the ODS code the database uses, and is the profile right?\n", e.cfg.Practice)
			}
			if offline {
				fmt.Fprintln(stdio.Out, "skip  collector (--offline)")
				return nil
			}
			if !fileExists(e.cfg.KeyPath()) {
				fmt.Fprintf(stdio.Out, "todo  not enrolled yet: run steward-agent enrol --code CODE with the code from your ICB\n")
				c, err := upload.New(upload.Options{URL: e.cfg.Collector.URL, CAFile: e.cfg.Collector.CAFile, Practice: e.cfg.Practice, Key: make([]byte, 64)})
				if err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
				if err := c.Ping(ctx); err != nil {
					return cli.WithCode(cli.ExitNetwork, fmt.Errorf("%w\n  check collector.url and that this machine may reach it (HTTPS out)", err))
				}
				ok("collector %s reachable", e.cfg.Collector.URL)
				return nil
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := c.Ping(ctx); err != nil {
				return cli.WithCode(cli.ExitNetwork, fmt.Errorf("%w\n  check collector.url and that this machine may reach it (HTTPS out)", err))
			}
			// A signed no-op: the collector checks the practice key, and
			// its signed answer checks the pinned collector key.
			if err := e.pin(ctx, c); err != nil {
				return cli.WithCode(cli.ExitNetwork, err)
			}
			rs, err := c.Receipts(ctx)
			var ue *upload.Error
			switch {
			case errors.As(err, &ue) && ue.Status == 401:
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("the collector does not accept this practice's key (%v)\n  enrol again with a new code from your ICB: steward-agent enrol --code CODE", err))
			case err != nil:
				return cli.WithCode(cli.ExitNetwork, fmt.Errorf("%w\n  the collector's answer could not be verified with the key pinned at enrolment: if the ICB moved the collector, ask them whether its receipt key changed", err))
			}
			ok("collector %s reachable; practice key %s accepted; %d month(s) held there", e.cfg.Collector.URL, e.cfg.KeyPath(), len(rs.Receipts))
			if err := checkSchemes(ctx, c, e, p, path, stdio.Out); err != nil {
				return err
			}
			if ag, err := e.agent(nopSender{}); err == nil {
				if probs := ag.Problems(); len(probs) > 0 {
					for _, p := range probs {
						fmt.Fprintf(stdio.Out, "fail  %s\n", p)
					}
					return cli.WithCode(cli.ExitConfig, fmt.Errorf("%d problem(s) in the agent's data folder %s", len(probs), e.cfg.DataDir))
				}
			}
			return nil
		},
	}
}

// checkProfile runs steward profile check on the practice database with
// the config's profile: every fragment runs, every column is usable, and
// the data report, each problem with its fix. A failure stops the check.
func checkProfile(ctx context.Context, e *env, p *model.Pack, asOf time.Time, out io.Writer) error {
	prof, err := e.cfg.Profile()
	if err != nil {
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("database.profile: %w", err))
	}
	url, err := e.cfg.DatabaseURL()
	if err != nil {
		return cli.WithCode(cli.ExitConfig, err)
	}
	if err := checkDatabaseURL(url); err != nil {
		return cli.WithCode(cli.ExitConfig, err)
	}
	db, d, err := dialect.Open(url)
	if err != nil {
		return cli.WithCode(cli.ExitDatabase, fmt.Errorf("database: %w\n  check database.url", redact.Secrets(err, url)))
	}
	defer db.Close()
	var plans []*model.Plan
	for _, s := range p.Searches {
		pl, err := model.Resolve(s)
		if err != nil {
			return cli.WithCode(cli.ExitConfig, err)
		}
		plans = append(plans, pl)
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Database.Timeout.Duration)
	defer cancel()
	// The quality gate's own thresholds; 0 turns one off there and here.
	off := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	r, err := check.Run(ctx, db, d, prof, check.Options{Practice: e.cfg.Practice, AsOf: asOf, Plans: plans,
		MaxUnreadablePercent: float64(off(e.cfg.Quality.MaxUnreadablePercent)), MaxExtractAgeDays: off(e.cfg.Quality.MaxExtractAgeDays)})
	if err != nil {
		return cli.WithCode(cli.ExitDatabase, fmt.Errorf("profile check: %w", redact.Query(err, url)))
	}
	for _, f := range r.Findings {
		fmt.Fprintf(out, "%-5s profile %s: %s\n", f.Level, prof.Name, f.Msg)
		if f.Fix != "" && (f.Level == check.Warn || f.Level == check.Fail) {
			fmt.Fprintf(out, "      fix: %s\n", f.Fix)
		}
	}
	if r.Failed() {
		return cli.WithCode(cli.ExitDatabase, fmt.Errorf("profile %s does not fit the practice database (%d %s above)\n  fix the database.profile (or the profile file) and database.profile_parameters in the config", prof.Name, r.Count(check.Fail), plural(r.Count(check.Fail), "failure")))
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// checkSchemes asks the collector which schemes include the practice and
// fails, with the fix, when the agent's baseline or pack version is not one
// a scheme pays on: figures computed with either would never count.
func checkSchemes(ctx context.Context, c *upload.Client, e *env, p *model.Pack, path string, out io.Writer) error {
	ps, err := c.Schemes(ctx)
	var ue *upload.Error
	switch {
	case errors.As(err, &ue) && ue.Status == http.StatusNotFound:
		fmt.Fprintln(out, "skip  schemes: this collector does not list them (it is older than this agent)")
		return nil
	case err != nil:
		return cli.WithCode(cli.ExitNetwork, fmt.Errorf("read the schemes that include this practice: %w", err))
	}
	var problems []string
	live := 0
	for _, sc := range ps.Schemes {
		if sc.Retired {
			continue
		}
		live++
		if sc.Baseline != "" && sc.Baseline != e.cfg.Baseline {
			problems = append(problems, fmt.Sprintf("scheme %s pays on figures with baseline %s, but this agent's baseline is %s\n  set `baseline: %s` in %s; months already sent with the wrong baseline are corrected with: steward-agent resend --as-of DATE --reason \"baseline corrected to %s\"",
				sc.ID, sc.Baseline, e.cfg.Baseline, sc.Baseline, path, sc.Baseline))
		}
		if sc.Pack != "" && sc.Versions != "" {
			r, err := schemes.ParsePackRange(sc.Pack, sc.Versions)
			if err == nil && !r.Accepts(p.ID, p.Version) {
				problems = append(problems, fmt.Sprintf("scheme %s pays on pack %s %s, but this agent runs %s %s\n  ask your ICB for the search bundle the scheme uses (bundle.trusted_root in %s), or approve the waiting version: steward-agent status",
					sc.ID, sc.Pack, sc.Versions, p.ID, p.Version, path))
			}
		}
		if len(problems) == 0 {
			fmt.Fprintf(out, "ok    scheme %s: baseline %s, pack %s %s\n", sc.ID, sc.Baseline, sc.Pack, sc.Versions)
		}
	}
	if live == 0 {
		fmt.Fprintln(out, "warn  no scheme at the collector includes this practice yet: ask your ICB which scheme you are in")
	}
	for _, pr := range problems {
		fmt.Fprintf(out, "fail  %s\n", pr)
	}
	if len(problems) > 0 {
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%d scheme problem(s): figures computed now would not count", len(problems)))
	}
	return nil
}

// latestMonthEnd is the end of the month before now's.
func latestMonthEnd(now time.Time) time.Time {
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
}

func enrolCommand() *cli.Command {
	var path, code string
	return &cli.Command{
		Name:    "enrol",
		Summary: "register this practice with the ICB's collector, using its one-time code",
		Usage:   "enrol --code CODE [--config FILE]",
		Help: `Creates the practice's signing key (kept in data_dir, readable only by the
service) and registers its public half with the collector, using the one-time
code your ICB gave you. Codes expire and work once.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&code, "code", "", "the one-time enrolment code from your ICB")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if code == "" {
				return cli.Usagef("--code is required")
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(e.cfg.DataDir, 0o750); err != nil {
				return err
			}
			l, err := lock.Acquire(ctx, e.cfg.DataDir, 10*time.Second)
			if err != nil {
				return err
			}
			defer l.Release()
			// The key is made in memory and written only once the collector
			// has accepted it: a failed enrolment (a refused code, a full
			// disk) leaves nothing behind, and a retry starts clean. A good
			// key already here is re-enrolled with (a new code for the same
			// practice); an empty or damaged one is replaced.
			// A new key goes to practice.key.new first (durably: a full disk
			// fails here, before the code is used) and becomes practice.key
			// only once the collector has accepted it.
			pendingKey := e.cfg.KeyPath() + ".new"
			key, err := upload.LoadKey(e.cfg.KeyPath())
			fresh := err != nil
			if fresh {
				if key, err = upload.LoadKey(pendingKey); err != nil {
					if _, key, err = ed25519.GenerateKey(nil); err != nil {
						return err
					}
					if err := upload.SaveKey(pendingKey, key); err != nil {
						os.Remove(pendingKey)
						return fmt.Errorf("%w\n  nothing was sent and the code is still good: free some space in %s, then run enrol again with the same code", err, e.cfg.DataDir)
					}
				}
			}
			c, err := upload.New(upload.Options{URL: e.cfg.Collector.URL, CAFile: e.cfg.Collector.CAFile,
				Practice: e.cfg.Practice, Key: key, Timeout: e.cfg.Collector.Timeout.Duration, Attempts: 3, Logger: e.log})
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			r, err := c.Enrol(ctx, strings.TrimSpace(code))
			if err != nil {
				var ue *upload.Error
				if errors.As(err, &ue) {
					return fmt.Errorf("%w\n  ask your ICB for a new code if it has expired or was used", err)
				}
				return cli.WithCode(cli.ExitNetwork, err)
			}
			if c.PinnedKey() == nil {
				return fmt.Errorf("the collector accepted the enrolment but named no receipt key: it is older than this agent; ask your ICB to upgrade steward-collector")
			}
			if err := upload.SaveCollectorKey(e.cfg.CollectorKeyPath(), c.PinnedKey()); err != nil {
				return fmt.Errorf("%w\n  the collector accepted the key but this folder could not record it: free some space in %s, then run enrol again with the same code", err, e.cfg.DataDir)
			}
			if fresh {
				if err := os.Rename(pendingKey, e.cfg.KeyPath()); err != nil {
					return fmt.Errorf("%w\n  free some space in %s, then run enrol again with the same code", err, e.cfg.DataDir)
				}
				if err := fsutil.SyncDir(e.cfg.DataDir); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdio.Out, "enrolled %s (%s, ICB %s); key %s; collector receipt key %s\nnext: steward-agent preview, then steward-agent start\n",
				r.Practice, r.Name, r.ICB, r.KeyID, wire.KeyID(c.PinnedKey()))
			return nil
		},
	}
}

func asOfFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "as-of", "", "month end to compute, YYYY-MM-DD (default: the last month end)")
}

func parseAsOf(s string) (time.Time, error) {
	if s == "" {
		return latestMonthEnd(time.Now()), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.AddDate(0, 0, 1).Day() != 1 {
		return time.Time{}, cli.Usagef("--as-of %q is not a month end (YYYY-MM-DD)", s)
	}
	return t, nil
}

func previewCommand() *cli.Command {
	var path, asOf, version string
	var wait time.Duration
	return &cli.Command{
		Name:    "preview",
		Summary: "print exactly what would be sent for a month, or compare a waiting bundle with the running one; send nothing",
		Usage:   "preview [--config FILE] [--as-of DATE] [--bundle VERSION]",
		Help: `Computes the results document for a month end exactly as a cycle would —
disclosure control included — and prints it. Nothing is queued or sent. This
is everything that leaves the practice: aggregates only.

With --bundle VERSION (a search bundle waiting for your approval; steward-agent
status names it), runs both that version and the one running now on this
practice's data, and prints each measure side by side with the difference:
what approving it would change. Nothing is queued or sent.

Examples:
  steward-agent preview --config agent.yaml
  steward-agent preview --bundle 2026.2.0 --as-of 2025-03-31 --config agent.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			asOfFlag(fs, &asOf)
			fs.StringVar(&version, "bundle", "", "a search bundle version held here (waiting for approval) to compare with the running one")
			fs.DurationVar(&wait, "wait", time.Minute, "how long to wait for a cycle working on the data folder")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			a, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			if version != "" {
				return previewBundle(ctx, e, path, version, a, wait, stdio)
			}
			doc, err := runner{e: e}.document(ctx, a, e.cfg.BaselineDate())
			if err != nil {
				return cli.WithCode(cli.ExitDatabase, err)
			}
			if err := disclosure.Protected(doc); err != nil {
				return err
			}
			enc := json.NewEncoder(stdio.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(doc)
		},
	}
}

func onceCommand() *cli.Command {
	var path, asOf string
	var wait time.Duration
	var history int
	return &cli.Command{
		Name:    "once",
		Summary: "run one full cycle now: compute what is due, deliver, heartbeat",
		Usage:   "once [--config FILE] [--as-of DATE | --history MONTHS]",
		Help: `Computes every month that is due and not yet queued or sent (or only --as-of),
queues it durably, delivers the queue in order and sends a heartbeat. Safe to
run at any time: a month is never sent twice.

--history MONTHS also computes the earlier months, MONTHS month ends in all up
to the latest due one, that are not yet queued or sent: run it once when a
practice enrols so that its run charts start with its history. Each month is a
document of its own, so an interrupted backfill resumes at the next run.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&asOf, "as-of", "", "compute only this month end, YYYY-MM-DD")
			fs.IntVar(&history, "history", 0, "also compute the months before the latest due one, this many month ends in all (2 to 60), e.g. --history 12 at enrolment")
			fs.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for another steward-agent working on the same data folder before leaving the work to it")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			switch {
			case history != 0 && asOf != "":
				return cli.Usagef("--history and --as-of cannot be combined: --as-of computes one month, --history the months up to the latest due one")
			case history != 0 && (history < 2 || history > agent.MaxHistoryMonths):
				return cli.Usagef("--history %d: give a number of month ends from 2 to %d, e.g. --history 12", history, agent.MaxHistoryMonths)
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			var a time.Time
			if asOf != "" {
				if a, err = parseAsOf(asOf); err != nil {
					return err
				}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ag, err := e.agentWith(c, wait)
			if err != nil {
				return err
			}
			if u, err := e.updater(); err == nil && u != nil {
				if _, err := u.Update(ctx); err != nil {
					e.log.Warn("search bundle update failed; running the current one", "error", err)
				}
			}
			if err := e.pin(ctx, c); err != nil {
				e.log.Warn("could not pin the collector's receipt key; months stay pending until it can", "error", err)
			}
			var rep *agent.CycleReport
			var cerr error
			if history != 0 {
				rep, cerr = ag.History(ctx, history)
			} else {
				rep, cerr = ag.Cycle(ctx, a)
			}
			if rep.Busy != nil {
				// Not a failure: the other process does this cycle's work.
				fmt.Fprintln(stdio.Out, rep.Busy.Error()+": nothing to do")
				return nil
			}
			herr := ag.Heartbeat(ctx)
			fmt.Fprintf(stdio.Out, "computed %d month(s) %v, delivered %d, rejected %d, sent again %d, pending %d\n",
				len(rep.Computed), rep.Computed, len(rep.Delivered), len(rep.Rejected), len(rep.Restored), rep.Pending)
			for _, h := range rep.Held {
				fmt.Fprintf(stdio.Out, "held %s: %s\n", h.AsOf, h.Reason)
			}
			if cerr != nil {
				return cli.WithCode(cli.ExitFailure, cerr)
			}
			if herr != nil {
				return cli.WithCode(cli.ExitNetwork, herr)
			}
			return nil
		},
	}
}

func resendCommand() *cli.Command {
	var path, asOf, reason, computedWith string
	var force bool
	return &cli.Command{
		Name:    "resend",
		Summary: "correct a month already sent: recompute it and send it with a reason",
		Usage:   "resend (--as-of DATE | --computed-with VERSION) --reason TEXT [--config FILE] [--force]",
		Help: `Recomputes a month that was already sent, with today's config and data (a
corrected baseline, a refreshed extract) and the search pack version that runs
now (steward-agent status shows it), and sends it as a correction of the
document sent before. The collector keeps both, counts the correction, and
shows your reason on the practice page and in the claim's history; a claim
whose figures change goes back to be declared again.

--computed-with VERSION resends every month whose latest document was computed
with that pack version: after a version is withdrawn (status says so, and the
ICB's overview flags the figures), this sends those months again under the
version that runs now.

A recomputed month that fails the data-quality gate is refused unless --force.

Examples:
  steward-agent resend --as-of 2025-03-31 --reason "registrations were half refreshed on the 5th"
  steward-agent resend --as-of 2025-03-31 --reason "baseline corrected to 2024-03-31" --config agent.yaml
  steward-agent resend --computed-with 2026.2.0 --reason "2026.2.0 was withdrawn" --config agent.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&asOf, "as-of", "", "the month end to correct, YYYY-MM-DD")
			fs.StringVar(&computedWith, "computed-with", "", "resend every month last computed with this search pack version")
			fs.StringVar(&reason, "reason", "", "why the month is sent again (kept at the collector, shown to the ICB)")
			fs.BoolVar(&force, "force", false, "send even if the recomputed month fails the data-quality gate")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if (asOf == "") == (computedWith == "") {
				return cli.Usagef("give --as-of (the month end to correct) or --computed-with (a pack version), not both")
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usagef("--reason is required: it is kept at the collector and shown beside the claim")
			}
			var months []time.Time
			if asOf != "" {
				a, err := parseAsOf(asOf)
				if err != nil {
					return err
				}
				months = []time.Time{a}
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			if err := e.pin(ctx, c); err != nil {
				return cli.WithCode(cli.ExitNetwork, err)
			}
			ag, err := e.agent(c)
			if err != nil {
				return err
			}
			p, source, err := e.pack()
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			if computedWith != "" {
				if computedWith == p.Version {
					return cli.WithCode(cli.ExitConfig, fmt.Errorf("%s is the version that runs now (%s): resending would compute the same figures", computedWith, source))
				}
				if months, err = ag.MonthsComputedWith(computedWith); err != nil {
					return err
				}
				if len(months) == 0 {
					fmt.Fprintf(stdio.Out, "no month sent from here was last computed with %s %s: nothing to resend\n", p.ID, computedWith)
					return nil
				}
			}
			for _, m := range months {
				day := m.Format(time.DateOnly)
				rep, err := ag.Resend(ctx, m, reason, force)
				if err != nil {
					if len(rep.Computed) > 0 && len(rep.Rejected) == 0 {
						fmt.Fprintf(stdio.Out, "correction for %s (%s) queued; it is sent at the next cycle\n", day, source)
						return cli.WithCode(cli.ExitNetwork, err)
					}
					return cli.WithCode(cli.ExitFailure, fmt.Errorf("%s: %w", day, err))
				}
				fmt.Fprintf(stdio.Out, "correction for %s delivered (%d submission), computed with %s\n", day, len(rep.Delivered), source)
			}
			return nil
		},
	}
}

func releaseCommand() *cli.Command {
	var path, asOf string
	return &cli.Command{
		Name:    "release",
		Summary: "let a month held by the data-quality gate be sent as it is",
		Usage:   "release --as-of DATE [--config FILE]",
		Help: `A month whose figures look wrong (no registered adults, a sudden rise or fall,
an extract that ends before the month does) is held, not sent: status shows
"held" and why. Fix the data and the next cycle checks it again; or, when
you know the figures are right (a list merger, a real change), release it and
the next cycle sends it as it is. Releasing is logged.

Example:
  steward-agent release --as-of 2025-03-31`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&asOf, "as-of", "", "the held month end, YYYY-MM-DD")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if asOf == "" {
				return cli.Usagef("--as-of is required: the held month end (steward-agent status lists them)")
			}
			a, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			ag, err := e.agent(nopSender{})
			if err != nil {
				return err
			}
			who := os.Getenv("USER")
			if who == "" {
				who = os.Getenv("USERNAME")
			}
			if who == "" {
				who = "practice manager"
			}
			if err := ag.Release(ctx, a, who); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "released %s: it is sent as it is at the next cycle (or now: steward-agent once --as-of %s)\n", asOf, asOf)
			return nil
		},
	}
}

func controlCommand(action, summary string) *cli.Command {
	var path string
	return &cli.Command{
		Name:    action,
		Summary: summary,
		Usage:   action + " [--config FILE]",
		Help: `The packages (MSI, .deb) install the service themselves; these commands are
the fallback, and install exactly the same service: same name, arguments and
paths. The config path is made absolute (a Windows service starts in
System32).

On Windows, install registers the service and closes the config, the
database URL file and the data folder to all but administrators, SYSTEM and
the service: if any of these fails, nothing is left installed. It then
registers the Event Log source and sets the recovery policy; these are best
effort, and a failure is a warning saying how to set it by hand.`,
		Flags: func(fs *flag.FlagSet) { configFlag(fs, &path) },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			spec := service.Agent(absPath(path))
			switch action {
			case "install":
				cfg, err := config.Load(path)
				if err != nil {
					return cli.WithCode(cli.ExitConfig, fmt.Errorf("refusing to install an unconfigured agent: %w", err))
				}
				if err := installService(spec, exe, cfg, stdio); err != nil {
					return err
				}
			case "uninstall":
				if err := uninstallService(spec, stdio); err != nil {
					return err
				}
			}
			svc, err := service.New(spec, exe, &service.Program{})
			if err != nil {
				return err
			}
			if action == "start" || action == "stop" {
				if err := service.Control(svc, action); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdio.Out, "%s: done (service %s)\n", action, service.Status(svc))
			return nil
		},
	}
}

// nopSender lets status open the agent's data without a key.
type nopSender struct{}

func (nopSender) Submit(context.Context, string, []byte) ([]byte, error) {
	return nil, errors.New("not sending")
}

func (nopSender) Heartbeat(context.Context, wire.Heartbeat) error { return nil }
