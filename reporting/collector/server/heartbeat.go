package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/nhs-steward/steward/reporting/wire"
)

// ProblemReplayed: a heartbeat whose nonce the collector already recorded
// for the practice.
const ProblemReplayed = "urn:steward:problem:replayed"

var noncePattern = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// heartbeatLimit is the body limit for heartbeats: wire.MaxHeartbeatBytes,
// or max_request_bytes if that is smaller.
func (s *Server) heartbeatLimit() int64 {
	return min(s.opts.MaxRequestBytes, wire.MaxHeartbeatBytes)
}

// replayKey checks a heartbeat's sent_at against the clock-skew window
// and returns the key its replay is detected by: its nonce, or, from an
// agent too old to send one, the digest of the request's signature (the
// same captured request has the same signature). On a problem it answers
// and returns false.
func (s *Server) replayKey(w http.ResponseWriter, r *http.Request, hb *wire.Heartbeat) (string, bool) {
	sent, err := time.Parse(time.RFC3339, hb.SentAt)
	if err != nil {
		writeProblem(w, http.StatusUnprocessableEntity, ProblemInvalid,
			fmt.Sprintf("sent_at %q is not an RFC 3339 time such as 2025-04-02T09:30:00Z", hb.SentAt))
		return "", false
	}
	if d := s.now().Sub(sent); d > wire.MaxClockSkew || d < -wire.MaxClockSkew {
		writeProblem(w, http.StatusUnauthorized, ProblemStale,
			fmt.Sprintf("the heartbeat's sent_at is %s from the collector's clock (the limit is %s): check the practice server's clock",
				d.Round(time.Second), wire.MaxClockSkew))
		return "", false
	}
	if hb.Nonce == "" {
		s.log.Info("heartbeat without a nonce: accepted while agents are upgraded; replays are caught by signature",
			"practice", hb.Practice, "agent_version", hb.AgentVersion)
		sum := sha256.Sum256([]byte(r.Header.Get(wire.HeaderSignature)))
		return "sig:" + hex.EncodeToString(sum[:16]), true
	}
	if !noncePattern.MatchString(hb.Nonce) {
		writeProblem(w, http.StatusUnprocessableEntity, ProblemInvalid,
			"nonce must be 16 to 64 lower-case hex digits, new for every heartbeat (wire.NewNonce makes one)")
		return "", false
	}
	return hb.Nonce, true
}
