package web

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches"
	"github.com/nhs-steward/steward/searches/bundle"
	"github.com/nhs-steward/steward/searches/semver"
)

// Releases tells the dashboard the search authors' decisions on each
// published version of a pack (pilots, withdrawals), from the collector's
// own TUF repository; *tufrepo.Repo implements it.
type Releases interface {
	Releases(pack string) ([]bundle.TargetCustom, error)
}

// releases returns the published versions of pack by version; none when
// the collector has no repository, or it cannot be read (logged).
func (w *Web) releases(ctx context.Context, pack string) map[string]bundle.TargetCustom {
	out := map[string]bundle.TargetCustom{}
	if w.opts.Releases == nil {
		return out
	}
	rs, err := w.opts.Releases.Releases(pack)
	if err != nil {
		w.log.Error("read the search bundle releases", "pack", pack, "err", err)
		return out
	}
	for _, r := range rs {
		out[r.Version] = r
	}
	return out
}

// BundleReport returns what a heartbeat says about the practice's search
// bundle. An agent older than the bundle report names only the running
// version, which is returned alone.
func BundleReport(hb *collector.Heartbeat) *wire.BundleReport {
	if hb == nil {
		return nil
	}
	var b struct {
		Bundle *wire.BundleReport `json:"bundle"`
	}
	if json.Unmarshal(hb.Body, &b) == nil && b.Bundle != nil {
		return b.Bundle
	}
	if hb.BundleVersion == "" {
		return nil
	}
	return &wire.BundleReport{Running: hb.BundleVersion}
}

// ReleaseRow is one version of the pack on the overview: the authors'
// decision and how many practices run it, wait to approve it, had it fail
// its check, and have their latest figures from it.
type ReleaseRow struct {
	Version   string
	BuiltIn   bool
	Published bool
	Pilot     []string
	Withdrawn *bundle.Withdrawal
	Running   int
	Waiting   int
	Failed    int
	Figures   int
}

// releaseRows counts the practices' versions against the published ones,
// newest first.
func releaseRows(pack string, published map[string]bundle.TargetCustom, rows []OverviewRow) []ReleaseRow {
	by := map[string]*ReleaseRow{}
	get := func(v string) *ReleaseRow {
		r, ok := by[v]
		if !ok {
			r = &ReleaseRow{Version: v}
			by[v] = r
		}
		return r
	}
	if v, err := searches.BuiltinPackVersion(pack); err == nil {
		get(v).BuiltIn = true
	}
	for v, c := range published {
		r := get(v)
		r.Published, r.Pilot, r.Withdrawn = true, c.Pilot, c.Withdrawn
	}
	for _, row := range rows {
		if b := row.Bundle; b != nil {
			if b.Running != "" && semver.Valid(b.Running) {
				get(b.Running).Running++
			}
			if b.Waiting != "" {
				get(b.Waiting).Waiting++
			}
			if b.Failed != "" {
				get(b.Failed).Failed++
			}
		}
		if row.PackVersion != "" {
			get(row.PackVersion).Figures++
		}
	}
	out := make([]ReleaseRow, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b ReleaseRow) int {
		if semver.Less(a.Version, b.Version) {
			return 1
		}
		if semver.Less(b.Version, a.Version) {
			return -1
		}
		return 0
	})
	return out
}
