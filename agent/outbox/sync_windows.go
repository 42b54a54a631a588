//go:build windows

package outbox

// syncDir is a no-op on Windows: NTFS journals renames, and directories
// cannot be opened for FlushFileBuffers without backup privileges.
func syncDir(string) error { return nil }
