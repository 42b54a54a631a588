package run

import (
	"context"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/synth"
)

// TestDocumentSeries: a run of the series example (issue #15 e) carries the
// measure at each of the last 12 month ends, oldest first, each point equal
// to a run as of that month end, the last equal to the measure's own
// figure, and the document passes the collector's validation; on SQLite
// and PostgreSQL alike.
func TestDocumentSeries(t *testing.T) {
	onEngines(t, func(t *testing.T, u string) {
		ctx := context.Background()
		synthPractice(t, u, 400, 5)
		end := synthEnd
		pack, err := LoadPack("../../searches/examples/high-dose-series.yaml")
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(u, "canonical", pack, "test")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// A low threshold, so that the counts move from month to month.
		params := map[string]float64{"high_dose_mg_per_day": 10}
		doc, err := r.Document(ctx, Request{Practice: synth.DefaultPractice, AsOf: end, Params: params})
		if err != nil {
			t.Fatal(err)
		}
		// A single search file is a pack without a version; a pack
		// manifest gives one.
		doc.Pack.Version = "2026.1.0"
		if err := doc.Validate(); err != nil {
			t.Fatalf("the document does not validate: %v", err)
		}
		m := doc.Measures[0]
		if len(m.Series) != 12 || m.Series[0].AsOf != "2024-04-30" || m.Series[11].AsOf != "2025-03-31" {
			t.Fatalf("series = %+v, want 12 month ends 2024-04-30..2025-03-31", m.Series)
		}
		if *m.Series[11].Value != *m.Value {
			t.Fatalf("last point %v, measure %v", *m.Series[11].Value, *m.Value)
		}
		distinct := map[float64]bool{}
		for _, p := range m.Series {
			at, _ := time.Parse(time.DateOnly, p.AsOf)
			one, err := r.Document(ctx, Request{Practice: synth.DefaultPractice, AsOf: at, Params: params})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := *p.Value, *one.Measures[0].Value; got != want {
				t.Errorf("point %s = %v, but a run as of %s gives %v", p.AsOf, got, p.AsOf, want)
			}
			distinct[*p.Value] = true
		}
		if len(distinct) < 2 {
			t.Errorf("every point is %v: the fixture does not exercise the series", m.Series[0].Value)
		}
	})
}
