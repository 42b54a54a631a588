package web

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches/bundle"
)

// fakeReleases is the collector's TUF repository as the dashboard sees it.
type fakeReleases []bundle.TargetCustom

func (f fakeReleases) Releases(pack string) ([]bundle.TargetCustom, error) { return f, nil }

// cell returns the text of the element with data-field field in the row
// of practice ods on the overview.
func cell(t *testing.T, page, ods, field string) string {
	t.Helper()
	i := strings.Index(page, `<tr data-ods="`+ods+`"`)
	if i < 0 {
		t.Fatalf("no row for %s", ods)
	}
	row := page[i : i+strings.Index(page[i:], "</tr>")]
	m := regexp.MustCompile(`data-field="` + field + `">(.*?)</`).FindStringSubmatch(row)
	if m == nil {
		return ""
	}
	return m[1]
}

// setVersion makes the submissions of ods from index i on come from version.
func setVersion(f *fakeStore, ods string, from int, version string) {
	n := 0
	for si := range f.subs {
		if f.subs[si].Practice != ods {
			continue
		}
		if n >= from {
			f.subs[si].PackVersion = version
			for mi := range f.subs[si].Measures {
				f.subs[si].Measures[mi].PackVersion = version
			}
		}
		n++
	}
}

func heartbeat(t *testing.T, ods string, b wire.BundleReport) collector.Heartbeat {
	t.Helper()
	body, err := json.Marshal(wire.Heartbeat{Practice: ods, AgentVersion: "1.2.3", BundleVersion: b.Running, Bundle: &b})
	if err != nil {
		t.Fatal(err)
	}
	return collector.Heartbeat{Practice: ods, ReceivedAt: time.Now(), AgentVersion: "1.2.3", BundleVersion: b.Running, Body: body}
}

func TestOverviewShowsWhoRunsWhat(t *testing.T) {
	f, _, _ := newFake(t)
	at := time.Date(2026, 4, 2, 9, 0, 0, 0, time.UTC)
	w := New(Options{Store: f, Releases: fakeReleases{
		{Pack: "medsip", Version: "2026.1.0"},
		{Pack: "medsip", Version: "2026.2.0", Withdrawn: &bundle.Withdrawal{Reason: "high-dose threshold typed as 12", At: at}},
		{Pack: "medsip", Version: "2026.3.0-rc.1", Pilot: []string{"Y04444"}},
	}})
	h := routes(w)
	f.practices = append(f.practices,
		collector.Practice{ODS: "Y03333", Name: "Brookside", ICB: "QWE"},
		collector.Practice{ODS: "Y04444", Name: "Meadow", ICB: "QWE"})
	f.beats = map[string]collector.Heartbeat{
		// Fell back from the withdrawn version; its latest figures came from it.
		"Y01111": heartbeat(t, "Y01111", wire.BundleReport{Pack: "medsip", Running: "2026.1.0", FellBackFrom: "2026.2.0",
			Withdrawn: []wire.WithdrawnVersion{{Version: "2026.2.0", Reason: "high-dose threshold typed as 12"}}}),
		// Has not updated since the withdrawal; a later version failed its check.
		"Y03333": heartbeat(t, "Y03333", wire.BundleReport{Pack: "medsip", Running: "2026.2.0", Failed: "2026.2.1", FailedReason: "search medsip does not load"}),
		// In the pilot, approval manual: the pilot version waits.
		"Y04444": heartbeat(t, "Y04444", wire.BundleReport{Pack: "medsip", Running: "2026.1.0", BuiltIn: true, Waiting: "2026.3.0-rc.1"}),
	}
	addSeries(t, f, "Y01111", 3)
	setVersion(f, "Y01111", 0, "2026.1.0")
	setVersion(f, "Y01111", 2, "2026.2.0")
	addSeries(t, f, "Y04444", 2)
	setVersion(f, "Y04444", 0, "2026.1.0")

	page := get(t, h, f, 1, "/").Body.String()
	for _, c := range []struct{ ods, field, want string }{
		{"Y01111", "running", "2026.1.0"},
		{"Y01111", "withdrawn", "withdrawn 2026.2.0 (high-dose threshold typed as 12): fell back"},
		{"Y01111", "figures-from", "2026.2.0<br><small class=\"error\" data-field=\"figures-withdrawn\">computed under a withdrawn version (high-dose threshold typed as 12): the practice resends them (steward-agent resend --computed-with)"},
		{"Y01111", "figures-withdrawn", "computed under a withdrawn version (high-dose threshold typed as 12): the practice resends them (steward-agent resend --computed-with)"},
		{"Y03333", "running", "2026.2.0"},
		{"Y03333", "running-withdrawn", "runs a withdrawn version (high-dose threshold typed as 12): it falls back at its next update"},
		{"Y03333", "failed", "failed its check: 2026.2.1 (search medsip does not load)"},
		{"Y04444", "waiting", "waits for approval: 2026.3.0-rc.1"},
		{"Y04444", "figures-from", "2026.1.0"},
		{"Y04444", "figures-withdrawn", ""},
	} {
		if got := cell(t, page, c.ods, c.field); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.ods, c.field, got, c.want)
		}
	}
	if !strings.Contains(page, `<span data-field="running">2026.1.0</span> (built in)`) {
		t.Error("the built-in pack is not marked")
	}
	for field, want := range map[string]string{"waiting-count": "1", "failed-count": "1", "fell-back-count": "1", "running-withdrawn-count": "1", "figures-withdrawn-count": "1"} {
		if m := regexp.MustCompile(`data-field="` + field + `">(\d+)<`).FindStringSubmatch(page); m == nil || m[1] != want {
			t.Errorf("summary %s = %v, want %s", field, m, want)
		}
	}
	// The releases: what the authors decided, and how many practices are where.
	rel := func(version string) string {
		i := strings.Index(page, `<tr data-version="`+version+`">`)
		if i < 0 {
			t.Fatalf("no release row for %s:\n%s", version, page)
		}
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}
	for version, wants := range map[string][]string{
		"2026.1.0":      {"released; built into the agent", `data-field="running">2`, `data-field="figures">1`},
		"2026.2.0":      {"withdrawn 2 April 2026, 09:00 UTC: high-dose threshold typed as 12", `data-field="running">1`, `data-field="figures">1`},
		"2026.2.1":      {`data-field="failed">1`},
		"2026.3.0-rc.1": {"pilot: Y04444 (open it to all: steward search promote 2026.3.0-rc.1)", `data-field="waiting">1`},
	} {
		row := rel(version)
		for _, want := range wants {
			if !strings.Contains(row, want) {
				t.Errorf("release %s lacks %q:\n%s", version, want, row)
			}
		}
	}
	if i, j := strings.Index(page, `data-version="2026.3.0-rc.1"`), strings.Index(page, `data-version="2026.1.0"`); i > j {
		t.Error("releases are not newest first")
	}

	// The practice page: which version made each figure, and the months
	// computed under the withdrawn one.
	pp := get(t, h, f, 1, "/practices/Y01111").Body.String()
	for _, want := range []string{
		`runs <span data-field="running">2026.1.0</span>`,
		`<span class="error" data-field="withdrawn">2026.2.0 withdrawn (high-dose threshold typed as 12), fell back</span>`,
		"Months computed under a withdrawn version",
		"<tr><td>March 2024</td><td>2026.2.0</td><td>high-dose threshold typed as 12</td></tr>",
		`Latest figures from pack medsip 2026.2.0, as of <time datetime="2024-03-31">March 2024</time>`,
		`<td data-field="pack-version">2026.2.0</td>`,
		"Pack versions: 2026.1.0 (January 2024 to February 2024); 2026.2.0 (March 2024) <span class=\"error\">withdrawn</span>",
	} {
		if !strings.Contains(pp, want) {
			t.Errorf("practice page lacks %q", want)
		}
	}
	if strings.Contains(get(t, h, f, 1, "/practices/Y04444").Body.String(), "Months computed under a withdrawn version") {
		t.Error("a practice with no figures from a withdrawn version lists withdrawn months")
	}
}
