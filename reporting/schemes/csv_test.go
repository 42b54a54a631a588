package schemes

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func TestWriteCSVGolden(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Evaluate(s, "2027-03", exampleFigures())
	if err != nil {
		t.Fatal(err)
	}
	rec.Practices[0].State = Declared // as the collector would, from its store
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rec); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "example-2027-03.csv")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteCSV differs from %s (go test -update rewrites it):\n%s", golden, buf.String())
	}
}

func TestFormatPence(t *testing.T) {
	for p, want := range map[int64]string{0: "0.00", 5: "0.05", 100: "1.00", 367700: "3677.00", 531401: "5314.01", -7: "-0.07"} {
		if got := FormatPence(p); got != want {
			t.Errorf("FormatPence(%d) = %q, want %q", p, got, want)
		}
	}
}
