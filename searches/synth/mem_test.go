package synth

import (
	"context"
	"testing"
	"time"

	"github.com/nhs-steward/steward/searches/schema"
)

// memWriter keeps the rows the emitter writes, for tests that need many
// patients: the modernc SQLite code is very slow under the race detector.
// TestMemoryMatchesSQLite shows the rows are those SQLite stores.
type memWriter struct {
	rows [nTables][][]val
}

func (m *memWriter) exec(context.Context, string) error                { return nil }
func (m *memWriter) tableExists(context.Context, string) (bool, error) { return false, nil }
func (m *memWriter) begin(context.Context) error                       { return nil }
func (m *memWriter) flush(context.Context) error                       { return nil }
func (m *memWriter) commit(context.Context) error                      { return nil }
func (m *memWriter) finish(context.Context) error                      { return nil }
func (m *memWriter) close()                                            {}
func (m *memWriter) row(t int, vals ...val) {
	m.rows[t] = append(m.rows[t], append([]val(nil), vals...))
}

var _ writer = (*memWriter)(nil)

// genMemory generates a canonical practice into memory.
func genMemory(t testing.TB, cfg Config) (*practiceData, *Summary) {
	t.Helper()
	if err := cfg.normalise(); err != nil {
		t.Fatal(err)
	}
	g, err := newGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &memWriter{}
	sum, err := generate(context.Background(), g, m, schema.SQLite, cfg)
	if err != nil {
		t.Fatal(err)
	}
	optDay := func(v val) day {
		if v.k == kNull {
			return noDay
		}
		return v.d
	}
	tm := func(v val) time.Time {
		if v.k == kNull {
			return time.Time{}
		}
		return v.d.time()
	}
	pd := &practiceData{ods: cfg.Practice, patients: map[int64]*tPatient{}, byPat: map[int64][]int{}, evByPat: map[int64][]int{}, scen: map[int64]Scenario{}}
	for _, r := range m.rows[tPatients] {
		pd.patients[r[0].i] = &tPatient{sex: r[1].s, dob: r[2].d, dod: optDay(r[3]), imd: int(r[4].i)}
		pd.ids = append(pd.ids, r[0].i)
	}
	for _, r := range m.rows[tRegs] {
		p := pd.patients[r[0].i]
		p.regs = append(p.regs, tReg{ods: r[1].s, start: r[2].d, end: optDay(r[3])})
	}
	for _, r := range m.rows[tIssues] {
		is := tIssue{pid: r[1].i, date: r[2].d, code: r[3].s, qty: r[4].f, qtyNull: r[4].k == kNull}
		pd.byPat[is.pid] = append(pd.byPat[is.pid], len(pd.issues))
		pd.issues = append(pd.issues, is)
	}
	for _, r := range m.rows[tEvents] {
		ev := tEvent{pid: r[1].i, date: r[2].d, code: r[3].s}
		pd.evByPat[ev.pid] = append(pd.evByPat[ev.pid], len(pd.events))
		pd.events = append(pd.events, ev)
	}
	for _, r := range m.rows[tScenarios] {
		pd.scen[r[0].i] = Scenario{PatientID: r[0].i, Name: r[1].s, OpioidStart: tm(r[2]), OpioidEnd: tm(r[3]),
			DailyOME: r[4].f, PeakDailyOME: r[5].f, EndDailyOME: r[6].f, HighDoseFrom: tm(r[7]), TaperStart: tm(r[8]),
			GapStart: tm(r[9]), GapEnd: tm(r[10]), ExcludedFrom: tm(r[11]), Product: r[12].s, Coprescribed: r[13].s}
	}
	return pd, sum
}

// TestMemoryMatchesSQLite: the rows the statistical tests read from memory
// are exactly what SQLite stores.
func TestMemoryMatchesSQLite(t *testing.T) {
	cfg := smallConfig(sqlitePatients / 2)
	mem, _ := genMemory(t, cfg)
	db, _ := genSQLite(t, cfg)
	lite := readPractice(t, db, DefaultPractice)
	if len(mem.ids) != len(lite.ids) || len(mem.issues) != len(lite.issues) || len(mem.events) != len(lite.events) {
		t.Fatalf("memory %d/%d/%d, sqlite %d/%d/%d patients/issues/events", len(mem.ids), len(mem.issues), len(mem.events),
			len(lite.ids), len(lite.issues), len(lite.events))
	}
	for i := range mem.issues {
		if mem.issues[i] != lite.issues[i] {
			t.Fatalf("issue %d: memory %+v, sqlite %+v", i+1, mem.issues[i], lite.issues[i])
		}
	}
	for i := range mem.events {
		if mem.events[i] != lite.events[i] {
			t.Fatalf("event %d: memory %+v, sqlite %+v", i+1, mem.events[i], lite.events[i])
		}
	}
	for _, id := range mem.ids {
		a, b := mem.patients[id], lite.patients[id]
		if a.sex != b.sex || a.dob != b.dob || a.dod != b.dod || a.imd != b.imd || len(a.regs) != len(b.regs) {
			t.Fatalf("patient %d: memory %+v, sqlite %+v", id, a, b)
		}
		if mem.scen[id] != lite.scen[id] {
			t.Fatalf("scenario %d: memory %+v, sqlite %+v", id, mem.scen[id], lite.scen[id])
		}
	}
}
