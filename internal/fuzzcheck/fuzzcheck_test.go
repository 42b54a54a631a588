package fuzzcheck

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// root is the repository, from this package's folder.
const root = "../.."

// makeTargets returns the FUZZ_TARGETS of the Makefile, as package:Function.
func makeTargets(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "FUZZ_TARGETS :=") {
			in = true
			line = strings.TrimPrefix(line, "FUZZ_TARGETS :=")
		} else if !in {
			continue
		}
		more := strings.HasSuffix(strings.TrimSpace(line), `\`)
		out = append(out, strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), `\`))...)
		if !more {
			break
		}
	}
	if len(out) == 0 {
		t.Fatal("the Makefile has no FUZZ_TARGETS")
	}
	return out
}

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w*)\(\w+ \*testing\.F\)`)

// repoTargets returns every fuzz target of the repository's test files, as
// package:Function with the package as ./path.
func repoTargets(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testdata", "node_modules", "bin", "dist", "out":
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			out = append(out, "./"+filepath.ToSlash(rel)+":"+string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMakeFuzzListsEveryTarget keeps `make fuzz` complete: every Fuzz
// function of the repository is in FUZZ_TARGETS, every entry there is a
// Fuzz function, and each has a committed seed corpus.
func TestMakeFuzzListsEveryTarget(t *testing.T) {
	listed, found := makeTargets(t), repoTargets(t)
	if len(found) < 15 {
		t.Fatalf("found only %d fuzz targets: %v", len(found), found)
	}
	for _, f := range found {
		if !slices.Contains(listed, f) {
			t.Errorf("fuzz target %s is not in the Makefile's FUZZ_TARGETS: add it (make fuzz runs only those)", f)
		}
	}
	seen := map[string]bool{}
	for _, l := range listed {
		if !slices.Contains(found, l) {
			t.Errorf("FUZZ_TARGETS lists %s, which is no Fuzz function of a test file: remove or fix it", l)
		}
		if seen[l] {
			t.Errorf("FUZZ_TARGETS lists %s twice", l)
		}
		seen[l] = true
		pkg, fn, _ := strings.Cut(l, ":")
		seeds, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(pkg), "testdata", "fuzz", fn, "*"))
		if len(seeds) == 0 {
			t.Errorf("%s has no seed corpus: commit inputs under %s/testdata/fuzz/%s", l, pkg, fn)
		}
	}
}

func TestYAMLLines(t *testing.T) {
	for _, c := range []struct {
		src  string
		want int
	}{
		{"", 1}, {"a", 1}, {"a\n", 2}, {"a\r\nb", 2}, {"a\rb\rc", 3}, {"a\r\n\r\n", 3},
		{"a\u2028b\u0085c\u2029", 4}, {"\xff\n", 2},
		{"\xfe\xff ( (", 3}, {"\xff\xfe( ( ", 3}, {"\xff\xfea\x00\n\x00", 2}, // UTF-16 BE, LE: U+2028 twice; a, \n
	} {
		if got := YAMLLines([]byte(c.src)); got != c.want {
			t.Errorf("YAMLLines(%q) = %d, want %d", c.src, got, c.want)
		}
	}
	if !InYAML([]byte("a: 1"), 2, 1) || InYAML([]byte("a: 1"), 3, 1) || InYAML([]byte("a: 1"), 1, 0) {
		t.Error("InYAML places wrongly")
	}
}
