package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// benchDocument is a document near the size limits a collector accepts:
// n count measures, each with three stratifications of 20 cells.
func benchDocument(n int) []byte {
	d := Document{Schema: Schema, Practice: "Y01234", Pack: PackRef{ID: "medsip", Version: "2026.1.0"}, AsOf: "2025-03-31",
		Producer: Producer{Name: "steward-agent", Version: "1.0.0"}, Parameters: map[string]string{"high_dose_mg_per_day": "120"}}
	for i := range n {
		m := Measure{ID: fmt.Sprintf("measure_%d", i), Kind: KindCount, Title: "Long-term opioid users at baseline", Value: F(400)}
		for _, dim := range []string{"sex", "age_band", "imd_quintile"} {
			s := Strata{Dimension: dim}
			for c := range 20 {
				s.Cells = append(s.Cells, Cell{Stratum: fmt.Sprintf("band_%d-%d", c, c+5), Value: F(20)})
			}
			m.Strata = append(m.Strata, s)
		}
		d.Measures = append(d.Measures, m)
	}
	b, _ := json.Marshal(d)
	return b
}

// BenchmarkDecode is Decode (strict JSON walk, decode, validation with
// free-text screening) of a MedSIP-sized document and of one near the
// 1 MiB limit.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{14, 120} {
		body := benchDocument(n)
		b.Run(fmt.Sprintf("%d_measures_%dKiB", n, len(body)>>10), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
