package bundle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/agent/lock"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
)

func mustWithdraw(t *testing.T, f *tuftest.Fixture, version, reason string) {
	t.Helper()
	if _, err := f.Withdraw(version, reason); err != nil {
		t.Fatalf("withdraw %s: %v", version, err)
	}
}

func TestWithdrawnVersionFallsBackToThePrevious(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	a.mustUpdate()
	f.MustPublish("1.1.0")
	a.mustUpdate()
	a.wantCurrent("1.1.0")

	mustWithdraw(t, f, "1.1.0", "high-dose threshold typed as 12")
	a.clock.Add(time.Hour)
	st := a.mustUpdate()
	a.wantCurrent("1.0.0")
	if st.Current != "1.0.0" || st.Previous != "" || st.FellBack == nil || st.FellBack.From != "1.1.0" || st.FellBack.To != "1.0.0" ||
		st.FellBack.Reason != "high-dose threshold typed as 12" || !st.FellBack.At.Equal(a.clock.Now().UTC()) {
		t.Fatalf("status = %+v, fell back %+v", st, st.FellBack)
	}
	if w := st.Withdrawn["1.1.0"]; !w.Held || w.Reason != "high-dose threshold typed as 12" {
		t.Fatalf("withdrawn = %+v", st.Withdrawn)
	}
	if _, err := os.Stat(filepath.Join(a.dataDir, "bundles", "1.1.0")); !os.IsNotExist(err) {
		t.Errorf("the withdrawn bundle was kept on disk")
	}
	if _, err := a.Open("1.1.0"); !errors.Is(err, bundle.ErrWithdrawn) {
		t.Errorf("Open(withdrawn) = %v, want ErrWithdrawn", err)
	}
	// Nothing changes at the next update; a restart keeps it.
	a.mustUpdate()
	a.reopen(f, bundle.ApprovalAuto)
	a.wantCurrent("1.0.0")

	// The fix is taken as usual: above the withdrawn version.
	f.MustPublish("1.2.0")
	st = a.mustUpdate()
	a.wantCurrent("1.2.0")
	if st.Previous != "1.0.0" {
		t.Fatalf("after the fix: %+v", st)
	}
}

func TestWithdrawnWithNothingHeldRunsTheBuiltInPack(t *testing.T) {
	f := tuftest.New(t)
	f.MustPublish("1.0.0")
	f.MustPublish("1.1.0")
	a := newAgent(t, f, bundle.ApprovalAuto) // a new agent takes 1.1.0 at once
	a.mustUpdate()
	a.wantCurrent("1.1.0")

	// Withdrawn: the agent holds nothing older, so it runs its built-in
	// pack...
	mustWithdraw(t, f, "1.1.0", "wrong codelist")
	st, err := a.update()
	if err != nil {
		t.Fatal(err)
	}
	if st.FellBack == nil || st.FellBack.To != "" {
		t.Fatalf("fell back = %+v, want to the built-in pack", st.FellBack)
	}
	// ...except that the repository's good 1.0.0, below the withdrawn
	// version, was then taken: newer than nothing, and no rollback (the
	// authors signed the withdrawal).
	a.wantCurrent("1.0.0")
	if st.Current != "1.0.0" || st.Available != "1.0.0" {
		t.Fatalf("status = %+v", st)
	}
}

func TestWithdrawnBuiltInFallback(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalAuto)
	f.MustPublish("1.0.0")
	a.mustUpdate()
	mustWithdraw(t, f, "1.0.0", "wrong codelist")
	st := a.mustUpdate()
	if st.Current != "" || st.FellBack == nil || st.FellBack.From != "1.0.0" || st.FellBack.To != "" {
		t.Fatalf("status = %+v", st)
	}
	if _, _, err := a.Current(); !errors.Is(err, bundle.ErrNoBundle) {
		t.Fatalf("Current after falling back to the built-in pack = %v, want ErrNoBundle", err)
	}
	a.reopen(f, bundle.ApprovalAuto)
	if _, _, err := a.Current(); !errors.Is(err, bundle.ErrNoBundle) {
		t.Fatalf("Current after a restart = %v, want ErrNoBundle", err)
	}
	f.MustPublish("1.1.0")
	a.mustUpdate()
	a.wantCurrent("1.1.0")
}

func TestWithdrawnVersionWaitingForApprovalIsDropped(t *testing.T) {
	f := tuftest.New(t)
	a := newAgent(t, f, bundle.ApprovalManual)
	f.MustPublish("1.0.0")
	a.mustUpdate()
	if err := a.Approve(context.Background(), "1.0.0"); err != nil {
		t.Fatal(err)
	}
	f.MustPublish("1.1.0")
	if st := a.mustUpdate(); st.WaitingApproval != "1.1.0" {
		t.Fatalf("status = %+v", st)
	}
	if r, err := a.Release("1.1.0"); err != nil || r != nil {
		t.Fatalf("Release of a bundle built without notes = %+v, %v", r, err)
	}
	mustWithdraw(t, f, "1.1.0", "counts the wrong month")
	st := a.mustUpdate()
	if st.WaitingApproval != "" || st.Current != "1.0.0" || st.FellBack != nil || !st.Withdrawn["1.1.0"].Held {
		t.Fatalf("status = %+v", st)
	}
	if err := a.Approve(context.Background(), "1.1.0"); !errors.Is(err, bundle.ErrWithdrawn) || !strings.Contains(err.Error(), "counts the wrong month") {
		t.Fatalf("Approve of a withdrawn version = %v", err)
	}
	a.wantCurrent("1.0.0")
}

func TestPilotReachesOnlyItsPractices(t *testing.T) {
	f := tuftest.New(t)
	in := newAgent(t, f, bundle.ApprovalAuto, bundle.WithPractice("Y01234"))
	out := newAgent(t, f, bundle.ApprovalAuto, bundle.WithPractice("Y09999"))
	f.MustPublish("1.0.0")
	in.mustUpdate()
	out.mustUpdate()
	if _, err := f.PublishPilot("1.1.0-rc.1", "Y01234"); err != nil {
		t.Fatal(err)
	}
	in.mustUpdate()
	in.wantCurrent("1.1.0-rc.1")
	if st := out.mustUpdate(); st.Available != "1.0.0" {
		t.Fatalf("outside the pilot: %+v", st)
	}
	out.wantCurrent("1.0.0")
	if _, err := f.Promote("1.1.0-rc.1"); err != nil {
		t.Fatal(err)
	}
	out.mustUpdate()
	out.wantCurrent("1.1.0-rc.1")
	// The release proper comes after its pre-release.
	f.MustPublish("1.1.0")
	in.mustUpdate()
	in.wantCurrent("1.1.0")
}

func TestUpdateTakesTheDataFolderLock(t *testing.T) {
	f := tuftest.New(t)
	f.MustPublish("1.0.0")
	a := newAgent(t, f, bundle.ApprovalManual, bundle.WithLockWait(100*time.Millisecond))
	l, err := lock.Acquire(context.Background(), a.dataDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.update(); !errors.Is(err, lock.ErrBusy) {
		t.Fatalf("Update while another process holds the data folder = %v, want ErrBusy", err)
	}
	l.Release()
	a.mustUpdate()
	l, err = lock.Acquire(context.Background(), a.dataDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Approve(context.Background(), "1.0.0"); !errors.Is(err, lock.ErrBusy) {
		t.Fatalf("Approve while another process holds the data folder = %v, want ErrBusy", err)
	}
	l.Release()
	if err := a.Approve(context.Background(), "1.0.0"); err != nil {
		t.Fatal(err)
	}
}
