package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	agentbundle "github.com/nhs-steward/steward/agent/bundle"
	"github.com/nhs-steward/steward/internal/cli"
	"github.com/nhs-steward/steward/reporting/tufrepo"
	"github.com/nhs-steward/steward/reporting/tufrepo/tuftest"
)

// logLines collects a server's log lines as they are written.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

// watchLog reads lines from r until it ends.
func watchLog(r io.Reader) *logLines {
	l := &logLines{}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
		}
		io.Copy(io.Discard, r) // a line too long for the scanner: keep the writer unblocked
	}()
	return l
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor returns the submatches of the first line matching re, waiting
// for it to be logged (at most a minute).
func (l *logLines) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if m := re.FindStringSubmatch(line); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no log line matches %s; the log:\n%s", re, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var listenRE = regexp.MustCompile(`msg="steward-collector serving".* listen=(127\.0\.0\.1:[0-9]+)`)

// writeConfig writes a collector configuration in dir, listening on a free
// loopback port, with extra lines appended, and returns its path.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	cfg := filepath.Join(dir, "collector.yaml")
	body := "version: 1\nicb: QWE\nlisten: \"127.0.0.1:0\"\nstorage: \"sqlite:collector.db\"\n" + extra
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

var tokenRE = regexp.MustCompile(`^(stw_[A-Za-z0-9_-]{43})\n$`)

// addUser adds a user with an API token through the command and returns
// the token.
func addUser(t *testing.T, cfg, name, role string) string {
	t.Helper()
	code, out, errs := run(t, "", "user", "add", "--name", name, "--role", role, "--config", cfg)
	m := tokenRE.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("user add %s: exit %d\n%s%s", name, code, out, errs)
	}
	return m[1]
}

// TestServeTUFRepository runs `serve` with tuf_repository set: it re-signs
// the repository's aging timestamp at start, a search author publishes a
// release over HTTP while an analyst may not, an agent's updater verifies
// and installs it from the collector's URL, and the whole stops cleanly.
func TestServeTUFRepository(t *testing.T) {
	// A repository whose first release is 13 hours old: its one-day
	// timestamp is past half its validity.
	f := tuftest.NewAt(t, time.Now().Add(-13*time.Hour))
	f.MustPublish("1.0.0")
	f.Clock.Add(13 * time.Hour)

	dir := t.TempDir()
	cfg := writeConfig(t, dir, "tuf_repository: "+f.Dir+"\n")
	author := addUser(t, cfg, "alice", "search_author")
	analyst := addUser(t, cfg, "ana", "icb_analyst")
	code, out, errs := run(t, "", "serve", "--check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "search bundle repository "+f.Dir+": root v1") || !strings.Contains(out, "targets v1") || !strings.Contains(out, "(medsip 1.0.0)") {
		t.Fatalf("serve --check: exit %d\n%s%s", code, out, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	log := watchLog(pr)
	exit := make(chan int, 1)
	go func() {
		exit <- program().Do(ctx, []string{"serve", "--config", cfg}, cli.IO{In: strings.NewReader(""), Out: io.Discard, Err: pw})
		pw.Close()
	}()
	url := "http://" + log.waitFor(t, listenRE)[1]
	log.waitFor(t, regexp.MustCompile(`msg="re-signed search bundle metadata" roles=timestamp timestamp_version=2 `))

	hc := &http.Client{Timeout: time.Minute}
	b, tgz := f.Build("1.1.0")
	signed := f.Sign(b, f.Author)
	_, err := tufrepo.Upload(ctx, hc, url, analyst, signed, tgz)
	var ue *tufrepo.UploadError
	if !errors.As(err, &ue) || ue.Status != http.StatusForbidden {
		t.Fatalf("an analyst's publish: %v, want 403", err)
	}
	p, err := tufrepo.Upload(ctx, hc, url, author, signed, tgz)
	if err != nil {
		t.Fatalf("the search author's publish: %v", err)
	}
	if p.Version != "1.1.0" || p.TargetsVersion != 2 {
		t.Fatalf("published %+v", p)
	}

	u, err := agentbundle.New(filepath.Join(dir, "agent"), f.RootPath, url, hc, agentbundle.ApprovalAuto, agentbundle.WithPack(tuftest.Pack))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Update(ctx); err != nil {
		t.Fatalf("agent update from the collector: %v", err)
	}
	if _, v, err := u.Current(); err != nil || v != "1.1.0" {
		t.Fatalf("the agent runs %q, %v; want 1.1.0", v, err)
	}

	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("serve exit %d; log:\n%s", code, log)
	}
	log.waitFor(t, regexp.MustCompile(`msg=stopped`))
}

// TestServeBadTUFRepository checks that a tuf_repository that is not a
// repository stops serve --check and serve with a configuration error.
func TestServeBadTUFRepository(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "tuf_repository: not-a-repo\n")
	for _, args := range [][]string{{"serve", "--check", "--config", cfg}, {"serve", "--config", cfg}} {
		code, _, errs := run(t, "", args...)
		if code != cli.ExitConfig || !strings.Contains(errs, "steward-collector tuf init") {
			t.Errorf("%s: exit %d, %s; want %d and how to create the repository", strings.Join(args, " "), code, errs, cli.ExitConfig)
		}
	}
}

// TestInitConfigDocumentsTUFRepository checks that init-config's example
// offers the tuf_repository key.
func TestInitConfigDocumentsTUFRepository(t *testing.T) {
	code, out, _ := run(t, "", "init-config")
	if code != 0 || !strings.Contains(out, "\n# tuf_repository: tuf\n") {
		t.Fatalf("init-config: exit %d, no commented tuf_repository key:\n%s", code, out)
	}
}
