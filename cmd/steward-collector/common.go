package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/config"
	"github.com/nhs-steward/steward/reporting/collector/store"
)

// cliActor names the command line in the audit log.
const cliActor = "cli"

// configFlag declares --config, read into path.
func configFlag(fs *flag.FlagSet, path *string) {
	fs.StringVar(path, "config", "", "the collector's configuration `file` (required)")
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return nil, cli.Usagef("--config is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return cfg, nil
}

// openStore loads the configuration file path (--config), opens its store
// and brings the schema up to date.
func openStore(ctx context.Context, path string) (*config.Config, *store.DB, error) {
	return openStoreMigrate(ctx, path, true)
}

func openStoreMigrate(ctx context.Context, path string, migrate bool) (*config.Config, *store.DB, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	db, err := store.Open(ctx, cfg.Storage)
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitDatabase, err)
	}
	if !migrate {
		return cfg, db, nil
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, nil, cli.WithCode(cli.ExitDatabase, err)
	}
	return cfg, db, nil
}

// need pairs a required flag's name with the value it was given.
type need struct{ flag, value string }

// requireFlags refuses, as one usage error, every required flag left empty.
func requireFlags(needs ...need) error {
	var missing []error
	for _, n := range needs {
		if n.value == "" {
			missing = append(missing, fmt.Errorf("--%s is required", n.flag))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}
