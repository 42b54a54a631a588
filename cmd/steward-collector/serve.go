package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:    "serve",
		Summary: "run the collector: agent API and dashboard",
		Usage:   "serve --config FILE [--check]",
		Help: `Runs until SIGTERM or Ctrl-C, then stops accepting connections, lets requests
in flight finish and closes the store. Schema migrations run on start.

A submission is acknowledged only after it is committed to the store.

Examples:
  steward-collector init-config --out collector.yaml
  steward-collector serve --config collector.yaml --check
  steward-collector serve --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs)
			fs.Bool("check", false, "check the configuration and the store, then exit")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			log := slog.New(slog.NewTextHandler(stdio.Err, nil))
			check := fs.Lookup("check").Value.String() == "true"
			cfg, db, err := openStoreMigrate(ctx, fs, !check)
			if err != nil {
				return err
			}
			defer db.Close()
			if check {
				v, err := db.Version(ctx)
				if err != nil {
					return cli.WithCode(cli.ExitDatabase, err)
				}
				fmt.Fprintf(stdio.Out, "configuration ok; %s store %s at schema version %d (this collector migrates to %d on start)\n",
					db.Engine(), store.Redact(cfg.Storage), v, store.SchemaVersion())
				return nil
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return cli.WithCode(cli.ExitNetwork, fmt.Errorf("listen on %s: %w", cfg.Listen, err))
			}
			var tls *server.TLS
			if cfg.TLSCert != "" {
				tls = &server.TLS{Cert: cfg.TLSCert, Key: cfg.TLSKey}
			}
			srv := server.New(server.Options{
				Store: db, Logger: log, MaxRequestBytes: cfg.MaxRequestBytes,
				SessionLifetime: cfg.SessionLifetime,
				// Browsers accept Secure cookies from http://localhost too.
				SecureCookies: true,
			})
			log.Info("steward-collector serving", "version", buildinfo.String(), "listen", ln.Addr().String(),
				"tls", tls != nil, "store", string(db.Engine()), "icb", cfg.ICB)
			if err := srv.Serve(ctx, ln, tls, cfg.ShutdownTimeout); err != nil {
				return err
			}
			log.Info("stopped")
			return nil
		},
	}
}
