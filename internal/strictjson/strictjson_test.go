package strictjson

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckAccepts(t *testing.T) {
	for _, body := range []string{
		`{}`, `[]`, `0`, `"x"`, `null`, ` {"a": 1, "b": [1, {"a": 2}], "c": {"a": {"a": 3}}} ` + "\n",
		`{"a": {"x": 1}, "b": {"x": 1}}`, // the same key in different objects
		`{"é": 1, "e": 2}`,               // different letters
		`[{"a":1},{"a":1}]`,
	} {
		if err := Check([]byte(body)); err != nil {
			t.Errorf("Check(%s) = %v", body, err)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	for _, c := range []struct{ name, body, path, msg string }{
		{"duplicate at the top", `{"parameters":{"nhs_number":"x"},"parameters":{}}`, "$.parameters", `duplicate key "parameters"`},
		{"duplicate deep", `{"measures":[{"id":"a"},{"id":"b","strata":[{"cells":[{"stratum":"x","stratum":"y"}]}]}]}`,
			"$.measures[1].strata[0].cells[0].stratum", `duplicate key "stratum"`},
		{"duplicate but for case", `{"Value":1,"value":2}`, "$.value", `the same as "Value" but for case`},
		{"duplicate under unicode folding", `{"schema":1,"ſchema":2}`, `$["ſchema"]`, "duplicate key"},
		{"duplicate odd key", `{"a b":1,"a b":2}`, `$["a b"]`, "duplicate key"},
		{"invalid utf-8", "{\"a\":\"\xff\"}", "$", "not valid UTF-8 (at byte 6)"},
		{"empty", "  ", "$", "empty"},
		{"trailing", `{} {}`, "$", "trailing data"},
		{"trailing garbage", `{"a":1} x`, "$", "trailing data"},
		{"truncated", `{"a":[1,`, "$.a[1]", "ends inside"},
		{"malformed", `{"a":[1,}`, "$.a[1]", "malformed JSON"},
		{"bare word", `{"a":nope}`, "$.a", "malformed JSON"},
		{"too deep", deep, "$" + strings.Repeat("[0]", MaxDepth), "nested deeper"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check([]byte(c.body))
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Check = %v, want an *Error", err)
			}
			if e.Path != c.path || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("Check = %q at %q, want %q at %q", e.Msg, e.Path, c.msg, c.path)
			}
		})
	}
}

func TestWalkVisitsEveryKey(t *testing.T) {
	var got []string
	err := Walk([]byte(`{"a":{"b":[{"c":1}]},"d e":2}`), func(path, key string) error {
		got = append(got, path+"="+key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if w := `$.a=a $.a.b=b $.a.b[0].c=c $["d e"]=d e`; strings.Join(got, " ") != w {
		t.Fatalf("visited %q, want %q", strings.Join(got, " "), w)
	}
	stop := errors.New("stop")
	if err := Walk([]byte(`{"a":1,"b":2}`), func(string, string) error { return stop }); err != stop {
		t.Fatalf("Walk = %v, want the visitor's error", err)
	}
}

func TestDecode(t *testing.T) {
	type doc struct {
		A []struct {
			N int `json:"n"`
		} `json:"a"`
		M map[string]string `json:"m"`
	}
	var d doc
	if err := Decode([]byte(`{"a":[{"n":1}],"m":{"k":"v"}}`), &d); err != nil || d.A[0].N != 1 || d.M["k"] != "v" {
		t.Fatalf("Decode = %+v, %v", d, err)
	}
	for _, c := range []struct{ body, path, msg string }{
		{`{"a":[{"n":1},{"n":"2"}]}`, "$.a[1].n", "a JSON string where a whole number belongs"},
		{`{"a":[{"n":1.5}]}`, "$.a[0].n", "where a whole number belongs"},
		{`{"m":{"k":1}}`, "$.m.k", "a JSON number where a string belongs"},
		{`{"a":{}}`, "$.a", "a JSON object where an array belongs"},
		{`{"x":1}`, "$", `unknown field "x"`},
		{`{"m":{"k":"v","k":"w"}}`, "$.m.k", "duplicate key"},
	} {
		var d doc
		err := Decode([]byte(c.body), &d)
		var e *Error
		if !errors.As(err, &e) || e.Path != c.path || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("Decode(%s) = %v, want %q at %s", c.body, err, c.msg, c.path)
		}
	}
}

func TestFold(t *testing.T) {
	for _, c := range [][2]string{{"schema", "SCHEMA"}, {"schema", "ſchema"}, {"kelvin", "\u212aelvin"}} {
		if Fold(c[0]) != Fold(c[1]) {
			t.Errorf("Fold(%q) != Fold(%q)", c[0], c[1])
		}
	}
	for r := rune(0); r < utf8.RuneSelf; r++ {
		if got, want := Fold(string(r)), string(foldRune(r)); got != want {
			t.Errorf("Fold(%q) = %q, want %q", r, got, want)
		}
	}
	if Fold("a") == Fold("b") {
		t.Error("Fold folds different letters together")
	}
}
