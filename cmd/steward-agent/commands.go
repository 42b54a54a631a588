package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/disclosure"
	"github.com/nhs-steward/steward/reporting/wire"
)

func commands() []*cli.Command {
	return []*cli.Command{
		initCommand(),
		checkCommand(),
		enrolCommand(),
		previewCommand(),
		onceCommand(),
		runServiceCommand(),
		statusCommand(),
		worklistCommand(),
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
		Help: `Validates the config; connects to the practice database read-only and runs
the searches as of the last month end (so every table and column the profile
needs is proven); verifies the search bundle; and reaches the collector. Each
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
			base := e.cfg.BaselineDate()
			if base.After(asOf) {
				base = time.Time{}
			}
			start := time.Now()
			doc, err := runner{e}.document(ctx, asOf, base)
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
			ok("collector %s reachable; practice key %s", e.cfg.Collector.URL, e.cfg.KeyPath())
			return nil
		},
	}
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
			key, err := upload.LoadKey(e.cfg.KeyPath())
			if err != nil {
				if key, err = upload.GenerateKey(e.cfg.KeyPath()); err != nil {
					return err
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
			fmt.Fprintf(stdio.Out, "enrolled %s (%s, ICB %s); key %s\nnext: steward-agent preview, then steward-agent start\n", r.Practice, r.Name, r.ICB, r.KeyID)
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
	var path, asOf string
	return &cli.Command{
		Name:    "preview",
		Summary: "print exactly what would be sent for a month; send nothing",
		Usage:   "preview [--config FILE] [--as-of DATE]",
		Help: `Computes the results document for a month end exactly as a cycle would —
disclosure control included — and prints it. Nothing is queued or sent. This
is everything that leaves the practice: aggregates only.`,
		Flags: func(fs *flag.FlagSet) { configFlag(fs, &path); asOfFlag(fs, &asOf) },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			a, err := parseAsOf(asOf)
			if err != nil {
				return err
			}
			doc, err := runner{e}.document(ctx, a, e.cfg.BaselineDate())
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
	return &cli.Command{
		Name:    "once",
		Summary: "run one full cycle now: compute what is due, deliver, heartbeat",
		Usage:   "once [--config FILE] [--as-of DATE]",
		Help: `Computes every month that is due and not yet queued or sent (or only --as-of),
queues it durably, delivers the queue in order and sends a heartbeat. Safe to
run at any time: a month is never sent twice.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.StringVar(&asOf, "as-of", "", "compute only this month end, YYYY-MM-DD")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
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
			ag, err := e.agent(c)
			if err != nil {
				return err
			}
			if u, err := e.updater(); err == nil && u != nil {
				if _, err := u.Update(ctx); err != nil {
					e.log.Warn("search bundle update failed; running the current one", "error", err)
				}
			}
			rep, cerr := ag.Cycle(ctx, a)
			herr := ag.Heartbeat(ctx)
			fmt.Fprintf(stdio.Out, "computed %d month(s) %v, delivered %d, rejected %d, pending %d\n",
				len(rep.Computed), rep.Computed, len(rep.Delivered), len(rep.Rejected), rep.Pending)
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

func approveCommand() *cli.Command {
	var path string
	return &cli.Command{
		Name:    "approve",
		Summary: "let a verified new search bundle version run (approval mode manual)",
		Usage:   "approve BUNDLE_VERSION [--config FILE]",
		Flags:   func(fs *flag.FlagSet) { configFlag(fs, &path) },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() != 1 {
				return cli.Usagef("give the bundle version to approve (steward-agent status shows it)")
			}
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			u, err := e.updater()
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			if u == nil {
				return cli.WithCode(cli.ExitConfig, errors.New("no bundle.trusted_root in the config: this agent runs its built-in pack"))
			}
			if err := u.Approve(fs.Arg(0)); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "approved search bundle %s: it runs from the next cycle\n", fs.Arg(0))
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
