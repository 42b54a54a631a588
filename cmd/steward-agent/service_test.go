package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/nhs-steward/steward/agent"
	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/agent/logging"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/run"
	"github.com/nhs-steward/steward/reporting/wire"
)

// eventLog records what the agent writes to the Windows Event Log (a
// kardianos/service Logger), which cannot run here.
type eventLog struct {
	mu      sync.Mutex
	entries []string // "kind: text"
}

func (l *eventLog) add(kind string, v []any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, kind+": "+fmt.Sprint(v...))
	return nil
}

func (l *eventLog) Error(v ...any) error   { return l.add("error", v) }
func (l *eventLog) Warning(v ...any) error { return l.add("warning", v) }
func (l *eventLog) Info(v ...any) error    { return l.add("info", v) }

func (l *eventLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.entries, "\n")
}

var _ logging.Sink = (*eventLog)(nil)

// serviceEnv loads the agent's config as `run` does under the Windows
// service manager: every log record goes to sink, debug included.
func serviceEnv(t *testing.T, path string, sink logging.Sink) *env {
	t.Helper()
	e, err := loadEnv(path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e.log = slog.New(logging.NewHandler(sink, &logging.Options{Level: slog.LevelDebug}))
	return e
}

func monthEnd(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// lastHeartbeat is the latest heartbeat the collector stored for Y01234.
func lastHeartbeat(t *testing.T, st *store.DB) wire.Heartbeat {
	t.Helper()
	hbs, err := st.LastHeartbeats(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	h, ok := hbs["Y01234"]
	if !ok {
		t.Fatal("the collector holds no heartbeat from Y01234")
	}
	var hb wire.Heartbeat
	if err := json.Unmarshal(h.Body, &hb); err != nil {
		t.Fatal(err)
	}
	return hb
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// useDatabaseURLFile points the fixture's config at a url_file holding
// dbURL, as the install guide tells practices to do with a password.
func (f *fixture) useDatabaseURLFile(t *testing.T, dbURL string) {
	t.Helper()
	urlFile := filepath.Join(f.dir, "agent-database-url")
	if err := os.WriteFile(urlFile, []byte(dbURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, old := range []string{"url: sqlite:" + f.dbPath, "url_file: " + urlFile} {
		cfg = strings.Replace(cfg, old, "url_file: "+urlFile, 1)
	}
	if !strings.Contains(cfg, "url_file: "+urlFile) {
		t.Fatal("could not point the config at the url file")
	}
	if err := os.WriteFile(f.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHeartbeatCarriesEachSearchOfThePack runs cycles in process against a
// synthetic SQLite practice and the real collector on loopback: the
// heartbeat the collector stores names every search of the MedSIP pack
// with its outcome, and says failed for each once the database cannot be
// reached, from a restarted agent too.
func TestHeartbeatCarriesEachSearchOfThePack(t *testing.T) {
	f := newFixture(t, 300, "")
	ctx := context.Background()
	pack, err := run.LoadPack("medsip")
	if err != nil {
		t.Fatal(err)
	}
	rec := &eventLog{}
	e := serviceEnv(t, f.config, rec)
	c, err := e.client()
	if err != nil {
		t.Fatal(err)
	}
	ag, err := e.agent(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ag.Cycle(ctx, monthEnd("2025-03-31")); err != nil {
		t.Fatalf("cycle: %v\nlog:\n%s", err, rec.text())
	}
	if err := ag.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	hb := lastHeartbeat(t, f.st)
	if got, want := len(hb.Searches), len(pack.Searches); got != want || want == 0 {
		t.Fatalf("heartbeat has %d search statuses, want one per search of the pack (%d): %+v", got, want, hb.Searches)
	}
	for i, s := range hb.Searches {
		if s.Search != pack.Searches[i].ID || s.Status != agent.StatusOK || s.Rows <= 0 || s.DurationMS <= 0 {
			t.Errorf("status %d = %+v, want search %s ok with rows read and a duration", i, s, pack.Searches[i].ID)
		}
		if _, err := time.Parse(time.RFC3339, s.At); err != nil {
			t.Errorf("status %s at %q: %v", s.Search, s.At, err)
		}
	}

	// The database goes away (a server nothing answers on): a restarted
	// agent's run fails, and its heartbeat says so for every search.
	f.useDatabaseURLFile(t, "postgres://steward_reader:pw@"+closedAddr(t)+"/reporting")
	e2 := serviceEnv(t, f.config, rec)
	c2, err := e2.client()
	if err != nil {
		t.Fatal(err)
	}
	ag2, err := e2.agent(c2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ag2.Cycle(ctx, monthEnd("2025-02-28")); err == nil {
		t.Fatal("a cycle with the database unreachable reported no error")
	}
	if err := ag2.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	hb = lastHeartbeat(t, f.st)
	if got, want := len(hb.Searches), len(pack.Searches); got != want {
		t.Fatalf("heartbeat has %d search statuses after the failure, want %d", got, want)
	}
	for i, s := range hb.Searches {
		if s.Search != pack.Searches[i].ID || s.Status != agent.StatusFailed {
			t.Errorf("status %d = %+v, want search %s failed", i, s, pack.Searches[i].ID)
		}
	}
	st, err := (&agent.StateFile{Path: dataPath(e2, "state.json")}).Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Searches {
		if s.Error != "database unreachable" || s.AsOf != "2025-02-28" {
			t.Errorf("state keeps %+v, want the fixed reason 'database unreachable' as of 2025-02-28", s)
		}
	}
}

// TestDatabasePasswordNeverReachesTheLogs runs a cycle whose database URL
// (from url_file) holds a password, in forms whose driver or parser
// messages would quote it, with every record at debug level going to the
// Event Log handler: neither the log, nor the state file, nor the
// heartbeat, nor the cycle's error holds the password.
func TestDatabasePasswordNeverReachesTheLogs(t *testing.T) {
	const pw = "Pw-5ecret7q"
	f := newFixture(t, 50, "")
	ctx := context.Background()
	addr := closedAddr(t)
	cases := []struct{ name, url string }{
		{"postgres unreachable", "postgres://steward_reader:" + pw + "@" + addr + "/reporting"},
		{"sql server unreachable", "sqlserver://steward_reader:" + pw + "@" + addr + "?database=Reporting"},
		{"url that does not parse", "postgres://steward_reader:" + pw + "%zz@" + addr + "/reporting"},
		{"key=value string", "host=127.0.0.1 user=steward_reader password=" + pw + " dbname=reporting"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.useDatabaseURLFile(t, c.url)
			rec := &eventLog{}
			e := serviceEnv(t, f.config, rec)
			cl, err := e.client()
			if err != nil {
				t.Fatal(err)
			}
			ag, err := e.agent(cl)
			if err != nil {
				t.Fatal(err)
			}
			_, cerr := ag.Cycle(ctx, monthEnd("2025-03-31"))
			if cerr == nil {
				t.Fatal("the cycle did not fail")
			}
			if err := ag.Heartbeat(ctx); err != nil {
				t.Fatal(err)
			}
			log := rec.text()
			if !strings.Contains(log, "error: run failed") || !strings.Contains(log, "info: performing request") {
				t.Fatalf("the failure, or the debug records, were not logged:\n%s", log)
			}
			state, err := os.ReadFile(dataPath(e, "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			hb, _ := json.Marshal(lastHeartbeat(t, f.st))
			for what, text := range map[string]string{"log": log, "state file": string(state), "heartbeat": string(hb), "cycle error": cerr.Error()} {
				if strings.Contains(text, pw) {
					t.Errorf("the %s holds the database password:\n%s", what, text)
				}
			}
		})
	}
}

// TestRunWithoutAUsableConfigExitsWithTheConfigCode runs `run` from a
// terminal with no config, and with an invalid one: exit code 3, and a
// message naming the file and what to do.
func TestRunWithoutAUsableConfigExitsWithTheConfigCode(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("version: 1\npractice: y1\nfrobnicate: yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	cases := []struct {
		config string
		want   []string
	}{
		{missing, []string{"no config at " + missing, "steward-agent init --config " + missing, "steward-agent check --config " + missing}},
		{invalid, []string{"config " + invalid + " cannot be used", invalid + ":2:11: practice \"y1\" is not an ODS code",
			invalid + ":3:1: unknown key \"frobnicate\"", "steward-agent check --config " + invalid}},
	}
	for _, c := range cases {
		cmd := exec.Command(agentBin, "run", "--config", c.config)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != cli.ExitConfig {
			t.Errorf("run --config %s: %v, want exit code %d\n%s", c.config, err, cli.ExitConfig, stderr.String())
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("run --config %s: stderr lacks %q:\n%s", c.config, w, stderr.String())
			}
		}
	}
}

// managedHost is a service manager for in-process tests: its Event Log is
// rec, and serve runs the program the way the manager would.
func managedHost(rec *eventLog, serve func(p kservice.Interface) error) host {
	return host{managed: true, sink: rec, serve: serve}
}

// TestRunUnderAServiceManagerLogsWhyItCannotStart: under the Windows
// service manager stderr goes nowhere, so a missing config, an invalid
// one, or an agent that was never enrolled must be written to the Event
// Log, reported to the service manager as a failed start, and exit with
// code 3.
func TestRunUnderAServiceManagerLogsWhyItCannotStart(t *testing.T) {
	dir := t.TempDir()
	notEnrolled := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(notEnrolled, []byte(config.Template("Y01234", filepath.Join(dir, "data"))), 0o600); err != nil {
		t.Fatal(err)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	if err := os.WriteFile(invalid, []byte("version: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	cases := []struct {
		config string
		want   []string
	}{
		{missing, []string{"no config at " + missing, "steward-agent init --config " + missing}},
		{invalid, []string{invalid + ":1:10: version 2 is not supported", "steward-agent check --config " + invalid}},
		{notEnrolled, []string{"no practice key at " + filepath.Join(dir, "data", "practice.key"), "steward-agent enrol --code CODE"}},
	}
	for _, c := range cases {
		rec := &eventLog{}
		var startErr error
		served := 0
		h := managedHost(rec, func(p kservice.Interface) error {
			served++
			startErr = p.Start(nil)
			return startErr
		})
		var stderr bytes.Buffer
		err := runAgent(context.Background(), h, c.config, time.Minute, cli.IO{Out: io.Discard, Err: &stderr})
		if got := exitCode(err); got != cli.ExitConfig {
			t.Errorf("%s: exit code %d (%v), want %d", c.config, got, err, cli.ExitConfig)
		}
		if served != 1 || startErr == nil || startErr.Error() != err.Error() {
			t.Errorf("%s: the service manager saw %d start(s), failing with %v; want one failed start with the error", c.config, served, startErr)
		}
		log := rec.text()
		if len(rec.entries) != 1 || !strings.HasPrefix(log, "error: steward-agent cannot start: ") {
			t.Errorf("%s: event log = %q, want one error entry", c.config, log)
		}
		for _, w := range c.want {
			if !strings.Contains(log, w) {
				t.Errorf("%s: event log lacks %q:\n%s", c.config, w, log)
			}
		}
		if !strings.Contains(log, "exit_code=3") {
			t.Errorf("%s: event log does not give the exit code:\n%s", c.config, log)
		}
	}
}

// TestRunUnderAServiceManagerLogsToTheEventLog starts the real service
// loop as the Windows service manager would: its records go to the Event
// Log sink (and none to stderr), it reaches the collector, and it stops
// cleanly when the manager stops it.
func TestRunUnderAServiceManagerLogsToTheEventLog(t *testing.T) {
	// Nothing is due before 2099: the loop only sends its heartbeat.
	f := newFixture(t, 50, "  first_as_of: 2099-12-31\n")
	b, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.config, []byte(strings.Replace(string(b), "log_level: warn", "log_level: info", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := &eventLog{}
	var stopErr error
	h := managedHost(rec, func(p kservice.Interface) error {
		if err := p.Start(nil); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			hbs, err := f.st.LastHeartbeats(context.Background(), "")
			if err != nil {
				return err
			}
			if _, ok := hbs["Y01234"]; ok {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("no heartbeat reached the collector")
			}
			time.Sleep(20 * time.Millisecond)
		}
		stopErr = p.Stop(nil)
		return nil
	})
	var stderr bytes.Buffer
	if err := runAgent(context.Background(), h, f.config, time.Hour, cli.IO{Out: io.Discard, Err: &stderr}); err != nil {
		t.Fatalf("run: %v\nevent log:\n%s", err, rec.text())
	}
	if stopErr != nil {
		t.Errorf("stop: %v", stopErr)
	}
	log := rec.text()
	for _, w := range []string{"info: steward-agent running practice=Y01234 config=" + f.config, "info: steward-agent stopped"} {
		if !strings.Contains(log, w) {
			t.Errorf("event log lacks %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "performing request") {
		t.Errorf("debug records reached the event log with log_level info:\n%s", log)
	}
	if stderr.Len() != 0 {
		t.Errorf("under the service manager the agent wrote to stderr:\n%s", stderr.String())
	}
}

func TestServiceState(t *testing.T) {
	answer := func(st kservice.Status, err error) func() (kservice.Status, error) {
		return func() (kservice.Status, error) { return st, err }
	}
	cases := []struct {
		goos    string
		systemd bool
		query   func() (kservice.Status, error)
		want    string
	}{
		{"linux", false, func() (kservice.Status, error) {
			t.Error("asked the service manager on a machine without one")
			return kservice.StatusUnknown, errors.New("exit status 1")
		}, "no service manager on this machine (systemd is not running)"},
		{"linux", true, answer(kservice.StatusUnknown, kservice.ErrNotInstalled), "not installed (install the package, or run 'steward-agent install')"},
		{"linux", true, answer(kservice.StatusRunning, nil), "running"},
		{"linux", true, answer(kservice.StatusStopped, nil), "stopped (start it with 'steward-agent start')"},
		{"linux", true, answer(kservice.StatusUnknown, errors.New("service in failed state")), "failed: see 'journalctl -u steward-agent', fix the cause, then 'systemctl restart steward-agent'"},
		{"windows", false, answer(kservice.StatusUnknown, kservice.ErrNotInstalled), "not installed (install the package, or run 'steward-agent install')"},
		{"windows", false, answer(kservice.StatusRunning, nil), "running"},
		{"windows", false, answer(kservice.StatusUnknown, errors.New("Access is denied.")), "unknown: the service manager did not answer (Access is denied.)"},
	}
	for _, c := range cases {
		if got := serviceState(c.goos, c.systemd, c.query); got != c.want {
			t.Errorf("serviceState(%s, systemd %v) = %q, want %q", c.goos, c.systemd, got, c.want)
		}
	}
}

// TestStatusAfterACycle runs a cycle, then `status`: the service line says
// something useful (never a bare "exit status 1"), and the last run, last
// delivery, pending outbox, bundle and each search's outcome are shown.
func TestStatusAfterACycle(t *testing.T) {
	f := newFixture(t, 300, "")
	if out, err := f.agent(nil, "once", "--as-of", "2025-03-31"); err != nil {
		t.Fatalf("once: %v\n%s", err, out)
	}
	out, err := f.agent(nil, "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if len(l) > 16 {
			lines[strings.TrimSpace(l[:15])] = l[16:]
		}
	}
	svc := lines["service"]
	if svc == "" || strings.Contains(svc, "exit status") || strings.HasPrefix(svc, "unknown") {
		t.Errorf("service line %q says nothing useful", svc)
	}
	if runtime.GOOS == "linux" && !systemdRunning() && svc != "no service manager on this machine (systemd is not running)" {
		t.Errorf("without systemd the service line is %q", svc)
	}
	for _, k := range []string{"last run", "last delivery", "last heartbeat"} {
		if _, err := time.Parse(time.RFC3339, lines[k]); err != nil {
			t.Errorf("%s = %q, want a time", k, lines[k])
		}
	}
	if lines["pending"] != "0" || !strings.HasPrefix(lines["searches"], "built-in medsip ") || lines["last error"] != "-" {
		t.Errorf("status:\n%s", out)
	}
	if s := lines["search medsip"]; !strings.HasPrefix(s, "ok, as of 2025-03-31, ") || !strings.Contains(s, " rows in ") {
		t.Errorf("search line %q, want the outcome of the medsip search:\n%s", s, out)
	}
}
