// Package yamlstrict holds what Steward's strict YAML loaders share on top
// of yaml.Node: exactly one document, mapping keys checked against an
// allow-list (unknown, repeated and non-scalar keys, each with its node for
// line:col), and scalars of a definite type; and the diagnostic kit every
// loader reports with: Problem and Problems (internal/diag's), At for a
// node's position, Describe for a node's kind and ParseProblem for a file
// Parse refuses. Those few are worded here, once, so that the same fault
// reads the same in every file; the rest of the wording is each loader's,
// whose messages are its user interface.
//
// Decoding to yaml.Node and checking keys here, rather than decoding into
// structs, is what keeps a column in every position: yaml.v3's
// KnownFields reports a line only, Node.Decode drops it, and a second
// document is silently ignored.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrEmpty is returned by Parse for text that holds no YAML document: empty,
// or only comments.
var ErrEmpty = errors.New("no YAML document")

// SyntaxError is text that is not YAML. yaml.v3 gives a line but no column.
type SyntaxError struct {
	Line int
	// Msg is what is wrong, without yaml.v3's "yaml: line N: " prefix.
	Msg string
	err error
}

// Error is yaml.v3's own message.
func (e *SyntaxError) Error() string { return e.err.Error() }

// Unwrap returns yaml.v3's error.
func (e *SyntaxError) Unwrap() error { return e.err }

// SecondDocumentError is a second document after the first (a `---` line
// and what follows), which yaml.v3 would silently ignore.
type SecondDocumentError struct {
	// Line and Col are where the second document starts.
	Line, Col int
}

func (e *SecondDocumentError) Error() string {
	return fmt.Sprintf("yaml: line %d: a second YAML document", e.Line)
}

// Parse parses src, which must hold exactly one YAML document, and returns
// the document's root node (a mapping, for a well-formed file; the caller
// checks). The error is ErrEmpty, a *SyntaxError or a
// *SecondDocumentError. A problem after the first document (a second
// document, or a syntax error in one) still returns the first document's
// root, so that a loader can report that document's problems too.
func Parse(src []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrEmpty
		}
		return nil, syntaxError(err)
	}
	if len(doc.Content) != 1 {
		return nil, ErrEmpty
	}
	root := doc.Content[0]
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return root, &SecondDocumentError{Line: second.Line, Col: second.Column}
	case !errors.Is(err, io.EOF):
		return root, syntaxError(err)
	}
	return root, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func syntaxError(err error) *SyntaxError {
	e := &SyntaxError{Line: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: "), err: err}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

// Pair is one key: value of a mapping.
type Pair struct {
	Key, Value *yaml.Node
}

// Pairs are the pairs of a mapping that Keys accepted, in the order written,
// each key once.
type Pairs []Pair

// Get returns the value of key.
func (ps Pairs) Get(key string) (*yaml.Node, bool) {
	for _, p := range ps {
		if p.Key.Value == key {
			return p.Value, true
		}
	}
	return nil, false
}

// KeyProblemKind says what is wrong with a key.
type KeyProblemKind int

// The kinds of key problem, in the order Keys checks for them.
const (
	// KeyNotScalar is a key that is a list or a mapping.
	KeyNotScalar KeyProblemKind = iota + 1
	// UnknownKey is a key that is not in the allow-list.
	UnknownKey
	// DuplicateKey is an allowed key given a second time.
	DuplicateKey
)

// KeyProblem is one key of a mapping that Keys refused.
type KeyProblem struct {
	Kind KeyProblemKind
	// Key is the refused key; its Line and Column place the problem.
	Key *yaml.Node
	// First is, for a DuplicateKey, the key's first occurrence.
	First *yaml.Node
	// Allowed is the allow-list, in the order given, for an UnknownKey.
	Allowed []string
}

// Keys checks the keys of mapping n against allowed (any scalar key when
// allowed is nil) and returns the accepted pairs and the refused keys, both
// in the order written. A key that is unknown is refused each time it
// appears; an allowed key is accepted once and refused as a duplicate
// after that. Keys reports nothing for a node that is not a mapping: check
// n.Kind first, to word that problem for the reader.
func Keys(n *yaml.Node, allowed []string) (Pairs, []KeyProblem) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	var pairs Pairs
	var probs []KeyProblem
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch f, dup := first[k.Value]; {
		case k.Kind != yaml.ScalarNode:
			probs = append(probs, KeyProblem{Kind: KeyNotScalar, Key: k})
		case allowed != nil && !slices.Contains(allowed, k.Value):
			probs = append(probs, KeyProblem{Kind: UnknownKey, Key: k, Allowed: allowed})
		case dup:
			probs = append(probs, KeyProblem{Kind: DuplicateKey, Key: k, First: f})
		default:
			first[k.Value] = k
			pairs = append(pairs, Pair{Key: k, Value: v})
		}
	}
	return pairs, probs
}

// Field is a key a mapping may hold and what to do with its value; a nil
// Set accepts the key and ignores its value.
type Field struct {
	Key string
	Set func(value *yaml.Node)
}

// Decode checks the keys of mapping n against fields, as Keys does, and
// calls Set for each accepted pair in the order written. It returns the
// refused keys; the Allowed list of an UnknownKey is the fields' keys in
// the order given.
func Decode(n *yaml.Node, fields []Field) []KeyProblem {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.Key
	}
	pairs, probs := Keys(n, keys)
	for _, p := range pairs {
		if f := fields[slices.Index(keys, p.Key.Value)]; f.Set != nil {
			f.Set(p.Value)
		}
	}
	return probs
}

// Lookup returns the value at path, a key of mapping n, then a key of that
// value and so on, without checking any keys; nil when a step is not a
// mapping or has no such key. A repeated key gives its first value. Loaders
// use it to read a version before anything else, and to place a problem
// found in a decoded value at the key it came from.
func Lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// Int returns the value of a whole number written in decimal, such as 12
// or -3, that fits in an int64. A quoted "12" is text, not a number; 0x10,
// 0o17 and 1_000 (which yaml.v3 also reads as integers) and 1.0 are
// refused.
func Int(n *yaml.Node) (int64, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, false
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	return v, err == nil
}

const (
	day     = 24 * time.Hour
	maxDays = int64(math.MaxInt64 / day)
)

// Duration returns the value of a duration as Go writes it (90s, 15m,
// 1h30m) or a whole number of days (3d).
func Duration(n *yaml.Node) (time.Duration, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return 0, false
	}
	if days, ok := strings.CutSuffix(n.Value, "d"); ok {
		d, err := strconv.ParseInt(days, 10, 64)
		if err != nil || d > maxDays || d < -maxDays {
			return 0, false
		}
		return time.Duration(d) * day, true
	}
	d, err := time.ParseDuration(n.Value)
	return d, err == nil
}

// Suggest returns `did you mean "c"?` for the candidate c closest to name,
// when it is close enough to be a slip of the keyboard (a letter missing,
// extra, wrong or two swapped, at most one such slip per three letters), and
// otherwise, the caller's fallback hint, when none is.
func Suggest(name string, candidates []string, otherwise string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(name), c); dist < bestD {
			best, bestD = c, dist
		}
	}
	if best != "" && bestD <= max(1, min(3, len(name)/3)) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return otherwise
}

// editDistance is the Damerau-Levenshtein distance (optimal string
// alignment) between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
