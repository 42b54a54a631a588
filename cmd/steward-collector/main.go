// Command steward-collector is the ICB's central service: it enrols
// practices, receives their submissions, distributes search bundles,
// reconciles incentive payments and serves the dashboard.
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
		Name:    "steward-collector",
		Summary: "the ICB's Steward service: enrolment, submissions, schemes, payments, dashboard",
		Cmds:    commands(),
	}
}
