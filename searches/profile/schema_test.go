package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/schematest"
)

// TestJSONSchema: docs/profile.schema.json, which editors use, accepts
// every built-in profile and the worked example, and refuses what Parse
// refuses for the file's shape.
func TestJSONSchema(t *testing.T) {
	s := schematest.Compile(t, "../../docs/profile.schema.json")
	value := func(src []byte) any { return schematest.YAML(t, src) }
	files := []string{"../../docs/examples/warehouse.yaml"}
	for _, n := range Names() {
		files = append(files, n+".yaml")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(p, b); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := s.Validate(value(b)); err != nil {
			t.Errorf("%s: the schema refuses it: %v", filepath.Base(p), err)
		}
	}
	for name, text := range map[string]string{
		"unknown key":     strings.Replace(ok, "name: x", "name: x\ncolour: red", 1),
		"version":         strings.Replace(ok, "profile/v1", "profile/v2", 1),
		"missing table":   strings.Replace(ok, `  patients: {sql: "SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM p"}`+"\n", "", 1),
		"one dialect":     strings.Replace(ok, `patients: {sql:`, `patients: {sqlite:`, 1),
		"semicolon":       strings.Replace(ok, "FROM p", "FROM p; DROP TABLE x", 1),
		"parameter type":  strings.Replace(ok, "type: integer", "type: int", 1),
		"lacks a code":    strings.Replace(ok, "lacks: [quantity]", "lacks: [dmd_code]", 1),
		"builtin param":   strings.Replace(ok, "  org:", "  as_of:", 1),
		"bad name":        strings.Replace(ok, "name: x", "name: X", 1),
		"no description":  strings.Replace(ok, "    description: which organisation\n", "", 1),
		"unknown dialect": strings.Replace(ok, `patients: {sql:`, `patients: {oracle: "x", sql:`, 1),
	} {
		if _, err := Parse("p.yaml", []byte(text)); err == nil {
			t.Errorf("%s: Parse accepts it", name)
		}
		if err := s.Validate(value([]byte(text))); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

// TestLayoutsDocExample: the worked example docs/layouts.md shows is the
// file docs/examples/warehouse.yaml, and it parses.
func TestLayoutsDocExample(t *testing.T) {
	md, err := os.ReadFile("../../docs/layouts.md")
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("../../docs/examples/warehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, block := range strings.Split(string(md), "```yaml\n")[1:] {
		block = block[:strings.Index(block, "```")]
		if !strings.HasPrefix(block, "steward: profile/v1\nname: warehouse\n") {
			continue
		}
		found = true
		if !strings.HasSuffix(string(file), block) {
			t.Errorf("docs/layouts.md shows a warehouse profile that is not docs/examples/warehouse.yaml:\n%s", block)
		}
		if _, err := Parse("layouts.md", []byte(block)); err != nil {
			t.Error(err)
		}
	}
	if !found {
		t.Error("docs/layouts.md shows no worked example")
	}
}
