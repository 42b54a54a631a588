package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector/store"
)

// Each practice's part of a saved calculation follows the result: taken
// from the result when the caller gives none, replaced when it changes,
// gone when the practice leaves the result; other schemes' and periods'
// parts are not touched.
func TestPracticeParts(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *store.DB{"SQLite": openSQLite, "Postgres": openPostgres} {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			defer db.Close()
			ctx := context.Background()
			for _, id := range []string{"s", "t"} {
				if err := db.AddScheme(ctx, store.StoredScheme{ID: id, YAML: "version: 1", AddedBy: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			result := func(parts ...string) []byte {
				return fmt.Appendf(nil, `{"Scheme":"s","Practices":[%s]}`, joinParts(parts))
			}
			a1, b1, b2, c1 := `{"ODS":"A","TotalPence":1}`, `{"ODS":"B","TotalPence":2}`, `{"ODS":"B","TotalPence":3}`, `{"ODS":"C","TotalPence":4}`
			save := func(scheme, period string, version int64, parts []store.PracticePart, res []byte) {
				t.Helper()
				if err := db.SaveCalculation(ctx, store.Calculation{Scheme: scheme, Period: period, Version: version, CalculatedAt: time.Now(),
					CalculatedBy: "test", Inputs: "x", Result: res, Practices: parts}, version-1, nil); err != nil {
					t.Fatal(err)
				}
			}
			save("s", "2027-01", 1, nil, result(a1, b1))                                                                                            // parts taken from the result
			save("s", "2027-02", 1, nil, result(a1, b1))                                                                                            // another period
			save("t", "2027-01", 1, nil, result(a1))                                                                                                // another scheme
			save("s", "2027-01", 2, []store.PracticePart{{Practice: "B", Result: []byte(b2)}, {Practice: "C", Result: []byte(c1)}}, result(b2, c1)) // A leaves, B changes, C joins
			part := func(scheme, ods string) string {
				t.Helper()
				pcs, err := db.PracticeCalculations(ctx, scheme, ods, 12)
				if err != nil {
					t.Fatal(err)
				}
				var out string
				for _, pc := range pcs {
					out += fmt.Sprintf("%s v%d %s;", pc.Period, pc.Version, pc.Result)
				}
				return out
			}
			for _, tc := range []struct{ scheme, ods, want string }{
				{"s", "A", "2027-02 v1 " + a1 + ";"},
				{"s", "B", "2027-02 v1 " + b1 + ";2027-01 v2 " + b2 + ";"},
				{"s", "C", "2027-01 v2 " + c1 + ";"},
				{"t", "A", "2027-01 v1 " + a1 + ";"},
			} {
				if got := part(tc.scheme, tc.ods); got != tc.want {
					t.Errorf("%s %s = %s\nwant %s", tc.scheme, tc.ods, got, tc.want)
				}
			}
			// A result whose practices cannot be told apart is refused whole.
			if err := db.SaveCalculation(ctx, store.Calculation{Scheme: "s", Period: "2027-03", Version: 1, CalculatedAt: time.Now(),
				CalculatedBy: "test", Inputs: "x", Result: []byte(`{"Practices":[{"Name":"no code"}]}`)}, 0, nil); err == nil {
				t.Error("a result with a practice without an ODS code was saved")
			}
			if _, err := db.CalculationMeta(ctx, "s", "2027-03"); err == nil {
				t.Error("the refused calculation was stored")
			}
		})
	}
}

func joinParts(parts []string) string {
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out
}
