package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/agent/lock"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/run"
	"github.com/nhs-steward/steward/reporting/schemes"
	"github.com/nhs-steward/steward/searches/synth"
)

// The fault matrix: ordinary faults and ordinary mistakes on the path from
// a practice's figures to the collector, each run with the real agent
// binary, a real collector over loopback HTTP and real files. After each,
// every month due is at the collector exactly once as current (or, for a
// correction, superseded once by it), nothing unfinished is stored, and the
// figures the collector holds are the figures `steward run` computes.

// faultRig is a synthetic practice, a collector whose store can be swapped
// (a restore from backup) behind one loopback address, a switch that makes
// that address answer like a lying proxy, and an enrolled agent.
type faultRig struct {
	t                        *testing.T
	dir, dbPath, config      string
	dataDir, storePath, code string

	mu      sync.Mutex
	st      *store.DB
	handler http.Handler
	lie     atomic.Value // func(http.ResponseWriter) or nil
	key     ed25519.PrivateKey
	url     string
}

func newFaultRig(t *testing.T, dataDir string) *faultRig {
	t.Helper()
	ctx := context.Background()
	r := &faultRig{t: t, dir: t.TempDir()}
	r.dbPath = filepath.Join(r.dir, "practice.db")
	db, d, err := synth.Open("sqlite:" + r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = synth.Generate(ctx, db, d, synth.Config{Patients: 300, Seed: 11,
		Start: time.Date(2020, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), Practice: "Y01234"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	r.storePath = filepath.Join(r.dir, "collector.db")
	_, r.key, _ = ed25519.GenerateKey(nil)
	r.openStore()
	if err := r.st.AddPractice(ctx, collector.Practice{ODS: "Y01234", Name: "Test Surgery", ICB: "QWE"}, "test"); err != nil {
		t.Fatal(err)
	}
	r.code = r.newCode()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if lie, _ := r.lie.Load().(func(http.ResponseWriter)); lie != nil {
			io.Copy(io.Discard, req.Body)
			lie(w)
			return
		}
		r.mu.Lock()
		h := r.handler
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { r.st.Close() })
	r.url = srv.URL
	if dataDir == "" {
		dataDir = filepath.Join(r.dir, "data")
	}
	r.dataDir = dataDir
	cfg := config.Template("Y01234", dataDir)
	cfg = strings.Replace(cfg, "url: sqlite:practice.db", "url: sqlite:"+r.dbPath, 1)
	cfg = strings.Replace(cfg, "url: https://steward.icb.example", "url: "+srv.URL, 1)
	cfg = strings.Replace(cfg, "log_level: info", "log_level: warn", 1)
	cfg = strings.Replace(cfg, "schedule:\n", "schedule:\n  first_as_of: 2025-01-31\n", 1)
	r.config = filepath.Join(r.dir, "agent.yaml")
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *faultRig) newCode() string {
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		r.t.Fatal(err)
	}
	now := time.Now()
	if err := r.st.AddEnrolmentCode(context.Background(), "Y01234", auth.HashEnrolmentCode(code), now, now.Add(time.Hour), "test"); err != nil {
		r.t.Fatal(err)
	}
	return code
}

// openStore opens the store file and serves it, keeping the collector's
// receipt key (a restored collector keeps its key file).
func (r *faultRig) openStore() {
	st, err := store.Open(context.Background(), "sqlite:"+r.storePath)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.st = st
	r.handler = server.New(server.Options{Store: st, Claims: &claims.Service{DB: st}, ReceiptKey: r.key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	r.mu.Unlock()
}

func (r *faultRig) agent(env []string, args ...string) (string, error) {
	args = append(args[:1:1], append([]string{"--config", r.config}, args[1:]...)...)
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *faultRig) mustAgent(args ...string) string {
	r.t.Helper()
	out, err := r.agent(nil, args...)
	if err != nil {
		r.t.Fatalf("steward-agent %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *faultRig) enrol() {
	r.t.Helper()
	r.mustAgent("enrol", "--code", r.code)
}

// history is every submission the collector holds, per month.
func (r *faultRig) history() map[string][]collector.Submission {
	r.t.Helper()
	hist, err := r.st.SubmissionHistory(context.Background(), store.SubmissionFilter{Practice: "Y01234", Pack: "medsip"})
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][]collector.Submission{}
	for _, s := range hist {
		out[s.AsOf] = append(out[s.AsOf], s)
	}
	return out
}

// wantAtCollector checks that the collector holds exactly the months given,
// each with n submissions of which exactly one is current, and that the
// current one's figures are steward run's for that month and baseline.
func (r *faultRig) wantAtCollector(n int, baseline string, months ...string) {
	r.t.Helper()
	h := r.history()
	if len(h) != len(months) {
		var got []string
		for m := range h {
			got = append(got, m)
		}
		r.t.Fatalf("collector holds months %v, want exactly %v", got, months)
	}
	for _, m := range months {
		subs := h[m]
		if len(subs) != n {
			r.t.Fatalf("month %s: %d submissions at the collector, want %d", m, len(subs), n)
		}
		current := 0
		for _, s := range subs {
			if s.Current() {
				current++
			}
		}
		if current != 1 {
			r.t.Fatalf("month %s: %d current submissions, want 1", m, current)
		}
		sub, err := r.st.CurrentSubmission(context.Background(), "Y01234", "medsip", m)
		if err != nil {
			r.t.Fatal(err)
		}
		want := runPack(r.t, r.dbPath, m, baseline)
		got := map[string]float64{}
		for _, row := range sub.Measures {
			if row.Value != nil {
				got[row.MeasureID] = *row.Value
			}
		}
		for _, wm := range want.Measures {
			if wm.Value != nil && got[wm.ID] != *wm.Value {
				r.t.Errorf("month %s: collector holds %s = %v, steward run computes %v", m, wm.ID, got[wm.ID], *wm.Value)
			}
		}
	}
}

func runPack(t *testing.T, dbPath, asOf, baseline string) *results.Document {
	t.Helper()
	pack, err := run.LoadPack("medsip")
	if err != nil {
		t.Fatal(err)
	}
	r, err := run.Open("sqlite:"+dbPath, "canonical", pack, "steward")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, _ := time.Parse(time.DateOnly, asOf)
	b, _ := time.Parse(time.DateOnly, baseline)
	doc, err := r.Document(context.Background(), run.Request{Practice: "Y01234", AsOf: a, Baseline: b})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func pendingFiles(t *testing.T, dataDir string) int {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dataDir, "outbox"))
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// TestFaultLyingProxy: a proxy that answers 2xx without passing the
// submission on (a 200 of its own, an empty 200, a 204, a page of HTML)
// never makes the agent count a month delivered; once the path is
// honest again the month arrives exactly once.
func TestFaultLyingProxy(t *testing.T) {
	answers := map[string]func(http.ResponseWriter){
		"200 ok": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status":"ok"}`))
		},
		"empty 200": func(w http.ResponseWriter) { w.WriteHeader(200) },
		"204":       func(w http.ResponseWriter) { w.WriteHeader(204) },
		"html": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body>Service temporarily redirected</body></html>"))
		},
	}
	r := newFaultRig(t, "")
	r.enrol()
	months := []string{"2025-01-31", "2025-02-28", "2025-03-31", "2024-12-31"}
	i := 0
	for name, lie := range answers {
		m := months[i]
		i++
		r.lie.Store(lie)
		out, err := r.agent(nil, "once", "--as-of", m)
		if err == nil {
			t.Fatalf("%s: once succeeded through a lying proxy:\n%s", name, out)
		}
		if !strings.Contains(out, "not a receipt") || !strings.Contains(out, "stays pending") {
			t.Errorf("%s: output does not say the answer was not a receipt:\n%s", name, out)
		}
		if n := pendingFiles(t, r.dataDir); n != 1 {
			t.Fatalf("%s: %d pending after the lie, want the month still pending", name, n)
		}
		if got := r.history(); len(got) != i-1 {
			t.Fatalf("%s: the collector holds %d months, want %d (the lie stored nothing)", name, len(got), i-1)
		}
		st := r.mustAgent("status")
		if !strings.Contains(st, "pending         1") {
			t.Errorf("%s: status does not show the pending month:\n%s", name, st)
		}
		r.lie.Store((func(http.ResponseWriter))(nil))
		r.mustAgent("once", "--as-of", m)
		if n := pendingFiles(t, r.dataDir); n != 0 {
			t.Fatalf("%s: %d still pending once the path is honest", name, n)
		}
	}
	r.wantAtCollector(1, "2024-03-31", months...)
	r.wantPaymentOfStewardRun("2025-03-31")
}

// TestFaultConcurrentOnce: 50 pairs of `once` started together on the
// same data folder, each pair on its own month: every month arrives once.
// And an agent that finds the folder busy for longer than it waits leaves
// the work to the other and exits 0, saying so.
func TestFaultConcurrentOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 100 agents")
	}
	r := newFaultRig(t, "")
	b, _ := os.ReadFile(r.config)
	if err := os.WriteFile(r.config, []byte(strings.Replace(string(b), "baseline: 2024-03-31", "baseline: 2020-04-30", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.enrol()
	var months []string
	for m := time.Date(2021, 2, 1, 0, 0, 0, 0, time.UTC); len(months) < 50; m = m.AddDate(0, 1, 0) {
		months = append(months, m.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	for _, m := range months {
		var wg sync.WaitGroup
		outs := make([]string, 2)
		errs := make([]error, 2)
		for k := range 2 {
			wg.Go(func() { outs[k], errs[k] = r.agent(nil, "once", "--as-of", m) })
		}
		wg.Wait()
		for k := range 2 {
			if errs[k] != nil {
				t.Fatalf("%s: once %d: %v\n%s", m, k, errs[k], outs[k])
			}
		}
	}
	r.wantAtCollector(1, "2020-04-30", months...)

	l, err := lock.Acquire(context.Background(), r.dataDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	out, err := r.agent(nil, "once", "--wait", "200ms", "--as-of", "2025-03-31")
	if err != nil {
		t.Fatalf("once beside a busy folder exited %v, want 0:\n%s", err, out)
	}
	if want := fmt.Sprintf("another steward-agent (pid %d) is running this cycle", os.Getpid()); !strings.Contains(out, want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("a busy folder is logged as an error:\n%s", out)
	}
}

// TestFaultDiskFull: a data folder on a full file system. enrol fails
// before it uses the code and leaves no key behind, so the same code works
// once there is room; a cycle fails before anything is queued, and the
// month arrives once when there is room. Needs root to mount a small tmpfs.
func TestFaultDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the data folder")
	}
	mnt := t.TempDir()
	if err := mountTmpfs(mnt, "size=512k"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unmount(mnt) })
	r := newFaultRig(t, filepath.Join(mnt, "data"))
	if err := os.MkdirAll(r.dataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fill := func() {
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
	}
	fill()
	out, err := r.agent(nil, "enrol", "--code", r.code)
	if err == nil {
		t.Fatalf("enrol on a full disk succeeded:\n%s", out)
	}
	if !strings.Contains(out, "free some space") || !strings.Contains(out, "same code") {
		t.Errorf("enrol on a full disk does not say what to do:\n%s", out)
	}
	for _, f := range []string{"practice.key", "practice.key.new", "collector.pub"} {
		if _, err := os.Stat(filepath.Join(r.dataDir, f)); err == nil {
			t.Errorf("a failed enrol left %s behind", f)
		}
	}
	os.Remove(filler)
	r.enrol() // the same code still works

	fill()
	if out, err := r.agent(nil, "once", "--as-of", "2025-03-31"); err == nil {
		t.Fatalf("a cycle on a full disk succeeded:\n%s", out)
	}
	if n := pendingFiles(t, r.dataDir); n != 0 {
		t.Fatalf("%d items queued on a full disk", n)
	}
	if len(r.history()) != 0 {
		t.Fatal("something reached the collector from a cycle on a full disk")
	}
	os.Remove(filler)
	r.mustAgent("once", "--as-of", "2025-03-31")
	r.wantAtCollector(1, "2024-03-31", "2025-03-31")
	r.wantPaymentOfStewardRun("2025-03-31")
}

// TestFaultCollectorRestoredFromBackup: the collector loses the months it
// received after its last backup; the agent's next cycle sends them again,
// and each is there once.
func TestFaultCollectorRestoredFromBackup(t *testing.T) {
	r := newFaultRig(t, "")
	r.enrol()
	r.mustAgent("once", "--as-of", "2025-01-31")
	backup := filepath.Join(r.dir, "backup.db")
	bdb, err := sql.Open("sqlite", r.storePath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bdb.Exec("VACUUM INTO ?", backup); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	r.mustAgent("once", "--as-of", "2025-02-28")
	r.mustAgent("once", "--as-of", "2025-03-31")
	r.wantAtCollector(1, "2024-03-31", "2025-01-31", "2025-02-28", "2025-03-31")

	// Restore: the store file goes back to last night's copy.
	r.st.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(r.storePath + suffix)
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.storePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r.openStore()
	if got := len(r.history()); got != 1 {
		t.Fatalf("restored store holds %d months, want 1", got)
	}
	out := r.mustAgent("once", "--as-of", "2025-03-31")
	if !strings.Contains(out, "sent again 2") {
		t.Errorf("once after the restore does not report the two months sent again:\n%s", out)
	}
	r.wantAtCollector(1, "2024-03-31", "2025-01-31", "2025-02-28", "2025-03-31")
	r.wantPaymentOfStewardRun("2025-03-31")
}

// TestFaultHalfRefreshedExtractThenCorrection: a month computed while the
// registrations table is empty is held, not sent; once the extract is
// whole it goes. A month sent with the wrong baseline is corrected with
// resend, and the collector counts the correction, with its reason.
func TestFaultHalfRefreshedExtractThenCorrection(t *testing.T) {
	r := newFaultRig(t, "")
	r.enrol()
	whole, err := os.ReadFile(r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", r.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM registrations"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out := r.mustAgent("once", "--as-of", "2025-03-31")
	if !strings.Contains(out, "held 2025-03-31") || !strings.Contains(out, "registered adults") {
		t.Errorf("once on an empty registrations table does not hold the month:\n%s", out)
	}
	if len(r.history()) != 0 || pendingFiles(t, r.dataDir) != 0 {
		t.Fatal("a month from an empty registrations table was queued or sent")
	}
	if st := r.mustAgent("status"); !strings.Contains(st, "held 2025-03-31") {
		t.Errorf("status does not show the held month:\n%s", st)
	}
	if err := os.WriteFile(r.dbPath, whole, 0o600); err != nil {
		t.Fatal(err)
	}
	// April, from an extract last refreshed in March: held too.
	out = r.mustAgent("once", "--as-of", "2025-04-30")
	if !strings.Contains(out, "held 2025-04-30") || !strings.Contains(out, "extract ends before the month does") {
		t.Errorf("once on an extract that ends in March does not hold April:\n%s", out)
	}
	r.mustAgent("once", "--as-of", "2025-03-31")
	if st := r.mustAgent("status"); strings.Contains(st, "held 2025-03-31") {
		t.Errorf("status still shows the month held after it was sent:\n%s", st)
	}
	r.wantAtCollector(1, "2024-03-31", "2025-03-31")
	r.wantPaymentOfStewardRun("2025-03-31")

	// The baseline was wrong: the practice manager corrects the config and
	// resends with a reason.
	b, _ := os.ReadFile(r.config)
	if err := os.WriteFile(r.config, []byte(strings.Replace(string(b), "baseline: 2024-03-31", "baseline: 2023-03-31", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := r.agent(nil, "resend", "--as-of", "2025-03-31"); err == nil || !strings.Contains(out, "--reason is required") {
		t.Fatalf("resend without a reason: %v\n%s", err, out)
	}
	r.mustAgent("resend", "--as-of", "2025-03-31", "--reason", "baseline corrected to 2023-03-31")
	r.wantAtCollector(2, "2023-03-31", "2025-03-31")
	cur, err := r.st.CurrentSubmission(context.Background(), "Y01234", "medsip", "2025-03-31")
	if err != nil {
		t.Fatal(err)
	}
	if cur.CorrectionReason != "baseline corrected to 2023-03-31" || cur.Corrects == "" || cur.Baseline != "2023-03-31" {
		t.Errorf("current submission: reason %q, corrects %q, baseline %q", cur.CorrectionReason, cur.Corrects, cur.Baseline)
	}
}

// TestFaultClockAhead: an agent whose clock is 3 months or 8 years ahead
// computes and sends nothing, and says why; with the clock right, the
// months go.
func TestFaultClockAhead(t *testing.T) {
	r := newFaultRig(t, "")
	r.enrol()
	for _, offset := range []string{"2200h", "70128h"} {
		out, _ := r.agent([]string{"STEWARD_AGENT_CLOCK_OFFSET=" + offset}, "once")
		if !strings.Contains(out, "clock") || !strings.Contains(out, "held") {
			t.Errorf("offset %s: once does not hold months for the clock:\n%s", offset, out)
		}
		if len(r.history()) != 0 || pendingFiles(t, r.dataDir) != 0 {
			t.Fatalf("offset %s: a month was queued or sent with the clock wrong", offset)
		}
	}
	r.mustAgent("once", "--as-of", "2025-03-31")
	r.wantAtCollector(1, "2024-03-31", "2025-03-31")
	r.wantPaymentOfStewardRun("2025-03-31")
}

// TestCheckNamesASchemeBaselineMismatch: check asks the collector which
// schemes include the practice, and fails with the fix when the agent's
// baseline is not the one a scheme pays on.
func TestCheckNamesASchemeBaselineMismatch(t *testing.T) {
	r := newFaultRig(t, "")
	r.enrol()
	example, err := os.ReadFile("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("2026-27", "2024-25", "2026/27", "2024/25", "2026-", "2024-", "2027-", "2025-",
		"icb: QXX", "icb: QWE", "  - Y01001\n  - Y01002\n  - Y01003\n  - Y01004\n", "  - Y01234\n").Replace(string(example))
	sc, err := schemes.Parse("scheme", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddScheme(context.Background(), store.StoredScheme{ID: sc.ID, YAML: yaml, AddedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	out := r.mustAgent("check")
	if !strings.Contains(out, "ok    scheme "+sc.ID) {
		t.Errorf("check does not confirm the scheme:\n%s", out)
	}
	b, _ := os.ReadFile(r.config)
	if err := os.WriteFile(r.config, []byte(strings.Replace(string(b), "baseline: "+sc.Baseline, "baseline: 2023-03-31", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = r.agent(nil, "check")
	if processExit(err) != 3 || !strings.Contains(out, "baseline "+sc.Baseline) || !strings.Contains(out, "steward-agent resend") {
		t.Errorf("check with the wrong baseline: exit %d\n%s", processExit(err), out)
	}
}

// wantPaymentOfStewardRun reconciles the example scheme (moved to 2024/25
// for this practice) for the month ending asOf and checks that the
// collector pays exactly what the scheme pays on the figures `steward run`
// computes from the practice database.
func (r *faultRig) wantPaymentOfStewardRun(asOf string) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	example, err := os.ReadFile("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("2026-27", "2024-25", "2026/27", "2024/25", "2026-", "2024-", "2027-", "2025-",
		"icb: QXX", "icb: QWE", "late_submissions: withhold", "late_submissions: pay",
		"  - Y01001\n  - Y01002\n  - Y01003\n  - Y01004\n", "  - Y01234\n").Replace(string(example))
	sc, err := schemes.Parse("scheme", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Scheme(ctx, sc.ID); err != nil {
		if err := r.st.AddScheme(ctx, store.StoredScheme{ID: sc.ID, YAML: yaml, AddedBy: "test"}); err != nil {
			t.Fatal(err)
		}
		if err := r.st.SetListSizes(ctx, []store.ListSize{{Practice: "Y01234", Month: "2024-04", Size: 300}}, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := r.st.RecordDeclaration(ctx, store.Declaration{Scheme: sc.ID, Practice: "Y01234", Declaration: "opioid_lead_named",
			FromPeriod: "2024-04", Made: true, RecordedAt: time.Now(), RecordedBy: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	period := asOf[:7]
	out, err := (&claims.Service{DB: r.st}).Calculate(ctx, sc, period, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rec.Practices) != 1 || out.Rec.Practices[0].Missing {
		t.Fatalf("reconciliation of %s = %+v", period, out.Rec.Practices)
	}
	got := out.Rec.Practices[0]
	figures := schemes.FiguresFromDocument(runPack(t, r.dbPath, asOf, sc.Baseline), got.SubmissionID, got.ReceivedAt)
	size := int64(300)
	figures.ListSize, figures.Declarations = &size, []string{"opioid_lead_named"}
	want, err := schemes.Evaluate(sc, period, []schemes.PracticeFigures{figures})
	if err != nil {
		t.Fatal(err)
	}
	w := want.Practices[0]
	if got.TotalPence != w.TotalPence || !reflect.DeepEqual(got.Elements, w.Elements) {
		t.Fatalf("%s: the collector pays %d on %+v; steward run's figures pay %d on %+v", period, got.TotalPence, got.Elements, w.TotalPence, w.Elements)
	}
}

// TestFaultAgentFiles: the agent's own files damaged or missing. An empty
// practice key left by an old failed enrolment is replaced by the next
// enrol; a pinned collector key that is lost is pinned again on first use
// (from the collector's signed receipt list); a damaged one stops the agent
// with the fix; a month the collector holds that this agent's outbox lost
// is reported, not sent twice.
func TestFaultAgentFiles(t *testing.T) {
	r := newFaultRig(t, "")
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dataDir, "practice.key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.enrol()
	pinned := filepath.Join(r.dataDir, "collector.pub")
	first, err := os.ReadFile(pinned)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(pinned)
	out := r.mustAgent("once", "--as-of", "2025-02-28")
	if again, err := os.ReadFile(pinned); err != nil || string(again) != string(first) {
		t.Fatalf("the collector key was not pinned again (%v):\n%s", err, out)
	}
	if err := os.WriteFile(pinned, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = r.agent(nil, "once", "--as-of", "2025-03-31")
	if processExit(err) != 3 || !strings.Contains(out, "is corrupt: delete it") {
		t.Fatalf("once with a damaged pinned key: exit %d\n%s", processExit(err), out)
	}
	if err := os.WriteFile(pinned, first, 0o600); err != nil {
		t.Fatal(err)
	}
	// The outbox loses February (a restore of the practice server from an
	// old backup): the collector still holds it.
	sent, _ := filepath.Glob(filepath.Join(r.dataDir, "sent", "2025-02-28_*.json"))
	if len(sent) != 1 {
		t.Fatalf("sent files for February: %v", sent)
	}
	os.Remove(sent[0])
	r.mustAgent("once", "--as-of", "2025-03-31")
	if st := r.mustAgent("status"); !strings.Contains(st, "unknown 2025-02-28") {
		t.Errorf("status does not report the month the collector holds and the agent never sent:\n%s", st)
	}
	r.wantAtCollector(1, "2024-03-31", "2025-02-28", "2025-03-31")
}
