package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/searches/bundle"
)

// steward runs the steward program with args in process.
func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// One version rule: lint and bundle accept and refuse the same versions.
func TestLintAndBundleAgreeOnVersions(t *testing.T) {
	f := tuftest.New(t)
	pack := filepath.Join(f.Searches, "packs", tuftest.Pack)
	notes := filepath.Join(t.TempDir(), "notes.txt")
	writeTestFile(t, notes, "notes\n")
	for v, ok := range map[string]bool{"2026.4.0-rc1": true, "2026.4.0-rc.1": true, "2026.4.0": true, "2026.4": false, "2026.1.0.1": false, "2026.4.0+b1": false} {
		writeTestFile(t, filepath.Join(pack, "pack.yaml"), "steward: pack/v1\nid: medsip\nversion: "+v+"\nsearches: [search.yaml]\n")
		lint, out, _ := steward(t, "search", "lint", pack)
		bcode, bout, berr := steward(t, "search", "bundle", pack, "--notes", notes, "--out", filepath.Join(t.TempDir(), "b.tar.gz"))
		if (lint == 0) != ok || (bcode == 0) != ok {
			t.Errorf("version %s: lint exit %d, bundle exit %d, want both to %s\n%s%s%s", v, lint, bcode, map[bool]string{true: "accept", false: "refuse"}[ok], out, bout, berr)
		}
	}
}

func TestBundleRefusesAPackThatFailsItsFixtures(t *testing.T) {
	f := tuftest.New(t)
	pack := filepath.Join(f.Searches, "packs", tuftest.Pack)
	writeTestFile(t, filepath.Join(pack, "pack.yaml"), "steward: pack/v1\nid: medsip\nversion: 1.0.0\nsearches: [search.yaml]\n")
	notes := filepath.Join(t.TempDir(), "notes.txt")
	writeTestFile(t, notes, "First release.\n")
	out := filepath.Join(t.TempDir(), "b.tar.gz")

	// A threshold typed wrong: the fixture expects one user, there are none.
	writeTestFile(t, filepath.Join(pack, "search.yaml"), strings.Replace(tuftest.Search, "ome_3m > 0", "ome_3m > 1000", 1))
	code, stdout, stderr := steward(t, "search", "bundle", pack, "--notes", notes, "--out", out)
	if code != cli.ExitConfig || !strings.Contains(stdout, "FAIL ") || !strings.Contains(stdout, "measure users: got 0, want 1") ||
		!strings.Contains(stderr, "release refused: the pack's fixture tests fail (1 of 1 cases failed)") {
		t.Fatalf("bundle of a failing pack: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused bundle was written")
	}
	// Lint problems refuse too, and so does a pack with no fixtures.
	writeTestFile(t, filepath.Join(pack, "search.yaml"), strings.Replace(tuftest.Search, "ome_3m > 0", "ome_3m > nothing", 1))
	if code, stdout, stderr = steward(t, "search", "bundle", pack, "--notes", notes, "--out", out); code != cli.ExitConfig || !strings.Contains(stderr, "the pack fails lint") || !strings.Contains(stdout, "search.yaml:") {
		t.Fatalf("bundle of a pack failing lint: exit %d\n%s%s", code, stdout, stderr)
	}
	writeTestFile(t, filepath.Join(pack, "search.yaml"), tuftest.Search)
	os.Remove(filepath.Join(pack, "search.test.yaml"))
	if code, stdout, stderr = steward(t, "search", "bundle", pack, "--notes", notes, "--out", out); code != cli.ExitConfig || !strings.Contains(stderr, "no fixture tests") {
		t.Fatalf("bundle of a pack without fixtures: exit %d\n%s%s", code, stdout, stderr)
	}
	// No notes, no bundle.
	writeTestFile(t, filepath.Join(pack, "search.test.yaml"), tuftest.Test)
	if code, _, stderr = steward(t, "search", "bundle", pack, "--out", out); code != cli.ExitUsage || !strings.Contains(stderr, "--notes are required") {
		t.Fatalf("bundle without notes: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr = steward(t, "search", "bundle", pack, "--notes", notes, "--out", out); code != 0 || !strings.Contains(stdout, "gate: lint passes; 1 cases in 1 files on eval, sqlite/canonical, sqlite/emis, sqlite/tpp: 1 passed") {
		t.Fatalf("bundle of a good pack: exit %d\n%s%s", code, stdout, stderr)
	}
}

// sign, publish, withdraw and promote against a collector's repository on
// loopback.
func TestSignPublishPilotPromoteWithdraw(t *testing.T) {
	f := tuftest.New(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "author.key")
	if err := bundle.WritePrivateKey(key, f.Author); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	writeTestFile(t, token, "unused\n")
	pack := filepath.Join(f.Searches, "packs", tuftest.Pack)
	notes := filepath.Join(dir, "notes.txt")
	signArgs := func(extra ...string) []string {
		return append([]string{"--key", key, "--root", f.RootPath, "--repo-metadata", f.Server.URL}, extra...)
	}
	release := func(version string, extra ...string) (int, string, string) {
		t.Helper()
		writeTestFile(t, filepath.Join(pack, "pack.yaml"), "steward: pack/v1\nid: medsip\nversion: "+version+"\nsearches: [search.yaml]\n")
		writeTestFile(t, notes, "Release "+version+".\n")
		out := filepath.Join(dir, "signed-"+version)
		code, stdout, stderr := steward(t, append(append([]string{"search", "sign"}, signArgs("--notes", notes, "--out", out)...), append(extra, pack)...)...)
		if code != 0 {
			return code, stdout, stderr
		}
		c2, o2, e2 := steward(t, "search", "publish", "--collector", f.Server.URL, "--token", token, out)
		return c2, stdout + o2, stderr + e2
	}
	if code, out, errs := release("1.0.0"); code != 0 || !strings.Contains(out, "changes: first release") || !strings.Contains(out, "published medsip 1.0.0") {
		t.Fatalf("first release: exit %d\n%s%s", code, out, errs)
	}
	// The next release's summary compares with what is published: the
	// author adds a measure.
	writeTestFile(t, filepath.Join(pack, "search.yaml"), tuftest.Search+"  - id: all\n    title: Registered patients\n    count: registered\n")
	code, out, errs := release("1.1.0", "--pilot", "Y05678,Y01234")
	if code != 0 || !strings.Contains(out, "changes since 1.0.0:\n  measure added: all\n") ||
		!strings.Contains(out, "medsip/1.1.0.tar.gz  (new; pilot: Y01234, Y05678)") ||
		!strings.Contains(out, "for the pilot practices Y01234, Y05678 only; open it to all with: steward search promote 1.1.0") {
		t.Fatalf("pilot release: exit %d\n%s%s", code, out, errs)
	}
	run := func(args ...string) string {
		t.Helper()
		code, out, errs := steward(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	out = run(append([]string{"search", "promote", "1.1.0"}, signArgs("--out", filepath.Join(dir, "promote"))...)...)
	if !strings.Contains(out, "medsip/1.1.0.tar.gz  (promoted to every practice)") {
		t.Fatalf("promote:\n%s", out)
	}
	if out = run("search", "publish", "--collector", f.Server.URL, "--token", token, filepath.Join(dir, "promote")); !strings.Contains(out, "promoted medsip/1.1.0.tar.gz") {
		t.Fatalf("publish the promotion:\n%s", out)
	}
	if code, _, errs := steward(t, append([]string{"search", "withdraw", "1.1.0"}, signArgs()...)...); code != cli.ExitUsage || !strings.Contains(errs, "--reason is required") {
		t.Fatalf("withdraw without a reason: exit %d\n%s", code, errs)
	}
	out = run(append([]string{"search", "withdraw", "1.1.0", "--reason", "counts every patient"}, signArgs("--out", filepath.Join(dir, "withdraw"))...)...)
	if !strings.Contains(out, "medsip/1.1.0.tar.gz  (withdrawn: counts every patient)") {
		t.Fatalf("withdraw:\n%s", out)
	}
	if out = run("search", "publish", "--collector", f.Server.URL, "--token", token, filepath.Join(dir, "withdraw")); !strings.Contains(out, "withdrew medsip/1.1.0.tar.gz") {
		t.Fatalf("publish the withdrawal:\n%s", out)
	}
	// The next release compares with 1.0.0, what practices run now.
	writeTestFile(t, filepath.Join(pack, "search.yaml"), tuftest.Search)
	if code, out, errs = release("1.2.0"); code != 0 || !strings.Contains(out, "changes since 1.0.0:\n  nothing that changes the figures") {
		t.Fatalf("release after a withdrawal: exit %d\n%s%s", code, out, errs)
	}

	// A bundle built beforehand must compare with that same version.
	writeTestFile(t, filepath.Join(pack, "pack.yaml"), "steward: pack/v1\nid: medsip\nversion: 1.3.0\nsearches: [search.yaml]\n")
	built := filepath.Join(dir, "1.3.0.tar.gz")
	run("search", "bundle", pack, "--notes", notes, "--out", built)
	code, out, errs = steward(t, append(append([]string{"search", "sign"}, signArgs("--out", filepath.Join(dir, "x"))...), built)...)
	if code != cli.ExitConfig || !strings.Contains(errs, "summarises changes since none (a first release), but practices run 1.2.0") {
		t.Fatalf("sign of a bundle compared with the wrong version: exit %d\n%s%s", code, out, errs)
	}
	os.Remove(built)
	run("search", "bundle", pack, "--notes", notes, "--out", built, "--previous", filepath.Join(dir, "signed-1.2.0", "1.2.0.tar.gz"))
	if out = run(append(append([]string{"search", "sign"}, signArgs("--out", filepath.Join(dir, "y"))...), built)...); !strings.Contains(out, "changes since 1.2.0:") || !strings.Contains(out, "medsip/1.3.0.tar.gz  (new)") {
		t.Fatalf("sign of a bundle built with --previous:\n%s", out)
	}
}
