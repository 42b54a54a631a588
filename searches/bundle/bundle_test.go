package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/internal/yamlstrict"
)

var created = time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)

// medsipDir is the repository's MedSIP pack.
const medsipDir = "../packs/medsip"

func TestBuildMedSIP(t *testing.T) {
	b, tgz, err := Build(medsipDir, WithCreated(created), WithBuilder("test"))
	if err != nil {
		t.Fatal(err)
	}
	m := b.Manifest
	if got, want := m.Pack, "medsip"; got != want {
		t.Errorf("pack = %q, want %q", got, want)
	}
	if got, want := m.PackDir, "packs/medsip"; got != want {
		t.Errorf("pack_dir = %q, want %q", got, want)
	}
	if got, want := b.Target(), "medsip/"+m.Version+".tar.gz"; got != want {
		t.Errorf("target = %q, want %q", got, want)
	}
	has := map[string]bool{}
	for _, f := range m.Files {
		has[f.Path] = true
	}
	for _, want := range []string{
		"packs/medsip/pack.yaml", "packs/medsip/medsip.yaml",
		"codelists/opensafely-lung-cancer-snomed.csv", "reference/ome-uk-2020.1.csv",
	} {
		if !has[want] {
			t.Errorf("bundle lacks %s", want)
		}
	}
	if has["codelists/SOURCES.md"] {
		t.Errorf("bundle holds an unreferenced codelist file")
	}

	// Deterministic: the same inputs give the same bytes.
	_, again, err := Build(medsipDir, WithCreated(created), WithBuilder("test"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tgz, again) {
		t.Fatalf("two builds differ")
	}

	// Extracted, the search's relative paths resolve and the tree verifies.
	dir := filepath.Join(t.TempDir(), "x")
	if err := Extract(tgz, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "packs/medsip", "../../reference/ome-uk-2020.1.csv")); err != nil {
		t.Fatalf("reference path does not resolve after extraction: %v", err)
	}
	got, err := Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPack(got.PackDirIn(dir), got); err != nil {
		t.Fatal(err)
	}

	// A changed file or an extra file fails verification.
	if err := os.WriteFile(filepath.Join(dir, "packs/medsip/extra.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Verify with an extra file = %v, want ErrInvalid", err)
	}
	os.Remove(filepath.Join(dir, "packs/medsip/extra.yaml"))
	if err := os.WriteFile(filepath.Join(dir, "packs/medsip/pack.yaml"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Verify with a changed file = %v, want ErrInvalid", err)
	}
}

func TestBuildRefusesFarReferences(t *testing.T) {
	root := t.TempDir()
	pack := filepath.Join(root, "a", "b", "packs", "p")
	writeFiles(t, pack, map[string]string{
		"pack.yaml": "steward: pack/v1\nid: p\nversion: 1.0.0\nsearches: [s.yaml]\n",
		"s.yaml":    "codelists:\n  x:\n    files:\n      - path: ../../../../secret.csv\n",
	})
	writeFiles(t, root, map[string]string{"secret.csv": "code\n1\n"})
	if _, _, err := Build(pack, WithCreated(created)); err == nil || !strings.Contains(err.Error(), "folders above the pack") {
		t.Fatalf("Build = %v, want a refusal of the far reference", err)
	}
}

func TestVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2026.1.0", "2026.1.0", 0}, {"2026.2.0", "2026.10.0", -1},
		{"2027.0.0", "2026.9.9", 1}, {"1.0.1", "1.0.0", 1}, {"2026.4.0-rc1", "2026.4.0", -1},
	} {
		got, err := CompareVersions(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("CompareVersions(%s, %s) = %d, %v, want %d", c.a, c.b, got, err, c.want)
		}
	}
	// One rule everywhere (package semver): three numbers, an optional
	// pre-release label; "2026.1" and "1.2.3.4" are no longer versions.
	for _, bad := range []string{"", "v1", "1.02", "1..2", "1.2.3.4.5", "../1", "1.0-rc1", "2026.1", "1.2.3.4", "1.0.0+b"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", bad)
		}
	}
}

// entry is one tar entry of a hand-made archive.
type entry struct {
	name, link string
	typ        byte
	body       string
}

func manifestFor(files map[string]string) []byte {
	m := Manifest{Format: Format, Pack: "p", Version: "1.0.0", PackDir: "packs/p", Created: created, Builder: "test"}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sum := sha256.Sum256([]byte(files[n]))
		m.Files = append(m.Files, File{Path: n, Size: int64(len(files[n])), SHA256: hex.EncodeToString(sum[:])})
	}
	b, _ := json.Marshal(m)
	return b
}

func archive(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestExtractRefuses(t *testing.T) {
	packYAML := "steward: pack/v1\nid: p\nversion: 1.0.0\nsearches: []\n"
	good := map[string]string{"packs/p/pack.yaml": packYAML}
	man := string(manifestFor(good))
	withEvil := func(name, body string) string {
		return string(manifestFor(map[string]string{"packs/p/pack.yaml": packYAML, name: body}))
	}
	cases := []struct {
		name    string
		entries []entry
	}{
		{"traversal", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "../evil.csv", body: "x"}}},
		{"traversal inside", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "packs/../../evil.csv", body: "x"}}},
		{"absolute", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "/tmp/evil.csv", body: "x"}}},
		{"symlink", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "codelists/x.csv", typ: tar.TypeSymlink, link: "/etc/passwd"}}},
		{"hard link", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "codelists/x.csv", typ: tar.TypeLink, link: "packs/p/pack.yaml"}}},
		{"folder entry", []entry{{name: ManifestName, body: man}, {name: "codelists/", typ: tar.TypeDir}, {name: "packs/p/pack.yaml", body: packYAML}}},
		{"unlisted", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "codelists/x.csv", body: "x"}}},
		{"wrong hash", []entry{{name: ManifestName, body: withEvil("codelists/x.csv", "good")}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "codelists/x.csv", body: "evil"}}},
		{"wrong size", []entry{{name: ManifestName, body: withEvil("codelists/x.csv", "good")}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "codelists/x.csv", body: "longer"}}},
		{"missing", []entry{{name: ManifestName, body: withEvil("codelists/x.csv", "good")}, {name: "packs/p/pack.yaml", body: packYAML}}},
		{"duplicate", []entry{{name: ManifestName, body: man}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "packs/p/pack.yaml", body: packYAML}}},
		{"no manifest first", []entry{{name: "packs/p/pack.yaml", body: packYAML}, {name: ManifestName, body: man}}},
		{"manifest traversal", []entry{{name: ManifestName, body: withEvil("../x.csv", "x")}, {name: "packs/p/pack.yaml", body: packYAML}, {name: "../x.csv", body: "x"}}},
		{"oversize", []entry{{name: ManifestName, body: withEvil("codelists/big.csv", strings.Repeat("x", MaxFileSize+1))}, {name: "packs/p/pack.yaml", body: packYAML}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			err := Extract(archive(t, c.entries...), dir)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Extract = %v, want ErrInvalid", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the refused bundle left %s behind", dir)
			}
			if _, err := os.Stat(filepath.Join(parent, "evil.csv")); err == nil {
				t.Errorf("a file was written outside the target folder")
			}
		})
	}

	// The well-formed archive extracts.
	if err := Extract(archive(t, entry{name: ManifestName, body: man}, entry{name: "packs/p/pack.yaml", body: packYAML}), filepath.Join(t.TempDir(), "ok")); err != nil {
		t.Fatalf("Extract(good) = %v", err)
	}
}

func TestKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "author.key")
	priv, err := GenerateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil {
		t.Fatal(err)
	} else if perm := fi.Mode().Perm(); perm&0o077 != 0 && os.PathSeparator == '/' {
		t.Errorf("private key mode = %v, want 0600", perm)
	}
	got, err := LoadPrivateKey(p)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("LoadPrivateKey = %v, %v", got, err)
	}
	pub, err := LoadPublicKey(p + ".pub")
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("LoadPublicKey = %v, %v", pub, err)
	}
	if _, err := GenerateKey(p); err == nil {
		t.Fatalf("GenerateKey overwrote an existing key")
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for n, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadPackProblems checks that a refused pack.yaml lists every problem
// at its place, in the shared file:line:col form.
func TestReadPackProblems(t *testing.T) {
	for _, c := range []struct{ name, pack, want string }{
		{"fields", "steward: search/v1\nid: Bad\nversion: one\nsearches: [a.yaml, [b]]\n",
			"pack.yaml:1:10: steward: \"search/v1\" is not a pack (want pack/v1)\n" +
				"pack.yaml:2:5: id \"Bad\" must be lower-case letters, digits, - or _\n" +
				"pack.yaml:3:10: "},
		{"missing", "title: x\n", "pack.yaml:1:1: steward: \"\" is not a pack (want pack/v1)\npack.yaml:1:1: id \"\""},
		{"searches", "steward: pack/v1\nid: p\nversion: 1.0.0\nsearches: a.yaml\n", "pack.yaml:4:11: searches must be a list, not the text \"a.yaml\""},
		{"syntax", "steward: [\n", "pack.yaml:1:1: invalid YAML: "},
		{"empty", "", "pack.yaml:1:1: the file is empty (start the file with steward: pack/v1)"},
		{"not a mapping", "- a\n", "pack.yaml:1:1: a pack.yaml must be a mapping of keys to values, not a list"},
	} {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"pack.yaml": c.pack})
		_, _, _, err := ReadPack(dir)
		var ps yamlstrict.Problems
		if !errors.As(err, &ps) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: ReadPack = %v, want Problems starting %q", c.name, err, c.want)
		}
	}
	// The list item [b] is reported too, in the same pass.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pack.yaml": "steward: pack/v1\nid: p\nversion: 1.0.0\nsearches: [a.yaml, [b]]\n"})
	if _, _, _, err := ReadPack(dir); err == nil || err.Error() != "pack.yaml:4:20: a search must be a file name, not a list" {
		t.Errorf("ReadPack = %v", err)
	}
	if id, version, searches, err := ReadPack(medsipDir); err != nil || id != "medsip" || version == "" || len(searches) == 0 {
		t.Errorf("ReadPack(medsip) = %q %q %v %v", id, version, searches, err)
	}
}

func TestBuildRefusesAbsolutePath(t *testing.T) {
	pack := filepath.Join(t.TempDir(), "packs", "p")
	writeFiles(t, pack, map[string]string{
		"pack.yaml": "steward: pack/v1\nid: p\nversion: 1.0.0\nsearches: [s.yaml]\n",
		"s.yaml":    "codelists:\n  x:\n    files:\n      - path: /etc/x.csv\n      - path: 'a\\b.csv'\n",
	})
	_, _, err := Build(pack, WithCreated(created))
	want := "build bundle: s.yaml:4:15: path \"/etc/x.csv\" must be relative with forward slashes\ns.yaml:5:15: path \"a\\\\b.csv\" must be relative with forward slashes"
	if err == nil || err.Error() != want {
		t.Fatalf("Build = %v, want %q", err, want)
	}
}
