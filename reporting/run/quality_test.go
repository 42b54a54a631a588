package run

import (
	"context"
	"testing"
	"time"
)

// TestQuality: the data-quality figures count the issues of the three
// months ending the as-of date, those whose date or quantity could not be
// read, and find the newest issue, on SQLite and PostgreSQL alike.
func TestQuality(t *testing.T) {
	onEngines(t, func(t *testing.T, u string) {
		ctx := context.Background()
		db := synthPractice(t, u, 300, 3)
		end := synthEnd
		// The synthetic practice has some issues with no usable
		// quantity, as real extracts do.
		var inWindow, noQuantity int64
		if err := db.QueryRowContext(ctx, rebind(u, "SELECT COUNT(*), SUM(CASE WHEN quantity IS NULL THEN 1 ELSE 0 END) FROM medication_issues WHERE issue_date >= ? AND issue_date <= ?"),
			dateArg(u, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), dateArg(u, end)).Scan(&inWindow, &noQuantity); err != nil {
			t.Fatal(err)
		}
		pack, err := LoadPack("medsip")
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(u, "canonical", pack, "test")
		if err != nil {
			t.Fatal(err)
		}
		q, err := r.Quality(ctx, end)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if q.Issues != inWindow || q.Unreadable != noQuantity || q.Newest.After(end) || q.Newest.Before(end.AddDate(0, 0, -14)) {
			t.Fatalf("extract: %+v, want %d issues, %d unreadable, newest in late March 2025", q, inWindow, noQuantity)
		}
		// Three more issues in the window without a quantity (the
		// canonical schema has no undated issues; a profile's
		// conversion of an unreadable date gives NULL, counted alike).
		for _, stmt := range []string{
			"INSERT INTO medication_issues (issue_id, patient_id, issue_date, dmd_code, quantity) VALUES (900000001, 1, '2025-02-10', '1', NULL)",
			"INSERT INTO medication_issues (issue_id, patient_id, issue_date, dmd_code, quantity) VALUES (900000002, 1, '2025-02-11', '1', NULL)",
			"INSERT INTO medication_issues (issue_id, patient_id, issue_date, dmd_code, quantity) VALUES (900000003, 1, '2025-03-01', '1', NULL)",
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		r, err = Open(u, "canonical", pack, "test")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		q, err = r.Quality(ctx, end)
		if err != nil {
			t.Fatal(err)
		}
		if q.Issues != inWindow+3 || q.Unreadable != noQuantity+3 {
			t.Fatalf("after adding unreadable issues: %+v, want %d issues of which %d unreadable", q, inWindow+3, noQuantity+3)
		}
		// As of a month before any issue: nothing in the window, and no
		// issue on or before it.
		q, err = r.Quality(ctx, time.Date(2023, 1, 31, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if q.Issues != 0 || q.Unreadable != 0 || !q.Newest.IsZero() {
			t.Fatalf("as of 2023-01-31: %+v", q)
		}
	})
}

func rebind(url, q string) string {
	if len(url) > 7 && url[:7] == "sqlite:" {
		return q
	}
	n := 0
	out := []byte{}
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, []byte("$"+string(rune('0'+n)))...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func dateArg(url string, t time.Time) any {
	if len(url) > 7 && url[:7] == "sqlite:" {
		return t.Format(time.DateOnly)
	}
	return t
}
