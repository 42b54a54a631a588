// Package bundle is the agent's search-bundle updater. It follows one pack
// in the collector's TUF repository (reporting/tufrepo) with go-tuf's client:
// the root is pinned from a file the ICB provides, every piece of metadata
// is verified (signatures, thresholds, versions, expiry), and the bundle is
// downloaded and checked against its signed length and hash.
//
// Beyond TUF it keeps its own ratchet (the pack version never goes below the
// highest one ever made current, even if the TUF cache is lost), extracts
// the bundle into a staging folder, runs the caller's check on it, and only
// then switches by rewriting the "current" pointer file atomically. The
// previous good bundle stays on disk; a failed or refused update leaves the
// current bundle running. With ApprovalManual a verified version waits in
// place until Approve.
//
// The authors' release decisions travel in the signed targets metadata
// (searches/bundle.TargetCustom): a version in a pilot is taken only by
// the practices it names; a withdrawn version is never taken or approved,
// and when it runs or waits here the updater drops it, falls back to the
// previous good bundle it holds (or to none: the agent's built-in pack)
// and records the fallback for the heartbeat. Every change to the bundle
// state happens under the data folder's lock (agent/lock), which the
// agent's cycles hold too.
//
// Layout under the data directory:
//
//	tuf/metadata/       go-tuf's trusted metadata cache (root.json, timestamp.json, ...)
//	tuf/download/       bundle archives while they are extracted
//	bundles/<version>/  extracted bundles (current, previous, one waiting approval)
//	bundles/current     the current version, one line: the switch
//	bundles/state.json  Status and the ratchet
package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/nhs-steward/steward/agent/lock"
	"github.com/nhs-steward/steward/agent/outbox"
	"github.com/nhs-steward/steward/reporting/wire"
	sbundle "github.com/nhs-steward/steward/searches/bundle"
)

// ApprovalMode says whether a verified new bundle runs at once.
type ApprovalMode string

// Approval modes.
const (
	ApprovalAuto   ApprovalMode = "automatic" // switch as soon as it is verified and checked
	ApprovalManual ApprovalMode = "manual"    // wait for Approve (the practice's approval)
)

// DefaultPack is the pack an updater follows unless told otherwise.
const DefaultPack = "medsip"

// CheckFunc checks an extracted pack folder (the one holding pack.yaml)
// before it may become current. The agent passes a function that loads and
// compiles every search; an error keeps the bundle out.
type CheckFunc func(packDir string) error

// Errors callers branch on.
var (
	// ErrNoBundle: nothing installed yet (Current), or the repository lists
	// no bundle of the pack (Update).
	ErrNoBundle = errors.New("no search bundle")
	// ErrRollback: the repository's newest version is below the installed one.
	ErrRollback = errors.New("refusing an older search bundle")
	// ErrRefused: the bundle failed verification (hash, archive, manifest).
	ErrRefused = errors.New("search bundle refused")
	// ErrCheck: the bundle verified but failed the check.
	ErrCheck = errors.New("search bundle failed its check")
	// ErrNotWaiting: Approve named a version that is not waiting for approval.
	ErrNotWaiting = errors.New("that version is not waiting for approval")
	// ErrWithdrawn: the authors withdrew the version; it never runs again.
	ErrWithdrawn = errors.New("that version was withdrawn by its authors")
)

// Status is what the updater knows, persisted in bundles/state.json and
// sent in the agent's heartbeat.
type Status struct {
	Pack            string `json:"pack"`
	Current         string `json:"current,omitempty"`
	Previous        string `json:"previous,omitempty"`
	WaitingApproval string `json:"waiting_approval,omitempty"`
	// Available is the newest version the verified metadata lists.
	Available string `json:"available,omitempty"`
	// LastCheck is the last Update; LastSuccess the last one whose metadata
	// verified and was fresh.
	LastCheck   time.Time `json:"last_check"`
	LastSuccess time.Time `json:"last_success"`
	// FreshUntil is when the metadata of the last success expires.
	FreshUntil time.Time `json:"fresh_until"`
	// StaleSince is set at the first failed Update once the metadata has
	// expired (ours or the collector's: a frozen or unreachable repository)
	// and cleared by the next success. Meanwhile the current bundle keeps
	// running, and the ICB sees the practice as stale.
	StaleSince time.Time `json:"stale_since"`
	LastError  string    `json:"last_error,omitempty"`
	// Failed is the newest version that was refused or failed its check,
	// and why; cleared once a version at least as new is installed.
	Failed *Failure `json:"failed,omitempty"`
	// Withdrawn are the versions of the pack the authors withdrew, as the
	// signed metadata said when this agent last saw them: never forgotten.
	Withdrawn map[string]Withdrawal `json:"withdrawn,omitempty"`
	// FellBack is the latest fallback from a withdrawn version.
	FellBack *FallBack `json:"fell_back,omitempty"`
}

// Failure is a version that did not become current or waiting, and why.
type Failure struct {
	Version string    `json:"version"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Withdrawal is a version the authors withdrew.
type Withdrawal struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"` // when the authors signed it
	// Seen is when this agent first learned of it.
	Seen time.Time `json:"seen"`
	// Held is set when the version ran or waited for approval here.
	Held bool `json:"held,omitempty"`
}

// FallBack records that the running version was withdrawn and what runs
// instead ("" for To: the agent's built-in pack).
type FallBack struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// IsWithdrawn reports whether the authors withdrew version.
func (s Status) IsWithdrawn(version string) bool {
	_, ok := s.Withdrawn[version]
	return ok && version != ""
}

// Stale reports whether the bundle metadata has gone stale.
func (s Status) Stale() bool { return !s.StaleSince.IsZero() }

type persisted struct {
	Status
	// Ratchet is the highest version ever made current: never lowered.
	Ratchet string `json:"ratchet,omitempty"`
}

// Option configures an Updater.
type Option func(*Updater)

// WithPack sets the pack to follow (default DefaultPack).
func WithPack(id string) Option { return func(u *Updater) { u.pack = id } }

// WithCheck sets the check run before a bundle may become current, after
// the built-in one (pack.yaml present, naming the manifest's pack and
// version).
func WithCheck(f CheckFunc) Option { return func(u *Updater) { u.check = f } }

// WithClock sets the clock used for expiry (tests).
func WithClock(now func() time.Time) Option { return func(u *Updater) { u.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(u *Updater) { u.log = l } }

// WithPractice names the practice (its ODS code) the agent runs for: a
// version in a pilot that does not list it is not taken.
func WithPractice(ods string) Option { return func(u *Updater) { u.practice = ods } }

// WithLockWait sets how long Update and Approve wait for the data folder's
// lock while another process (or the agent's cycle) holds it (default 1
// minute).
func WithLockWait(d time.Duration) Option {
	return func(u *Updater) {
		if d > 0 {
			u.lockWait = d
		}
	}
}

// Updater keeps the agent's bundle up to date. Its methods are safe for
// concurrent use; one process per data directory.
type Updater struct {
	dataDir  string
	rootPath string
	baseURL  string // collector URL without a trailing slash
	client   *http.Client
	mode     ApprovalMode
	pack     string
	practice string
	check    CheckFunc
	now      func() time.Time
	log      *slog.Logger
	lockWait time.Duration

	mu sync.Mutex
}

// New returns an updater keeping its state under dataDir, trusting the root
// metadata in trustedRootPath (from the ICB), fetching from the collector at
// collectorURL with client (nil: http.DefaultClient). It removes staging
// folders a crash may have left.
func New(dataDir, trustedRootPath, collectorURL string, client *http.Client, mode ApprovalMode, opts ...Option) (*Updater, error) {
	if mode != ApprovalAuto && mode != ApprovalManual {
		return nil, fmt.Errorf("bundle updater: approval mode %q (want %q or %q)", mode, ApprovalAuto, ApprovalManual)
	}
	cu, err := url.Parse(collectorURL)
	if err != nil || (cu.Scheme != "https" && cu.Scheme != "http") || cu.Host == "" {
		return nil, fmt.Errorf("bundle updater: collector URL %q is not an http(s) URL", collectorURL)
	}
	if client == nil {
		client = http.DefaultClient
	}
	u := &Updater{
		dataDir: dataDir, rootPath: trustedRootPath, baseURL: strings.TrimRight(collectorURL, "/"),
		client: client, mode: mode, pack: DefaultPack, now: time.Now, log: slog.New(slog.DiscardHandler),
		lockWait: time.Minute,
	}
	for _, o := range opts {
		o(u)
	}
	if !sbundle.ValidPackID(u.pack) {
		return nil, fmt.Errorf("bundle updater: pack %q is not a valid pack id", u.pack)
	}
	if _, err := os.Stat(trustedRootPath); err != nil {
		return nil, fmt.Errorf("bundle updater: trusted root: %w (the ICB provides root.json with the agent's configuration)", err)
	}
	for _, d := range []string{u.bundlesDir(), u.tufDir("metadata"), u.tufDir("download")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("bundle updater: %w", err)
		}
	}
	ents, err := os.ReadDir(u.bundlesDir())
	if err != nil {
		return nil, fmt.Errorf("bundle updater: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), stagingPrefix) {
			os.RemoveAll(filepath.Join(u.bundlesDir(), e.Name()))
		}
	}
	return u, nil
}

const (
	stagingPrefix = ".staging-"
	currentFile   = "current"
	stateFile     = "state.json"
)

func (u *Updater) bundlesDir() string               { return filepath.Join(u.dataDir, "bundles") }
func (u *Updater) tufDir(sub string) string         { return filepath.Join(u.dataDir, "tuf", sub) }
func (u *Updater) versionDir(version string) string { return filepath.Join(u.bundlesDir(), version) }

// Current returns the current pack folder (holding pack.yaml) and its
// version, after checking every file against the bundle's manifest. A
// version the authors withdrew is never returned: until Update has fallen
// back (it may not have run since the withdrawal was seen), the previous
// good bundle is, or ErrNoBundle (run the built-in pack).
func (u *Updater) Current() (dir, version string, err error) {
	p, err := u.load()
	if err != nil {
		return "", "", err
	}
	version = p.Current
	if p.IsWithdrawn(version) {
		version = u.fallback(p)
		if version == "" {
			return "", "", fmt.Errorf("%w: %s %s was withdrawn and no earlier bundle is held", ErrNoBundle, u.pack, p.Current)
		}
	}
	if version == "" {
		return "", "", ErrNoBundle
	}
	return u.open(version)
}

// Open returns the pack folder of a bundle held here (current, previous
// or waiting for approval), checked against its manifest: for a practice
// manager to review or preview a waiting version. A withdrawn version is
// refused.
func (u *Updater) Open(version string) (dir string, err error) {
	p, err := u.load()
	if err != nil {
		return "", err
	}
	if p.IsWithdrawn(version) {
		return "", fmt.Errorf("%w: %s %s (%s)", ErrWithdrawn, u.pack, version, p.Withdrawn[version].Reason)
	}
	if version == "" || (version != p.Current && version != p.Previous && version != p.WaitingApproval) {
		return "", fmt.Errorf("%w: %s %s is not held here (current %s, waiting %s)", ErrNoBundle, u.pack, version, orDash(p.Current), orDash(p.WaitingApproval))
	}
	dir, _, err = u.open(version)
	return dir, err
}

// Release reads the release notes and summary of changes a bundle held
// here carries (nil for a bundle built before bundles carried them).
func (u *Updater) Release(version string) (*sbundle.Release, error) {
	if _, err := u.Open(version); err != nil {
		return nil, err
	}
	return sbundle.ReadRelease(u.versionDir(version))
}

func (u *Updater) open(version string) (dir, v string, err error) {
	root := u.versionDir(version)
	m, err := sbundle.Verify(root)
	if err != nil {
		return "", "", fmt.Errorf("search bundle %s: %w", version, err)
	}
	if m.Version != version || m.Pack != u.pack {
		return "", "", fmt.Errorf("search bundle %s: its manifest says %s %s", version, m.Pack, m.Version)
	}
	return m.PackDirIn(root), version, nil
}

// fallback is the version to run when the current one was withdrawn: the
// previous bundle, if it was not withdrawn too and still verifies; "" for
// none (the built-in pack).
func (u *Updater) fallback(p persisted) string {
	if p.Previous == "" || p.IsWithdrawn(p.Previous) || p.Previous == p.Current {
		return ""
	}
	if _, _, err := u.open(p.Previous); err != nil {
		u.log.Warn("the previous search bundle does not verify: it cannot be fallen back to", "version", p.Previous, "err", err)
		return ""
	}
	return p.Previous
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readCurrent reads the current pointer: "" when there is none.
func (u *Updater) readCurrent() (string, error) {
	b, err := os.ReadFile(filepath.Join(u.bundlesDir(), currentFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read current bundle pointer: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", nil // emptied by a fallback to the built-in pack
	}
	if _, err := sbundle.ParseVersion(v); err != nil {
		return "", fmt.Errorf("current bundle pointer: %w", err)
	}
	return v, nil
}

// Status returns the persisted status.
func (u *Updater) Status() (Status, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, err := u.load()
	return p.Status, err
}

func (u *Updater) load() (persisted, error) {
	var p persisted
	b, err := os.ReadFile(filepath.Join(u.bundlesDir(), stateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return p, fmt.Errorf("read bundle state: %w", err)
	}
	if err == nil {
		if err := json.Unmarshal(b, &p); err != nil {
			return p, fmt.Errorf("read bundle state: %w", err)
		}
	}
	p.Pack = u.pack
	// The pointer is the switch: it wins over the state file, and the
	// ratchet is at least the current version (a crash may fall between
	// writing the pointer and the state).
	cur, err := u.readCurrent()
	if err != nil {
		return p, err
	}
	p.Current = cur
	p.Ratchet = maxVersion(p.Ratchet, cur)
	return p, nil
}

func (u *Updater) save(p persisted) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return outbox.WriteFileAtomic(filepath.Join(u.bundlesDir(), stateFile), append(b, '\n'), 0o600)
}

func maxVersion(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if c, err := sbundle.CompareVersions(a, b); err == nil && c < 0 {
		return b
	}
	return a
}

// Update refreshes the TUF metadata and, if the repository offers a newer
// version of the pack than the ratchet, downloads, verifies, extracts and
// checks it, then switches to it (ApprovalAuto) or leaves it waiting
// (ApprovalManual). Whatever fails, the current bundle stays current. The
// returned Status is also persisted.
func (u *Updater) Update(ctx context.Context) (Status, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	l, err := lock.Acquire(ctx, u.dataDir, u.lockWait)
	if err != nil {
		p, _ := u.load()
		return p.Status, fmt.Errorf("search bundle update: %w", err)
	}
	defer l.Release()
	p, err := u.load()
	if err != nil {
		return p.Status, err
	}
	now := u.now().UTC()
	p.LastCheck = now
	err = u.update(ctx, &p, now)
	if err != nil {
		p.LastError = err.Error()
		u.log.Warn("search bundle update failed; the current bundle keeps running",
			"pack", u.pack, "current", p.Current, "stale_since", p.StaleSince, "err", err)
	} else {
		p.LastError = ""
	}
	if serr := u.save(p); serr != nil && err == nil {
		err = serr
	}
	return p.Status, err
}

func (u *Updater) update(ctx context.Context, p *persisted, now time.Time) error {
	tu, err := u.newTUF(ctx)
	if err != nil {
		return err
	}
	tu.UnsafeSetRefTime(now) // the clock go-tuf checks expiry against: ours
	if err := tu.Refresh(); err != nil {
		if errors.Is(err, &metadata.ErrExpiredMetadata{}) || (!p.FreshUntil.IsZero() && now.After(p.FreshUntil)) {
			if p.StaleSince.IsZero() {
				p.StaleSince = now
			}
		}
		var he *metadata.ErrDownloadHTTP
		if errors.As(err, &he) && he.StatusCode == http.StatusNotFound && strings.HasSuffix(he.URL, "/timestamp.json") {
			return fmt.Errorf("refresh bundle metadata: %w: the collector has no bundles published yet", ErrNoBundle)
		}
		return fmt.Errorf("refresh bundle metadata: %w", err)
	}
	trusted := tu.GetTrustedMetadataSet()
	p.FreshUntil = earliest(trusted.Root.Signed.Expires, trusted.Timestamp.Signed.Expires,
		trusted.Snapshot.Signed.Expires, trusted.Targets[metadata.TARGETS].Signed.Expires)
	p.StaleSince = time.Time{}
	p.LastSuccess = now

	targets := tu.GetTopLevelTargets()
	if err := u.learnWithdrawals(p, targets, now); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err := u.applyWithdrawals(p, now); err != nil {
		return err
	}
	latest, name, err := sbundle.Available(targets, u.pack, u.practice)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	p.Available = latest
	if latest == "" {
		if any, _, _ := sbundle.Latest(targets, u.pack); any != "" {
			return nil // every version is withdrawn, or in a pilot without this practice
		}
		return fmt.Errorf("%w: the repository lists no %s bundle", ErrNoBundle, u.pack)
	}
	if p.Ratchet != "" {
		c, err := sbundle.CompareVersions(latest, p.Ratchet)
		if err != nil {
			return err
		}
		switch {
		case c > 0:
		case !p.IsWithdrawn(p.Ratchet) && c < 0:
			return fmt.Errorf("%w: the repository's newest %s is %s but %s has run here", ErrRollback, u.pack, latest, p.Ratchet)
		case !p.IsWithdrawn(p.Ratchet):
			return nil // up to date
		case p.Current != "":
			// The newest version that ran here was withdrawn (signed by the
			// authors, so no rollback): a good version below it is taken
			// only if it is newer than what runs now.
			if c, _ := sbundle.CompareVersions(latest, p.Current); c <= 0 {
				return nil
			}
		}
	}
	if p.WaitingApproval == latest {
		if _, err := sbundle.Verify(u.versionDir(latest)); err == nil {
			return nil // verified earlier, still waiting
		}
	}

	tf := targets[name]
	dl := filepath.Join(u.tufDir("download"), u.pack+"-"+latest+".tar.gz")
	defer os.Remove(dl)
	_, data, err := tu.DownloadTarget(tf, dl, "")
	if err != nil {
		err = fmt.Errorf("%w: download %s: %w", ErrRefused, name, err)
		u.failed(p, latest, err, now)
		return err
	}
	if err := u.install(data, latest); err != nil {
		if errors.Is(err, ErrRefused) || errors.Is(err, ErrCheck) {
			u.failed(p, latest, err, now)
		}
		return err
	}
	if p.Failed != nil {
		if c, err := sbundle.CompareVersions(latest, p.Failed.Version); err != nil || c >= 0 {
			p.Failed = nil
		}
	}
	if u.mode == ApprovalManual {
		old := p.WaitingApproval
		p.WaitingApproval = latest
		if old != "" && old != latest {
			u.removeUnused(*p)
		}
		u.log.Info("new search bundle verified: waiting for approval", "pack", u.pack, "version", latest, "current", p.Current)
		return nil
	}
	return u.switchTo(p, latest)
}

// failed records that version was refused or failed its check.
func (u *Updater) failed(p *persisted, version string, err error, now time.Time) {
	p.Failed = &Failure{Version: version, Reason: err.Error(), At: now}
}

// learnWithdrawals records every withdrawn version of the pack the
// verified targets list. A withdrawal is never forgotten, even if a later
// listing drops the version.
func (u *Updater) learnWithdrawals(p *persisted, targets map[string]*metadata.TargetFiles, now time.Time) error {
	rs, err := sbundle.Releases(targets, u.pack)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Withdrawn == nil {
			continue
		}
		if _, known := p.Withdrawn[r.Version]; known {
			continue
		}
		if p.Withdrawn == nil {
			p.Withdrawn = map[string]Withdrawal{}
		}
		p.Withdrawn[r.Version] = Withdrawal{Reason: r.Withdrawn.Reason, At: r.Withdrawn.At, Seen: now}
	}
	return nil
}

// applyWithdrawals drops withdrawn versions held here: one waiting for
// approval is forgotten, a previous one is no longer fallen back to, and a
// current one is replaced by the fallback (the previous good bundle, or
// none: the built-in pack), switched to atomically like any version.
func (u *Updater) applyWithdrawals(p *persisted, now time.Time) error {
	held := func(v string) {
		w := p.Withdrawn[v]
		w.Held = true
		p.Withdrawn[v] = w
	}
	changed := false
	if v := p.WaitingApproval; p.IsWithdrawn(v) {
		held(v)
		p.WaitingApproval = ""
		changed = true
		u.log.Warn("a search bundle waiting for approval was withdrawn by its authors: it will not run",
			"pack", u.pack, "version", v, "reason", p.Withdrawn[v].Reason)
	}
	if v := p.Current; p.IsWithdrawn(v) {
		held(v)
		to := u.fallback(*p)
		if err := outbox.WriteFileAtomic(filepath.Join(u.bundlesDir(), currentFile), []byte(to+"\n"), 0o600); err != nil {
			return fmt.Errorf("fall back from withdrawn search bundle %s: %w", v, err)
		}
		p.FellBack = &FallBack{From: v, To: to, Reason: p.Withdrawn[v].Reason, At: now}
		p.Current, p.Previous = to, ""
		changed = true
		runs := "the built-in pack"
		if to != "" {
			runs = "bundle " + to
		}
		u.log.Warn("the running search bundle was withdrawn by its authors: fell back to "+runs,
			"pack", u.pack, "withdrawn", v, "reason", p.Withdrawn[v].Reason, "now_running", orDash(to))
	}
	if v := p.Previous; p.IsWithdrawn(v) {
		held(v)
		p.Previous = ""
		changed = true
	}
	if changed {
		if err := u.save(*p); err != nil {
			return err
		}
		u.removeUnused(*p)
	}
	return nil
}

// install extracts a downloaded bundle into a staging folder, checks it
// and moves it to bundles/<version>. It never touches the current bundle.
func (u *Updater) install(tgz []byte, version string) error {
	staging, err := os.MkdirTemp(u.bundlesDir(), stagingPrefix+version+"-")
	if err != nil {
		return fmt.Errorf("stage bundle: %w", err)
	}
	defer os.RemoveAll(staging)
	root := filepath.Join(staging, "b")
	if err := sbundle.Extract(tgz, root); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err := u.checkTree(root, version); err != nil {
		return err
	}
	final := u.versionDir(version)
	if err := os.RemoveAll(final); err != nil { // a leftover of an interrupted install
		return fmt.Errorf("stage bundle: %w", err)
	}
	if err := os.Rename(root, final); err != nil {
		return fmt.Errorf("stage bundle: %w", err)
	}
	return nil
}

// checkTree verifies an extracted bundle against its manifest and runs the
// checks. It is run on download and again on approval.
func (u *Updater) checkTree(root, version string) error {
	m, err := sbundle.Verify(root)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if m.Pack != u.pack || m.Version != version {
		return fmt.Errorf("%w: the manifest says %s %s, the signed target %s %s", ErrRefused, m.Pack, m.Version, u.pack, version)
	}
	packDir := m.PackDirIn(root)
	if err := sbundle.CheckPack(packDir, m); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrCheck, u.pack, version, err)
	}
	if u.check != nil {
		if err := u.check(packDir); err != nil {
			return fmt.Errorf("%w: %s %s: %w", ErrCheck, u.pack, version, err)
		}
	}
	return nil
}

// switchTo makes version current: the pointer file is rewritten
// atomically (the switch), then the state; older bundles are pruned,
// keeping the previous one.
func (u *Updater) switchTo(p *persisted, version string) error {
	if err := outbox.WriteFileAtomic(filepath.Join(u.bundlesDir(), currentFile), []byte(version+"\n"), 0o600); err != nil {
		return fmt.Errorf("switch search bundle: %w", err)
	}
	if p.Current != "" && p.Current != version {
		p.Previous = p.Current
	}
	p.Current = version
	p.Ratchet = maxVersion(p.Ratchet, version)
	if p.WaitingApproval == version {
		p.WaitingApproval = ""
	}
	if err := u.save(*p); err != nil {
		return err
	}
	u.removeUnused(*p)
	u.log.Info("search bundle switched", "pack", u.pack, "version", version, "previous", p.Previous)
	return nil
}

// removeUnused deletes bundle folders other than the current, previous
// and waiting ones. Failures only leave disk space used.
func (u *Updater) removeUnused(p persisted) {
	ents, err := os.ReadDir(u.bundlesDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || n == p.Current || n == p.Previous || n == p.WaitingApproval {
			continue
		}
		if _, err := sbundle.ParseVersion(n); err == nil {
			os.RemoveAll(filepath.Join(u.bundlesDir(), n))
		}
	}
}

// Approve switches to version, which must be waiting for approval and not
// withdrawn: it is verified against its manifest and checked again first.
// It holds the data folder's lock while it does.
func (u *Updater) Approve(ctx context.Context, version string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	l, err := lock.Acquire(ctx, u.dataDir, u.lockWait)
	if err != nil {
		return err
	}
	defer l.Release()
	p, err := u.load()
	if err != nil {
		return err
	}
	if p.IsWithdrawn(version) {
		return fmt.Errorf("%w: %s %s (%s)", ErrWithdrawn, u.pack, version, p.Withdrawn[version].Reason)
	}
	if version == "" || p.WaitingApproval != version {
		return fmt.Errorf("%w: %s (waiting: %q)", ErrNotWaiting, version, p.WaitingApproval)
	}
	if p.Ratchet != "" && !p.IsWithdrawn(p.Ratchet) {
		if c, err := sbundle.CompareVersions(version, p.Ratchet); err != nil || c <= 0 {
			return fmt.Errorf("%w: %s is not above %s", ErrRollback, version, p.Ratchet)
		}
	}
	if err := u.checkTree(u.versionDir(version), version); err != nil {
		p.LastError = err.Error()
		u.failed(&p, version, err, u.now().UTC())
		u.save(p)
		return err
	}
	return u.switchTo(&p, version)
}

func earliest(ts ...time.Time) time.Time {
	var e time.Time
	for _, t := range ts {
		if e.IsZero() || t.Before(e) {
			e = t
		}
	}
	return e
}

// newTUF builds a go-tuf client for one Update. It starts from the cached
// trusted root (which go-tuf only replaces after verifying the chain of
// root versions), unless the ICB's pinned file is newer.
func (u *Updater) newTUF(ctx context.Context) (*updater.Updater, error) {
	pinned, err := os.ReadFile(u.rootPath)
	if err != nil {
		return nil, fmt.Errorf("read trusted root: %w", err)
	}
	rootBytes := pinned
	if cached, err := os.ReadFile(filepath.Join(u.tufDir("metadata"), "root.json")); err == nil {
		if rootVersion(cached) >= rootVersion(pinned) {
			rootBytes = cached
		}
	}
	base := u.baseURL + wire.PathTUF
	cfg, err := config.New(base, rootBytes)
	if err != nil {
		return nil, fmt.Errorf("bundle updater: %w", err)
	}
	cfg.LocalMetadataDir = u.tufDir("metadata")
	cfg.LocalTargetsDir = u.tufDir("download")
	cfg.RemoteTargetsURL = base + "targets/"
	cfg.PrefixTargetsWithHash = true
	cfg.TargetsMaxLength = 8 << 20
	cfg.Fetcher = &fetcher{ctx: ctx, client: u.client}
	tu, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("load trusted root: %w", err)
	}
	return tu, nil
}

func rootVersion(b []byte) int64 {
	r, err := metadata.Root().FromBytes(b)
	if err != nil {
		return -1
	}
	return r.Signed.Version
}

// fetcher is go-tuf's Fetcher over the agent's HTTP client, honouring the
// Update's context.
type fetcher struct {
	ctx    context.Context
	client *http.Client
}

func (f *fetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: resp.StatusCode, URL: u}
	}
	if resp.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is %d bytes, more than the %d expected", u, resp.ContentLength, maxLength)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLength+1))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", u, err)
	}
	if int64(len(b)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is more than the %d bytes expected", u, maxLength)}
	}
	return b, nil
}
