package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/searches/bundle"
)

// The search author's release commands: keygen, bundle, sign, publish.
// docs/bundles.md walks through a release.

// positionals returns the command's arguments, parsing flags that follow
// them too ("bundle PACKDIR --out FILE").
func positionals(fs *flag.FlagSet) ([]string, error) { return cli.Args(fs) }

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
	var out, created, notes, previous string
	return &cli.Command{
		Name:    "bundle",
		Summary: "build a pack's bundle (tar.gz) with its codelists, reference tables and release notes",
		Usage:   "bundle PACKDIR --out FILE --notes FILE [--previous BUNDLE.tar.gz|PACKDIR] [--created TIME]",
		Help: `Lints the pack and runs every fixture case (*.test.yaml) in its folder on the
reference evaluator and SQLite; a problem or a failed case refuses the release.
Then packs the pack folder and every file its searches reference (path: keys)
into a deterministic tar.gz with a manifest of SHA-256 hashes, and release.json:
your notes (--notes, plain text for the practice managers who approve it) and a
summary of what changed against --previous (the bundle or pack folder of the
version practices run now): measures added, removed or changed, parameters,
codelist codes and reference tables. Without --previous the bundle is a first
release. The same files and --created time give the same bytes.

'steward search sign' can build the bundle itself, comparing with what the
collector publishes; build here to inspect a release first.
  steward search bundle searches/packs/medsip --notes NOTES.txt \
      --previous medsip-2026.1.0.tar.gz --out medsip.tar.gz`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "archive to write")
			fs.StringVar(&created, "created", "", "creation time for the manifest, RFC 3339 (default now, or SOURCE_DATE_EPOCH)")
			fs.StringVar(&notes, "notes", "", "file holding the release notes (plain text)")
			fs.StringVar(&previous, "previous", "", "the version practices run now, to summarise what changed: its bundle (.tar.gz) or pack folder")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return cli.Usagef("give one pack folder")
			}
			if out == "" || notes == "" {
				return cli.Usagef("--out and --notes are required")
			}
			t, err := createdTime(created)
			if err != nil {
				return err
			}
			text, err := readNotes(notes)
			if err != nil {
				return err
			}
			if err := releaseGate(ctx, args[0], stdio); err != nil {
				return err
			}
			prevDir, cleanup, err := previousPack(previous)
			defer cleanup()
			if err != nil {
				return cli.WithCode(cli.ExitConfig, fmt.Errorf("--previous: %w", err))
			}
			rel, err := bundle.NewRelease(args[0], text, prevDir)
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			b, tgz, err := bundle.Build(args[0], bundle.WithCreated(t), bundle.WithRelease(rel))
			if err != nil {
				return cli.WithCode(cli.ExitConfig, err)
			}
			if err := writeFile(out, func(w io.Writer) error { _, err := w.Write(tgz); return err }); err != nil {
				return err
			}
			printRelease(stdio, rel)
			printBundle(stdio, b, out)
			return nil
		},
	}
}

// readNotes reads and checks a release-notes file.
func readNotes(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", cli.WithCode(cli.ExitConfig, fmt.Errorf("--notes: %w", err))
	}
	if err := bundle.CheckNotes(string(b)); err != nil {
		return "", cli.WithCode(cli.ExitConfig, fmt.Errorf("--notes %s: %w", path, err))
	}
	return string(b), nil
}

// previousPack returns the pack folder of --previous: the folder itself,
// or a bundle extracted into a temporary folder.
func previousPack(arg string) (string, func(), error) {
	if arg == "" {
		return "", func() {}, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return "", func() {}, err
	}
	if fi.IsDir() {
		return arg, func() {}, nil
	}
	tgz, err := os.ReadFile(arg)
	if err != nil {
		return "", func() {}, err
	}
	x, cleanup, err := extract(tgz)
	if err != nil {
		return "", cleanup, err
	}
	return x.packDir(), cleanup, nil
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

// signFlags are the flags every command that signs targets shares.
type signFlags struct {
	key, root, repo, out string
	days                 int
}

func (sf *signFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.key, "key", "", "your author private key (from 'steward search keygen')")
	fs.StringVar(&sf.root, "root", "", "the trusted root.json the ICB gave the agents")
	fs.StringVar(&sf.repo, "repo-metadata", "", "collector URL or repository folder to read the current targets from")
	fs.IntVar(&sf.days, "expires-days", 180, "days until the signed targets expire")
	fs.StringVar(&sf.out, "out", "", "folder to write the signed release to")
}

// repository is what a signing command reads before it signs.
type repository struct {
	key     ed25519.PrivateKey
	root    []byte
	current []byte                           // nil before the first publish
	targets map[string]*metadata.TargetFiles // verified against root
	client  *http.Client
}

func (sf *signFlags) open(ctx context.Context) (*repository, error) {
	if sf.key == "" || sf.root == "" || sf.repo == "" {
		return nil, cli.Usagef("--key, --root and --repo-metadata are required")
	}
	if sf.days < 1 {
		return nil, cli.Usagef("--expires-days must be at least 1")
	}
	r := &repository{client: &http.Client{Timeout: 2 * time.Minute}}
	var err error
	if r.key, err = bundle.LoadPrivateKey(sf.key); err != nil {
		return nil, cli.WithCode(cli.ExitConfig, err)
	}
	if r.root, err = os.ReadFile(sf.root); err != nil {
		return nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("read trusted root: %w", err))
	}
	if r.current, err = tufrepo.CurrentTargets(ctx, r.client, sf.repo); err != nil {
		return nil, cli.WithCode(cli.ExitNetwork, fmt.Errorf("read current targets: %w", err))
	}
	if r.current != nil {
		if r.targets, err = bundle.VerifyTargets(r.current, r.root); err != nil {
			return nil, cli.WithCode(cli.ExitConfig, err)
		}
	}
	return r, nil
}

// sign signs req against the repository and writes targets.json (and the
// bundle, if any) to the output folder.
func (sf *signFlags) sign(stdio cli.IO, r *repository, req bundle.SignRequest, tgz []byte, defaultOut, what string) error {
	now := time.Now()
	req.Current, req.TrustedRoot, req.Key = r.current, r.root, r.key
	req.Expires, req.Now = now.Add(time.Duration(sf.days)*24*time.Hour), now
	s, err := bundle.Sign(req)
	if err != nil {
		return cli.WithCode(cli.ExitConfig, err)
	}
	out := sf.out
	if out == "" {
		out = defaultOut
		if out == "" {
			out = fmt.Sprintf("signed-targets-v%d", s.Version)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if old, _ := filepath.Glob(filepath.Join(out, "*.tar.gz")); len(old) > 0 {
		return cli.WithCode(cli.ExitConfig, fmt.Errorf("%s already holds %s: give another --out", out, filepath.Base(old[0])))
	}
	if err := os.WriteFile(filepath.Join(out, signedTargetsName), s.Targets, 0o644); err != nil {
		return err
	}
	if req.Bundle != nil {
		if err := os.WriteFile(filepath.Join(out, req.Bundle.Manifest.Version+".tar.gz"), tgz, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdio.Out, "signed targets version %d, expiring %s, listing:\n", s.Version, req.Expires.UTC().Format(time.RFC3339))
	targets, _ := bundle.VerifyTargets(s.Targets, r.root)
	for _, n := range s.Names {
		fmt.Fprintf(stdio.Out, "  %s%s\n", n, describeTarget(n, targets[n], req))
	}
	fmt.Fprintf(stdio.Out, "wrote %s%s; publish it with: steward search publish --collector URL --token TOKEN_FILE %s\n", out, what, out)
	return nil
}

// describeTarget marks, in sign's listing, what a target is.
func describeTarget(name string, tf *metadata.TargetFiles, req bundle.SignRequest) string {
	var marks []string
	if req.Bundle != nil && name == req.Bundle.Target() {
		marks = append(marks, "new")
	}
	if c, err := bundle.TargetOf(name, tf); err == nil {
		if len(c.Pilot) > 0 {
			marks = append(marks, "pilot: "+strings.Join(c.Pilot, ", "))
		}
		if c.Withdrawn != nil {
			marks = append(marks, "withdrawn: "+c.Withdrawn.Reason)
		}
		if req.Promote == c.Version && req.Pack == c.Pack {
			marks = append(marks, "promoted to every practice")
		}
	}
	if len(marks) == 0 {
		return ""
	}
	return "  (" + strings.Join(marks, "; ") + ")"
}

func searchSignCommand() *cli.Command {
	var sf signFlags
	var notes, pilot string
	var renew bool
	return &cli.Command{
		Name:    "sign",
		Summary: "sign the next release of the bundle repository with your author key",
		Usage:   "sign --key KEY --root ROOT.json --repo-metadata DIR_OR_URL [--notes FILE] [--pilot ODS,...] [--expires-days N] [--out DIR] PACKDIR|BUNDLE.tar.gz",
		Help: `Reads the repository's current targets metadata (from the collector's URL
or a copy of its repository folder), checks it against the trusted root
the agents pin, and adds the release as the next version, signed with your key.

From a pack folder (with --notes FILE) it builds the bundle: lint and every
fixture case must pass (on the reference evaluator and SQLite), and the release
notes summarise what changed against the newest version published that is not
withdrawn, fetched from the repository. A bundle made by 'steward search bundle'
must pass the same gate and compare with that same version (--previous).

--pilot limits the release to those practices (ODS codes) until
'steward search promote' opens it to all. Nothing is uploaded: review the listed
targets, then run 'steward search publish'. The bundle's version must be above
every published version of its pack.
  steward search sign --key ~/.steward/author.key --root root.json \
      --repo-metadata https://collector.example.nhs.uk --notes NOTES.txt \
      searches/packs/medsip
With --renew and no bundle, re-signs the current targets with a new expiry
(agents report stale once the targets expire).`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.StringVar(&notes, "notes", "", "file holding the release notes (needed when signing a pack folder)")
			fs.StringVar(&pilot, "pilot", "", "comma-separated ODS codes of the practices that get the release first")
			fs.BoolVar(&renew, "renew", false, "re-sign the current targets without a new bundle")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if renew != (len(args) == 0) || len(args) > 1 {
				return cli.Usagef("give one pack folder or bundle, or --renew alone")
			}
			if renew && (notes != "" || pilot != "") {
				return cli.Usagef("--renew takes no --notes or --pilot")
			}
			r, err := sf.open(ctx)
			if err != nil {
				return err
			}
			if renew {
				if r.current == nil {
					return cli.WithCode(cli.ExitConfig, errors.New("nothing is published yet: there is nothing to renew"))
				}
				return sf.sign(stdio, r, bundle.SignRequest{}, nil, "", "")
			}
			b, tgz, err := releaseBundle(ctx, stdio, r, sf.repo, args[0], notes)
			if err != nil {
				return err
			}
			return sf.sign(stdio, r, bundle.SignRequest{Bundle: b, Pilot: splitList(pilot)}, tgz,
				"signed-"+b.Manifest.Pack+"-"+b.Manifest.Version, "")
		},
	}
}

// releaseBundle builds the release from a pack folder, or reads a built
// one, passing it through the gate and checking its summary compares with
// the newest version the repository publishes that is not withdrawn.
func releaseBundle(ctx context.Context, stdio cli.IO, r *repository, source, arg, notes string) (*bundle.Bundle, []byte, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitConfig, err)
	}
	if fi.IsDir() {
		if notes == "" {
			return nil, nil, cli.Usagef("--notes FILE is required to sign a pack folder: practice managers read it before they approve")
		}
		text, err := readNotes(notes)
		if err != nil {
			return nil, nil, err
		}
		pack, _, _, err := bundle.ReadPack(arg)
		if err != nil {
			return nil, nil, cli.WithCode(cli.ExitConfig, err)
		}
		if err := releaseGate(ctx, arg, stdio); err != nil {
			return nil, nil, err
		}
		prev, cleanup, err := baselinePack(ctx, r, source, pack)
		defer cleanup()
		if err != nil {
			return nil, nil, err
		}
		rel, err := bundle.NewRelease(arg, text, prev)
		if err != nil {
			return nil, nil, cli.WithCode(cli.ExitConfig, err)
		}
		b, tgz, err := bundle.Build(arg, bundle.WithRelease(rel))
		if err != nil {
			return nil, nil, cli.WithCode(cli.ExitConfig, err)
		}
		printRelease(stdio, rel)
		return b, tgz, nil
	}
	if notes != "" {
		return nil, nil, cli.Usagef("--notes goes with a pack folder: a built bundle carries its notes")
	}
	tgz, err := os.ReadFile(arg)
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitConfig, err)
	}
	x, cleanup, err := extract(tgz)
	defer cleanup()
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("%s: %w", arg, err))
	}
	if err := releaseGate(ctx, x.packDir(), stdio); err != nil {
		return nil, nil, err
	}
	if x.release == nil {
		return nil, nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("%s has no release notes: build it again with 'steward search bundle --notes FILE', or sign the pack folder", arg))
	}
	base, _, err := bundle.Baseline(r.targets, x.manifest.Pack)
	if err != nil {
		return nil, nil, cli.WithCode(cli.ExitConfig, err)
	}
	if x.release.Previous != base {
		return nil, nil, cli.WithCode(cli.ExitConfig, fmt.Errorf("%s summarises changes since %s, but practices run %s (the newest version published that is not withdrawn): build it again with --previous for that version, or sign the pack folder",
			arg, orNone(x.release.Previous), orNone(base)))
	}
	printRelease(stdio, x.release)
	sum := sha256.Sum256(tgz)
	return &bundle.Bundle{Manifest: *x.manifest, SHA256: hex.EncodeToString(sum[:]), Length: int64(len(tgz))}, tgz, nil
}

func orNone(v string) string {
	if v == "" {
		return "none (a first release)"
	}
	return v
}

// baselinePack fetches the newest non-withdrawn published version of pack
// from the repository, checked against the verified targets, and returns
// its pack folder ("" when there is none).
func baselinePack(ctx context.Context, r *repository, source, pack string) (string, func(), error) {
	version, name, err := bundle.Baseline(r.targets, pack)
	if err != nil || version == "" {
		return "", func() {}, err
	}
	tgz, err := tufrepo.FetchTarget(ctx, r.client, source, name, r.targets[name])
	if err != nil {
		return "", func() {}, cli.WithCode(cli.ExitNetwork, fmt.Errorf("fetch the published %s %s to compare with: %w", pack, version, err))
	}
	x, cleanup, err := extract(tgz)
	if err != nil {
		return "", cleanup, cli.WithCode(cli.ExitConfig, fmt.Errorf("the published %s %s: %w", pack, version, err))
	}
	return x.packDir(), cleanup, nil
}

func searchWithdrawCommand() *cli.Command {
	var sf signFlags
	var reason, pack string
	return &cli.Command{
		Name:    "withdraw",
		Summary: "sign the withdrawal of a published version: agents stop running it",
		Usage:   "withdraw VERSION --reason TEXT --key KEY --root ROOT.json --repo-metadata DIR_OR_URL [--pack ID] [--out DIR]",
		Help: `Marks a published version withdrawn in the next targets metadata, with your
reason, signed with your key. Once published ('steward search publish'), every
agent that runs or holds the version stops using it at its next update, falls
back to the newest good version it holds (or its built-in pack) and reports it;
the version is refused from then on, and the collector flags the figures
computed under it. A withdrawal is final: fix the pack and release a new
version. The reason is shown to every practice and to the ICB.
  steward search withdraw 2026.2.0 --reason "high-dose threshold typed as 12, not 120" \
      --key ~/.steward/author.key --root root.json --repo-metadata https://collector.example.nhs.uk`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.StringVar(&reason, "reason", "", "why the version is withdrawn (shown to practices and the ICB)")
			fs.StringVar(&pack, "pack", "medsip", "the pack the version belongs to")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return cli.Usagef("give the version to withdraw")
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usagef("--reason is required: practices and the ICB read it")
			}
			r, err := sf.open(ctx)
			if err != nil {
				return err
			}
			if r.current == nil {
				return cli.WithCode(cli.ExitConfig, errors.New("nothing is published yet: there is nothing to withdraw"))
			}
			return sf.sign(stdio, r, bundle.SignRequest{Withdraw: args[0], Reason: reason, Pack: pack}, nil,
				"signed-withdraw-"+pack+"-"+args[0], " (the withdrawal of "+pack+" "+args[0]+")")
		},
	}
}

func searchPromoteCommand() *cli.Command {
	var sf signFlags
	var pack string
	return &cli.Command{
		Name:    "promote",
		Summary: "sign the end of a version's pilot: every practice may take it",
		Usage:   "promote VERSION --key KEY --root ROOT.json --repo-metadata DIR_OR_URL [--pack ID] [--out DIR]",
		Help: `A version signed with --pilot reaches only the practices listed. When the
ICB is content with the pilot (the overview shows what each practice runs),
promote it: the next targets metadata lists it without the pilot, and every
agent takes it at its next update (or waits for approval where approval is
manual). Publish the result with 'steward search publish'.
  steward search promote 2026.2.0 --key ~/.steward/author.key --root root.json \
      --repo-metadata https://collector.example.nhs.uk`,
		Flags: func(fs *flag.FlagSet) {
			sf.register(fs)
			fs.StringVar(&pack, "pack", "medsip", "the pack the version belongs to")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, stdio cli.IO) error {
			args, err := positionals(fs)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return cli.Usagef("give the version to promote")
			}
			r, err := sf.open(ctx)
			if err != nil {
				return err
			}
			if r.current == nil {
				return cli.WithCode(cli.ExitConfig, errors.New("nothing is published yet: there is nothing to promote"))
			}
			return sf.sign(stdio, r, bundle.SignRequest{Promote: args[0], Pack: pack}, nil,
				"signed-promote-"+pack+"-"+args[0], " (the promotion of "+pack+" "+args[0]+")")
		},
	}
}

func searchPublishCommand() *cli.Command {
	var collector, tokenFile string
	return &cli.Command{
		Name:    "publish",
		Summary: "upload a signed release to the collector",
		Usage:   "publish --collector URL --token TOKEN_FILE SIGNED_DIR",
		Help: `Uploads the targets.json and bundle that 'steward search sign' (or withdraw,
or promote) wrote. A bundle must pass the gate again first: lint and every
fixture case on the reference evaluator and SQLite. The collector checks your
signature against the root's author keys, the versions, the bundle's hash and
that its searches pass lint, then serves it to agents. The upload token is read
from a file (never give secrets on the command line).
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
				x, cleanup, err := extract(tgz)
				defer cleanup()
				if err != nil {
					return cli.WithCode(cli.ExitConfig, fmt.Errorf("%s: %w", matches[0], err))
				}
				if err := releaseGate(ctx, x.packDir(), stdio); err != nil {
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
			switch {
			case p.Target != "" && len(p.Pilot) > 0:
				fmt.Fprintf(stdio.Out, "published %s %s (%s) for the pilot practices %s only; open it to all with: steward search promote %s\n",
					p.Pack, p.Version, p.Target, strings.Join(p.Pilot, ", "), p.Version)
			case p.Target != "":
				fmt.Fprintf(stdio.Out, "published %s %s (%s)\n", p.Pack, p.Version, p.Target)
			case len(p.Withdrawn)+len(p.Promoted) == 0:
				fmt.Fprintln(stdio.Out, "published re-signed targets")
			}
			for _, n := range p.Withdrawn {
				fmt.Fprintf(stdio.Out, "withdrew %s: agents fall back at their next update and the collector flags figures computed under it\n", n)
			}
			for _, n := range p.Promoted {
				fmt.Fprintf(stdio.Out, "promoted %s: every practice may take it now\n", n)
			}
			fmt.Fprintf(stdio.Out, "targets v%d, snapshot v%d, timestamp v%d: agents pick it up at their next update\n",
				p.TargetsVersion, p.SnapshotVersion, p.TimestampVersion)
			return nil
		},
	}
}
