// Package servertest helps tests drive a running collector over real
// connections, as agents do: valid results documents, and requests whose
// body arrives in pieces while the test does something else meanwhile
// (stops the server, say).
package servertest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/results"
)

// Pack and PackVersion are the built-in pack whose documents the helpers
// build.
const (
	Pack        = "medsip"
	PackVersion = "2026.1.0"
)

// Figures are the headline figures of a test document; the other measures
// of the pack take fixed values.
type Figures struct {
	Eligible, LongTerm, HighDose, Reviewed, OMEmg float64
}

// MedsipDocument returns a valid results document of the built-in medsip
// pack for practice at asOf (a month end): every measure of the pack, as
// the collector requires, without titles (the pack's are used).
func MedsipDocument(practice, asOf string, f Figures) results.Document {
	count := func(id string, v float64) results.Measure {
		return results.Measure{ID: id, Kind: results.KindCount, Value: results.F(v)}
	}
	ratio := func(id string, num, den, per float64) results.Measure {
		m := results.Measure{ID: id, Kind: results.KindRatio, Numerator: results.F(num), Denominator: results.F(den)}
		if per != 0 {
			m.Per = per
		} else {
			per = 1
		}
		if den != 0 {
			m.Value = results.F(results.Round4(num / den * per))
		}
		return m
	}
	return results.Document{
		Schema: results.Schema, Practice: practice, Pack: results.PackRef{ID: Pack, Version: PackVersion}, AsOf: asOf,
		Measures: []results.Measure{
			count("registered_adults", f.Eligible+100),
			count("eligible_adults", f.Eligible),
			count("long_term", f.LongTerm),
			count("high_dose", f.HighDose),
			ratio("long_term_reviewed", f.Reviewed, f.LongTerm, 0),
			ratio("high_dose_reviewed", math.Floor(f.HighDose/2), f.HighDose, 0),
			{ID: "ome_total_mg", Kind: results.KindSum, Value: results.F(f.OMEmg)},
			ratio("ome_per_1000", f.OMEmg, f.Eligible, 1000),
			count("long_term_baseline", 45),
			count("high_dose_baseline", 12),
			ratio("long_term_baseline_stopped", 6, 40, 0),
			ratio("high_dose_baseline_stopped", 3, 11, 0),
			count("baseline_lost", 5),
			count("ome_unknown_issues", 2),
		},
		Producer: results.Producer{Name: "steward-agent", Version: "test"},
	}
}

// Measures is how many measures a document of the helpers holds.
const Measures = 14

// Document returns a valid results document for practice at asOf (a month
// end) as JSON: every measure of the built-in medsip pack, with long_term
// longTerm, long_term_reviewed 30 of them (all of them when fewer),
// eligible_adults 2,800 and ome_total_mg 123456.5.
func Document(practice, asOf string, longTerm float64) []byte {
	d := MedsipDocument(practice, asOf, Figures{Eligible: 2800, LongTerm: longTerm, HighDose: 10, Reviewed: min(30, longTerm), OMEmg: 123456.5})
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// ioDeadline bounds every read and write on a Slow connection, so a server
// that never answers fails the test instead of hanging it.
const ioDeadline = time.Minute

// Slow is an HTTP/1.1 request on a connection of its own whose body the
// test sends piece by piece.
type Slow struct {
	t    testing.TB
	req  *http.Request
	conn net.Conn
	br   *bufio.Reader
}

// StartSlow connects to addr (host:port) and sends req's request line and
// headers with "Expect: 100-continue", but not its body; req.ContentLength
// must be set. It returns once the server has answered "100 Continue",
// which Go's server sends only when the handler first reads the body: the
// request is then in a handler, in flight, waiting for the body.
func StartSlow(t testing.TB, addr string, req *http.Request) *Slow {
	t.Helper()
	if req.ContentLength <= 0 {
		t.Fatal("StartSlow: the request needs a ContentLength")
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Slow{t: t, req: req, conn: conn, br: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(ioDeadline))
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n",
		req.Method, req.URL.RequestURI(), addr, req.ContentLength)
	if err := req.Header.Write(w); err != nil {
		t.Fatal(err)
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(s.br, req)
	if err != nil {
		t.Fatalf("StartSlow: no interim answer: %v", err)
	}
	if resp.StatusCode != http.StatusContinue {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("StartSlow: %s before the body, want 100 Continue (%s)", resp.Status, b)
	}
	return s
}

// Send writes part of the body.
func (s *Slow) Send(b []byte) error {
	s.conn.SetDeadline(time.Now().Add(ioDeadline))
	_, err := s.conn.Write(b)
	return err
}

// Response reads the final response and its body. An error means the
// connection ended without one (the server cut the request off).
func (s *Slow) Response() (*http.Response, []byte, error) {
	s.conn.SetDeadline(time.Now().Add(ioDeadline))
	resp, err := http.ReadResponse(s.br, s.req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// WaitRefused dials addr until a connection is refused: the server has
// stopped listening (on loopback a closed port refuses at once). It fails t if that does not happen within a minute.
func WaitRefused(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return // refused (a timeout would be a server too busy to accept)
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections to %s are still accepted (last dial: %v)", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
