-- case: first and last days of months and days windows
-- dialect: sqlserver, profile: tpp

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
           -- a0: exists(issues:opioids,days(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0,
           -- a1: exists(issues:opioids,days(30,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p2 THEN 1 ELSE 0 END) AS a1,
           -- a2: exists(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p3 THEN 1 ELSE 0 END) AS a2,
           -- a3: exists(issues:opioids,months(12,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p4 THEN 1 ELSE 0 END) AS a3,
           -- a4: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p5 THEN 1 ELSE 0 END) AS a4
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p1 AND i.issue_date >= @p4
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p6 THEN @p7
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p7
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.a3, 0) AS a3,
           COALESCE(i.a4, 0) AS a4,
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
                         AND CAST(x.StartDate AS date) <= @p1
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p1)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.a2 = 1 THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.a4 = 1 THEN 1 ELSE 0 END AS w1,
           CASE WHEN p.a3 = 1 THEN 1 ELSE 0 END AS w2,
           CASE WHEN p.a0 = 1 THEN 1 ELSE 0 END AS w3,
           CASE WHEN p.a1 = 1 THEN 1 ELSE 0 END AS w4
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_m1__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_m3__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_m12__value,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m3_d1__value,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m4_d30__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-31 (date)
--   @p2 = 2025-03-02 (date)
--   @p3 = 2025-03-01 (date)
--   @p4 = 2024-04-01 (date)
--   @p5 = 2025-01-01 (date)
--   @p6 = 2055899344 (int)
--   @p7 = "Y01234" (text)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- case: February of a leap year
-- dialect: sqlserver, profile: tpp

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
           -- a0: exists(issues:opioids,days(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0,
           -- a1: exists(issues:opioids,days(30,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p2 THEN 1 ELSE 0 END) AS a1,
           -- a2: exists(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p3 THEN 1 ELSE 0 END) AS a2,
           -- a3: exists(issues:opioids,months(12,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p4 THEN 1 ELSE 0 END) AS a3,
           -- a4: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p5 THEN 1 ELSE 0 END) AS a4
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p1 AND i.issue_date >= @p4
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p6 THEN @p7
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p7
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.a3, 0) AS a3,
           COALESCE(i.a4, 0) AS a4,
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
                         AND CAST(x.StartDate AS date) <= @p1
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p1)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.a2 = 1 THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.a4 = 1 THEN 1 ELSE 0 END AS w1,
           CASE WHEN p.a3 = 1 THEN 1 ELSE 0 END AS w2,
           CASE WHEN p.a0 = 1 THEN 1 ELSE 0 END AS w3,
           CASE WHEN p.a1 = 1 THEN 1 ELSE 0 END AS w4
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_m1__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_m3__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_m12__value,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m3_d1__value,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m4_d30__value
FROM val AS v;
-- parameters:
--   @p1 = 2024-02-29 (date)
--   @p2 = 2024-01-31 (date)
--   @p3 = 2024-02-01 (date)
--   @p4 = 2023-03-01 (date)
--   @p5 = 2023-12-01 (date)
--   @p6 = 2055899344 (int)
--   @p7 = "Y01234" (text)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- case: a months window across the new year
-- dialect: sqlserver, profile: tpp

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
           -- a0: exists(issues:opioids,days(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a0,
           -- a1: exists(issues:opioids,days(30,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p2 THEN 1 ELSE 0 END) AS a1,
           -- a2: exists(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p3 THEN 1 ELSE 0 END) AS a2,
           -- a3: exists(issues:opioids,months(12,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p4 THEN 1 ELSE 0 END) AS a3,
           -- a4: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p5 THEN 1 ELSE 0 END) AS a4
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p1 AND i.issue_date >= @p4
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p6 THEN @p7
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p7
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.a3, 0) AS a3,
           COALESCE(i.a4, 0) AS a4,
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
                         AND CAST(x.StartDate AS date) <= @p1
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p1)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.a2 = 1 THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.a4 = 1 THEN 1 ELSE 0 END AS w1,
           CASE WHEN p.a3 = 1 THEN 1 ELSE 0 END AS w2,
           CASE WHEN p.a0 = 1 THEN 1 ELSE 0 END AS w3,
           CASE WHEN p.a1 = 1 THEN 1 ELSE 0 END AS w4
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_m1__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_m3__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_m12__value,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m3_d1__value,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m4_d30__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-31 (date)
--   @p2 = 2025-01-02 (date)
--   @p3 = 2025-01-01 (date)
--   @p4 = 2024-02-01 (date)
--   @p5 = 2024-11-01 (date)
--   @p6 = 2055899344 (int)
--   @p7 = "Y01234" (text)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

