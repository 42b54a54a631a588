package bundle_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
)

// agent is an updater against a fixture repository, with its own clock.
type agent struct {
	*bundle.Updater
	t       *testing.T
	dataDir string
	clock   *tuftest.Clock
}

func newAgent(t *testing.T, f *tuftest.Fixture, mode bundle.ApprovalMode, opts ...bundle.Option) *agent {
	t.Helper()
	a := &agent{t: t, dataDir: filepath.Join(t.TempDir(), "agent"), clock: tuftest.NewClock(tuftest.Start)}
	a.reopen(f, mode, opts...)
	return a
}

// reopen builds a new Updater on the same data directory (an agent restart).
func (a *agent) reopen(f *tuftest.Fixture, mode bundle.ApprovalMode, opts ...bundle.Option) {
	a.t.Helper()
	u, err := bundle.New(a.dataDir, f.RootPath, f.Server.URL, f.Server.Client(), mode,
		append([]bundle.Option{bundle.WithClock(a.clock.Now)}, opts...)...)
	if err != nil {
		a.t.Fatal(err)
	}
	a.Updater = u
}

func (a *agent) update() (bundle.Status, error) {
	return a.Update(context.Background())
}

func (a *agent) mustUpdate() bundle.Status {
	a.t.Helper()
	st, err := a.update()
	if err != nil {
		a.t.Fatalf("Update: %v", err)
	}
	return st
}

// wantCurrent checks the running bundle: its version, and that its pack
// folder verifies and holds the right pack.yaml.
func (a *agent) wantCurrent(version string) {
	a.t.Helper()
	dir, v, err := a.Current()
	if err != nil {
		a.t.Fatalf("Current: %v", err)
	}
	if v != version {
		a.t.Fatalf("current version = %s, want %s", v, version)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pack.yaml"))
	if err != nil {
		a.t.Fatal(err)
	}
	if want := "version: " + version + "\n"; !strings.Contains(string(b), want) {
		a.t.Fatalf("current pack.yaml does not say %q:\n%s", want, b)
	}
	// The search's relative reference resolves inside the bundle.
	if _, err := os.Stat(filepath.Join(dir, "../../codelists/c.csv")); err != nil {
		a.t.Fatalf("codelist path does not resolve: %v", err)
	}
}

func TestUpdateFollowsNewVersions(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)

	if _, err := a.update(); !errors.Is(err, bundle.ErrNoBundle) {
		t.Fatalf("Update with nothing published = %v, want ErrNoBundle", err)
	}
	if _, _, err := a.Current(); !errors.Is(err, bundle.ErrNoBundle) {
		t.Fatalf("Current before any bundle = %v, want ErrNoBundle", err)
	}

	f.MustPublish("1.0.0")
	st := a.mustUpdate()
	if st.Current != "1.0.0" || st.Stale() || st.LastError != "" {
		t.Fatalf("status = %+v", st)
	}
	a.wantCurrent("1.0.0")

	f.MustPublish("1.1.0")
	st = a.mustUpdate()
	if st.Current != "1.1.0" || st.Previous != "1.0.0" {
		t.Fatalf("status = %+v, want current 1.1.0, previous 1.0.0", st)
	}
	a.wantCurrent("1.1.0")
	if _, err := os.Stat(filepath.Join(a.dataDir, "bundles", "1.0.0", "manifest.json")); err != nil {
		t.Errorf("the previous good bundle was not kept: %v", err)
	}

	// Nothing new: no change. A restarted agent sees the same.
	a.mustUpdate()
	a.reopen(f, bundle.ApprovalAuto)
	a.wantCurrent("1.1.0")
	st, err := a.Status()
	if err != nil || st.Current != "1.1.0" || st.LastSuccess.IsZero() {
		t.Fatalf("persisted status = %+v, %v", st, err)
	}

	// Only the current and previous bundles stay on disk.
	f.MustPublish("1.2.0")
	a.mustUpdate()
	if _, err := os.Stat(filepath.Join(a.dataDir, "bundles", "1.0.0")); !os.IsNotExist(err) {
		t.Errorf("bundle 1.0.0 was not pruned")
	}
}

func TestTamperedBundleRefused(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	a.mustUpdate()

	f.MustPublish("1.1.0")
	// Change the bundle on the server after it was signed and published.
	matches, _ := filepath.Glob(filepath.Join(f.Dir, "targets", tuftest.Pack, "*.1.1.0.tar.gz"))
	if len(matches) != 1 {
		t.Fatalf("published target files: %v", matches)
	}
	b, _ := os.ReadFile(matches[0])
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(matches[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := a.update()
	if !errors.Is(err, bundle.ErrRefused) || !errors.Is(err, &metadata.ErrLengthOrHashMismatch{}) {
		t.Fatalf("Update with a tampered bundle = %v, want ErrRefused (hash mismatch)", err)
	}
	if st.Current != "1.0.0" || st.LastError == "" {
		t.Fatalf("status = %+v", st)
	}
	a.wantCurrent("1.0.0")
}

func TestUntrustedSignatureRefusedByAgent(t *testing.T) {
	for _, c := range []struct {
		name string
		key  func() ed25519.PrivateKey
	}{
		{"untrusted key", func() ed25519.PrivateKey { _, k, _ := ed25519.GenerateKey(nil); return k }},
		{"unsigned", func() ed25519.PrivateKey { return nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := tuftest.New(t)
			a := newAgent(t, f, bundle.ApprovalAuto)
			f.MustPublish("1.0.0")
			a.mustUpdate()

			// The collector refuses the upload...
			b, tgz := f.Build("1.1.0")
			forged := tuftest.Resign(t, f.SignUnchecked(b, f.Author), c.key())
			if _, err := tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", forged, tgz); err == nil {
				t.Fatalf("the collector accepted targets signed by an untrusted key")
			}
			// ...and if a compromised collector plants it anyway, so does the agent.
			f.Plant(forged, tgz, tuftest.Pack, "1.1.0")
			_, err := a.update()
			if !errors.Is(err, &metadata.ErrUnsignedMetadata{}) {
				t.Fatalf("Update with planted targets = %v, want an unsigned-metadata error", err)
			}
			a.wantCurrent("1.0.0")
		})
	}
}

func TestExpiredMetadataKeepsLastGood(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	st := a.mustUpdate()
	if want := tuftest.Start.Add(24 * time.Hour); !st.FreshUntil.Equal(want) {
		t.Errorf("fresh until = %v, want %v (the timestamp's expiry)", st.FreshUntil, want)
	}

	// The collector stops refreshing (frozen, or cut off): a day later its
	// timestamp has expired.
	a.clock.Add(25 * time.Hour)
	staleAt := a.clock.Now()
	st, err := a.update()
	if !errors.Is(err, &metadata.ErrExpiredMetadata{}) {
		t.Fatalf("Update with expired metadata = %v, want ErrExpiredMetadata", err)
	}
	if !st.StaleSince.Equal(staleAt) {
		t.Fatalf("stale since = %v, want %v", st.StaleSince, staleAt)
	}
	a.wantCurrent("1.0.0")

	// It stays stale since the first failure.
	a.clock.Add(time.Hour)
	st, _ = a.update()
	if !st.StaleSince.Equal(staleAt) {
		t.Fatalf("stale since moved to %v", st.StaleSince)
	}
	a.reopen(f, bundle.ApprovalAuto)
	if st, _ := a.Status(); !st.StaleSince.Equal(staleAt) {
		t.Fatalf("persisted stale since = %v", st.StaleSince)
	}

	// The collector refreshes: fresh again.
	f.Clock.Add(26 * time.Hour)
	if _, err := f.Repo.Refresh(); err != nil {
		t.Fatal(err)
	}
	st = a.mustUpdate()
	if st.Stale() {
		t.Fatalf("still stale after the collector refreshed: %+v", st)
	}
}

func TestExpiredTargetsGoStale(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0") // targets expire in 90 days
	a.mustUpdate()
	// The collector keeps refreshing, but no author re-signs the targets.
	for range 100 {
		f.Clock.Add(24 * time.Hour)
		if _, err := f.Repo.Refresh(); err != nil {
			t.Fatal(err)
		}
	}
	a.clock.Add(100 * 24 * time.Hour)
	st, err := a.update()
	if !errors.Is(err, &metadata.ErrExpiredMetadata{}) || !st.Stale() {
		t.Fatalf("Update with expired targets = %v, %+v", err, st)
	}
	a.wantCurrent("1.0.0")
}

func TestRollbackRefused(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	a.mustUpdate()
	old := filepath.Join(t.TempDir(), "old-repo")
	tuftest.CopyDir(t, f.Dir, old)

	f.MustPublish("2.0.0")
	a.mustUpdate()
	a.wantCurrent("2.0.0")

	// Replay: the collector serves its old metadata again. go-tuf refuses
	// the lower timestamp version.
	f.Serve(old)
	_, err := a.update()
	if !errors.Is(err, &metadata.ErrBadVersionNumber{}) {
		t.Fatalf("Update against replayed metadata = %v, want ErrBadVersionNumber", err)
	}
	a.wantCurrent("2.0.0")

	// The agent loses its TUF cache (reinstall): go-tuf has no memory left,
	// the ratchet still refuses to go back to 1.0.0.
	if err := os.RemoveAll(filepath.Join(a.dataDir, "tuf")); err != nil {
		t.Fatal(err)
	}
	a.reopen(f, bundle.ApprovalAuto)
	st, err := a.update()
	if !errors.Is(err, bundle.ErrRollback) {
		t.Fatalf("Update against an old repository with no TUF cache = %v, want ErrRollback", err)
	}
	if st.Current != "2.0.0" {
		t.Fatalf("status = %+v", st)
	}
	a.wantCurrent("2.0.0")
}

func TestRollbackBySignedRemoval(t *testing.T) {
	// Authors (or a stolen author key) sign targets that drop the newest
	// version: valid TUF, but the agent never goes back.
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	f.MustPublish("2.0.0")
	a.mustUpdate()
	a.wantCurrent("2.0.0")

	cur, err := tufrepo.CurrentTargets(context.Background(), nil, f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.Targets().FromBytes(cur)
	delete(md.Signed.Targets, tuftest.Pack+"/2.0.0.tar.gz")
	md.Signed.Version++
	raw, _ := md.ToBytes(false)
	if _, err := tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", tuftest.Resign(t, raw, f.Author), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.update(); !errors.Is(err, bundle.ErrRollback) {
		t.Fatalf("Update = %v, want ErrRollback", err)
	}
	a.wantCurrent("2.0.0")
}

func TestCheckFailureNotSwitched(t *testing.T) {
	f := tuftest.New(t)
	bad := "1.1.0"
	a := newAgent(t, f, bundle.ApprovalAuto, bundle.WithCheck(func(dir string) error {
		b, err := os.ReadFile(filepath.Join(dir, "pack.yaml"))
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "version: "+bad+"\n") {
			return errors.New("search s does not compile")
		}
		return nil
	}))
	f.MustPublish("1.0.0")
	a.mustUpdate()
	f.MustPublish(bad)
	st, err := a.update()
	if !errors.Is(err, bundle.ErrCheck) {
		t.Fatalf("Update = %v, want ErrCheck", err)
	}
	if st.Current != "1.0.0" || st.Available != bad {
		t.Fatalf("status = %+v", st)
	}
	if st.Failed == nil || st.Failed.Version != bad || !strings.Contains(st.Failed.Reason, "does not compile") {
		t.Fatalf("failed = %+v, want %s and why", st.Failed, bad)
	}
	a.wantCurrent("1.0.0")
	if _, err := os.Stat(filepath.Join(a.dataDir, "bundles", bad)); !os.IsNotExist(err) {
		t.Errorf("the failed bundle was left installed")
	}
	// A fixed release goes through.
	f.MustPublish("1.2.0")
	if st := a.mustUpdate(); st.Failed != nil {
		t.Fatalf("failure kept after a newer version installed: %+v", st.Failed)
	}
	a.wantCurrent("1.2.0")
}

func TestManualApproval(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalManual)
	f.MustPublish("1.0.0")
	st := a.mustUpdate()
	if st.WaitingApproval != "1.0.0" || st.Current != "" {
		t.Fatalf("status = %+v, want 1.0.0 waiting, nothing current", st)
	}
	if _, _, err := a.Current(); !errors.Is(err, bundle.ErrNoBundle) {
		t.Fatalf("Current before approval = %v", err)
	}
	if err := a.Approve(context.Background(), "9.9.9"); !errors.Is(err, bundle.ErrNotWaiting) {
		t.Fatalf("Approve(9.9.9) = %v, want ErrNotWaiting", err)
	}
	if err := a.Approve(context.Background(), "1.0.0"); err != nil {
		t.Fatal(err)
	}
	a.wantCurrent("1.0.0")

	f.MustPublish("1.1.0")
	st = a.mustUpdate()
	if st.WaitingApproval != "1.1.0" || st.Current != "1.0.0" {
		t.Fatalf("status = %+v", st)
	}
	a.mustUpdate() // still waiting, nothing downloaded again
	a.wantCurrent("1.0.0")

	// A restart keeps it waiting; approval switches.
	a.reopen(f, bundle.ApprovalManual)
	if st, _ := a.Status(); st.WaitingApproval != "1.1.0" {
		t.Fatalf("after restart: %+v", st)
	}
	// A waiting bundle changed on disk is refused on approval.
	p := filepath.Join(a.dataDir, "bundles", "1.1.0", "codelists", "c.csv")
	orig, _ := os.ReadFile(p)
	os.WriteFile(p, []byte("code\n999\n"), 0o644)
	if err := a.Approve(context.Background(), "1.1.0"); !errors.Is(err, bundle.ErrRefused) {
		t.Fatalf("Approve of a changed bundle = %v, want ErrRefused", err)
	}
	os.WriteFile(p, orig, 0o644)
	if err := a.Approve(context.Background(), "1.1.0"); err != nil {
		t.Fatal(err)
	}
	a.wantCurrent("1.1.0")
	if st, _ := a.Status(); st.WaitingApproval != "" || st.Previous != "1.0.0" {
		t.Fatalf("after approval: %+v", st)
	}
}

func TestCrashBetweenStagingAndSwitch(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	a.mustUpdate()

	// A crash mid-update leaves a half-extracted staging folder and a fully
	// extracted 1.1.0 that was never switched to.
	bundles := filepath.Join(a.dataDir, "bundles")
	staging := filepath.Join(bundles, ".staging-1.1.0-123")
	os.MkdirAll(filepath.Join(staging, "b", "packs"), 0o755)
	os.WriteFile(filepath.Join(staging, "b", "manifest.json"), []byte("{"), 0o644)
	tuftest.CopyDir(t, filepath.Join(bundles, "1.0.0"), filepath.Join(bundles, "1.1.0"))

	a.reopen(f, bundle.ApprovalAuto)
	a.wantCurrent("1.0.0")
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Errorf("the staging folder survived a restart")
	}
	// The update completes normally over the leftover.
	f.MustPublish("1.1.0")
	a.mustUpdate()
	a.wantCurrent("1.1.0")
}
