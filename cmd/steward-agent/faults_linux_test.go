package main

import "syscall"

// mountTmpfs mounts a tmpfs with options (e.g. "size=512k") on dir.
func mountTmpfs(dir, options string) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, options)
}

func unmount(dir string) { _ = syscall.Unmount(dir, 0) }
