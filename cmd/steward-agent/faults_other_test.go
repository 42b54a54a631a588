//go:build !linux

package main

import "errors"

// mountTmpfs: only Linux mounts a tmpfs; the disk-full test skips elsewhere.
func mountTmpfs(dir, options string) error {
	return errors.New("tmpfs mounts are Linux only")
}

func unmount(string) {}
