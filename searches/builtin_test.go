package searches_test

import (
	"testing"

	"github.com/nhs-steward/steward/searches"
	"github.com/nhs-steward/steward/searches/lang"
)

// The built-in pack's version as the collector reads it is the version the
// agent runs: the one its loaded pack, and so its results documents, carry.
func TestBuiltinPackVersion(t *testing.T) {
	got, err := searches.BuiltinPackVersion("medsip")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := searches.ExtractBuiltin("medsip", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p, err := lang.LoadPack(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got == "" || got != p.Version {
		t.Fatalf("BuiltinPackVersion = %q, the loaded pack's version %q", got, p.Version)
	}
	if _, err := searches.BuiltinPackVersion("nope"); err == nil {
		t.Fatal("no error for a pack that is not built in")
	}
}
