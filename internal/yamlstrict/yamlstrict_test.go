package yamlstrict

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// node parses src, a single document, and returns its root.
func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	root, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return root
}

func TestParseOneDocument(t *testing.T) {
	root := node(t, "# a comment\na: 1\nb: [x, y]\n")
	if got, want := root.Kind, yaml.MappingNode; got != want {
		t.Fatalf("root kind = %v, want %v", got, want)
	}
	if got, want := len(root.Content), 4; got != want {
		t.Fatalf("root has %d nodes, want %d", got, want)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# only a comment\n"} {
		root, err := Parse([]byte(src))
		if !errors.Is(err, ErrEmpty) || root != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, ErrEmpty", src, root, err)
		}
	}
	// A document that is present but null is not empty: the caller says
	// what it should have been.
	if root, err := Parse([]byte("---\n")); err != nil || root.Tag != "!!null" {
		t.Errorf("Parse(---) = %v, %v; want a null root", root, err)
	}
}

func TestParseSyntaxError(t *testing.T) {
	root, err := Parse([]byte("a: 1\nb: c: d\n"))
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *SyntaxError", err)
	}
	if root != nil {
		t.Errorf("root = %v, want nil when the first document does not parse", root)
	}
	if got, want := se.Line, 2; got != want {
		t.Errorf("line = %d, want %d", got, want)
	}
	if got, want := se.Msg, "mapping values are not allowed in this context"; got != want {
		t.Errorf("msg = %q, want %q", got, want)
	}
	// Error is yaml.v3's own text, so that callers that wrap it print what
	// they always printed.
	if got, want := se.Error(), "yaml: line 2: mapping values are not allowed in this context"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseSecondDocument(t *testing.T) {
	root, err := Parse([]byte("a: 1\nb: 2\n---\nc: 3\n"))
	var sd *SecondDocumentError
	if !errors.As(err, &sd) {
		t.Fatalf("err = %v, want a *SecondDocumentError", err)
	}
	if got, want := fmt.Sprintf("%d:%d", sd.Line, sd.Col), "3:1"; got != want { // the --- line
		t.Errorf("second document at %s, want %s", got, want)
	}
	if root == nil || Lookup(root, "b") == nil {
		t.Fatalf("root = %v, want the first document so its problems can be reported too", root)
	}
	// An empty second document is still a second document.
	if _, err := Parse([]byte("a: 1\n---\n")); !errors.As(err, &sd) {
		t.Errorf("trailing ---: err = %v, want a *SecondDocumentError", err)
	}
}

func TestParseSyntaxErrorInSecondDocument(t *testing.T) {
	root, err := Parse([]byte("a: 1\n---\nb: [\n"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 3 {
		t.Fatalf("err = %v, want a *SyntaxError at line 3", err)
	}
	if root == nil {
		t.Fatal("root = nil, want the first document")
	}
}

func TestKeysUnknownWithPosition(t *testing.T) {
	n := node(t, "id: x\ntitel: y\nmore: {a: 1}\n")
	pairs, probs := Keys(n, []string{"id", "title"})
	if got, want := keysOf(pairs), []string{"id"}; !slices.Equal(got, want) {
		t.Errorf("accepted %v, want %v", got, want)
	}
	if got, want := len(probs), 2; got != want {
		t.Fatalf("%d problems, want %d: %+v", got, want, probs)
	}
	p := probs[0]
	if p.Kind != UnknownKey || p.Key.Value != "titel" || p.Key.Line != 2 || p.Key.Column != 1 {
		t.Errorf("problem = %v %q at %d:%d, want unknown key \"titel\" at 2:1", p.Kind, p.Key.Value, p.Key.Line, p.Key.Column)
	}
	if got, want := p.Allowed, []string{"id", "title"}; !slices.Equal(got, want) {
		t.Errorf("allowed = %v, want %v", got, want)
	}
	if got, want := probs[1].Key.Value, "more"; got != want {
		t.Errorf("second problem key = %q, want %q", got, want)
	}
}

func TestKeysDuplicate(t *testing.T) {
	n := node(t, "a: 1\nb: 2\na: 3\nzz: 4\nzz: 5\n")
	pairs, probs := Keys(n, []string{"a", "b"})
	if v, _ := pairs.Get("a"); v == nil || v.Value != "1" {
		t.Errorf("a = %v, want the first value, 1", v)
	}
	if got, want := describe(probs), []string{"3:1 duplicate a (first 1:1)", "4:1 unknown zz", "5:1 unknown zz"}; !slices.Equal(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
}

func TestKeysAnyName(t *testing.T) {
	n := node(t, "x: 1\ny: 2\n? [k]\n: 3\nx: 4\n")
	pairs, probs := Keys(n, nil)
	if got, want := keysOf(pairs), []string{"x", "y"}; !slices.Equal(got, want) {
		t.Errorf("accepted %v, want %v", got, want)
	}
	if got, want := describe(probs), []string{"3:3 not scalar", "5:1 duplicate x (first 1:1)"}; !slices.Equal(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
}

func TestKeysNotAMapping(t *testing.T) {
	pairs, probs := Keys(node(t, "[a, b]\n"), []string{"a"})
	if pairs != nil || probs != nil {
		t.Errorf("Keys(list) = %v, %v; want nothing", pairs, probs)
	}
}

func TestDecode(t *testing.T) {
	n := node(t, "b: 2\nversion: 1\na: 1\nc: 3\n")
	var set []string
	rec := func(v *yaml.Node) { set = append(set, v.Value) }
	probs := Decode(n, []Field{{Key: "version"}, {Key: "a", Set: rec}, {Key: "b", Set: rec}})
	if got, want := set, []string{"2", "1"}; !slices.Equal(got, want) {
		t.Errorf("set %v, want %v (in the order written)", got, want)
	}
	if len(probs) != 1 || probs[0].Kind != UnknownKey || probs[0].Key.Value != "c" {
		t.Fatalf("problems = %+v, want unknown key c", probs)
	}
	if got, want := probs[0].Allowed, []string{"version", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("allowed = %v, want %v", got, want)
	}
}

func TestLookup(t *testing.T) {
	n := node(t, "a:\n  b: 1\n  b: 2\nc: [x]\n")
	if v := Lookup(n, "a", "b"); v == nil || v.Value != "1" {
		t.Errorf("Lookup(a, b) = %v, want the first b, 1", v)
	}
	for _, path := range [][]string{{"x"}, {"a", "x"}, {"c", "x"}, {"a", "b", "c"}} {
		if v := Lookup(n, path...); v != nil {
			t.Errorf("Lookup(%v) = %v, want nil", path, v)
		}
	}
	if v := Lookup(nil, "a"); v != nil {
		t.Errorf("Lookup(nil) = %v", v)
	}
}

// scalar returns the value node of v: in a one-key mapping, so that it is
// resolved as a value is.
func scalar(t *testing.T, v string) *yaml.Node {
	t.Helper()
	return Lookup(node(t, "v: "+v+"\n"), "v")
}

func TestInt(t *testing.T) {
	for v, want := range map[string]int64{"12": 12, "-3": -3, "+4": 4, "0": 0, "9223372036854775807": 1<<63 - 1} {
		if got, ok := Int(scalar(t, v)); !ok || got != want {
			t.Errorf("Int(%s) = %d, %v; want %d", v, got, ok, want)
		}
	}
	for _, v := range []string{`"12"`, "'12'", "1.5", "1.0", "1e3", "0x10", "0o17", "1_000", "yes", "true", "", "~", "[1]", "{a: 1}", "9223372036854775808", "twelve"} {
		if got, ok := Int(scalar(t, v)); ok {
			t.Errorf("Int(%s) = %d, want refused", v, got)
		}
	}
}

func TestDuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"30s": 30 * time.Second, "1h30m": 90 * time.Minute, `"15m"`: 15 * time.Minute, "3d": 72 * time.Hour, "0s": 0} {
		if got, ok := Duration(scalar(t, v)); !ok || got != want {
			t.Errorf("Duration(%s) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"soon", "30", "1.5d", "1d12h", "d", "", "~", "[30s]", "{a: 1}", "999999999d"} {
		if got, ok := Duration(scalar(t, v)); ok {
			t.Errorf("Duration(%s) = %v, want refused", v, got)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"id", "title", "declare", "approve", "pay", "pence_per_patient"}
	tests := []struct{ name, want string }{
		{"titel", `did you mean "title"?`}, // two letters swapped
		{"Title", `did you mean "title"?`}, // case
		{"pence_per_patent", `did you mean "pence_per_patient"?`},
		{"aprove", `did you mean "approve"?`},
		{"audit", "none close"},
		{"ix", `did you mean "id"?`}, // one slip is allowed in any name
		{"iddd", "none close"},
		{"xyz", "none close"},
	}
	for _, tt := range tests {
		if got := Suggest(tt.name, keys, "none close"); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "abc", 3}, {"long_trem", "long_term", 1}, {"exist", "exists", 1}, {"kitten", "sitting", 3}, {"titel", "title", 1}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func keysOf(ps Pairs) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key.Value)
	}
	return out
}

// describe writes each problem as "line:col what".
func describe(probs []KeyProblem) []string {
	var out []string
	for _, p := range probs {
		at := fmt.Sprintf("%d:%d ", p.Key.Line, p.Key.Column)
		switch p.Kind {
		case UnknownKey:
			out = append(out, at+"unknown "+p.Key.Value)
		case DuplicateKey:
			out = append(out, at+fmt.Sprintf("duplicate %s (first %d:%d)", p.Key.Value, p.First.Line, p.First.Column))
		case KeyNotScalar:
			out = append(out, at+"not scalar")
		}
	}
	return out
}

func TestProblems(t *testing.T) {
	at := func(line, col int) Pos { return Pos{File: "f.yaml", Line: line, Col: col} }
	p := Problems{{Pos: at(3, 1), Msg: "b", Fix: "fix b"}, {Pos: at(1, 5), Msg: "a"}, {Pos: at(3, 1), Msg: "c"}}
	p = p.Sorted()
	if got, want := p.Error(), "f.yaml:1:5: a\nf.yaml:3:1: b (fix b)\nf.yaml:3:1: c"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestDescribe(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, c := range []struct{ src, want string }{
		{"v: {a: 1}", "a mapping"},
		{"v: [1, 2]", "a list"},
		{"v:", "empty"},
		{"v: null", "empty"},
		{"v: ~", "empty"},
		{`v: "yes"`, `the text "yes"`},
		{"v: yes", `the text "yes"`}, // YAML 1.2: yes is text, not a boolean
		{`v: "12"`, `the text "12"`},
		{"v: 'a\n\n  b'", `the text "a\nb"`},
		{"v: " + long, `the text "` + strings.Repeat("x", 57) + `..."`},
		{"v: 12", "the number 12"},
		{"v: -1.5", "the number -1.5"},
		{"v: .inf", "the number .inf"},
		{"v: true", "the boolean true"},
		{"v: 2026-03-31", "the date 2026-03-31"},
		{"v: !!binary aGk=", "a value tagged !!binary"},
		{"v: !x 1", "a value tagged !x"},
		{"v: !!int 1 2", `the number "1 2"`},
		{"a: &a 1\nv: *a", "an alias"},
	} {
		root := node(t, c.src)
		if got := Describe(Lookup(root, "v")); got != c.want {
			t.Errorf("Describe(%q) = %q, want %q", c.src, got, c.want)
		}
	}
	if got, want := Describe(nil), "nothing"; got != want {
		t.Errorf("Describe(nil) = %q, want %q", got, want)
	}
}

func TestAt(t *testing.T) {
	root := node(t, "a: 1\nb:\n  c: 2\n")
	if got, want := At("f.yaml", Lookup(root, "b", "c")), (Pos{File: "f.yaml", Line: 3, Col: 6}); got != want {
		t.Errorf("At = %+v, want %+v", got, want)
	}
	if got, want := At("f.yaml", nil), (Pos{File: "f.yaml", Line: 1, Col: 1}); got != want {
		t.Errorf("At(nil) = %+v, want %+v", got, want)
	}
}

func TestParseProblem(t *testing.T) {
	fixes := Fixes{Empty: "start with version: 1", Second: "keep one document"}
	for _, c := range []struct{ src, want string }{
		{"# nothing\n", "f.yaml:1:1: the file is empty (start with version: 1)"},
		{"a: 1\nb: c: d\n", "f.yaml:2:1: invalid YAML: mapping values are not allowed in this context (check the indentation, colons and brackets around this line)"},
		{"a: 1\n---\nb: 2\n", "f.yaml:2:1: a second YAML document (---) is not allowed (keep one document)"},
	} {
		_, err := Parse([]byte(c.src))
		if err == nil {
			t.Fatalf("Parse(%q) = nil error", c.src)
		}
		if got := ParseProblem("f.yaml", err, fixes).Error(); got != c.want {
			t.Errorf("ParseProblem for %q = %q, want %q", c.src, got, c.want)
		}
	}
	// An error Parse does not return is still a problem at the file's start, on one line.
	if got, want := ParseProblem("f.yaml", errors.New("odd\nthing"), fixes).Error(), `f.yaml:1:1: invalid YAML: odd\nthing (check the indentation, colons and brackets around this line)`; got != want {
		t.Errorf("ParseProblem(other) = %q, want %q", got, want)
	}
}
