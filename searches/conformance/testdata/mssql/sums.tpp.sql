-- case: null, zero, negative quantities and missing reference values
-- dialect: sqlserver, profile: tpp

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
           -- a0: count(issues:opioids,months(3,as_of),value=2,ref=ome,filter=2)
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 AND CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END IS NULL THEN 1 ELSE 0 END) AS a0,
           -- a1: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a1,
           -- a2: sum(issues:opioids,months(3,as_of),value=2,ref=ome,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) / @p2 AS float), 6) AS a2
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p3 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p4 THEN @p5
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p5
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT p.Patient_ID AS patient_id,
                 CASE WHEN p.Sex IN ('F', 'M') THEN p.Sex ELSE 'U' END AS sex,
                 CAST(p.DateOfBirth AS date) AS date_of_birth,
                 CASE WHEN CAST(p.DateOfDeath AS date) < CAST('99991231' AS date) THEN CAST(p.DateOfDeath AS date) END AS date_of_death,
                 a.imd_decile AS imd_decile
          FROM Patient AS p
          OUTER APPLY (SELECT TOP (1)
                              CASE WHEN x.ImdRankRounded < 0 OR x.ImdRankRounded > 32844 THEN NULL
                                   WHEN x.ImdRankRounded = 0 THEN 1
                                   ELSE (x.ImdRankRounded * 10 + 32843) / 32844 END AS imd_decile
                       FROM PatientAddress AS x
                       WHERE x.Patient_ID = p.Patient_ID
                         AND CAST(x.StartDate AS date) <= @p3
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p3)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CAST(p.a1 AS float) AS v0,
           CAST(p.a0 AS float) AS v1,
           CASE WHEN (p.a2 IS NOT NULL AND @p6 IS NOT NULL AND p.a2 >= @p6) THEN 1 ELSE 0 END AS w2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       ROUND(COALESCE(SUM(v.v0), 0), 6) AS m0_mg_total__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_unknown_total__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_high__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 90 (number)
--   @p3 = 2025-03-31 (date)
--   @p4 = 2055899344 (int)
--   @p5 = "Y01234" (text)
--   @p6 = 120 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

-- case: exactly 120 mg a day is high dose
-- dialect: sqlserver, profile: tpp

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
           -- a0: count(issues:opioids,months(3,as_of),value=2,ref=ome,filter=2)
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 AND CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END IS NULL THEN 1 ELSE 0 END) AS a0,
           -- a1: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a1,
           -- a2: sum(issues:opioids,months(3,as_of),value=2,ref=ome,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) / @p2 AS float), 6) AS a2
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p3 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p4 THEN @p5
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p5
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT p.Patient_ID AS patient_id,
                 CASE WHEN p.Sex IN ('F', 'M') THEN p.Sex ELSE 'U' END AS sex,
                 CAST(p.DateOfBirth AS date) AS date_of_birth,
                 CASE WHEN CAST(p.DateOfDeath AS date) < CAST('99991231' AS date) THEN CAST(p.DateOfDeath AS date) END AS date_of_death,
                 a.imd_decile AS imd_decile
          FROM Patient AS p
          OUTER APPLY (SELECT TOP (1)
                              CASE WHEN x.ImdRankRounded < 0 OR x.ImdRankRounded > 32844 THEN NULL
                                   WHEN x.ImdRankRounded = 0 THEN 1
                                   ELSE (x.ImdRankRounded * 10 + 32843) / 32844 END AS imd_decile
                       FROM PatientAddress AS x
                       WHERE x.Patient_ID = p.Patient_ID
                         AND CAST(x.StartDate AS date) <= @p3
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p3)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CAST(p.a1 AS float) AS v0,
           CAST(p.a0 AS float) AS v1,
           CASE WHEN (p.a2 IS NOT NULL AND @p6 IS NOT NULL AND p.a2 >= @p6) THEN 1 ELSE 0 END AS w2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       ROUND(COALESCE(SUM(v.v0), 0), 6) AS m0_mg_total__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_unknown_total__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_high__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 90 (number)
--   @p3 = 2025-03-31 (date)
--   @p4 = 2055899344 (int)
--   @p5 = "Y01234" (text)
--   @p6 = 120 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

-- case: a parameter override moves the threshold
-- dialect: sqlserver, profile: tpp

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
           -- a0: count(issues:opioids,months(3,as_of),value=2,ref=ome,filter=2)
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 AND CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END IS NULL THEN 1 ELSE 0 END) AS a0,
           -- a1: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a1,
           -- a2: sum(issues:opioids,months(3,as_of),value=2,ref=ome,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) / @p2 AS float), 6) AS a2
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p3 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p4 THEN @p5
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p5
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT p.Patient_ID AS patient_id,
                 CASE WHEN p.Sex IN ('F', 'M') THEN p.Sex ELSE 'U' END AS sex,
                 CAST(p.DateOfBirth AS date) AS date_of_birth,
                 CASE WHEN CAST(p.DateOfDeath AS date) < CAST('99991231' AS date) THEN CAST(p.DateOfDeath AS date) END AS date_of_death,
                 a.imd_decile AS imd_decile
          FROM Patient AS p
          OUTER APPLY (SELECT TOP (1)
                              CASE WHEN x.ImdRankRounded < 0 OR x.ImdRankRounded > 32844 THEN NULL
                                   WHEN x.ImdRankRounded = 0 THEN 1
                                   ELSE (x.ImdRankRounded * 10 + 32843) / 32844 END AS imd_decile
                       FROM PatientAddress AS x
                       WHERE x.Patient_ID = p.Patient_ID
                         AND CAST(x.StartDate AS date) <= @p3
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p3)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CAST(p.a1 AS float) AS v0,
           CAST(p.a0 AS float) AS v1,
           CASE WHEN (p.a2 IS NOT NULL AND @p6 IS NOT NULL AND p.a2 >= @p6) THEN 1 ELSE 0 END AS w2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       ROUND(COALESCE(SUM(v.v0), 0), 6) AS m0_mg_total__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_unknown_total__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_high__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 90 (number)
--   @p3 = 2025-03-31 (date)
--   @p4 = 2055899344 (int)
--   @p5 = "Y01234" (text)
--   @p6 = 120.5 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

-- case: per-day sums are rounded to 6 places before comparing
-- dialect: sqlserver, profile: tpp

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
           -- a0: count(issues:opioids,months(3,as_of),value=2,ref=ome,filter=2)
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 AND CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END IS NULL THEN 1 ELSE 0 END) AS a0,
           -- a1: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a1,
           -- a2: sum(issues:opioids,months(3,as_of),value=2,ref=ome,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) / @p2 AS float), 6) AS a2
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p3 AND i.issue_date >= @p1
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p4 THEN @p5
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p5
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT p.Patient_ID AS patient_id,
                 CASE WHEN p.Sex IN ('F', 'M') THEN p.Sex ELSE 'U' END AS sex,
                 CAST(p.DateOfBirth AS date) AS date_of_birth,
                 CASE WHEN CAST(p.DateOfDeath AS date) < CAST('99991231' AS date) THEN CAST(p.DateOfDeath AS date) END AS date_of_death,
                 a.imd_decile AS imd_decile
          FROM Patient AS p
          OUTER APPLY (SELECT TOP (1)
                              CASE WHEN x.ImdRankRounded < 0 OR x.ImdRankRounded > 32844 THEN NULL
                                   WHEN x.ImdRankRounded = 0 THEN 1
                                   ELSE (x.ImdRankRounded * 10 + 32843) / 32844 END AS imd_decile
                       FROM PatientAddress AS x
                       WHERE x.Patient_ID = p.Patient_ID
                         AND CAST(x.StartDate AS date) <= @p3
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p3)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CAST(p.a1 AS float) AS v0,
           CAST(p.a0 AS float) AS v1,
           CASE WHEN (p.a2 IS NOT NULL AND @p6 IS NOT NULL AND p.a2 >= @p6) THEN 1 ELSE 0 END AS w2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       ROUND(COALESCE(SUM(v.v0), 0), 6) AS m0_mg_total__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_unknown_total__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_high__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 90 (number)
--   @p3 = 2025-03-31 (date)
--   @p4 = 2055899344 (int)
--   @p5 = "Y01234" (text)
--   @p6 = 120 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

