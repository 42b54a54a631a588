package diag

import (
	"errors"
	"fmt"
	"testing"
)

func TestPosString(t *testing.T) {
	for _, c := range []struct {
		p    Pos
		want string
	}{
		{Pos{File: "a.yaml", Line: 3, Col: 7}, "a.yaml:3:7"},
		{Pos{Line: 3, Col: 7}, "3:7"},
		{Pos{File: "a.yaml"}, "a.yaml"},
		{Pos{}, ""},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestProblemError(t *testing.T) {
	at := Pos{File: "s.yaml", Line: 4, Col: 6}
	for _, c := range []struct {
		p    Problem
		want string
	}{
		{Problem{Pos: at, Msg: "bad"}, "s.yaml:4:6: bad"},
		{Problem{Pos: at, Msg: "bad", Fix: "fix it"}, "s.yaml:4:6: bad (fix it)"},
		{Problem{Pos: at, Path: "elements[0].paid", Msg: "bad", Fix: "fix it"}, "s.yaml:4:6: elements[0].paid: bad (fix it)"},
		{Problem{Pos: Pos{File: "c.yaml"}, Msg: "the file is empty"}, "c.yaml: the file is empty"},
		{Problem{Msg: "no place"}, "no place"},
	} {
		if got := c.p.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
		if got := c.p.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
	// The embedded Pos's parts read as the problem's own.
	if p := (Problem{Pos: at}); p.File != "s.yaml" || p.Line != 4 || p.Col != 6 {
		t.Errorf("promoted fields = %q %d %d", p.File, p.Line, p.Col)
	}
}

func TestSortedOrdersAndDropsDuplicates(t *testing.T) {
	at := func(file string, line, col int) Pos { return Pos{File: file, Line: line, Col: col} }
	ps := Problems{
		{Pos: at("b.yaml", 1, 1), Msg: "b1"},
		{Pos: at("a.yaml", 3, 1), Msg: "second at 3:1"},
		{Pos: at("a.yaml", 1, 5), Msg: "a"},
		{Pos: at("a.yaml", 3, 1), Msg: "third at 3:1"},
		{Pos: at("a.yaml", 1, 5), Msg: "a"}, // an exact duplicate
		{Pos: at("a.yaml", 1, 5), Msg: "a", Fix: "differs"},
		{Pos: at("a.yaml", 1, 10), Msg: "later column"},
	}
	got := fmt.Sprint(ps.Sorted())
	want := "a.yaml:1:5: a\na.yaml:1:5: a (differs)\na.yaml:1:10: later column\n" +
		"a.yaml:3:1: second at 3:1\na.yaml:3:1: third at 3:1\nb.yaml:1:1: b1"
	if got != want {
		t.Fatalf("Sorted() =\n%s\nwant\n%s", got, want)
	}
}

func TestErr(t *testing.T) {
	if err := (Problems{}).Err(); err != nil {
		t.Fatalf("Err() of no problems = %v, want nil", err)
	}
	err := fmt.Errorf("load: %w", Problems{{Pos: Pos{File: "f", Line: 2, Col: 1}, Msg: "b"}, {Pos: Pos{File: "f", Line: 1, Col: 1}, Msg: "a"}}.Err())
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 || ps[0].Msg != "a" {
		t.Fatalf("errors.As gives %v, want the two problems in file order", ps)
	}
}
