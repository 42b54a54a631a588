package lang

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
)

// codeColumns are the columns a codelist's codes are read from when the
// file does not say, in order of preference: OpenCodelists downloads use
// code (newer dm+d and SNOMED CT lists), dmd_id (older dm+d lists) or id
// (old SNOMED CT uploads).
var codeColumns = []string{"code", "dmd_id", "id", "snomed_code"}

// maxRowErrors is how many bad rows of one file are reported one by one;
// the rest are summed up in one more error.
const maxRowErrors = 5

// readCSV reads a codelist or reference file. FuzzSearchCSV serves the
// files it fuzzes from memory instead: creating and removing a real file
// for each of a million inputs costs more than the parse being tested.
var readCSV = os.ReadFile

// table is a CSV file read into memory.
type table struct {
	path   string // as resolved, for positions
	header []string
	rows   [][]string
	// pos[i][j] is the position of field j of row i.
	pos    [][]model.Pos
	sha256 string
}

func (t *table) column(name string) int { return slices.Index(t.header, name) }

func (t *table) columns() string { return strings.Join(t.header, ", ") }

// readTable reads the CSV file at rel (relative to the search file),
// reporting problems at the path's node n.
func (l *loader) readTable(n *yaml.Node, rel, what string) *table {
	full := filepath.ToSlash(filepath.Join(l.dir, filepath.FromSlash(rel)))
	b, err := readCSV(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.add(l.pos(n), "paths are relative to the folder of the search file", "%s not found: %s", what, full)
		return nil
	case err != nil:
		l.add(l.pos(n), "check the file and its permissions", "cannot read %s: %v", what, err)
		return nil
	}
	sum := sha256.Sum256(b)
	t := &table{path: full, sha256: hex.EncodeToString(sum[:])}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	bad := false
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				l.add(model.Pos{File: full, Line: pe.Line, Col: max(pe.Column, 1)}, "fix the CSV file", "invalid CSV: %v", pe.Err)
			} else {
				l.add(l.pos(n), "fix the CSV file", "invalid CSV %s: %v", full, err)
			}
			return nil
		}
		if t.header == nil {
			for _, h := range rec {
				t.header = append(t.header, strings.TrimSpace(h))
			}
			continue
		}
		if len(rec) != len(t.header) {
			line, _ := r.FieldPos(0)
			l.add(model.Pos{File: full, Line: line, Col: 1}, "fix the CSV file: quote fields that contain commas", "row has %d fields but the header has %d", len(rec), len(t.header))
			bad = true
			continue
		}
		ps := make([]model.Pos, len(rec))
		for j := range rec {
			line, col := r.FieldPos(j)
			ps[j] = model.Pos{File: full, Line: line, Col: col}
		}
		t.rows = append(t.rows, rec)
		t.pos = append(t.pos, ps)
	}
	if t.header == nil {
		l.add(l.pos(n), "check the file: it should start with a header row", "%s %s is empty", what, full)
		return nil
	}
	if bad {
		return nil
	}
	return t
}

func (l *loader) loadCodelists(n *yaml.Node) {
	for _, p := range l.pairs(n, "codelists") {
		name, ok := l.ident(p.key, "codelist name")
		if !ok {
			l.broken["codelist "+p.key.Value] = true
			continue
		}
		if cl := l.codelist(name, p.key, p.val); cl != nil {
			l.codelists[name] = cl
			l.s.Codelists = append(l.s.Codelists, cl)
		} else {
			l.broken["codelist "+name] = true
		}
	}
}

func (l *loader) codelist(name string, key, n *yaml.Node) *model.Codelist {
	what := "codelist " + name
	m, _ := l.fields(n, what, "description", "files", "categories")
	if m == nil {
		return nil
	}
	if f, ok := m["description"]; ok {
		l.text(f.val, what+" description")
	}
	f, ok := l.required(m, n, what, "files", "list its OpenCodelists CSV files, e.g. files: [{path: ../codelists/x.csv, version: 4de2bbca}]")
	if !ok {
		return nil
	}
	items, ok := l.list(f.val, what+" files")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		l.add(l.pos(f.val), "list at least one CSV file", "%s has no files", what)
		return nil
	}
	cl := &model.Codelist{Name: name, Pos: l.pos(key)}
	codes := map[string]bool{}
	var kept []keptRows
	for _, item := range items {
		file, column, fileCodes, k, good := l.codelistFile(item, what)
		kept = append(kept, k)
		if !good {
			ok = false
			continue
		}
		if cl.Column == "" {
			cl.Column = column
		}
		cl.Files = append(cl.Files, file)
		for _, c := range fileCodes {
			codes[c] = true
		}
	}
	if !ok {
		return nil
	}
	for c := range codes {
		cl.Codes = append(cl.Codes, c)
	}
	slices.Sort(cl.Codes)
	if f, has := m["categories"]; has {
		if !l.categories(cl, f.val, kept) {
			return nil
		}
	}
	return cl
}

// codelistFile loads one file of a codelist and returns the codes of the
// rows that pass its filters.
func (l *loader) codelistFile(n *yaml.Node, what string) (model.CodelistFile, string, []string, keptRows, bool) {
	var file model.CodelistFile
	var kept keptRows
	m, _ := l.fields(n, what+" file", "path", "version", "column", "include", "exclude")
	if m == nil {
		return file, "", nil, kept, false
	}
	ok := true
	var pathNode *yaml.Node
	if f, has := l.required(m, n, what+" file", "path", "add path: with the CSV file's path relative to this file"); has {
		pathNode = f.val
		file.Path, ok = l.relPath(f.val, what+" path")
	} else {
		ok = false
	}
	if f, has := l.required(m, n, what+" file", "version", "add version: with the OpenCodelists version the file was downloaded at, e.g. version: 4de2bbca"); has {
		v, good := l.text(f.val, what+" version")
		if good && strings.TrimSpace(v) == "" {
			l.add(l.pos(f.val), "write the OpenCodelists version, e.g. 4de2bbca", "%s version is empty", what)
			good = false
		}
		file.Version = v
		ok = ok && good
	} else {
		ok = false
	}
	var include, exclude map[string][]string
	var includeNode, excludeNode field
	if f, has := m["include"]; has {
		includeNode = f
		include = l.prefixes(f.val, what+" include")
		ok = ok && include != nil
	}
	if f, has := m["exclude"]; has {
		excludeNode = f
		exclude = l.prefixes(f.val, what+" exclude")
		ok = ok && exclude != nil
	}
	var colNode *yaml.Node
	column := ""
	if f, has := m["column"]; has {
		colNode = f.val
		c, good := l.text(f.val, what+" column")
		column = c
		ok = ok && good
	}
	if !ok {
		return file, "", nil, kept, false
	}
	t := l.readTable(pathNode, file.Path, what+" file")
	if t == nil {
		return file, "", nil, kept, false
	}
	file.SHA256 = t.sha256
	file.Include, file.Exclude = include, exclude

	col := -1
	if colNode != nil {
		if col = t.column(column); col < 0 {
			l.add(l.pos(colNode), "its columns are: "+t.columns(), "%s has no column %q", t.path, column)
		}
	} else {
		for _, c := range codeColumns {
			if col = t.column(c); col >= 0 {
				column = c
				break
			}
		}
		if col < 0 {
			l.add(l.pos(pathNode), "name the code column with column: (its columns are: "+t.columns()+")", "%s has none of the code columns %s", t.path, strings.Join(codeColumns, ", "))
		}
	}
	filters := func(f field, pre map[string][]string) map[int][]string {
		out := map[int][]string{}
		for c, ps := range pre {
			i := t.column(c)
			if i < 0 {
				l.add(l.pos(f.val), "its columns are: "+t.columns(), "%s has no column %q to filter on", t.path, c)
				ok = false
				continue
			}
			out[i] = ps
		}
		return out
	}
	inc := filters(includeNode, include)
	exc := filters(excludeNode, exclude)
	if col < 0 || !ok {
		return file, "", nil, kept, false
	}
	var codes []string
	bad := 0
	for i, row := range t.rows {
		if !keep(row, inc, exc) {
			continue
		}
		code := strings.TrimSpace(row[col])
		if !isDigits(code) {
			bad++
			switch {
			case bad > maxRowErrors:
			case code == "":
				l.add(t.pos[i][col], "fill it in or remove the row", "%s: empty code in column %s", what, column)
			default:
				l.add(t.pos[i][col], "codes are dm+d or SNOMED CT identifiers: check column: names the code column", "%s: code %q in column %s is not made of digits", what, code, column)
			}
			continue
		}
		codes = append(codes, code)
		kept.rows = append(kept.rows, i)
	}
	if bad > maxRowErrors {
		l.add(t.pos[0][col], "", "%s: %d more codes in column %s are not made of digits", what, bad-maxRowErrors, column)
	}
	if bad > 0 {
		return file, "", nil, kept, false
	}
	if len(codes) == 0 {
		at, fix := pathNode, "the file has no rows"
		if include != nil || exclude != nil {
			at, fix = includeNode.key, "check the include and exclude prefixes against the file"
			if at == nil {
				at = excludeNode.key
			}
		}
		l.add(l.pos(at), fix, "%s: no codes left from %s (an empty codelist is always a mistake)", what, file.Path)
		return file, "", nil, kept, false
	}
	kept.t, kept.pathNode, kept.codeCol = t, pathNode, col
	return file, column, codes, kept, true
}

// keep reports whether a row passes a file's filters: for every include
// column the value starts with one of its prefixes, and for no exclude
// column does it.
func keep(row []string, inc, exc map[int][]string) bool {
	for c, ps := range inc {
		if !hasPrefix(strings.TrimSpace(row[c]), ps) {
			return false
		}
	}
	for c, ps := range exc {
		if hasPrefix(strings.TrimSpace(row[c]), ps) {
			return false
		}
	}
	return true
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// prefixes decodes {column: ["prefix", ...]}. Prefixes must be quoted
// text: unquoted, YAML reads 0407 as a number.
func (l *loader) prefixes(n *yaml.Node, what string) map[string][]string {
	pairs := l.pairs(n, what)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	out := map[string][]string{}
	ok := true
	for _, p := range pairs {
		items, good := l.list(p.val, what+" "+p.key.Value)
		if !good {
			ok = false
			continue
		}
		if len(items) == 0 {
			l.add(l.pos(p.val), "list at least one prefix, or remove the column", "%s %s has no prefixes", what, p.key.Value)
			ok = false
			continue
		}
		for _, item := range items {
			switch {
			case item.Kind == yaml.ScalarNode && item.Tag == "!!str" && item.Value != "":
				out[p.key.Value] = append(out[p.key.Value], item.Value)
			case item.Kind == yaml.ScalarNode && (item.Tag == "!!int" || item.Tag == "!!float"):
				l.add(l.pos(item), fmt.Sprintf("write it in quotes, \"%s\": unquoted, YAML reads it as a number and drops leading zeros", item.Value), "%s prefix %s must be text", what, item.Value)
				ok = false
			default:
				l.add(l.pos(item), "write a quoted prefix such as \"0407\"", "%s prefix must be text, not %s", what, yamlstrict.Describe(item))
				ok = false
			}
		}
	}
	if !ok {
		return nil
	}
	return out
}

func (l *loader) loadReferences(n *yaml.Node) {
	for _, p := range l.pairs(n, "references") {
		name, ok := l.ident(p.key, "reference name")
		if !ok {
			l.broken["reference "+p.key.Value] = true
			continue
		}
		if ref := l.reference(name, p.key, p.val); ref != nil {
			l.refs[name] = ref
			l.s.References = append(l.s.References, ref)
		} else {
			l.broken["reference "+name] = true
		}
	}
}

func (l *loader) reference(name string, key, n *yaml.Node) *model.Reference {
	what := "reference " + name
	m, _ := l.fields(n, what, "path", "version", "key", "value")
	if m == nil {
		return nil
	}
	ref := &model.Reference{Name: name, Pos: l.pos(key), Values: map[string]float64{}}
	ok := true
	var pathNode, keyNode, valueNode *yaml.Node
	var keyCol, valueCol string
	for _, k := range []struct {
		name, fix string
		node      **yaml.Node
		dst       *string
	}{
		{"path", "add path: with the CSV file's path relative to this file", &pathNode, &ref.Path},
		{"version", "add version: with the table's version, e.g. version: uk-2020.1", nil, &ref.Version},
		{"key", "add key: with the column holding the code, e.g. key: dmd_code", &keyNode, &keyCol},
		{"value", "add value: with the numeric column, e.g. value: mg_ome_per_unit", &valueNode, &valueCol},
	} {
		f, has := l.required(m, n, what, k.name, k.fix)
		if !has {
			ok = false
			continue
		}
		if k.node != nil {
			*k.node = f.val
		}
		var good bool
		if k.name == "path" {
			*k.dst, good = l.relPath(f.val, what+" path")
		} else {
			*k.dst, good = l.text(f.val, what+" "+k.name)
		}
		ok = ok && good
	}
	if !ok {
		return nil
	}
	t := l.readTable(pathNode, ref.Path, what+" file")
	if t == nil {
		return nil
	}
	ref.SHA256 = t.sha256
	kc, vc := t.column(keyCol), t.column(valueCol)
	if kc < 0 {
		l.add(l.pos(keyNode), "its columns are: "+t.columns(), "%s has no column %q", t.path, keyCol)
	}
	if vc < 0 {
		l.add(l.pos(valueNode), "its columns are: "+t.columns(), "%s has no column %q", t.path, valueCol)
	}
	if kc < 0 || vc < 0 {
		return nil
	}
	line := map[string]int{}
	bad := 0
	report := func(p model.Pos, fix, format string, a ...any) {
		bad++
		if bad <= maxRowErrors {
			l.add(p, fix, format, a...)
		}
	}
	for i, row := range t.rows {
		k, vs := strings.TrimSpace(row[kc]), strings.TrimSpace(row[vc])
		if k == "" {
			report(t.pos[i][kc], "fill it in or remove the row", "%s: empty key in column %s", what, keyCol)
			continue
		}
		if vs == "" {
			// No value for this code: its rows are "value unknown", as
			// for a code missing from the table.
			continue
		}
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil || !decimalRE.MatchString(vs) {
			report(t.pos[i][vc], "values are decimal numbers such as 1.5; leave the cell empty when the value is unknown", "%s: value %q of %s in column %s is not a number", what, vs, k, valueCol)
			continue
		}
		if old, dup := ref.Values[k]; dup && old != v {
			report(t.pos[i][kc], "keep one value per key", "%s: key %s has value %s here but %s at line %d", what, k, vs, strconv.FormatFloat(old, 'g', -1, 64), line[k])
			continue
		}
		ref.Values[k] = v
		if _, seen := line[k]; !seen {
			line[k] = t.pos[i][kc].Line
		}
	}
	if bad > maxRowErrors {
		l.add(model.Pos{File: t.path, Line: 1, Col: 1}, "", "%s: %d more bad rows", what, bad-maxRowErrors)
	}
	if bad > 0 {
		return nil
	}
	if len(ref.Values) == 0 {
		l.add(l.pos(pathNode), "the table has no rows", "%s: %s is empty", what, t.path)
		return nil
	}
	return ref
}
