package dataset

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nhs-steward/steward/searches/schema"
)

// Options tune how a Dataset is laid out in a database.
type Options struct {
	// Mapped reports whether an issue's code must be recoverable in the tpp
	// layout. Issues whose code is not mapped point at MedicationDictionary
	// rows whose DMD_ID is '' or 'MULTIPLE_DMD_MAPPING', as unmapped
	// Multilex drugs do in a real extract, so their canonical code is lost.
	// Pass the codes of the search's codelists: an issue in no codelist
	// changes no answer, whatever its code reads as. Nil maps every code.
	Mapped func(code string) bool
}

// Create creates the tables of layout in db.
func Create(ctx context.Context, db *sql.DB, d schema.Dialect, l schema.Layout) error {
	ddl, err := schema.DDL(d, l)
	if err != nil {
		return err
	}
	for _, stmt := range ddl {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
	}
	return nil
}

// Write creates the tables of layout in db and inserts ds.
func Write(ctx context.Context, db *sql.DB, d schema.Dialect, l schema.Layout, ds *Dataset, opt Options) error {
	if err := Create(ctx, db, d, l); err != nil {
		return err
	}
	return Insert(ctx, db, d, l, ds, opt)
}

// Insert inserts ds into existing tables of layout, in one transaction.
// SQLite and PostgreSQL are supported; for SQL Server use TSQL.
func Insert(ctx context.Context, db *sql.DB, d schema.Dialect, l schema.Layout, ds *Dataset, opt Options) error {
	if d != schema.SQLite && d != schema.Postgres {
		return fmt.Errorf("insert: dialect %q not supported (want sqlite or postgres; use TSQL for sqlserver)", d)
	}
	tables, err := build(l, ds, opt)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, t := range tables {
		const batch = 200
		for lo := 0; lo < len(t.rows); lo += batch {
			hi := min(lo+batch, len(t.rows))
			var b strings.Builder
			fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", t.name, strings.Join(t.cols, ", "))
			var args []any
			for i, row := range t.rows[lo:hi] {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString("(")
				for j, v := range row {
					if j > 0 {
						b.WriteString(", ")
					}
					args = append(args, v.arg(d))
					if d == schema.Postgres {
						fmt.Fprintf(&b, "$%d", len(args))
					} else {
						b.WriteString("?")
					}
				}
				b.WriteString(")")
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				return fmt.Errorf("insert into %s: %w", t.name, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// TSQL returns a SQL Server script creating the tables of layout and
// inserting ds, one statement per line group, separated by GO lines.
func TSQL(l schema.Layout, ds *Dataset, opt Options) (string, error) {
	ddl, err := schema.DDL(schema.SQLServer, l)
	if err != nil {
		return "", err
	}
	tables, err := build(l, ds, opt)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, stmt := range ddl {
		b.WriteString(stmt + ";\nGO\n")
	}
	for _, t := range tables {
		const batch = 500 // SQL Server allows at most 1000 rows in a VALUES list
		for lo := 0; lo < len(t.rows); lo += batch {
			hi := min(lo+batch, len(t.rows))
			fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES\n", t.name, strings.Join(t.cols, ", "))
			for i, row := range t.rows[lo:hi] {
				b.WriteString("  (")
				for j, v := range row {
					if j > 0 {
						b.WriteString(", ")
					}
					b.WriteString(v.tsql())
				}
				b.WriteString(")")
				if i < hi-lo-1 {
					b.WriteString(",")
				}
				b.WriteString("\n")
			}
			b.WriteString(";\n")
		}
	}
	return b.String(), nil
}

// TSQLStatements is TSQL split into statements, for executing one by one.
func TSQLStatements(l schema.Layout, ds *Dataset, opt Options) ([]string, error) {
	s, err := TSQL(l, ds, opt)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, part := range strings.Split(s, "\nGO\n") {
		for _, stmt := range strings.Split(part, ";\n") {
			if stmt = strings.TrimSpace(stmt); stmt != "" {
				out = append(out, stmt)
			}
		}
	}
	return out, nil
}

type kind int

const (
	kNull kind = iota
	kInt
	kText
	kFloat
	kDate
	kDateTime
)

// value is one typed column value.
type value struct {
	k kind
	i int64
	s string
	f float64
	t time.Time
}

func null() value                { return value{k: kNull} }
func integer(i int64) value      { return value{k: kInt, i: i} }
func text(s string) value        { return value{k: kText, s: s} }
func float(f float64) value      { return value{k: kFloat, f: f} }
func date(t time.Time) value     { return value{k: kDate, t: t} }
func datetime(t time.Time) value { return value{k: kDateTime, t: t} }

func nullText(s string) value {
	if s == "" {
		return null()
	}
	return text(s)
}

func nullFloat(f *float64) value {
	if f == nil {
		return null()
	}
	return float(*f)
}

func nullDate(t *time.Time) value {
	if t == nil {
		return null()
	}
	return date(*t)
}

const dateTimeLayout = "2006-01-02 15:04:05"

func (v value) arg(d schema.Dialect) any {
	switch v.k {
	case kInt:
		return v.i
	case kText:
		return v.s
	case kFloat:
		return v.f
	case kDate:
		return v.t.Format(time.DateOnly)
	case kDateTime:
		return v.t.Format(dateTimeLayout)
	}
	return nil
}

func (v value) tsql() string {
	switch v.k {
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kText:
		return "'" + strings.ReplaceAll(v.s, "'", "''") + "'"
	case kFloat:
		return strconv.FormatFloat(v.f, 'f', -1, 64)
	case kDate:
		return "'" + v.t.Format("20060102") + "'"
	case kDateTime:
		return "'" + v.t.Format("2006-01-02T15:04:05") + "'"
	}
	return "NULL"
}

type table struct {
	name string
	cols []string
	rows [][]value
}

func build(l schema.Layout, ds *Dataset, opt Options) ([]table, error) {
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	switch l {
	case schema.Canonical:
		return canonical(ds), nil
	case schema.TPP:
		return tpp(ds, opt), nil
	case schema.EMIS:
		return emis(ds, opt)
	}
	return nil, fmt.Errorf("unknown layout %q (want canonical, tpp or emis)", l)
}

func canonical(ds *Dataset) []table {
	pt := table{name: "patients", cols: []string{"patient_id", "sex", "date_of_birth", "date_of_death", "imd_decile"}}
	for _, p := range ds.Patients {
		imd := null()
		if p.IMDDecile != nil {
			imd = integer(int64(*p.IMDDecile))
		}
		pt.rows = append(pt.rows, []value{integer(p.ID), text(p.Sex), date(p.DateOfBirth), nullDate(p.DateOfDeath), imd})
	}
	rt := table{name: "registrations", cols: []string{"patient_id", "practice_ods", "start_date", "end_date"}}
	for _, r := range ds.Registrations {
		rt.rows = append(rt.rows, []value{integer(r.PatientID), text(r.Practice), date(r.Start), nullDate(r.End)})
	}
	it := table{name: "medication_issues", cols: []string{"issue_id", "patient_id", "issue_date", "dmd_code", "quantity", "dose_text"}}
	for _, is := range ds.Issues {
		it.rows = append(it.rows, []value{integer(is.ID), integer(is.PatientID), date(is.Date), text(is.Code), nullFloat(is.Quantity), nullText(is.Dose)})
	}
	et := table{name: "clinical_events", cols: []string{"event_id", "patient_id", "event_date", "snomed_code", "numeric_value"}}
	for _, ev := range ds.Events {
		et.rows = append(et.rows, []value{integer(ev.ID), integer(ev.PatientID), date(ev.Date), text(ev.Code), nullFloat(ev.Value)})
	}
	return []table{pt, rt, it, et}
}

// TPP layout quirks, each as SystmOne's tables have them (ehrQL's TPP
// backend and schema docs; docs/layouts.md):
//   - datetimes carry a time of day (timeOfDay), never meaning anything;
//   - the living have DateOfDeath 9999-12-31, an open spell and a current
//     address EndDate 9999-12-31T00:00:00;
//   - Sex 'U' is recorded as 'I' (indeterminate) or 'U', by patient id;
//   - the practice is an Organisation_ID (schema.OrganisationID of its ODS
//     code) with a row in Organisation;
//   - Quantity is text: "56", and for some rows "28 tablet";
//   - an issue names a Multilex drug, mapped to dm+d through
//     MedicationDictionary; a dm+d code may have two Multilex ids, and
//     unmapped drugs have DMD_ID '' or 'MULTIPLE_DMD_MAPPING';
//   - IMD is the rank of the LSOA of the address current at a date,
//     rounded to the hundred, -1 when unknown. Each patient with a decile
//     has two current addresses from 1900 (addressFrom): one of another decile and, with
//     the larger PatientAddress_ID, the one that wins (the tie-break
//     ehrQL's addresses.for_patient_on uses). A patient without one has an
//     address of rank -1 (even ids) or none (odd ids).

// addressFrom is when a patient's addresses start in the tpp layout: 1
// January 1900, or birth if earlier. The canonical layout's IMD decile is
// the patient's at every date (the evaluator reads it so), and a generated
// patient may be registered, or asked about at a month end of a series,
// before being born: the address must hold at every date a search reads.
func addressFrom(p Patient) time.Time {
	from := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	if p.DateOfBirth.Before(from) {
		return p.DateOfBirth
	}
	return from
}

// OpenEnd is the EndDate of an open spell or address in the tpp layout.
var OpenEnd = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// timesOfDay are the clock times the tpp and emis writers add to dates,
// chosen by row so that every engine must truncate datetimes to dates.
var timesOfDay = []time.Duration{
	14 * time.Hour,
	9*time.Hour + 30*time.Minute,
	23*time.Hour + 59*time.Minute + 59*time.Second,
	0,
	14 * time.Hour,
}

func timeOfDay(t time.Time, n int64) time.Time {
	if n < 0 {
		n = -n
	}
	return t.Add(timesOfDay[n%int64(len(timesOfDay))])
}

// LSOAs is the number of LSOAs ranked by the English IMD 2019.
const LSOAs = 32844

// RankRange returns the IMD ranks of decile d (1..10): floor((d-1)*3284.4)+1
// to floor(d*3284.4).
func RankRange(d int) (lo, hi int) {
	return int(math.Floor(float64(d-1)*LSOAs/10)) + 1, int(math.Floor(float64(d) * LSOAs / 10))
}

// DecileOfRank is the inverse of RankRange.
func DecileOfRank(rank int) int {
	for d := 1; d <= 10; d++ {
		if _, hi := RankRange(d); rank <= hi {
			return d
		}
	}
	return 10
}

// RoundedRank returns a rank of decile d rounded to the hundred, as
// ImdRankRounded holds them, that still lies in decile d; pick chooses
// among them.
func RoundedRank(d int, pick int64) int64 {
	lo, hi := RankRange(d)
	loH, hiH := (lo+99)/100, hi/100
	if pick < 0 {
		pick = -pick
	}
	return 100 * (int64(loH) + pick%int64(hiH-loH+1))
}

func tpp(ds *Dataset, opt Options) []table {
	mapped := opt.Mapped
	if mapped == nil {
		mapped = func(string) bool { return true }
	}
	pt := table{name: "Patient", cols: []string{"Patient_ID", "DateOfBirth", "Sex", "DateOfDeath"}}
	at := table{name: "PatientAddress", cols: []string{"Patient_ID", "PatientAddress_ID", "StartDate", "EndDate", "ImdRankRounded"}}
	addressID := int64(0)
	for _, p := range ds.Patients {
		sex := p.Sex
		if sex == "U" && p.ID%2 == 0 {
			sex = "I"
		}
		death := datetime(OpenEnd)
		if p.DateOfDeath != nil {
			death = datetime(timeOfDay(*p.DateOfDeath, p.ID))
		}
		pt.rows = append(pt.rows, []value{integer(p.ID), datetime(p.DateOfBirth), text(sex), death})
		switch {
		case p.IMDDecile != nil && *p.IMDDecile >= 1 && *p.IMDDecile <= 10:
			d := *p.IMDDecile
			other := d%10 + 1
			addressID++
			at.rows = append(at.rows, []value{integer(p.ID), integer(addressID), datetime(addressFrom(p)), datetime(OpenEnd), integer(RoundedRank(other, p.ID))})
			addressID++
			at.rows = append(at.rows, []value{integer(p.ID), integer(addressID), datetime(timeOfDay(addressFrom(p), p.ID)), datetime(OpenEnd), integer(RoundedRank(d, p.ID))})
		case p.ID%2 == 0:
			addressID++
			at.rows = append(at.rows, []value{integer(p.ID), integer(addressID), datetime(addressFrom(p)), datetime(OpenEnd), integer(-1)})
		}
	}
	ot := table{name: "Organisation", cols: []string{"Organisation_ID", "GoLiveDate", "STPCode", "Region"}}
	seen := map[string]bool{}
	var practices []string
	for _, r := range ds.Registrations {
		if !seen[r.Practice] {
			seen[r.Practice] = true
			practices = append(practices, r.Practice)
		}
	}
	sort.Strings(practices)
	for _, ods := range practices {
		ot.rows = append(ot.rows, []value{integer(schema.OrganisationID(ods)), datetime(Date(2009, 1, 1)), null(), null()})
	}
	rt := table{name: "RegistrationHistory", cols: []string{"Patient_ID", "Organisation_ID", "StartDate", "EndDate"}}
	for i, r := range ds.Registrations {
		end := datetime(OpenEnd)
		if r.End != nil {
			end = datetime(timeOfDay(*r.End, int64(i)+1))
		}
		rt.rows = append(rt.rows, []value{integer(r.PatientID), integer(schema.OrganisationID(r.Practice)), datetime(timeOfDay(r.Start, int64(i))), end})
	}

	// The dictionary: each mapped code gets two Multilex ids (issues use
	// them alternately); each unmapped code one, with an empty or ambiguous
	// DMD_ID.
	codes := ds.IssueCodes()
	ids := map[string][2]string{}
	dt := table{name: "MedicationDictionary", cols: []string{"MultilexDrug_ID", "DMD_ID", "FullName"}}
	n := 0
	for _, c := range codes {
		n++
		if mapped(c) {
			a, b := strconv.Itoa(1000+n)+";1;0", strconv.Itoa(1000+n)+";2;0"
			ids[c] = [2]string{a, b}
			dt.rows = append(dt.rows,
				[]value{text(a), text(c), text("Drug " + c)},
				[]value{text(b), text(c), text("Drug " + c + " (pack)")})
			continue
		}
		u := strconv.Itoa(90000+n) + ";1;0"
		ids[c] = [2]string{u, u}
		dmd := ""
		if n%2 == 0 {
			dmd = "MULTIPLE_DMD_MAPPING"
		}
		dt.rows = append(dt.rows, []value{text(u), text(dmd), text("Unmapped drug")})
	}
	sort.Slice(dt.rows, func(i, j int) bool { return dt.rows[i][0].s < dt.rows[j][0].s })

	it := table{name: "MedicationIssue", cols: []string{"MedicationIssue_ID", "Patient_ID", "ConsultationDate", "MultilexDrug_ID", "Quantity", "Dose"}}
	for _, is := range ds.Issues {
		q := null()
		if is.Quantity != nil {
			s := strconv.FormatFloat(*is.Quantity, 'f', -1, 64)
			if is.ID%3 == 0 {
				s += " tablet"
			}
			q = text(s)
		}
		ml := ids[is.Code][(is.ID%2+2)%2]
		it.rows = append(it.rows, []value{integer(is.ID), integer(is.PatientID), datetime(timeOfDay(is.Date, is.ID)), text(ml), q, nullText(is.Dose)})
	}
	et := table{name: "CodedEvent_SNOMED", cols: []string{"CodedEvent_ID", "Patient_ID", "ConsultationDate", "ConceptId", "NumericValue"}}
	for _, ev := range ds.Events {
		et.rows = append(et.rows, []value{integer(ev.ID), integer(ev.PatientID), datetime(timeOfDay(ev.Date, ev.ID)), text(ev.Code), nullFloat(ev.Value)})
	}
	return []table{pt, ot, rt, at, dt, it, et}
}

// EMIS layout quirks, as EMIS Web's tables have them (ehrQL's EMIS backend
// and test schema; docs/layouts.md):
//   - registration_id (text) is the patient key of every table;
//   - patient_all_orgs_v2 has one row per registration spell, the patient's
//     attributes repeated on each, and the practice is a
//     hashed_organisation (schema.OrganisationHash of its ODS code);
//   - gender is 1 (male) or 2 (female); 'U' is 0 (even ids) or 9 (odd);
//   - snomed_concept_id is a number, NULL for an unmapped drug;
//   - effective_date is a datetime with a time of day;
//   - imd_rank is the LSOA's rank rounded to the hundred;
//   - there is no issue quantity, and value_pq_1 has 2 decimal places.

func emis(ds *Dataset, opt Options) ([]table, error) {
	mapped := opt.Mapped
	if mapped == nil {
		mapped = func(string) bool { return true }
	}
	concept := func(code string) (value, error) {
		n, err := strconv.ParseInt(code, 10, 64)
		if err != nil || n <= 0 || strconv.FormatInt(n, 10) != code {
			return null(), fmt.Errorf("code %q is not a SNOMED CT concept id: the emis layout holds codes as numbers", code)
		}
		return integer(n), nil
	}
	patients := map[int64]*Patient{}
	for i := range ds.Patients {
		patients[ds.Patients[i].ID] = &ds.Patients[i]
	}
	pt := table{name: "patient_all_orgs_v2", cols: []string{"registration_id", "nhs_no", "gender", "date_of_birth", "date_of_death",
		"hashed_organisation", "registered_date", "registration_end_date", "rural_urban", "imd_rank"}}
	for _, r := range ds.Registrations {
		p := patients[r.PatientID]
		gender := int64(0)
		switch {
		case p.Sex == "M":
			gender = 1
		case p.Sex == "F":
			gender = 2
		case p.ID%2 == 1:
			gender = 9
		}
		rank := null()
		if p.IMDDecile != nil && *p.IMDDecile >= 1 && *p.IMDDecile <= 10 {
			rank = integer(RoundedRank(*p.IMDDecile, p.ID))
		}
		pt.rows = append(pt.rows, []value{text(strconv.FormatInt(p.ID, 10)), text(fmt.Sprintf("%010d", 9000000000+p.ID%1000000000)),
			integer(gender), date(p.DateOfBirth), nullDate(p.DateOfDeath), text(schema.OrganisationHash(r.Practice)),
			date(r.Start), nullDate(r.End), null(), rank})
	}
	mt := table{name: "medication_all_orgs_v2", cols: []string{"registration_id", "snomed_concept_id", "effective_date"}}
	for _, is := range ds.Issues {
		c := null()
		if mapped(is.Code) {
			var err error
			if c, err = concept(is.Code); err != nil {
				return nil, fmt.Errorf("issue %d: %w", is.ID, err)
			}
		}
		mt.rows = append(mt.rows, []value{text(strconv.FormatInt(is.PatientID, 10)), c, datetime(timeOfDay(is.Date, is.ID))})
	}
	ot := table{name: "observation_all_orgs_v2", cols: []string{"registration_id", "snomed_concept_id", "effective_date", "value_pq_1"}}
	for _, ev := range ds.Events {
		c, err := concept(ev.Code)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", ev.ID, err)
		}
		ot.rows = append(ot.rows, []value{text(strconv.FormatInt(ev.PatientID, 10)), c, datetime(timeOfDay(ev.Date, ev.ID)), nullFloat(round2(ev.Value))})
	}
	return []table{pt, mt, ot}, nil
}

func round2(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := math.Round(*f*100) / 100
	return &v
}

// ForLayout returns ds as layout l can hold it: the data an engine reading
// l must agree with. The emis layout has no issue quantities and holds
// numeric values to 2 decimal places; the others hold ds exactly.
func ForLayout(l schema.Layout, ds *Dataset) *Dataset {
	if l != schema.EMIS {
		return ds
	}
	out := *ds
	out.Issues = make([]Issue, len(ds.Issues))
	for i, is := range ds.Issues {
		is.Quantity = nil
		out.Issues[i] = is
	}
	out.Events = make([]Event, len(ds.Events))
	for i, ev := range ds.Events {
		ev.Value = round2(ev.Value)
		out.Events[i] = ev
	}
	return &out
}
