//go:build !windows

package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// RestrictFile makes path readable and writable by its owner only (0600),
// whatever the umask made it.
func RestrictFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return errRestrict(path, err)
	}
	if fi.Mode().Perm() == PrivateFile || !fi.Mode().IsRegular() {
		return nil
	}
	if err := os.Chmod(path, PrivateFile); err != nil {
		return errRestrict(path, err)
	}
	return nil
}

// RestrictDir takes group and other permissions away from directory path
// when it has any beyond perm (0700, or 0750 to leave a service group
// able to list it).
func RestrictDir(path string, perm fs.FileMode) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return errRestrict(path, err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&^perm == 0 {
		return nil
	}
	if err := os.Chmod(path, fi.Mode().Perm()&perm); err != nil {
		return errRestrict(path, err)
	}
	return nil
}

func restrictTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return RestrictDir(p, PrivateDir)
		case d.Type().IsRegular():
			return RestrictFile(p)
		}
		return nil
	})
}
