// Package schema holds the canonical practice reporting schema (v1) and the
// SystmOne-style ("tpp") physical layout, as DDL for each SQL dialect Steward
// speaks. It is the one place the table definitions of SCHEMA.md live: the
// synthetic practice generator, the conformance suite and the benchmarks all
// create their databases from here.
package schema

import "fmt"

// Dialect names a SQL engine.
type Dialect string

// The dialects Steward compiles searches for.
const (
	SQLite    Dialect = "sqlite"
	Postgres  Dialect = "postgres"
	SQLServer Dialect = "sqlserver"
)

// Layout names a physical layout of the logical schema.
type Layout string

// The layouts a practice database may have.
const (
	Canonical Layout = "canonical"
	TPP       Layout = "tpp"
)

// Version is the version of the canonical schema in SCHEMA.md.
const Version = "1"

// Tables lists the canonical tables in creation order.
var Tables = []string{"patients", "registrations", "medication_issues", "clinical_events"}

// DDL returns the CREATE TABLE statements of layout in dialect, one statement
// per element, without trailing semicolons.
func DDL(d Dialect, l Layout) ([]string, error) {
	t, ok := types[d]
	if !ok {
		return nil, fmt.Errorf("unknown dialect %q (want sqlite, postgres or sqlserver)", d)
	}
	switch l {
	case Canonical:
		return []string{
			`CREATE TABLE patients (
  patient_id     ` + t.bigint + ` PRIMARY KEY,
  sex            ` + t.text + ` NOT NULL,
  date_of_birth  ` + t.date + ` NOT NULL,
  date_of_death  ` + t.date + ` NULL,
  imd_decile     ` + t.integer + ` NULL
)`,
			`CREATE TABLE registrations (
  patient_id    ` + t.bigint + ` NOT NULL,
  practice_ods  ` + t.text + ` NOT NULL,
  start_date    ` + t.date + ` NOT NULL,
  end_date      ` + t.date + ` NULL
)`,
			`CREATE TABLE medication_issues (
  issue_id    ` + t.bigint + ` PRIMARY KEY,
  patient_id  ` + t.bigint + ` NOT NULL,
  issue_date  ` + t.date + ` NOT NULL,
  dmd_code    ` + t.text + ` NOT NULL,
  quantity    ` + t.numeric + ` NULL,
  dose_text   ` + t.longText + ` NULL
)`,
			`CREATE TABLE clinical_events (
  event_id      ` + t.bigint + ` PRIMARY KEY,
  patient_id    ` + t.bigint + ` NOT NULL,
  event_date    ` + t.date + ` NOT NULL,
  snomed_code   ` + t.text + ` NOT NULL,
  numeric_value ` + t.numeric + ` NULL
)`,
		}, nil
	case TPP:
		return []string{
			`CREATE TABLE Patient (
  Patient_ID  ` + t.bigint + ` PRIMARY KEY,
  Sex         ` + t.text + ` NOT NULL,
  DateOfBirth ` + t.datetime + ` NOT NULL,
  DateOfDeath ` + t.datetime + ` NULL,
  IMD_Decile  ` + t.integer + ` NULL
)`,
			`CREATE TABLE PatientAddress (
  PatientAddress_ID ` + t.bigint + ` PRIMARY KEY,
  Patient_ID        ` + t.bigint + ` NOT NULL,
  StartDate         ` + t.datetime + ` NOT NULL,
  EndDate           ` + t.datetime + ` NOT NULL,
  ImdRankRounded    ` + t.integer + ` NULL
)`,
			`CREATE TABLE RegistrationHistory (
  Patient_ID       ` + t.bigint + ` NOT NULL,
  Organisation_ODS ` + t.text + ` NOT NULL,
  StartDate        ` + t.datetime + ` NOT NULL,
  EndDate          ` + t.datetime + ` NOT NULL
)`,
			`CREATE TABLE MedicationDictionary (
  MultilexDrug_ID ` + t.text + ` PRIMARY KEY,
  DMD_ID          ` + t.text + ` NOT NULL,
  FullName        ` + t.longText + ` NULL
)`,
			`CREATE TABLE MedicationIssue (
  MedicationIssue_ID ` + t.bigint + ` PRIMARY KEY,
  Patient_ID         ` + t.bigint + ` NOT NULL,
  ConsultationDate   ` + t.datetime + ` NOT NULL,
  MultilexDrug_ID    ` + t.text + ` NOT NULL,
  Quantity           ` + t.text + ` NULL,
  Dose               ` + t.longText + ` NULL
)`,
			`CREATE TABLE CodedEvent_SNOMED (
  CodedEvent_ID    ` + t.bigint + ` PRIMARY KEY,
  Patient_ID       ` + t.bigint + ` NOT NULL,
  ConsultationDate ` + t.datetime + ` NOT NULL,
  ConceptID        ` + t.text + ` NOT NULL,
  NumericValue     ` + t.numeric + ` NULL
)`,
		}, nil
	default:
		return nil, fmt.Errorf("unknown layout %q (want canonical or tpp)", l)
	}
}

// Indexes returns index statements a reporting database of layout would
// normally carry. They are not part of the contract: searches must give the
// same answers without them, and the agent never creates them (the practice
// database is read-only to it). Generators and benchmarks add them after a
// bulk load, as a real extract would have them.
func Indexes(d Dialect, l Layout) []string {
	switch l {
	case Canonical:
		return []string{
			`CREATE INDEX registrations_patient ON registrations (patient_id)`,
			`CREATE INDEX medication_issues_patient ON medication_issues (patient_id, issue_date)`,
			`CREATE INDEX clinical_events_patient ON clinical_events (patient_id, event_date)`,
		}
	case TPP:
		return []string{
			`CREATE INDEX RegistrationHistory_Patient ON RegistrationHistory (Patient_ID)`,
			`CREATE INDEX PatientAddress_Patient ON PatientAddress (Patient_ID)`,
			`CREATE INDEX MedicationIssue_Patient ON MedicationIssue (Patient_ID, ConsultationDate)`,
			`CREATE INDEX CodedEvent_SNOMED_Patient ON CodedEvent_SNOMED (Patient_ID, ConsultationDate)`,
		}
	}
	return nil
}

type typeSet struct {
	bigint, text, longText, date, datetime, integer, numeric string
}

// Per SCHEMA.md: SQLite stores DATE as ISO-8601 text and NUMERIC as
// REAL/INTEGER; PostgreSQL and SQL Server use native date, numeric/decimal(18,4),
// bigint and varchar. Codes are text everywhere.
var types = map[Dialect]typeSet{
	SQLite:    {bigint: "INTEGER", text: "TEXT", longText: "TEXT", date: "DATE", datetime: "DATETIME", integer: "INTEGER", numeric: "NUMERIC"},
	Postgres:  {bigint: "bigint", text: "varchar(64)", longText: "text", date: "date", datetime: "timestamp", integer: "integer", numeric: "numeric(18,4)"},
	SQLServer: {bigint: "bigint", text: "varchar(64)", longText: "varchar(max)", date: "date", datetime: "datetime", integer: "int", numeric: "decimal(18,4)"},
}
