package yamlstrict

import (
	"errors"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/diag"
)

// Pos, Problem and Problems are internal/diag's, named here too so that a
// YAML loader needs one import for its diagnostics.
type (
	Pos      = diag.Pos
	Problem  = diag.Problem
	Problems = diag.Problems
)

// ErrInvalid is matched by every Problems.
var ErrInvalid = diag.ErrInvalid

// At is where node n is in file; the file's first line and column when n
// is nil (a problem with the document as a whole).
func At(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file, Line: 1, Col: 1}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

// maxShown bounds how much of a value Describe quotes.
const maxShown = 60

// Describe words what node n is, for a message such as "title must be
// text, not a list": "a mapping", "a list", "an alias", "empty" (null, or
// nothing after the colon), and for any other scalar its type and value as
// written: the text "yes", the number 12, the boolean true, the date
// 2026-03-31. The type is said because a value alone misleads: 12 and "12"
// look alike in a message but not to the loader. Every loader words a
// node's kind with it.
func Describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
	default:
		return "nothing"
	}
	switch n.Tag {
	case "!!null":
		return "empty"
	case "!!str":
		return "the text " + strconv.Quote(shorten(n.Value))
	case "!!int", "!!float":
		return "the number " + bare(n.Value)
	case "!!bool":
		return "the boolean " + bare(n.Value)
	case "!!timestamp":
		return "the date " + bare(n.Value)
	}
	// A tag of the file's own (!x) may hold any character, %0A too.
	return "a value tagged " + bare(n.Tag)
}

// bare is s as written when it is short and plain, and quoted otherwise,
// so that a description stays on one line.
func bare(s string) string {
	q := strconv.Quote(shorten(s))
	if q[1:len(q)-1] != s || strings.ContainsAny(s, " \"") {
		return q
	}
	return s
}

// shorten cuts s to maxShown characters, marking the cut with "...".
func shorten(s string) string {
	if r := []rune(s); len(r) > maxShown {
		return string(r[:maxShown-3]) + "..."
	}
	return s
}

// Fixes says how a file of one kind is put right when Parse refuses it; the
// rest of the wording is ParseProblem's, the same for every loader.
type Fixes struct {
	// Empty is the fix for an empty file, e.g. "start the file with
	// version: 1".
	Empty string
	// Second is the fix for a second document, e.g. "a scheme file holds
	// one document: remove the --- and what follows".
	Second string
}

// syntaxFix is the fix for a YAML syntax error. yaml.v3 names the line
// where it noticed the fault, which is often the line after the slip.
const syntaxFix = "check the indentation, colons and brackets around this line"

// ParseProblem words an error of Parse as a Problem in file, the same way
// for every loader:
//
//	file:1:1: the file is empty (fixes.Empty)
//	file:4:1: invalid YAML: did not find expected key (check the indentation, colons and brackets around this line)
//	file:6:1: a second YAML document (---) is not allowed (fixes.Second)
//
// A syntax error has no column from yaml.v3, so it is placed at column 1.
func ParseProblem(file string, err error, fixes Fixes) Problem {
	var syntax *SyntaxError
	var second *SecondDocumentError
	switch {
	case errors.Is(err, ErrEmpty):
		return Problem{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "the file is empty", Fix: fixes.Empty}
	case errors.As(err, &syntax):
		return Problem{Pos: Pos{File: file, Line: syntax.Line, Col: 1}, Msg: "invalid YAML: " + oneLine(syntax.Msg), Fix: syntaxFix}
	case errors.As(err, &second):
		return Problem{Pos: Pos{File: file, Line: second.Line, Col: second.Col}, Msg: "a second YAML document (---) is not allowed", Fix: fixes.Second}
	}
	return Problem{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "invalid YAML: " + oneLine(err.Error()), Fix: syntaxFix}
}

// oneLine keeps a message on one line.
func oneLine(s string) string { return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s) }
