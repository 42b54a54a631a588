package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestMoveRequest(t *testing.T) {
	good := url.Values{"scheme": {"example-icb-2026"}, "period": {"2027-03"}, "practice": {"Y01001"}, "to": {"declared"},
		"version": {"3"}, "reason": {"figures checked\r\nwith the practice\t(twice)"}}
	req, fe := moveRequest(good, "Y01001")
	if fe != nil || req.Version != 3 || req.Period != "2027-03" || req.To != "declared" {
		t.Fatalf("moveRequest(good) = %+v, %v", req, fe)
	}
	for _, c := range []struct{ field, value string }{
		{"period", `2027-03"`}, {"period", "2027-03\x00"}, {"period", "2027-13"}, {"period", "\xff"}, {"period", strings.Repeat("2", 5000)},
		{"scheme", "Example"}, {"scheme", "a\x00"}, {"to", "open"}, {"to", "paid;"},
		{"version", "0"}, {"version", "x"}, {"version", "1.5"},
		{"reason", "a\x00b"}, {"reason", "a\x1bb"}, {"reason", "\xff"}, {"reason", "a\u202eb"}, {"reason", strings.Repeat("x", maxReason+1)},
	} {
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set(c.field, c.value)
		if _, fe := moveRequest(f, "Y01001"); fe == nil || fe.field != c.field {
			t.Errorf("%s = %q: %v, want a problem with %s", c.field, c.value, fe, c.field)
		} else if strings.Contains(fe.Error(), c.value) && c.value != "" {
			t.Errorf("%s = %q: the message repeats the value: %v", c.field, c.value, fe)
		}
	}
}

func TestOverviewQueryAndSignIn(t *testing.T) {
	for q, ok := range map[string]bool{
		"": true, "scheme=example-icb&period=2027-03": true,
		"scheme=%22": false, "scheme=a%00": false, "period=2027-3": false, "period=%FF": false,
	} {
		v, _ := url.ParseQuery(q)
		if got := overviewQuery(v) == nil; got != ok {
			t.Errorf("overviewQuery(%s) ok = %v, want %v", q, got, ok)
		}
	}
	if fe := signInName("ana o'brien", `"'; --`); fe != nil {
		t.Errorf("ordinary name and password refused: %v", fe)
	}
	for _, c := range []struct{ name, password, field string }{
		{"a\x00", "p", "name"}, {"\xff", "p", "name"}, {strings.Repeat("n", maxUserName+1), "p", "name"},
		{"ana", strings.Repeat("p", maxPassword+1), "password"},
	} {
		if fe := signInName(c.name, c.password); fe == nil || fe.field != c.field {
			t.Errorf("signInName(%q, %d bytes) = %v, want a problem with %s", c.name, len(c.password), fe, c.field)
		}
	}
}
