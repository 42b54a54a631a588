package schemes

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	hexenc "encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

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
	m, err := WriteCSV(&buf, rec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "example-2027-03.csv", buf.Bytes())
	var mb bytes.Buffer
	if err := WriteManifest(&mb, m); err != nil {
		t.Fatal(err)
	}
	golden(t, "example-2027-03.manifest.json", mb.Bytes())
}

// In a period before the final one, the example scheme's elements are all
// paid at the year end: every amount is indicative, in its own column, and
// the amount columns, which finance sums, hold 0.
func TestWriteCSVIndicativeGolden(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	figures := exampleFigures()
	for i := range figures {
		figures[i].AsOf = "2026-12-31"
		figures[i].ReceivedAt = time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC)
	}
	rec, err := Evaluate(s, "2026-12", figures)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Final || rec.Summary.PayablePence != 0 || rec.Summary.IndicativePence == 0 {
		t.Fatalf("2026-12: final %t, payable %d, indicative %d", rec.Final, rec.Summary.PayablePence, rec.Summary.IndicativePence)
	}
	var buf bytes.Buffer
	m, err := WriteCSV(&buf, rec)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "example-2026-12.csv", buf.Bytes())
	if m.PayablePence != 0 || m.IndicativePence != rec.Summary.IndicativePence || m.Rows != 12 {
		t.Fatalf("manifest = %+v", m)
	}
}

// Summing the amount columns gives exactly what is payable, and the
// indicative columns what is not; the manifest states both, the row count
// and the file's digest.
func TestCSVColumnsAddUp(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, period := range []string{"2026-12", "2027-03"} {
		end, err := periodMonthEnd(period)
		if err != nil {
			t.Fatal(err)
		}
		figures := exampleFigures()
		for i := range figures {
			figures[i].AsOf = end.Format(time.DateOnly)
		}
		rec, err := Evaluate(s, period, figures)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		m, err := WriteCSV(&buf, rec)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		var pence, indicative int64
		var pounds, indicativePounds int64 // in pence, parsed from the GBP columns
		for _, r := range rows[1:] {
			p, _ := strconv.ParseInt(r[col["amount_pence"]], 10, 64)
			ip, _ := strconv.ParseInt(r[col["indicative_pence"]], 10, 64)
			pence += p
			indicative += ip
			pounds += gbpPence(t, r[col["amount_gbp"]])
			indicativePounds += gbpPence(t, r[col["indicative_gbp"]])
			if r[col["payable"]] == "false" && p != 0 {
				t.Errorf("%s: a row not payable has amount_pence %d", period, p)
			}
			if r[col["payable"]] == "true" && ip != 0 {
				t.Errorf("%s: a payable row has indicative_pence %d", period, ip)
			}
		}
		if pence != rec.Summary.PayablePence || pounds != pence || indicative != rec.Summary.IndicativePence || indicativePounds != indicative {
			t.Errorf("%s: columns add up to %d (%d in pounds) payable and %d (%d) indicative; the reconciliation %d and %d",
				period, pence, pounds, indicative, indicativePounds, rec.Summary.PayablePence, rec.Summary.IndicativePence)
		}
		sum := sha256.Sum256(buf.Bytes())
		if m.Rows != len(rows)-1 || m.PayablePence != pence || m.PayableGBP != FormatPence(pence) ||
			m.IndicativePence != indicative || m.SHA256 != hexenc.EncodeToString(sum[:]) || m.Bytes != int64(buf.Len()) ||
			m.Format != ManifestFormat || m.Scheme != s.ID || m.Period != period || m.Practices != 4 {
			t.Errorf("%s: manifest = %+v", period, m)
		}
	}
}

// A reconciliation whose practices do not add up to its summary (changed
// after it was calculated) gives an error, not a file finance might pay.
func TestWriteCSVRefusesTotalsThatDiffer(t *testing.T) {
	s, err := Load("../../schemes/medsip-local-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Evaluate(s, "2027-03", exampleFigures())
	if err != nil {
		t.Fatal(err)
	}
	rec.Practices[0].Elements[0].AmountPence += 100
	if _, err := WriteCSV(&bytes.Buffer{}, rec); err == nil || !strings.Contains(err.Error(), "do not use this file") {
		t.Fatalf("WriteCSV = %v, want an error", err)
	}
}

// gbpPence parses "1234.56" into pence.
func gbpPence(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, ok := strings.Cut(s, ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 2 || err1 != nil || err2 != nil {
		t.Fatalf("%q is not pounds with two decimals", s)
	}
	return w*100 + f
}

func TestFormatPence(t *testing.T) {
	for p, want := range map[int64]string{0: "0.00", 5: "0.05", 100: "1.00", 367700: "3677.00", 531401: "5314.01", -7: "-0.07"} {
		if got := FormatPence(p); got != want {
			t.Errorf("FormatPence(%d) = %q, want %q", p, got, want)
		}
	}
}
