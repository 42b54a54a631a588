-- case: shifts, clamping, windows on run dates, registration dates
-- dialect: sqlserver, profile: canonical

-- statement 1 of 4: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 4: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p1, @p3), (@p1, @p4), (@p1, @p5);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = "1002" (text)
--   @p4 = "1003" (text)
--   @p5 = "1004" (text)

-- statement 3 of 4: query
WITH
codes AS (
    SELECT list_id, code FROM #steward_codes
),
codes_issues AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0
    FROM codes AS k
    WHERE k.list_id IN (0)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a0: first(issues:opioids,ever(as_of))
           MIN(CASE WHEN c.l0 = 1 THEN i.issue_date END) AS a0,
           -- a1: last(issues:opioids,ever(as_of))
           MAX(CASE WHEN c.l0 = 1 THEN i.issue_date END) AS a1
    FROM (SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN g.start_date END) AS regstart_as_of,
           MIN(CASE WHEN g.start_date <= @p1 THEN g.start_date END) AS joined_as_of,
           MIN(CASE WHEN g.start_date <= @p2 THEN g.start_date END) AS joined_baseline
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p3
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           x.date_of_birth,
           r.regstart_as_of,
           r.joined_as_of,
           r.joined_baseline,
           i.a0 AS a0,
           i.a1 AS a1,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.regstart_as_of IS NOT NULL AND @p4 IS NOT NULL AND p.regstart_as_of > @p4) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (p.a1 IS NOT NULL AND @p5 IS NOT NULL AND p.a1 >= @p5) THEN 1 ELSE 0 END AS w1,
           CASE WHEN (p.joined_as_of IS NOT NULL AND @p1 IS NOT NULL AND p.joined_as_of <= @p1) THEN 1 ELSE 0 END AS w2,
           CASE WHEN (p.joined_baseline IS NOT NULL AND @p2 IS NOT NULL AND p.joined_baseline <= @p2) THEN 1 ELSE 0 END AS w3,
           CAST(DATEDIFF(day, p.a0, p.a1) AS float) AS v4,
           CAST((YEAR(p.a0) - YEAR(p.date_of_birth) - CASE WHEN (MONTH(p.date_of_birth) * 100 + DAY(p.date_of_birth)) > (MONTH(p.a0) * 100 + DAY(p.a0)) THEN 1 ELSE 0 END) AS float) AS v5
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_new_patients__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_recent__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_joined_now__value,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m3_joined_at_baseline__value,
       ROUND(COALESCE(SUM(v.v4), 0), 6) AS m4_gap_total__value,
       ROUND(COALESCE(SUM(v.v5), 0), 6) AS m5_age_first_total__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-31 (date)
--   @p2 = 2024-03-31 (date)
--   @p3 = "Y01234" (text)
--   @p4 = 2024-12-31 (date)
--   @p5 = 2025-02-28 (date)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

