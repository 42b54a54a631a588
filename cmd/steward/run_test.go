package main

import (
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/searches/schema"
)

// TestRunRefusesUnknownParameter: a misspelt --param is refused with the
// pack's parameters, never ignored (issue #15).
func TestRunRefusesUnknownParameter(t *testing.T) {
	db := synthDB(t, t.TempDir(), schema.Canonical)
	run := []string{"run", "--db", "sqlite:" + db, "--pack", "medsip", "--practice", "Y01234", "--as-of", "2025-03-31", "--baseline", "2024-03-31"}
	code, out, errOut := steward(t, append(run, "--param", "high_dose_mg_per_dya=90")...)
	if code != cli.ExitUsage || out != "" {
		t.Fatalf("misspelt parameter: exit %d, want %d\n%s%s", code, cli.ExitUsage, out, errOut)
	}
	for _, want := range []string{`unknown parameter "high_dose_mg_per_dya"`, "high_dose_mg_per_day", "--param NAME=VALUE"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("message does not say %q:\n%s", want, errOut)
		}
	}
	code, out, errOut = steward(t, append(run, "--param", "high_dose_mg_per_day=90")...)
	if code != cli.ExitOK || !strings.Contains(out, `"high_dose_mg_per_day": "90"`) {
		t.Errorf("known parameter: exit %d\n%s%s", code, out, errOut)
	}
}

// TestRunWithoutBaselineSaysWhere: a run of a pack that needs a baseline,
// without one, names where the pack uses it (as lint does) and the flag.
func TestRunWithoutBaselineSaysWhere(t *testing.T) {
	db := synthDB(t, t.TempDir(), schema.Canonical)
	code, _, errOut := steward(t, "run", "--db", "sqlite:"+db, "--pack", "medsip", "--practice", "Y01234", "--as-of", "2025-03-31")
	if code != cli.ExitUsage {
		t.Fatalf("exit %d, want %d\n%s", code, cli.ExitUsage, errOut)
	}
	for _, want := range []string{"this pack compares against a baseline (search medsip uses it: ", "medsip.yaml:", "--baseline 2024-03-31"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("message lacks %q:\n%s", want, errOut)
		}
	}
}
