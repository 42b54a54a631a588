package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/config"
)

func initConfigCommand() *cli.Command {
	var out string
	return &cli.Command{
		Name:    "init-config",
		Summary: "write a commented example configuration",
		Usage:   "init-config [--out FILE]",
		Help: `Without --out the example goes to standard output. An existing file is never
overwritten. Edit icb (and listen/tls for a real deployment), then run
'steward-collector serve --config FILE --check'.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "write to this `file` instead of standard output")
		},
		Run: func(ctx context.Context, _ *flag.FlagSet, stdio cli.IO) error {
			if out == "" {
				_, err := fmt.Fprint(stdio.Out, config.Example)
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists: not overwriting it", out)
			}
			if err != nil {
				return fmt.Errorf("write example config: %w", err)
			}
			if _, err := f.WriteString(config.Example); err != nil {
				f.Close()
				return fmt.Errorf("write example config: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write example config: %w", err)
			}
			fmt.Fprintf(stdio.Err, "wrote %s: set icb, then run 'steward-collector serve --config %s --check'\n", out, out)
			return nil
		},
	}
}
