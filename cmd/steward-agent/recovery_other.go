//go:build !windows

package main

import (
	"errors"

	"github.com/nhs-steward/steward/internal/cli"
)

func setServiceRecovery(name, startIfConfig string, stdio cli.IO) error {
	return cli.WithCode(cli.ExitUsage, errors.New("service-recovery is for the Windows service manager; "+
		"under systemd the unit's Restart=on-failure and RestartSec= already do this"))
}
