package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
)

// newCollector writes a collector configuration for ICB icb in a new
// folder and returns its path and the folder.
func newCollector(t *testing.T, icb string) (cfg, dir string) {
	t.Helper()
	dir = t.TempDir()
	cfg = filepath.Join(dir, "collector.yaml")
	if code, _, errs := run(t, "", "init-config", "--out", cfg); code != 0 {
		t.Fatalf("init-config: %d %s", code, errs)
	}
	if icb != "QWE" {
		setConfig(t, cfg, `icb: "QWE"`, `icb: "`+icb+`"`)
	}
	return cfg, dir
}

// setConfig replaces old with new in the configuration file.
func setConfig(t *testing.T, cfg, old, new string) {
	t.Helper()
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", cfg, old)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// addPractices adds practices of icb to the collector.
func addPractices(t *testing.T, cfg, icb string, ods ...string) {
	t.Helper()
	for _, o := range ods {
		if code, _, errs := run(t, "", "practice", "add", "--ods", o, "--name", "Surgery "+o, "--icb", icb, "--config", cfg); code != 0 {
			t.Fatalf("practice add %s: %d %s", o, code, errs)
		}
	}
}

// schemeFile writes the example scheme with edits (pairs: old, new) to
// dir/name and returns its path.
func schemeFile(t *testing.T, dir, name string, edits ...string) string {
	t.Helper()
	data, err := os.ReadFile(exampleScheme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("the example scheme has no %q", edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSchemeAddList(t *testing.T) {
	cfg, dir := newCollector(t, "QXX")
	bad := schemeFile(t, dir, "bad.yaml", "count: long_term_reviewed.numerator", "count: long_term_reviewd.numerator",
		"pence_per_patient: 1500", `pence_per_patient: "1500"`)
	code, _, errs := run(t, "", "scheme", "add", "--config", cfg, bad)
	if code != cli.ExitConfig || !strings.Contains(errs, `unknown measure "long_term_reviewd"`) || !strings.Contains(errs, `must be a number, not the text "1500"`) {
		t.Fatalf("scheme add (invalid): exit %d\n%s", code, errs)
	}
	if code, out, _ := run(t, "", "scheme", "list", "--config", cfg); code != 0 || strings.Contains(out, "example-icb") {
		t.Fatalf("an invalid scheme was stored: %d\n%s", code, out)
	}
	addPractices(t, cfg, "QXX", "Y01001", "Y01002", "Y01003", "Y01004")
	if code, _, errs := run(t, "", "scheme", "add", "--config", cfg, exampleScheme); code != 0 {
		t.Fatalf("scheme add: %d %s", code, errs)
	}
	if code, _, errs := run(t, "", "scheme", "add", "--config", cfg, exampleScheme); code != cli.ExitFailure || !strings.Contains(errs, "already") && !strings.Contains(errs, "exists") {
		t.Fatalf("scheme add twice: %d %s", code, errs)
	}
	if code, _, _ := run(t, "", "scheme", "add", "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("scheme add without a file: exit %d", code)
	}
	code, out, _ := run(t, "", "scheme", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, "example-icb-opioid-mos-2026-27") || !strings.Contains(out, "2026-04 to 2027-03") || !strings.Contains(out, "4 practices") {
		t.Fatalf("scheme list: %d\n%s", code, out)
	}
}

// scheme check validates a scheme against the collector without storing
// it, naming each problem's line and the fix; scheme add refuses what check
// refuses.
func TestSchemeCheck(t *testing.T) {
	cfg, dir := newCollector(t, "QXX")
	addPractices(t, cfg, "QXX", "Y01001", "Y01002", "Y01003")
	addPractices(t, cfg, "QZZ", "Y07777")
	bad := schemeFile(t, dir, "bad.yaml", "  - Y01004\n", "  - Y07777\n", "  - Y01003\n", "  - Y01009\n",
		`versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2027.1.0"`, "baseline: 2026-03-31", "baseline: 2016-03-31")
	wantProblems := []string{
		bad + `:12:13: pack.versions: no version of pack medsip that agents can run is in the range ">=2027.1.0"; known: 2026.1.0 (built in); this collector has no search-bundle repository (tuf_repository), so the built-in pack is the only version agents have (widen the range to include the built-in version, or configure tuf_repository and publish a bundle in the range)`,
		bad + `:15:11: baseline: the baseline 2016-03-31 is 121 months before the first period 2026-04 (more than 36) (check the year: the baseline is usually the month end before the first period, 2026-03-31)`,
		bad + `:29:5: practices: practice Y01009 is not in the collector (add it with 'steward-collector practice add --ods Y01009 --name NAME --icb QXX', or correct the code)`,
		bad + `:30:5: practices: practice Y07777 belongs to ICB QZZ, not the scheme's ICB QXX (remove it from the list: a scheme pays its own ICB's practices only)`,
	}
	for _, cmd := range []string{"check", "add"} {
		code, out, errs := run(t, "", "scheme", cmd, "--config", cfg, bad)
		if code != cli.ExitConfig || out != "" {
			t.Errorf("scheme %s: exit %d, out %q; want %d", cmd, code, out, cli.ExitConfig)
		}
		for _, want := range append(wantProblems, "4 problem(s); nothing stored") {
			if !strings.Contains(errs, want) {
				t.Errorf("scheme %s does not say\n%s\nit says\n%s", cmd, want, errs)
			}
		}
	}
	if code, out, _ := run(t, "", "scheme", "list", "--all", "--config", cfg); code != 0 || strings.Contains(out, "example-icb") {
		t.Fatalf("a refused scheme was stored: %d\n%s", code, out)
	}

	// Another ICB's scheme is refused at this collector.
	other := schemeFile(t, dir, "other.yaml", "icb: QXX", "icb: QWE")
	if code, _, errs := run(t, "", "scheme", "check", "--config", cfg, other); code != cli.ExitConfig ||
		!strings.Contains(errs, other+":8:6: icb: the scheme is for ICB QWE, but this collector serves ICB QXX") {
		t.Fatalf("scheme check of another ICB's scheme: %d\n%s", code, errs)
	}

	// A good scheme: check stores nothing; then add stores it, and check
	// says its id is taken.
	addPractices(t, cfg, "QXX", "Y01004")
	code, out, errs := run(t, "", "scheme", "check", "--config", cfg, exampleScheme)
	if code != 0 || errs != "" || out != exampleScheme+": scheme example-icb-opioid-mos-2026-27 (Example ICB medicines optimisation scheme 2026/27 - opioid safety) can be added: "+
		"ICB QXX, periods 2026-04 to 2027-03, baseline 2026-03-31, 4 practices, pack medsip >=2026.1.0 <2027.0.0 (agents run 2026.1.0 (built in)).\n" {
		t.Fatalf("scheme check: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run(t, "", "scheme", "list", "--config", cfg); code != 0 || strings.Contains(out, "example-icb") {
		t.Fatalf("scheme check stored the scheme: %d\n%s", code, out)
	}
	if code, _, errs := run(t, "", "scheme", "add", "--config", cfg, exampleScheme); code != 0 {
		t.Fatalf("scheme add: %d %s", code, errs)
	}
	if code, _, errs := run(t, "", "scheme", "check", "--config", cfg, exampleScheme); code != cli.ExitConfig ||
		!strings.Contains(errs, ":6:5: id: scheme example-icb-opioid-mos-2026-27 is already stored (a stored scheme is never replaced") {
		t.Fatalf("scheme check of a stored id: %d\n%s", code, errs)
	}
	// A new version under a new id is accepted with a warning that the
	// first pays the same practices for the same months.
	v2 := schemeFile(t, dir, "v2.yaml", "id: example-icb-opioid-mos-2026-27", "id: example-icb-opioid-mos-2026-27b")
	code, _, errs = run(t, "", "scheme", "add", "--config", cfg, v2)
	if code != 0 || !strings.Contains(errs, "warning: "+v2+":18:3: periods: scheme example-icb-opioid-mos-2026-27 also pays practices Y01001, Y01002, Y01003, Y01004 for 2026-04 to 2027-03 "+
		"(if this scheme replaces it, retire it ('steward-collector scheme retire --scheme example-icb-opioid-mos-2026-27') so no month is paid twice)") {
		t.Fatalf("scheme add of a second version: %d\n%s", code, errs)
	}
}

// With a search-bundle repository, the published bundles count as well as
// the built-in pack, and agents run the newest.
func TestSchemeCheckWithTUF(t *testing.T) {
	cfg, dir := newCollector(t, "QXX")
	addPractices(t, cfg, "QXX", "Y01001", "Y01002", "Y01003", "Y01004")
	f := tuftest.New(t)
	f.MustPublish("2026.2.0")
	setConfig(t, cfg, "# tuf_repository: tuf", "tuf_repository: "+f.Dir)
	later := schemeFile(t, dir, "later.yaml", `versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2026.2.0"`)
	code, out, errs := run(t, "", "scheme", "check", "--config", cfg, later)
	if code != 0 || !strings.Contains(out, "pack medsip >=2026.2.0 (agents run 2026.2.0 (published))") {
		t.Fatalf("scheme check with a bundle in range: %d\n%s%s", code, out, errs)
	}
	none := schemeFile(t, dir, "none.yaml", `versions: ">=2026.1.0 <2027.0.0"`, `versions: ">=2027.0.0"`)
	code, _, errs = run(t, "", "scheme", "check", "--config", cfg, none)
	if code != cli.ExitConfig || !strings.Contains(errs, `known: 2026.1.0 (built in), 2026.2.0 (published) (widen the range to include a known version`) {
		t.Fatalf("scheme check with no bundle in range: %d\n%s", code, errs)
	}
}

// scheme retire hides a scheme from default views and keeps it, with its
// claims and history, for audit.
func TestSchemeRetire(t *testing.T) {
	cfg, dir := setupReconcile(t, true)
	const scheme = "example-icb-opioid-mos-2026-27"
	if code, _, errs := run(t, "", "reconcile", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != 0 {
		t.Fatalf("reconcile: %d %s", code, errs)
	}
	if code, _, errs := run(t, "a long enough password\n", "user", "add", "--name", "pm1", "--role", "practice", "--practice", "Y01001",
		"--sign-off", "practice_manager", "--password-stdin", "--config", cfg); code != 0 {
		t.Fatalf("user add: %d %s", code, errs)
	}
	move := func(to, user string) (int, string) {
		code, _, errs := run(t, "", "claim", "move", "--scheme", scheme, "--period", "2027-03", "--ods", "Y01001", "--to", to,
			"--user", user, "--reason", "r", "--config", cfg)
		return code, errs
	}
	if code, errs := move("declared", "pm1"); code != 0 {
		t.Fatalf("declare: %d %s", code, errs)
	}
	if code, _, _ := run(t, "", "scheme", "retire", "--scheme", scheme, "--config", cfg); code != cli.ExitUsage {
		t.Fatalf("retire without a reason: exit %d", code)
	}
	code, _, errs := run(t, "", "scheme", "retire", "--scheme", scheme, "--reason", "replaced", "--config", cfg)
	if code != cli.ExitFailure || !strings.Contains(errs, "2027-03 Y01001 declared") || !strings.Contains(errs, "send them back to calculated") {
		t.Fatalf("retire with a declared claim: %d %s", code, errs)
	}
	if code, _, errs := run(t, "a long enough password\n", "user", "add", "--name", "lead", "--role", "icb_analyst", "--icb", "QXX",
		"--sign-off", "icb_medicines_optimisation_lead", "--password-stdin", "--config", cfg); code != 0 {
		t.Fatalf("user add lead: %d %s", code, errs)
	}
	if code, errs := move("calculated", "lead"); code != 0 {
		t.Fatalf("send back: %d %s", code, errs)
	}
	if code, out, errs := run(t, "", "scheme", "retire", "--scheme", scheme, "--reason", "replaced by v2", "--actor", "ana", "--config", cfg); code != 0 || !strings.Contains(out, "Retired scheme "+scheme) {
		t.Fatalf("retire: %d %s %s", code, out, errs)
	}
	if code, _, errs := run(t, "", "scheme", "retire", "--scheme", scheme, "--reason", "again", "--config", cfg); code != cli.ExitFailure || !strings.Contains(errs, "was retired on") {
		t.Fatalf("retire twice: %d %s", code, errs)
	}
	if code, _, errs := run(t, "", "scheme", "retire", "--scheme", "nope", "--reason", "x", "--config", cfg); code != cli.ExitFailure || !strings.Contains(errs, "not found") {
		t.Fatalf("retire an unknown scheme: %d %s", code, errs)
	}
	if code, out, _ := run(t, "", "scheme", "list", "--config", cfg); code != 0 || strings.Contains(out, scheme) {
		t.Fatalf("scheme list shows a retired scheme: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "", "scheme", "list", "--all", "--config", cfg); code != 0 || !strings.Contains(out, scheme) || !strings.Contains(out, "by ana: replaced by v2") {
		t.Fatalf("scheme list --all: %d\n%s", code, out)
	}
	// Kept for audit: its claims and history are there; nothing moves
	// and nothing is recalculated.
	if code, out, _ := run(t, "", "claim", "list", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != 0 || !strings.Contains(out, "Y01001") {
		t.Fatalf("claim list of a retired scheme: %d\n%s", code, out)
	}
	if code, out, _ := run(t, "", "claim", "history", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != 0 || !strings.Contains(out, "declared") {
		t.Fatalf("claim history of a retired scheme: %d\n%s", code, out)
	}
	if code, errs := move("declared", "pm1"); code != cli.ExitFailure || !strings.Contains(errs, "retired") {
		t.Fatalf("move on a retired scheme: %d %s", code, errs)
	}
	if code, _, errs := run(t, "", "reconcile", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != cli.ExitFailure || !strings.Contains(errs, "--dry-run") {
		t.Fatalf("reconcile of a retired scheme: %d %s", code, errs)
	}
	if code, _, errs := run(t, "", "reconcile", "--dry-run", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != 0 {
		t.Fatalf("reconcile --dry-run of a retired scheme: %d %s", code, errs)
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := db.Audit().List(context.Background(), "scheme:"+scheme, 1)
	if err != nil || len(entries) != 1 || entries[0].Action != "scheme.retire" || entries[0].Actor != "ana" {
		t.Fatalf("audit = %+v, %v", entries, err)
	}
}
