// Command steward is the command line for search authors and for trying
// Steward locally: synthetic practices, searches, packs and reference data.
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
		Name:    "steward",
		Summary: "author, test and run Steward searches; make synthetic practices",
		Help: `Steward measures opioid prescribing for chronic non-cancer pain in GP practices.
This tool is for search authors and for trying everything locally:
  steward synth --patients 5000 --db sqlite:practice.db     make a synthetic practice
  steward run --db sqlite:practice.db --pack medsip --practice Y01234 --as-of 2025-03-31
  steward search lint searches/packs/medsip                  check searches`,
		Cmds: commands(),
	}
}
