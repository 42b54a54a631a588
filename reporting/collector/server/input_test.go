package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector/catalogue"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
	"github.com/nhs-steward/steward/reporting/wire"
	"github.com/nhs-steward/steward/searches"
	"github.com/nhs-steward/steward/searches/bundle"
)

// wantProblem checks a problem answer: status, type, field and a detail
// containing each of details.
func wantProblem(t *testing.T, name string, resp *http.Response, body []byte, status int, typ, field string, details ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (%s)", name, resp.StatusCode, status, body)
		return
	}
	p := problem(t, resp, body)
	if p.Type != typ || p.Field != field {
		t.Errorf("%s: problem %s at %q, want %s at %q (%s)", name, p.Type, p.Field, typ, field, p.Detail)
	}
	for _, d := range details {
		if !strings.Contains(p.Detail, d) {
			t.Errorf("%s: detail %q lacks %q", name, p.Detail, d)
		}
	}
}

// edit returns doc with from replaced by to, failing if from is not there.
func edit(t *testing.T, doc []byte, from, to string) []byte {
	t.Helper()
	if !strings.Contains(string(doc), from) {
		t.Fatalf("document has no %s", from)
	}
	return []byte(strings.Replace(string(doc), from, to, 1))
}

func TestSubmissionsAreChecked(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		doc := document("Y01234", "2025-03-31", 41)
		cases := []struct {
			name          string
			body          []byte
			typ, field    string
			details       []string
			mustNotRepeat string
		}{
			{"nhs_number under a duplicate key", edit(t, doc, `{"schema"`, `{"parameters":{"nhs_number":"9434765919"},"parameters":{},"schema"`),
				server.ProblemPatientLevel, "$.parameters.nhs_number", []string{`"nhs_number"`, `duplicate key "parameters"`}, ""},
			{"duplicate key", edit(t, doc, `"value":41`, `"value":41,"value":4`),
				server.ProblemInvalid, "$.measures[2].value", []string{"duplicate key"}, ""},
			{"NHS number in a title", edit(t, doc, `"id":"long_term",`, `"id":"long_term","title":"seen 943-476-5919",`),
				server.ProblemPatientText, "$.measures[2].title", []string{"an NHS number"}, "5919"},
			{"date of birth in a stratum", edit(t, doc, `"value":41`, `"value":41,"strata":[{"dimension":"sex","cells":[{"stratum":"b. 12/03/1950","value":10}]}]`),
				server.ProblemPatientText, "$.measures[2].strata[0].cells[0].stratum", []string{"date of birth"}, "1950"},
			{"unknown pack version", edit(t, doc, `"version":"2026.1.0"`, `"version":"2099.1.0"`),
				server.ProblemUnknownPack, "$.pack.version", []string{"medsip 2099.1.0", "it knows medsip 2026.1.0", "publish its bundle"}, ""},
			{"measure not in the pack", edit(t, doc, `"id":"baseline_lost"`, `"id":"made_up"`),
				server.ProblemPackMismatch, "$.measures[12].id", []string{`"made_up" is not a measure of medsip 2026.1.0`, `measure "baseline_lost" of medsip 2026.1.0 is missing`}, ""},
			{"the agent's title", edit(t, doc, `"id":"long_term",`, `"id":"long_term","title":"Click here",`),
				server.ProblemPackMismatch, "$.measures[2].title", []string{"not the one medsip 2026.1.0 gives it"}, ""},
			{"numerator above denominator", edit(t, doc, `"numerator":30,"denominator":41,"value":0.7317`, `"numerator":42,"denominator":41,"value":1.0244`),
				server.ProblemInvalid, "$.measures[4].numerator", []string{"more than the denominator"}, ""},
			{"value not the ratio", edit(t, doc, `"value":0.7317`, `"value":0.8`),
				server.ProblemInvalid, "$.measures[4].value", []string{"not numerator / denominator x per"}, ""},
			{"value a string", edit(t, doc, `"value":41`, `"value":"41"`),
				server.ProblemInvalid, "$.measures[2].value", []string{"a JSON string where a number belongs"}, ""},
			{"invalid UTF-8", edit(t, doc, `"steward-agent"`, "\"steward\xff\""),
				server.ProblemInvalid, "$", []string{"not valid UTF-8"}, ""},
		}
		for i, c := range cases {
			resp, body := a.submit(t, e.url, "checked-"+string(rune('a'+i))+"-0001", c.body)
			status := http.StatusUnprocessableEntity
			if c.typ == server.ProblemUnknownPack {
				status = http.StatusConflict // retried: the month stays pending until the bundle is published
			}
			wantProblem(t, c.name, resp, body, status, c.typ, c.field, c.details...)
			if c.mustNotRepeat != "" && strings.Contains(string(body), c.mustNotRepeat) {
				t.Errorf("%s: the answer repeats the identifier: %s", c.name, body)
			}
		}
		req := a.request(t, e.url, wire.PathSubmissions, "agent-version-0001", doc, time.Now())
		req.Header.Set(wire.HeaderAgentVersion, `1.0"; drop`)
		resp, body := do(t, req)
		wantProblem(t, "agent version header", resp, body, http.StatusBadRequest, server.ProblemBadRequest, wire.HeaderAgentVersion)
		if hist, _ := e.db.SubmissionHistory(ctx, store.SubmissionFilter{}); len(hist) != 0 {
			t.Fatalf("%d refused submissions stored", len(hist))
		}

		// The pack's own titles are accepted, and stored as sent.
		var d results.Document
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		spec, err := catalogue.New(nil, nil).Lookup("medsip", "2026.1.0")
		if err != nil {
			t.Fatal(err)
		}
		for i := range d.Measures {
			d.Measures[i].Title = spec.Measure(d.Measures[i].ID).Title
		}
		titled, _ := json.Marshal(d)
		if resp, body := a.submit(t, e.url, "titled-0001", titled); resp.StatusCode != http.StatusCreated {
			t.Fatalf("document with the pack's titles: %d %s", resp.StatusCode, body)
		}
	})
}

func TestHeartbeatAndEnrolAreChecked(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		hb, _ := json.Marshal(wire.Heartbeat{Practice: "Y01234", AgentVersion: "1.2.3", SentAt: time.Now().UTC().Format(time.RFC3339)})
		for _, c := range []struct {
			name, from, to, field, detail string
		}{
			{"duplicate key", `"agent_version":"1.2.3"`, `"agent_version":"1.2.3","Agent_Version":"9"`, "$.Agent_Version", "but for case"},
			{"quotes in the version", `"agent_version":"1.2.3"`, `"agent_version":"1.2.3\"; --"`, "$.agent_version", "not a version"},
			{"NUL in the version", `"agent_version":"1.2.3"`, `"agent_version":"1\u0000"`, "$.agent_version", "not a version"},
			{"not a time", `"sent_at":"`, `"sent_at":"x`, "$.sent_at", "RFC 3339"},
			{"pending a string", `"pending":0`, `"pending":"0"`, "$.pending", "a JSON string where a whole number belongs"},
			{"negative pending", `"pending":0`, `"pending":-1`, "$.pending", "from 0"},
		} {
			resp, body := a.post(t, e.url, wire.PathHeartbeats, "", edit(t, hb, c.from, c.to), time.Now())
			wantProblem(t, c.name, resp, body, http.StatusUnprocessableEntity, server.ProblemInvalid, c.field, c.detail)
		}
		if resp, body := a.post(t, e.url, wire.PathHeartbeats, "", hb, time.Now()); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("good heartbeat: %d %s", resp.StatusCode, body)
		}
		// What the agent sends when it runs its built-in pack.
		builtin := edit(t, hb, `"agent_version":"1.2.3"`, `"agent_version":"1.2.3","bundle_version":"built-in medsip v0.0.0-20250301123456-abcdef123456+dirty"`)
		if resp, body := a.post(t, e.url, wire.PathHeartbeats, "", builtin, time.Now()); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("heartbeat of a built-in pack: %d %s", resp.StatusCode, body)
		}
		resp, body := a.post(t, e.url, wire.PathHeartbeats, "", edit(t, hb, `"agent_version":"1.2.3"`, `"agent_version":"1.2.3","bundle_version":"x\u202ey"`), time.Now())
		wantProblem(t, "bidi override in the bundle version", resp, body, http.StatusUnprocessableEntity, server.ProblemInvalid, "$.bundle_version", "not a bundle version")

		code := e.addPractice(t, "Y05678", "QWE", time.Hour)
		for _, c := range []struct{ name, body, field, detail string }{
			{"duplicate practice", `{"code":"` + code + `","practice":"Y05678","practice":"Y01234","public_key":"` + strings.Repeat("A", 43) + `="}`, "$.practice", "duplicate key"},
			{"code a number", `{"code":5,"practice":"Y05678","public_key":"x"}`, "$.code", "a JSON number where a string belongs"},
			{"agent version with quotes", `{"code":"` + code + `","practice":"Y05678","public_key":"` + strings.Repeat("A", 43) + `=","agent_version":"\""}`, "$.agent_version", "not a version"},
		} {
			resp, body := do(t, mustRequest(t, "POST", e.url+wire.PathEnrol, []byte(c.body)))
			wantProblem(t, c.name, resp, body, http.StatusBadRequest, server.ProblemBadRequest, c.field, c.detail)
		}
		if p, _ := e.db.Practice(ctx, "Y05678"); p.Enrolled() {
			t.Fatal("a refused enrolment enrolled the practice")
		}
	})
}

// TestPublishedPackVersion: a submission naming a pack version the
// collector does not know is refused until its bundle is published to the
// collector's repository; then it is held to that version's measures.
func TestPublishedPackVersion(t *testing.T) {
	f := tuftest.NewAt(t, time.Now())
	db := openStore(t, engines["SQLite"](t))
	defer db.Close()
	s := serve(t, server.Options{Store: db, Bundles: f.Repo}, 10*time.Second)
	e := &env{db: db, url: s.url}
	a := e.enrolled(t, "Y01234", "QWE")

	doc := edit(t, document("Y01234", "2025-03-31", 41), `"version":"2026.1.0"`, `"version":"2026.2.0"`)
	resp, body := a.submit(t, e.url, "version2-0001", doc)
	wantProblem(t, "before publishing", resp, body, http.StatusConflict, server.ProblemUnknownPack, "$.pack.version", "medsip 2026.2.0")

	// medsip 2026.2.0: the built-in pack without ome_unknown_issues.
	dir, err := searches.ExtractBuiltin("medsip", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func(name, from, to string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), from) {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("pack.yaml", "version: 2026.1.0", "version: 2026.2.0")
	rewrite("medsip.yaml", "  - id: ome_unknown_issues\n    title: In-scope issues with no OME or no positive quantity (3 months)\n    count: {rows: ome_unknown_3m, where: eligible}\n", "")
	b, tgz, err := bundle.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tufrepo.Upload(context.Background(), f.Server.Client(), f.Server.URL, "", f.Sign(b, f.Author), tgz); err != nil {
		t.Fatal(err)
	}

	resp, body = a.submit(t, e.url, "version2-0002", doc)
	wantProblem(t, "a measure the new version dropped", resp, body, http.StatusUnprocessableEntity, server.ProblemPackMismatch, "$.measures[13].id",
		`"ome_unknown_issues" is not a measure of medsip 2026.2.0`)
	var d results.Document
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	d.Measures = d.Measures[:13]
	fitted, _ := json.Marshal(d)
	if resp, body := a.submit(t, e.url, "version2-0003", fitted); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a document of the published version: %d %s", resp.StatusCode, body)
	}
	// The built-in version is still known and still needs every measure.
	if resp, body := a.submit(t, e.url, "version1-0001", edit(t, fitted, `"version":"2026.2.0"`, `"version":"2026.1.0"`)); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(string(body), `measure \"ome_unknown_issues\" of medsip 2026.1.0 is missing`) {
		t.Fatalf("2026.1.0 without ome_unknown_issues: %d %s", resp.StatusCode, body)
	}
}
