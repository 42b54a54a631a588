package lang

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

// doc is one YAML file being decoded: its name as given (for positions), the
// directory its relative paths are resolved against, its source lines (to
// place errors inside scalars) and the problems found so far.
type doc struct {
	file  string
	dir   string
	lines [][]rune
	*errs
}

func newDoc(file, dir string, src []byte, e *errs) *doc {
	d := &doc{file: file, dir: dir, errs: e}
	for _, l := range strings.Split(string(src), "\n") {
		d.lines = append(d.lines, []rune(strings.TrimSuffix(l, "\r")))
	}
	return d
}

func (d *doc) pos(n *yaml.Node) model.Pos { return yamlstrict.At(d.file, n) }

// parseYAML parses src, which must hold exactly one YAML document whose
// root is a mapping, with no anchors, aliases, merge keys or tags. It
// returns the root mapping, or nil after reporting why not.
func (d *doc) parseYAML(src []byte) *yaml.Node {
	top, err := yamlstrict.Parse(src)
	if err != nil {
		d.all = append(d.all, yamlstrict.ParseProblem(d.file, err, yamlstrict.Fixes{
			Empty:  "start the file with its steward: line",
			Second: "put each search in its own file, and list the files in a pack.yaml",
		}))
	}
	if top == nil {
		return nil
	}
	n := len(d.all)
	d.checkPlain(top)
	if len(d.all) > n {
		return nil
	}
	if top.Kind != yaml.MappingNode {
		d.add(d.pos(top), "start the file with its steward: line, then one key: value per line", "the file must be a YAML mapping of keys, not %s", yamlstrict.Describe(top))
		return nil
	}
	return top
}

// checkPlain rejects the YAML features that would make a file mean something
// other than what it shows: anchors, aliases, merge keys and explicit tags.
func (d *doc) checkPlain(n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode:
		d.add(d.pos(n), "write the value out in full", "YAML aliases (*%s) are not supported", n.Value)
		return
	case n.Anchor != "":
		d.add(d.pos(n), "remove the anchor and write each value out in full", "YAML anchors (&%s) are not supported", n.Anchor)
	case n.Tag == "!!merge":
		d.add(d.pos(n), "write the keys out in full", "YAML merge keys (<<) are not supported")
	case n.Style&yaml.TaggedStyle != 0:
		d.add(d.pos(n), "remove the tag: types follow from the value", "YAML tags (%s) are not supported", n.Tag)
	}
	for _, c := range n.Content {
		d.checkPlain(c)
	}
}

// field is one key: value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// fields checks a mapping's keys against the allowed ones (any name when
// there are none) and returns its pairs in order, reporting unknown and
// duplicate keys. what names the mapping in messages ("a measure").
func (d *doc) fields(n *yaml.Node, what string, allowed ...string) (map[string]field, []field) {
	if n.Kind != yaml.MappingNode {
		d.add(d.pos(n), "write it as key: value lines or {key: value, ...}", "%s must be a mapping, not %s", what, yamlstrict.Describe(n))
		return nil, nil
	}
	pairs, probs := yamlstrict.Keys(n, allowed)
	for _, kp := range probs {
		switch k := kp.Key; kp.Kind {
		case yamlstrict.KeyNotScalar:
			d.add(d.pos(k), "keys are plain names", "%s has a key that is %s", what, yamlstrict.Describe(k))
		case yamlstrict.UnknownKey:
			d.add(d.pos(k), yamlstrict.Suggest(k.Value, allowed, "allowed keys: "+strings.Join(allowed, ", ")), "unknown key %q in %s", k.Value, what)
		case yamlstrict.DuplicateKey:
			d.add(d.pos(k), "remove one of them", "duplicate key %q in %s (first at line %d)", k.Value, what, kp.First.Line)
		}
	}
	m := map[string]field{}
	order := make([]field, len(pairs))
	for i, p := range pairs {
		order[i] = field{p.Key, p.Value}
		m[p.Key.Value] = order[i]
	}
	return m, order
}

// pairs returns a mapping's pairs without restricting its keys (names of
// variables, codelists and so on), reporting duplicates.
func (d *doc) pairs(n *yaml.Node, what string) []field {
	_, order := d.fields(n, what)
	return order
}

// required reports a missing key.
func (d *doc) required(m map[string]field, at *yaml.Node, what, key, fix string) (field, bool) {
	f, ok := m[key]
	if !ok && m != nil {
		d.add(d.pos(at), fix, "%s needs %s:", what, key)
	}
	return f, ok
}

// text returns a scalar's text; numbers and dates are taken as written.
func (d *doc) text(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.add(d.pos(n), "write it as text", "%s must be text, not %s", what, yamlstrict.Describe(n))
		return "", false
	}
	return n.Value, true
}

var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ident returns an identifier ([a-z][a-z0-9_]*).
func (d *doc) ident(n *yaml.Node, what string) (string, bool) {
	s, ok := d.text(n, what)
	if !ok {
		return "", false
	}
	if !identRE.MatchString(s) {
		d.add(d.pos(n), "use lower-case letters, digits and _, starting with a letter, e.g. "+fixIdent(s), "%s %q is not a valid name", what, s)
		return "", false
	}
	return s, true
}

func fixIdent(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r == '-' || r == ' ' || r == '.':
			b.WriteRune('_')
		}
	}
	out := strings.TrimLeft(b.String(), "0123456789_")
	if out == "" {
		return "my_name"
	}
	return out
}

func (d *doc) notNumber(n *yaml.Node, what string) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str" && (n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle)) != 0:
		d.add(d.pos(n), "remove the quotes", "%s must be a number, not the text %q", what, n.Value)
	case n.Kind == yaml.ScalarNode && n.Tag == "!!float":
		d.add(d.pos(n), "write a finite decimal number", "%s must be a finite number, not %s", what, n.Value)
	default:
		d.add(d.pos(n), "write a decimal number such as 120 or 1.5", "%s must be a number, not %s", what, yamlstrict.Describe(n))
	}
}

var decimalRE = regexp.MustCompile(`^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$`)

// number returns a decimal number.
func (d *doc) number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || !decimalRE.MatchString(n.Value) {
		d.notNumber(n, what)
		return 0, false
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		d.notNumber(n, what)
		return 0, false
	}
	return v, true
}

// integer returns a whole decimal number.
func (d *doc) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!float" && decimalRE.MatchString(n.Value) {
		d.add(d.pos(n), "write a whole number", "%s must be a whole number, not %s", what, n.Value)
		return 0, false
	}
	v, ok := yamlstrict.Int(n)
	if !ok {
		d.notNumber(n, what)
		return 0, false
	}
	return int(v), true
}

// boolean returns true or false; YAML 1.1 spellings (yes, no, on, off,
// True) are errors.
func (d *doc) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		switch n.Value {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	d.add(d.pos(n), "write true or false", "%s must be true or false, not %s", what, yamlstrict.Describe(n))
	return false, false
}

// list returns a sequence's items.
func (d *doc) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		d.add(d.pos(n), "write a list, e.g. [a, b] or one \"- item\" a line", "%s must be a list, not %s", what, yamlstrict.Describe(n))
		return nil, false
	}
	return n.Content, true
}

// scalarPos returns the position of byte offset off of a scalar's value,
// following the scalar through the source (quotes, escapes, folded lines
// and block scalars) so that errors point inside the text.
func (d *doc) scalarPos(n *yaml.Node, off int) model.Pos {
	base := d.pos(n)
	v := n.Value
	off = max(0, min(off, len(v)))
	line, col := n.Line-1, n.Column-1
	if line < 0 || line >= len(d.lines) {
		return base
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		line, col = line+1, 0
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		col++
	}
	// find returns the source position of the next rune equal to r from
	// (line, col), or ok=false.
	find := func(r rune) (int, int, bool) {
		for l, c := line, col; l < len(d.lines) && l < n.Line+200; l, c = l+1, 0 {
			for ; c < len(d.lines[l]); c++ {
				if d.lines[l][c] == r {
					return l, c, true
				}
			}
		}
		return 0, 0, false
	}
	for i, r := range v {
		if unicode.IsSpace(r) {
			continue
		}
		l, c, ok := find(r)
		if !ok {
			return base
		}
		if i >= off {
			return model.Pos{File: d.file, Line: l + 1, Col: c + 1}
		}
		line, col = l, c+1
	}
	// The end of the value: just after its last character.
	return model.Pos{File: d.file, Line: line + 1, Col: col + 1}
}

// PlainYAML reports, in a parsed Steward file, the YAML features every
// Steward file refuses — anchors, aliases, merge keys and tags — so that the
// fixture loader is exactly as strict as the search loader: a file means
// what it shows.
func PlainYAML(file string, n *yaml.Node) Errors {
	e := &errs{}
	(&doc{file: file, errs: e}).checkPlain(n)
	return e.all
}
