// Package strictjson checks a JSON body before anything decodes it, so that
// what a handler validates is all the body says. encoding/json keeps the
// last of two equal object keys (and matches field names without regard to
// case), so {"parameters": {...}, "parameters": {...}} would pass a check of
// one value and store the other; invalid UTF-8 is quietly replaced. Check
// refuses both, at any depth, with the JSON path of the offending member.
//
// Paths are written as JSONPath: $ is the whole body, $.measures[2].title a
// member of an element; a key that is not a plain name is written
// $["a key"].
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds how deeply arrays and objects may nest.
const MaxDepth = 64

// ErrInvalid wraps every refusal.
var ErrInvalid = errors.New("invalid JSON")

// Error is a refusal at a place in the body.
type Error struct {
	Path string // JSONPath of the member at fault; "$" for the whole body
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

// Unwrap makes every Error match ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// KeyFunc is called with each object key and the path of the member it
// names. A non-nil error stops the walk and is returned as is.
type KeyFunc func(path, key string) error

// Check refuses a body that is not exactly one well-formed JSON value in
// valid UTF-8, that nests deeper than MaxDepth, or that repeats a key in
// any object. Keys that differ only in case (under Unicode simple case
// folding, the way encoding/json matches struct fields) count as repeats.
func Check(body []byte) error { return Walk(body, nil) }

// Walk is Check, calling visit (if not nil) for every object key in
// document order.
func Walk(body []byte, visit KeyFunc) error {
	if !utf8.Valid(body) {
		return &Error{Path: "$", Msg: fmt.Sprintf("the body is not valid UTF-8 (at byte %d): send UTF-8 text", invalidUTF8At(body))}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Path: "$", Msg: "the body is empty: send one JSON value"}
	}
	w := &walker{dec: json.NewDecoder(bytes.NewReader(body)), visit: visit}
	w.dec.UseNumber()
	if err := w.value("$", 0); err != nil {
		return err
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return &Error{Path: "$", Msg: "trailing data after the JSON value: send one value"}
	}
	return nil
}

type walker struct {
	dec   *json.Decoder
	visit KeyFunc
	// starts, when not nil, collects where each value begins (the offset
	// after the token before it), for pathAt.
	starts *[]valueStart
}

type valueStart struct {
	off  int64
	path string
}

func (w *walker) syntax(path string, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Path: path, Msg: "the body ends inside this value"}
	}
	return &Error{Path: path, Msg: "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// value reads one value whose path is path.
func (w *walker) value(path string, depth int) error {
	if w.starts != nil {
		*w.starts = append(*w.starts, valueStart{w.dec.InputOffset(), path})
	}
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(path, err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= MaxDepth {
		return &Error{Path: path, Msg: fmt.Sprintf("nested deeper than %d levels", MaxDepth)}
	}
	switch d {
	case '{':
		keys := map[string]string{}
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return w.syntax(path, err)
			}
			k, ok := tok.(string)
			if !ok {
				return &Error{Path: path, Msg: "malformed JSON: an object key must be a string"}
			}
			p := Member(path, k)
			f := Fold(k)
			if first, dup := keys[f]; dup {
				msg := "duplicate key " + QuoteKey(k)
				if first != k {
					msg += " (the same as " + QuoteKey(first) + " but for case)"
				}
				return &Error{Path: p, Msg: msg + ": send each member once"}
			}
			keys[f] = k
			if w.visit != nil {
				if err := w.visit(p, k); err != nil {
					return err
				}
			}
			if err := w.value(p, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; w.dec.More(); i++ {
			if err := w.value(path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := w.dec.Token(); err != nil { // the closing delimiter
		return w.syntax(path, err)
	}
	return nil
}

// Decode checks body, then decodes it into v refusing unknown fields. A
// value of the wrong type is reported at its path.
func Decode(body []byte, v any) error { return DecodeWalk(body, v, nil) }

// DecodeWalk is Decode calling visit (if not nil) for every object key of
// body, as Walk does, in the same pass as the check.
func DecodeWalk(body []byte, v any, visit KeyFunc) error {
	if err := Walk(body, visit); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return &Error{Path: pathAt(body, te.Offset), Msg: fmt.Sprintf("a JSON %s where %s belongs", te.Value, goKind(te.Type.Kind().String()))}
	default:
		return &Error{Path: "$", Msg: strings.TrimPrefix(err.Error(), "json: ")}
	}
}

// pathAt returns the path of the innermost value of body that begins
// before off: where encoding/json reports a value of the wrong type.
func pathAt(body []byte, off int64) string {
	var starts []valueStart
	w := &walker{dec: json.NewDecoder(bytes.NewReader(body)), starts: &starts}
	w.dec.UseNumber()
	_ = w.value("$", 0)
	p := "$"
	for _, s := range starts {
		if s.off >= off {
			break
		}
		p = s.path
	}
	return p
}

func goKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "a whole number"
	case strings.HasPrefix(k, "float"):
		return "a number"
	case k == "bool":
		return "true or false"
	case k == "slice", k == "array":
		return "an array"
	case k == "map", k == "struct":
		return "an object"
	}
	return "a " + k
}

// Member returns the path of member key of the value at path.
func Member(path, key string) string {
	if isName(key) {
		return path + "." + key
	}
	return path + "[" + QuoteKey(key) + "]"
}

func isName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// QuoteKey quotes a key for a message, shortened to 64 bytes.
func QuoteKey(k string) string {
	if len(k) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(k[cut]) {
			cut--
		}
		return strconv.Quote(k[:cut]) + "…"
	}
	return strconv.Quote(k)
}

// Fold maps s to a form equal for every two strings that are equal under
// Unicode simple case folding (so "Schema", "SCHEMA" and "ſchema" fold
// alike, as encoding/json compares field names).
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its capital
		// (the Kelvin sign and long s are above ASCII).
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	return min
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
