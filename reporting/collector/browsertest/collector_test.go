package browsertest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nhs-steward/steward/agent/upload"
	"github.com/nhs-steward/steward/reporting/collector"
	"github.com/nhs-steward/steward/reporting/collector/auth"
	"github.com/nhs-steward/steward/reporting/collector/claims"
	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/collector/server/servertest"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/web"
	"github.com/nhs-steward/steward/reporting/results"
	"github.com/nhs-steward/steward/reporting/spc"
	"github.com/nhs-steward/steward/reporting/wire"
)

// The seeded collector: two practices in ICB A (one with 27 months of
// results, enough for XmR limits, one with 6, a plain run chart) and one in
// ICB B; an admin and an analyst of ICB A.
const (
	icbA = "QWE"
	icbB = "QXY"

	odsLong  = "Y01234" // ICB A, 27 months
	odsShort = "Y05678" // ICB A, 6 months
	odsOther = "Z09876" // ICB B, 3 months

	analyst  = "ana.analyst"
	admin    = "ada.admin"
	password = "correct horse battery staple"

	agentVersion = "9.8.7-test"
	pack         = web.DefaultPack
)

// practiceSeed is one practice and the monthly figures its agent submits.
type practiceSeed struct {
	ods, name, icb string
	pcn            string // primary care network, "" for none
	months         []month
	heartbeat      bool
}

// month is one practice-month of MedSIP figures, from which a results
// document is built.
type month struct {
	asOf                                          string
	longTerm, highDose, reviewed, omeMg, eligible float64
}

// monthEnd is the last day of month mon of year (mon may run past December).
func monthEnd(year int, mon time.Month) string {
	return time.Date(year, mon+1, 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// Planted special causes of the long series. The first 20 points (the
// default spc baseline) alternate, so they set round lines and flag
// nothing:
//
//   - long_term alternates 40, 44 (mean 42, mean moving range 4, process
//     limits 31.36 and 52.64), then the last 7 points sit below the mean
//     (38 39 37 38 36 37 35): a shift, all 7 special-cause improvement
//     (lower is better), none beyond the close-to-limit line 34.908.
//   - high_dose alternates 8, 10 (mean 9, limits 3.68 and 14.32) except
//     point 22, 16: outside the upper limit, a concern.
//   - long_term_reviewed = reviewed / long_term alternates 0.5, 0.5227; the
//     last 7 points rise one after another (0.5 0.5385 0.5676 0.6053 0.6389
//     0.6757 0.7429): a trend, all 7 improvement (higher is better), the
//     first although it lies below the mean (later ones break the limit
//     and the close-to-limit line too).
//   - ome_per_1000 alternates 12000, 12400 throughout: common cause only.
const (
	longMonths    = 27
	plantedFrom   = 20 // first point of the planted shift and trend
	highDoseSpike = 22
)

var (
	shiftLongTerm  = []float64{38, 39, 37, 38, 36, 37, 35}
	trendReviewed  = []float64{19, 21, 21, 23, 23, 25, 26}
	longTermMean   = 42.0
	longTermLimits = [2]float64{42 - 2.66*4, 42 + 2.66*4}
)

func longSeries() []month {
	var ms []month
	for i := range longMonths {
		m := month{asOf: monthEnd(2023, time.October+time.Month(i)), eligible: 5000}
		even := i%2 == 0
		m.longTerm, m.reviewed, m.highDose, m.omeMg = 44, 23, 10, 62000
		if even {
			m.longTerm, m.reviewed, m.highDose, m.omeMg = 40, 20, 8, 60000
		}
		if i >= plantedFrom {
			m.longTerm, m.reviewed = shiftLongTerm[i-plantedFrom], trendReviewed[i-plantedFrom]
		}
		if i == highDoseSpike {
			m.highDose = 16
		}
		ms = append(ms, m)
	}
	return ms
}

// plantedClass is the class the planted data must give point i of chart id.
func plantedClass(id string, i int) spc.Class {
	switch {
	case (id == "long_term" || id == "long_term_reviewed") && i >= plantedFrom:
		return spc.Improvement
	case id == "high_dose" && i == highDoseSpike:
		return spc.Concern
	}
	return spc.CommonCause
}

func shortSeries(from time.Month, longTerm ...float64) []month {
	var ms []month
	for i, lt := range longTerm {
		ms = append(ms, month{
			asOf: monthEnd(2025, from+time.Month(i)), longTerm: lt, highDose: float64(4 + i%3),
			reviewed: lt - float64(10+i%4), omeMg: 30000 + float64(500*i), eligible: 2600,
		})
	}
	return ms
}

var seeds = []practiceSeed{
	{ods: odsLong, name: "Riverside Surgery", icb: icbA, pcn: "Riverside PCN", months: longSeries(), heartbeat: true},
	{ods: odsShort, name: "Hill & Dale Medical Centre", icb: icbA, pcn: "Uplands PCN", months: shortSeries(time.July, 30, 32, 31, 29, 33, 30)},
	{ods: odsOther, name: "Seaview Practice", icb: icbB, months: shortSeries(time.October, 55, 57, 56)},
}

func seedFor(ods string) practiceSeed {
	for _, s := range seeds {
		if s.ods == ods {
			return s
		}
	}
	panic("no seed for " + ods)
}

// document is the results document the practice's agent sends for m:
// every measure of the pack, as the collector requires, with m's figures
// in those the dashboard shows.
func (m month) document(ods string) results.Document {
	d := servertest.MedsipDocument(ods, m.asOf, servertest.Figures{
		Eligible: m.eligible, LongTerm: m.longTerm, HighDose: m.highDose, Reviewed: m.reviewed, OMEmg: m.omeMg})
	d.Baseline = "2023-03-31"
	d.Producer.Version = agentVersion
	for i := range d.Measures {
		if m := &d.Measures[i]; m.ID == "long_term" || m.ID == "high_dose" {
			m.Strata = strata(*m.Value)
		}
	}
	return d
}

// strata are disclosure-controlled breakdowns of a count of n as a
// practice's agent sends them: cells rounded to 5, small ones suppressed
// and a complementary one suppressed beside each, zeros shown.
func strata(n float64) []results.Strata {
	r5 := func(f float64) *float64 { v := math.Round(n*f/5) * 5; return &v }
	zero := 0.0
	supp := func(reason string) results.Cell { return results.Cell{Suppressed: true, Reason: reason} }
	cell := func(s string, c results.Cell) results.Cell { c.Stratum = s; return c }
	val := func(s string, v *float64) results.Cell { return results.Cell{Stratum: s, Value: v} }
	return []results.Strata{
		{Dimension: "sex", Cells: []results.Cell{val("F", r5(0.6)), val("M", r5(0.4)), val("U", &zero)}},
		{Dimension: "age_band", Cells: []results.Cell{val("under_18", &zero), cell("18-39", supp("small")), val("40-64", r5(0.5)), val("65-79", r5(0.3)), cell("80+", supp("complementary"))}},
		{Dimension: "imd_quintile", Cells: []results.Cell{val("1", r5(0.35)), val("2", r5(0.25)), cell("3", supp("small")), cell("4", supp("complementary")), val("5", r5(0.15)), val("unknown", &zero)}},
	}
}

// fixture is a running collector and its store.
type fixture struct {
	db     *store.DB
	url    string                    // http://127.0.0.1:PORT
	agents map[string]*upload.Client // each practice's enrolled agent client
}

// newFixture starts a collector on a loopback listener over a fresh SQLite
// store, seeds it through its API and adds the users. It stops when the
// test ends.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	// Warnings (failed sign-ins, refused practices) go to the test log,
	// which shows with -v or on failure.
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := server.New(server.Options{Store: db, Claims: &claims.Service{DB: db}, Logger: logger, SecureCookies: false})
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, nil, 10*time.Second) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	f := &fixture{db: db, url: "http://" + ln.Addr().String(), agents: map[string]*upload.Client{}}
	for _, s := range seeds {
		f.seed(t, s)
	}
	for _, u := range []collector.User{
		{Name: admin, Role: collector.RoleAdmin},
		{Name: analyst, Role: collector.RoleICBAnalyst, ICB: icbA},
	} {
		u.PasswordHash = passwordHash(t)
		if _, err := db.AddUser(ctx, u, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// seed adds the practice and an enrolment code as the ICB would, then, as
// its agent, enrols with a new ed25519 key, submits every month's signed
// results document and (if asked) a heartbeat.
func (f *fixture) seed(t *testing.T, s practiceSeed) {
	t.Helper()
	ctx := t.Context()
	if err := f.db.AddPractice(ctx, collector.Practice{ODS: s.ods, Name: s.name, ICB: s.icb, PCN: s.pcn}, "test"); err != nil {
		t.Fatal(err)
	}
	code, err := auth.NewEnrolmentCode()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := f.db.AddEnrolmentCode(ctx, s.ods, auth.HashEnrolmentCode(code), now, now.Add(time.Hour), "test"); err != nil {
		t.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := upload.New(upload.Options{URL: f.url, Practice: s.ods, Key: key, Attempts: 1, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Enrol(ctx, code); err != nil {
		t.Fatalf("enrol %s: %v", s.ods, err)
	}
	f.agents[s.ods] = agent
	for _, m := range s.months {
		body, err := json.Marshal(m.document(s.ods))
		if err != nil {
			t.Fatal(err)
		}
		ack, err := agent.Submit(ctx, s.ods+"-"+m.asOf, body)
		if err != nil {
			t.Fatalf("submit %s %s: %v", s.ods, m.asOf, err)
		}
		var a wire.Ack
		if err := json.Unmarshal(ack, &a); err != nil || a.AsOf != m.asOf || a.Duplicate {
			t.Fatalf("submit %s %s: ack %s (%v)", s.ods, m.asOf, ack, err)
		}
	}
	if s.heartbeat {
		hb := wire.Heartbeat{Practice: s.ods, AgentVersion: agentVersion, BundleVersion: "2026.1.0", Pending: 2,
			SentAt: time.Now().UTC().Format(time.RFC3339)}
		if err := agent.Heartbeat(ctx, hb); err != nil {
			t.Fatalf("heartbeat %s: %v", s.ods, err)
		}
	}
}

// latest is the practice's current submission for its last seeded month,
// read back from the store.
func (f *fixture) latest(t *testing.T, ods string) collector.Submission {
	t.Helper()
	ms := seedFor(ods).months
	sub, err := f.db.CurrentSubmission(t.Context(), ods, pack, ms[len(ms)-1].asOf)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// series is a measure's stored series, oldest first.
func (f *fixture) series(t *testing.T, ods, measure string) []collector.MeasureRow {
	t.Helper()
	rows, err := f.db.MeasureSeries(t.Context(), ods, pack, measure)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// passwordHash hashes password once per test binary: argon2id with 64 MiB
// is slow under the race detector.
var passwordHash = func() func(t *testing.T) string {
	once := sync.OnceValues(func() (string, error) { return auth.HashPassword(password) })
	return func(t *testing.T) string {
		t.Helper()
		h, err := once()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
}()
