package lang

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/schematest"
)

const schemaPath = "../../docs/search-language.schema.json"

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// docExamples returns the YAML examples of a Markdown file that are whole
// Steward files (they start with steward:).
func docExamples(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range yamlBlock.FindAllSubmatch(b, -1) {
		if bytes.HasPrefix(m[1], []byte("steward:")) {
			out = append(out, m[1])
		}
	}
	return out
}

func TestSchemaAcceptsValidFiles(t *testing.T) {
	s := schematest.Compile(t, schemaPath)
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = b
	}
	for _, md := range []string{"../../docs/search-language-draft.md", "../../docs/search-language.md"} {
		ex := docExamples(t, md)
		if len(ex) == 0 {
			t.Errorf("%s: no examples", md)
		}
		for i, b := range ex {
			docs[fmt.Sprintf("%s example %d", md, i+1)] = b
		}
	}
	for name, b := range docs {
		if err := s.Validate(schematest.YAML(t, b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSchemaRejects makes sure the schema is not vacuous: each document
// breaks one rule the loader also enforces.
func TestSchemaRejects(t *testing.T) {
	s := schematest.Compile(t, schemaPath)
	const head = "steward: search/v1\nid: x\ncodelists: {c: {files: [{path: c.csv, version: v}]}}\n"
	for name, src := range map[string]string{
		"unknown version":     "steward: search/v2\nid: x\n",
		"unknown key":         head + "titel: x\nmeasures: [{id: m, count: registered}]\n",
		"yes is no boolean":   head + "measures: [{id: m, count: registered, publishable: yes}]\n",
		"months 0":            head + "variables: {a: {exists: {issues: c, window: {months: 0}}}}\nmeasures: [{id: m, count: a}]\n",
		"each_month ever":     head + "variables: {a: {each_month: {issues: c, window: ever}}}\nmeasures: [{id: m, count: a}]\n",
		"sum without value":   head + "variables: {a: {sum: {issues: c, window: ever}}}\nmeasures: [{id: m, count: a}]\n",
		"rows no value":       head + "variables: {a: {count: {issues: c, window: ever, rows: value_known}}}\nmeasures: [{id: m, count: a}]\n",
		"two ops":             head + "variables: {a: {exists: {issues: c, window: ever}, count: {issues: c, window: ever}}}\nmeasures: [{id: m, count: a}]\n",
		"local_only false":    head + "worklist: {local_only: false, where: registered}\n",
		"stratify sum":        head + "measures: [{id: m, sum: {value: age}, stratify: [sex]}]\n",
		"count and sum":       head + "measures: [{id: m, count: registered, sum: {value: age}}]\n",
		"builtin shadowed":    head + "variables: {age: registered}\nmeasures: [{id: m, count: age}]\n",
		"pack version":        "steward: pack/v1\nid: p\nversion: 2026.1\nsearches: [a.yaml]\n",
		"fixture both":        "steward: search-test/v1\nsearch: a.yaml\nsearch_inline: {steward: search/v1, id: x, measures: []}\ncases: []\n",
		"code with letters":   "steward: search-test/v1\nsearch: a.yaml\ncases: [{name: n, practice: P, as_of: 2025-03-31, patients: [{id: 1, sex: F, date_of_birth: 1960-01-01, issues: [{date: 2025-01-01, code: 12a}]}], expect: {}}]\n",
		"patient without sex": "steward: search-test/v1\nsearch: a.yaml\ncases: [{name: n, practice: P, as_of: 2025-03-31, patients: [{id: 1, date_of_birth: 1960-01-01}], expect: {}}]\n",
	} {
		if err := s.Validate(schematest.YAML(t, []byte(src))); err == nil {
			t.Errorf("%s: schema accepts\n%s", name, strings.TrimSpace(src))
		}
	}
}
