package server_test

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/wire"
)

// loadSize reads a positive whole number from the environment.
func loadSize(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// BenchmarkLoadICB loads a large ICB the way it fills in life and then
// has its analysts read it at once: STEWARD_LOAD_PRACTICES practices (200)
// enrol and each send STEWARD_LOAD_MONTHS months (36) of signed results
// documents through the ingest API on loopback; 12 periods of the bench
// scheme are reconciled; then signed-in analysts, one and then ten
// (STEWARD_LOAD_ANALYSTS: "1 10"), request pages for STEWARD_LOAD_SECONDS
// seconds (20) a crowd, each in turn:
// the overview, the overview of one period's claims, a practice's page
// and a practice's MeasureReport (the FHIR export). It prints each page's
// median and 95th percentile and the requests served a second. Targets:
// p95 under 300 ms on PostgreSQL and under 500 ms on SQLite for every
// page. One op is the whole run: use -benchtime 1x.
//
//	go test -run '^$' -bench LoadICB -benchtime 1x ./reporting/collector/server/
func BenchmarkLoadICB(b *testing.B) {
	practices := loadSize(b, "STEWARD_LOAD_PRACTICES", 200)
	months := loadSize(b, "STEWARD_LOAD_MONTHS", 36)
	var analysts []int
	for _, f := range strings.Fields(cmp.Or(os.Getenv("STEWARD_LOAD_ANALYSTS"), "1 10")) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			b.Fatalf("STEWARD_LOAD_ANALYSTS=%q: want positive whole numbers", os.Getenv("STEWARD_LOAD_ANALYSTS"))
		}
		analysts = append(analysts, n)
	}
	seconds := loadSize(b, "STEWARD_LOAD_SECONDS", 20)
	for _, name := range []string{"SQLite", "Postgres"} {
		b.Run(name, func(b *testing.B) {
			if name == "Postgres" && os.Getenv("STEWARD_TEST_PG") == "" {
				b.Skip("no STEWARD_TEST_PG")
			}
			for range b.N {
				loadICB(b, name, practices, months, analysts, time.Duration(seconds)*time.Second)
			}
		})
	}
}

func loadICB(b *testing.B, engine string, practices, months int, crowds []int, d time.Duration) {
	e := newEnv(b, engines[engine](b))
	// The months end at the last month end before the collector's
	// clock's month, so every document is in the past.
	now := time.Now().UTC()
	last := time.Date(now.Year(), now.Month(), 0, 0, 0, 0, 0, time.UTC)
	var ends []string
	for i := months - 1; i >= 0; i-- {
		ends = append(ends, time.Date(last.Year(), last.Month()-time.Month(i)+1, 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
	}
	agents := make([]*agent, practices)
	for i := range agents {
		agents[i] = e.enrolled(b, fmt.Sprintf("Y%05d", i), "QXX")
	}

	// Every document through the real ingest API, 16 at a time.
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	start := time.Now()
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 16 {
		wg.Go(func() {
			for j := range jobs {
				a, asOf := agents[j[0]], ends[j[1]]
				body := document(a.ods, asOf, float64(20+(j[0]*7+j[1])%60))
				req, _ := http.NewRequest("POST", e.url+wire.PathSubmissions, bytes.NewReader(body))
				req.Header.Set(wire.HeaderIdempotencyKey, fmt.Sprintf("load-%05d-%s", j[0], asOf))
				wire.Sign(req, a.priv, a.ods, body, time.Now())
				resp, err := hc.Do(req)
				if err != nil {
					failed.Store(err.Error())
					continue
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failed.Store(fmt.Sprintf("submit %s %s: %d %s", a.ods, asOf, resp.StatusCode, out))
				}
			}
		})
	}
	for p := range practices {
		for m := range months {
			jobs <- [2]int{p, m}
		}
	}
	close(jobs)
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	loaded := time.Since(start)

	// What serve's prune loop does at its next turn.
	start = time.Now()
	if err := e.db.Optimize(ctx); err != nil {
		b.Fatal(err)
	}
	optimized := time.Since(start)

	yaml, err := os.ReadFile("../../../testdata/schemes/bench-scheme.yaml")
	if err != nil {
		b.Fatal(err)
	}
	if err := e.db.AddScheme(ctx, store.StoredScheme{ID: "bench", YAML: string(yaml), AddedBy: "bench"}); err != nil {
		b.Fatal(err)
	}
	svc := &claims.Service{DB: e.db}
	sc, err := svc.Scheme(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var periods []string
	for _, p := range sc.PeriodList() {
		if p >= ends[0][:7] && p <= ends[len(ends)-1][:7] {
			periods = append(periods, p)
		}
	}
	periods = periods[max(0, len(periods)-12):]
	if len(periods) == 0 {
		b.Fatalf("no period of the bench scheme (%s to %s) within the months loaded (%s to %s)", sc.Periods.From, sc.Periods.To, ends[0], ends[len(ends)-1])
	}
	start = time.Now()
	if _, err := svc.CalculatePeriods(ctx, sc, periods, "bench"); err != nil {
		b.Fatal(err)
	}
	reconciled := time.Since(start)

	// Signed-in analysts of the ICB, each with a session.
	cookies := make([]*http.Cookie, slices.Max(crowds))
	for i := range cookies {
		u, err := e.db.AddUser(ctx, collector.User{Name: fmt.Sprintf("analyst%d", i), Role: collector.RoleICBAnalyst, ICB: "QXX"}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		id, err := auth.RandomToken(32)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.db.CreateSession(ctx, auth.HashSecret(id), collector.Session{UserID: u.ID, CSRFToken: "bench", CreatedAt: time.Now(),
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		cookies[i] = &http.Cookie{Name: web.SessionCookie, Value: id}
	}
	get := func(cookie *http.Cookie, path string) time.Duration {
		req, _ := http.NewRequest("GET", e.url+path, nil)
		req.AddCookie(cookie)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			failed.Store(err.Error())
			return 0
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		if resp.StatusCode != http.StatusOK || len(out) == 0 {
			failed.Store(fmt.Sprintf("GET %s: %d %.200s", path, resp.StatusCode, out))
		}
		return took
	}
	first := get(cookies[0], "/")

	pages := []page{
		{"overview", func(*rand.Rand) string { return "/" }},
		{"overview, a period's claims", func(r *rand.Rand) string {
			return "/?scheme=bench&period=" + periods[r.IntN(len(periods))]
		}},
		{"practice", func(r *rand.Rand) string { return "/practices/" + agents[r.IntN(len(agents))].ods }},
		{"measure report (FHIR)", func(r *rand.Rand) string {
			return "/v1/practices/" + agents[r.IntN(len(agents))].ods + "/measure-reports/" + ends[r.IntN(len(ends))]
		}},
	}
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	fmt.Printf("%s: %d practices x %d months (%d submissions) loaded in %.1f s (%.0f/s); statistics refreshed in %s ms; %d periods reconciled in %.1f s; first overview %s ms\n",
		engine, practices, months, practices*months, loaded.Seconds(), float64(practices*months)/loaded.Seconds(), ms(optimized),
		len(periods), reconciled.Seconds(), ms(first))
	for _, analysts := range crowds {
		crowd(b, engine, analysts, d, pages, func(i int, path string) time.Duration { return get(cookies[i], path) })
		if f := failed.Load(); f != nil {
			b.Fatal(f)
		}
	}
}

// page is one kind of page the analysts request.
type page struct {
	name string
	path func(r *rand.Rand) string
}

// crowd has analysts request pages in turn for d, get(analyst, path)
// timing each, and prints each page's median and 95th percentile.
func crowd(b *testing.B, engine string, analysts int, d time.Duration, pages []page, get func(int, string) time.Duration) {
	lat := make([][]time.Duration, len(pages))
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	cpu := processCPU()
	for i := range analysts {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 1))
			mine := make([][]time.Duration, len(pages))
			for k := 0; time.Now().Before(stop); k++ {
				p := (k + i) % len(pages)
				mine[p] = append(mine[p], get(i, pages[p].path(r)))
			}
			mu.Lock()
			for p := range pages {
				lat[p] = append(lat[p], mine[p]...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu = processCPU() - cpu
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	fmt.Printf("%-8s %-30s %8s %10s %10s %8s\n", "engine", "page ("+strconv.Itoa(analysts)+" analysts)", "requests", "median_ms", "p95_ms", "req/s")
	total := 0
	for p, l := range lat {
		slices.Sort(l)
		total += len(l)
		if len(l) == 0 {
			continue
		}
		fmt.Printf("%-8s %-30s %8d %10s %10s %8.1f\n", engine, pages[p].name, len(l), ms(l[len(l)/2]), ms(l[len(l)*95/100]), float64(len(l))/elapsed.Seconds())
	}
	fmt.Printf("%-8s %-30s %8d %10s %10s %8.1f\n", engine, "all pages", total, "", "", float64(total)/elapsed.Seconds())
	if total > 0 && cpu > 0 {
		fmt.Printf("%-8s %d analysts: this process (collector and its clients, not PostgreSQL) used %s ms of CPU a request\n", engine, analysts, ms(cpu/time.Duration(total)))
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "requests/s@"+strconv.Itoa(analysts))
}
