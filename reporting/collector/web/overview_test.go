package web

import (
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/schemes"
)

func TestLatestEndedPeriod(t *testing.T) {
	sc := &schemes.Scheme{Periods: schemes.Periods{From: "2026-04", To: "2027-03"}}
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC), "2026-11"},
		// A month has ended at midnight UTC on the 1st of the next.
		{time.Date(2027, 3, 31, 23, 59, 59, 0, time.UTC), "2027-02"},
		{time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC), "2027-03"},
		{time.Date(2027, 4, 1, 0, 30, 0, 0, time.FixedZone("BST", 3600)), "2027-02"}, // 23:30 UTC on 31 March
		{time.Date(2028, 1, 15, 0, 0, 0, 0, time.UTC), "2027-03"},
		{time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), "2026-04"},
		{time.Date(2026, 4, 30, 12, 0, 0, 0, time.UTC), ""},
		{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), ""},
	} {
		if got := LatestEndedPeriod(sc, tc.now); got != tc.want {
			t.Errorf("LatestEndedPeriod(%s) = %q, want %q", tc.now, got, tc.want)
		}
	}
}
