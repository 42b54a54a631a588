package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
	"github.com/nhs-steward/steward/reporting/schemes"
)

const exampleScheme = "../../schemes/medsip-local-example.yaml"

// medsipSub builds a stored submission of a valid medsip document.
func medsipSub(t *testing.T, ods, key, asOf string, received time.Time, reviewed, longTerm, stopped, hdBaseline float64) collector.Submission {
	return storetest.MedsipSubmission(t, ods, key, asOf, received, storetest.MedsipFigures{
		Reviewed: reviewed, LongTerm: longTerm, Stopped: stopped, HighDoseBaseline: hdBaseline})
}

// setupReconcile makes a collector with the example scheme, its four
// practices and submissions for 2027-03 from three of them.
func setupReconcile(t *testing.T, withInputs bool) (cfg, dir string) {
	t.Helper()
	// The example scheme is ICB QXX's: 'scheme add' takes it only at a
	// collector of that ICB.
	cfg, dir = newCollector(t, "QXX")
	for _, ods := range []string{"Y01001", "Y01002", "Y01003", "Y01004", "Y09999"} {
		if code, _, errs := run(t, "", "practice", "add", "--ods", ods, "--name", "Surgery "+ods, "--icb", "QXX", "--config", cfg); code != 0 {
			t.Fatalf("practice add %s: %d %s", ods, code, errs)
		}
	}
	code, out, errs := run(t, "", "scheme", "add", "--actor", "tester", "--config", cfg, exampleScheme)
	if code != 0 || !strings.Contains(out, "Added scheme example-icb-opioid-mos-2026-27") {
		t.Fatalf("scheme add: %d %s %s", code, out, errs)
	}

	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	onTime := time.Date(2027, 4, 5, 9, 0, 0, 0, time.UTC)
	for _, s := range []collector.Submission{
		// Superseded by the next one: only the current submission counts.
		medsipSub(t, "Y01001", "k0", "2027-03-31", onTime.Add(-time.Hour), 10, 40, 1, 10),
		medsipSub(t, "Y01001", "k1", "2027-03-31", onTime, 30, 40, 5, 10),
		medsipSub(t, "Y01003", "k3", "2027-03-31", onTime, 20, 20, 0, 4),
		medsipSub(t, "Y01004", "k4", "2027-03-31", time.Date(2027, 4, 11, 0, 0, 0, 0, time.UTC), 30, 40, 5, 10),
		medsipSub(t, "Y09999", "k9", "2027-03-31", onTime, 1, 1, 0, 1),
		medsipSub(t, "Y01002", "k2", "2027-02-28", onTime, 1, 1, 0, 1), // another period
	} {
		if _, err := db.Ingest(ctx, s); err != nil {
			t.Fatalf("Ingest %s: %v", s.IdempotencyKey, err)
		}
	}
	// Y01001's agent enrolled and never sent a heartbeat.
	now := time.Now()
	if err := db.AddEnrolmentCode(ctx, "Y01001", "h", now, now.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Enrol(ctx, "Y01001", "h", []byte("pub"), "kid", now); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !withInputs {
		return cfg, dir
	}
	// List sizes from January apply in March; an older one is overridden.
	for month, sizes := range map[string]string{"2026-10": "ods,list_size\nY01001,7000\n", "2027-01": "ods,list_size\nY01001,8000\nY01004,8000\n"} {
		path := filepath.Join(dir, "sizes-"+month+".csv")
		if err := os.WriteFile(path, []byte(sizes), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errs := run(t, "", "practice", "list-size", "--month", month, "--config", cfg, path); code != 0 || !strings.Contains(out, "Recorded") {
			t.Fatalf("practice list-size: %d %s %s", code, out, errs)
		}
	}
	for _, ods := range []string{"Y01001", "Y01004", "Y01003"} {
		if code, _, errs := run(t, "", "scheme", "declare", "--scheme", "example-icb-opioid-mos-2026-27", "--ods", ods,
			"--declaration", "opioid_lead_named", "--from", "2026-04", "--config", cfg); code != 0 {
			t.Fatalf("scheme declare: %d %s", code, errs)
		}
	}
	// Y01003 withdrew its declaration in February.
	if code, _, errs := run(t, "", "scheme", "declare", "--scheme", "example-icb-opioid-mos-2026-27", "--ods", "Y01003",
		"--declaration", "opioid_lead_named", "--from", "2027-02", "--withdraw", "--config", cfg); code != 0 {
		t.Fatalf("scheme declare --withdraw: %d %s", code, errs)
	}
	return cfg, dir
}

func TestReconcile(t *testing.T) {
	cfg, dir := setupReconcile(t, true)
	const scheme = "example-icb-opioid-mos-2026-27"

	code, out, errs := run(t, "", "reconcile", "--scheme", scheme, "--period", "2027-03",
		"--actor", "finance:bob", "--config", cfg)
	if code != 0 {
		t.Fatalf("reconcile: %d %s", code, errs)
	}
	// By hand, Y01001 (final period, gateway passed, list size 8000):
	//   lt_reviews        30 x £15                                   =   £450.00
	//   lt_review_points  75% -> (75-50)/(80-50) x 20 = 16.6667 points;
	//                     50/3 x £220.62 x 8000/9964 = 295222.802p   =  £2952.23
	//   hd_stopped        5 x £50                                    =   £250.00
	//   total                                                        =  £3652.23
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && lines[f[0]] == "" {
			lines[f[0]] = strings.Join(f, " ")
		}
	}
	for ods, want := range map[string]string{
		"Y01001": "Y01001 Surgery Y01001 calculated pass 450.00 2952.23 250.00 3652.23",
		"Y01002": "Y01002 Surgery Y01002 open missing 0.00 0.00 0.00 0.00",
		"Y01003": "Y01003 Surgery Y01003 closed fail: opioid_lead_named 0.00 0.00 0.00 0.00",
		"Y01004": "Y01004 Surgery Y01004 closed fail: deadline 0.00 0.00 0.00 0.00",
		"TOTAL":  "TOTAL 450.00 2952.23 250.00 3652.23",
	} {
		if lines[ods] != want {
			t.Errorf("row %s = %q, want %q\n%s", ods, lines[ods], want, out)
		}
	}
	for _, want := range []string{
		"Missing: no figures (1): Y01002",
		"Late (1): Y01004",
		"Not enrolled in the scheme (ignored) (1): Y09999",
		"Silent agents (1):\n  Y01001 Surgery Y01001, last heartbeat -",
		"Y01003 gateway opioid_lead_named:",
		"Calculated (version 1).",
		// Nothing is payable to Y01003 and Y01004: their claims are
		// closed, with the reason, and need no sign-off.
		"Claims moved open -> calculated: 1",
		"Claims moved open -> closed: 2",
		"  Y01003 open -> closed: nothing payable: gateway not met (opioid_lead_named: practice has not declared opioid_lead_named)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile output lacks %q:\n%s", want, out)
		}
	}

	// Finance's CSV: a header, then one row per practice per element.
	code, csvOut, errs := run(t, "", "export", "--scheme", scheme, "--period", "2027-03", "--format", "csv",
		"--config", cfg)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+4*3 || strings.Join(rows[0], ",") != strings.Join(schemes.CSVHeader, ",") {
		t.Fatalf("csv has %d rows:\n%s", len(rows), csvOut)
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		seen[r[2]+"/"+r[4]] = true
	}
	if len(seen) != 12 {
		t.Fatalf("csv rows are not one per practice per element: %v", seen)
	}
	if r := rows[2]; r[2] != "Y01001" || r[4] != "lt_review_points" || r[5] != "30" || r[6] != "40" ||
		r[8] != "75.0000" || r[9] != "16.6667" || r[10] != "295223" || r[11] != "2952.23" || r[13] != "8000" || r[16] != "pass" {
		t.Fatalf("Y01001 lt_review_points row = %q", r)
	}
	if code, csv2, _ := run(t, "", "reconcile", "--scheme", scheme, "--period", "2027-03", "--format", "csv",
		"--config", cfg); code != 0 || csv2 != csvOut {
		t.Fatalf("reconcile --format csv differs from export: %d\n%s", code, csv2)
	}

	// Each run is audited with its totals.
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Newest first: the two CSV runs, the first reconciliation, and the
	// collector's summary of the claims that calculation moved.
	entries, err := db.Audit().List(context.Background(), "scheme:"+scheme+"/2027-03", 10)
	if err != nil || len(entries) != 4 || entries[3].Action != "claim.calculate" || entries[3].Actor != "steward" {
		t.Fatalf("audit entries = %+v, %v", entries, err)
	}
	first := entries[2]
	if first.Actor != "finance:bob" || first.Action != "scheme.reconcile" || !strings.Contains(first.After, `"payable_pence":365223`) {
		t.Fatalf("audit entry = %+v", first)
	}
	if entries[1].Action != "scheme.export" {
		t.Fatalf("export audit entry = %+v", entries[1])
	}
}

func TestReconcileWithoutInputs(t *testing.T) {
	cfg, _ := setupReconcile(t, false)
	// Without declarations every practice fails the scheme's declaration
	// condition and nothing is payable.
	code, out, errs := run(t, "", "reconcile", "--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-03", "--config", cfg)
	if code != 0 || strings.Count(out, "fail: opioid_lead_named") != 2 || strings.Contains(out, "3652.23") ||
		!strings.Contains(out, "Y01001 lt_review_points: registered patients (list size) not supplied") {
		t.Fatalf("reconcile: %d %s\n%s", code, errs, out)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--scheme", "nope", "--period", "2027-03"}, cli.ExitFailure},
		{[]string{"--scheme", "example-icb-opioid-mos-2026-27", "--period", "2025-01"}, cli.ExitUsage},
		{[]string{"--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-3"}, cli.ExitUsage},
		{[]string{"--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-03", "--format", "xml"}, cli.ExitUsage},
		{[]string{"--period", "2027-03"}, cli.ExitUsage},
	} {
		if code, _, errs := run(t, "", append([]string{"reconcile", "--config", cfg}, tc.args...)...); code != tc.code {
			t.Errorf("reconcile %v: exit %d, want %d (%s)", tc.args, code, tc.code, errs)
		}
	}
	if code, _, _ := run(t, "", "export", "--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-03", "--format", "table", "--config", cfg); code != cli.ExitUsage {
		t.Errorf("export --format table: exit %d", code)
	}
}

// export --out writes the CSV and its manifest beside it; the manifest's
// totals are what the amount columns add up to, and finance can check the
// file against its digest.
func TestExportManifest(t *testing.T) {
	cfg, dir := setupReconcile(t, true)
	out := filepath.Join(dir, "payments.csv")
	code, stdout, errs := run(t, "", "export", "--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-03", "--out", out, "--config", cfg)
	if code != 0 || stdout != "" {
		t.Fatalf("export --out: %d %q %s", code, stdout, errs)
	}
	if !strings.Contains(errs, "Finance CSV of example-icb-opioid-mos-2026-27 2027-03: 12 rows, payable £3652.23, indicative £0.00 (not payable)") ||
		!strings.Contains(errs, "manifest "+out+".manifest.json") {
		t.Fatalf("export says: %s", errs)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(out + ".manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m schemes.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if m.Rows != 12 || m.PayablePence != 365223 || m.PayableGBP != "3652.23" || m.SHA256 != hex.EncodeToString(sum[:]) || m.Bytes != int64(len(data)) {
		t.Fatalf("manifest = %+v", m)
	}
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var pence int64
	for _, r := range rows[1:] {
		n, err := strconv.ParseInt(r[10], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		pence += n
	}
	if pence != m.PayablePence {
		t.Fatalf("amount_pence adds up to %d, the manifest says %d", pence, m.PayablePence)
	}
	// To standard output, the manifest goes where --manifest says.
	manifest := filepath.Join(dir, "m.json")
	code, stdout, _ = run(t, "", "export", "--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-03", "--manifest", manifest, "--config", cfg)
	if again, err := os.ReadFile(manifest); code != 0 || stdout != string(data) || err != nil || string(again) != string(raw) {
		t.Fatalf("export --manifest: %d, same csv %t, manifest %s, %v", code, stdout == string(data), again, err)
	}
}

// In a month before the final one, nothing is payable under the example
// scheme: the amount columns sum to nothing, the indicative columns hold
// what practices would earn, and every claim with figures is closed.
func TestExportBeforeFinalPeriod(t *testing.T) {
	cfg, dir := setupReconcile(t, true)
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ingest(context.Background(), medsipSub(t, "Y01001", "feb", "2027-02-28", time.Date(2027, 3, 2, 9, 0, 0, 0, time.UTC), 30, 40, 5, 10)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, stdout, errs := run(t, "", "export", "--scheme", "example-icb-opioid-mos-2026-27", "--period", "2027-02", "--config", cfg)
	if code != 0 || !strings.Contains(errs, "payable £0.00, indicative £3652.23 (not payable)") {
		t.Fatalf("export: %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		if r[2] == "Y01001" && (r[10] != "0" || r[11] != "0.00" || r[12] != "closed" || r[20] == "0") {
			t.Errorf("Y01001 row = %q", r)
		}
	}
}

// TestClaimHistoryShowsCorrections: a correction the practice sent for
// the period's month is in the claim's history with its reason.
func TestClaimHistoryShowsCorrections(t *testing.T) {
	cfg, dir := setupReconcile(t, true)
	const scheme = "example-icb-opioid-mos-2026-27"
	if code, out, errs := run(t, "", "reconcile", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != 0 {
		t.Fatalf("reconcile: %d %s %s", code, out, errs)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "steward-collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	fix := medsipSub(t, "Y01001", "k1-fix", "2027-03-31", time.Date(2027, 4, 9, 9, 0, 0, 0, time.UTC), 35, 40, 5, 10)
	fix.Corrects, fix.CorrectionReason = "k1", "reviews recorded late were missing from the extract"
	if _, err := db.Ingest(ctx, fix); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out, errs := run(t, "", "reconcile", "--scheme", scheme, "--period", "2027-03", "--config", cfg); code != 0 {
		t.Fatalf("reconcile after the correction: %d %s %s", code, out, errs)
	}
	code, out, errs := run(t, "", "claim", "history", "--scheme", scheme, "--period", "2027-03", "--ods", "Y01001", "--config", cfg)
	if code != 0 || !strings.Contains(out, "figures corrected") || !strings.Contains(out, "reviews recorded late were missing from the extract") ||
		!strings.Contains(out, "k1-fix replaces k1") {
		t.Fatalf("claim history: %d\n%s%s", code, out, errs)
	}
}
