// Command genpkg writes the files the packages are built from, all derived
// from installer/service and the programs' own config templates:
//
//	go run ./installer/cmd/genpkg units DIR       systemd units (committed under installer/linux)
//	go run ./installer/cmd/genpkg configs DIR     agent.yaml.example (linux, windows), collector.yaml.example
//	go run ./installer/cmd/genpkg version DESCRIBE COMMITS
//	                                              shell assignments VERSION, DEB_VERSION, MSI_VERSION
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nhs-steward/steward/installer/packaging"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "genpkg: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: genpkg units DIR | configs DIR | version DESCRIBE COMMITS")
	}
	switch {
	case args[0] == "units" && len(args) == 2:
		files := packaging.Units()
		return writeAll(args[1], files)
	case args[0] == "configs" && len(args) == 2:
		collector, err := packaging.CollectorConfigExample()
		if err != nil {
			return err
		}
		return writeAll(args[1], map[string]string{
			"linux/agent.yaml.example":     packaging.AgentConfigExample("linux"),
			"linux/collector.yaml.example": collector,
			// Notepad-friendly line ends for the Windows copy.
			"windows/agent.yaml.example": crlf(packaging.AgentConfigExample("windows")),
		})
	case args[0] == "version" && len(args) == 3:
		commits, err := strconv.Atoi(args[2])
		if err != nil {
			return fmt.Errorf("commits %q: %w", args[2], err)
		}
		v, err := packaging.VersionsOf(args[1], commits)
		if err != nil {
			return err
		}
		// The values match [0-9A-Za-z.+~-] only, so single quotes are safe.
		fmt.Printf("VERSION='%s'\nDEB_VERSION='%s'\nMSI_VERSION='%s'\n", v.Version, v.Deb, v.MSI)
		return nil
	}
	return fmt.Errorf("usage: genpkg units DIR | configs DIR | version DESCRIBE COMMITS")
}

func writeAll(dir string, files map[string]string) error {
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

func crlf(s string) string {
	out := make([]byte, 0, len(s)+len(s)/20)
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, s[i])
	}
	return string(out)
}
