package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/searches/bundle"
)

// tufCommand is "steward-collector tuf": the search-bundle repository.
func tufCommand() *cli.Command {
	return &cli.Command{
		Name:    "tuf",
		Summary: "create and maintain the search-bundle repository (The Update Framework)",
		Help: `Search bundles reach agents through a TUF repository kept in one folder.
The ICB creates it once, offline, with its root keys; the collector serves
it (the tuf_repository key of its configuration) and re-signs the
short-lived snapshot and timestamp metadata. See docs/bundles.md.`,
		Sub: []*cli.Command{tufInitCommand(), tufRefreshCommand()},
	}
}

// fileList is a repeatable flag.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(s string) error { *l = append(*l, s); return nil }

func tufInitCommand() *cli.Command {
	var dir string
	var rootKeys, authorKeys fileList
	var rootThreshold, targetsThreshold, rootDays int
	var tsExpiry, snapExpiry time.Duration
	return &cli.Command{
		Name:    "init",
		Summary: "create the repository: root metadata signed by the ICB's offline root keys",
		Usage:   "init --dir DIR --root-key FILE... --author-key PUBFILE... [flags]",
		Help: `Run this on an offline machine that holds the ICB's root keys (made with
'steward search keygen'). It writes DIR/metadata/1.root.json signed by
every root key, lists the search authors' public keys as the targets
role, and generates the online snapshot and timestamp keys in DIR/keys.
The root private keys are never written to DIR. Then:
  - give DIR/metadata/1.root.json to every agent as its trusted root;
  - copy DIR to the collector and name it as tuf_repository in its
    configuration;
  - put the root keys back in the safe.
  steward-collector tuf init --dir tuf --root-key /media/safe/root-1.key \
      --root-key /media/safe/root-2.key --root-threshold 2 \
      --author-key alice.key.pub --author-key bob.key.pub`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", "", "repository folder to create")
			fs.Var(&rootKeys, "root-key", "an ICB root private key file (repeat for several)")
			fs.Var(&authorKeys, "author-key", "a search author's public key file (repeat for several)")
			fs.IntVar(&rootThreshold, "root-threshold", 1, "root keys needed to sign a new root")
			fs.IntVar(&targetsThreshold, "targets-threshold", 1, "author keys needed to sign a release")
			fs.IntVar(&rootDays, "root-expires-days", 365, "days until the root metadata expires (re-sign offline before then)")
			fs.DurationVar(&tsExpiry, "timestamp-expiry", tufrepo.DefaultExpiry.Timestamp, "validity of the timestamp metadata (online)")
			fs.DurationVar(&snapExpiry, "snapshot-expiry", tufrepo.DefaultExpiry.Snapshot, "validity of the snapshot metadata (online)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if dir == "" || len(rootKeys) == 0 || len(authorKeys) == 0 {
				return cli.Usagef("--dir, at least one --root-key and at least one --author-key are required")
			}
			if fs.NArg() > 0 {
				return cli.Usagef("unexpected argument %q", fs.Arg(0))
			}
			if rootDays < 1 || tsExpiry < time.Hour || snapExpiry < tsExpiry {
				return cli.Usagef("expiries: root at least a day, timestamp at least an hour, snapshot at least the timestamp's")
			}
			var roots []ed25519.PrivateKey
			for _, f := range rootKeys {
				k, err := bundle.LoadPrivateKey(f)
				if err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
				roots = append(roots, k)
			}
			var authors []ed25519.PublicKey
			for _, f := range authorKeys {
				k, err := bundle.LoadPublicKey(f)
				if err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
				authors = append(authors, k)
			}
			_, err := tufrepo.Init(dir, tufrepo.Config{
				AuthorKeys: authors, RootThreshold: rootThreshold, TargetsThreshold: targetsThreshold,
				RootExpiry: time.Duration(rootDays) * 24 * time.Hour,
				Expiry:     tufrepo.Expiry{Timestamp: tsExpiry, Snapshot: snapExpiry},
			}, roots...)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			fmt.Fprintf(stdio.Out, "created the repository in %s\n", dir)
			fmt.Fprintf(stdio.Out, "trusted root for the agents: %s\n", filepath.Join(dir, "metadata", "1.root.json"))
			fmt.Fprintf(stdio.Out, "online keys (collector only): %s\n", filepath.Join(dir, "keys"))
			return nil
		},
	}
}

func tufRefreshCommand() *cli.Command {
	var dir string
	return &cli.Command{
		Name:    "refresh",
		Summary: "re-sign the snapshot and timestamp metadata before they expire",
		Usage:   "refresh --dir DIR",
		Help: `steward-collector serve refreshes its tuf_repository on its own; run this
from a scheduler only when the repository is served without it. Only one
process may write the repository at a time.
  steward-collector tuf refresh --dir /var/lib/steward-collector/tuf`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", "", "repository folder")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			if dir == "" {
				return cli.Usagef("--dir is required")
			}
			if fs.NArg() > 0 {
				return cli.Usagef("unexpected argument %q", fs.Arg(0))
			}
			r, err := tufrepo.Open(dir, tufrepo.Options{})
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			changed, err := r.Refresh()
			if err != nil {
				return err
			}
			st, err := r.Status()
			if err != nil {
				return err
			}
			if st.TargetsVersion == 0 {
				fmt.Fprintln(stdio.Out, "nothing published yet: nothing to refresh")
				return nil
			}
			verb := "still fresh"
			if changed {
				verb = "re-signed"
			}
			fmt.Fprintf(stdio.Out, "%s: timestamp v%d until %s, snapshot v%d until %s\n", verb,
				st.TimestampVersion, st.TimestampExpires.Format(time.RFC3339), st.SnapshotVersion, st.SnapshotExpires.Format(time.RFC3339))
			fmt.Fprintf(stdio.Out, "targets v%d (signed by the authors) until %s\n", st.TargetsVersion, st.TargetsExpires.Format(time.RFC3339))
			if st.TargetsExpireSoon {
				fmt.Fprintln(stdio.Out, "warning: the targets expire within 30 days: a search author must run 'steward search sign --renew' and publish")
			}
			return nil
		},
	}
}
