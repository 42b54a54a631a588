package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/searches/bundle"
)

// The search author's release commands: keygen, bundle, sign, publish.
// docs/bundles.md walks through a release.

// positionals returns the command's arguments, parsing flags that follow
// them too ("bundle PACKDIR --out FILE"): the flag package stops at the
// first argument that is not a flag.
func positionals(fs *flag.FlagSet) ([]string, error) {
	var args []string
	for fs.NArg() > 0 {
		args = append(args, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, cli.Usagef("%v", err)
		}
	}
	return args, nil
}

// signedTargetsName is the targets metadata file in a signed release folder.
const signedTargetsName = "targets.json"

func searchKeygenCommand() *cli.Command {
	var out string
	return &cli.Command{
		Name:    "keygen",
		Summary: "make a search author's signing key",
		Usage:   "keygen --out FILE",
		Help: `Writes an ed25519 private key to FILE (mode 0600) and its public key to
FILE.pub. Keep the private key on your own machine; send FILE.pub to the
ICB, which adds it to the repository's root as a search author (targets)
key. The ICB makes its offline root keys the same way.
  steward search keygen --out ~/.steward/author.key`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "private key file to create (never overwritten)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if out == "" {
				return cli.Usagef("--out is required")
			}
			if len(args) > 0 {
				return cli.Usagef("unexpected argument %q", args[0])
			}
			if _, err := bundle.GenerateKey(out); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Out, "wrote %s (private, keep it) and %s.pub (send it to the ICB)\n", out, out)
			return nil
		},
	}
}

func searchBundleCommand() *cli.Command {
	var out, created string
	return &cli.Command{
		Name:    "bundle",
		Summary: "build a pack's bundle (tar.gz) with its codelists and reference tables",
		Usage:   "bundle PACKDIR --out FILE [--created TIME]",
		Help: `Packs the pack folder and every file its searches reference (path: keys)
into a deterministic tar.gz with a manifest of SHA-256 hashes. The same
files and --created time give the same bytes.
  steward search bundle searches/packs/medsip --out medsip.tar.gz`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "archive to write")
			fs.StringVar(&created, "created", "", "creation time for the manifest, RFC 3339 (default now, or SOURCE_DATE_EPOCH)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return cli.Usagef("give one pack folder")
			}
			if out == "" {
				return cli.Usagef("--out is required")
			}
			t, err := createdTime(created)
			if err != nil {
				return err
			}
			b, tgz, err := bundle.Build(args[0], bundle.WithCreated(t))
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			if err := writeFile(out, func(w io.Writer) error { _, err := w.Write(tgz); return err }); err != nil {
				return err
			}
			printBundle(stdio, b, out)
			return nil
		},
	}
}

func createdTime(s string) (time.Time, error) {
	if s == "" {
		if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
			var sec int64
			if _, err := fmt.Sscan(e, &sec); err != nil {
				return time.Time{}, cli.Usagef("SOURCE_DATE_EPOCH=%q is not a number of seconds", e)
			}
			return time.Unix(sec, 0).UTC(), nil
		}
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, cli.Usagef("--created %q is not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)", s)
	}
	return t, nil
}

func printBundle(stdio cli.IO, b *bundle.Bundle, out string) {
	fmt.Fprintf(stdio.Out, "%s %s: %d files, %d bytes, sha256 %s\n", b.Manifest.Pack, b.Manifest.Version, len(b.Manifest.Files), b.Length, b.SHA256)
	fmt.Fprintf(stdio.Out, "wrote %s (TUF target %s)\n", out, b.Target())
}

func searchSignCommand() *cli.Command {
	var key, root, repo, out string
	var days int
	var renew bool
	return &cli.Command{
		Name:    "sign",
		Summary: "sign the next release of the bundle repository with your author key",
		Usage:   "sign --key KEY --root ROOT.json --repo-metadata DIR_OR_URL [--expires-days N] [--out DIR] PACKDIR|BUNDLE.tar.gz",
		Help: `Reads the repository's current targets metadata (from the collector's URL
or a copy of its repository folder), checks it against the trusted root
the agents pin, adds the bundle (built from PACKDIR, or a .tar.gz made by
'steward search bundle') as the next version, and signs the result with
your key. Nothing is uploaded: review the listed targets, then run
'steward search publish'. The bundle's version must be above every
published version of its pack.
  steward search sign --key ~/.steward/author.key --root root.json \
      --repo-metadata https://collector.example.nhs.uk searches/packs/medsip
With --renew and no bundle, re-signs the current targets with a new expiry
(agents report stale once the targets expire).`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&key, "key", "", "your author private key (from 'steward search keygen')")
			fs.StringVar(&root, "root", "", "the trusted root.json the ICB gave the agents")
			fs.StringVar(&repo, "repo-metadata", "", "collector URL or repository folder to read the current targets from")
			fs.IntVar(&days, "expires-days", 180, "days until the signed targets expire")
			fs.StringVar(&out, "out", "", "folder to write targets.json and the bundle to (default signed-PACK-VERSION)")
			fs.BoolVar(&renew, "renew", false, "re-sign the current targets without a new bundle")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if key == "" || root == "" || repo == "" {
				return cli.Usagef("--key, --root and --repo-metadata are required")
			}
			if days < 1 {
				return cli.Usagef("--expires-days must be at least 1")
			}
			if renew != (len(args) == 0) || len(args) > 1 {
				return cli.Usagef("give one pack folder or bundle, or --renew alone")
			}
			priv, err := bundle.LoadPrivateKey(key)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			rootJSON, err := os.ReadFile(root)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("read trusted root: %w", err))
			}
			var b *bundle.Bundle
			var tgz []byte
			if !renew {
				if b, tgz, err = loadOrBuild(args[0]); err != nil {
					return cli.WithCode(cli.ExitConfig, err)
				}
			}
			client := &http.Client{Timeout: 2 * time.Minute}
			cur, err := tufrepo.CurrentTargets(ctx, client, repo)
			if err != nil {
				return cli.WithCode(cli.ExitNetwork, fmt.Errorf("read current targets: %w", err))
			}
			if renew && cur == nil {
				return cli.WithCode(cli.ExitConfig, errors.New("nothing is published yet: there is nothing to renew"))
			}
			now := time.Now()
			s, err := bundle.Sign(bundle.SignRequest{
				Current: cur, TrustedRoot: rootJSON, Bundle: b, Key: priv,
				Expires: now.Add(time.Duration(days) * 24 * time.Hour), Now: now,
			})
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			if out == "" {
				out = fmt.Sprintf("signed-targets-v%d", s.Version)
				if b != nil {
					out = "signed-" + b.Manifest.Pack + "-" + b.Manifest.Version
				}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, signedTargetsName), s.Targets, 0o644); err != nil {
				return err
			}
			if b != nil {
				if err := os.WriteFile(filepath.Join(out, b.Manifest.Version+".tar.gz"), tgz, 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdio.Out, "signed targets version %d, expiring %s, listing:\n", s.Version, now.Add(time.Duration(days)*24*time.Hour).UTC().Format(time.RFC3339))
			for _, n := range s.Names {
				mark := ""
				if b != nil && n == b.Target() {
					mark = "  (new)"
				}
				fmt.Fprintf(stdio.Out, "  %s%s\n", n, mark)
			}
			fmt.Fprintf(stdio.Out, "wrote %s; publish it with: steward search publish --collector URL --token TOKEN_FILE %s\n", out, out)
			return nil
		},
	}
}

// loadOrBuild reads a bundle archive, or builds one from a pack folder.
func loadOrBuild(arg string) (*bundle.Bundle, []byte, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		return bundle.Build(arg)
	}
	tgz, err := os.ReadFile(arg)
	if err != nil {
		return nil, nil, err
	}
	b, err := bundle.Inspect(tgz, "")
	if err != nil {
		return nil, nil, err
	}
	return b, tgz, nil
}

func searchPublishCommand() *cli.Command {
	var collector, tokenFile string
	return &cli.Command{
		Name:    "publish",
		Summary: "upload a signed release to the collector",
		Usage:   "publish --collector URL --token TOKEN_FILE SIGNED_DIR",
		Help: `Uploads the targets.json and bundle that 'steward search sign' wrote. The
collector checks your signature against the root's author keys, the
versions and the bundle's hash, then serves it to agents. The upload token
is read from a file (never give secrets on the command line).
  steward search publish --collector https://collector.example.nhs.uk \
      --token ~/.steward/publish.token signed-medsip-2026.2.0`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&collector, "collector", "", "collector URL")
			fs.StringVar(&tokenFile, "token", "", "file holding the collector's publish token")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if collector == "" || tokenFile == "" {
				return cli.Usagef("--collector and --token are required")
			}
			if len(args) != 1 {
				return cli.Usagef("give the folder 'steward search sign' wrote")
			}
			dir := args[0]
			tb, err := os.ReadFile(tokenFile)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("read token: %w", err))
			}
			token := strings.TrimSpace(string(tb))
			targets, err := os.ReadFile(filepath.Join(dir, signedTargetsName))
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("read signed release: %w", err))
			}
			matches, err := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
			if err != nil || len(matches) > 1 {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("%s holds %d bundles: expected at most one", dir, len(matches)))
			}
			var tgz []byte
			if len(matches) == 1 {
				if tgz, err = os.ReadFile(matches[0]); err != nil {
					return err
				}
			}
			client := &http.Client{Timeout: 5 * time.Minute}
			p, err := tufrepo.Upload(ctx, client, collector, token, targets, tgz)
			if err != nil {
				var ue *tufrepo.UploadError
				if errors.As(err, &ue) {
					return err
				}
				return cli.WithCode(cli.ExitNetwork, err)
			}
			if p.Target != "" {
				fmt.Fprintf(stdio.Out, "published %s %s (%s)\n", p.Pack, p.Version, p.Target)
			} else {
				fmt.Fprintln(stdio.Out, "published re-signed targets")
			}
			fmt.Fprintf(stdio.Out, "targets v%d, snapshot v%d, timestamp v%d: agents pick it up at their next update\n",
				p.TargetsVersion, p.SnapshotVersion, p.TimestampVersion)
			return nil
		},
	}
}
