package schemes

import (
	"crypto/sha256"
	"encoding/csv"
	hexenc "encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// CSVHeader is the header row WriteCSV writes; the column order is stable:
// columns are only ever added at the end.
var CSVHeader = []string{
	"scheme", "period", "ods", "practice_name", "element",
	"a", "b", "c", "achievement", "points", "amount_pence", "amount_gbp", "state",
	"list_size", "tier", "payable", "gateway", "element_cap_applied", "practice_cap_applied", "note",
	"indicative_pence", "indicative_gbp",
}

// ManifestFormat names the format of a Manifest.
const ManifestFormat = "steward-finance-csv-manifest-1"

// Manifest describes a finance CSV that WriteCSV wrote, for finance to check
// the file they load against: how many rows it has and what its amount
// columns add up to. It is written beside the CSV (docs/schemes.md,
// "Finance CSV"), never inside it, so that the CSV stays a plain table.
type Manifest struct {
	Format string `json:"format"`
	Scheme string `json:"scheme"`
	Period string `json:"period"`
	AsOf   string `json:"as_of"`
	Final  bool   `json:"final"`
	// Rows counts the data rows, the header not included.
	Rows      int `json:"rows"`
	Practices int `json:"practices"`
	// PayablePence is the sum of the amount_pence column: exactly what is
	// to be paid for the period. PayableGBP is the same in pounds.
	PayablePence int64  `json:"payable_pence"`
	PayableGBP   string `json:"payable_gbp"`
	// IndicativePence is the sum of the indicative_pence column: what
	// elements not payable this period would earn; never to be paid.
	IndicativePence int64  `json:"indicative_pence"`
	IndicativeGBP   string `json:"indicative_gbp"`
	// SHA256 is the hex SHA-256 of the CSV's bytes, and Bytes their count.
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// WriteManifest writes m as indented JSON with a final newline.
func WriteManifest(w io.Writer, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// WriteCSV writes finance's export of rec and returns its manifest: a
// header, then one row per practice per element, practices by ODS code and
// elements in scheme order. amount_pence and amount_gbp hold only what is
// payable this period (0 on a row that is not), so that summing either
// column gives exactly what is to be paid; indicative_pence and
// indicative_gbp hold what a row not payable this period would earn (0 on
// a payable row). Other empty cells mean "not applicable". The totals are
// checked against rec's summary: a difference is an error, not a file.
// docs/schemes.md documents each column.
func WriteCSV(w io.Writer, rec *Reconciliation) (Manifest, error) {
	m := Manifest{Format: ManifestFormat, Scheme: rec.Scheme, Period: rec.Period, AsOf: rec.AsOf, Final: rec.Final,
		Practices: len(rec.Practices)}
	h := sha256.New()
	count := &countWriter{w: io.MultiWriter(w, h)}
	cw := csv.NewWriter(count)
	if err := cw.Write(CSVHeader); err != nil {
		return m, fmt.Errorf("write csv header: %w", err)
	}
	row := make([]string, len(CSVHeader))
	for _, pr := range rec.Practices {
		gateway := passFail(pr.Gateway.Pass)
		if pr.Missing {
			gateway = "missing"
		}
		for _, er := range pr.Elements {
			payable, indicative := er.AmountPence, int64(0)
			if !er.Payable {
				payable, indicative = 0, er.AmountPence
			}
			m.Rows++
			m.PayablePence += payable
			m.IndicativePence += indicative
			row = append(row[:0],
				rec.Scheme, rec.Period, pr.ODS, pr.Name, er.ID,
				optInt(er.A), optInt(er.B), optInt(er.C), optFixed(er.Achievement), optFixed(er.Points),
				strconv.FormatInt(payable, 10), FormatPence(payable), string(pr.State),
				optInt(er.ListSize), optTier(er.Tier), strconv.FormatBool(er.Payable), gateway,
				strconv.FormatBool(er.ElementCapApplied), strconv.FormatBool(er.PracticeCapApplied), er.Note,
				strconv.FormatInt(indicative, 10), FormatPence(indicative),
			)
			if err := cw.Write(row); err != nil {
				return m, fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return m, fmt.Errorf("write csv: %w", err)
	}
	if m.PayablePence != rec.Summary.PayablePence || m.IndicativePence != rec.Summary.IndicativePence {
		return m, fmt.Errorf("finance csv of %s %s: rows add up to £%s payable and £%s indicative, the reconciliation to £%s and £%s: do not use this file",
			rec.Scheme, rec.Period, FormatPence(m.PayablePence), FormatPence(m.IndicativePence),
			FormatPence(rec.Summary.PayablePence), FormatPence(rec.Summary.IndicativePence))
	}
	m.PayableGBP, m.IndicativeGBP = FormatPence(m.PayablePence), FormatPence(m.IndicativePence)
	m.SHA256, m.Bytes = hexenc.EncodeToString(h.Sum(nil)), count.n
	return m, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func optFixed(f *Fixed) string {
	if f == nil {
		return ""
	}
	return f.String()
}

func optTier(t int) string {
	if t == 0 {
		return ""
	}
	return strconv.Itoa(t)
}
