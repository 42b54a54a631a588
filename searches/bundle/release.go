package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nhs-steward/steward/searches/lang"
	"github.com/nhs-steward/steward/searches/model"
)

// A bundle carries what a practice manager reads before approving it:
// release.json at the bundle's root, listed in the manifest like every
// other file (so it is hashed, and agents that predate it extract it
// without complaint). It holds the author's notes and a summary of what
// changed against the previous version, made by Diff from the two packs,
// never written by hand.

// ReleaseName is the release file's name at the root of a bundle.
const ReleaseName = "release.json"

// ReleaseFormat is the release file's format.
const ReleaseFormat = "steward.release/v1"

// MaxNotes bounds the author's notes (bytes).
const MaxNotes = 16 << 10

// maxCodesListed bounds how many added or removed codes of one codelist
// the summary names (the counts are always exact).
const maxCodesListed = 50

// Release is the content of release.json.
type Release struct {
	Format  string `json:"format"`
	Pack    string `json:"pack"`
	Version string `json:"version"`
	// Notes are the author's release notes, plain text.
	Notes string `json:"notes"`
	// Previous is the version Changes compares with; "" for a first
	// release (Changes is then nil).
	Previous string   `json:"previous,omitempty"`
	Changes  *Changes `json:"changes,omitempty"`
}

// Changes is the machine-made summary of what changed between two versions
// of a pack.
type Changes struct {
	MeasuresAdded   []string          `json:"measures_added,omitempty"`
	MeasuresRemoved []string          `json:"measures_removed,omitempty"`
	MeasuresChanged []MeasureChange   `json:"measures_changed,omitempty"`
	Parameters      []ParameterChange `json:"parameters,omitempty"`
	Codelists       []CodelistChange  `json:"codelists,omitempty"`
	References      []ReferenceChange `json:"references,omitempty"`
}

// Empty reports whether nothing a practice's figures depend on changed.
func (c *Changes) Empty() bool {
	return c == nil || len(c.MeasuresAdded)+len(c.MeasuresRemoved)+len(c.MeasuresChanged)+
		len(c.Parameters)+len(c.Codelists)+len(c.References) == 0
}

// MeasureChange is a measure present in both versions whose figures may
// differ, and why.
type MeasureChange struct {
	ID   string   `json:"id"`
	What []string `json:"what"`
}

// ParameterChange is a search parameter added, removed or whose default
// changed. From is nil for an added parameter, To for a removed one.
type ParameterChange struct {
	Search string   `json:"search"`
	Name   string   `json:"name"`
	From   *float64 `json:"from,omitempty"`
	To     *float64 `json:"to,omitempty"`
}

// CodelistChange is a codelist added, removed or whose codes changed.
type CodelistChange struct {
	Search string `json:"search"`
	Name   string `json:"name"`
	// Status is "added", "removed" or "changed".
	Status       string   `json:"status"`
	CodesAdded   int      `json:"codes_added"`
	CodesRemoved int      `json:"codes_removed"`
	Added        []string `json:"added,omitempty"`   // the first codes added, at most 50
	Removed      []string `json:"removed,omitempty"` // the first codes removed, at most 50
}

// ReferenceChange is a reference table added, removed or whose values
// changed.
type ReferenceChange struct {
	Search      string `json:"search"`
	Name        string `json:"name"`
	Status      string `json:"status"` // added, removed, changed
	FromVersion string `json:"from_version,omitempty"`
	ToVersion   string `json:"to_version,omitempty"`
	RowsAdded   int    `json:"rows_added"`
	RowsRemoved int    `json:"rows_removed"`
	RowsChanged int    `json:"rows_changed"`
}

// Diff summarises what changed from pack old to pack cur.
func Diff(old, cur *model.Pack) (*Changes, error) {
	oi, err := indexPack(old)
	if err != nil {
		return nil, fmt.Errorf("diff: %s %s: %w", old.ID, old.Version, err)
	}
	ci, err := indexPack(cur)
	if err != nil {
		return nil, fmt.Errorf("diff: %s %s: %w", cur.ID, cur.Version, err)
	}
	c := &Changes{}

	// Parameters, codelists and reference tables, search by search.
	params := map[string]string{}    // search/name -> why a measure using it changed
	codelists := map[string]string{} // search/name -> why
	refs := map[string]string{}      // search/name -> why
	for _, k := range unionKeys(oi.params, ci.params) {
		o, n := oi.params[k], ci.params[k]
		switch {
		case o == nil:
			c.Parameters = append(c.Parameters, ParameterChange{Search: n.search, Name: n.p.Name, To: ptr(n.p.Default)})
		case n == nil:
			c.Parameters = append(c.Parameters, ParameterChange{Search: o.search, Name: o.p.Name, From: ptr(o.p.Default)})
		case o.p.Default != n.p.Default:
			c.Parameters = append(c.Parameters, ParameterChange{Search: n.search, Name: n.p.Name, From: ptr(o.p.Default), To: ptr(n.p.Default)})
			params[k] = fmt.Sprintf("parameter %s: %s → %s", n.p.Name, num(o.p.Default), num(n.p.Default))
		}
	}
	for _, k := range unionKeys(oi.codelists, ci.codelists) {
		o, n := oi.codelists[k], ci.codelists[k]
		switch {
		case o == nil:
			c.Codelists = append(c.Codelists, CodelistChange{Search: n.search, Name: n.cl.Name, Status: "added", CodesAdded: len(n.cl.Codes)})
		case n == nil:
			c.Codelists = append(c.Codelists, CodelistChange{Search: o.search, Name: o.cl.Name, Status: "removed", CodesRemoved: len(o.cl.Codes)})
		default:
			added, removed := setDiff(o.cl.Codes, n.cl.Codes)
			if len(added)+len(removed) == 0 {
				continue
			}
			c.Codelists = append(c.Codelists, CodelistChange{Search: n.search, Name: n.cl.Name, Status: "changed",
				CodesAdded: len(added), CodesRemoved: len(removed),
				Added: added[:min(len(added), maxCodesListed)], Removed: removed[:min(len(removed), maxCodesListed)]})
			codelists[k] = fmt.Sprintf("codelist %s: %d codes added, %d removed", n.cl.Name, len(added), len(removed))
		}
	}
	for _, k := range unionKeys(oi.refs, ci.refs) {
		o, n := oi.refs[k], ci.refs[k]
		switch {
		case o == nil:
			c.References = append(c.References, ReferenceChange{Search: n.search, Name: n.r.Name, Status: "added", ToVersion: n.r.Version, RowsAdded: len(n.r.Values)})
		case n == nil:
			c.References = append(c.References, ReferenceChange{Search: o.search, Name: o.r.Name, Status: "removed", FromVersion: o.r.Version, RowsRemoved: len(o.r.Values)})
		default:
			rc := ReferenceChange{Search: n.search, Name: n.r.Name, Status: "changed", FromVersion: o.r.Version, ToVersion: n.r.Version}
			for code, v := range n.r.Values {
				ov, ok := o.r.Values[code]
				switch {
				case !ok:
					rc.RowsAdded++
				case ov != v:
					rc.RowsChanged++
				}
			}
			for code := range o.r.Values {
				if _, ok := n.r.Values[code]; !ok {
					rc.RowsRemoved++
				}
			}
			if rc.RowsAdded+rc.RowsRemoved+rc.RowsChanged == 0 && rc.FromVersion == rc.ToVersion {
				continue
			}
			c.References = append(c.References, rc)
			versions := o.r.Version + " → " + n.r.Version
			if o.r.Version == n.r.Version {
				versions = "still called " + n.r.Version
			}
			refs[k] = fmt.Sprintf("reference table %s (%s): %d rows added, %d removed, %d changed",
				n.r.Name, versions, rc.RowsAdded, rc.RowsRemoved, rc.RowsChanged)
		}
	}

	// Measures, by id (unique across a pack).
	for _, id := range unionKeys(oi.measures, ci.measures) {
		o, n := oi.measures[id], ci.measures[id]
		switch {
		case o == nil:
			c.MeasuresAdded = append(c.MeasuresAdded, id)
			continue
		case n == nil:
			c.MeasuresRemoved = append(c.MeasuresRemoved, id)
			continue
		}
		var what []string
		if o.m.Title != n.m.Title {
			what = append(what, fmt.Sprintf("title: %q → %q", o.m.Title, n.m.Title))
		}
		if o.def != n.def {
			what = append(what, "definition (the expression, window, kind or stratification)")
		}
		for _, kind := range []map[string]string{params, codelists, refs} {
			for _, u := range n.uses {
				if why := kind[u]; why != "" {
					what = append(what, why)
				}
			}
		}
		if len(what) > 0 {
			c.MeasuresChanged = append(c.MeasuresChanged, MeasureChange{ID: id, What: what})
		}
	}
	return c, nil
}

type paramAt struct {
	search string
	p      *model.Parameter
}
type codelistAt struct {
	search string
	cl     *model.Codelist
}
type refAt struct {
	search string
	r      *model.Reference
}
type measureAt struct {
	m    *model.Measure
	def  string   // canonical definition, variables inlined
	uses []string // search/name of the parameters, codelists and tables it reads
}

type packIndex struct {
	params    map[string]*paramAt
	codelists map[string]*codelistAt
	refs      map[string]*refAt
	measures  map[string]*measureAt
}

func indexPack(p *model.Pack) (*packIndex, error) {
	ix := &packIndex{params: map[string]*paramAt{}, codelists: map[string]*codelistAt{}, refs: map[string]*refAt{}, measures: map[string]*measureAt{}}
	for _, s := range p.Searches {
		for _, x := range s.Parameters {
			ix.params[s.ID+"/"+x.Name] = &paramAt{s.ID, x}
		}
		for _, x := range s.Codelists {
			ix.codelists[s.ID+"/"+x.Name] = &codelistAt{s.ID, x}
		}
		for _, x := range s.References {
			ix.refs[s.ID+"/"+x.Name] = &refAt{s.ID, x}
		}
		plan, err := model.Resolve(s)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", s.ID, err)
		}
		for _, pm := range plan.Measures {
			uses := map[string]bool{}
			var def strings.Builder
			fmt.Fprintf(&def, "%s at=%s per=%s stratify=%v publishable=%t", pm.Kind, pm.At, num(pm.Per), pm.Stratify, pm.Publishable)
			for _, a := range []*model.Agg{pm.Value, pm.Numerator, pm.Denominator} {
				if a == nil {
					def.WriteString(" | -")
					continue
				}
				fmt.Fprintf(&def, " | %s@%s", a.Kind, a.At)
				for _, e := range []model.Expr{a.Where, a.Value} {
					if e == nil {
						def.WriteString(" -")
						continue
					}
					def.WriteString(" " + model.Key(e))
					model.Walk(e, func(e model.Expr) {
						switch e := e.(type) {
						case *model.ParamRef:
							uses[s.ID+"/"+e.Param.Name] = true
						case *model.Aggregate:
							if e.Codelist != nil {
								uses[s.ID+"/"+e.Codelist.Name] = true
							}
							if e.Ref != nil {
								uses[s.ID+"/"+e.Ref.Name] = true
							}
							if e.Of.Ref != nil {
								uses[s.ID+"/"+e.Of.Ref.Name] = true
							}
						}
					})
				}
			}
			strataDef(&def, pm, s.AgeBands)
			for _, exprs := range pm.StrataExprs {
				for _, e := range exprs {
					model.Walk(e, func(e model.Expr) {
						switch e := e.(type) {
						case *model.ParamRef:
							uses[s.ID+"/"+e.Param.Name] = true
						case *model.Aggregate:
							uses[s.ID+"/"+e.Codelist.Name] = true
							for _, r := range []*model.Reference{e.Ref, e.Of.Ref} {
								if r != nil {
									uses[s.ID+"/"+r.Name] = true
								}
							}
						}
					})
				}
			}
			ma := &measureAt{m: pm.Measure, def: def.String()}
			for u := range uses {
				ma.uses = append(ma.uses, u)
			}
			slices.Sort(ma.uses)
			ix.measures[pm.ID] = ma
		}
	}
	return ix, nil
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// setDiff returns the codes in b but not a, and in a but not b, sorted.
func setDiff(a, b []string) (added, removed []string) {
	in := func(s []string) map[string]bool {
		m := make(map[string]bool, len(s))
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	ia, ib := in(a), in(b)
	for _, x := range b {
		if !ia[x] {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !ib[x] {
			removed = append(removed, x)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

func ptr(f float64) *float64 { return &f }

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// CheckNotes checks an author's release notes: non-empty UTF-8 text of at
// most MaxNotes bytes.
func CheckNotes(notes string) error {
	switch {
	case strings.TrimSpace(notes) == "":
		return errors.New("the release notes are empty: say what changed and why, for the practice managers who approve it")
	case len(notes) > MaxNotes:
		return fmt.Errorf("the release notes are %d bytes, more than %d: keep them to what a practice manager needs", len(notes), MaxNotes)
	case !utf8.ValidString(notes):
		return errors.New("the release notes are not UTF-8 text")
	}
	return nil
}

// NewRelease loads the pack in packDir and, when prevPackDir is not "",
// the previous version's pack, and returns the release description. The
// previous version must be below the new one.
func NewRelease(packDir, notes, prevPackDir string) (*Release, error) {
	if err := CheckNotes(notes); err != nil {
		return nil, err
	}
	cur, err := lang.LoadPack(packDir)
	if err != nil {
		return nil, fmt.Errorf("load the pack: %w", err)
	}
	r := &Release{Format: ReleaseFormat, Pack: cur.ID, Version: cur.Version, Notes: notes}
	if prevPackDir == "" {
		return r, nil
	}
	old, err := lang.LoadPack(prevPackDir)
	if err != nil {
		return nil, fmt.Errorf("load the previous version: %w", err)
	}
	if old.ID != cur.ID {
		return nil, fmt.Errorf("the previous version is pack %s, not %s", old.ID, cur.ID)
	}
	if c, err := CompareVersions(old.Version, cur.Version); err != nil || c >= 0 {
		return nil, fmt.Errorf("the previous version %s is not below %s", old.Version, cur.Version)
	}
	if r.Changes, err = Diff(old, cur); err != nil {
		return nil, err
	}
	r.Previous = old.Version
	return r, nil
}

// ReadRelease reads release.json from the root of an extracted bundle; nil
// without error for a bundle built without one (before releases carried
// notes). Verify has checked the file against the manifest.
func ReadRelease(root string) (*Release, error) {
	b, err := os.ReadFile(filepath.Join(root, ReleaseName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release notes: %w", err)
	}
	return ParseRelease(b)
}

// ParseRelease decodes and checks a release file.
func ParseRelease(b []byte) (*Release, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Release
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", ReleaseName, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", ReleaseName)
	}
	if r.Format != ReleaseFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", ReleaseName, r.Format, ReleaseFormat)
	}
	if err := CheckNotes(r.Notes); err != nil {
		return nil, fmt.Errorf("%s: %w", ReleaseName, err)
	}
	return &r, nil
}

// Lines describes the changes for a person, one line each.
func (c *Changes) Lines() []string {
	if c.Empty() {
		return []string{"nothing that changes the figures (measures, parameters, codelists and reference tables are the same)"}
	}
	var out []string
	for _, id := range c.MeasuresAdded {
		out = append(out, "measure added: "+id)
	}
	for _, id := range c.MeasuresRemoved {
		out = append(out, "measure removed: "+id)
	}
	for _, m := range c.MeasuresChanged {
		out = append(out, "measure changed: "+m.ID+": "+strings.Join(m.What, "; "))
	}
	for _, p := range c.Parameters {
		switch {
		case p.From == nil:
			out = append(out, fmt.Sprintf("parameter added: %s (search %s), default %s", p.Name, p.Search, num(*p.To)))
		case p.To == nil:
			out = append(out, fmt.Sprintf("parameter removed: %s (search %s), was %s", p.Name, p.Search, num(*p.From)))
		default:
			out = append(out, fmt.Sprintf("parameter changed: %s (search %s): %s → %s", p.Name, p.Search, num(*p.From), num(*p.To)))
		}
	}
	for _, cl := range c.Codelists {
		line := fmt.Sprintf("codelist %s: %s (search %s), %d codes added, %d removed", cl.Status, cl.Name, cl.Search, cl.CodesAdded, cl.CodesRemoved)
		if len(cl.Added) > 0 {
			line += "; added " + listed(cl.Added, cl.CodesAdded)
		}
		if len(cl.Removed) > 0 {
			line += "; removed " + listed(cl.Removed, cl.CodesRemoved)
		}
		out = append(out, line)
	}
	for _, r := range c.References {
		out = append(out, fmt.Sprintf("reference table %s: %s (search %s), version %s → %s, %d rows added, %d removed, %d changed",
			r.Status, r.Name, r.Search, dash(r.FromVersion), dash(r.ToVersion), r.RowsAdded, r.RowsRemoved, r.RowsChanged))
	}
	return out
}

func listed(codes []string, total int) string {
	s := strings.Join(codes, ", ")
	if total > len(codes) {
		s += fmt.Sprintf(" and %d more", total-len(codes))
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// strataDef adds to a measure's definition what its stratifications by
// variables count: each part's expression and cells (nothing for a measure
// stratified by built-in dimensions only, whose definition is unchanged).
func strataDef(def *strings.Builder, pm *model.PlannedMeasure, bands []int) {
	for _, d := range pm.Stratify {
		st := pm.Stratification(d)
		if st == nil {
			continue
		}
		fmt.Fprintf(def, " | strata %s %v", d, st.Labels(bands))
		for _, e := range pm.StrataExprs[d] {
			if e != nil {
				def.WriteString(" " + model.Key(e))
			}
		}
	}
}
