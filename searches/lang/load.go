// Package lang loads search files and pack manifests (docs/search-language.md)
// into the validated search model. Loading is strict and reports every
// problem in one pass, each with its position: file:line:col: what is wrong
// (how to fix).
package lang

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/model"
	"github.com/nhs-steward/steward/searches/semver"
)

// File versions: the value of the steward: key that starts every file.
const (
	VersionSearch  = "search/v1"
	VersionPack    = "pack/v1"
	VersionFixture = "search-test/v1"
)

// PackManifest is the file name LoadPack looks for in a directory.
const PackManifest = "pack.yaml"

// Version returns the value of the top-level steward: key of a YAML file,
// or "" when src is not a YAML mapping with one. It does not validate
// anything else.
func Version(src []byte) string {
	root, _ := yamlstrict.Parse(src)
	if v := yamlstrict.Lookup(root, "steward"); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// LoadSearch reads and validates a search file. Codelist and reference
// paths are relative to the file's directory. Positions in errors use path
// as given. The error, when not a read error, is an Errors.
func LoadSearch(path string) (*model.Search, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read search: %w", err)
	}
	return ParseSearch(path, src, filepath.Dir(path))
}

// ParseSearch validates the search file src, named name in positions, whose
// relative paths are resolved against dir (the directory of name when dir
// is ""). Tests and fixtures use it to load searches held in memory.
func ParseSearch(name string, src []byte, dir string) (*model.Search, error) {
	if dir == "" {
		dir = filepath.Dir(name)
	}
	e := &errs{}
	d := newDoc(name, dir, src, e)
	top := d.parseYAML(src)
	if top == nil {
		return nil, e.result()
	}
	s := d.search(top)
	if err := e.result(); err != nil {
		return nil, err
	}
	return s, nil
}

// ParseSearchNode validates a search held in n, a YAML mapping inside
// another file (a fixture's search_inline:). src is that file's source,
// used to place errors inside expressions; name and dir are as for
// ParseSearch.
func ParseSearchNode(name string, src []byte, n *yaml.Node, dir string) (*model.Search, error) {
	if dir == "" {
		dir = filepath.Dir(name)
	}
	e := &errs{}
	d := newDoc(name, dir, src, e)
	d.checkPlain(n)
	if len(e.all) > 0 {
		return nil, e.result()
	}
	if n.Kind != yaml.MappingNode {
		d.add(d.pos(n), "write the search as a mapping starting with steward: "+VersionSearch, "a search must be a mapping, not %s", yamlstrict.Describe(n))
		return nil, e.result()
	}
	s := d.search(n)
	if err := e.result(); err != nil {
		return nil, err
	}
	return s, nil
}

var knownVersions = map[string]string{
	VersionSearch:  "a search file",
	VersionPack:    "a pack manifest",
	VersionFixture: "a fixture file",
}

var versionRE = regexp.MustCompile(`^(search|pack|search-test)/v[0-9]+$`)

// header checks that top starts with steward: want. When it does not, no
// other key can be trusted, so loading stops.
func (d *doc) header(top *yaml.Node, want string) bool {
	if len(top.Content) < 2 {
		d.add(d.pos(top), "start the file with steward: "+want, "the file is empty")
		return false
	}
	var key, val *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "steward" {
			key, val = top.Content[i], top.Content[i+1]
			break
		}
	}
	if key == nil {
		d.add(d.pos(top.Content[0]), "add steward: "+want+" as the first line", "missing steward: (the file's kind and language version)")
		return false
	}
	v := ""
	if val.Kind == yaml.ScalarNode {
		v = val.Value
	}
	switch {
	case v == want:
	case knownVersions[v] != "":
		d.add(d.pos(val), fmt.Sprintf("expected steward: %s here (%s)", want, knownVersions[want]), "this is %s (steward: %s)", knownVersions[v], v)
		return false
	case versionRE.MatchString(v):
		d.add(d.pos(val), "this Steward reads "+want+": upgrade Steward, or write the file for "+want, "unsupported version steward: %s", v)
		return false
	default:
		// Name the value itself: the message is about what was written, not its type.
		what := yamlstrict.Describe(val)
		if val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
			what = fmt.Sprintf("%q", v)
		}
		d.add(d.pos(val), "write steward: "+want, "unknown steward: value %s", what)
		return false
	}
	if top.Content[0] != key {
		d.add(d.pos(key), "move steward: "+want+" to the top of the file", "steward: must be the first key")
	}
	return true
}

// LoadPack reads a pack: a directory holding pack.yaml, or the path of a
// pack manifest. For convenience a single search file is also accepted, as
// a pack of one search with the search's id and title and no version. Every
// problem in the manifest and in each search is reported.
func LoadPack(path string) (*model.Pack, error) {
	manifest := path
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		manifest = filepath.Join(path, PackManifest)
	}
	src, err := os.ReadFile(manifest)
	if err != nil {
		return nil, fmt.Errorf("read pack: %w", err)
	}
	if Version(src) == VersionSearch {
		s, err := ParseSearch(manifest, src, filepath.Dir(manifest))
		if err != nil {
			return nil, err
		}
		return &model.Pack{ID: s.ID, Title: s.Title, Searches: []*model.Search{s}, Pos: s.Pos}, nil
	}
	e := &errs{}
	d := newDoc(manifest, filepath.Dir(manifest), src, e)
	top := d.parseYAML(src)
	if top == nil || !d.header(top, VersionPack) {
		return nil, e.result()
	}
	p := d.pack(top)
	if err := e.result(); err != nil {
		return nil, err
	}
	return p, nil
}

func (d *doc) pack(top *yaml.Node) *model.Pack {
	m, _ := d.fields(top, "a pack manifest", "steward", "id", "version", "title", "first_as_of", "searches")
	p := &model.Pack{Pos: d.pos(top)}
	if f, ok := d.required(m, top, "a pack manifest", "id", "add id: followed by the pack's name, e.g. id: medsip"); ok {
		p.ID, _ = d.ident(f.val, "pack id")
	}
	if f, ok := d.required(m, top, "a pack manifest", "version", "add version: e.g. version: 2026.1.0"); ok {
		if v, ok := d.text(f.val, "pack version"); ok {
			var ve *semver.Error
			if _, err := semver.Parse(v); errors.As(err, &ve) {
				d.add(d.pos(f.val), "write "+semver.Rule, "pack version %q %s", v, ve.Why)
			} else {
				p.Version = v
			}
		}
	}
	if f, ok := m["title"]; ok {
		p.Title, _ = d.text(f.val, "pack title")
	}
	if f, ok := m["first_as_of"]; ok {
		if v, ok := d.text(f.val, "first_as_of"); ok {
			if t, err := time.Parse(time.DateOnly, v); err != nil || t.AddDate(0, 0, 1).Day() != 1 {
				d.add(d.pos(f.val), "write the last day of a month, e.g. first_as_of: 2015-04-30", "first_as_of %q is not a month end (YYYY-MM-DD)", v)
			} else {
				p.FirstAsOf = v
			}
		}
	}
	f, ok := d.required(m, top, "a pack manifest", "searches", "list the pack's search files, e.g. searches: [medsip.yaml]")
	if !ok {
		return p
	}
	items, ok := d.list(f.val, "searches")
	if !ok {
		return p
	}
	if len(items) == 0 {
		d.add(d.pos(f.val), "list at least one search file", "a pack needs at least one search")
	}
	seenPath := map[string]*yaml.Node{}
	type owner struct {
		search *model.Search
		pos    model.Pos
	}
	searchIDs := map[string]owner{}
	measureIDs := map[string]owner{}
	for _, item := range items {
		rel, ok := d.relPath(item, "search path")
		if !ok {
			continue
		}
		if first, dup := seenPath[rel]; dup {
			d.add(d.pos(item), "remove one of them", "search %s is listed twice (first at line %d)", rel, first.Line)
			continue
		}
		seenPath[rel] = item
		full := filepath.ToSlash(filepath.Join(d.dir, filepath.FromSlash(rel)))
		s, err := LoadSearch(full)
		var es Errors
		switch {
		case errors.As(err, &es):
			d.all = append(d.all, es...)
			continue
		case errors.Is(err, os.ErrNotExist):
			d.add(d.pos(item), "paths are relative to the folder of "+filepath.Base(d.file), "search file not found: %s", full)
			continue
		case err != nil:
			d.add(d.pos(item), "check the file's permissions", "cannot read search: %v", err)
			continue
		}
		if first, dup := searchIDs[s.ID]; dup {
			d.add(d.pos(item), "give each search of a pack its own id", "search id %q of %s is also the id of %s", s.ID, rel, first.pos.File)
		} else {
			searchIDs[s.ID] = owner{s, s.Pos}
		}
		for _, ms := range s.Measures {
			if first, dup := measureIDs[ms.ID]; dup {
				d.add(ms.Pos, "measure ids are unique across a pack: rename one of them", "measure id %q is also used at %s", ms.ID, first.pos)
				continue
			}
			measureIDs[ms.ID] = owner{s, ms.Pos}
		}
		p.Searches = append(p.Searches, s)
	}
	return p
}

// relPath returns a relative, slash-separated path.
func (d *doc) relPath(n *yaml.Node, what string) (string, bool) {
	p, ok := d.text(n, what)
	if !ok {
		return "", false
	}
	switch {
	case p == "":
		d.add(d.pos(n), "write the file's path relative to this file", "%s is empty", what)
		return "", false
	case strings.Contains(p, `\`):
		d.add(d.pos(n), "use / between folders, on Windows too", "%s %q contains a backslash", what, p)
		return "", false
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p) || (len(p) > 1 && p[1] == ':'):
		d.add(d.pos(n), "write the path relative to the folder of this file, so the pack can move", "%s %q is absolute", what, p)
		return "", false
	}
	return p, true
}
