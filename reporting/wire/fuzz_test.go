package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// fuzzNow is the collector's clock in FuzzVerify.
var fuzzNow = time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC)

// fuzzKey is the practice key of FuzzVerify, fixed so that a corpus entry
// holding a good signature stays good.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

// FuzzVerify gives Verify requests whose method, path, signed headers and
// body are arbitrary (header values set directly, so they may hold bytes
// no HTTP parser would pass). With sign set the harness signs the request
// itself first, as an agent would, so the success path is exercised too.
// Seeds: testdata/fuzz/FuzzVerify.
//
// Properties:
//   - the error is nil or wraps exactly one of ErrUnsigned, ErrStale,
//     ErrSignature;
//   - nil only when all three headers are present, the timestamp is within
//     MaxClockSkew and the signature verifies over Message;
//   - a request that verifies stops verifying when any one signed part
//     (method, path, practice, idempotency key, timestamp, body) changes,
//     and no other request with the same signature verifies unless its
//     signed parts are the same strings.
func FuzzVerify(f *testing.F) {
	pub := fuzzKey.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, method, path, practice, key, ts, sig string, body []byte, sign bool,
		practice2, key2 string) {
		r := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: http.Header{}}
		set := func(r *http.Request, name, v string) {
			if v != "" {
				r.Header[http.CanonicalHeaderKey(name)] = []string{v}
			} else {
				delete(r.Header, http.CanonicalHeaderKey(name))
			}
		}
		set(r, HeaderPractice, practice)
		set(r, HeaderIdempotencyKey, key)
		set(r, HeaderTimestamp, ts)
		if sign {
			sig = base64.StdEncoding.EncodeToString(ed25519.Sign(fuzzKey, Message(method, path, practice, key, ts, body)))
		}
		set(r, HeaderSignature, sig)

		err := Verify(r, pub, body, fuzzNow)
		n := 0
		for _, e := range []error{ErrUnsigned, ErrStale, ErrSignature} {
			if errors.Is(err, e) {
				n++
			}
		}
		if err != nil {
			if n != 1 {
				t.Fatalf("Verify error %v wraps %d of ErrUnsigned, ErrStale, ErrSignature, want 1", err, n)
			}
			return
		}
		if practice == "" || ts == "" || sig == "" {
			t.Fatalf("Verify accepted a request missing a signature header")
		}
		at, perr := time.Parse(time.RFC3339, ts)
		if perr != nil || fuzzNow.Sub(at).Abs() > MaxClockSkew {
			t.Fatalf("Verify accepted the timestamp %q", ts)
		}
		raw, derr := base64.StdEncoding.DecodeString(sig)
		if derr != nil || !ed25519.Verify(pub, Message(method, path, practice, key, ts, body), raw) {
			t.Fatalf("Verify accepted a signature that does not verify over Message")
		}

		// Every part the signature covers is bound to it.
		type part struct {
			name   string
			change func(r *http.Request, body *[]byte)
		}
		parts := []part{
			{"method", func(r *http.Request, _ *[]byte) { r.Method += "X" }},
			{"path", func(r *http.Request, _ *[]byte) { r.URL.Path += "x" }},
			{"practice", func(r *http.Request, _ *[]byte) { set(r, HeaderPractice, practice+"0") }},
			{"idempotency key", func(r *http.Request, _ *[]byte) { set(r, HeaderIdempotencyKey, key+"0") }},
			{"body", func(_ *http.Request, b *[]byte) { *b = append(bytes.Clone(*b), ' ') }},
			{"timestamp", func(r *http.Request, _ *[]byte) {
				set(r, HeaderTimestamp, at.Add(time.Second).Format(time.RFC3339))
			}},
		}
		for _, p := range parts {
			r2 := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: r.Header.Clone()}
			b2 := body
			p.change(r2, &b2)
			if Verify(r2, pub, b2, fuzzNow) == nil {
				t.Fatalf("the signature still verifies after the %s changed", p.name)
			}
		}
		// Another practice and idempotency key under the same signature.
		if practice2 == practice && key2 == key {
			return
		}
		r2 := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: r.Header.Clone()}
		set(r2, HeaderPractice, practice2)
		set(r2, HeaderIdempotencyKey, key2)
		if Verify(r2, pub, body, fuzzNow) == nil {
			t.Fatalf("a signature over practice %q, key %q also verifies for practice %q, key %q",
				practice, key, practice2, key2)
		}
	})
}
