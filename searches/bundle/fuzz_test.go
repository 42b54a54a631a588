package bundle

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzExtract gives Extract arbitrary bundles, as an agent receives them
// (after TUF has checked their hash: the fuzzer stands for a search author
// whose key signed a bad one, or a bug in steward search bundle). With gz
// false the input is a tar archive that the harness compresses, so that
// mutations reach the archive and the manifest rather than the deflate
// stream. Seeds: testdata/fuzz/FuzzExtract (a bundle Build made of a small
// pack, the hand-made archives of TestExtractRefuses).
//
// Properties:
//   - a refusal is ErrInvalid, and leaves nothing behind: not the target
//     folder, nothing beside it;
//   - an accepted bundle wrote only inside the target folder, only the
//     files its manifest lists (and the manifest), each as the manifest
//     says: Verify passes and returns the same manifest.
func FuzzExtract(f *testing.F) {
	scratch := f.TempDir()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // reused: a new one allocates 1 MB
	f.Fuzz(func(t *testing.T, data []byte, gz bool) {
		tgz := data
		if !gz {
			buf.Reset()
			zw.Reset(&buf)
			zw.Write(data)
			zw.Close()
			tgz = buf.Bytes()
		}
		parent := scratch
		dir := filepath.Join(parent, "b")
		err := Extract(tgz, dir)
		defer os.RemoveAll(dir)
		left, rerr := os.ReadDir(parent)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Extract refused a bundle without ErrInvalid: %v", err)
			}
			if len(left) != 0 {
				t.Fatalf("a refused bundle left %s behind", left[0].Name())
			}
			return
		}
		if len(left) != 1 || left[0].Name() != "b" {
			t.Fatalf("an accepted bundle wrote beside its folder: %v", left)
		}
		m, err := ReadManifest(dir)
		if err != nil {
			t.Fatalf("read the manifest of an accepted bundle: %v", err)
		}
		vm, err := Verify(dir)
		if err != nil {
			t.Fatalf("an accepted bundle does not verify: %v", err)
		}
		if !reflect.DeepEqual(m, vm) {
			t.Fatalf("Verify returned another manifest")
		}
		listed := map[string]bool{ManifestName: true}
		for _, f := range m.Files {
			listed[f.Path] = true
		}
		files := 0
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if !d.Type().IsRegular() || !listed[filepath.ToSlash(rel)] {
				t.Fatalf("an accepted bundle holds %s (%v), which its manifest does not list", rel, d.Type())
			}
			files++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files != len(m.Files)+1 {
			t.Fatalf("an accepted bundle holds %d files, its manifest lists %d", files, len(m.Files))
		}
	})
}
