package tufrepo_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/bundle"
)

func upload(f *tuftest.Fixture, targets, tgz []byte) error {
	_, err := tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", targets, tgz)
	return err
}

func wantStatus(t *testing.T, err error, code int) {
	t.Helper()
	var ue *tufrepo.UploadError
	if !errors.As(err, &ue) || ue.Status != code {
		t.Fatalf("upload error = %v, want HTTP %d", err, code)
	}
}

func TestPublishAndServe(t *testing.T) {
	f := tuftest.New(t)
	// Nothing published: no timestamp.
	resp, err := http.Get(f.Server.URL + wire.PathTUF + "timestamp.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("timestamp before publish: %d, want 404", resp.StatusCode)
	}

	p, err := f.Publish("1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Target, "medsip/1.0.0.tar.gz"; got != want {
		t.Errorf("target = %q, want %q", got, want)
	}
	if p.TargetsVersion != 1 || p.SnapshotVersion != 1 || p.TimestampVersion != 1 {
		t.Errorf("versions = %+v, want 1, 1, 1", p)
	}
	for _, name := range []string{"1.root.json", "timestamp.json", "1.snapshot.json", "1.targets.json"} {
		resp, err := http.Get(f.Server.URL + wire.PathTUF + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", name, resp.StatusCode)
		}
	}
	for _, name := range []string{"../repo.json", "keys/timestamp.key", "targets/medsip/../../keys/snapshot.key", "repo.json"} {
		resp, err := http.Get(f.Server.URL + wire.PathTUF + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s served the file", name)
		}
	}

	p, err = f.Publish("1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if p.TargetsVersion != 2 || p.SnapshotVersion != 2 || p.TimestampVersion != 2 {
		t.Errorf("versions = %+v, want 2, 2, 2", p)
	}
	st, err := f.Repo.Status()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Latest["medsip"], "1.1.0"; got != want {
		t.Errorf("latest = %q, want %q", got, want)
	}
}

func TestPublishRefuses(t *testing.T) {
	f := tuftest.New(t)
	f.MustPublish("2.0.0")
	_, rogue, _ := ed25519.GenerateKey(nil)

	t.Run("untrusted key", func(t *testing.T) {
		b, tgz := f.Build("2.1.0")
		wantStatus(t, upload(f, tuftest.Resign(t, f.Sign(b, f.Author), rogue), tgz), http.StatusForbidden)
	})
	t.Run("unsigned", func(t *testing.T) {
		b, tgz := f.Build("2.1.0")
		wantStatus(t, upload(f, tuftest.Resign(t, f.Sign(b, f.Author), nil), tgz), http.StatusForbidden)
	})
	t.Run("bundle not the signed one", func(t *testing.T) {
		b, _ := f.Build("2.1.0")
		signed := f.Sign(b, f.Author)
		_, other := f.Build("2.2.0")
		wantStatus(t, upload(f, signed, other), http.StatusUnprocessableEntity)
	})
	t.Run("targets version replayed", func(t *testing.T) {
		old, err := os.ReadFile(filepath.Join(f.Dir, "metadata", "1.targets.json"))
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, upload(f, old, nil), http.StatusConflict)
	})
	t.Run("lower bundle version", func(t *testing.T) {
		b, tgz := f.Build("1.9.0")
		wantStatus(t, upload(f, f.SignUnchecked(b, f.Author), tgz), http.StatusConflict)
	})
	t.Run("removed version cannot come back lower", func(t *testing.T) {
		// The authors drop 2.0.0 (a legitimate, signed removal)...
		cur, err := tufrepo.CurrentTargets(context.Background(), nil, f.Dir)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := metadata.Targets().FromBytes(cur)
		delete(md.Signed.Targets, "medsip/2.0.0.tar.gz")
		md.Signed.Version++
		raw, _ := md.ToBytes(false)
		if err := upload(f, tuftest.Resign(t, raw, f.Author), nil); err != nil {
			t.Fatal(err)
		}
		// ...then try 1.5.0: still below the highest ever published.
		b, tgz := f.Build("1.5.0")
		wantStatus(t, upload(f, f.SignUnchecked(b, f.Author), tgz), http.StatusConflict)
	})
	t.Run("expired targets", func(t *testing.T) {
		b, tgz := f.Build("3.0.0")
		signed := f.Sign(b, f.Author)
		md, _ := metadata.Targets().FromBytes(signed)
		md.Signed.Expires = f.Clock.Now().Add(-time.Hour)
		raw, _ := md.ToBytes(false)
		wantStatus(t, upload(f, tuftest.Resign(t, raw, f.Author), tgz), http.StatusUnprocessableEntity)
	})
	// After all the refusals, a good release still goes through.
	f.MustPublish("3.0.0")
}

func TestPublishNeedsToken(t *testing.T) {
	f := tuftest.New(t)
	srv := httptest.NewServer(f.Repo.PublishHandler(tufrepo.BearerTokens("s3cret")))
	defer srv.Close()
	b, tgz := f.Build("1.0.0")
	signed := f.Sign(b, f.Author)
	_, err := tufrepo.Upload(context.Background(), srv.Client(), srv.URL, "wrong", signed, tgz)
	wantStatus(t, err, http.StatusUnauthorized)
	if _, err := tufrepo.Upload(context.Background(), srv.Client(), srv.URL, "s3cret", signed, tgz); err != nil {
		t.Fatal(err)
	}
}

// TestPublishAuthorizerAnswers checks how an Authorizer's refusal is
// answered: 401 for bad credentials, 403 for someone who may not publish,
// 500 when the check itself failed. None of them publishes.
func TestPublishAuthorizerAnswers(t *testing.T) {
	f := tuftest.New(t)
	b, tgz := f.Build("1.0.0")
	signed := f.Sign(b, f.Author)
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"unauthenticated", fmt.Errorf("%w: expired token", tufrepo.ErrUnauthenticated), http.StatusUnauthorized},
		{"forbidden", fmt.Errorf("%w: user ana is an analyst", tufrepo.ErrForbidden), http.StatusForbidden},
		{"check failed", errors.New("database is down"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(f.Repo.PublishHandler(func(*http.Request) error { return tc.err }))
			defer srv.Close()
			_, err := tufrepo.Upload(context.Background(), srv.Client(), srv.URL, "any", signed, tgz)
			wantStatus(t, err, tc.want)
		})
	}
	if st, err := f.Repo.Status(); err != nil || st.TargetsVersion != 0 {
		t.Fatalf("after refused publishes: status %+v, %v; want nothing published", st, err)
	}
}

// TestKeepFresh runs the refresh loop: it re-signs the timestamp once it
// is past half its validity, the snapshot once the clock has moved on past
// half of its own, and returns when its context is cancelled.
func TestKeepFresh(t *testing.T) {
	f := tuftest.New(t)
	f.MustPublish("1.0.0")
	f.Clock.Add(13 * time.Hour) // past half the timestamp's day
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Repo.KeepFresh(ctx, time.Millisecond)
	}()
	waitFor := func(what string, ok func(tufrepo.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := f.Repo.Status()
			if err == nil && ok(st) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v, %v", what, st, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("timestamp re-signed", func(st tufrepo.Status) bool { return st.TimestampVersion == 2 })
	f.Clock.Add(4 * 24 * time.Hour) // past half the snapshot's week
	waitFor("snapshot re-signed once the clock moved on", func(st tufrepo.Status) bool {
		return st.SnapshotVersion == 2 && st.TimestampExpires.After(f.Clock.Now())
	})
	cancel()
	<-done
	// Fresh metadata is left alone: nothing changes without the clock moving.
	st, _ := f.Repo.Status()
	if changed, err := f.Repo.Refresh(); err != nil || changed {
		t.Fatalf("Refresh after KeepFresh = %v, %v, want no change (status %+v)", changed, err, st)
	}
}

func TestRefreshInterval(t *testing.T) {
	f := tuftest.New(t)
	if got, want := f.Repo.RefreshInterval(), tufrepo.MaxRefreshInterval; got != want {
		t.Errorf("RefreshInterval with the default expiries = %v, want %v", got, want)
	}
	r, err := tufrepo.Open(f.Dir, tufrepo.Options{Expiry: tufrepo.Expiry{Timestamp: 2 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.RefreshInterval(), 30*time.Minute; got != want {
		t.Errorf("RefreshInterval with a 2h timestamp = %v, want %v", got, want)
	}
}

func TestRefresh(t *testing.T) {
	f := tuftest.New(t)
	if changed, err := f.Repo.Refresh(); err != nil || changed {
		t.Fatalf("Refresh before publish = %v, %v", changed, err)
	}
	f.MustPublish("1.0.0")
	if changed, err := f.Repo.Refresh(); err != nil || changed {
		t.Fatalf("Refresh of fresh metadata = %v, %v, want no change", changed, err)
	}
	f.Clock.Add(13 * time.Hour) // past half the timestamp's day
	if changed, err := f.Repo.Refresh(); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v, want a new timestamp", changed, err)
	}
	st, _ := f.Repo.Status()
	if st.TimestampVersion != 2 || st.SnapshotVersion != 1 {
		t.Errorf("after timestamp refresh: %+v", st)
	}
	f.Clock.Add(4 * 24 * time.Hour) // past half the snapshot's week
	if changed, err := f.Repo.Refresh(); err != nil || !changed {
		t.Fatalf("Refresh = %v, %v, want a new snapshot", changed, err)
	}
	st, _ = f.Repo.Status()
	if st.TimestampVersion != 3 || st.SnapshotVersion != 2 || !st.TimestampExpires.After(f.Clock.Now()) {
		t.Errorf("after snapshot refresh: %+v", st)
	}
}

func TestInitRefusesExisting(t *testing.T) {
	f := tuftest.New(t)
	_, k, _ := ed25519.GenerateKey(nil)
	_, err := tufrepo.Init(f.Dir, tufrepo.Config{AuthorKeys: []ed25519.PublicKey{k.Public().(ed25519.PublicKey)}}, k)
	if err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("Init over an existing repository = %v", err)
	}
	// No root private key is ever written into the repository.
	root, _ := metadata.Root().FromBytes(f.Root)
	keys, _ := os.ReadDir(filepath.Join(f.Dir, "keys"))
	if len(keys) != 2 {
		t.Errorf("keys/ holds %d files, want the snapshot and timestamp keys only", len(keys))
	}
	if len(root.Signed.Roles[metadata.ROOT].KeyIDs) != 1 {
		t.Errorf("root keys = %v", root.Signed.Roles[metadata.ROOT].KeyIDs)
	}
}

func TestPublishRefusesDuplicateKeys(t *testing.T) {
	f := tuftest.New(t)
	b, tgz := f.Build("1.0.0")
	signed := f.Sign(b, f.Author)
	// A second "signed" member: encoding/json would check one and keep the
	// other.
	i := strings.LastIndex(string(signed), "}")
	dup := string(signed[:i]) + `,"signed":{"_type":"targets"}}`
	err := upload(f, []byte(dup), tgz)
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if !strings.Contains(err.Error(), `$.signed: duplicate key "signed"`) {
		t.Fatalf("error %v does not name the duplicate", err)
	}
	if err := upload(f, signed, tgz); err != nil {
		t.Fatalf("the release itself: %v", err)
	}
}

func TestStoredBundles(t *testing.T) {
	f := tuftest.New(t)
	if got, err := f.Repo.StoredBundles(); err != nil || len(got) != 0 {
		t.Fatalf("StoredBundles before any publish = %v, %v", got, err)
	}
	f.MustPublish("1.0.0")
	f.MustPublish("1.1.0")
	got, err := f.Repo.StoredBundles()
	if err != nil || len(got) != 2 {
		t.Fatalf("StoredBundles = %+v, %v", got, err)
	}
	versions := map[string]bool{}
	for _, b := range got {
		if b.Pack != tuftest.Pack {
			t.Errorf("pack %q", b.Pack)
		}
		versions[b.Version] = true
		tgz, err := f.Repo.ReadStoredBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bundle.Inspect(tgz, ""); err != nil {
			t.Errorf("%s: %v", b.Version, err)
		}
	}
	if !versions["1.0.0"] || !versions["1.1.0"] {
		t.Fatalf("versions %v", versions)
	}
	// A file changed on disk is refused.
	matches, _ := filepath.Glob(filepath.Join(f.Dir, "targets", tuftest.Pack, got[0].SHA256+".*"))
	if len(matches) != 1 {
		t.Fatalf("bundle file of %s: %v", got[0].Version, matches)
	}
	if err := os.WriteFile(matches[0], []byte("not the bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Repo.ReadStoredBundle(got[0]); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("ReadStoredBundle of a changed file = %v", err)
	}
}
