//go:build windows

package fsutil

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// TestRestrictFileWindows reads the access list back: protected (nothing
// inherited from the folder) and four entries (the user, SYSTEM,
// Administrators, NetworkService). It runs only on Windows.
func TestRestrictFileWindows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "collector.db")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RestrictFile(p); err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		t.Fatal(err)
	}
	if ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Fatal("the DACL is not protected: the folder's entries still flow down")
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	// Four, or three when the test runs as SYSTEM or NetworkService.
	if got := dacl.AceCount; got < 3 || got > 4 {
		t.Fatalf("DACL has %d entries, want 4 (the user, SYSTEM, Administrators, NetworkService)", got)
	}
}
