package catalogue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector/catalogue"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/run"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/searches"
	"github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/synth"
)

func TestBuiltinMedsip(t *testing.T) {
	s, err := catalogue.New(nil, nil).Lookup("medsip", "2026.1.0")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range s.Measures {
		ids = append(ids, m.ID)
	}
	// MEASURES.md's table, in order.
	want := "registered_adults eligible_adults long_term high_dose long_term_reviewed high_dose_reviewed ome_total_mg ome_per_1000 " +
		"long_term_baseline high_dose_baseline long_term_baseline_stopped high_dose_baseline_stopped baseline_lost ome_unknown_issues"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("measures %s\nwant %s", got, want)
	}
	for _, c := range []struct {
		id       string
		kind     string
		per      float64
		num, den bool
		at       string
	}{
		{"long_term_reviewed", results.KindRatio, 1, true, true, "as_of"},
		{"high_dose_baseline_stopped", results.KindRatio, 1, true, true, "as_of"},
		{"ome_per_1000", results.KindRatio, 1000, false, true, "as_of"}, // mg per 1,000 adults: not patients over patients
		{"ome_total_mg", results.KindSum, 0, false, false, "as_of"},
		{"long_term_baseline", results.KindCount, 0, false, false, "baseline"},
	} {
		m := s.Measure(c.id)
		if m == nil || m.Kind != c.kind || m.Per != c.per || m.NumeratorPatients != c.num || m.DenominatorPatients != c.den || m.At != c.at || m.Title == "" {
			t.Errorf("%s = %+v, want kind %s per %v patients %v/%v at %s", c.id, m, c.kind, c.per, c.num, c.den, c.at)
		}
	}
	lt := s.Measure("long_term")
	if len(lt.Strata) != 3 || lt.Strata[1].Dimension != "age_band" || !slices.Contains(lt.Strata[1].Labels, "80+") {
		t.Errorf("long_term strata %+v", lt.Strata)
	}
	if !slices.Contains(s.Parameters, "high_dose_mg_per_day") || len(s.Searches) != 1 || s.Searches[0] != "medsip" {
		t.Errorf("parameters %v, searches %v", s.Parameters, s.Searches)
	}
}

func TestUnknownVersion(t *testing.T) {
	_, err := catalogue.New(nil, nil).Lookup("medsip", "2099.1.0")
	if !errors.Is(err, results.ErrUnknownPack) {
		t.Fatalf("Lookup = %v, want ErrUnknownPack", err)
	}
	for _, want := range []string{"medsip 2099.1.0", "it knows medsip 2026.1.0", "publish its bundle"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if _, err := catalogue.New(nil, nil).Lookup("other", "1.0.0"); !errors.Is(err, results.ErrUnknownPack) || !strings.Contains(err.Error(), "no version of other") {
		t.Fatalf("unknown pack: %v", err)
	}
}

// TestBuiltinAcceptsStewardRun: what steward run (and so the agent) makes
// of a synthetic practice passes Validate and CheckPack, disclosure
// control applied.
func TestBuiltinAcceptsStewardRun(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, d, err := synth.Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC)
	_, err = synth.Generate(ctx, db, d, synth.Config{Patients: 800, Seed: 3, Start: time.Date(2022, 4, 1, 0, 0, 0, 0, time.UTC), End: asOf})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	pack, err := run.LoadPack("medsip")
	if err != nil {
		t.Fatal(err)
	}
	r, err := run.Open("sqlite:"+path, "canonical", pack, "steward-agent")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	doc, err := r.Document(ctx, run.Request{Practice: synth.DefaultPractice, AsOf: asOf, Baseline: asOf.AddDate(-1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := results.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Decode of steward run's document: %v", err)
	}
	s, err := catalogue.New(nil, nil).Lookup(got.Pack.ID, got.Pack.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.CheckPack(s); err != nil {
		t.Fatalf("CheckPack of steward run's document: %v", err)
	}
	if m := got.Find("ome_per_1000"); m.Denominator == nil || *m.Denominator != *got.Find("eligible_adults").Value {
		t.Errorf("ome_per_1000 denominator %v, want the eligible adults %v", m.Denominator, *got.Find("eligible_adults").Value)
	}
}

// TestPublishedBundle: a version published to the repository while the
// collector runs is known at once, with its own titles.
func TestPublishedBundle(t *testing.T) {
	f := tuftest.New(t)
	c := catalogue.New(f.Repo, nil)
	if _, err := c.Lookup("medsip", "2026.2.0"); !errors.Is(err, results.ErrUnknownPack) {
		t.Fatalf("before publishing: %v", err)
	}

	// medsip 2026.2.0: the built-in pack with a title changed.
	dir, err := searches.ExtractBuiltin("medsip", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "pack.yaml"), "version: 2026.1.0", "version: 2026.2.0")
	edit(t, filepath.Join(dir, "medsip.yaml"), "title: Registered adults", "title: Adults registered at the practice")
	b, tgz, err := bundle.Build(dir, bundle.WithCreated(f.Clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", f.Sign(b, f.Author), tgz); err != nil {
		t.Fatal(err)
	}

	s, err := c.Lookup("medsip", "2026.2.0")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Measure("registered_adults").Title; got != "Adults registered at the practice" {
		t.Fatalf("title %q", got)
	}
	if old, _ := c.Lookup("medsip", "2026.1.0"); old.Measure("registered_adults").Title != "Registered adults" {
		t.Fatal("the built-in version changed")
	}
	_, err = c.Lookup("medsip", "2026.3.0")
	if !errors.Is(err, results.ErrUnknownPack) || !strings.Contains(err.Error(), "medsip 2026.1.0, 2026.2.0") {
		t.Fatalf("unknown version with a repository: %v", err)
	}

	// The fixture's own pack does not load (its search has no measures):
	// that is the collector's fault, not the agent's, and it stays so.
	f.MustPublish("2026.3.0")
	_, err = c.Lookup("medsip", "2026.3.0")
	if err == nil || errors.Is(err, results.ErrUnknownPack) || !strings.Contains(err.Error(), "stored bundle medsip 2026.3.0") {
		t.Fatalf("a stored bundle that does not load: %v", err)
	}
	if _, again := c.Lookup("medsip", "2026.3.0"); again == nil || again.Error() != err.Error() {
		t.Fatalf("second lookup: %v", again)
	}
}

func edit(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(from)) {
		t.Fatalf("%s has no %q", path, from)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(from), []byte(to), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}
