package tufrepo_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/bundle"
)

// editTargets re-signs the repository's current targets with the author
// key after edit changed them, as an author tool without Sign's checks
// would, and uploads the result.
func editTargets(t *testing.T, f *tuftest.Fixture, edit func(map[string]*metadata.TargetFiles)) error {
	t.Helper()
	cur, err := tufrepo.CurrentTargets(context.Background(), nil, f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	md, err := metadata.Targets().FromBytes(cur)
	if err != nil {
		t.Fatal(err)
	}
	edit(md.Signed.Targets)
	md.Signed.Version++
	raw, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Upload(tuftest.Resign(t, raw, f.Author), nil)
	return err
}

// setCustom rewrites a target's custom metadata.
func setCustom(t *testing.T, tf *metadata.TargetFiles, change func(*bundle.TargetCustom)) {
	t.Helper()
	var c bundle.TargetCustom
	if err := json.Unmarshal(*tf.Custom, &c); err != nil {
		t.Fatal(err)
	}
	change(&c)
	b, _ := json.Marshal(c)
	raw := json.RawMessage(b)
	tf.Custom = &raw
}

func releases(t *testing.T, f *tuftest.Fixture) map[string]bundle.TargetCustom {
	t.Helper()
	rs, err := f.Repo.Releases(tuftest.Pack)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bundle.TargetCustom{}
	for _, r := range rs {
		out[r.Version] = r
	}
	return out
}

func TestPilotPromoteAndWithdraw(t *testing.T) {
	f := tuftest.New(t)
	f.MustPublish("1.0.0")

	// A pre-release for two practices: its target name is served.
	p, err := f.PublishPilot("1.1.0-rc.1", "Y05678", "Y01234")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Pilot, []string{"Y01234", "Y05678"}) {
		t.Fatalf("published pilot = %v, want sorted [Y01234 Y05678]", p.Pilot)
	}
	files, _ := filepath.Glob(filepath.Join(f.Dir, "targets", tuftest.Pack, "*.1.1.0-rc.1.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("stored targets: %v", files)
	}
	resp, err := http.Get(f.Server.URL + wire.PathTUF + "targets/" + tuftest.Pack + "/" + filepath.Base(files[0]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the pre-release target: %d", resp.StatusCode)
	}

	// A pilot only widens or ends; a released version never goes back to one.
	err = editTargets(t, f, func(ts map[string]*metadata.TargetFiles) {
		setCustom(t, ts["medsip/1.1.0-rc.1.tar.gz"], func(c *bundle.TargetCustom) { c.Pilot = []string{"Y01234"} })
	})
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if !strings.Contains(err.Error(), "Y05678 would leave the pilot") {
		t.Errorf("narrowed pilot: %v", err)
	}
	err = editTargets(t, f, func(ts map[string]*metadata.TargetFiles) {
		setCustom(t, ts["medsip/1.0.0.tar.gz"], func(c *bundle.TargetCustom) { c.Pilot = []string{"Y01234"} })
	})
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if err := editTargets(t, f, func(ts map[string]*metadata.TargetFiles) {
		setCustom(t, ts["medsip/1.1.0-rc.1.tar.gz"], func(c *bundle.TargetCustom) { c.Pilot = append(c.Pilot, "Y09999") })
	}); err != nil {
		t.Fatalf("widening the pilot: %v", err)
	}
	if p, err = f.Promote("1.1.0-rc.1"); err != nil || !slices.Equal(p.Promoted, []string{"medsip/1.1.0-rc.1.tar.gz"}) {
		t.Fatalf("promote = %+v, %v", p, err)
	}
	if _, err := f.Promote("1.1.0-rc.1"); err == nil || !strings.Contains(err.Error(), "not in a pilot") {
		t.Fatalf("promoting twice: %v", err)
	}
	if got := releases(t, f)["1.1.0-rc.1"]; len(got.Pilot) != 0 {
		t.Fatalf("after promote: %+v", got)
	}

	// Withdrawal: signed, final, kept listed.
	if _, err := f.Withdraw("1.1.0-rc.1", " "); err == nil || !strings.Contains(err.Error(), "reason must be") {
		t.Fatalf("withdraw without a reason: %v", err)
	}
	if _, err := f.Withdraw("9.9.9", "typo"); err == nil || !strings.Contains(err.Error(), "is not published (published: 1.0.0, 1.1.0-rc.1)") {
		t.Fatalf("withdraw an unknown version: %v", err)
	}
	p, err = f.Withdraw("1.1.0-rc.1", "high-dose threshold typed as 12, not 120")
	if err != nil || !slices.Equal(p.Withdrawn, []string{"medsip/1.1.0-rc.1.tar.gz"}) {
		t.Fatalf("withdraw = %+v, %v", p, err)
	}
	w := releases(t, f)["1.1.0-rc.1"].Withdrawn
	if w == nil || w.Reason != "high-dose threshold typed as 12, not 120" || !w.At.Equal(f.Clock.Now().Truncate(1e9)) {
		t.Fatalf("withdrawal = %+v", w)
	}
	if _, err := f.Withdraw("1.1.0-rc.1", "again"); err == nil || !strings.Contains(err.Error(), "already withdrawn") {
		t.Fatalf("withdrawing twice: %v", err)
	}
	if _, err := f.Promote("1.1.0-rc.1"); err == nil || !strings.Contains(err.Error(), "is withdrawn") {
		t.Fatalf("promoting a withdrawn version: %v", err)
	}
	err = editTargets(t, f, func(ts map[string]*metadata.TargetFiles) {
		setCustom(t, ts["medsip/1.1.0-rc.1.tar.gz"], func(c *bundle.TargetCustom) { c.Withdrawn = nil })
	})
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if !strings.Contains(err.Error(), "a withdrawal is final") {
		t.Errorf("undoing a withdrawal: %v", err)
	}
	err = editTargets(t, f, func(ts map[string]*metadata.TargetFiles) { delete(ts, "medsip/1.1.0-rc.1.tar.gz") })
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if !strings.Contains(err.Error(), "must stay listed") {
		t.Errorf("dropping a withdrawn version: %v", err)
	}
	// Versions still only go forward past a withdrawn one.
	b, tgz := f.Build("1.0.5")
	if _, err := f.Upload(f.SignUnchecked(b, f.Author), tgz); err == nil {
		t.Fatal("a version below the withdrawn 1.1.0-rc.1 was accepted")
	}
	// A new target cannot arrive withdrawn.
	b, tgz = f.Build("1.2.0")
	signed := f.SignUnchecked(b, f.Author)
	md, _ := metadata.Targets().FromBytes(signed)
	setCustom(t, md.Signed.Targets["medsip/1.2.0.tar.gz"], func(c *bundle.TargetCustom) {
		c.Withdrawn = &bundle.Withdrawal{Reason: "x", At: f.Clock.Now()}
	})
	raw, _ := md.ToBytes(false)
	_, err = f.Upload(tuftest.Resign(t, raw, f.Author), tgz)
	wantStatus(t, err, http.StatusUnprocessableEntity)
	f.MustPublish("1.2.0")
}

func TestPublishRefusesABundleThatFailsLint(t *testing.T) {
	f := tuftest.New(t)
	f.MustPublish("1.0.0")
	search := filepath.Join(f.Searches, "packs", tuftest.Pack, "search.yaml")
	if err := os.WriteFile(search, []byte(strings.Replace(tuftest.Search, "count: registered and ome_3m > 0", "count: registered and ome_3m > high", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.Publish("1.1.0")
	wantStatus(t, err, http.StatusUnprocessableEntity)
	if !strings.Contains(err.Error(), "do not pass lint") || !strings.Contains(err.Error(), "search.yaml:") {
		t.Fatalf("publish of a bundle that fails lint: %v", err)
	}
	if got := releases(t, f); len(got) != 1 {
		t.Fatalf("releases after the refusal: %v", got)
	}
}
