-- case: event values, dates and the future
-- dialect: sqlserver, profile: tpp

-- statement 1 of 4: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 4: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p3, @p4), (@p3, @p5);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "7001" (text)
--   @p3 = 1 (int)
--   @p4 = "6001" (text)
--   @p5 = "6002" (text)

-- statement 3 of 4: query
WITH
codes AS (
    SELECT list_id, code FROM #steward_codes
),
codes_events AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0,
           MAX(CASE WHEN k.list_id = 1 THEN 1 ELSE 0 END) AS l1
    FROM codes AS k
    WHERE k.list_id IN (0, 1)
    GROUP BY k.code
),
evt AS (
    SELECT e.patient_id,
           COUNT(*) AS n_rows,
           -- a0: count(events:pain,ever(as_of),value=3,filter=1)
           SUM(CASE WHEN c.l0 = 1 AND CAST(e.numeric_value AS float) IS NOT NULL THEN 1 ELSE 0 END) AS a0,
           -- a1: exists(events:review,months(12,as_of))
           MAX(CASE WHEN c.l1 = 1 AND e.event_date >= @p1 THEN 1 ELSE 0 END) AS a1,
           -- a2: sum(events:pain,ever(as_of),value=3)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 THEN COALESCE(CAST(e.numeric_value AS float), 0) ELSE 0 END) AS float), 6) AS a2
    FROM (SELECT Patient_ID AS patient_id,
                 CASE WHEN CAST(ConsultationDate AS date) < CAST('99991231' AS date) THEN CAST(ConsultationDate AS date) END AS event_date,
                 ConceptId AS snomed_code,
                 NumericValue AS numeric_value
          FROM CodedEvent_SNOMED) AS e
    JOIN codes_events AS c ON c.code = e.snomed_code
    WHERE e.event_date <= @p2
    GROUP BY e.patient_id
),
reg AS (
    SELECT g.patient_id
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p3 THEN @p4
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p4
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           COALESCE(e.a0, 0) AS a0,
           COALESCE(e.a1, 0) AS a1,
           COALESCE(e.a2, 0) AS a2,
           COALESCE(e.n_rows, 0) AS n_rows
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
                         AND CAST(x.StartDate AS date) <= @p2
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p2)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN evt AS e ON e.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.a1 = 1 THEN 1 ELSE 0 END AS w0,
           CAST(p.a2 AS float) AS v1,
           CAST((CAST(p.a2 AS float) / NULLIF(CAST(p.a0 AS float), 0)) AS float) AS v2
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_reviewed__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_scores__value,
       ROUND(COALESCE(SUM(v.v2), 0), 6) AS m2_mean_score_total__value
FROM val AS v;
-- parameters:
--   @p1 = 2024-04-01 (date)
--   @p2 = 2025-03-31 (date)
--   @p3 = 2055899344 (int)
--   @p4 = "Y01234" (text)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

