// Package bundle is the unit a search author publishes and an agent runs: a
// deterministic tar.gz holding one pack directory and every codelist and
// reference table its searches name, with a manifest of SHA-256 hashes.
//
// The archive keeps the layout below the pack's searches folder
// (packs/<id>/..., codelists/..., reference/...), so the relative paths in
// the search files resolve after extraction exactly as they do in the
// repository. Extract refuses anything the manifest does not list.
//
// Bundles travel to agents as TUF targets named <pack>/<version>.tar.gz
// (see tuf.go and docs/bundles.md).
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/internal/yamlstrict"
	"github.com/nhs-steward/steward/searches/semver"
)

// Format is the manifest format this package writes and reads.
const Format = "steward.bundle/v1"

// ManifestName is the manifest's name at the root of the archive.
const ManifestName = "manifest.json"

// Limits on what Build packs and Extract accepts.
const (
	MaxFileSize  = 64 << 20  // one file
	MaxTotalSize = 256 << 20 // all files, uncompressed
	MaxFiles     = 10000
	// MaxClimb is how many folders above the pack directory a referenced
	// file may live (packs/<id>/ → the searches folder).
	MaxClimb = 2
)

// Manifest describes a bundle's content. It is the first entry of the archive.
type Manifest struct {
	Format  string    `json:"format"`
	Pack    string    `json:"pack"`
	Version string    `json:"version"`
	PackDir string    `json:"pack_dir"` // slash path of the pack directory inside the bundle
	Created time.Time `json:"created"`
	Builder string    `json:"builder"`
	Files   []File    `json:"files"` // sorted by Path; manifest.json itself is not listed
}

// File is one file of a bundle.
type File struct {
	Path   string `json:"path"` // slash path relative to the bundle root
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lower-case hex
}

// Bundle is a built bundle.
type Bundle struct {
	Manifest Manifest
	SHA256   string // of the tar.gz, lower-case hex
	Length   int64  // of the tar.gz
}

// Target is the bundle's TUF target name, <pack>/<version>.tar.gz.
func (b *Bundle) Target() string { return TargetName(b.Manifest.Pack, b.Manifest.Version) }

// Option changes how Build works.
type Option func(*buildOptions)

type buildOptions struct {
	created time.Time
	builder string
	release *Release
}

// WithCreated sets the manifest's created time (default: now). Two builds of
// the same files with the same created time are byte-identical.
func WithCreated(t time.Time) Option { return func(o *buildOptions) { o.created = t } }

// WithBuilder sets the manifest's builder (default: "steward " + the build version).
func WithBuilder(s string) Option { return func(o *buildOptions) { o.builder = s } }

// WithRelease puts r (the author's notes and the summary of changes, from
// NewRelease) into the bundle as release.json. It must name the pack and
// version being built.
func WithRelease(r *Release) Option { return func(o *buildOptions) { o.release = r } }

// fixedModTime is the modification time of every archive entry.
var fixedModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	packIDRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	pathSegRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	sha256HexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidPackID reports whether id can name a pack in a bundle.
func ValidPackID(id string) bool { return packIDRE.MatchString(id) }

// ParseVersion parses a pack version by the one rule every part of
// Steward uses (package semver).
func ParseVersion(v string) (semver.Version, error) { return semver.Parse(v) }

// CompareVersions compares two pack versions by semantic-version
// precedence. It returns -1, 0 or 1.
func CompareVersions(a, b string) (int, error) { return semver.Compare(a, b) }

// ReadPack reads the pack id, version and search files of the pack in dir:
// the part of pack.yaml Build needs; searches/lang validates the rest. A
// refused pack.yaml is a yamlstrict.Problems, every problem at its place.
func ReadPack(dir string) (id, version string, searches []string, err error) {
	const file = "pack.yaml"
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", "", nil, fmt.Errorf("read pack: %w", err)
	}
	var ps yamlstrict.Problems
	root, err := yamlstrict.Parse(b)
	if err != nil {
		ps = append(ps, yamlstrict.ParseProblem(file, err, yamlstrict.Fixes{
			Empty:  "start the file with steward: pack/v1",
			Second: "a pack.yaml holds one document: remove the --- and what follows",
		}))
		if root == nil {
			return "", "", nil, ps.Err()
		}
	}
	add := func(n *yaml.Node, msg string) {
		if n == nil {
			n = root
		}
		ps = append(ps, yamlstrict.Problem{Pos: yamlstrict.At(file, n), Msg: msg})
	}
	text := func(key string) (string, *yaml.Node) {
		n := yamlstrict.Lookup(root, key)
		if n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
			return n.Value, n
		}
		return "", n
	}
	if root.Kind != yaml.MappingNode {
		add(root, "a pack.yaml must be a mapping of keys to values, not "+yamlstrict.Describe(root))
		return "", "", nil, ps.Err()
	}
	if v, n := text("steward"); v != "pack/v1" {
		add(n, fmt.Sprintf("steward: %q is not a pack (want pack/v1)", v))
	}
	id, n := text("id")
	if !ValidPackID(id) {
		add(n, fmt.Sprintf("id %q must be lower-case letters, digits, - or _", id))
	}
	version, n = text("version")
	if _, err := ParseVersion(version); err != nil {
		add(n, err.Error())
	}
	switch n := yamlstrict.Lookup(root, "searches"); {
	case n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null":
	case n.Kind != yaml.SequenceNode:
		add(n, "searches must be a list, not "+yamlstrict.Describe(n))
	default:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
				add(c, "a search must be a file name, not "+yamlstrict.Describe(c))
				continue
			}
			searches = append(searches, c.Value)
		}
	}
	if err := ps.Err(); err != nil {
		return "", "", nil, err
	}
	return id, version, searches, nil
}

// Build packs the pack in packDir, and every file its searches reference
// through a path: key, into a deterministic tar.gz.
func Build(packDir string, opts ...Option) (*Bundle, []byte, error) {
	o := buildOptions{created: time.Now(), builder: "steward " + buildinfo.String()}
	for _, f := range opts {
		f(&o)
	}
	packDir, err := filepath.Abs(packDir)
	if err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}
	id, version, searches, err := ReadPack(packDir)
	if err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}

	// Every file of the pack directory, then every referenced file.
	files := map[string]bool{} // absolute paths
	err = filepath.WalkDir(packDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != packDir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (symbolic links are not bundled)", p)
		}
		files[p] = true
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}
	for _, s := range searches {
		sp := filepath.Join(packDir, filepath.FromSlash(s))
		if !files[sp] {
			return nil, nil, fmt.Errorf("build bundle: pack.yaml lists search %s, which is not a file inside the pack directory", s)
		}
		refs, err := referencedPaths(sp)
		if err != nil {
			return nil, nil, fmt.Errorf("build bundle: %w", err)
		}
		for _, r := range refs {
			rp := filepath.Join(filepath.Dir(sp), filepath.FromSlash(r))
			fi, err := os.Lstat(rp)
			if err != nil {
				return nil, nil, fmt.Errorf("build bundle: %s references %s: %w", filepath.Base(sp), r, err)
			}
			if !fi.Mode().IsRegular() {
				return nil, nil, fmt.Errorf("build bundle: %s references %s, which is not a regular file", filepath.Base(sp), r)
			}
			files[rp] = true
		}
	}

	// The root is the nearest folder holding everything, at most MaxClimb
	// folders above the pack.
	root := packDir
	for p := range files {
		for !within(root, p) {
			up := filepath.Dir(root)
			if up == root {
				return nil, nil, fmt.Errorf("build bundle: %s shares no folder with the pack", p)
			}
			root = up
		}
	}
	if rel, _ := filepath.Rel(root, packDir); strings.Count(filepath.ToSlash(rel), "/")+1 > MaxClimb && rel != "." {
		return nil, nil, fmt.Errorf("build bundle: a referenced file lies more than %d folders above the pack (bundle root would be %s)", MaxClimb, root)
	}

	m := Manifest{
		Format: Format, Pack: id, Version: version,
		Created: o.created.UTC().Truncate(time.Second), Builder: o.builder,
	}
	relPack, _ := filepath.Rel(root, packDir)
	m.PackDir = filepath.ToSlash(relPack)
	contents := map[string][]byte{}
	var total int64
	for p := range files {
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if err := checkPath(rel); err != nil {
			return nil, nil, fmt.Errorf("build bundle: %w", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("build bundle: %w", err)
		}
		if len(b) > MaxFileSize {
			return nil, nil, fmt.Errorf("build bundle: %s is larger than %d bytes", rel, MaxFileSize)
		}
		total += int64(len(b))
		sum := sha256.Sum256(b)
		contents[rel] = b
		m.Files = append(m.Files, File{Path: rel, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	if o.release != nil {
		if o.release.Pack != id || o.release.Version != version {
			return nil, nil, fmt.Errorf("build bundle: the release notes are for %s %s, the pack is %s %s", o.release.Pack, o.release.Version, id, version)
		}
		if _, ok := contents[ReleaseName]; ok {
			return nil, nil, fmt.Errorf("build bundle: %s at the bundle's root is a name bundles keep for the release notes: rename that file", ReleaseName)
		}
		rb, err := json.MarshalIndent(o.release, "", "  ")
		if err != nil {
			return nil, nil, fmt.Errorf("build bundle: %w", err)
		}
		rb = append(rb, '\n')
		sum := sha256.Sum256(rb)
		contents[ReleaseName] = rb
		total += int64(len(rb))
		m.Files = append(m.Files, File{Path: ReleaseName, Size: int64(len(rb)), SHA256: hex.EncodeToString(sum[:])})
	}
	if total > MaxTotalSize || len(m.Files) > MaxFiles {
		return nil, nil, fmt.Errorf("build bundle: %d files, %d bytes: over the limit of %d files, %d bytes", len(m.Files), total, MaxFiles, MaxTotalSize)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}

	tgz, err := writeArchive(&m, contents)
	if err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}
	sum := sha256.Sum256(tgz)
	return &Bundle{Manifest: m, SHA256: hex.EncodeToString(sum[:]), Length: int64(len(tgz))}, tgz, nil
}

func writeArchive(m *Manifest, contents map[string][]byte) ([]byte, error) {
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	mb = append(mb, '\n')
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The gzip header carries no name and no time: the output depends on
	// the content only.
	tw := tar.NewWriter(zw)
	add := func(name string, b []byte) error {
		h := &tar.Header{
			Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644,
			ModTime: fixedModTime, Uid: 0, Gid: 0, Uname: "", Gname: "", Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := add(ManifestName, mb); err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		if err := add(f.Path, contents[f.Path]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// within reports whether p lies inside dir.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}

// referencedPaths returns the value of every path: key in a search file.
func referencedPaths(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(file)
	doc, err := yamlstrict.Parse(b)
	var syntax *yamlstrict.SyntaxError
	switch {
	case errors.As(err, &syntax):
		return nil, yamlstrict.Problems{yamlstrict.ParseProblem(name, err, yamlstrict.Fixes{})}
	case doc == nil:
		return nil, nil // an empty file refers to nothing
	}
	var out []string
	var errs yamlstrict.Problems
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "path" && v.Kind == yaml.ScalarNode {
					p := v.Value
					if p == "" || path.IsAbs(p) || filepath.IsAbs(p) || strings.Contains(p, `\`) {
						errs = append(errs, yamlstrict.Problem{Pos: yamlstrict.At(name, v), Msg: fmt.Sprintf("path %q must be relative with forward slashes", p)})
						continue
					}
					out = append(out, p)
					continue
				}
				walk(v)
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	return out, errs.Err()
}

// checkPath checks a slash path inside a bundle: relative, clean, no .., no
// hidden, reserved or odd characters (it must extract the same on Windows).
func checkPath(p string) error {
	if p == "" || p == ManifestName || len(p) > 255 {
		return fmt.Errorf("bundle path %q is not allowed", p)
	}
	if path.Clean(p) != p || path.IsAbs(p) {
		return fmt.Errorf("bundle path %q is not a clean relative path", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." || !pathSegRE.MatchString(seg) || strings.HasSuffix(seg, ".") {
			return fmt.Errorf("bundle path %q: segment %q is not allowed (letters, digits, . _ - only; no ..)", p, seg)
		}
		base := strings.ToUpper(strings.SplitN(seg, ".", 2)[0])
		switch base {
		case "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
			"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
			return fmt.Errorf("bundle path %q: %q is a reserved name on Windows", p, seg)
		}
	}
	return nil
}

// Validate checks a manifest's fields: format, pack id, version, paths,
// hashes, sorted unique files, and that pack.yaml is among them.
func (m *Manifest) Validate() error {
	var errs []error
	if m.Format != Format {
		errs = append(errs, fmt.Errorf("manifest: format %q, want %q", m.Format, Format))
	}
	if !ValidPackID(m.Pack) {
		errs = append(errs, fmt.Errorf("manifest: pack %q is not a valid pack id", m.Pack))
	}
	if _, err := ParseVersion(m.Version); err != nil {
		errs = append(errs, fmt.Errorf("manifest: %w", err))
	}
	if m.PackDir != "." {
		if err := checkPath(m.PackDir); err != nil {
			errs = append(errs, fmt.Errorf("manifest: pack_dir: %w", err))
		}
	}
	if len(m.Files) > MaxFiles {
		errs = append(errs, fmt.Errorf("manifest: %d files, more than %d", len(m.Files), MaxFiles))
	}
	var total int64
	seen := map[string]bool{}
	hasPack := false
	for i, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			errs = append(errs, fmt.Errorf("manifest: %w", err))
		}
		if i > 0 && m.Files[i-1].Path >= f.Path {
			errs = append(errs, fmt.Errorf("manifest: files are not sorted and unique at %s", f.Path))
		}
		if seen[strings.ToLower(f.Path)] {
			errs = append(errs, fmt.Errorf("manifest: %s is listed twice (ignoring case)", f.Path))
		}
		seen[strings.ToLower(f.Path)] = true
		if !sha256HexRE.MatchString(f.SHA256) {
			errs = append(errs, fmt.Errorf("manifest: %s: sha256 %q is not 64 lower-case hex digits", f.Path, f.SHA256))
		}
		if f.Size < 0 || f.Size > MaxFileSize {
			errs = append(errs, fmt.Errorf("manifest: %s: size %d out of range", f.Path, f.Size))
		}
		total += f.Size
		if f.Path == path.Join(m.PackDir, "pack.yaml") {
			hasPack = true
		}
	}
	if total > MaxTotalSize {
		errs = append(errs, fmt.Errorf("manifest: %d bytes in all, more than %d", total, MaxTotalSize))
	}
	if !hasPack {
		errs = append(errs, fmt.Errorf("manifest: %s/pack.yaml is not listed", m.PackDir))
	}
	return errors.Join(errs...)
}

// ReadManifest reads the manifest at the root of an extracted bundle. It
// does not check the files: Verify does.
func ReadManifest(root string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(root, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return parseManifest(b)
}

func parseManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("manifest: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
