package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/nhs-steward/steward/internal/diag"
)

// TestListSizeProblems checks that a refused list-size file lists every
// problem in one pass, each at its line and column with its fix.
func TestListSizeProblems(t *testing.T) {
	src := "ods,list_size\ny01001,-5\nY01002,1.5e3\nY01003,\"12,000\"\nY01004\nY01002,7\nY01005,100\n"
	sizes, err := parseListSizes("s.csv", strings.NewReader(src), "2027-01")
	want := `s.csv:2:1: "y01001" is not an ODS code (write the practice's ODS code in capitals, e.g. Y01234)
s.csv:2:8: list_size "-5" is not a whole number >= 0 (write the number of registered patients, digits only)
s.csv:3:8: list_size "1.5e3" is not a whole number >= 0 (write the number of registered patients, digits only)
s.csv:4:8: list_size "12,000" is not a whole number >= 0 (write the number of registered patients, digits only)
s.csv:5:1: invalid CSV: wrong number of fields (check the quoting, and that each line is ods,list_size)
s.csv:6:1: practice Y01002 is also on line 3 (keep one line per practice)`
	if err == nil || err.Error() != want || sizes != nil {
		t.Fatalf("parseListSizes = %v, %v; want nothing and\n%s", sizes, err, want)
	}
	var ps diag.Problems
	if !errors.As(err, &ps) || !errors.Is(err, diag.ErrInvalid) {
		t.Fatalf("error %T is not diag.Problems", err)
	}

	for _, c := range []struct{ src, want string }{
		{"", "s.csv:1:1: the file is empty (start with the header ods,list_size, then a line per practice)"},
		{"ods,size\n", `s.csv:1:1: header is "ods,size", want ods,list_size (the first line must be ods,list_size)`},
		{"ods,list_size\nY0\"1001,1\n", `s.csv:2:3: invalid CSV: bare " in non-quoted-field (check the quoting, and that each line is ods,list_size)`},
	} {
		if _, err := parseListSizes("s.csv", strings.NewReader(c.src), "2027-01"); err == nil || err.Error() != c.want {
			t.Errorf("parseListSizes(%q) = %v, want %s", c.src, err, c.want)
		}
	}

	// A file wrong throughout stops at the cap, and says so.
	bad := "ods,list_size\n" + strings.Repeat("x,1\n", 3*maxListSizeProblems)
	_, err = parseListSizes("s.csv", strings.NewReader(bad), "2027-01")
	if !errors.As(err, &ps) || len(ps) != maxListSizeProblems+1 || !strings.Contains(ps[len(ps)-1].Msg, "stopped after 100 problems") {
		t.Fatalf("a file wrong throughout: %d problems, last %v", len(ps), ps[len(ps)-1])
	}
}
