//go:build !windows

package main

import (
	"github.com/nhs-steward/steward/agent/config"
	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

// installService writes and enables the systemd unit the .deb installs
// (the unit carries the recovery policy: Restart=on-failure).
func installService(spec service.Spec, exe string, _ *config.Config, _ cli.IO) error {
	svc, err := service.New(spec, exe, &service.Program{})
	if err != nil {
		return err
	}
	return service.Control(svc, "install")
}

// uninstallService removes the unit; config and data are kept.
func uninstallService(spec service.Spec, _ cli.IO) error {
	svc, err := service.New(spec, "", &service.Program{})
	if err != nil {
		return err
	}
	return service.Control(svc, "uninstall")
}
