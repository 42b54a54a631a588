package tufrepo

import (
	"context"
	"time"
)

// MaxRefreshInterval is the longest KeepFresh waits between two Refresh
// calls.
const MaxRefreshInterval = time.Hour

// RefreshInterval is how often KeepFresh refreshes by default: hourly, or
// a quarter of the shortest online expiry when that is shorter, so the
// timestamp is re-signed at least once in the half of its validity Refresh
// waits for.
func (r *Repo) RefreshInterval() time.Duration {
	d := MaxRefreshInterval
	for _, e := range []time.Duration{r.expiry.Timestamp / 4, r.expiry.Snapshot / 4} {
		if e > 0 && e < d {
			d = e
		}
	}
	return d
}

// KeepFresh calls Refresh at once and then every interval (0: the
// RefreshInterval) until ctx is done, logging what it re-signed. A failed
// refresh is logged and tried again at the next tick: the metadata stays
// valid for at least half its expiry after the last success. It returns
// when ctx is done; run it in its own goroutine and wait for it before
// letting another process write the repository.
func (r *Repo) KeepFresh(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = r.RefreshInterval()
	}
	r.refreshAndLog()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.refreshAndLog()
		}
	}
}

// refreshAndLog runs Refresh and says what it did.
func (r *Repo) refreshAndLog() {
	before, err := r.Status()
	if err != nil {
		r.log.Error("read search bundle repository; the metadata is not being refreshed", "dir", r.dir, "err", err)
		return
	}
	changed, err := r.Refresh()
	if err != nil {
		r.log.Error("refresh search bundle metadata failed; retrying at the next interval (agents go stale if it keeps failing)",
			"dir", r.dir, "timestamp_expires", before.TimestampExpires, "err", err)
		return
	}
	if before.TargetsVersion == 0 {
		r.log.Debug("search bundle repository: nothing published yet, nothing to refresh", "dir", r.dir)
		return
	}
	if !changed {
		return
	}
	after, err := r.Status()
	if err != nil {
		r.log.Error("read search bundle repository after refresh", "dir", r.dir, "err", err)
		return
	}
	roles := "timestamp"
	if after.SnapshotVersion != before.SnapshotVersion {
		roles = "snapshot and timestamp"
	}
	r.log.Info("re-signed search bundle metadata", "roles", roles,
		"timestamp_version", after.TimestampVersion, "timestamp_expires", after.TimestampExpires.Format(time.RFC3339),
		"snapshot_version", after.SnapshotVersion, "snapshot_expires", after.SnapshotExpires.Format(time.RFC3339))
}
