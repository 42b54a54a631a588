package synth

import (
	"context"
	"path/filepath"
	"testing"
)

func benchGenerate(b *testing.B, n int) {
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "practice.db")
		db, d, err := Open("sqlite:" + path)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Generate(context.Background(), db, d, smallConfig(n))
		db.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sum.Issues), "issues")
		b.ReportMetric(float64(sum.Events), "events")
		b.ReportMetric(float64(sum.Registrations), "registrations")
		b.ReportMetric(sum.Elapsed.Seconds(), "s/practice")
	}
}

// BenchmarkGenerate10k: a 10,000-patient practice with 10 years of history
// into SQLite.
func BenchmarkGenerate10k(b *testing.B) { benchGenerate(b, 10_000) }

// BenchmarkGenerate50k: the 50,000-patient practice of the performance
// requirement (under 90 s on 2 cores).
func BenchmarkGenerate50k(b *testing.B) { benchGenerate(b, 50_000) }
