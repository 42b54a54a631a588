package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// copyMedsip copies the MedSIP pack with its codelists and OME table into
// a fresh searches folder and returns the pack folder.
func copyMedsip(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "searches")
	for _, d := range []string{"packs/medsip", "codelists", "reference"} {
		ents, err := os.ReadDir(filepath.Join("..", d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() || (d == "reference" && !strings.HasPrefix(e.Name(), "ome-")) {
				continue
			}
			b, err := os.ReadFile(filepath.Join("..", d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			writeFiles(t, filepath.Join(root, d), map[string]string{e.Name(): string(b)})
		}
	}
	return filepath.Join(root, "packs", "medsip")
}

// edit replaces old by new in file (once, and it must be there).
func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not hold %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseSummarisesWhatChanged(t *testing.T) {
	old := copyMedsip(t)
	cur := copyMedsip(t)
	edit(t, filepath.Join(cur, "pack.yaml"), "version: 2026.1.0", "version: 2026.2.0")
	// The high-dose threshold mistyped, a new measure, a palliative code
	// dropped, one OME value changed.
	edit(t, filepath.Join(cur, "medsip.yaml"), "default: 120", "default: 12")
	edit(t, filepath.Join(cur, "medsip.yaml"), "  - id: ome_unknown_issues\n", "  - id: gabapentinoid_users\n    title: Opioid users also on a gabapentinoid\n    count: any_opioid_3m and gabapentinoid_3m\n  - id: ome_unknown_issues\n")
	edit(t, filepath.Join(cur, "../../codelists/nhsd-primary-care-domain-refsets-palcare_cod.csv"), "1025611000000105,End of life care plan offered\r\n", "")
	edit(t, filepath.Join(cur, "../../reference/ome-uk-2020.1.csv"), "42010211000001106,VMP,,Co-codamol 8mg/500mg tablets,0407010F0AAAAAA,codeine,oral,tablet,0.8,", "42010211000001106,VMP,,Co-codamol 8mg/500mg tablets,0407010F0AAAAAA,codeine,oral,tablet,0.9,")

	r, err := NewRelease(cur, "Adds gabapentinoid co-prescribing.\n", old)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pack != "medsip" || r.Version != "2026.2.0" || r.Previous != "2026.1.0" {
		t.Fatalf("release = %s %s previous %s", r.Pack, r.Version, r.Previous)
	}
	c := r.Changes
	if !slices.Equal(c.MeasuresAdded, []string{"gabapentinoid_users"}) || len(c.MeasuresRemoved) != 0 {
		t.Errorf("added %v, removed %v", c.MeasuresAdded, c.MeasuresRemoved)
	}
	if len(c.Parameters) != 1 || c.Parameters[0].Name != "high_dose_mg_per_day" || *c.Parameters[0].From != 120 || *c.Parameters[0].To != 12 {
		t.Errorf("parameters = %+v", c.Parameters)
	}
	if len(c.Codelists) != 1 || c.Codelists[0].Name != "palliative" || c.Codelists[0].CodesRemoved != 1 ||
		!slices.Equal(c.Codelists[0].Removed, []string{"1025611000000105"}) || c.Codelists[0].CodesAdded != 0 {
		t.Errorf("codelists = %+v", c.Codelists)
	}
	if len(c.References) != 1 || c.References[0].Name != "ome" || c.References[0].RowsChanged != 1 {
		t.Errorf("references = %+v", c.References)
	}
	changed := map[string]string{}
	for _, m := range c.MeasuresChanged {
		changed[m.ID] = strings.Join(m.What, "; ")
	}
	// high_dose reads the threshold: changed, saying why. registered_adults
	// reads no threshold, codelist or table that changed: unchanged.
	if w := changed["high_dose"]; !strings.Contains(w, "parameter high_dose_mg_per_day: 120 → 12") || !strings.Contains(w, "codelist palliative") {
		t.Errorf("high_dose changed because %q", w)
	}
	if w := changed["ome_total_mg"]; !strings.Contains(w, "reference table ome") {
		t.Errorf("ome_total_mg changed because %q", w)
	}
	if _, ok := changed["registered_adults"]; ok {
		t.Errorf("registered_adults reported changed: %q", changed["registered_adults"])
	}
	if _, ok := changed["long_term"]; !ok {
		t.Errorf("long_term (palliative patients excluded) not reported changed")
	}
	text := strings.Join(c.Lines(), "\n")
	for _, want := range []string{"measure added: gabapentinoid_users", "parameter changed: high_dose_mg_per_day (search medsip): 120 → 12",
		"codelist changed: palliative (search medsip), 0 codes added, 1 removed; removed 1025611000000105"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}

	// The bundle carries it, hashed like any file, and reads back.
	b, tgz, err := Build(cur, WithCreated(created), WithRelease(r))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(b.Manifest.Files, func(f File) bool { return f.Path == ReleaseName }) {
		t.Fatalf("manifest does not list %s", ReleaseName)
	}
	dir := filepath.Join(t.TempDir(), "x")
	if err := Extract(tgz, dir); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRelease(dir)
	if err != nil || got == nil || got.Notes != r.Notes || len(got.Changes.MeasuresChanged) != len(c.MeasuresChanged) {
		t.Fatalf("ReadRelease = %+v, %v", got, err)
	}
	// A bundle without one (built before releases had notes) reads as nil.
	_, tgz, err = Build(old, WithCreated(created))
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(t.TempDir(), "y")
	if err := Extract(tgz, dir); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRelease(dir); got != nil || err != nil {
		t.Fatalf("ReadRelease of a bundle without notes = %+v, %v", got, err)
	}
}

func TestReleaseRefusals(t *testing.T) {
	pack := copyMedsip(t)
	if _, err := NewRelease(pack, "  \n", ""); err == nil || !strings.Contains(err.Error(), "release notes are empty") {
		t.Errorf("empty notes: %v", err)
	}
	if _, err := NewRelease(pack, strings.Repeat("x", MaxNotes+1), ""); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("long notes: %v", err)
	}
	if _, err := NewRelease(pack, "notes", pack); err == nil || !strings.Contains(err.Error(), "is not below") {
		t.Errorf("same version as previous: %v", err)
	}
	r, err := NewRelease(pack, "notes", "")
	if err != nil || r.Changes != nil || r.Previous != "" {
		t.Fatalf("first release = %+v, %v", r, err)
	}
	r.Version = "2026.9.0"
	if _, _, err := Build(pack, WithRelease(r)); err == nil || !strings.Contains(err.Error(), "release notes are for medsip 2026.9.0") {
		t.Errorf("Build with another version's notes: %v", err)
	}
}

// TestReleaseSeesStrataByVariables: a stratification by a variable is part
// of what a measure counts, so changing its cells changes the measure.
func TestReleaseSeesStrataByVariables(t *testing.T) {
	old := copyMedsip(t)
	cur := copyMedsip(t)
	edit(t, filepath.Join(cur, "pack.yaml"), "version: 2026.1.0", "version: 2026.2.0")
	const long = "    count: long_term\n    stratify: [sex, age_band, imd_quintile"
	edit(t, filepath.Join(old, "medsip.yaml"), long, long+", {variable: daily_ome, values: [0]}")
	edit(t, filepath.Join(cur, "medsip.yaml"), long, long+", {variable: daily_ome, values: [0, 50]}")
	r, err := NewRelease(cur, "Splits long-term users at 50 mg/day.\n", old)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, m := range r.Changes.MeasuresChanged {
		changed = append(changed, m.ID)
	}
	if !slices.Equal(changed, []string{"long_term"}) {
		t.Errorf("measures changed = %v, want [long_term]", changed)
	}
}
