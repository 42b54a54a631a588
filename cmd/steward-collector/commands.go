package main

import "github.com/nhs-steward/steward/internal/cli"

func commands() []*cli.Command {
	return []*cli.Command{
		serveCommand(),
		practiceCommand(),
		userCommand(),
		initConfigCommand(),
		tufCommand(),
		schemeCommand(),
		reconcileCommand(),
		exportCommand(),
		claimCommand(),
	}
}
