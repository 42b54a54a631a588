package schemes

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// CSVHeader is the header row WriteCSV writes; the column order is stable.
var CSVHeader = []string{
	"scheme", "period", "ods", "practice_name", "element",
	"a", "b", "c", "achievement", "points", "amount_pence", "amount_gbp", "state",
	"list_size", "tier", "payable", "gateway", "element_cap_applied", "practice_cap_applied", "note",
}

// WriteCSV writes finance's export of rec: a header, then one row per
// practice per element, practices by ODS code and elements in scheme order.
// Empty cells mean "not applicable". docs/schemes.md documents each column.
func WriteCSV(w io.Writer, rec *Reconciliation) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	row := make([]string, len(CSVHeader))
	for _, pr := range rec.Practices {
		gateway := passFail(pr.Gateway.Pass)
		if pr.Missing {
			gateway = "missing"
		}
		for _, er := range pr.Elements {
			row = append(row[:0],
				rec.Scheme, rec.Period, pr.ODS, pr.Name, er.ID,
				optInt(er.A), optInt(er.B), optInt(er.C), optFixed(er.Achievement), optFixed(er.Points),
				strconv.FormatInt(er.AmountPence, 10), FormatPence(er.AmountPence), string(pr.State),
				optInt(er.ListSize), optTier(er.Tier), strconv.FormatBool(er.Payable), gateway,
				strconv.FormatBool(er.ElementCapApplied), strconv.FormatBool(er.PracticeCapApplied), er.Note,
			)
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
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
