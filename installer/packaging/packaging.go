// Package packaging derives the files the .deb and MSI packages ship from the
// single service definition in installer/service and from the config
// templates the programs themselves write, so that a package, the `install`
// fallback and `init` can never disagree. installer/cmd/genpkg writes them;
// the tests compare the committed and the built packages with them.
package packaging

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	agentconfig "github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/installer/service"
	collectorconfig "github.com/nhs-steward/steward/reporting/collector/config"
)

// Linux paths the .deb packages use.
const (
	LinuxAgentConfig     = "/etc/steward/agent.yaml"
	LinuxCollectorConfig = "/etc/steward/collector.yaml"
	// LinuxUnitDir is where the packages put their systemd units.
	LinuxUnitDir = "/lib/systemd/system"
)

// Windows: the MSI's folders, as MSI properties and as they resolve on a
// standard installation (used to compare with the install fallback).
const (
	// WindowsProgramData is how %ProgramData% usually resolves; the MSI
	// itself uses [CommonAppDataFolder].
	WindowsProgramData = `C:\ProgramData`
)

// AgentLinux and CollectorLinux are the services the .deb packages install.
func AgentLinux() service.Spec     { return service.Agent(LinuxAgentConfig) }
func CollectorLinux() service.Spec { return service.Collector(LinuxCollectorConfig) }

// AgentWindows is the agent service as the MSI installs it on a standard
// Windows installation.
func AgentWindows() service.Spec {
	return service.Agent(WindowsProgramData + `\` + service.WindowsAgentDir + `\` + service.AgentConfigFile)
}

// Units are the systemd unit files of the .deb packages by file name; the
// committed copies under installer/linux must equal them.
func Units() map[string]string {
	units := map[string]string{}
	for _, s := range []service.Spec{AgentLinux(), CollectorLinux()} {
		units[s.Name+".service"] = s.SystemdUnit()
	}
	return units
}

// AgentConfigExample is the commented template `steward-agent init` writes,
// with the data directory each package uses: the unit's StateDirectory on
// Linux, %ProgramData%\Steward\data on Windows.
func AgentConfigExample(goos string) string {
	dataDir := "/var/lib/" + AgentLinux().StateDir
	if goos == "windows" {
		dataDir = WindowsProgramData + `\` + service.WindowsAgentDir + `\data`
	}
	return agentconfig.Template("", dataDir)
}

// CollectorConfigExample is `steward-collector init-config`'s example with
// the store moved to the unit's writable state directory (ProtectSystem=strict
// makes /etc read-only to the service).
func CollectorConfigExample() (string, error) {
	state := "/var/lib/" + CollectorLinux().StateDir
	// Everything the service writes lives in its state directory: the
	// configuration folder is root's and the service account cannot write
	// there, so a key or store "beside this file" would stop the first start.
	out := collectorconfig.Example
	for _, r := range []struct{ from, to string }{
		{`storage: "sqlite:steward-collector.db"`, `storage: "sqlite:` + state + `/steward-collector.db"`},
		{`# receipt_key: steward-collector-receipt.key`, `receipt_key: ` + state + `/steward-collector-receipt.key`},
	} {
		if !strings.Contains(out, r.from) {
			return "", fmt.Errorf("collector example has no line %q: update installer/packaging", r.from)
		}
		out = strings.Replace(out, r.from, r.to, 1)
	}
	return out, nil
}

// Versions are one build's version in each packaging system's syntax.
type Versions struct {
	// Version is what the binaries report (git describe).
	Version string
	// Deb is the Debian package version; it also names the MSI file.
	Deb string
	// MSI is the MSI ProductVersion: numeric major.minor.build with
	// major and minor at most 255 and build at most 65535.
	MSI string
}

var (
	describeTag = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)((?:-[0-9A-Za-z.]+?)?)(?:-(\d+)-g([0-9a-f]+))?$`)
	describeRaw = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
)

// VersionsOf maps `git describe --tags --always --dirty` and the number of
// commits (`git rev-list --count HEAD`) to package versions:
//
//	v1.2.3              → deb 1.2.3              msi 1.2.3
//	v1.2.3-rc1          → deb 1.2.3~rc1          msi 1.2.3
//	v1.2.3-4-gabc1234   → deb 1.2.3+4.gabc1234   msi 1.2.3
//	abc1234 (no tag)    → deb 0.0.N+gabc1234     msi 0.0.N
//	dev (no git)        → deb 0.0.0+dev          msi 0.0.0
//
// "-dirty" adds ".dirty" to the Debian version. Windows Installer compares
// only the three fields, so an MSI built after a tag has the tag's version:
// releases are built from tags.
func VersionsOf(describe string, commits int) (Versions, error) {
	v := Versions{Version: describe}
	if describe == "" || describe == "dev" {
		v.Version, v.Deb, v.MSI = "dev", "0.0.0+dev", "0.0.0"
		return v, nil
	}
	base, dirty := strings.CutSuffix(describe, "-dirty")
	if m := describeTag.FindStringSubmatch(base); m != nil {
		major, minor, patch := atoi(m[1]), atoi(m[2]), atoi(m[3])
		if major > 255 || minor > 255 || patch > 65535 {
			return v, fmt.Errorf("version %s: an MSI needs major and minor at most 255 and patch at most 65535", describe)
		}
		v.MSI = fmt.Sprintf("%d.%d.%d", major, minor, patch)
		v.Deb = v.MSI
		if m[4] != "" {
			v.Deb += "~" + strings.TrimPrefix(m[4], "-")
		}
		if m[5] != "" {
			v.Deb += "+" + m[5] + ".g" + m[6]
		}
		if dirty {
			v.Deb += map[bool]string{true: ".dirty", false: "+dirty"}[m[5] != ""]
		}
		return v, nil
	}
	if describeRaw.MatchString(base) {
		if commits < 0 || commits > 65535 {
			return v, fmt.Errorf("version %s: %d commits do not fit an MSI build number (at most 65535): tag a release", describe, commits)
		}
		v.MSI = fmt.Sprintf("0.0.%d", commits)
		v.Deb = v.MSI + "+g" + base
		if dirty {
			v.Deb += ".dirty"
		}
		return v, nil
	}
	return v, fmt.Errorf("version %q: want git describe output such as v1.2.3, v1.2.3-4-gabc1234 or abc1234", describe)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1 << 30 // only digits reach here; too long for an int fails the range check
	}
	return n
}
