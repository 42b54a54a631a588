//go:build windows

package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// privateACL is a DACL granting full control to the user the process runs
// as, LocalSystem, the Administrators group and NetworkService (the account
// the agent's service runs as), and to no one else. inherit makes the
// entries flow to files and folders created inside a directory.
func privateACL(inherit bool) (*windows.ACL, error) {
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("current user: %w", err)
	}
	sids := []*windows.SID{tu.User.Sid}
	for _, k := range []windows.WELL_KNOWN_SID_TYPE{windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid, windows.WinNetworkServiceSid} {
		s, err := windows.CreateWellKnownSid(k)
		if err != nil {
			return nil, fmt.Errorf("well-known SID %d: %w", k, err)
		}
		if !s.Equals(tu.User.Sid) { // a service running as SYSTEM
			sids = append(sids, s)
		}
	}
	mode := uint32(windows.NO_INHERITANCE)
	if inherit {
		mode = windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT
	}
	entries := make([]windows.EXPLICIT_ACCESS, len(sids))
	for i, s := range sids {
		entries[i] = windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_ALL,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       mode,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeType:  windows.TRUSTEE_IS_UNKNOWN,
				TrusteeValue: windows.TrusteeValueFromSID(s),
			},
		}
	}
	return windows.ACLFromEntries(entries, nil)
}

func setPrivate(path string, inherit bool) error {
	acl, err := privateACL(inherit)
	if err != nil {
		return errRestrict(path, err)
	}
	// PROTECTED: the parent folder's entries (Users: read, for example)
	// no longer flow down to this object.
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
	if err != nil {
		return errRestrict(path, err)
	}
	return nil
}

// RestrictFile replaces path's access list with one for the owner, SYSTEM,
// Administrators and NetworkService only, not inherited from its folder.
func RestrictFile(path string) error {
	if _, err := os.Lstat(path); err != nil {
		return errRestrict(path, err)
	}
	return setPrivate(path, false)
}

// RestrictDir gives directory path the access list of RestrictFile,
// inherited by what is created inside it. perm is for Unix.
func RestrictDir(path string, _ fs.FileMode) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return errRestrict(path, err)
	}
	if !fi.IsDir() {
		return nil
	}
	return setPrivate(path, true)
}

func restrictTree(dir string) error {
	// Setting an inheritable, protected DACL on dir propagates to the
	// files and folders below that inherit; files given explicit entries
	// elsewhere are set one by one.
	if err := RestrictDir(dir, PrivateDir); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case p == dir:
			return nil
		case d.IsDir():
			return RestrictDir(p, PrivateDir)
		case d.Type().IsRegular():
			return RestrictFile(p)
		}
		return nil
	})
}
