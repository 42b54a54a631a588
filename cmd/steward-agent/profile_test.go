package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/schema"
	"github.com/nhs-steward/steward/searches/synth"
)

// TestAgentReadsAProfileFile: a practice whose extract is in SystmOne's
// layout points the agent at a profile file of its own, relative to the
// config, with the practice's Organisation_ID as a profile parameter.
// check proves the profile against the database, and the month the agent
// sends holds exactly the figures steward run gives on the same practice
// in the canonical layout.
func TestAgentReadsAProfileFile(t *testing.T) {
	f := newFixture(t, 400, "")
	ctx := context.Background()
	tppPath := filepath.Join(f.dir, "sre.db")
	db, d, err := synth.Open("sqlite:" + tppPath)
	if err != nil {
		t.Fatal(err)
	}
	_, err = synth.Generate(ctx, db, d, synth.Config{Patients: 400, Seed: 7, Layout: schema.TPP,
		Start: time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), Practice: "Y01234"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	builtin, err := os.ReadFile(filepath.Join("..", "..", "searches", "profile", "tpp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ours := strings.Replace(string(builtin), "name: tpp\n", "name: ours\n", 1)
	if err := os.MkdirAll(filepath.Join(f.dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "profiles", "ours.yaml"), []byte(ours), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	org := schema.Parameters(schema.TPP, "Y01234")["organisation_id"]
	edited := strings.NewReplacer(
		"url: sqlite:"+f.dbPath, "url: sqlite:"+tppPath,
		"  profile: canonical\n", "  profile: profiles/ours.yaml\n  profile_parameters:\n    organisation_id: "+org+"\n",
	).Replace(string(cfg))
	if edited == string(cfg) || !strings.Contains(edited, "ours.yaml") || !strings.Contains(edited, tppPath) {
		t.Fatalf("config not edited:\n%s", edited)
	}
	if err := os.WriteFile(f.config, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := f.agent(nil, "check")
	for _, want := range []string{"profiles/ours.yaml)", "ok    profile ours: patients: the SQL runs", "ok    profile ours: registrations: the SQL runs", "ok    database"} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("check (want %q): %v\n%s", want, err, out)
		}
	}
	if out, err := f.agent(nil, "once", "--as-of", "2025-03-31"); err != nil {
		t.Fatalf("once: %v\n%s", err, out)
	}
	got, _ := collectorDocument(t, f.st, "2025-03-31")
	want := stewardRun(t, f.dbPath)
	gm, _ := json.Marshal(got.Measures)
	wm, _ := json.Marshal(want.Measures)
	if !bytes.Equal(gm, wm) {
		t.Fatalf("through profiles/ours.yaml the collector holds\n%s\nsteward run on the canonical layout gives\n%s", gm, wm)
	}
	if got.Producer.Profile != "ours" {
		t.Errorf("the document names profile %q, want ours", got.Producer.Profile)
	}
	if lt := got.Find("long_term"); lt == nil || *lt.Value == 0 {
		t.Fatalf("long_term is %v: the practice should have long-term users", lt)
	}

	// The wrong Organisation_ID: check fails, naming the one that holds
	// the practice's patients.
	if err := os.WriteFile(f.config, []byte(strings.Replace(edited, "organisation_id: "+org, "organisation_id: 7", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = f.agent(nil, "check")
	if processExit(err) != 4 || !strings.Contains(string(out), "fail  profile ours: no patient is registered at Y01234") ||
		!strings.Contains(string(out), "the registrations give most patients to "+org+" (") {
		t.Fatalf("check with the wrong Organisation_ID: exit %d\n%s", processExit(err), out)
	}
}
