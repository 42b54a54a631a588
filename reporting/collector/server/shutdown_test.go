package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/server/servertest"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/wire"
)

// wantStored checks that the store holds the submission practice sent
// under key with exactly body, all its measure rows, and (when want is not
// zero) the acknowledgement's receive time.
func wantStored(t testing.TB, db *store.DB, practice, key string, body []byte, want wire.Ack) {
	t.Helper()
	sub, err := db.Submission(ctx, practice, key)
	if err != nil {
		t.Fatalf("acknowledged submission %s is not stored: %v", key, err)
	}
	if !bytes.Equal(sub.Body, body) {
		t.Fatalf("submission %s: stored body differs from the one sent", key)
	}
	if len(sub.Measures) != servertest.Measures {
		t.Fatalf("submission %s: %d measure rows stored, want %d", key, len(sub.Measures), servertest.Measures)
	}
	if want != (wire.Ack{}) {
		if got := server.AckFor(sub); got.ReceivedAt != want.ReceivedAt || got.SubmissionID != want.SubmissionID {
			t.Fatalf("submission %s: stored %+v, acknowledged %+v", key, got, want)
		}
	}
}

// wantIntact checks the SQLite file at path below the store: the database
// is not corrupt, every reference resolves, and no measure row lacks its
// submission or submission its measure rows.
func wantIntact(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path) // the driver store registers
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	rows, err := db.Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	bad := rows.Next()
	rows.Close()
	if bad {
		t.Fatal("foreign_key_check reports dangling references")
	}
	var orphans, empty int
	if err := db.QueryRow("SELECT count(*) FROM measure_rows m LEFT JOIN submissions s ON s.id = m.submission_id WHERE s.id IS NULL").Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM submissions s WHERE NOT EXISTS (SELECT 1 FROM measure_rows m WHERE m.submission_id = s.id)").Scan(&empty); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || empty != 0 {
		t.Fatalf("half-stored submissions: %d measure rows without a submission, %d submissions without measure rows", orphans, empty)
	}
}

// TestShutdownFinishesRequestInFlight begins a signed submission whose body
// arrives in two halves, shuts the collector down between them, and checks
// that new connections are refused at once while the submission in flight
// still completes: acknowledged, and in the database file when it is
// opened again.
func TestShutdownFinishesRequestInFlight(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collector.db")
	db := openStore(t, "sqlite:"+path)
	defer db.Close()
	s := serve(t, server.Options{Store: db}, 30*time.Second)
	a := (&env{db: db, url: s.url}).enrolled(t, "Y01234", "QWE")

	doc := document("Y01234", "2025-03-31", 41)
	slow := servertest.StartSlow(t, s.addr, a.request(t, s.url, wire.PathSubmissions, "inflight-0001", doc, time.Now()))
	half := len(doc) / 2
	if err := slow.Send(doc[:half]); err != nil {
		t.Fatal(err)
	}

	s.cancel() // SIGTERM
	servertest.WaitRefused(t, s.addr)
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned (%v) with a submission in flight", err)
	default:
	}

	if err := slow.Send(doc[half:]); err != nil {
		t.Fatalf("the rest of the body: %v", err)
	}
	resp, body, err := slow.Response()
	if err != nil {
		t.Fatalf("no answer to the submission in flight: %v", err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("submission in flight: %d %s, want 201", resp.StatusCode, body)
	}
	got := ack(t, body)
	if got.SubmissionID != "inflight-0001" || got.Practice != "Y01234" || got.AsOf != "2025-03-31" {
		t.Fatalf("ack = %+v", got)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("Serve = %v, want a clean stop", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openStore(t, "sqlite:"+path)
	defer db.Close()
	wantStored(t, db, "Y01234", "inflight-0001", doc, got)
}

// stuckStore holds submissions with idempotency key stuck in Ingest until
// their context is cancelled, then stores them with that context: a
// request still busy in the store at the shutdown timeout.
type stuckStore struct {
	*store.DB
	stuck    string
	entered  chan struct{}
	returned chan struct{}
}

func (s *stuckStore) Ingest(ctx context.Context, sub collector.Submission) (store.IngestResult, error) {
	if sub.IdempotencyKey != s.stuck {
		return s.DB.Ingest(ctx, sub)
	}
	defer close(s.returned)
	close(s.entered)
	<-ctx.Done()
	return s.DB.Ingest(ctx, sub)
}

// TestShutdownTimeoutCutsOffRequests has two requests still running at the
// shutdown timeout, one waiting for the rest of its body and one busy in
// the store. Serve cuts both off, waits for their handlers, and says so;
// neither is acknowledged, and the database opens again intact, with the
// one busy in the store either wholly stored or not at all. The agent's
// retries after the restart then succeed.
func TestShutdownTimeoutCutsOffRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collector.db")
	db := openStore(t, "sqlite:"+path)
	defer db.Close()
	st := &stuckStore{DB: db, stuck: "stuck-0001", entered: make(chan struct{}), returned: make(chan struct{})}
	s := serve(t, server.Options{Store: st}, time.Second)
	a := (&env{db: db, url: s.url}).enrolled(t, "Y01234", "QWE")

	slowDoc := document("Y01234", "2025-03-31", 41)
	slow := servertest.StartSlow(t, s.addr, a.request(t, s.url, wire.PathSubmissions, "slow-0001", slowDoc, time.Now()))
	if err := slow.Send(slowDoc[:len(slowDoc)/2]); err != nil {
		t.Fatal(err)
	}
	stuckDoc := document("Y01234", "2025-04-30", 42)
	type answer struct {
		status int
		err    error
	}
	stuckAnswer := make(chan answer, 1)
	stuckReq := a.request(t, s.url, wire.PathSubmissions, "stuck-0001", stuckDoc, time.Now())
	go func() {
		resp, err := client.Do(stuckReq)
		if err != nil {
			stuckAnswer <- answer{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		stuckAnswer <- answer{status: resp.StatusCode}
	}()
	<-st.entered

	err := s.stop()
	if !errors.Is(err, server.ErrRequestsCutOff) || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("Serve = %v, want an error saying requests in flight were cut off", err)
	}
	select {
	case <-st.returned:
	default:
		t.Fatal("Serve returned while a handler was still busy in the store")
	}
	if resp, body, err := slow.Response(); err == nil {
		t.Fatalf("the request waiting for its body was answered %d %s, want its connection cut", resp.StatusCode, body)
	}
	if ans := <-stuckAnswer; ans.err == nil {
		t.Fatalf("the request busy in the store was answered %d, want its connection cut", ans.status)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	wantIntact(t, path)
	db = openStore(t, "sqlite:"+path) // migrations run again
	defer db.Close()
	if _, err := db.Submission(ctx, "Y01234", "slow-0001"); !errors.Is(err, collector.ErrNotFound) {
		t.Fatalf("the submission cut off before its body was complete: %v, want not stored", err)
	}
	stuckStored := false
	if _, err := db.Submission(ctx, "Y01234", "stuck-0001"); err == nil {
		stuckStored = true
		wantStored(t, db, "Y01234", "stuck-0001", stuckDoc, wire.Ack{})
	} else if !errors.Is(err, collector.ErrNotFound) {
		t.Fatal(err)
	}

	// The agent retries both against the restarted collector.
	s = serve(t, server.Options{Store: db}, 30*time.Second)
	if resp, body := a.submit(t, s.url, "slow-0001", slowDoc); resp.StatusCode != http.StatusCreated {
		t.Fatalf("retry of the cut-off submission: %d %s", resp.StatusCode, body)
	}
	want := http.StatusCreated
	if stuckStored {
		want = http.StatusOK // stored but never acknowledged: the retry gets the original
	}
	if resp, body := a.submit(t, s.url, "stuck-0001", stuckDoc); resp.StatusCode != want {
		t.Fatalf("retry of the submission cut off in the store: %d %s, want %d", resp.StatusCode, body, want)
	}
}

// TestShutdownMidBurstLosesNothingAcknowledged sends 200 submissions from
// 16 agents at once and shuts the collector down part way through. Every
// submission it acknowledged is in the store after a restart, none was
// answered with an error status, and retrying the rest against the
// restarted collector stores every one of them exactly once.
func TestShutdownMidBurstLosesNothingAcknowledged(t *testing.T) {
	const total, workers, practices, stopAfter = 200, 16, 8, 50
	for name, storage := range engines {
		t.Run(name, func(t *testing.T) {
			storage := storage(t)
			db := openStore(t, storage)
			defer db.Close()
			s := serve(t, server.Options{Store: db}, 30*time.Second)
			e := &env{db: db, url: s.url}
			agents := make([]*agent, practices)
			for i := range agents {
				agents[i] = e.enrolled(t, fmt.Sprintf("Y%05d", i), "QWE")
			}
			type job struct {
				a    *agent
				key  string
				body []byte
			}
			jobs := make([]job, total)
			for i := range jobs {
				a := agents[i%practices]
				monthEnd := time.Date(2020, time.Month(i/practices)+2, 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
				jobs[i] = job{a: a, key: fmt.Sprintf("burst-%06d", i), body: document(a.ods, monthEnd, float64(40+i))}
			}

			// Agents keep their connections alive, as the real uploader does.
			tr := &http.Transport{MaxIdleConnsPerHost: workers}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: time.Minute}
			var (
				next, acked atomic.Int64
				stopOnce    sync.Once
				mu          sync.Mutex
				acks        = map[string]wire.Ack{}
				failures    []string
				refused     int
			)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= total {
							return
						}
						j := jobs[i]
						req, err := http.NewRequest("POST", s.url+wire.PathSubmissions, bytes.NewReader(j.body))
						if err != nil {
							t.Error(err)
							return
						}
						req.Header.Set(wire.HeaderIdempotencyKey, j.key)
						wire.Sign(req, j.a.priv, j.a.ods, j.body, time.Now())
						resp, err := hc.Do(req)
						if err != nil {
							mu.Lock()
							refused++
							mu.Unlock()
							continue
						}
						body, rerr := io.ReadAll(resp.Body)
						resp.Body.Close()
						mu.Lock()
						switch {
						case rerr != nil:
							refused++ // cut before the whole answer: not acknowledged
						case resp.StatusCode == http.StatusCreated:
							var a wire.Ack
							if err := json.Unmarshal(body, &a); err != nil {
								failures = append(failures, fmt.Sprintf("%s: unreadable ack %s", j.key, body))
							} else {
								acks[j.key] = a
							}
						default:
							failures = append(failures, fmt.Sprintf("%s: %d %s", j.key, resp.StatusCode, body))
						}
						mu.Unlock()
						if resp.StatusCode == http.StatusCreated && acked.Add(1) == stopAfter {
							stopOnce.Do(s.cancel) // shutdown begins mid-burst
						}
					}
				})
			}
			wg.Wait()
			stopOnce.Do(s.cancel)
			if err := s.stop(); err != nil {
				t.Fatalf("Serve = %v, want a clean stop", err)
			}
			if len(failures) > 0 {
				t.Fatalf("answers other than 201 during the shutdown:\n%s", strings.Join(failures, "\n"))
			}
			if len(acks) < stopAfter {
				t.Fatalf("%d acknowledged, want at least the %d before the shutdown", len(acks), stopAfter)
			}
			t.Logf("%d acknowledged, %d refused or cut off by the shutdown", len(acks), refused)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			db = openStore(t, storage)
			defer db.Close()
			for _, j := range jobs {
				if want, ok := acks[j.key]; ok {
					wantStored(t, db, j.a.ods, j.key, j.body, want)
				}
			}
			s = serve(t, server.Options{Store: db}, 30*time.Second)
			for _, j := range jobs {
				resp, body := j.a.submit(t, s.url, j.key, j.body)
				want, ok := acks[j.key]
				switch {
				case ok && resp.StatusCode != http.StatusOK:
					t.Fatalf("retry of acknowledged %s: %d %s, want 200", j.key, resp.StatusCode, body)
				case ok:
					want.Duplicate = true
					if got := ack(t, body); got != want {
						t.Fatalf("retry of %s: ack %+v, want the original %+v", j.key, got, want)
					}
				case resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK:
					t.Fatalf("retry of unacknowledged %s: %d %s", j.key, resp.StatusCode, body)
				}
			}
			hist, err := db.SubmissionHistory(ctx, store.SubmissionFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != total {
				t.Fatalf("%d submissions stored after the retries, want %d", len(hist), total)
			}
		})
	}
}
