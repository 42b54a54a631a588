package main

import "github.com/nhs-steward/steward/internal/cli"

// commands lists every steward subcommand, in the order --help shows them.
func commands() []*cli.Command {
	return []*cli.Command{
		referenceCommand(),
	}
}
