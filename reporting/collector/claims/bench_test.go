package claims_test

import (
	"database/sql"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
)

const benchMonths = 24

// benchPractices is 6,500 (England's practices, near enough) unless
// STEWARD_BENCH_PRACTICES says otherwise, for trying changes quickly.
var benchPractices = func() int {
	if n, err := strconv.Atoi(os.Getenv("STEWARD_BENCH_PRACTICES")); err == nil && n > 0 {
		return n
	}
	return 6500
}()

// benchScheme pays on every element type for every practice of ICB QXX,
// monthly from 2025-04 to 2027-03 (shared with package schemes' benchmark).
const benchSchemeFile = "../../../testdata/schemes/bench-scheme.yaml"

// seedBench fills a migrated PostgreSQL store with 6,500 practices and 24
// monthly submissions each (156,000 submissions, 14 measure rows apiece,
// as the MedSIP pack sends), list sizes, and the benchmark scheme. It
// writes with set-based SQL: the benchmark measures reconciliation, not
// ingest (make bench measures that separately). It vacuums as well as
// analyses: a store filled over two years has long been vacuumed, where
// reading freshly written rows first would set their hint bits.
func seedBench(b testing.TB, url string) (*store.DB, *sql.DB) {
	b.Helper()
	db, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	measures := []string{
		"('registered_adults','count',NULL,NULL,3200+p.i)", "('registered_patients','count',NULL,NULL,4000+p.i)",
		"('eligible_adults','count',NULL,NULL,3000+p.i)", "('long_term','count',NULL,NULL,20+p.i%60)",
		"('high_dose','count',NULL,NULL,p.i%9)",
		"('long_term_reviewed','ratio',(p.i+p.k)%(21+p.i%60),20+p.i%60,((p.i+p.k)%(21+p.i%60))::float8/(20+p.i%60))",
		"('high_dose_reviewed','ratio',p.i%(1+p.i%9),p.i%9,NULL)",
		"('long_term_baseline','count',NULL,NULL,23+p.i%60)", "('high_dose_baseline','count',NULL,NULL,2+p.i%9)",
		"('high_dose_baseline_stopped','ratio',1,2+p.i%9,1.0/(2+p.i%9))", "('long_term_baseline_stopped','ratio',2,23+p.i%60,2.0/(23+p.i%60))",
		"('baseline_lost','count',NULL,NULL,2)", "('ome_total_mg','sum',NULL,NULL,50000+p.i)",
		"('ome_per_1000','ratio',50000+p.i,3000+p.i,(50000+p.i)::float8/(3000+p.i)*1000)",
	}
	last := strconv.Itoa(benchPractices - 1)
	for _, stmt := range []string{
		`INSERT INTO practices (ods, name, icb, created_at)
		 SELECT 'Y' || lpad(i::text, 5, '0'), 'Practice ' || i, 'QXX', now() FROM generate_series(0, ` + last + `) i`,
		`INSERT INTO submissions (practice, idempotency_key, body_sha256, signature, key_id, signed_at, received_at,
		   pack, pack_version, as_of, baseline, agent_version, state)
		 SELECT 'Y' || lpad(p.i::text, 5, '0'), 'k-' || p.i || '-' || q.k, '', '', '', '',
		   (date '2025-05-01' + make_interval(months => q.k) + interval '2 days'), 'medsip', '2026.1.0',
		   (date '2025-05-01' + make_interval(months => q.k) - interval '1 day')::date, '2025-03-31', 'bench', 'current'
		 FROM generate_series(0, ` + last + `) p(i), generate_series(0, 23) q(k)`,
		`INSERT INTO submission_bodies (submission_id, body) SELECT id, '\x7b7d'::bytea FROM submissions`,
		`INSERT INTO measure_rows (submission_id, measure_id, kind, numerator, denominator, per, value)
		 SELECT p.id, v.id, v.kind, v.num, v.den, CASE WHEN v.id = 'ome_per_1000' THEN 1000 ELSE 0 END, v.val
		 FROM (SELECT id, split_part(idempotency_key, '-', 2)::int AS i, split_part(idempotency_key, '-', 3)::int AS k FROM submissions) p
		 CROSS JOIN LATERAL (VALUES ` + strings.Join(measures, ", ") + `) AS v(id, kind, num, den, val)`,
		`INSERT INTO list_sizes (practice, month, list_size, recorded_at, recorded_by)
		 SELECT 'Y' || lpad(i::text, 5, '0'), '2025-01', 4000 + i, now(), 'bench' FROM generate_series(0, ` + last + `) i`,
		`VACUUM ANALYZE`,
	} {
		if _, err := raw.ExecContext(ctx, stmt); err != nil {
			b.Fatalf("seed: %v\n%s", err, stmt)
		}
	}
	yaml, err := os.ReadFile(benchSchemeFile)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.AddScheme(ctx, store.StoredScheme{ID: "bench", YAML: string(yaml), AddedBy: "bench"}); err != nil {
		b.Fatal(err)
	}
	return db, raw
}

// BenchmarkReconcilePostgres reconciles every one of 24 monthly periods
// for 6,500 practices on PostgreSQL, reading the figures from the store
// (one op is all 24 periods):
//   - first: each period's first calculation, storing the results and
//     moving 156,000 claims from open to calculated (the store is reset
//     between ops, outside the timer);
//   - again: recalculating the same periods with no new figures, what the
//     collector does in the background and before every claim move;
//   - one-period: one period calculated from scratch, the store holding
//     all 24 months (what 'reconcile --period' does the first time).
func BenchmarkReconcilePostgres(b *testing.B) {
	db, raw := seedBench(b, pgtest.NewDB(b))
	svc := &claims.Service{DB: db}
	sc, err := svc.Scheme(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	periods := sc.PeriodList()
	if len(periods) != benchMonths {
		b.Fatalf("%d periods", len(periods))
	}
	calculateAll := func(b *testing.B, first bool) {
		outs, err := svc.CalculatePeriods(ctx, sc, periods, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, out := range outs {
			if out.First != first || out.Unchanged == first || (first && len(out.Events) != benchPractices) {
				b.Fatalf("%s: first %t, unchanged %t, %d events", out.Period, out.First, out.Unchanged, len(out.Events))
			}
		}
	}
	reset := func(b *testing.B) {
		for _, stmt := range []string{"DELETE FROM claim_events", "DELETE FROM claims", "DELETE FROM reconciliation_practices", "DELETE FROM reconciliations",
			"DELETE FROM audit_log WHERE action = 'claim.move'", "VACUUM ANALYZE claims"} {
			if _, err := raw.ExecContext(ctx, stmt); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			reset(b)
			b.StartTimer()
			calculateAll(b, true)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchPractices*benchMonths), "ns/practice-period")
	})
	b.Run("again", func(b *testing.B) {
		reset(b)
		calculateAll(b, true)
		for b.Loop() {
			calculateAll(b, false)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchPractices*benchMonths), "ns/practice-period")
	})
	// one-period-closed: the same, under the benchmark scheme with every
	// element paid at the year end, in a month before it: nothing is
	// payable, so every practice's claim is closed, each with a row and
	// an event (where a payable claim's first step writes neither).
	b.Run("one-period-closed", func(b *testing.B) {
		yaml, err := os.ReadFile(benchSchemeFile)
		if err != nil {
			b.Fatal(err)
		}
		text := strings.ReplaceAll(strings.Replace(string(yaml), "id: bench", "id: bench-final", 1), "paid: monthly", "paid: final")
		if err := db.AddScheme(ctx, store.StoredScheme{ID: "bench-final", YAML: text, AddedBy: "bench"}); err != nil && !errors.Is(err, collector.ErrExists) {
			b.Fatal(err)
		}
		final, err := svc.Scheme(ctx, "bench-final")
		if err != nil {
			b.Fatal(err)
		}
		month := periods[len(periods)-2]
		for b.Loop() {
			b.StopTimer()
			reset(b)
			b.StartTimer()
			out, err := svc.Calculate(ctx, final, month, "bench")
			if err != nil || !out.First || len(out.Events) != benchPractices || out.Events[0].To != "closed" {
				b.Fatalf("%+v, %v", out, err)
			}
		}
	})
	b.Run("one-period", func(b *testing.B) {
		last := periods[len(periods)-1]
		for b.Loop() {
			b.StopTimer()
			reset(b)
			b.StartTimer()
			out, err := svc.Calculate(ctx, sc, last, "bench")
			if err != nil || !out.First || len(out.Events) != benchPractices {
				b.Fatalf("%+v, %v", out, err)
			}
		}
	})
}
