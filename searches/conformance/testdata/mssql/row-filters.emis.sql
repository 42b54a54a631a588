-- case: every operation through a rows filter
-- dialect: sqlserver, profile: emis

-- statement 1 of 7: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 7: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p3, @p4), (@p3, @p5), (@p3, @p6), (@p3, @p7), (@p3, @p8), (@p3, @p9);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "7001" (text)
--   @p3 = 1 (int)
--   @p4 = "1001" (text)
--   @p5 = "1002" (text)
--   @p6 = "1003" (text)
--   @p7 = "1004" (text)
--   @p8 = "1005" (text)
--   @p9 = "2001" (text)

-- statement 3 of 7: setup
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;
CREATE TABLE #steward_refs (
  ref_id int NOT NULL,
  code   varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  value  float NOT NULL,
  PRIMARY KEY (ref_id, code)
);

-- statement 4 of 7: setup
INSERT INTO #steward_refs (ref_id, code, value) VALUES (@p1, @p2, @p3), (@p1, @p4, @p5), (@p1, @p6, @p7), (@p1, @p8, @p9);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = 10 (number)
--   @p4 = "1002" (text)
--   @p5 = 1.5 (number)
--   @p6 = "1003" (text)
--   @p7 = 0.25 (number)
--   @p8 = "2001" (text)
--   @p9 = 60 (number)

-- statement 5 of 7: query
WITH
codes AS (
    SELECT list_id, code FROM #steward_codes
),
refs AS (
    SELECT ref_id, code, value FROM #steward_refs
),
codes_issues AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 1 THEN 1 ELSE 0 END) AS l1,
           MAX(f0.value) AS r0
    FROM codes AS k
    LEFT JOIN refs AS f0 ON f0.ref_id = 0 AND f0.code = k.code
    WHERE k.list_id IN (1)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a1: count(issues:opioids,months(6,as_of),rows=?quantity > params.big_quantity?)
           SUM(CASE WHEN c.l1 = 1 AND i.issue_date >= @p1 AND i.quantity > 0 AND CAST(i.quantity AS float) > @p2 THEN 1 ELSE 0 END) AS a1,
           -- a2: sum(issues:opioids,ever(as_of),value=2,ref=ome,rows=?quantity > 50?)
           ROUND(CAST(SUM(CASE WHEN c.l1 = 1 AND i.quantity > 0 AND CAST(i.quantity AS float) > @p3 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a2
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS issue_date,
                 CAST(snomed_concept_id AS varchar(20)) AS dmd_code,
                 CAST(NULL AS decimal(18,4)) AS quantity
          FROM medication_all_orgs_v2) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p4
    GROUP BY i.patient_id
),
codes_events AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0
    FROM codes AS k
    WHERE k.list_id IN (0)
    GROUP BY k.code
),
evt AS (
    SELECT e.patient_id,
           COUNT(*) AS n_rows,
           -- a0: count(events:pain,ever(as_of),rows=?numeric_value >= 7?)
           SUM(CASE WHEN c.l0 = 1 AND CAST(e.numeric_value AS float) >= @p5 THEN 1 ELSE 0 END) AS a0
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS event_date,
                 CAST(snomed_concept_id AS varchar(20)) AS snomed_code,
                 value_pq_1 AS numeric_value
          FROM observation_all_orgs_v2) AS e
    JOIN codes_events AS c ON c.code = e.snomed_code
    WHERE e.event_date <= @p4
    GROUP BY e.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT registration_id AS patient_id,
                 CASE WHEN hashed_organisation = @p6 THEN @p7
                      ELSE hashed_organisation END AS practice_ods,
                 registered_date AS start_date,
                 CASE WHEN registration_end_date < CAST('99991231' AS date) THEN registration_end_date END AS end_date
          FROM patient_all_orgs_v2) AS g
    WHERE g.practice_ods = @p7
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(e.a0, 0) AS a0,
           COALESCE(i.n_rows, 0) + COALESCE(e.n_rows, 0) AS n_rows
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
    LEFT JOIN evt AS e ON e.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.a1 IS NOT NULL AND @p8 IS NOT NULL AND p.a1 >= @p8) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (p.a0 IS NOT NULL AND @p9 IS NOT NULL AND p.a0 >= @p9) THEN 1 ELSE 0 END AS w1,
           CAST(p.a2 AS float) AS v2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_big_users__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_in_pain__value,
       ROUND(COALESCE(SUM(v.v2), 0), 6) AS m2_total_big_ome__value
FROM val AS v;
-- parameters:
--   @p1 = 2024-10-01 (date)
--   @p2 = 100 (number)
--   @p3 = 50 (number)
--   @p4 = 2025-03-31 (date)
--   @p5 = 7 (number)
--   @p6 = "9ec104040308a458" (text)
--   @p7 = "Y01234" (text)
--   @p8 = 2 (number)
--   @p9 = 1 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

-- case: a run's parameter moves the threshold
-- dialect: sqlserver, profile: emis

-- statement 1 of 7: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 7: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p3, @p4), (@p3, @p5), (@p3, @p6), (@p3, @p7), (@p3, @p8), (@p3, @p9);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "7001" (text)
--   @p3 = 1 (int)
--   @p4 = "1001" (text)
--   @p5 = "1002" (text)
--   @p6 = "1003" (text)
--   @p7 = "1004" (text)
--   @p8 = "1005" (text)
--   @p9 = "2001" (text)

-- statement 3 of 7: setup
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;
CREATE TABLE #steward_refs (
  ref_id int NOT NULL,
  code   varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  value  float NOT NULL,
  PRIMARY KEY (ref_id, code)
);

-- statement 4 of 7: setup
INSERT INTO #steward_refs (ref_id, code, value) VALUES (@p1, @p2, @p3), (@p1, @p4, @p5), (@p1, @p6, @p7), (@p1, @p8, @p9);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = 10 (number)
--   @p4 = "1002" (text)
--   @p5 = 1.5 (number)
--   @p6 = "1003" (text)
--   @p7 = 0.25 (number)
--   @p8 = "2001" (text)
--   @p9 = 60 (number)

-- statement 5 of 7: query
WITH
codes AS (
    SELECT list_id, code FROM #steward_codes
),
refs AS (
    SELECT ref_id, code, value FROM #steward_refs
),
codes_issues AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 1 THEN 1 ELSE 0 END) AS l1,
           MAX(f0.value) AS r0
    FROM codes AS k
    LEFT JOIN refs AS f0 ON f0.ref_id = 0 AND f0.code = k.code
    WHERE k.list_id IN (1)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a1: count(issues:opioids,months(6,as_of),rows=?quantity > params.big_quantity?)
           SUM(CASE WHEN c.l1 = 1 AND i.issue_date >= @p1 AND i.quantity > 0 AND CAST(i.quantity AS float) > @p2 THEN 1 ELSE 0 END) AS a1,
           -- a2: sum(issues:opioids,ever(as_of),value=2,ref=ome,rows=?quantity > 50?)
           ROUND(CAST(SUM(CASE WHEN c.l1 = 1 AND i.quantity > 0 AND CAST(i.quantity AS float) > @p3 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a2
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS issue_date,
                 CAST(snomed_concept_id AS varchar(20)) AS dmd_code,
                 CAST(NULL AS decimal(18,4)) AS quantity
          FROM medication_all_orgs_v2) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p4
    GROUP BY i.patient_id
),
codes_events AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0
    FROM codes AS k
    WHERE k.list_id IN (0)
    GROUP BY k.code
),
evt AS (
    SELECT e.patient_id,
           COUNT(*) AS n_rows,
           -- a0: count(events:pain,ever(as_of),rows=?numeric_value >= 7?)
           SUM(CASE WHEN c.l0 = 1 AND CAST(e.numeric_value AS float) >= @p5 THEN 1 ELSE 0 END) AS a0
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS event_date,
                 CAST(snomed_concept_id AS varchar(20)) AS snomed_code,
                 value_pq_1 AS numeric_value
          FROM observation_all_orgs_v2) AS e
    JOIN codes_events AS c ON c.code = e.snomed_code
    WHERE e.event_date <= @p4
    GROUP BY e.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT registration_id AS patient_id,
                 CASE WHEN hashed_organisation = @p6 THEN @p7
                      ELSE hashed_organisation END AS practice_ods,
                 registered_date AS start_date,
                 CASE WHEN registration_end_date < CAST('99991231' AS date) THEN registration_end_date END AS end_date
          FROM patient_all_orgs_v2) AS g
    WHERE g.practice_ods = @p7
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(e.a0, 0) AS a0,
           COALESCE(i.n_rows, 0) + COALESCE(e.n_rows, 0) AS n_rows
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
    LEFT JOIN evt AS e ON e.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.a1 IS NOT NULL AND @p8 IS NOT NULL AND p.a1 >= @p8) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (p.a0 IS NOT NULL AND @p9 IS NOT NULL AND p.a0 >= @p9) THEN 1 ELSE 0 END AS w1,
           CAST(p.a2 AS float) AS v2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_big_users__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_in_pain__value,
       ROUND(COALESCE(SUM(v.v2), 0), 6) AS m2_total_big_ome__value
FROM val AS v;
-- parameters:
--   @p1 = 2024-10-01 (date)
--   @p2 = 20 (number)
--   @p3 = 50 (number)
--   @p4 = 2025-03-31 (date)
--   @p5 = 7 (number)
--   @p6 = "9ec104040308a458" (text)
--   @p7 = "Y01234" (text)
--   @p8 = 2 (number)
--   @p9 = 1 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

