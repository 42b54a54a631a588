package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/schemes"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/searches/synth"
)

// agentBin is the steward-agent binary the end-to-end tests run as a
// separate process, so it can be killed like a real service.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "steward-agent-e2e")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "steward-agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build steward-agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture is a synthetic practice, a real collector on loopback, and an
// enrolled agent config.
type fixture struct {
	dir, dbPath, config string
	st                  *store.DB
}

func newFixture(t *testing.T, patients int, schedule string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	f.dbPath = filepath.Join(f.dir, "practice.db")
	db, d, err := synth.Open("sqlite:" + f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = synth.Generate(ctx, db, d, synth.Config{Patients: patients, Seed: 7,
		Start: time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), Practice: "Y01234"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f.st, err = store.Open(ctx, "sqlite:"+filepath.Join(f.dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if err := f.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.st.AddPractice(ctx, collector.Practice{ODS: "Y01234", Name: "Test Surgery", ICB: "QWE"}, "test"); err != nil {
		t.Fatal(err)
	}
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := f.st.AddEnrolmentCode(ctx, "Y01234", auth.HashEnrolmentCode(code), now, now.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Store: f.st}).Handler())
	t.Cleanup(srv.Close)

	cfg := config.Template("Y01234", filepath.Join(f.dir, "data"))
	cfg = strings.Replace(cfg, "url: sqlite:practice.db", "url: sqlite:"+f.dbPath, 1)
	cfg = strings.Replace(cfg, "url: https://steward.icb.example", "url: "+srv.URL, 1)
	cfg = strings.Replace(cfg, "log_level: info", "log_level: warn", 1)
	if schedule != "" {
		cfg = strings.Replace(cfg, "schedule:\n", "schedule:\n"+schedule, 1)
	}
	// The synthetic extract ends in March 2025 while months fall due up
	// to today: the extract-age check is off for these tests.
	cfg += "quality:\n  max_extract_age_days: 0\n"
	f.config = filepath.Join(f.dir, "agent.yaml")
	if err := os.WriteFile(f.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := f.agent(nil, "enrol", "--code", code); err != nil {
		t.Fatalf("enrol: %v\n%s", err, out)
	}
	return f
}

func (f *fixture) agent(env []string, args ...string) ([]byte, error) {
	args = append(args[:1:1], append([]string{"--config", f.config}, args[1:]...)...)
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func TestCycleLandsTheSameFiguresAsStewardRun(t *testing.T) {
	f := newFixture(t, 1500, "")
	if out, err := f.agent(nil, "once", "--as-of", "2025-03-31"); err != nil {
		t.Fatalf("once: %v\n%s", err, out)
	}
	got, body := collectorDocument(t, f.st, "2025-03-31")
	want := stewardRun(t, f.dbPath)
	gm, _ := json.Marshal(got.Measures)
	wm, _ := json.Marshal(want.Measures)
	if !bytes.Equal(gm, wm) {
		t.Fatalf("collector holds\n%s\nsteward run gives\n%s", gm, wm)
	}
	if lt := got.Find("long_term"); lt == nil || *lt.Value == 0 {
		t.Fatalf("long_term is %v: the practice should have long-term users", lt)
	}
	scanPayload(t, f.dbPath, body)
}

// stewardRun is what 'steward run' computes for the practice as of
// 2025-03-31, baseline 2024-03-31.
func stewardRun(t *testing.T, dbPath string) *results.Document {
	t.Helper()
	return runPack(t, dbPath, "2025-03-31", "2024-03-31")
}

// collectorDocument is the document the collector holds as current for
// Y01234's month ending asOf, decoded, and its body as received.
func collectorDocument(t *testing.T, st *store.DB, asOf string) (*results.Document, []byte) {
	t.Helper()
	sub, err := st.CurrentSubmission(context.Background(), "Y01234", "medsip", asOf)
	if err != nil {
		t.Fatalf("no submission at the collector: %v", err)
	}
	doc, err := results.Decode(bytes.NewReader(sub.Body))
	if err != nil {
		t.Fatal(err)
	}
	return doc, sub.Body
}

// scanPayload checks that no byte of an uploaded payload holds a patient id,
// a date of birth, or any dm+d or SNOMED code of an individual's record.
func scanPayload(t *testing.T, dbPath string, body []byte) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var doc results.Document
	_ = json.Unmarshal(body, &doc)
	// Codelist hashes are hex and could hold any run of digits by chance:
	// they name reference data, not patients, so they are left out.
	payload := regexp.MustCompile(`"sha256":\s*"[0-9a-f]+"`).ReplaceAllString(string(body), `"sha256":""`)
	allowedDates := map[string]bool{doc.AsOf: true, doc.Baseline: true}
	check := func(what, query string, minLen int) int {
		rows, err := db.Query(query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if len(v) < minLen || allowedDates[v] {
				continue
			}
			n++
			if strings.Contains(payload, v) {
				t.Errorf("payload holds %s %q", what, v)
			}
		}
		return n
	}
	if n := check("date of birth", "SELECT DISTINCT date_of_birth FROM patients", 10); n == 0 {
		t.Fatal("no dates of birth to check")
	}
	if n := check("dm+d code", "SELECT DISTINCT dmd_code FROM medication_issues", 6); n == 0 {
		t.Fatal("no dm+d codes to check")
	}
	if n := check("SNOMED code", "SELECT DISTINCT snomed_code FROM clinical_events", 6); n == 0 {
		t.Fatal("no SNOMED codes to check")
	}
	if n := check("patient id", "SELECT CAST(patient_id AS TEXT) FROM patients", 6); n == 0 {
		t.Fatal("no patient ids of 6 digits or more to check")
	}
}

// TestKilledAtAnyPointDeliversEachMonthExactlyOnce kills the agent with
// SIGKILL at every checkpoint of a multi-month catch-up cycle, and at random
// moments, restarting it each time; at the end every due month must be at
// the collector exactly once.
func TestKilledAtAnyPointDeliversEachMonthExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the agent 60 times")
	}
	f := newFixture(t, 400, "  first_as_of: 2024-11-30\n")
	b, _ := os.ReadFile(f.config)
	if err := os.WriteFile(f.config, []byte(strings.Replace(string(b), "catch_up_months: 12", "catch_up_months: 36", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	kills := 0
	rng := rand.New(rand.NewPCG(1, 2))
	steps := map[string]int{}
	converged := false
	for i := 0; i < 400 && !converged; i++ {
		if i < 60 && i%5 == 4 {
			// A random moment early on: kill the process from outside.
			cmd := exec.Command(agentBin, "once", "--config", f.config)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rng.IntN(80)) * time.Millisecond)
			_ = cmd.Process.Kill()
			if err := cmd.Wait(); err != nil {
				kills++
			}
			continue
		}
		// A crash point: the run dies at its n-th checkpoint, so the cycle
		// advances a few steps per run and every step of every month
		// (before the run, around queueing, around the upload, after the
		// acknowledgement is recorded) is a kill point at some time.
		n := 1 + rng.IntN(4)
		out, err := f.agent([]string{fmt.Sprintf("STEWARD_AGENT_KILL_AT=%d", n)}, "once")
		if err == nil {
			converged = true // the whole cycle ran without reaching checkpoint n
			continue
		}
		if _, after, ok := strings.Cut(string(out), "crash injection: killed at checkpoint "); ok {
			kills++
			if _, step, ok := strings.Cut(after, "("); ok {
				steps[strings.SplitN(step, ")", 2)[0]]++
			}
		} else {
			t.Fatalf("once failed without a crash injection:\n%s", out)
		}
	}
	if kills < 50 {
		t.Fatalf("only %d kills landed before the cycle completed; want at least 50", kills)
	}
	for _, s := range []string{"before-run", "before-queue", "after-queue", "before-submit", "after-submit", "after-mark-sent"} {
		if steps[s] == 0 {
			t.Errorf("no kill landed at %s (kills by step: %v)", s, steps)
		}
	}
	if out, err := f.agent(nil, "once"); err != nil {
		t.Fatalf("final once: %v\n%s", err, out)
	}
	ctx := context.Background()
	hist, err := f.st.SubmissionHistory(ctx, store.SubmissionFilter{Practice: "Y01234", Pack: "medsip"})
	if err != nil {
		t.Fatal(err)
	}
	perMonth := map[string]int{}
	for _, s := range hist {
		perMonth[s.AsOf]++
	}
	due := dueMonths(time.Now())
	if len(due) == 0 {
		t.Fatal("no months due")
	}
	for _, m := range due {
		if perMonth[m] != 1 {
			t.Errorf("month %s arrived %d times, want exactly once", m, perMonth[m])
		}
	}
	if len(perMonth) != len(due) {
		t.Errorf("collector holds months %v, want exactly %v", perMonth, due)
	}
	out, _ := f.agent(nil, "status")
	if !strings.Contains(string(out), "pending         0") {
		t.Errorf("status after recovery:\n%s", out)
	}
	t.Logf("%d kills; %d months each delivered once", kills, len(due))
}

// dueMonths mirrors the schedule of the kill test: month ends from
// 2024-11-30 to the last one due on now (day 5 at 02:00).
func dueMonths(now time.Time) []string {
	latest := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	if now.Before(time.Date(now.Year(), now.Month(), 5, 2, 0, 0, 0, now.Location())) {
		latest = time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	}
	var out []string
	for m := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC); !m.AddDate(0, 0, -1).After(latest); m = m.AddDate(0, 1, 0) {
		out = append(out, m.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	return out
}

// TestReconcileEqualsStewardRun: a practice enrolled with a code delivers
// one cycle, and the collector's reconciliation of the example scheme
// (moved to 2024/25 for this practice) pays on exactly the figures
// 'steward run' computes on the same database.
func TestReconcileEqualsStewardRun(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 1500, "")
	if out, err := f.agent(nil, "once", "--as-of", "2025-03-31"); err != nil {
		t.Fatalf("once: %v\n%s", err, out)
	}
	example, err := os.ReadFile("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer("2026-27", "2024-25", "2026/27", "2024/25", "2026-", "2024-", "2027-", "2025-",
		"icb: QXX", "icb: QWE", "late_submissions: withhold", "late_submissions: pay",
		"  - Y01001\n  - Y01002\n  - Y01003\n  - Y01004\n", "  - Y01234\n").Replace(string(example))
	sc, err := schemes.Parse("scheme", []byte(yaml))
	if err != nil {
		t.Fatalf("shifted example scheme: %v", err)
	}
	if err := f.st.AddScheme(ctx, store.StoredScheme{ID: sc.ID, YAML: yaml, AddedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetListSizes(ctx, []store.ListSize{{Practice: "Y01234", Month: "2024-04", Size: 1500}}, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecordDeclaration(ctx, store.Declaration{Scheme: sc.ID, Practice: "Y01234", Declaration: "opioid_lead_named",
		FromPeriod: "2024-04", Made: true, RecordedAt: time.Now(), RecordedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	out, err := (&claims.Service{DB: f.st}).Calculate(ctx, sc, "2025-03", "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rec.Practices) != 1 || out.Rec.Practices[0].Missing {
		t.Fatalf("reconciliation = %+v", out.Rec.Practices)
	}
	got := out.Rec.Practices[0]

	// The same scheme on steward run's document.
	doc := stewardRun(t, f.dbPath)
	figures := schemes.FiguresFromDocument(doc, got.SubmissionID, got.ReceivedAt)
	size := int64(1500)
	figures.ListSize, figures.Declarations = &size, []string{"opioid_lead_named"}
	want, err := schemes.Evaluate(sc, "2025-03", []schemes.PracticeFigures{figures})
	if err != nil {
		t.Fatal(err)
	}
	w := want.Practices[0]
	if !got.Gateway.Pass || got.TotalPence != w.TotalPence || !reflect.DeepEqual(got.Elements, w.Elements) {
		t.Fatalf("collector pays %d on %+v\nsteward run's figures pay %d on %+v", got.TotalPence, got.Elements, w.TotalPence, w.Elements)
	}
	reviewed := doc.Find("long_term_reviewed")
	if a := got.Elements[0].A; a == nil || float64(*a) != *reviewed.Numerator || *a == 0 {
		t.Fatalf("lt_reviews A = %v, steward run's long_term_reviewed numerator %v", a, *reviewed.Numerator)
	}
	t.Logf("Y01234 2025-03: %d long-term users reviewed of %v, payable £%s", *got.Elements[0].A, *reviewed.Denominator, schemes.FormatPence(got.TotalPence))
}

// TestPracticeManagerCommands runs init, check, preview and worklist as a
// practice manager would, against a synthetic practice and a real
// collector: check reaches everything, preview prints what steward run
// computes and sends nothing, and the worklist lists exactly the
// long-term users without a review (as the measures count them), never a
// patient without opioids, in a file only its owner can read, sent
// nowhere.
func TestPracticeManagerCommands(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 2500, "")

	// init writes a config and will not overwrite it.
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if out, err := exec.Command(agentBin, "init", "--config", cfg, "--practice", "y09999").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "next: fill in the values marked CHANGE ME") {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if data, err := os.ReadFile(cfg); err != nil || !strings.Contains(string(data), "Y09999") {
		t.Fatalf("init wrote %q, %v", data, err)
	}
	if out, err := exec.Command(agentBin, "init", "--config", cfg).CombinedOutput(); processExit(err) != cli.ExitConfig ||
		!strings.Contains(string(out), "already exists") {
		t.Fatalf("init over an existing config: %v\n%s", err, out)
	}

	// check passes against the practice database and the collector.
	out, err := f.agent(nil, "check")
	if err != nil || strings.Contains(string(out), "FAIL") || !strings.Contains(string(out), "ok    database") ||
		!strings.Contains(string(out), "collector") {
		t.Fatalf("check: %v\n%s", err, out)
	}

	// preview prints what steward run computes and sends nothing.
	out, err = f.agent(nil, "preview", "--as-of", "2025-03-31")
	if err != nil {
		t.Fatalf("preview: %v\n%s", err, out)
	}
	var previewed results.Document
	if err := json.Unmarshal(out, &previewed); err != nil {
		t.Fatalf("preview output is not a results document: %v\n%s", err, out)
	}
	want := stewardRun(t, f.dbPath)
	gm, _ := json.Marshal(previewed.Measures)
	wm, _ := json.Marshal(want.Measures)
	if !bytes.Equal(gm, wm) {
		t.Fatalf("preview shows\n%s\nsteward run gives\n%s", gm, wm)
	}

	// The worklist, as CSV and HTML. The HTML goes over an existing file
	// that everyone could read: it is narrowed before patients are written.
	dir := t.TempDir()
	csvPath, htmlPath := filepath.Join(dir, "due.csv"), filepath.Join(dir, "due.html")
	if err := os.WriteFile(htmlPath, []byte("last month's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(htmlPath, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{csvPath, htmlPath} {
		if out, err := f.agent(nil, "worklist", "--out", p, "--as-of", "2025-03-31"); err != nil {
			t.Fatalf("worklist %s: %v\n%s", p, err, out)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("worklist file %s: %v, %v; want mode 0600", p, st.Mode(), err)
		}
	}
	rows, err := csv.NewReader(mustOpen(t, csvPath)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("worklist csv: %d rows, %v", len(rows), err)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	for _, c := range []string{"patient_id", "long_term", "high_dose", "gabapentinoid", "benzodiazepine", "last_review"} {
		if _, ok := col[c]; !ok {
			t.Fatalf("worklist columns %v lack %s", rows[0], c)
		}
	}
	db, err := sql.Open("sqlite", "file:"+f.dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	longTermUnreviewed := 0
	html, _ := os.ReadFile(htmlPath)
	for _, r := range rows[1:] {
		id := r[col["patient_id"]]
		var scenario string
		if err := db.QueryRow("SELECT scenario FROM synth_scenarios WHERE patient_id = ?", id).Scan(&scenario); err != nil {
			t.Fatalf("worklist patient %s: %v", id, err)
		}
		if scenario == "none" {
			t.Errorf("worklist lists patient %s, who has no opioids", id)
		}
		lt, hd := r[col["long_term"]] == "yes", r[col["high_dose"]] == "yes"
		co := r[col["gabapentinoid"]] == "yes" || r[col["benzodiazepine"]] == "yes"
		if !lt && !hd && !co {
			t.Errorf("worklist lists patient %s with no reason: %v", id, r)
		}
		if last := r[col["last_review"]]; last != "" && last > "2024-03-31" {
			t.Errorf("worklist lists patient %s, reviewed on %s", id, last)
		}
		if lt {
			longTermUnreviewed++
		}
		if !strings.Contains(string(html), ">"+id+"<") {
			t.Errorf("the HTML worklist lacks patient %s", id)
		}
	}
	ltr := want.Find("long_term_reviewed")
	if float64(longTermUnreviewed) != *ltr.Denominator-*ltr.Numerator {
		t.Fatalf("worklist has %d long-term users without a review; the measures say %v - %v", longTermUnreviewed, *ltr.Denominator, *ltr.Numerator)
	}

	// Nothing of preview or worklist reached the collector.
	if subs, err := f.st.SubmissionHistory(ctx, store.SubmissionFilter{}); err != nil || len(subs) != 0 {
		t.Fatalf("the collector holds %d submissions, %v; want none", len(subs), err)
	}
	t.Logf("worklist: %d patients, %d of them long-term users without a review", len(rows)-1, longTermUnreviewed)
	coprescribed := 0
	for _, r := range rows[1:] {
		if r[col["gabapentinoid"]] == "yes" || r[col["benzodiazepine"]] == "yes" {
			coprescribed++
		}
	}
	if coprescribed == 0 {
		t.Fatalf("no listed patient is co-prescribed a gabapentinoid or benzodiazepine: those columns went untested")
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// processExit is the exit code of a finished command.
func processExit(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
