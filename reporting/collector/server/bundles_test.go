package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentbundle "github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/reporting/wire"
)

// wantRefused checks that a publish was refused with HTTP status code and
// a message containing msg.
func wantRefused(t *testing.T, what string, err error, code int, msg string) {
	t.Helper()
	var ue *tufrepo.UploadError
	if !errors.As(err, &ue) || ue.Status != code || !strings.Contains(ue.Message, msg) {
		t.Fatalf("%s: %v, want HTTP %d saying %q", what, err, code, msg)
	}
}

// TestBundlesServedAndPublished serves a search-bundle repository from the
// collector over loopback. Publishing takes the API token of a user who
// may publish (a search author or an admin) and a release signed by a
// trusted author key; an agent's updater then verifies and installs what
// the collector serves.
func TestBundlesServedAndPublished(t *testing.T) {
	f := tuftest.New(t) // the repository, its keys and a pack to build bundles of
	db := openStore(t, engines["SQLite"](t))
	defer db.Close()
	s := serve(t, server.Options{Store: db, Bundles: f.Repo}, 10*time.Second)
	e := &env{db: db, url: s.url}
	author := e.tokenFor(t, collector.User{Name: "alice", Role: collector.RoleSearchAuthor})
	admin := e.tokenFor(t, collector.User{Name: "root", Role: collector.RoleAdmin})
	analyst := e.tokenFor(t, collector.User{Name: "ana", Role: collector.RoleICBAnalyst, ICB: "QWE"})
	publish := func(token string, targets, tgz []byte) (*tufrepo.Published, error) {
		return tufrepo.Upload(context.Background(), client, s.url, token, targets, tgz)
	}

	b, tgz := f.Build("1.0.0")
	signed := f.Sign(b, f.Author)
	_, err := publish("", signed, tgz)
	wantRefused(t, "no token", err, http.StatusUnauthorized, "API token")
	_, err = publish("stw_not-a-token", signed, tgz)
	wantRefused(t, "unknown token", err, http.StatusUnauthorized, "unknown, expired")
	_, err = publish(analyst, signed, tgz)
	wantRefused(t, "analyst's token", err, http.StatusForbidden, "role icb_analyst")
	_, rogue, _ := ed25519.GenerateKey(nil)
	_, err = publish(author, tuftest.Resign(t, signed, rogue), tgz)
	wantRefused(t, "signed by an untrusted key", err, http.StatusForbidden, "trusted search author keys")
	if st, err := f.Repo.Status(); err != nil || st.TargetsVersion != 0 {
		t.Fatalf("after the refusals: %+v, %v; want nothing published", st, err)
	}

	p, err := publish(author, signed, tgz)
	if err != nil {
		t.Fatalf("search author's publish: %v", err)
	}
	if p.Pack != tuftest.Pack || p.Version != "1.0.0" || p.TargetsVersion != 1 {
		t.Fatalf("published %+v", p)
	}

	// An agent follows the collector's URL, as from its configuration.
	u, err := agentbundle.New(filepath.Join(t.TempDir(), "agent"), f.RootPath, s.url, client, agentbundle.ApprovalAuto,
		agentbundle.WithPack(tuftest.Pack), agentbundle.WithClock(f.Clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	wantVersion := func(want string) {
		t.Helper()
		st, err := u.Update(context.Background())
		if err != nil {
			t.Fatalf("agent update: %v", err)
		}
		if _, v, err := u.Current(); err != nil || v != want || st.Current != want {
			t.Fatalf("agent runs %q (%v), status %+v; want %s", v, err, st, want)
		}
	}
	wantVersion("1.0.0")

	b, tgz = f.Build("1.1.0")
	if _, err := publish(admin, f.Sign(b, f.Author), tgz); err != nil {
		t.Fatalf("admin's publish: %v", err)
	}
	wantVersion("1.1.0")

	// Only the repository's files are served, and only for reading.
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", wire.PathTUF + "1.root.json", http.StatusOK},
		{"HEAD", wire.PathTUF + "timestamp.json", http.StatusOK},
		{"GET", wire.PathTUF + "2.targets.json", http.StatusOK},
		{"GET", wire.PathTUF + "repo.json", http.StatusNotFound},
		{"GET", wire.PathTUF + "targets/medsip/..%2f..%2fkeys%2ftimestamp.key", http.StatusNotFound},
		{"GET", wire.PathTUF + "keys/timestamp.key", http.StatusNotFound},
		{"PUT", wire.PathTUF + "timestamp.json", http.StatusMethodNotAllowed},
		{"GET", wire.PathBundles, http.StatusMethodNotAllowed},
	} {
		resp, body := do(t, mustRequest(t, tc.method, s.url+tc.path, nil))
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

// TestNoBundlesWithoutRepository checks that a collector without a
// repository serves no bundle routes.
func TestNoBundlesWithoutRepository(t *testing.T) {
	e := newEnv(t, engines["SQLite"](t))
	for _, r := range [][2]string{{"GET", wire.PathTUF + "1.root.json"}, {"POST", wire.PathBundles}} {
		if resp, _ := do(t, mustRequest(t, r[0], e.url+r[1], nil)); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s without a repository = %d, want 404", r[0], r[1], resp.StatusCode)
		}
	}
}
