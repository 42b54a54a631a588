package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrInvalid marks a bundle that is refused: malformed, unsafe, or not
// matching its manifest.
var ErrInvalid = errors.New("invalid bundle")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// maxManifestSize bounds the manifest entry.
const maxManifestSize = 4 << 20

// Extract unpacks a bundle into dir, which must be empty or not exist. The
// first entry must be the manifest; every other entry must be a regular file
// it lists, with the listed size and SHA-256, and every listed file must be
// present. Absolute paths, .., symbolic and hard links, devices, duplicates
// and oversize content are refused. On error dir is removed: extract into a
// staging folder. The gzip stream, the first entry and the manifest are
// checked before dir is made, so that a malformed bundle touches no disk.
func Extract(tgz []byte, dir string) (err error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return fmt.Errorf("extract bundle: %w", invalidf("not gzip: %v", err))
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return fmt.Errorf("extract bundle: %w", invalidf("no manifest: %v", err))
	}
	if hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg || hdr.Size > maxManifestSize {
		return fmt.Errorf("extract bundle: %w", invalidf("the first entry must be %s, a regular file of at most %d bytes (got %q)", ManifestName, maxManifestSize, hdr.Name))
	}
	mb, err := io.ReadAll(io.LimitReader(tr, maxManifestSize+1))
	if err != nil {
		return fmt.Errorf("extract bundle: %w", invalidf("read manifest: %v", err))
	}
	m, err := parseManifest(mb)
	if err != nil {
		return fmt.Errorf("extract bundle: %w: %w", ErrInvalid, err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("extract bundle: %w", err)
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("extract bundle: %w", err)
	} else if len(ents) > 0 {
		return fmt.Errorf("extract bundle: %s is not empty", dir)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			err = fmt.Errorf("extract bundle: %w", err)
		}
	}()
	if err := writeNew(filepath.Join(dir, ManifestName), bytes.NewReader(mb), nil); err != nil {
		return err
	}

	listed := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return invalidf("read archive: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return invalidf("%q is not a regular file (type %q): links, folders and devices are refused", hdr.Name, hdr.Typeflag)
		}
		if hdr.Linkname != "" {
			return invalidf("%q carries a link target", hdr.Name)
		}
		if err := checkPath(hdr.Name); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		f, ok := listed[hdr.Name]
		if !ok {
			return invalidf("%q is not listed in the manifest", hdr.Name)
		}
		if seen[hdr.Name] {
			return invalidf("%q appears twice", hdr.Name)
		}
		seen[hdr.Name] = true
		if hdr.Size != f.Size {
			return invalidf("%q is %d bytes, the manifest says %d", hdr.Name, hdr.Size, f.Size)
		}
		h := sha256.New()
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeNew(p, archiveReader{hdr.Name, io.LimitReader(tr, f.Size)}, h); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
			return invalidf("%q has SHA-256 %s, the manifest says %s", hdr.Name, got, f.SHA256)
		}
	}
	for _, f := range m.Files {
		if !seen[f.Path] {
			return invalidf("%q is listed in the manifest but missing", f.Path)
		}
	}
	return nil
}

// archiveReader reads an entry's content; a failure to read it (a
// truncated or corrupt archive) is the bundle's fault, ErrInvalid, where a
// failure to write it is the disk's.
type archiveReader struct {
	name string
	r    io.Reader
}

func (a archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = invalidf("read %q: %v", a.name, err)
	}
	return n, err
}

// writeNew creates p (which must not exist) with r's content, also writing
// it to h when h is not nil, and syncs it.
func writeNew(p string, r io.Reader, h io.Writer) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	w := io.Writer(f)
	if h != nil {
		w = io.MultiWriter(f, h)
	}
	if _, err := io.Copy(w, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Verify checks an extracted bundle against its manifest: every listed
// file present with its hash, nothing else but folders, no links. It
// returns the manifest.
func Verify(root string) (*Manifest, error) {
	m, err := ReadManifest(root)
	if err != nil {
		return nil, fmt.Errorf("verify bundle: %w", err)
	}
	listed := make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	seen := 0
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return invalidf("%s is not a regular file", rel)
		}
		if rel == ManifestName {
			return nil
		}
		f, ok := listed[rel]
		if !ok {
			return invalidf("%s is not listed in the manifest", rel)
		}
		sum, err := hashFile(p)
		if err != nil {
			return err
		}
		if sum != f.SHA256 {
			return invalidf("%s has changed: SHA-256 %s, the manifest says %s", rel, sum, f.SHA256)
		}
		seen++
		return nil
	})
	if err == nil && seen != len(m.Files) {
		err = invalidf("%d of the %d listed files are missing", len(m.Files)-seen, len(m.Files))
	}
	if err != nil {
		return nil, fmt.Errorf("verify bundle: %w", err)
	}
	return m, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, MaxFileSize+1)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// PackDirIn returns the pack folder of the bundle extracted at root.
func (m *Manifest) PackDirIn(root string) string {
	return filepath.Join(root, filepath.FromSlash(m.PackDir))
}

// CheckPack is the minimal check of an extracted pack folder: pack.yaml is
// there and declares the pack and version the manifest names. The agent
// passes a stronger check (load and compile every search).
func CheckPack(packDir string, m *Manifest) error {
	id, version, _, err := ReadPack(packDir)
	if err != nil {
		return err
	}
	if id != m.Pack || version != m.Version {
		return fmt.Errorf("pack.yaml declares %s %s, the manifest %s %s", id, version, m.Pack, m.Version)
	}
	return nil
}

// Inspect checks a bundle archive by extracting it into a scratch folder
// under tmpDir ("" for the system's), and returns it with its manifest.
func Inspect(tgz []byte, tmpDir string) (*Bundle, error) {
	scratch, err := os.MkdirTemp(tmpDir, "steward-bundle-")
	if err != nil {
		return nil, fmt.Errorf("inspect bundle: %w", err)
	}
	defer os.RemoveAll(scratch)
	root := filepath.Join(scratch, "b")
	if err := Extract(tgz, root); err != nil {
		return nil, err
	}
	m, err := ReadManifest(root)
	if err != nil {
		return nil, fmt.Errorf("inspect bundle: %w", err)
	}
	sum := sha256.Sum256(tgz)
	return &Bundle{Manifest: *m, SHA256: hex.EncodeToString(sum[:]), Length: int64(len(tgz))}, nil
}
