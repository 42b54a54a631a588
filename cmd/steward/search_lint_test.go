package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
)

// lint runs "steward search lint args..." with the lint command mounted
// under a search command, as commands() does.
func lint(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := program()
	p.Cmds = []*cli.Command{{Name: "search", Summary: "author searches", Sub: []*cli.Command{searchLintCommand()}}}
	var out, errOut bytes.Buffer
	code = p.Do(context.Background(), append([]string{"search", "lint"}, args...), cli.IO{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

const langTestdata = "../../searches/lang/testdata"

func TestSearchLintValid(t *testing.T) {
	code, out, errOut := lint(t, langTestdata+"/valid")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"valid/medsip.yaml: ok: search medsip, 14 variables, 10 measures, a local worklist, codelists opioids (",
		"valid/pack.yaml: ok: pack medsip 2026.1.0, 2 searches, 13 measures",
		"valid/reviews.yaml: ok: search reviews",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestSearchLintProblems(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("steward: search/v1\nid: bad\nvariables:\n  x: registerd\nmeasures:\n  - id: x\n    count: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join(dir, "bad.test.yaml")
	if err := os.WriteFile(fixture, []byte("steward: search-test/v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lint(t, dir, filepath.Join(dir, "missing.yaml"))
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, cli.ExitConfig, out, errOut)
	}
	for _, want := range []string{
		bad + `:4:6: undefined name "registerd" (did you mean "registered"?)`,
		fixture + ": skipped",
		filepath.Join(dir, "missing.yaml") + ": no such file or directory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if want := "steward search lint: 2 problems in 2 files\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
}

func TestSearchLintInvalidFixtures(t *testing.T) {
	code, out, _ := lint(t, langTestdata+"/invalid/window_months_zero.yaml", langTestdata+"/invalid/pack_duplicates.yaml")
	if code != cli.ExitConfig {
		t.Fatalf("exit %d, want %d", code, cli.ExitConfig)
	}
	if want := "invalid/window_months_zero.yaml:10:48: window months must be between 1 and 1200, not 0"; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
	if want := `measure id "registered" is also used at`; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
}

func TestSearchLintUsage(t *testing.T) {
	if code, _, _ := lint(t); code != cli.ExitUsage {
		t.Errorf("no paths: exit %d, want %d", code, cli.ExitUsage)
	}
	code, out, _ := lint(t, "--help")
	if code != cli.ExitOK || !strings.Contains(out, "Usage: steward search lint PATH...\n") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}
