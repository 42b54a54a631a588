package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/synth"
)

// stewardBin is the search author's CLI, built once for the release test.
var (
	stewardBin  string
	stewardOnce sync.Once
	stewardErr  error
)

func buildSteward(t *testing.T) string {
	t.Helper()
	stewardOnce.Do(func() {
		stewardBin = filepath.Join(filepath.Dir(agentBin), "steward")
		if out, err := exec.Command("go", "build", "-o", stewardBin, "../steward").CombinedOutput(); err != nil {
			stewardErr = fmt.Errorf("build steward: %v\n%s", err, out)
		}
	})
	if stewardErr != nil {
		t.Fatal(stewardErr)
	}
	return stewardBin
}

// releaseRig is a release as an ICB runs it, over loopback: the
// collector (in process) serving its TUF repository and dashboard, a
// search author with the steward CLI, and two practices whose agents
// (the real binary) take bundles, one automatically, one after the
// practice manager's approval.
type releaseRig struct {
	t                  *testing.T
	dir, url           string
	st                 *store.DB
	tuf                *tuftest.Fixture
	key, token         string // the author's key file and publish token file
	analyst            string // an ICB analyst's API token
	searches           string // the author's working copy of the searches folder
	auto, manual       string // agent config files
	autoODS, manualODS string
}

func newReleaseRig(t *testing.T) *releaseRig {
	t.Helper()
	ctx := context.Background()
	r := &releaseRig{t: t, dir: t.TempDir(), autoODS: "Y01234", manualODS: "Y05678"}
	r.tuf = tuftest.NewAt(t, time.Now())
	repo, err := tufrepo.Open(r.tuf.Dir, tufrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.st, err = store.Open(ctx, "sqlite:"+filepath.Join(r.dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	if err := r.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Store: r.st, Bundles: repo,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(srv.Close)
	r.url = srv.URL

	// The ICB's users: an author who publishes, an analyst who watches.
	r.token = filepath.Join(r.dir, "publish.token")
	writeFileT(t, r.token, r.apiToken(collector.User{Name: "alice", Role: collector.RoleSearchAuthor})+"\n")
	r.analyst = r.apiToken(collector.User{Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QWE"})
	r.key = filepath.Join(r.dir, "author.key")
	if err := bundle.WritePrivateKey(r.key, r.tuf.Author); err != nil {
		t.Fatal(err)
	}
	r.searches = copySearches(t, filepath.Join(r.dir, "searches"))

	r.auto = r.practice(r.autoODS, "automatic")
	r.manual = r.practice(r.manualODS, "manual")
	return r
}

func (r *releaseRig) apiToken(u collector.User) string {
	r.t.Helper()
	u, err := r.st.AddUser(context.Background(), u, "test")
	if err != nil {
		r.t.Fatal(err)
	}
	tok, err := auth.NewAPIToken()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.st.AddAPIToken(context.Background(), u.ID, auth.HashSecret(tok), time.Now(), time.Time{}); err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// practice makes a synthetic practice, registers it at the collector and
// enrols an agent with the given approval mode; it returns the config.
func (r *releaseRig) practice(ods, approval string) string {
	t := r.t
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(r.dir, ods)
	dbPath := filepath.Join(dir, "practice.db")
	os.MkdirAll(dir, 0o755)
	db, d, err := synth.Open("sqlite:" + dbPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = synth.Generate(ctx, db, d, synth.Config{Patients: 300, Seed: uint64(ods[4]),
		Start: time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), Practice: ods})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddPractice(ctx, collector.Practice{ODS: ods, Name: "Surgery " + ods, ICB: "QWE"}, "test"); err != nil {
		t.Fatal(err)
	}
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddEnrolmentCode(ctx, ods, auth.HashEnrolmentCode(code), time.Now(), time.Now().Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Template(ods, filepath.Join(dir, "data"))
	for old, new := range map[string]string{
		"url: sqlite:practice.db":                "url: sqlite:" + dbPath,
		"url: https://steward.icb.example":       "url: " + r.url,
		"log_level: info":                        "log_level: error",
		"# trusted_root: /etc/steward/root.json": "trusted_root: " + r.tuf.RootPath,
		"  approval: automatic":                  "  approval: " + approval,
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the config template lacks %q", old)
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	cfg += "quality:\n  max_extract_age_days: 0\n"
	path := filepath.Join(dir, "agent.yaml")
	writeFileT(t, path, cfg)
	r.agent(path, "enrol", "--code", code)
	return path
}

// agent runs the agent binary with args (the config goes last, after any
// arguments: flags may follow them) and fails the test unless it exits 0.
func (r *releaseRig) agent(cfg string, args ...string) string {
	r.t.Helper()
	out, err := exec.Command(agentBin, append(args, "--config", cfg)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("steward-agent %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// agentFails runs the agent binary and returns its exit code and output.
func (r *releaseRig) agentFails(cfg string, args ...string) (int, string) {
	r.t.Helper()
	out, err := exec.Command(agentBin, append(args, "--config", cfg)...).CombinedOutput()
	return processExit(err), string(out)
}

// steward runs the author's CLI and returns its exit code and output.
func (r *releaseRig) steward(args ...string) (int, string) {
	r.t.Helper()
	cmd := exec.Command(buildSteward(r.t), args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	return processExit(err), string(out)
}

func (r *releaseRig) signArgs(extra ...string) []string {
	return append([]string{"--key", r.key, "--root", r.tuf.RootPath, "--repo-metadata", r.url}, extra...)
}

// overview is the ICB overview page as the analyst sees it.
func (r *releaseRig) overview() string {
	r.t.Helper()
	req, _ := http.NewRequest("GET", r.url+"/", nil)
	req.Header.Set("Authorization", "Bearer "+r.analyst)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("overview: %d\n%s", resp.StatusCode, b)
	}
	return string(b)
}

// wantOverview checks data-field cells of practices' rows.
func (r *releaseRig) wantOverview(stage string, want map[string]map[string]string) {
	r.t.Helper()
	page := r.overview()
	for ods, fields := range want {
		for field, w := range fields {
			if got := overviewCell(page, ods, field); got != w {
				r.t.Errorf("%s: overview %s %s = %q, want %q", stage, ods, field, got, w)
			}
		}
	}
}

// overviewCell is the content of the element marked data-field="field"
// in practice ods's row of the overview, up to its first closing tag; ""
// when the row has none.
func overviewCell(page, ods, field string) string {
	row := regexp.MustCompile(`(?s)<tr data-ods="` + ods + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(page)
	if row == nil {
		return "(no row)"
	}
	m := regexp.MustCompile(`(?s)data-field="` + field + `"[^>]*>(.*?)</`).FindStringSubmatch(row[1])
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}

// releaseRow is the text of a version's row in the overview's releases table.
func releaseRow(page, version string) string {
	m := regexp.MustCompile(`(?s)<tr data-version="` + regexp.QuoteMeta(version) + `">(.*?)</tr>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// copySearches copies the MedSIP pack, its codelists and OME table into
// dst, the author's working copy, and returns dst.
func copySearches(t *testing.T, dst string) string {
	t.Helper()
	src := "../../searches"
	for _, d := range []string{"packs/medsip", "codelists", "reference"} {
		ents, err := os.ReadDir(filepath.Join(src, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() || (d == "reference" && !strings.HasPrefix(e.Name(), "ome-")) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			writeFileT(t, filepath.Join(dst, d, e.Name()), string(b))
		}
	}
	return dst
}

func writeFileT(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	writeFileT(t, path, strings.Replace(string(b), old, new, 1))
}

func wantAll(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestReleaseGatesReviewApprovalAndWithdrawal runs a release end to end:
// a release that fails its fixtures is refused at sign and at publish; a
// good one with notes reaches an automatic agent at once and a manual one
// after its practice manager reviews and previews it; the authors withdraw
// it and both agents fall back and say so; a later version that arrives
// damaged fails its check. The ICB overview shows each state, and the
// figures computed under the withdrawn version until they are resent.
func TestReleaseGatesReviewApprovalAndWithdrawal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the steward CLI and runs two agents through a release")
	}
	r := newReleaseRig(t)
	pack := filepath.Join(r.searches, "packs", "medsip")
	notes := filepath.Join(r.dir, "notes.txt")
	writeFileT(t, notes, "Adds the count of opioid users also prescribed a gabapentinoid.\nNo other measure changes.\n")
	replaceIn(t, filepath.Join(pack, "pack.yaml"), "version: 2026.1.0", "version: 2026.2.0")
	replaceIn(t, filepath.Join(pack, "medsip.yaml"), "  - id: ome_unknown_issues\n",
		"  - id: gabapentinoid_users\n    title: Opioid users also on a gabapentinoid\n    count: eligible and any_opioid_3m and gabapentinoid_3m\n  - id: ome_unknown_issues\n")

	// 1. The high-dose threshold typed as 12: refused at sign, and at
	// publish when signed around the gate.
	replaceIn(t, filepath.Join(pack, "medsip.yaml"), "default: 120", "default: 12")
	code, out := r.steward(append(append([]string{"search", "sign"}, r.signArgs("--notes", notes, "--out", "bad")...), pack)...)
	if code != 3 || !strings.Contains(out, "4 of 12 cases failed") || !strings.Contains(out, "measure high_dose: got") {
		t.Fatalf("sign of a release failing its fixtures: exit %d\n%s", code, out)
	}
	b, tgz, err := bundle.Build(pack)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := tufrepo.CurrentTargets(context.Background(), nil, r.url)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := bundle.Sign(bundle.SignRequest{Current: cur, TrustedRoot: r.tuf.Root, Bundle: b, Key: r.tuf.Author, Expires: time.Now().Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	writeFileT(t, filepath.Join(r.dir, "bad", "targets.json"), string(signed.Targets))
	writeFileT(t, filepath.Join(r.dir, "bad", "2026.2.0.tar.gz"), string(tgz))
	if code, out = r.steward("search", "publish", "--collector", r.url, "--token", r.token, "bad"); code != 3 || !strings.Contains(out, "4 of 12 cases failed") {
		t.Fatalf("publish of a release failing its fixtures: exit %d\n%s", code, out)
	}
	if cur, _ := tufrepo.CurrentTargets(context.Background(), nil, r.url); cur != nil {
		t.Fatal("the collector published something")
	}

	// 2. Fixed: signed with notes, published.
	replaceIn(t, filepath.Join(pack, "medsip.yaml"), "default: 12", "default: 120")
	code, out = r.steward(append(append([]string{"search", "sign"}, r.signArgs("--notes", notes, "--out", "good")...), pack)...)
	if code != 0 || !strings.Contains(out, "gate: lint passes; 12 cases in 1 files") || !strings.Contains(out, "changes: first release") {
		t.Fatalf("sign: exit %d\n%s", code, out)
	}
	if code, out = r.steward("search", "publish", "--collector", r.url, "--token", r.token, "good"); code != 0 || !strings.Contains(out, "published medsip 2026.2.0") {
		t.Fatalf("publish: exit %d\n%s", code, out)
	}

	// 3. The automatic agent runs it at once; the manual one computes with
	// its built-in pack while 2026.2.0 waits.
	r.agent(r.auto, "once", "--as-of", "2025-03-31")
	r.agent(r.manual, "once", "--as-of", "2025-03-31")
	r.wantOverview("published", map[string]map[string]string{
		r.autoODS:   {"running": "2026.2.0", "waiting": "", "figures-from": "2026.2.0"},
		r.manualODS: {"running": "2026.1.0", "waiting": "waits for approval: 2026.2.0", "figures-from": "2026.1.0"},
	})
	if row := releaseRow(r.overview(), "2026.2.0"); !strings.Contains(row, "released") || !strings.Contains(row, `data-field="running">1`) || !strings.Contains(row, `data-field="waiting">1`) {
		t.Errorf("release row 2026.2.0: %s", row)
	}

	// 4. The practice manager reads it, compares it on the practice's
	// data, and approves it (flags after the version).
	out = r.agent(r.manual, "status")
	wantAll(t, "status", out, "awaiting        2026.2.0 waits for your approval: Adds the count of opioid users",
		"steward-agent review 2026.2.0 --config "+r.manual, "steward-agent approve 2026.2.0 --config "+r.manual)
	out = r.agent(r.manual, "review")
	wantAll(t, "review", out, "search bundle medsip 2026.2.0: waiting for your approval (running now: built-in medsip 2026.1.0)",
		"  Adds the count of opioid users also prescribed a gabapentinoid.", "changes against what runs here (built-in medsip 2026.1.0), compared here:\n  measure added: gabapentinoid_users",
		"steward-agent preview --bundle 2026.2.0 --config "+r.manual)
	out = r.agent(r.manual, "preview", "--bundle", "2026.2.0", "--as-of", "2025-03-31")
	wantAll(t, "preview --bundle", out, "preview as of 2025-03-31 on this practice's data: built-in medsip 2026.1.0 beside bundle 2026.2.0; nothing is queued or sent",
		"gabapentinoid_users", "new measure", "1 of 15 measures differ")
	if !regexp.MustCompile(`(?m)^\s*high_dose\s+(\d+)\s+(\d+)\s+$`).MatchString(out) {
		t.Errorf("preview does not show high_dose unchanged:\n%s", out)
	}
	if subs, _ := r.st.SubmissionHistory(context.Background(), store.SubmissionFilter{Practice: r.manualODS}); len(subs) != 1 {
		t.Fatalf("preview sent something: %d submissions", len(subs))
	}
	if out = r.agent(r.manual, "approve", "2026.2.0"); !strings.Contains(out, "approved search bundle 2026.2.0") {
		t.Fatalf("approve:\n%s", out)
	}
	r.agent(r.manual, "once", "--as-of", "2025-03-31")
	r.wantOverview("approved", map[string]map[string]string{r.manualODS: {"running": "2026.2.0", "waiting": ""}})

	// 5. Withdrawn: both fall back to their built-in pack and report it.
	reason := "miscounts patients with a stopped opioid"
	if code, out = r.steward(append([]string{"search", "withdraw", "2026.2.0", "--reason", reason}, r.signArgs("--out", "withdraw")...)...); code != 0 {
		t.Fatalf("withdraw: exit %d\n%s", code, out)
	}
	if code, out = r.steward("search", "publish", "--collector", r.url, "--token", r.token, "withdraw"); code != 0 || !strings.Contains(out, "withdrew medsip/2026.2.0.tar.gz") {
		t.Fatalf("publish the withdrawal: exit %d\n%s", code, out)
	}
	// Until the agents update, the overview says they run a withdrawn version.
	r.wantOverview("withdrawn, not yet seen", map[string]map[string]string{
		r.autoODS: {"running-withdrawn": "runs a withdrawn version (" + reason + "): it falls back at its next update"},
	})
	r.agent(r.auto, "once", "--as-of", "2025-03-31")
	r.agent(r.manual, "once", "--as-of", "2025-03-31")
	fellBack := "withdrawn 2026.2.0 (" + reason + "): fell back"
	flagged := "2026.2.0<br><small class=\"error\" data-field=\"figures-withdrawn\">computed under a withdrawn version (" + reason + "): the practice resends them (steward-agent resend --computed-with)"
	r.wantOverview("withdrawn", map[string]map[string]string{
		r.autoODS:   {"running": "2026.1.0", "withdrawn": fellBack, "running-withdrawn": "", "figures-from": flagged},
		r.manualODS: {"running": "2026.1.0", "withdrawn": fellBack, "figures-from": "2026.1.0"},
	})
	page := r.overview()
	if row := releaseRow(page, "2026.2.0"); !strings.Contains(row, "withdrawn ") || !strings.Contains(row, reason) || !strings.Contains(row, `data-field="running">0`) {
		t.Errorf("release row 2026.2.0 after the withdrawal: %s", row)
	}
	wantAll(t, "overview summary", page, `data-field="fell-back-count">2<`, `data-field="figures-withdrawn-count">1<`)
	out = r.agent(r.auto, "status")
	wantAll(t, "status after the withdrawal", out, "searches        built-in medsip 2026.1.0",
		"withdrawn       2026.2.0 was withdrawn by its authors ("+reason+"); fell back to the built-in pack")
	if code, out := r.agentFails(r.manual, "approve", "2026.2.0"); code != 3 || !strings.Contains(out, "withdrawn by its authors") {
		t.Errorf("approving the withdrawn version: exit %d\n%s", code, out)
	}

	// 6. The ICB asks the automatic practice to resend its month under
	// the version that runs now: the flag goes.
	out = r.agent(r.auto, "resend", "--computed-with", "2026.2.0", "--reason", "2026.2.0 was withdrawn")
	wantAll(t, "resend", out, "correction for 2025-03-31 delivered (1 submission), computed with built-in medsip 2026.1.0")
	r.wantOverview("resent", map[string]map[string]string{r.autoODS: {"figures-from": "2026.1.0"}})

	// 7. The next version arrives damaged on the collector: both agents
	// refuse it, keep running what they run, and report the failure.
	replaceIn(t, filepath.Join(pack, "pack.yaml"), "version: 2026.2.0", "version: 2026.3.0")
	rel, err := bundle.NewRelease(pack, "Fixes the stopped-opioid count.\n", "")
	if err != nil {
		t.Fatal(err)
	}
	b, tgz, err = bundle.Build(pack, bundle.WithRelease(rel))
	if err != nil {
		t.Fatal(err)
	}
	cur, _ = tufrepo.CurrentTargets(context.Background(), nil, r.url)
	if signed, err = bundle.Sign(bundle.SignRequest{Current: cur, TrustedRoot: r.tuf.Root, Bundle: b, Key: r.tuf.Author, Expires: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	tok, _ := os.ReadFile(r.token)
	if _, err := tufrepo.Upload(context.Background(), nil, r.url, strings.TrimSpace(string(tok)), signed.Targets, tgz); err != nil {
		t.Fatal(err)
	}
	stored, _ := filepath.Glob(filepath.Join(r.tuf.Dir, "targets", "medsip", "*.2026.3.0.tar.gz"))
	if len(stored) != 1 {
		t.Fatalf("stored targets: %v", stored)
	}
	damaged := []byte(strings.Repeat("x", len(tgz)))
	if err := os.WriteFile(stored[0], damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	r.agent(r.auto, "once", "--as-of", "2025-03-31")
	r.agent(r.manual, "once", "--as-of", "2025-03-31")
	for _, ods := range []string{r.autoODS, r.manualODS} {
		page := r.overview()
		if got := overviewCell(page, ods, "failed"); !strings.HasPrefix(got, "failed its check: 2026.3.0 (search bundle refused: download medsip/2026.3.0.tar.gz") {
			t.Errorf("overview %s failed = %q", ods, got)
		}
		if got := overviewCell(page, ods, "running"); got != "2026.1.0" {
			t.Errorf("overview %s running = %q after a damaged release", ods, got)
		}
	}
	if row := releaseRow(r.overview(), "2026.3.0"); !strings.Contains(row, `data-field="failed">2`) {
		t.Errorf("release row 2026.3.0: %s", row)
	}
	out = r.agent(r.auto, "status")
	wantAll(t, "status after a damaged release", out, "failed check    2026.3.0 (", "the version before it keeps running")
}
