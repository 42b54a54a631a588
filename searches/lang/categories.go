package lang

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/searches/model"
)

// Codelist categories (docs/search-language.md, Categories): a column of a
// codelist's files that classes each code, such as the BNF chemical
// substance in the first 9 characters of bnf_code (a molecule), or a
// column the search author adds to their own codelist file.

// keptRows are the rows of one codelist file whose codes the codelist
// kept, in the order of its codes.
type keptRows struct {
	t        *table
	pathNode *yaml.Node
	codeCol  int
	rows     []int
}

// maxCategoryLength bounds length: no published classification is longer.
const maxCategoryLength = 100

// categories decodes a codelist's categories: name -> column, or
// name -> {column: C, length: N}, reading each from every file.
func (l *loader) categories(cl *model.Codelist, n *yaml.Node, kept []keptRows) bool {
	what := "codelist " + cl.Name
	ok := true
	for _, p := range l.pairs(n, what+" categories") {
		name, good := l.ident(p.key, "category name")
		if !good {
			ok = false
			continue
		}
		if cl.Category(name) != nil {
			continue // the duplicate key is reported by pairs
		}
		cat := &model.Category{Name: name, Pos: l.pos(p.key), Values: map[string]string{}}
		colNode := p.val
		if p.val.Kind == yaml.MappingNode {
			m, _ := l.fields(p.val, what+" category "+name, "column", "length")
			if m == nil {
				ok = false
				continue
			}
			f, has := l.required(m, p.val, what+" category "+name, "column", "add column: with the CSV column that holds the category, e.g. column: bnf_code")
			if !has {
				ok = false
				continue
			}
			colNode = f.val
			if f, has := m["length"]; has {
				v, good := l.integer(f.val, "category length")
				if good && (v < 1 || v > maxCategoryLength) {
					l.add(l.pos(f.val), "write how many leading characters to keep, e.g. length: 9 for a BNF chemical substance", "category length must be between 1 and %d, not %d", maxCategoryLength, v)
					good = false
				}
				if !good {
					ok = false
					continue
				}
				cat.Length = v
			}
		}
		col, good := l.text(colNode, what+" category column")
		if !good {
			ok = false
			continue
		}
		cat.Column = col
		if !l.categoryValues(cl, cat, colNode, kept) {
			ok = false
			continue
		}
		cl.Categories = append(cl.Categories, cat)
	}
	return ok
}

// categoryValues fills cat.Values from the kept rows of every file. An
// empty cell leaves the code without a category; one code with two values
// is an error.
func (l *loader) categoryValues(cl *model.Codelist, cat *model.Category, colNode *yaml.Node, kept []keptRows) bool {
	what := "codelist " + cl.Name
	ok := true
	where := map[string]model.Pos{}
	for _, k := range kept {
		if k.t == nil {
			continue
		}
		col := k.t.column(cat.Column)
		if col < 0 {
			l.add(l.pos(colNode), "its columns are: "+k.t.columns(), "%s has no column %q for category %s", k.t.path, cat.Column, cat.Name)
			ok = false
			continue
		}
		codeCol := k.codeCol
		for _, i := range k.rows {
			row := k.t.rows[i]
			v := strings.TrimSpace(row[col])
			if v == "" {
				continue
			}
			if cat.Length > 0 && utf8.RuneCountInString(v) > cat.Length {
				v = string([]rune(v)[:cat.Length])
			}
			code := ""
			if codeCol >= 0 {
				code = strings.TrimSpace(row[codeCol])
			}
			if code == "" {
				continue
			}
			if prev, seen := cat.Values[code]; seen && prev != v {
				p := where[code]
				l.add(k.t.pos[i][col], fmt.Sprintf("keep one %s per code", cat.Name), "%s: code %s has %s %q here but %q at %s:%d", what, code, cat.Name, v, prev, p.File, p.Line)
				ok = false
				continue
			}
			cat.Values[code] = v
			where[code] = k.t.pos[i][col]
		}
	}
	if ok && len(cat.Values) == 0 {
		l.add(l.pos(colNode), "check the column name: every cell of it is empty", "%s: category %s has no values in column %s", what, cat.Name, cat.Column)
		ok = false
	}
	return ok
}
