package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
)

func TestDashboardReadsSQLite(t *testing.T)   { testDashboardReads(t, openSQLite(t)) }
func TestDashboardReadsPostgres(t *testing.T) { testDashboardReads(t, openPostgres(t)) }

// The ICB view's reads: every current row of the ICB's practices, none of
// another ICB's, none superseded; the current documents at one month.
func testDashboardReads(t *testing.T, db *store.DB) {
	ctx := context.Background()
	t0 := time.Date(2025, 4, 2, 9, 0, 0, 0, time.UTC)
	for _, p := range []collector.Practice{{ODS: "Y01111", ICB: "QWE"}, {ODS: "Y02222", ICB: "QWE"}, {ODS: "Z03333", ICB: "QXY"}} {
		p.Name, p.CreatedAt = "Practice "+p.ODS, t0
		if err := db.AddPractice(ctx, p, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []collector.Submission{
		storetest.Sub("Y01111", "a", "medsip", "2025-02-28", t0, 40, 20),
		storetest.Sub("Y01111", "b", "medsip", "2025-03-31", t0, 41, 21),
		storetest.Sub("Y02222", "c", "medsip", "2025-03-31", t0, 30, 10),
		storetest.Sub("Z03333", "d", "medsip", "2025-03-31", t0, 99, 9),
		storetest.Sub("Y02222", "e", "medsip", "2025-03-31", t0.Add(time.Hour), 31, 11), // supersedes c
	} {
		if _, err := db.Ingest(ctx, s); err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
	}
	rows, err := db.ICBMeasureRows(ctx, "medsip", "QWE", []string{"long_term"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.AsOf+" "+r.Practice+" "+r.MeasureID+" "+fmtF(r.Value))
	}
	want := "2025-02-28 Y01111 long_term 40|2025-03-31 Y01111 long_term 41|2025-03-31 Y02222 long_term 31"
	if strings.Join(got, "|") != want {
		t.Errorf("ICBMeasureRows = %s, want %s", strings.Join(got, "|"), want)
	}
	if all, err := db.ICBMeasureRows(ctx, "medsip", "", []string{"long_term", "long_term_reviewed"}); err != nil || len(all) != 8 {
		t.Errorf("every ICB, two measures: %d rows, %v; want 8", len(all), err)
	}
	docs, err := db.ICBDocuments(ctx, "medsip", "QWE", "2025-03-31")
	if err != nil || len(docs) != 2 || docs[0].Practice != "Y01111" || docs[1].Practice != "Y02222" || !strings.Contains(string(docs[1].Body), `"long_term":31`) {
		t.Fatalf("ICBDocuments = %+v, %v", docs, err)
	}
}

func fmtF(v *float64) string {
	if v == nil {
		return "nil"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}
