-- case: four month ends
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
           -- a0: count(issues:opioids,ever(as_of))
           SUM(CASE WHEN c.l0 = 1 THEN 1 ELSE 0 END) AS a0,
           -- a1: exists(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a1,
           -- a2: sum(issues:opioids,months(1,as_of),value=1,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 THEN CAST(i.quantity AS float) END, 0) ELSE 0 END) / @p2 AS float), 6) AS a2
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p3
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN 1 ELSE 0 END) AS reg_as_of,
           MAX(CASE WHEN g.start_date <= @p4 AND (g.end_date IS NULL OR g.end_date >= @p4) THEN 1 ELSE 0 END) AS reg_baseline,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN g.start_date END) AS regstart_as_of
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p5 THEN @p6
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p6
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p3) THEN 1 ELSE 0 END AS registered_as_of,
           CASE WHEN r.reg_baseline = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p4) THEN 1 ELSE 0 END AS registered_baseline,
           r.regstart_as_of,
           @p7 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p8 THEN 1 ELSE 0 END AS age_as_of,
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
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p9 IS NOT NULL AND p.age_as_of >= @p9)) AND p.a1 = 1) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p9 IS NOT NULL AND p.age_as_of >= @p9)) THEN 1 ELSE 0 END AS w1,
           CAST(p.a2 AS float) AS v2,
           CAST(p.a0 AS float) AS v3,
           CASE WHEN (p.regstart_as_of IS NOT NULL AND @p10 IS NOT NULL AND p.regstart_as_of > @p10) THEN 1 ELSE 0 END AS w4,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w5,
           CASE WHEN (p.registered_as_of = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6,
           CASE WHEN p.registered_baseline = 1 THEN 1 ELSE 0 END AS w7,
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p9 IS NOT NULL AND p.age_as_of >= @p9)) AND NOT (p.a1 = 1)) THEN 1 ELSE 0 END AS w8
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_on_opioid__value,
       ROUND(COALESCE(SUM(CASE WHEN v.w1 = 1 THEN v.v2 ELSE 0 END), 0), 6) AS m1_daily_total__value,
       ROUND(COALESCE(SUM(v.v3), 0), 6) AS m2_issues_ever__value,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__numerator,
       COALESCE(SUM(CASE WHEN v.w5 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__denominator,
       COALESCE(SUM(CASE WHEN v.w6 = 1 THEN 1 ELSE 0 END), 0) AS m4_kept_from_baseline__value,
       COALESCE(SUM(CASE WHEN v.w7 = 1 THEN 1 ELSE 0 END), 0) AS m5_at_baseline_count__value,
       COALESCE(SUM(CASE WHEN v.w8 = 1 THEN 1 ELSE 0 END), 0) AS m6_no_series_here__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-01 (date)
--   @p2 = 31 (number)
--   @p3 = 2025-03-31 (date)
--   @p4 = 2024-03-31 (date)
--   @p5 = 2055899344 (int)
--   @p6 = "Y01234" (text)
--   @p7 = 2025 (int)
--   @p8 = 331 (int)
--   @p9 = 18 (number)
--   @p10 = 2025-01-31 (date)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- series: one query per month end (no single pass on this layout)

