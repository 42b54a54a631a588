package model

import (
	"testing"
	"time"
)

func TestSeriesDates(t *testing.T) {
	d := func(s string) time.Time {
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	got := SeriesDates(d("2025-03-31"), 4)
	want := []string{"2024-12-31", "2025-01-31", "2025-02-28", "2025-03-31"}
	if len(got) != len(want) {
		t.Fatalf("SeriesDates = %v, want %v", got, want)
	}
	for i := range want {
		if g := got[i].Format(time.DateOnly); g != want[i] {
			t.Errorf("SeriesDates[%d] = %s, want %s", i, g, want[i])
		}
	}
	// A leap February, and an as-of date that is not a month end.
	got = SeriesDates(d("2024-03-15"), 3)
	want = []string{"2024-01-31", "2024-02-29", "2024-03-15"}
	for i := range want {
		if g := got[i].Format(time.DateOnly); g != want[i] {
			t.Errorf("SeriesDates(2024-03-15)[%d] = %s, want %s", i, g, want[i])
		}
	}
	if got := SeriesDates(d("2025-03-31"), 0); got != nil {
		t.Errorf("SeriesDates(n=0) = %v, want nil", got)
	}
}
