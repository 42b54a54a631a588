package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, _ := ed25519.GenerateKey(nil)
	now := time.Date(2025, 4, 2, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"schema":"steward.results/v1"}`)
	newReq := func() *httptestRequest {
		r := httptest.NewRequest("POST", PathSubmissions, bytes.NewReader(body))
		r.Header.Set(HeaderIdempotencyKey, "abc")
		Sign(r, priv, "Y01234", body, now)
		return &httptestRequest{r}
	}
	if err := Verify(newReq().Request, pub, body, now.Add(time.Minute)); err != nil {
		t.Fatalf("Verify(good) = %v", err)
	}
	cases := []struct {
		name   string
		mutate func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time)
		want   error
	}{
		{"changed body", func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time) {
			return []byte(`{"schema":"x"}`), pub, now
		}, ErrSignature},
		{"other key", func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time) { return body, otherPub, now }, ErrSignature},
		{"other practice", func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time) {
			r.Header.Set(HeaderPractice, "Y09999")
			return body, pub, now
		}, ErrSignature},
		{"other idempotency key", func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time) {
			r.Header.Set(HeaderIdempotencyKey, "abd")
			return body, pub, now
		}, ErrSignature},
		{"replayed later", func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time) {
			return body, pub, now.Add(time.Hour)
		}, ErrStale},
		{"unsigned", func(r *httptestRequest) ([]byte, ed25519.PublicKey, time.Time) {
			r.Header.Del(HeaderSignature)
			return body, pub, now
		}, ErrUnsigned},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newReq()
			b, k, at := c.mutate(r)
			if err := Verify(r.Request, k, b, at); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

type httptestRequest struct{ *http.Request }
