// Package schema holds the canonical practice reporting schema (v1) and the
// physical layouts of real clinical systems' extracts that Steward reads
// (SystmOne's, "tpp", and EMIS Web's, "emis"), as DDL for each SQL dialect
// Steward speaks. It is the one place the table definitions of SCHEMA.md
// live: the synthetic practice generator, the conformance suite and the
// benchmarks all create their databases from here.
package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

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

// The layouts a practice database may have. TPP is SystmOne's tables and
// EMIS is EMIS Web's, each as OpenSAFELY's ehrQL backend for it documents
// them (SCHEMA.md, docs/layouts.md).
const (
	Canonical Layout = "canonical"
	TPP       Layout = "tpp"
	EMIS      Layout = "emis"
)

// Layouts lists every layout Steward writes and reads, in a stable order.
var Layouts = []Layout{Canonical, TPP, EMIS}

// ParseLayout returns the layout called name.
func ParseLayout(name string) (Layout, error) {
	for _, l := range Layouts {
		if string(l) == name {
			return l, nil
		}
	}
	return "", fmt.Errorf("unknown layout %q (want canonical, tpp or emis)", name)
}

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
		// SystmOne's tables, with the columns SCHEMA.md fixes (the names
		// and meanings of ehrQL's TPP backend and its schema docs).
		// Datetimes throughout; DateOfDeath and EndDate carry the
		// 9999-12-31 sentinel rather than NULL.
		return []string{
			`CREATE TABLE Patient (
  Patient_ID  ` + t.bigint + ` PRIMARY KEY,
  DateOfBirth ` + t.datetime + ` NOT NULL,
  Sex         ` + t.text + ` NOT NULL,
  DateOfDeath ` + t.datetime + ` NOT NULL
)`,
			`CREATE TABLE Organisation (
  Organisation_ID ` + t.bigint + ` PRIMARY KEY,
  GoLiveDate      ` + t.datetime + ` NULL,
  STPCode         ` + t.text + ` NULL,
  Region          ` + t.text + ` NULL
)`,
			`CREATE TABLE RegistrationHistory (
  Patient_ID      ` + t.bigint + ` NOT NULL,
  Organisation_ID ` + t.bigint + ` NOT NULL,
  StartDate       ` + t.datetime + ` NOT NULL,
  EndDate         ` + t.datetime + ` NOT NULL
)`,
			`CREATE TABLE PatientAddress (
  Patient_ID        ` + t.bigint + ` NOT NULL,
  PatientAddress_ID ` + t.bigint + ` PRIMARY KEY,
  StartDate         ` + t.datetime + ` NOT NULL,
  EndDate           ` + t.datetime + ` NOT NULL,
  ImdRankRounded    ` + t.integer + ` NOT NULL
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
  ConceptId        ` + t.text + ` NOT NULL,
  NumericValue     ` + t.numeric + ` NULL
)`,
		}, nil
	case EMIS:
		// EMIS Web's tables as ehrQL's EMIS backend reads them (its
		// backend queries and test schema): one patient_all_orgs_v2 row
		// per registration, every table keyed by registration_id. The
		// published medication table has no quantity.
		return []string{
			`CREATE TABLE patient_all_orgs_v2 (
  registration_id       ` + t.text128 + ` NOT NULL,
  nhs_no                ` + t.text + ` NULL,
  gender                ` + t.integer + ` NULL,
  date_of_birth         ` + t.date + ` NULL,
  date_of_death         ` + t.date + ` NULL,
  hashed_organisation   ` + t.text + ` NOT NULL,
  registered_date       ` + t.date + ` NULL,
  registration_end_date ` + t.date + ` NULL,
  rural_urban           ` + t.integer + ` NULL,
  imd_rank              ` + t.bigint + ` NULL
)`,
			`CREATE TABLE medication_all_orgs_v2 (
  registration_id   ` + t.text128 + ` NOT NULL,
  snomed_concept_id ` + t.bigint + ` NULL,
  effective_date    ` + t.datetime + ` NULL
)`,
			`CREATE TABLE observation_all_orgs_v2 (
  registration_id   ` + t.text128 + ` NOT NULL,
  snomed_concept_id ` + t.bigint + ` NULL,
  effective_date    ` + t.datetime + ` NULL,
  value_pq_1        ` + t.decimal2 + ` NULL
)`,
		}, nil
	default:
		return nil, fmt.Errorf("unknown layout %q (want canonical, tpp or emis)", l)
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
	case EMIS:
		return []string{
			`CREATE INDEX patient_all_orgs_v2_registration ON patient_all_orgs_v2 (registration_id)`,
			`CREATE INDEX medication_all_orgs_v2_registration ON medication_all_orgs_v2 (registration_id, effective_date)`,
			`CREATE INDEX observation_all_orgs_v2_registration ON observation_all_orgs_v2 (registration_id, effective_date)`,
		}
	}
	return nil
}

type typeSet struct {
	bigint, text, text128, longText, date, datetime, integer, numeric, decimal2 string
}

// Per SCHEMA.md: SQLite stores DATE as ISO-8601 text and NUMERIC as
// REAL/INTEGER; PostgreSQL and SQL Server use native date, numeric/decimal(18,4),
// bigint and varchar. Codes are text everywhere.
var types = map[Dialect]typeSet{
	SQLite: {bigint: "INTEGER", text: "TEXT", text128: "VARCHAR(128)", longText: "TEXT", date: "DATE", datetime: "DATETIME",
		integer: "INTEGER", numeric: "NUMERIC", decimal2: "NUMERIC"},
	Postgres: {bigint: "bigint", text: "varchar(64)", text128: "varchar(128)", longText: "text", date: "date", datetime: "timestamp",
		integer: "integer", numeric: "numeric(18,4)", decimal2: "numeric(20,2)"},
	SQLServer: {bigint: "bigint", text: "varchar(64)", text128: "varchar(128)", longText: "varchar(max)", date: "date", datetime: "datetime",
		integer: "int", numeric: "decimal(18,4)", decimal2: "decimal(20,2)"},
}

// OrganisationID is the Organisation_ID Steward's writers (steward synth,
// the fixture writer) give the practice with ODS code ods in the tpp
// layout: the code read as a base-36 number, so that it is the same in
// every database they write. A real extract has its own ids.
func OrganisationID(ods string) int64 {
	n, err := strconv.ParseInt(strings.ToLower(ods), 36, 64)
	if err != nil || n <= 0 {
		// Not an ODS code: any stable positive number will do.
		sum := sha256.Sum256([]byte(ods))
		n = int64(sum[0]&0x7f)<<24 | int64(sum[1])<<16 | int64(sum[2])<<8 | int64(sum[3])
	}
	return n
}

// OrganisationHash is the hashed_organisation Steward's writers give the
// practice with ODS code ods in the emis layout: 16 hex digits, the width
// ehrQL's EMIS backend reads as a number. A real extract has its own.
func OrganisationHash(ods string) string {
	sum := sha256.Sum256([]byte("steward organisation " + ods))
	return hex.EncodeToString(sum[:8])
}

// Parameters are the values of the built-in profile's parameters that
// read what Steward's writers wrote for the practice ods in layout l: the
// practice's Organisation_ID (tpp) or hashed_organisation (emis).
func Parameters(l Layout, ods string) map[string]string {
	switch l {
	case TPP:
		return map[string]string{"organisation_id": strconv.FormatInt(OrganisationID(ods), 10)}
	case EMIS:
		return map[string]string{"organisation_hash": OrganisationHash(ods)}
	}
	return map[string]string{}
}
