package main

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// placed matches a problem that says where in the file it is:
// file:line:col: what is wrong (how to fix).
var placed = regexp.MustCompile(`^sizes\.csv:[0-9]+:[0-9]+: .+ \(.+\)$`)

// FuzzListSizes gives the list-size import arbitrary CSV files, which an
// ICB exports from a spreadsheet (`steward-collector practice list-size`).
// Seeds: testdata/fuzz/FuzzListSizes (the demo's file, a spreadsheet export
// with a byte order mark and CRLF, broken ones).
//
// Properties:
//   - an error lists at most maxListSizeProblems+1 problems, one a line,
//     each naming the file, line and column, with a fix;
//   - accepted sizes are for the month asked, one per practice, each an
//     ODS code and a whole number >= 0;
//   - the sizes written out again as CSV, with or without a byte order
//     mark, read the same.
func FuzzListSizes(f *testing.F) {
	const name, month = "sizes.csv", "2027-01"
	f.Fuzz(func(t *testing.T, data []byte) {
		sizes, err := parseListSizes(name, bytes.NewReader(data), month)
		if err != nil {
			lines := strings.Split(err.Error(), "\n")
			if len(lines) > maxListSizeProblems+1 {
				t.Fatalf("%d problems, want at most %d", len(lines), maxListSizeProblems+1)
			}
			for _, l := range lines {
				if !placed.MatchString(l) {
					t.Fatalf("problem does not say where it is: %q in\n%v", l, err)
				}
			}
			return
		}
		seen := map[string]bool{}
		var out bytes.Buffer
		w := csv.NewWriter(&out)
		w.Write([]string{"ods", "list_size"})
		for _, s := range sizes {
			if s.Month != month || !odsPattern.MatchString(s.Practice) || s.Size < 0 || seen[s.Practice] {
				t.Fatalf("accepted %+v", s)
			}
			seen[s.Practice] = true
			w.Write([]string{s.Practice, strconv.FormatInt(s.Size, 10)})
		}
		w.Flush()
		for _, prefix := range []string{"", "\ufeff"} {
			again, err := parseListSizes(name, strings.NewReader(prefix+out.String()), month)
			if err != nil {
				t.Fatalf("the accepted sizes, written out again (%q first), are refused: %v\n%s", prefix, err, out.String())
			}
			if !reflect.DeepEqual(again, sizes) {
				t.Fatalf("written out again, the sizes read %+v, want %+v", again, sizes)
			}
		}
	})
}
