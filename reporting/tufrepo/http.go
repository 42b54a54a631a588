package tufrepo

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nhs-steward/steward/reporting/wire"
)

// Names an agent may fetch below wire.PathTUF.
var (
	metaNameRE   = regexp.MustCompile(`^(timestamp|[1-9][0-9]*\.(root|snapshot|targets))\.json$`)
	targetNameRE = regexp.MustCompile(`^targets/([a-z0-9][a-z0-9_-]{0,63})/([0-9a-f]{64}\.[0-9][0-9A-Za-z.-]{0,63}\.tar\.gz)$`)
)

// Handler serves the repository read-only: GET and HEAD of the metadata
// (N.root.json, timestamp.json, N.snapshot.json, N.targets.json) and of the
// targets (targets/<pack>/<sha256>.<version>.tar.gz) below wire.PathTUF.
// Mount it at wire.PathTUF. It needs no authentication: everything it
// serves is signed, and agents verify it.
func (r *Repo) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(req.URL.Path, wire.PathTUF)
		if !ok {
			http.NotFound(w, req)
			return
		}
		var file, ctype string
		switch {
		case metaNameRE.MatchString(name):
			file, ctype = filepath.Join(r.dir, metadataDir, name), "application/json"
		case targetNameRE.MatchString(name):
			m := targetNameRE.FindStringSubmatch(name)
			file, ctype = filepath.Join(r.dir, targetsDir, m[1], m[2]), "application/gzip"
		default:
			http.NotFound(w, req)
			return
		}
		b, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			http.NotFound(w, req)
			return
		}
		if err != nil {
			r.log.Error("serve tuf file", "name", name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if req.Method == http.MethodHead {
			return
		}
		w.Write(b)
	})
}

// Authorizer decides whether a publish request may proceed: nil lets it
// through; an error wrapping ErrUnauthenticated refuses it with 401, one
// wrapping ErrForbidden with 403, and any other error (the check itself
// failed) with 500. It guards the upload only: the real check is the
// authors' signature on the targets metadata, which Publish makes whoever
// uploads.
type Authorizer func(*http.Request) error

// Reasons an Authorizer refuses a publish.
var (
	// ErrUnauthenticated: no credentials, or ones that are not valid.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrForbidden: valid credentials of someone who may not publish.
	ErrForbidden = errors.New("not allowed to publish search bundles")
)

// BearerTokens accepts requests carrying "Authorization: Bearer T" for one
// of tokens (compared in constant time).
func BearerTokens(tokens ...string) Authorizer {
	return func(req *http.Request) error {
		got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			return fmt.Errorf("%w: missing bearer token", ErrUnauthenticated)
		}
		for _, t := range tokens {
			if t != "" && subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1 {
				return nil
			}
		}
		return fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
}

// Multipart field names of a publish request.
const (
	FieldTargets = "targets" // the author-signed targets.json
	FieldBundle  = "bundle"  // the bundle's tar.gz, when the targets list a new one
)

// PublishHandler accepts POST wire.PathBundles: a multipart/form-data body
// with a "targets" part (the author-signed targets.json) and, for a new
// release, a "bundle" part. It answers 201 with a Published JSON document,
// or an error document {"error": "..."} with 400, 401 (auth: credentials),
// 403 (auth: not allowed to publish; or the signatures), 409 (versions),
// 413 or 422. auth may be nil (tests).
func (r *Repo) PublishHandler(auth Authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		if auth != nil {
			if err := auth(req); err != nil {
				switch {
				case errors.Is(err, ErrForbidden):
					writeJSONError(w, http.StatusForbidden, "not authorised to publish: "+err.Error())
				case errors.Is(err, ErrUnauthenticated):
					w.Header().Set("WWW-Authenticate", "Bearer")
					writeJSONError(w, http.StatusUnauthorized, "not authorised to publish: "+err.Error())
				default:
					r.log.Error("check a publish request's credentials", "err", err)
					writeJSONError(w, http.StatusInternalServerError, "could not check the credentials; try again later")
				}
				return
			}
		}
		mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/form-data" {
			writeJSONError(w, http.StatusBadRequest, "expected multipart/form-data with parts targets and bundle")
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, r.maxUpload)
		mr, err := req.MultipartReader()
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		parts := map[string][]byte{}
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				writeUploadError(w, err)
				return
			}
			name := p.FormName()
			if name != FieldTargets && name != FieldBundle {
				writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("unexpected part %q", name))
				return
			}
			if _, dup := parts[name]; dup {
				writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("part %q twice", name))
				return
			}
			b, err := io.ReadAll(p)
			if err != nil {
				writeUploadError(w, err)
				return
			}
			parts[name] = b
		}
		if len(parts[FieldTargets]) == 0 {
			writeJSONError(w, http.StatusBadRequest, "no targets part")
			return
		}
		out, err := r.Publish(parts[FieldTargets], parts[FieldBundle])
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrSignature):
				code = http.StatusForbidden
			case errors.Is(err, ErrVersion):
				code = http.StatusConflict
			case errors.Is(err, ErrInvalid):
				code = http.StatusUnprocessableEntity
			default:
				r.log.Error("publish search bundle", "err", err)
			}
			writeJSONError(w, code, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(out)
	})
}

func writeUploadError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than %d bytes", mbe.Limit))
		return
	}
	writeJSONError(w, http.StatusBadRequest, err.Error())
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
