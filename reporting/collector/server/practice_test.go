package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/web"
)

// token adds an analyst of icb with an API token and returns the token.
func (e *env) token(t *testing.T, name, icb string) string {
	t.Helper()
	return e.tokenFor(t, collector.User{Name: name, Role: collector.RoleICBAnalyst, ICB: icb})
}

// tokenFor adds user u with an API token and returns the token.
func (e *env) tokenFor(t *testing.T, u collector.User) string {
	t.Helper()
	u, err := e.db.AddUser(ctx, u, "test")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.RandomToken(32)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.AddAPIToken(ctx, u.ID, auth.HashSecret(tok), time.Now(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) getAs(t *testing.T, tok, path string) (*http.Response, []byte) {
	t.Helper()
	req := mustRequest(t, "GET", e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	return do(t, req)
}

func TestPracticePageAndMeasureReport(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		dates := []string{"2026-01-31", "2026-02-28", "2026-03-31"}
		for i, d := range dates {
			if resp, body := a.submit(t, e.url, fmt.Sprintf("key-%08d", i), document("Y01234", d, float64(40+i))); resp.StatusCode != http.StatusCreated {
				t.Fatalf("submit %s: %d %s", d, resp.StatusCode, body)
			}
		}
		mine, other := e.token(t, "ana", "QWE"), e.token(t, "zed", "QXY")

		resp, body := e.getAs(t, mine, "/practices/Y01234")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("page = %d %s", resp.StatusCode, body)
		}
		page := string(body)
		if !strings.Contains(page, "<svg") || !strings.Contains(page, `as of <time datetime="2026-03-31">March 2026</time>`) {
			t.Fatalf("page lacks the chart or the latest date:\n%s", page)
		}
		cur, err := e.db.CurrentSubmission(ctx, "Y01234", "medsip", "2026-03-31")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cur.Measures {
			want := fmt.Sprintf(`<tr id="figure-%s" data-measure="%s"`, m.MeasureID, m.MeasureID)
			i := strings.Index(page, want)
			if i < 0 || m.Value == nil {
				t.Fatalf("no figure for %s", m.MeasureID)
			}
			row := page[i : i+strings.Index(page[i:], "</tr>")]
			// Formatted for people, with its unit (issue #19).
			if v := web.FormatFigure(m.Value, m.Suppressed, web.UnitOf(m.MeasureID, m.Kind, m.Per, nil)); !strings.Contains(row, `<td class="value">`+v+`</td>`) {
				t.Errorf("figure %s: %s, want %v (%s)", m.MeasureID, row, *m.Value, v)
			}
		}
		if resp, _ := e.getAs(t, other, "/practices/Y01234"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("page as another ICB's analyst = %d", resp.StatusCode)
		}

		resp, body = e.getAs(t, mine, "/v1/practices/Y01234/measure-reports/2026-02-28")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/fhir+json" {
			t.Fatalf("measure report = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var mr struct {
			ResourceType string `json:"resourceType"`
			Reporter     struct{ Identifier struct{ Value string } }
			Period       struct{ End string }
		}
		if err := json.Unmarshal(body, &mr); err != nil {
			t.Fatal(err)
		}
		if mr.ResourceType != "MeasureReport" || mr.Reporter.Identifier.Value != "Y01234" || mr.Period.End != "2026-02-28" {
			t.Fatalf("measure report %s", body)
		}
		if resp, _ := e.getAs(t, other, "/v1/practices/Y01234/measure-reports/2026-02-28"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("measure report as another ICB's analyst = %d", resp.StatusCode)
		}
	})
}
