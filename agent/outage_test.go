package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/results"
)

// serveOn starts h on l, a listener the caller chose (so that a collector
// can come back on the address it went away from).
func serveOn(l net.Listener, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv
}

// listenAgain binds addr again after its listener was closed.
func listenAgain(t *testing.T, addr string) net.Listener {
	t.Helper()
	var err error
	for range 50 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the collector cannot listen on %s again: %v", addr, err)
	return nil
}

// TestCollectorUnreachableForADayOverLoopback runs the real service loop,
// with the real upload client, against the real collector on loopback:
// enrolled, then the collector goes away (its address refuses connections)
// for 24 hours of simulated time, hourly ticks, while four months fall due
// (three caught up at start, one on its run day during the outage). When
// the collector comes back on the same address, every month arrives once,
// oldest first, and the outbox is empty with every item in sent/.
func TestCollectorUnreachableForADayOverLoopback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.AddPractice(ctx, collector.Practice{ODS: "Y01234", Name: "Test Surgery", ICB: "QWE"}, "test"); err != nil {
		t.Fatal(err)
	}
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddEnrolmentCode(ctx, "Y01234", auth.HashEnrolmentCode(code), time.Now(), time.Now().Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	// One simulated clock for the agent, its signatures and the collector,
	// which checks a heartbeat's sent_at against its own clock.
	start := time.Date(2025, 4, 4, 12, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	now := start
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	handler := server.New(server.Options{Store: st, Logger: quiet, Now: clock}).Handler()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	srv := serveOn(l, handler)

	key, err := upload.GenerateKey(filepath.Join(dir, "practice.key"))
	if err != nil {
		t.Fatal(err)
	}
	// Two attempts per call, a few milliseconds apart: the day of outage
	// costs milliseconds of backoff, not hours.
	client, err := upload.New(upload.Options{URL: "http://" + addr, Practice: "Y01234", Key: key,
		Attempts: 2, WaitMin: time.Millisecond, WaitMax: 4 * time.Millisecond, Timeout: 10 * time.Second, Logger: quiet, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enrol(ctx, code); err != nil {
		t.Fatalf("enrol: %v", err)
	}
	srv.Close() // the collector goes away; its address now refuses connections
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the collector closed", addr)
	}

	r := &fakeRunner{medsip: true}
	a, err := New(Options{
		Practice: "Y01234", Pack: "medsip", DataDir: filepath.Join(dir, "data"),
		Schedule: Schedule{DayOfMonth: 5, Hour: 2, CatchUpMonths: 2},
		Runner:   r, Sender: client,
		Protect: func(*results.Document) error { return nil },
		Logger:  quiet,
		Now:     clock,
	})
	if err != nil {
		t.Fatal(err)
	}

	months := []string{"2024-12-31", "2025-01-31", "2025-02-28", "2025-03-31"}
	var back *httptest.Server
	ticksSinceBack := 0
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = a.Loop(loopCtx, LoopOptions{Tick: time.Hour, Heartbeat: 6 * time.Hour,
		Sleep: func(ctx context.Context, d time.Duration) error {
			clockMu.Lock()
			now = now.Add(d)
			clockMu.Unlock()
			switch {
			case back == nil && now.Sub(start) >= 24*time.Hour:
				// A day of hourly cycles with nothing reaching the
				// collector: every due month is computed once and waits.
				pending, err := a.Outbox().Pending()
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, it := range pending {
					got = append(got, it.AsOf)
				}
				if strings.Join(got, " ") != strings.Join(months, " ") {
					t.Fatalf("after a day of outage pending = %v, want %v", got, months)
				}
				if sent, _ := a.Outbox().Sent(); len(sent) != 0 {
					t.Fatalf("%d items marked sent while the collector was down", len(sent))
				}
				s, _ := a.state.Load()
				if !strings.Contains(s.LastError, "deliver 2024-12-31") {
					t.Errorf("state after the outage: last error %q, want the failed delivery of the oldest month", s.LastError)
				}
				if s.LastHeartbeat != "" {
					t.Errorf("a heartbeat was recorded as sent during the outage: %s", s.LastHeartbeat)
				}
				back = serveOn(listenAgain(t, addr), handler)
			case back != nil:
				ticksSinceBack++
				if ticksSinceBack == 3 {
					return context.Canceled
				}
			}
			return nil
		}})
	if back != nil {
		defer back.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if back == nil {
		t.Fatal("the loop stopped before the collector came back")
	}
	if got := strings.Join(r.runs, " "); got != strings.Join(months, " ") {
		t.Fatalf("computed %q, want each month once: %q", got, strings.Join(months, " "))
	}

	// The collector holds each month exactly once, received oldest first,
	// under the ids the outbox gave them.
	hist, err := st.SubmissionHistory(ctx, store.SubmissionFilter{Practice: "Y01234", Pack: "medsip"})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hist, func(x, y collector.Submission) int { return int(x.ID - y.ID) }) // receipt order
	var received, keys []string
	for _, s := range hist {
		received = append(received, s.AsOf)
		keys = append(keys, s.IdempotencyKey)
	}
	if got, want := strings.Join(received, " "), strings.Join(months, " "); got != want {
		t.Fatalf("collector received %q, want each month once in as-of order: %q", got, want)
	}
	sent, err := a.Outbox().Sent()
	if err != nil {
		t.Fatal(err)
	}
	var sentIDs []string
	for _, it := range sent {
		if len(it.Ack) == 0 || it.SentAt == nil {
			t.Errorf("sent item %s has no acknowledgement", it.AsOf)
		}
		sentIDs = append(sentIDs, it.ID)
	}
	if got, want := strings.Join(sentIDs, " "), strings.Join(keys, " "); got != want {
		t.Errorf("sent/ holds %s, collector holds keys %s", got, want)
	}
	if pending, _ := a.Outbox().Pending(); len(pending) != 0 {
		t.Fatalf("%d items still pending after the collector came back", len(pending))
	}

	// The heartbeat reached the collector again, saying nothing is pending.
	hbs, err := st.LastHeartbeats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if hb, ok := hbs["Y01234"]; !ok || hb.Pending != 0 {
		t.Errorf("last heartbeat at the collector = %+v (found %v), want one with pending 0", hb, ok)
	}
	s, _ := a.state.Load()
	if s.LastDelivery == "" || s.LastError != "" || s.Pending != 0 {
		t.Errorf("state after recovery = %+v", s)
	}
}
