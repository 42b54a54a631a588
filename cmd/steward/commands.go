package main

import "github.com/nhs-steward/steward/internal/cli"

// commands lists every steward subcommand, in the order --help shows them.
func commands() []*cli.Command {
	return []*cli.Command{
		{
			Name:    "search",
			Summary: "lint, test, print and publish searches",
			Help: `Search authors write searches in YAML (docs/search-language.md), check them
with lint, test them on fixtures, read the SQL each engine runs, and sign and
publish versioned bundles to the ICB's collector: bundle, sign and publish refuse
a pack that fails lint or a fixture case; withdraw and promote change a
published release (docs/bundles.md walks through a release).`,
			Sub: []*cli.Command{
				searchLintCommand(),
				searchTestCommand(),
				searchSQLCommand(),
				searchBundleCommand(),
				searchKeygenCommand(),
				searchSignCommand(),
				searchPublishCommand(),
				searchWithdrawCommand(),
				searchPromoteCommand(),
			},
		},
		runCommand(),
		profileCommand(),
		synthCommand(),
		referenceCommand(),
	}
}
