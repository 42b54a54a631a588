package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/nhs-steward/steward/agent"
	"github.com/nhs-steward/steward/agent/logging"
	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

func runServiceCommand() *cli.Command {
	var path string
	var tick time.Duration
	return &cli.Command{
		Name:    "run",
		Summary: "run the agent's service loop (what the service manager starts)",
		Usage:   "run [--config FILE]",
		Help: `Runs until stopped: catches up missed months, computes each month on its
scheduled day, delivers, and sends heartbeats. A database or collector that is
down is retried at the next tick; the loop never stops on a failure.

Under the Windows service manager it logs to the Event Log (Windows Logs ›
Application, source steward-agent); under systemd and from a terminal it logs
to stderr (journalctl -u steward-agent). A missing or invalid config, or an
agent that is not enrolled, stops it at once with exit code 3 and a message
saying what to do, in the same log: the service manager records a failed
start instead of a service that runs nothing.`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &path)
			fs.DurationVar(&tick, "tick", 15*time.Minute, "how often to look for due work")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			return runAgent(ctx, detectHost(path, stdio), path, tick, stdio)
		},
	}
}

// host is where `run` runs: a terminal, or a service manager.
type host struct {
	// managed is true under the Windows service manager or systemd.
	managed bool
	// sink is the service manager's own log (the Windows Event Log); nil
	// where stderr is the log (a terminal, or systemd, whose journal
	// collects stderr).
	sink logging.Sink
	// serve hands p to the service manager and returns when the service
	// stops. Used only when managed.
	serve func(p kservice.Interface) error
}

// detectHost finds out whether a service manager started the agent and,
// on Windows, opens the Event Log under the service's name: the event
// source the MSI (and `install`) registers.
func detectHost(path string, stdio cli.IO) host {
	h := host{managed: !service.Interactive()}
	if !h.managed {
		return h
	}
	spec := service.Agent(absPath(path))
	h.serve = func(p kservice.Interface) error { return service.Serve(spec, p) }
	if runtime.GOOS == "windows" {
		// kardianos/service's Linux logger needs /dev/log, which the
		// hardened unit does not offer: there stderr goes to journald.
		// SystemLogger, not Logger: Logger gives the console to a process
		// the library does not take for a service (see service.Interactive).
		svc, err := kservice.New(refusal{}, spec.ServiceConfig(""))
		if err == nil {
			var l kservice.Logger
			if l, err = svc.SystemLogger(nil); err == nil {
				h.sink = l
			}
		}
		if err != nil {
			fmt.Fprintf(stdio.Err, "steward-agent: cannot open the Event Log, logging to stderr: %v\n", err)
		}
	}
	return h
}

// refusal is the service program of an agent that cannot start: its Start
// fails, so the service manager records a failed start (Windows: the
// service stops with an error; recovery restarts it after a delay and
// each attempt logs why) instead of a service that runs but does nothing.
type refusal struct{ err error }

func (r refusal) Start(kservice.Service) error { return r.err }
func (r refusal) Stop(kservice.Service) error  { return nil }

// runAgent runs the service loop on h. What stops the agent from starting
// (no config, an invalid one, no practice key) is logged where the service
// manager keeps its logs and returned with its exit code: 3 for the
// config, on which systemd does not restart (RestartPreventExitStatus=3).
func runAgent(ctx context.Context, h host, path string, tick time.Duration, stdio cli.IO) error {
	fail := func(err error) error {
		if h.sink != nil {
			// From a terminal or under systemd the error is printed on
			// stderr by the command framework; the Event Log needs it
			// written there.
			slog.New(logging.NewHandler(h.sink, nil)).Error("steward-agent cannot start: "+err.Error(),
				"config", absPath(path), "exit_code", exitCode(err))
		}
		if h.managed && h.serve != nil {
			_ = h.serve(refusal{err})
		}
		return err
	}
	e, err := loadEnv(path, stdio.Err)
	if err != nil {
		return fail(configError(path, err))
	}
	if h.sink != nil {
		e.log = slog.New(logging.NewHandler(h.sink, &logging.Options{Level: logLevel(e.cfg.LogLevel)}))
	}
	c, err := e.client()
	if err != nil {
		return fail(err)
	}
	ag, err := e.agent(c)
	if err != nil {
		return fail(err)
	}
	u, err := e.updater()
	if err != nil {
		return fail(cli.WithCode(cli.ExitConfig, err))
	}
	loop := func(ctx context.Context) error {
		e.log.Info("steward-agent running", "practice", e.cfg.Practice, "config", absPath(path))
		if u != nil {
			go func() {
				for {
					if _, err := u.Update(ctx); err != nil && ctx.Err() == nil {
						e.log.Warn("search bundle update failed; running the current one", "error", err)
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Hour):
					}
				}
			}()
		}
		err := ag.Loop(ctx, agent.LoopOptions{Tick: tick, Heartbeat: e.cfg.Heartbeat.Duration})
		e.log.Info("steward-agent stopped")
		return err
	}
	if !h.managed {
		return loop(ctx)
	}
	return h.serve(&service.Program{Run: loop})
}

// configError says which config file is wrong and what to do about it.
func configError(path string, err error) error {
	abs := absPath(path)
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		err = ee.Err
	}
	if !fileExists(path) {
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("no config at %s: write one with 'steward-agent init --config %s', fill in what is marked CHANGE ME, then check it with 'steward-agent check --config %s'", abs, abs, abs))
	}
	return cli.WithCode(cli.ExitConfig, fmt.Errorf("config %s cannot be used:\n%w\nfix it, check it with 'steward-agent check --config %s', then start the service again", abs, err, abs))
}

// exitCode is the process exit code err leads to.
func exitCode(err error) int {
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return cli.ExitFailure
}

// logLevel parses a config log_level (debug, info, warn, error).
func logLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
