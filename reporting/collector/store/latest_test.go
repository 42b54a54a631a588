package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
)

// LatestMeasures gives each practice's current rows at its own latest
// as-of date: not a superseded submission's, not another pack's, only the
// measures asked for, only the ICB's practices, none for a practice
// without figures.
func TestLatestMeasures(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *store.DB{"SQLite": openSQLite, "Postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			defer db.Close()
			ctx := context.Background()
			at := time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC)
			for _, p := range []collector.Practice{{ODS: "Y00001", ICB: "QXX"}, {ODS: "Y00002", ICB: "QXX"}, {ODS: "Y00003", ICB: "QXX"}, {ODS: "Y00009", ICB: "QYY"}} {
				p.Name, p.CreatedAt = p.ODS, at
				if err := db.AddPractice(ctx, p, "test"); err != nil {
					t.Fatal(err)
				}
			}
			add := func(ods, key, asOf string, longTerm float64, received time.Time, pack string) {
				t.Helper()
				sub := storetest.MedsipSubmission(t, ods, key, asOf, received, storetest.MedsipFigures{LongTerm: longTerm, Reviewed: 1, HighDoseBaseline: 1})
				sub.Pack = pack
				if _, err := db.Ingest(ctx, sub); err != nil {
					t.Fatal(err)
				}
			}
			add("Y00001", "a1", "2026-05-31", 10, at, "medsip")
			add("Y00001", "a2", "2026-06-30", 11, at, "medsip")
			add("Y00001", "a3", "2026-06-30", 12, at.Add(time.Hour), "medsip") // supersedes a2
			add("Y00001", "a4", "2026-07-31", 99, at, "other")                 // another pack
			add("Y00002", "b1", "2026-04-30", 20, at, "medsip")
			add("Y00009", "z1", "2026-07-31", 90, at, "medsip") // another ICB
			for _, tc := range []struct {
				icb  string
				want []string
			}{
				{"QXX", []string{"Y00001 2026-06-30 long_term 12", "Y00002 2026-04-30 long_term 20"}},
				{"", []string{"Y00001 2026-06-30 long_term 12", "Y00002 2026-04-30 long_term 20", "Y00009 2026-07-31 long_term 90"}},
			} {
				rows, err := db.LatestMeasures(ctx, "medsip", tc.icb, []string{"long_term"})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range rows {
					got = append(got, fmt.Sprintf("%s %s %s %v", r.Practice, r.AsOf, r.MeasureID, *r.Value))
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("LatestMeasures(icb %q) = %q, want %q", tc.icb, got, tc.want)
				}
			}
			rows, err := db.LatestMeasures(ctx, "medsip", "QXX", []string{"long_term", "eligible_adults"})
			if err != nil || len(rows) != 4 || rows[0].MeasureID != "eligible_adults" || rows[1].MeasureID != "long_term" || rows[0].PackVersion != "2026.2.0" {
				t.Errorf("two measures = %+v, %v", rows, err)
			}
		})
	}
}
