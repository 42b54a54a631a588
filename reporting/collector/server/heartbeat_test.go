package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/wire"
)

func heartbeatBody(t testing.TB, ods, nonce string, sentAt time.Time, pad int) []byte {
	t.Helper()
	hb := wire.Heartbeat{Practice: ods, AgentVersion: "2.0", SentAt: sentAt.UTC().Format(time.RFC3339), Nonce: nonce}
	for n := 0; n < pad; n += 403 {
		hb.Problems = append(hb.Problems, strings.Repeat("x", 400)) // stands for a large heartbeat
	}
	b, err := json.Marshal(hb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHeartbeatReplayRefused: one captured heartbeat replayed twenty times
// is stored once; the replays get 409 replayed and change nothing. An
// agent too old to send a nonce is still heard, and an exact replay of
// its request is caught by its signature.
func TestHeartbeatReplayRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		a := e.enrolled(t, "Y01234", "QWE")
		now := time.Now()
		body := heartbeatBody(t, "Y01234", wire.NewNonce(), now, 0)
		if resp, b := a.post(t, e.url, wire.PathHeartbeats, "", body, now); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("heartbeat: %d %s", resp.StatusCode, b)
		}
		first, _ := e.db.LastHeartbeats(ctx, "")
		for i := range 20 {
			// Captured and re-sent as it was, or re-signed by a thief
			// of the key a moment later: the nonce is the same.
			req := a.request(t, e.url, wire.PathHeartbeats, "", body, now.Add(time.Duration(i%2)*time.Second))
			resp, b := do(t, req)
			if resp.StatusCode != http.StatusConflict || problem(t, resp, b).Type != server.ProblemReplayed {
				t.Fatalf("replay %d: %d %s", i, resp.StatusCode, b)
			}
		}
		if hist, err := e.db.HeartbeatHistory(ctx, "Y01234"); err != nil || len(hist) != 1 {
			t.Fatalf("after 20 replays the store has %d heartbeats, %v; want 1", len(hist), err)
		}
		if last, _ := e.db.LastHeartbeats(ctx, ""); !last["Y01234"].ReceivedAt.Equal(first["Y01234"].ReceivedAt) {
			t.Fatal("a replay moved the practice's last heartbeat")
		}

		// An old agent: no nonce. Accepted; the very same request again is not.
		old := heartbeatBody(t, "Y01234", "", now, 0)
		req := a.request(t, e.url, wire.PathHeartbeats, "", old, now.Add(-time.Minute))
		if resp, b := do(t, req); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("heartbeat without a nonce: %d %s", resp.StatusCode, b)
		}
		replay := a.request(t, e.url, wire.PathHeartbeats, "", old, now.Add(-time.Minute))
		if resp, b := do(t, replay); resp.StatusCode != http.StatusConflict {
			t.Fatalf("replay of a heartbeat without a nonce: %d %s", resp.StatusCode, b)
		}
	})
}

func TestHeartbeatRefused(t *testing.T) {
	e := newEnv(t, engines["SQLite"](t))
	a := e.enrolled(t, "Y01234", "QWE")
	now := time.Now()
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		typ    string
	}{
		{"sent an hour ago", heartbeatBody(t, "Y01234", wire.NewNonce(), now.Add(-time.Hour), 0), http.StatusUnauthorized, server.ProblemStale},
		{"sent in the future", heartbeatBody(t, "Y01234", wire.NewNonce(), now.Add(time.Hour), 0), http.StatusUnauthorized, server.ProblemStale},
		{"sent_at not a time", []byte(`{"practice":"Y01234","agent_version":"2","pending":0,"sent_at":"yesterday","nonce":"00112233445566778899aabbccddeeff"}`), http.StatusUnprocessableEntity, server.ProblemInvalid},
		{"nonce not hex", heartbeatBody(t, "Y01234", "not-a-nonce!", now, 0), http.StatusUnprocessableEntity, server.ProblemInvalid},
		{"over 64 KiB", heartbeatBody(t, "Y01234", wire.NewNonce(), now, wire.MaxHeartbeatBytes), http.StatusRequestEntityTooLarge, server.ProblemTooLarge},
	} {
		resp, b := a.post(t, e.url, wire.PathHeartbeats, "", tc.body, now)
		if resp.StatusCode != tc.status || problem(t, resp, b).Type != tc.typ {
			t.Errorf("%s: %d %s; want %d %s", tc.name, resp.StatusCode, b, tc.status, tc.typ)
		}
	}
	if hist, _ := e.db.HeartbeatHistory(ctx, "Y01234"); len(hist) != 0 {
		t.Fatalf("refused heartbeats were stored: %d", len(hist))
	}
	// Just under the limit is fine.
	if resp, b := a.post(t, e.url, wire.PathHeartbeats, "", heartbeatBody(t, "Y01234", wire.NewNonce(), now, wire.MaxHeartbeatBytes-1200), now); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("heartbeat just under 64 KiB: %d %s", resp.StatusCode, b)
	}
}

// TestHeartbeatStorageFlood: an enrolled practice (or a stolen key) sends
// 400 heartbeats of 60 KiB, each with a new nonce, as fast as it can: 24
// MiB in. The store keeps at most one per clock hour, and the SQLite
// files stay a few MiB.
func TestHeartbeatStorageFlood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collector.db")
	e := newEnv(t, "sqlite:"+path)
	a := e.enrolled(t, "Y01234", "QWE")
	size := func() int64 {
		var n int64
		for _, p := range []string{path, path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	before := size()
	const beats, pad = 400, 60 << 10
	for i := range beats {
		now := time.Now()
		resp, b := a.post(t, e.url, wire.PathHeartbeats, "", heartbeatBody(t, "Y01234", wire.NewNonce(), now, pad), now)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("heartbeat %d: %d %s", i, resp.StatusCode, b)
		}
	}
	hist, err := e.db.HeartbeatHistory(ctx, "Y01234")
	if err != nil || len(hist) == 0 || len(hist) > 2 { // 2 if the flood crossed an hour
		t.Fatalf("after %d heartbeats the store keeps %d, %v; want 1 (2 across an hour)", beats, len(hist), err)
	}
	grown := size() - before
	t.Logf("%d heartbeats, %d MiB sent; SQLite files grew %d KiB", beats, beats*pad>>20, grown>>10)
	if grown > 8<<20 {
		t.Fatalf("the store grew %d MiB for %d heartbeats of %d KiB: not bounded", grown>>20, beats, pad>>10)
	}
}
