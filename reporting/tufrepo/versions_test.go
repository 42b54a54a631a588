package tufrepo_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
)

// PublishedVersions reads what agents are offered from the metadata alone.
func TestPublishedVersions(t *testing.T) {
	f := tuftest.New(t)
	if got, err := tufrepo.PublishedVersions(f.Dir, tuftest.Pack); err != nil || len(got) != 0 {
		t.Fatalf("before the first publish: %v, %v", got, err)
	}
	for _, v := range []string{"2026.1.0", "2026.2.0", "2026.10.0"} {
		f.MustPublish(v)
	}
	got, err := tufrepo.PublishedVersions(f.Dir, tuftest.Pack)
	if err != nil || strings.Join(got, " ") != "2026.1.0 2026.2.0 2026.10.0" {
		t.Fatalf("PublishedVersions = %v, %v", got, err)
	}
	// A withdrawn version is not offered; a pre-release sorts before its release.
	if _, err := f.Withdraw("2026.2.0", "wrong threshold"); err != nil {
		t.Fatal(err)
	}
	f.MustPublish("2026.11.0-rc.1")
	got, err = tufrepo.PublishedVersions(f.Dir, tuftest.Pack)
	if err != nil || strings.Join(got, " ") != "2026.1.0 2026.10.0 2026.11.0-rc.1" {
		t.Fatalf("PublishedVersions after a withdrawal = %v, %v", got, err)
	}
	if got, err := tufrepo.PublishedVersions(f.Dir, "other"); err != nil || len(got) != 0 {
		t.Fatalf("another pack: %v, %v", got, err)
	}
	if _, err := tufrepo.PublishedVersions(filepath.Join(t.TempDir(), "none"), tuftest.Pack); err == nil || !strings.Contains(err.Error(), "tuf init") {
		t.Fatalf("no repository: %v", err)
	}
}
