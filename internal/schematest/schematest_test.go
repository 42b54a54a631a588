package schematest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestYAMLValidatesAsAnEditorWould(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.schema.json")
	schema := `{"type":"object","required":["when","n"],"properties":{
	  "when":{"type":"string","pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
	  "n":{"type":"integer"},"m":{"type":"object","propertyNames":{"pattern":"^[0-9]+$"}}}}`
	if err := os.WriteFile(path, []byte(schema), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Compile(t, path)
	// A YAML date is a timestamp to the decoder, a date string to an
	// editor; a number key is a string key in JSON.
	if err := s.Validate(YAML(t, []byte("when: 2025-03-31\nn: 3\nm: {12: x}\n"))); err != nil {
		t.Fatalf("valid document refused: %v", err)
	}
	if err := s.Validate(YAML(t, []byte("when: 2025-03-31\nn: three\n"))); err == nil {
		t.Fatal("a text where the schema wants an integer was accepted")
	}
}
