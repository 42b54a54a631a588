package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

func TestSchemeAddList(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	if code, _, errs := run(t, "", "init-config", "--out", cfg); code != 0 {
		t.Fatalf("init-config: %d %s", code, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	data, err := os.ReadFile(exampleScheme)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "count: long_term_reviewed.numerator", "count: long_term_reviewd.numerator", 1)
	broken = strings.Replace(broken, "pence_per_patient: 1500", `pence_per_patient: "1500"`, 1)
	if err := os.WriteFile(bad, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "", "scheme", "add", "--config", cfg, bad)
	if code != cli.ExitConfig || !strings.Contains(errs, `unknown measure "long_term_reviewd"`) || !strings.Contains(errs, "must be a number, not a string") {
		t.Fatalf("scheme add (invalid): exit %d\n%s", code, errs)
	}
	if code, out, _ := run(t, "", "scheme", "list", "--config", cfg); code != 0 || strings.Contains(out, "example-icb") {
		t.Fatalf("an invalid scheme was stored: %d\n%s", code, out)
	}
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
