package tufrepo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/nhs-steward/steward/reporting/wire"
)

// This file is the search author's side of the wire: reading the current
// targets metadata (to sign the next version against) and uploading.

// CurrentTargets returns the repository's current targets.json, following
// timestamp.json and the snapshot it names; nil when nothing is published.
// source is a collector URL (https://...) or a repository directory. The
// result is not trusted: bundle.Sign verifies it against the trusted root.
func CurrentTargets(ctx context.Context, client *http.Client, source string) ([]byte, error) {
	get := func(name string) ([]byte, error) {
		p := filepath.Join(source, metadataDir, name)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		if client == nil {
			client = http.DefaultClient
		}
		base := strings.TrimRight(source, "/") + wire.PathTUF
		get = func(name string) ([]byte, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+name, nil)
			if err != nil {
				return nil, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return nil, nil
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("GET %s: %s", base+name, resp.Status)
			}
			return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		}
	}
	tb, err := get(timestampFile)
	if err != nil || tb == nil {
		return nil, err
	}
	ts, err := metadata.Timestamp().FromBytes(tb)
	if err != nil {
		return nil, fmt.Errorf("timestamp.json: %w", err)
	}
	sn := fmt.Sprintf("%d.snapshot.json", ts.Signed.Meta["snapshot.json"].Version)
	sb, err := get(sn)
	if err != nil {
		return nil, err
	}
	if sb == nil {
		return nil, fmt.Errorf("%s is missing", sn)
	}
	snap, err := metadata.Snapshot().FromBytes(sb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sn, err)
	}
	tm, ok := snap.Signed.Meta["targets.json"]
	if !ok {
		return nil, fmt.Errorf("%s lists no targets.json", sn)
	}
	tn := fmt.Sprintf("%d.targets.json", tm.Version)
	b, err := get(tn)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%s is missing", tn)
	}
	if err := tm.VerifyLengthHashes(b); err != nil {
		return nil, fmt.Errorf("%s: %w", tn, err)
	}
	return b, nil
}

// UploadError is a publish refused by the collector.
type UploadError struct {
	Status  int
	Message string
}

func (e *UploadError) Error() string {
	return fmt.Sprintf("collector refused the publish (%d %s): %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Upload posts author-signed targets metadata and, for a new release, the
// bundle to the collector's publish endpoint, with token as a bearer token.
func Upload(ctx context.Context, client *http.Client, collectorURL, token string, targetsJSON, tgz []byte) (*Published, error) {
	if client == nil {
		client = http.DefaultClient
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	parts := []struct {
		field, file string
		b           []byte
	}{{FieldTargets, "targets.json", targetsJSON}, {FieldBundle, "bundle.tar.gz", tgz}}
	for _, p := range parts {
		if len(p.b) == 0 {
			continue
		}
		w, err := mw.CreateFormFile(p.field, p.file)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(p.b); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(collectorURL, "/")+wire.PathBundles, bytes.NewReader(body.Bytes()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rb, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(rb))
		}
		return nil, &UploadError{Status: resp.StatusCode, Message: e.Error}
	}
	var out Published
	if err := json.Unmarshal(rb, &out); err != nil {
		return nil, fmt.Errorf("publish: answer: %w", err)
	}
	return &out, nil
}

// FetchTarget reads the bundle target name from source (a collector URL or
// a repository directory) and checks it against tf, its entry in targets
// metadata the caller has verified: the length and SHA-256 must match.
func FetchTarget(ctx context.Context, client *http.Client, source, name string, tf *metadata.TargetFiles) ([]byte, error) {
	pack, file, ok := strings.Cut(name, "/")
	if !ok || tf == nil || len(tf.Hashes["sha256"]) == 0 {
		return nil, fmt.Errorf("fetch %s: not a bundle target", name)
	}
	stored := fmt.Sprintf("%x.%s", []byte(tf.Hashes["sha256"]), file)
	var b []byte
	var err error
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		if client == nil {
			client = http.DefaultClient
		}
		u := strings.TrimRight(source, "/") + wire.PathTUF + targetsDir + "/" + pack + "/" + stored
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if rerr != nil {
			return nil, rerr
		}
		resp, derr := client.Do(req)
		if derr != nil {
			return nil, fmt.Errorf("fetch %s: %w", name, derr)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch %s: GET %s: %s", name, u, resp.Status)
		}
		b, err = io.ReadAll(io.LimitReader(resp.Body, tf.Length+1))
	} else {
		b, err = os.ReadFile(filepath.Join(source, targetsDir, pack, stored))
	}
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if err := tf.VerifyLengthHashes(b); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	return b, nil
}
