package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTemplateParses(t *testing.T) {
	c, err := Parse("agent.yaml", []byte(Template("Y01234", "/var/lib/steward")))
	if err != nil {
		t.Fatalf("template does not parse: %v", err)
	}
	if c.Practice != "Y01234" || c.Schedule.DayOfMonth != 5 || c.Heartbeat.Duration != 6*time.Hour || c.Database.Profile != "canonical" {
		t.Errorf("parsed template = %+v", c)
	}
	if got := c.BaselineDate().Format(time.DateOnly); got != "2024-03-31" {
		t.Errorf("baseline = %s", got)
	}
}

func TestProblemsAllReportedWithPositions(t *testing.T) {
	src := `version: 1
practice: y1
database:
  url: postgres://u:secret@db/practice
  profil: tpp
collector:
  url: ftp://x
schedule:
  day_of_month: 31
  time: "25:00"
data_dir: /tmp/x
bundle: {approval: sometimes}
heartbeat: soon
`
	_, err := Parse("agent.yaml", []byte(src))
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want Problems", err)
	}
	want := []string{
		`agent.yaml:2:11: practice "y1" is not an ODS code`,
		`agent.yaml:4:8: the database url holds a password`,
		`agent.yaml:5:3: unknown key "profil" in database (known keys: url, url_file, url_env, profile, timeout, profile_parameters)`,
		`agent.yaml:7:8: collector url "ftp://x" is not an https URL`,
		`agent.yaml:9:17: day_of_month 31 is not between 1 and 28`,
		`agent.yaml:10:9: time "25:00" is not HH:MM`,
		`agent.yaml:12:20: approval "sometimes" is not automatic or manual`,
		`agent.yaml:13:12: "soon" is not a duration`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q in:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("a problem message repeats the database password:\n%s", msg)
	}
}

func TestSecondDocumentAndVersion(t *testing.T) {
	_, err := Parse("a.yaml", []byte(strings.Replace(Template("Y01234", "/d"), "version: 1", "version: 2", 1)+"---\nx: 1\n"))
	if err == nil || !strings.Contains(err.Error(), "version 2 is not supported") || !strings.Contains(err.Error(), "a second YAML document") {
		t.Fatalf("err = %v", err)
	}
}

func TestDatabaseURLFromEnv(t *testing.T) {
	src := strings.Replace(Template("Y01234", "/d"), "url: sqlite:practice.db", "url_env: STEWARD_TEST_DB_URL", 1)
	c, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STEWARD_TEST_DB_URL", "sqlite:x.db")
	if u, err := c.DatabaseURL(); err != nil || u != "sqlite:x.db" {
		t.Fatalf("DatabaseURL = %q, %v", u, err)
	}
}

// TestDuplicateAndTypeProblemsHavePositions checks problems the yaml.v3
// struct decoder used to report at column 1 in its own words: a repeated
// key (which also made it drop the whole mapping, so that every key in it
// was then reported missing) and a value of the wrong type.
func TestDuplicateAndTypeProblemsHavePositions(t *testing.T) {
	src := strings.Replace(Template("Y01234", "/d"), "  profile: canonical\n", "  profile: canonical\n  profile: tpp\n", 1)
	src = strings.Replace(src, "day_of_month: 5", "day_of_month: [5]", 1)
	src = strings.Replace(src, "catch_up_months: 12", "catch_up_months: 0x0c", 1)
	_, err := Parse("a.yaml", []byte(src))
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want Problems", err)
	}
	want := `a.yaml:19:3: key "profile" given twice in database (keep one: the first is on line 18)
a.yaml:32:17: a single value is expected here, not a list or a mapping (write the value after the colon)
a.yaml:36:20: "0x0c" is not a whole number (write digits only, e.g. 5)`
	if got := err.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestBlankValueLeavesDefault(t *testing.T) {
	src := strings.Replace(Template("Y01234", "/d"), "heartbeat: 6h", "heartbeat:", 1)
	src = strings.Replace(src, "  profile: canonical", "  profile:", 1)
	c, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Heartbeat.Duration != 6*time.Hour || c.Database.Profile != "canonical" {
		t.Errorf("heartbeat %v, profile %q; want the defaults", c.Heartbeat, c.Database.Profile)
	}
}

func TestNotOneDocument(t *testing.T) {
	if _, err := Parse("a.yaml", []byte("# nothing yet\n")); err == nil || err.Error() != "a.yaml:1:1: the file is empty (run `steward-agent init` for a commented template)" {
		t.Errorf("empty: err = %v", err)
	}
	if _, err := Parse("a.yaml", []byte("version: 1\npractice: a: b\n")); err == nil || err.Error() != "a.yaml:2:1: invalid YAML: mapping values are not allowed in this context (check the indentation, colons and brackets around this line)" {
		t.Errorf("syntax: err = %v", err)
	}
}

// TestProfileFileAndParameters: database.profile names a built-in profile
// or a file relative to the config; its parameters are checked against
// the profile at their keys.
func TestProfileFileAndParameters(t *testing.T) {
	dir := t.TempDir()
	ours := `steward: profile/v1
name: ours
parameters:
  org: {type: integer, description: "our organisation number"}
tables:
  patients: {sql: "SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM p"}
  registrations: {sql: "SELECT patient_id, CASE WHEN org = {{org}} THEN {{practice_ods}} END AS practice_ods, start_date, end_date FROM r"}
  medication_issues: {sql: "SELECT patient_id, issue_date, dmd_code, quantity FROM m"}
  clinical_events: {sql: "SELECT patient_id, event_date, snomed_code, numeric_value FROM e"}
`
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "profiles", "ours.yaml"), []byte(ours), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte(strings.Replace(ours, "name: ours", "name: Ours", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	base := Template("Y01234", "/d")
	parse := func(db string) (*Config, error) {
		return Parse(filepath.Join(dir, "agent.yaml"), []byte(strings.Replace(base, "  profile: canonical\n", db, 1)))
	}
	c, err := parse("  profile: profiles/ours.yaml\n  profile_parameters:\n    org: 42\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Profile != filepath.Join(dir, "profiles", "ours.yaml") {
		t.Errorf("profile path %q, want it made absolute against the config", c.Database.Profile)
	}
	p, err := c.Profile()
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Value("org"); p.Name != "ours" || v != int64(42) {
		t.Errorf("profile %s, org %v", p.Name, v)
	}
	if c, err := parse("  profile: tpp\n  profile_parameters: {organisation_id: 2055899344}\n"); err != nil {
		t.Errorf("tpp with its parameter: %v", err)
	} else if _, err := c.Profile(); err != nil {
		t.Errorf("tpp profile: %v", err)
	}
	for _, c := range []struct{ db, want string }{
		{"  profile: vision\n", `agent.yaml:18:12: unknown profile "vision" (use canonical, tpp (SystmOne) or emis (EMIS Web), or the path of a profile file (*.yaml))`},
		{"  profile: missing.yaml\n", "agent.yaml:18:12: profile file " + filepath.Join(dir, "missing.yaml") + " cannot be read"},
		{"  profile: broken.yaml\n", "agent.yaml:18:12: profile file " + filepath.Join(dir, "broken.yaml") + ` has 1 problem, the first: ` + filepath.Join(dir, "broken.yaml") + `:2:7: name "Ours" is not [a-z][a-z0-9_]* (run ` + "`steward profile lint"},
		{"  profile: tpp\n", "agent.yaml:18:12: profile tpp needs parameter organisation_id (add `profile_parameters: {organisation_id: VALUE}` under database: The Organisation_ID"},
		{"  profile: tpp\n  profile_parameters:\n    organisation_id: twelve\n    org: 1\n", `agent.yaml:20:22: profile parameter organisation_id: "twelve" is not a whole number (want integer: `},
		{"  profile: tpp\n  profile_parameters:\n    organisation_id: twelve\n    org: 1\n", `agent.yaml:21:5: profile tpp has no parameter "org" (profile tpp declares organisation_id)`},
		{"  profile: canonical\n  profile_parameters: [1]\n", "agent.yaml:19:23: database.profile_parameters must be a mapping of names to values"},
	} {
		_, err := parse(c.db)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("database with\n%s: error\n%v\nwant one containing\n%s", c.db, err, c.want)
		}
	}
}
