// Package buildinfo carries the version stamped into every binary at link
// time (make sets it from git; a plain `go build` reports the module version
// or "dev").
package buildinfo

import "runtime/debug"

// Version is set with -ldflags "-X .../internal/buildinfo.Version=v1.2.3".
var Version = ""

// String returns the version of this build.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
