// Package diag is how Steward's loaders say what is wrong with a file a
// person wrote: one Problem per fault, at a Pos, with what is wrong and how
// to fix it, and Problems, every fault found in one pass, as the loader's
// error. Search, pack and CSV files (searches/lang), fixtures, schema
// profiles, scheme files and both services' configuration files all report
// through these two types, so a reader meets one format:
//
//	file:line:col: path: what is wrong (how to fix)
//
// The package holds no parser: it is shared by YAML and CSV loaders and by
// searches/model, which carries positions into compiled searches and must
// not depend on a YAML library. The YAML side (where a node is, how to word
// its kind) is in internal/yamlstrict.
package diag

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is matched by every Problems: the file was read and refused,
// and the error lists why. A caller tells it from a read error with
// errors.Is.
var ErrInvalid = errors.New("invalid file")

// Pos is a place in a file: 1-based line and column. A Pos with no line
// stands for the whole file; one with no file for a place in text that has
// no name.
type Pos struct {
	File string
	Line int
	Col  int
}

// String is file:line:col, or file alone when there is no line, or
// line:col when there is no file.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Problem is one thing wrong with a file. Pos is embedded, so p.File,
// p.Line and p.Col read its parts.
type Problem struct {
	Pos
	// Path is where in the document's structure, e.g. "elements[1].count",
	// when the loader names it; empty otherwise.
	Path string
	// Msg says what is wrong, on one line.
	Msg string
	// Fix says how to put it right; empty when there is nothing to add.
	Fix string
}

// Error formats the problem as pos: path: what is wrong (how to fix),
// leaving out the parts that are empty.
func (p Problem) Error() string {
	var b strings.Builder
	if s := p.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Fix != "" {
		b.WriteString(" (")
		b.WriteString(p.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// String is the same as Error.
func (p Problem) String() string { return p.Error() }

// Problems is every problem found in one load. Loaders return it as their
// error, sorted (see Sorted); use errors.As to get at the list, and
// errors.Is(err, ErrInvalid) to tell it from a read error.
type Problems []Problem

// Error prints one problem a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (ps Problems) Unwrap() error { return ErrInvalid }

// Sorted orders the problems by file, line and column, keeping the order
// in which problems at one place were found, and drops exact duplicates
// (a pack may report a file it shares twice). It sorts in place and
// returns the shortened list.
func (ps Problems) Sorted() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
		)
	})
	return slices.Compact(ps)
}

// Err returns ps sorted as an error, or nil when there are none, so that a
// loader can end with return ps.Err().
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps.Sorted()
}
