-- case: nulls propagate through arithmetic and make comparisons false
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
           -- a0: count(issues:opioids,months(3,as_of))
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS issue_date,
                 CAST(snomed_concept_id AS varchar(20)) AS dmd_code,
                 CAST(NULL AS decimal(18,4)) AS quantity
          FROM medication_all_orgs_v2) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p2 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT registration_id AS patient_id,
                 CASE WHEN hashed_organisation = @p3 THEN @p4
                      ELSE hashed_organisation END AS practice_ods,
                 registered_date AS start_date,
                 CASE WHEN registration_end_date < CAST('99991231' AS date) THEN registration_end_date END AS end_date
          FROM patient_all_orgs_v2) AS g
    WHERE g.practice_ods = @p4
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
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
           CAST((CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) AS float) AS v0,
           CASE WHEN (NOT (((CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) IS NOT NULL AND @p6 IS NOT NULL AND (CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) > @p6)) AND NOT (((CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) IS NOT NULL AND @p6 IS NOT NULL AND (CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) <= @p6))) THEN 1 ELSE 0 END AS w1,
           CAST((((@p7 - p.a0) * @p8) - @p6) AS float) AS v2,
           CASE WHEN (((CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) IS NOT NULL AND @p6 IS NOT NULL AND (CAST(@p5 AS float) / NULLIF(CAST(p.a0 AS float), 0)) > @p6) OR (p.a0 IS NOT NULL AND @p5 IS NOT NULL AND p.a0 >= @p5)) THEN 1 ELSE 0 END AS w3
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       ROUND(COALESCE(SUM(v.v0), 0), 6) AS m0_inv_total__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_neither__value,
       ROUND(COALESCE(SUM(v.v2), 0), 6) AS m2_neg_total__value,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m3_either__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 2025-03-31 (date)
--   @p3 = "9ec104040308a458" (text)
--   @p4 = "Y01234" (text)
--   @p5 = 10 (number)
--   @p6 = 1 (number)
--   @p7 = 0 (number)
--   @p8 = 2 (number)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

