package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/nhs-steward/steward/agent"
	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

func statusCommand() *cli.Command {
	var path string
	return &cli.Command{
		Name:    "status",
		Summary: "show the service, last run, last delivery, pending outbox and bundle version",
		Usage:   "status [--config FILE]",
		Help: `Shows whether the service is installed and running, what ran last and how
each search fared, what was delivered, what waits in the outbox, and which
search bundle runs. It reads the agent's state; it does not contact the
database or the collector.`,
		Flags: func(fs *flag.FlagSet) { configFlag(fs, &path) },
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			e, err := loadEnv(path, stdio.Err)
			if err != nil {
				return err
			}
			st, _ := (&agent.StateFile{Path: dataPath(e, "state.json")}).Load()
			svcState := "unknown: the service library does not support this system"
			if svc, err := service.New(service.Agent(absPath(path)), "", &service.Program{}); err == nil {
				svcState = serviceState(runtime.GOOS, systemdRunning(), svc.Status)
			}
			pending := 0
			var problems []string
			if ag, err := e.agent(nopSender{}); err == nil {
				pending = ag.Outbox().PendingCount()
				problems = ag.Problems()
			}
			if _, err := upload.LoadKey(e.cfg.KeyPath()); err != nil {
				problems = append(problems, err.Error())
			}
			_, source, perr := e.pack()
			if perr != nil {
				source = "error: " + perr.Error()
			}
			w := func(k, v string) {
				if v == "" {
					v = "-"
				}
				fmt.Fprintf(stdio.Out, "%-15s %s\n", k, v)
			}
			w("practice", e.cfg.Practice)
			w("service", svcState)
			w("searches", source)
			if u, err := e.updater(); err == nil && u != nil {
				for _, l := range bundleLines(e, u, path) {
					w(l[0], l[1])
				}
			}
			w("last run", st.LastRun)
			w("last success", st.LastSuccess)
			w("last delivery", st.LastDelivery)
			w("last heartbeat", st.LastHeartbeat)
			w("pending", fmt.Sprint(pending))
			for _, h := range st.Held {
				w("held "+h.AsOf, h.Reason)
			}
			for _, d := range st.Unknown {
				w("unknown "+d, "the collector holds this month but this agent never sent it: ask your ICB")
			}
			w("last error", st.LastError)
			for _, p := range problems {
				w("problem", p)
			}
			for _, s := range st.Searches {
				w("search "+s.Search, searchLine(s))
			}
			return nil
		},
	}
}

// searchLine describes one search's latest outcome.
func searchLine(s agent.SearchStatus) string {
	var b strings.Builder
	b.WriteString(s.Status)
	if s.Error != "" {
		b.WriteString(" (" + s.Error + ")")
	}
	if s.AsOf != "" {
		b.WriteString(", as of " + s.AsOf)
	}
	if s.Status != agent.StatusFailed {
		fmt.Fprintf(&b, ", %d rows in %s", s.Rows, (time.Duration(s.DurationMS * float64(time.Millisecond))).Round(time.Millisecond))
	}
	if s.At != "" {
		b.WriteString(", at " + s.At)
	}
	return b.String()
}

// systemdRunning reports whether systemd is this machine's service manager
// (the test sd_booted(3) makes).
func systemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// serviceState says in words whether the agent's service is installed and
// running. query asks the service manager. On Linux without systemd there
// is no service manager the agent knows how to ask (kardianos/service then
// falls back to a System V "service" command, whose failure says nothing).
func serviceState(goos string, systemd bool, query func() (kservice.Status, error)) string {
	if goos == "linux" && !systemd {
		return "no service manager on this machine (systemd is not running)"
	}
	st, err := query()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return "not installed (install the package, or run 'steward-agent install')"
	case err != nil && goos == "linux" && strings.Contains(err.Error(), "failed state"):
		return "failed: see 'journalctl -u steward-agent', fix the cause, then 'systemctl restart steward-agent'"
	case err != nil:
		return "unknown: the service manager did not answer (" + err.Error() + ")"
	case st == kservice.StatusRunning:
		return "running"
	case st == kservice.StatusStopped:
		return "stopped (start it with 'steward-agent start')"
	}
	return "unknown"
}
