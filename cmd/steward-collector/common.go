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

func configFlag(fs *flag.FlagSet) {
	fs.String("config", "", "the collector's configuration `file` (required)")
}

func loadConfig(fs *flag.FlagSet) (*config.Config, error) {
	path := fs.Lookup("config").Value.String()
	if path == "" {
		return nil, cli.Usagef("--config is required")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	return cfg, nil
}

// openStore loads the configuration named by --config, opens its store and
// brings the schema up to date.
func openStore(ctx context.Context, fs *flag.FlagSet) (*config.Config, *store.DB, error) {
	return openStoreMigrate(ctx, fs, true)
}

func openStoreMigrate(ctx context.Context, fs *flag.FlagSet, migrate bool) (*config.Config, *store.DB, error) {
	cfg, err := loadConfig(fs)
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

func requireFlags(fs *flag.FlagSet, names ...string) error {
	var missing []error
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			missing = append(missing, fmt.Errorf("--%s is required", n))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}
