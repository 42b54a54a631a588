package main

import (
	"context"
	"flag"

	"github.com/nhs-steward/steward/installer/service"
	"github.com/nhs-steward/steward/internal/cli"
)

// serviceRecoveryCommand sets what Windows does when the agent's service
// fails. The MSI runs it as a deferred custom action right after it creates
// the service, because wixl cannot write ServiceConfig/failure actions; the
// values come from installer/service, like those of `install`.
func serviceRecoveryCommand() *cli.Command {
	var name, startIfConfig string
	return &cli.Command{
		Name:    "service-recovery",
		Summary: "set the Windows service's recovery actions (the installer runs this)",
		Usage:   "service-recovery [--name NAME] [--start-if-config FILE]",
		Help: `Sets the service to restart 60 seconds after any failure (a crash or an exit
with an error), forgets earlier failures after a day, and makes its automatic
start delayed, like 'steward-agent install' does. Needs an administrator.

With --start-if-config the service is also started when FILE exists, so that
upgrading a configured agent does not leave it stopped. A missing FILE is not
an error: an agent that has not been configured is never started.

Windows only; on Linux the systemd unit does the same (Restart=on-failure).

Example (what the MSI runs):
  steward-agent service-recovery --start-if-config "C:\ProgramData\Steward\agent.yaml"`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", service.Agent("").Name, "the service `name`")
			fs.StringVar(&startIfConfig, "start-if-config", "", "start the service if this config `file` exists")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if fs.NArg() > 0 {
				return cli.Usagef("unexpected argument %q", fs.Arg(0))
			}
			return setServiceRecovery(name, startIfConfig, stdio)
		},
	}
}
