-- Builds the worked example's warehouse layout (warehouse.yaml) from
-- Steward's canonical tables, on SQLite or PostgreSQL, and drops the
-- canonical ones. Try it:
--   steward synth --patients 2000 --db sqlite:wh.db
--   sqlite3 wh.db < docs/examples/warehouse-from-canonical.sql
--   steward profile check --db sqlite:wh.db --profile docs/examples/warehouse.yaml \
--       --profile-param practice_code=WY01234 --practice Y01234 --as-of 2025-03-31
-- steward search test runs fixtures through it with --setup.
CREATE TABLE gp_person AS
SELECT patient_id AS person_key,
       CASE sex WHEN 'F' THEN 'Female' WHEN 'M' THEN 'Male' ELSE 'Not known' END AS gender,
       date_of_birth AS birth_date,
       date_of_death AS death_date,
       imd_decile AS imd_decile_2019
FROM patients;
CREATE TABLE gp_registration AS
SELECT patient_id AS person_key,
       'W' || practice_ods AS practice_code,
       start_date AS reg_start,
       COALESCE(end_date, '9999-12-31') AS reg_end
FROM registrations;
CREATE TABLE gp_prescription AS
SELECT patient_id AS person_key,
       issue_date AS issued_on,
       CAST(dmd_code AS BIGINT) AS dmd_id,
       quantity AS qty
FROM medication_issues;
CREATE TABLE gp_observation AS
SELECT patient_id AS person_key,
       event_date AS recorded_on,
       CAST(snomed_code AS BIGINT) AS concept_id,
       numeric_value AS result_value
FROM clinical_events;
DROP TABLE patients;
DROP TABLE registrations;
DROP TABLE medication_issues;
DROP TABLE clinical_events;
