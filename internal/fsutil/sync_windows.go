//go:build windows

package fsutil

// SyncDir is a no-op on Windows: NTFS journals renames, and directories
// cannot be opened for FlushFileBuffers without backup privileges.
func SyncDir(string) error { return nil }
