-- case: a zero denominator gives a null value
-- dialect: sqlserver, profile: canonical

-- statement 1 of 7: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 7: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p1, @p3), (@p1, @p4), (@p1, @p5);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = "1002" (text)
--   @p4 = "1003" (text)
--   @p5 = "1004" (text)

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
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0,
           MAX(f0.value) AS r0
    FROM codes AS k
    LEFT JOIN refs AS f0 ON f0.ref_id = 0 AND f0.code = k.code
    WHERE k.list_id IN (0)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a0: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0,
           -- a1: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a1
    FROM (SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p2 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p2 AND (g.end_date IS NULL OR g.end_date >= @p2) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p3
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p2) THEN 1 ELSE 0 END AS registered_as_of,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w0,
           CAST(p.a1 AS float) AS v1,
           CASE WHEN (p.registered_as_of = 1 AND p.a0 = 1) THEN 1 ELSE 0 END AS w2,
           CASE WHEN p.a0 = 1 THEN 1 ELSE 0 END AS w3,
           CASE WHEN (p.a0 = 1 AND NOT (p.a0 = 1)) THEN 1 ELSE 0 END AS w4
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered_n__value,
       ROUND(COALESCE(SUM(CASE WHEN v.w0 = 1 THEN v.v1 ELSE 0 END), 0), 6) AS m1_mg_total__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_share__numerator,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m2_share__denominator,
       ROUND(COALESCE(SUM(CASE WHEN v.w0 = 1 THEN v.v1 ELSE 0 END), 0), 6) AS m3_per_1000__numerator,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m3_per_1000__denominator,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m4_never__numerator,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m4_never__denominator,
       ROUND(COALESCE(SUM(CASE WHEN v.w2 = 1 THEN v.v1 ELSE 0 END), 0), 6) AS m5_mean_mg__numerator,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m5_mean_mg__denominator
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 2025-03-31 (date)
--   @p3 = "Y01234" (text)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

-- case: per scales the value, not the denominator
-- dialect: sqlserver, profile: canonical

-- statement 1 of 7: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 7: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p1, @p3), (@p1, @p4), (@p1, @p5);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = "1002" (text)
--   @p4 = "1003" (text)
--   @p5 = "1004" (text)

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
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0,
           MAX(f0.value) AS r0
    FROM codes AS k
    LEFT JOIN refs AS f0 ON f0.ref_id = 0 AND f0.code = k.code
    WHERE k.list_id IN (0)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a0: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0,
           -- a1: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a1
    FROM (SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p2 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p2 AND (g.end_date IS NULL OR g.end_date >= @p2) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p3
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p2) THEN 1 ELSE 0 END AS registered_as_of,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w0,
           CAST(p.a1 AS float) AS v1,
           CASE WHEN (p.registered_as_of = 1 AND p.a0 = 1) THEN 1 ELSE 0 END AS w2,
           CASE WHEN p.a0 = 1 THEN 1 ELSE 0 END AS w3,
           CASE WHEN (p.a0 = 1 AND NOT (p.a0 = 1)) THEN 1 ELSE 0 END AS w4
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered_n__value,
       ROUND(COALESCE(SUM(CASE WHEN v.w0 = 1 THEN v.v1 ELSE 0 END), 0), 6) AS m1_mg_total__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_share__numerator,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m2_share__denominator,
       ROUND(COALESCE(SUM(CASE WHEN v.w0 = 1 THEN v.v1 ELSE 0 END), 0), 6) AS m3_per_1000__numerator,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m3_per_1000__denominator,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m4_never__numerator,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m4_never__denominator,
       ROUND(COALESCE(SUM(CASE WHEN v.w2 = 1 THEN v.v1 ELSE 0 END), 0), 6) AS m5_mean_mg__numerator,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m5_mean_mg__denominator
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 2025-03-31 (date)
--   @p3 = "Y01234" (text)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

