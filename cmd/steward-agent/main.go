// Command steward-agent is the practice service: on a schedule it runs the
// signed search bundle against the practice's reporting database and delivers
// anonymised aggregates to the ICB's collector.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nhs-steward/steward/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := program().Do(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

func program() *cli.Program {
	return &cli.Program{
		Name:    "steward-agent",
		Summary: "run Steward searches at a GP practice and send only aggregates to the ICB",
		Help: `Install once, then forget: the agent reads the practice's reporting database
read-only, computes the MedSIP measures each month and sends anonymised figures
to the ICB's collector. Patient-level data never leaves the practice.`,
		Cmds: commands(),
	}
}
