package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"github.com/nhs-steward/steward/internal/redact"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nhs-steward/steward/internal/buildinfo"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/schemes"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/wire"
)

func serveCommand() *cli.Command {
	var configFile string
	var check bool
	var every time.Duration
	return &cli.Command{
		Name:    "serve",
		Summary: "run the collector: agent API and dashboard",
		Usage:   "serve --config FILE [--check] [--recalculate-every DURATION]",
		Help: `Runs until SIGTERM or Ctrl-C, then stops accepting connections, lets requests
in flight finish (at most shutdown_timeout: requests still running then are
cut off, unacknowledged, and the exit status is non-zero) and closes the
store. Schema migrations run on start.

A submission is acknowledged only after it is committed to the store.

Every calculated scheme period is recalculated every --recalculate-every
(and before every claim move and export): a resubmission that changes a
declared or approved claim's figures sends it back to calculated, with the
changes in its history.

Every prune_every (and at start) it deletes heartbeat history older than
heartbeat_history_days (each practice's latest is kept), expired sessions,
API tokens and sign-in lockouts, used or expired enrolment codes and old
heartbeat nonces, and logs what it deleted; then it refreshes the store's
planner statistics where figures loaded since made them stale.

With tuf_repository set it also serves that search-bundle repository to
agents (/v1/tuf/), accepts releases from search authors (/v1/bundles, with
the API token of a search_author or admin) and re-signs the short-lived
snapshot and timestamp metadata at start and at least hourly.

Examples:
  steward-collector init-config --out collector.yaml
  steward-collector serve --config collector.yaml --check
  steward-collector serve --config collector.yaml`,
		Flags: func(fs *flag.FlagSet) {
			configFlag(fs, &configFile)
			fs.BoolVar(&check, "check", false, "check the configuration and the store, then exit")
			fs.DurationVar(&every, "recalculate-every", 10*time.Minute, "recalculate every calculated scheme period this `often`, so new figures send claims back to calculated (0: never)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			log := slog.New(slog.NewTextHandler(stdio.Err, nil))
			cfg, db, err := openStoreMigrate(ctx, configFile, !check)
			if err != nil {
				return err
			}
			defer db.Close()
			var repo *tufrepo.Repo
			if cfg.TUFRepository != "" {
				if repo, err = tufrepo.Open(cfg.TUFRepository, tufrepo.Options{Logger: log}); err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
			}
			if check {
				v, err := db.Version(ctx)
				if err != nil {
					return cli.WithCode(cli.ExitDatabase, err)
				}
				fmt.Fprintf(stdio.Out, "configuration ok; %s store %s at schema version %d (this collector migrates to %d on start)\n",
					db.Engine(), redact.URL(cfg.Storage), v, store.SchemaVersion())
				rk, err := describeReceiptKey(cfg.ReceiptKey)
				if err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
				fmt.Fprintln(stdio.Out, rk)
				if repo != nil {
					st, err := repo.Status()
					if err != nil {
						return cli.WithCode(cli.ExitConfig, fmt.Errorf("search bundle repository %s: %w", repo.Dir(), err))
					}
					fmt.Fprintf(stdio.Out, "search bundle repository %s: %s\n", repo.Dir(), describeRepo(st))
				}
				return nil
			}
			receiptKey, made, err := loadReceiptKey(cfg.ReceiptKey)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			if made {
				log.Warn("made a new receipt key: back it up with the store; agents enrolled before pin it at their next delivery", "receipt_key", cfg.ReceiptKey,
					"key_id", wire.KeyID(receiptKey.Public().(ed25519.PublicKey)))
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return cli.WithCode(cli.ExitNetwork, fmt.Errorf("listen on %s: %w", cfg.Listen, err))
			}
			var tls *server.TLS
			if cfg.TLSCert != "" {
				tls = &server.TLS{Cert: cfg.TLSCert, Key: cfg.TLSKey}
			}
			claimSvc := &claims.Service{DB: db}
			opts := server.Options{
				Store: db, Claims: claimSvc, Logger: log, MaxRequestBytes: cfg.MaxRequestBytes,
				SessionLifetime: cfg.SessionLifetime,
				// Browsers accept Secure cookies from http://localhost too.
				SecureCookies: true,
				ReceiptKey:    receiptKey,
				SignIn: web.SignInLimits{
					MemoryBudget: cfg.SignIn.MemoryBudgetMiB << 20, QueueWait: cfg.SignIn.QueueWait,
					AccountLockoutAfter: cfg.SignIn.AccountLockoutAfter, AddressLockoutAfter: cfg.SignIn.AddressLockoutAfter,
					LockoutFor: cfg.SignIn.LockoutDuration, ClientAddressHeader: cfg.SignIn.ClientAddressHeader,
				},
			}
			// The refresh loop stops with the server, before the store closes.
			var background sync.WaitGroup
			bctx, stopBackground := context.WithCancel(ctx)
			if repo != nil {
				opts.Bundles = repo
				background.Go(func() { repo.KeepFresh(bctx, 0) })
			}
			if every > 0 {
				background.Go(func() { recalculateLoop(bctx, log, claimSvc, every) })
			}
			history := time.Duration(cfg.HeartbeatHistoryDays) * 24 * time.Hour
			background.Go(func() { pruneLoop(bctx, log, db, history, cfg.PruneEvery) })
			srv := server.New(opts)
			log.Info("steward-collector serving", "version", buildinfo.String(), "listen", ln.Addr().String(),
				"tls", tls != nil, "store", string(db.Engine()), "icb", cfg.ICB, "tuf_repository", cfg.TUFRepository,
				"sign_in_checks_at_once", srv.Web().SignInChecksAtOnce())
			err = srv.Serve(ctx, ln, tls, cfg.ShutdownTimeout)
			stopBackground()
			background.Wait()
			if err != nil {
				return err
			}
			log.Info("stopped")
			return nil
		},
	}
}

// recalculateLoop recalculates every calculated period each interval until
// ctx ends, logging the claims sent back and paid claims whose figures
// changed.
func recalculateLoop(ctx context.Context, log *slog.Logger, svc *claims.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		outs, err := svc.RecalculateAll(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("recalculate scheme periods", "err", err)
		}
		for _, o := range outs {
			back, closed := 0, 0
			for _, e := range o.Events {
				switch {
				case e.To == schemes.Closed:
					closed++
				case e.From != schemes.Open && e.From != schemes.Closed:
					back++
				}
			}
			log.Info("recalculated", "scheme", o.Scheme, "period", o.Period, "version", o.Version,
				"figure_changes", len(o.Changes), "claims_moved", len(o.Events), "sent_back", back, "closed_nothing_payable", closed)
			if o.PaidChanged != nil {
				log.Warn("figures changed on paid claims: settle outside the scheme", "scheme", o.Scheme, "period", o.Period, "err", o.PaidChanged)
			}
		}
	}
}

// pruneLoop deletes what the store no longer needs, at start and then
// every interval until ctx ends: heartbeat history older than history
// (each practice's latest is kept), nonces older than the replay window,
// expired sessions, tokens and lockouts, used or expired enrolment codes.
func pruneLoop(ctx context.Context, log *slog.Logger, db *store.DB, history, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		now := time.Now()
		p, err := db.Prune(ctx, store.PruneOptions{Now: now, HeartbeatsBefore: now.Add(-history),
			NoncesBefore: now.Add(-2*wire.MaxClockSkew - time.Minute)})
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("prune the store; it is tried again at the next interval", "err", err)
		case err == nil:
			log.Info("pruned the store", "heartbeats", p.Heartbeats, "heartbeat_nonces", p.Nonces, "sessions", p.Sessions,
				"enrolment_codes", p.EnrolmentCodes, "api_tokens", p.APITokens, "lockouts", p.Lockouts)
		}
		// Figures loaded since (a month's submissions, a bulk load) would
		// otherwise be planned for with the old table sizes.
		if err := db.Optimize(ctx); err != nil && ctx.Err() == nil {
			log.Error("refresh the store's planner statistics; it is tried again at the next interval", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// describeRepo says in one line what a search-bundle repository serves.
func describeRepo(st tufrepo.Status) string {
	if st.TargetsVersion == 0 {
		return fmt.Sprintf("root v%d until %s; nothing published yet", st.RootVersion, st.RootExpires.Format(time.DateOnly))
	}
	var packs []string
	for p, v := range st.Latest {
		packs = append(packs, p+" "+v)
	}
	sort.Strings(packs)
	s := fmt.Sprintf("root v%d until %s; targets v%d until %s (%s); timestamp until %s",
		st.RootVersion, st.RootExpires.Format(time.DateOnly), st.TargetsVersion, st.TargetsExpires.Format(time.DateOnly),
		strings.Join(packs, ", "), st.TimestampExpires.Format(time.RFC3339))
	if st.TargetsExpireSoon {
		s += "; warning: the targets expire within 30 days: a search author must re-sign and publish"
	}
	return s
}
