package chart

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

// The limits by hand: p = 0.5, n = 100: the standard error is
// sqrt(0.25/100) = 0.05, so 0.5 ± 1.96 x 0.05 = 0.402 and 0.598, and
// 0.5 ± 3.09 x 0.05 = 0.3455 and 0.6545. p = 0.2, n = 25: sqrt(0.16/25) =
// 0.08; 0.2 ± 0.1568 = 0.0432 and 0.3568; 0.2 ± 0.2472 = below zero,
// clipped to 0, and 0.4472.
func TestFunnelLimits(t *testing.T) {
	for _, c := range []struct{ p, n, z, lo, hi float64 }{
		{0.5, 100, Z95, 0.402, 0.598},
		{0.5, 100, Z998, 0.3455, 0.6545},
		{0.2, 25, Z95, 0.0432, 0.3568},
		{0.2, 25, Z998, 0, 0.4472},
		{0.9, 16, Z998, 0.6683, 1}, // 0.9 ± 3.09 x 0.075 = 0.66825 and 1.13175, clipped
	} {
		lo, hi := FunnelLimits(c.p, c.n, c.z)
		if math.Abs(lo-c.lo) > 1e-4 || math.Abs(hi-c.hi) > 1e-4 {
			t.Errorf("FunnelLimits(%v, %v, %v) = %.5f, %.5f; want %v, %v", c.p, c.n, c.z, lo, hi, c.lo, c.hi)
		}
	}
	for _, c := range []struct {
		pt         FunnelPoint
		band, side string
	}{
		{FunnelPoint{N: 100, P: 0.5}, "inside", ""},
		{FunnelPoint{N: 100, P: 0.62}, "95", "high"},
		{FunnelPoint{N: 100, P: 0.38}, "95", "low"},
		{FunnelPoint{N: 100, P: 0.66}, "99.8", "high"},
		{FunnelPoint{N: 100, P: 0.30}, "99.8", "low"},
	} {
		if band, side := Band(c.pt, 0.5); band != c.band || side != c.side {
			t.Errorf("Band(%+v) = %s %s, want %s %s", c.pt, band, side, c.band, c.side)
		}
	}
}

func TestFunnelDrawing(t *testing.T) {
	out := string(Funnel([]FunnelPoint{{ID: "A", Label: "A <x>", N: 100, P: 0.66}, {ID: "B", Label: "B", N: 100, P: 0.5}, {ID: "C", Label: "C", N: 400, P: 0.3}}, 0.5,
		FunnelOptions{Title: "Reviewed", XTitle: "Long-term users", YTitle: "Reviewed (%)", HigherIsBetter: true}))
	var d struct {
		Circles []struct {
			Band string `xml:"data-band,attr"`
			Side string `xml:"data-side,attr"`
			Fill string `xml:"fill,attr"`
			ODS  string `xml:"data-ods,attr"`
		} `xml:"circle"`
		Lines []struct {
			Class string `xml:"class,attr"`
		} `xml:"polyline"`
	}
	if err := xml.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "<x>") {
		t.Fatal("labels not escaped")
	}
	got := map[string]string{}
	for _, c := range d.Circles {
		got[c.ODS] = c.Band + " " + c.Side + " " + c.Fill
	}
	for ods, want := range map[string]string{"A": "99.8 high " + ColourImprovement, "B": "inside  " + ColourCommon, "C": "99.8 low " + ColourConcern} {
		if got[ods] != want {
			t.Errorf("practice %s: %q, want %q", ods, got[ods], want)
		}
	}
	if len(d.Lines) != 4 {
		t.Errorf("%d limit curves, want 4 (95%% and 99.8%%, each side)", len(d.Lines))
	}
	r := string(Ranked([]RankedItem{{ID: "A", Label: "A", Value: 5}, {ID: "B", Label: "B", Value: 9}}, 7, "t", "per 1,000"))
	if strings.Index(r, `data-ods="B"`) > strings.Index(r, `data-ods="A"`) {
		t.Error("ranked bars not highest first")
	}
}
