-- case: an issue in each of the three months
-- dialect: sqlserver, profile: emis

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
           -- a0: each_month(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0_m0,
           -- a1: each_month(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p2 AND i.issue_date <= @p3 THEN 1 ELSE 0 END) AS a1_m0,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p4 AND i.issue_date <= @p5 THEN 1 ELSE 0 END) AS a1_m1,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a1_m2,
           -- a2: each_month(issues:opioids,months(3,baseline))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p6 AND i.issue_date <= @p7 THEN 1 ELSE 0 END) AS a2_m0,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p8 AND i.issue_date <= @p9 THEN 1 ELSE 0 END) AS a2_m1,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p10 AND i.issue_date <= @p11 THEN 1 ELSE 0 END) AS a2_m2
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS issue_date,
                 CAST(snomed_concept_id AS varchar(20)) AS dmd_code,
                 CAST(NULL AS decimal(18,4)) AS quantity
          FROM medication_all_orgs_v2) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p12 AND i.issue_date >= @p6
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p12 AND (g.end_date IS NULL OR g.end_date >= @p12) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT registration_id AS patient_id,
                 CASE WHEN hashed_organisation = @p13 THEN @p14
                      ELSE hashed_organisation END AS practice_ods,
                 registered_date AS start_date,
                 CASE WHEN registration_end_date < CAST('99991231' AS date) THEN registration_end_date END AS end_date
          FROM patient_all_orgs_v2) AS g
    WHERE g.practice_ods = @p14
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p12) THEN 1 ELSE 0 END AS registered_as_of,
           @p15 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p16 THEN 1 ELSE 0 END AS age_as_of,
           CASE WHEN i.a0_m0 = 1 THEN 1 ELSE 0 END AS a0,
           CASE WHEN i.a1_m0 = 1 AND i.a1_m1 = 1 AND i.a1_m2 = 1 THEN 1 ELSE 0 END AS a1,
           CASE WHEN i.a2_m0 = 1 AND i.a2_m1 = 1 AND i.a2_m2 = 1 THEN 1 ELSE 0 END AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT registration_id AS patient_id,
                 MAX(CASE gender WHEN 1 THEN 'M' WHEN 2 THEN 'F' ELSE 'U' END) AS sex,
                 MAX(date_of_birth) AS date_of_birth,
                 MAX(date_of_death) AS date_of_death,
                 CAST(MAX(CASE WHEN imd_rank < 0 OR imd_rank > 32844 THEN NULL
                               WHEN imd_rank = 0 THEN 1
                               ELSE (imd_rank * 10 + 32843) / 32844 END) AS int) AS imd_decile
          FROM patient_all_orgs_v2
          GROUP BY registration_id) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p17 IS NOT NULL AND p.age_as_of >= @p17)) AND p.a1 = 1) THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.a0 = 1 THEN 1 ELSE 0 END AS w1,
           CASE WHEN p.a2 = 1 THEN 1 ELSE 0 END AS w2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_long_term__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_em1__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_long_term_b__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-01 (date)
--   @p2 = 2025-01-01 (date)
--   @p3 = 2025-01-31 (date)
--   @p4 = 2025-02-01 (date)
--   @p5 = 2025-02-28 (date)
--   @p6 = 2024-01-01 (date)
--   @p7 = 2024-01-31 (date)
--   @p8 = 2024-02-01 (date)
--   @p9 = 2024-02-29 (date)
--   @p10 = 2024-03-01 (date)
--   @p11 = 2024-03-31 (date)
--   @p12 = 2025-03-31 (date)
--   @p13 = "9ec104040308a458" (text)
--   @p14 = "Y01234" (text)
--   @p15 = 2025 (int)
--   @p16 = 331 (int)
--   @p17 = 18 (number)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

