package lang

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaPath = "../../docs/search-language.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	const url = "file:///search-language.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// jsonValue turns YAML into the value encoding/json would decode from the
// equivalent JSON document, as an editor's YAML language server sees it.
func jsonValue(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(plain(v))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// plain converts map keys to strings and timestamps to their dates.
func plain(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = plain(x)
		}
		return out
	case map[any]any:
		out := map[string]any{}
		for k, x := range v {
			out[fmt.Sprint(k)] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 {
			return v.Format("2006-01-02")
		}
		return v.Format(time.RFC3339)
	}
	return v
}

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
	s := compileSchema(t)
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
		if err := s.Validate(jsonValue(t, b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSchemaRejects makes sure the schema is not vacuous: each document
// breaks one rule the loader also enforces.
func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
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
		if err := s.Validate(jsonValue(t, []byte(src))); err == nil {
			t.Errorf("%s: schema accepts\n%s", name, strings.TrimSpace(src))
		}
	}
}
