package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// File and directory modes for data that must stay with the service that
// wrote it (patient-identifiable worklists, the collector's store, the
// agent's queue and state): owner only on Unix. On Windows the same intent
// is an access list: see RestrictFile.
const (
	PrivateFile fs.FileMode = 0o600
	PrivateDir  fs.FileMode = 0o700
)

// CreatePrivate opens path for writing, creating it owner-only if it does
// not exist and truncating it if it does, and narrows an existing file
// before anything is written to it (O_CREATE's mode applies only to new
// files, so without this a file made 0644 earlier would stay readable by
// everyone).
func CreatePrivate(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, PrivateFile)
	if err != nil {
		return nil, err
	}
	if err := RestrictFile(path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// RestrictFiles narrows each of paths that exists (RestrictFile); missing
// ones are skipped.
func RestrictFiles(paths ...string) error {
	var errs []error
	for _, p := range paths {
		if err := RestrictFile(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RestrictTree narrows dir and everything under it: directories with
// RestrictDir, files with RestrictFile. Symbolic links are left alone.
func RestrictTree(dir string) error {
	return restrictTree(dir)
}

func errRestrict(path string, err error) error {
	return fmt.Errorf("restrict access to %s: %w", path, err)
}
