package yamlstrict

import (
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
