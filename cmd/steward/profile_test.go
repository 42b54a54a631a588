package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/searches/schema"
)

// steward runs "steward args..." as main does.
func steward(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("STEWARD_TEST_PG", "")
	var out, errOut bytes.Buffer
	code = program().Do(context.Background(), args, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// synthDB writes a small synthetic practice in layout l.
func synthDB(t *testing.T, dir string, l schema.Layout) string {
	t.Helper()
	path := filepath.Join(dir, string(l)+".db")
	code, out, errOut := steward(t, "synth", "--patients", synthPatients, "--seed", "4", "--layout", string(l), "--db", "sqlite:"+path)
	if code != cli.ExitOK {
		t.Fatalf("synth %s: exit %d\n%s%s", l, code, out, errOut)
	}
	if want := schema.Parameters(l, "Y01234"); len(want) > 0 {
		for k, v := range want {
			if !strings.Contains(out, "read it with --profile "+string(l)+" --profile-param "+k+"="+v) {
				t.Errorf("synth %s does not say how to read it:\n%s", l, out)
			}
		}
	}
	return path
}

func measures(t *testing.T, out string) string {
	t.Helper()
	var doc results.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not a results document: %v\n%s", err, out)
	}
	b, _ := json.Marshal(doc.Measures)
	return string(b)
}

// TestRunEveryLayout: steward run gives the same figures on one practice
// written in every layout, through a built-in profile or a profile file,
// except the quantities EMIS cannot hold, which it warns about.
func TestRunEveryLayout(t *testing.T) {
	dir := t.TempDir()
	run := []string{"run", "--pack", "medsip", "--practice", "Y01234", "--as-of", "2025-03-31", "--baseline", "2024-03-31", "--unprotected"}
	code, canonical, errOut := steward(t, append(run, "--db", "sqlite:"+synthDB(t, dir, schema.Canonical))...)
	if code != cli.ExitOK {
		t.Fatalf("run canonical: exit %d\n%s", code, errOut)
	}
	want := measures(t, canonical)
	tpp := synthDB(t, dir, schema.TPP)
	org := schema.Parameters(schema.TPP, "Y01234")["organisation_id"]

	code, out, errOut := steward(t, append(run, "--db", "sqlite:"+tpp, "--profile", "tpp", "--profile-param", "organisation_id="+org)...)
	if code != cli.ExitOK || measures(t, out) != want {
		t.Fatalf("tpp: exit %d, figures\n%s\nwant\n%s\n%s", code, measures(t, out), want, errOut)
	}
	// A profile file: the built-in tpp one, copied as a practice would.
	b, err := os.ReadFile("../../searches/profile/tpp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "ours.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "name: tpp\n", "name: ours\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = steward(t, append(run, "--db", "sqlite:"+tpp, "--profile", file, "--profile-param", "organisation_id="+org)...)
	if code != cli.ExitOK || measures(t, out) != want || !strings.Contains(out, `"profile": "ours"`) {
		t.Fatalf("profile file: exit %d\n%s\n%s", code, out, errOut)
	}
	// Without its parameter, the profile says what to set.
	code, _, errOut = steward(t, append(run, "--db", "sqlite:"+tpp, "--profile", "tpp")...)
	if code != cli.ExitConfig || !strings.Contains(errOut, "profile tpp needs parameter organisation_id") || !strings.Contains(errOut, "--profile-param organisation_id=VALUE") {
		t.Errorf("tpp without organisation_id: exit %d\n%s", code, errOut)
	}

	// EMIS: every figure that reads no quantity is the canonical one, and
	// the others are named on stderr.
	emis := synthDB(t, dir, schema.EMIS)
	hash := schema.Parameters(schema.EMIS, "Y01234")["organisation_hash"]
	code, out, errOut = steward(t, append(run, "--db", "sqlite:"+emis, "--profile", "emis", "--profile-param", "organisation_hash="+hash)...)
	if code != cli.ExitOK {
		t.Fatalf("emis: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "warning: profile emis has no issue quantities: high_dose, ") {
		t.Errorf("emis: no warning on stderr:\n%s", errOut)
	}
	var c, e results.Document
	json.Unmarshal([]byte(canonical), &c) //nolint:errcheck // checked above
	json.Unmarshal([]byte(out), &e)       //nolint:errcheck
	uncomputable := map[string]bool{"high_dose": true, "high_dose_reviewed": true, "ome_total_mg": true, "ome_per_1000": true,
		"high_dose_baseline": true, "high_dose_baseline_stopped": true, "ome_unknown_issues": true}
	same := 0
	for i, m := range c.Measures {
		if uncomputable[m.ID] {
			if !strings.Contains(errOut, m.ID) {
				t.Errorf("emis: the warning does not name %s:\n%s", m.ID, errOut)
			}
			continue
		}
		a, _ := json.Marshal(m)
		b, _ := json.Marshal(e.Measures[i])
		if string(a) != string(b) {
			t.Errorf("emis: %s\n%s\nwant\n%s", m.ID, b, a)
		}
		same++
	}
	if same < 6 && synthPatients != "60" {
		t.Errorf("only %d measures compared on emis", same)
	}
}

func TestProfileLint(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`steward: profile/v1
name: bad
tables:
  patients: {sql: "SELECT patient_id, sex, date_of_birth, date_of_death FROM p"}
  registrations: {sql: "SELECT patient_id, practice_ods, start_date, end_date FROM r WHERE org = {{org}}"}
  medication_issues: {sql: "SELECT patient_id, issue_date, dmd_code, quantity FROM m"}
  clinical_events: {sql: "SELECT patient_id, event_date, snomed_code, numeric_value FROM e;"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := steward(t, "profile", "lint", "../../docs/examples/warehouse.yaml", bad)
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitConfig, out)
	}
	for _, want := range []string{
		"../../docs/examples/warehouse.yaml: ok: profile warehouse, parameters practice_code (text)",
		bad + ":4:19: table patients (sqlite, postgres, sqlserver) never names column imd_decile",
		bad + ":5:98: table registrations (sqlite, postgres, sqlserver): unknown placeholder {{org}} (the built-in ones are {{as_of}} and {{practice_ods}}; declare any other under parameters:)",
		bad + ":7:91: table clinical_events (sqlite, postgres, sqlserver): a fragment is one SELECT and may not contain ';'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
}

func TestProfileCheck(t *testing.T) {
	dir := t.TempDir()
	tpp := synthDB(t, dir, schema.TPP)
	org := schema.Parameters(schema.TPP, "Y01234")["organisation_id"]
	args := []string{"profile", "check", "--db", "sqlite:" + tpp, "--profile", "tpp", "--practice", "y01234", "--as-of", "2025-03-31"}
	code, out, errOut := steward(t, append(args, "--profile-param", "organisation_id="+org)...)
	if code != cli.ExitOK || !strings.Contains(out, "patients registered at Y01234 on 2025-03-31: ") || !strings.Contains(out, "0 failed, 0 warnings") {
		t.Fatalf("clean: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = steward(t, append(args, "--profile-param", "organisation_id=99")...)
	if code != cli.ExitDatabase || !strings.Contains(out, "fail  no patient is registered at Y01234 on 2025-03-31; the registrations give most patients to "+org) ||
		!strings.Contains(errOut, "profile tpp does not fit the database: 1 failure") {
		t.Fatalf("wrong organisation: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSearchTestThroughAProfileFile: the MedSIP fixtures pass through the
// worked example's profile file, on data its setup script lays out.
func TestSearchTestThroughAProfileFile(t *testing.T) {
	code, out, errOut := searchTest(t, "--engines", "sqlite", "--profile", "../../docs/examples/warehouse.yaml",
		"--setup", "../../docs/examples/warehouse-from-canonical.sql", "--profile-param", "practice_code=WY01234", profileFixtures)
	if code != cli.ExitOK || !strings.Contains(out, "on sqlite/warehouse: ") || !strings.Contains(out, " 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = searchTest(t, "--engines", "sqlite", "--profile", "../../docs/examples/warehouse.yaml",
		"--setup", "../../docs/examples/warehouse-from-canonical.sql", "--profile-param", "practice_code=W99999", "../../testdata/search-small/ok.test.yaml")
	if code != cli.ExitFailure || !strings.Contains(out, "FAIL ") {
		t.Fatalf("the wrong practice code passes: exit %d\n%s", code, out)
	}
	code, _, errOut = searchTest(t, "--layout", "tpp", "x.test.yaml")
	if code != cli.ExitUsage || !strings.Contains(errOut, "go with --profile") {
		t.Errorf("--layout alone: exit %d\n%s", code, errOut)
	}
}

func TestSearchSQLProfileParameters(t *testing.T) {
	p := program()
	p.Cmds = []*cli.Command{{Name: "search", Summary: "s", Sub: []*cli.Command{searchSQLCommand()}}}
	var out, errOut bytes.Buffer
	code := p.Do(context.Background(), []string{"search", "sql", "--dialect", "postgres", "--profile", "tpp", "--profile-param", "organisation_id=4201",
		"--as-of", "2025-03-31", "../../searches/packs/medsip/medsip.yaml"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "CASE WHEN o.Organisation_ID = CAST($") || !strings.Contains(s, " = 4201 (int)") || strings.Contains(s, "= 4201 THEN") {
		t.Errorf("the Organisation_ID is not a bind parameter:\n%s", s)
	}
}
