-- case: attributes of ranked rows, statistics, distinct counts, case
-- dialect: sqlserver, profile: tpp

-- statement 1 of 7: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 7: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p1, @p3), (@p1, @p4), (@p1, @p5), (@p1, @p6), (@p1, @p7), (@p8, @p9);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = "1002" (text)
--   @p4 = "1003" (text)
--   @p5 = "1004" (text)
--   @p6 = "1005" (text)
--   @p7 = "2001" (text)
--   @p8 = 1 (int)
--   @p9 = "7001" (text)

-- statement 3 of 7: setup
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;
CREATE TABLE #steward_refs (
  ref_id int NOT NULL,
  code   varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  value  float NOT NULL,
  PRIMARY KEY (ref_id, code)
);

-- statement 4 of 7: setup
INSERT INTO #steward_refs (ref_id, code, value) VALUES (@p1, @p2, @p3), (@p1, @p4, @p5), (@p1, @p6, @p7), (@p1, @p8, @p9), (@p1, @p10, @p3), (@p11, @p2, @p12), (@p11, @p4, @p13), (@p11, @p6, @p14), (@p11, @p15, @p16);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = 2 (number)
--   @p4 = "1002" (text)
--   @p5 = 1 (number)
--   @p6 = "1003" (text)
--   @p7 = 3 (number)
--   @p8 = "1004" (text)
--   @p9 = 4 (number)
--   @p10 = "1005" (text)
--   @p11 = 1 (int)
--   @p12 = 10 (number)
--   @p13 = 1.5 (number)
--   @p14 = 0.25 (number)
--   @p15 = "2001" (text)
--   @p16 = 60 (number)

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
           MAX(f0.value) AS r0,
           MAX(f1.value) AS r1
    FROM codes AS k
    LEFT JOIN refs AS f0 ON f0.ref_id = 0 AND f0.code = k.code
    LEFT JOIN refs AS f1 ON f1.ref_id = 1 AND f1.code = k.code
    WHERE k.list_id IN (0)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a0: count_distinct(issues:opioids,ever(as_of),of=category:molecule)
           COUNT(DISTINCT CASE WHEN c.l0 = 1 THEN c.r0 END) AS a0,
           -- a2: mean(issues:opioids,ever(as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 THEN CASE WHEN i.quantity > 0 AND c.r1 IS NOT NULL THEN CAST(i.quantity AS float) * c.r1 END END) / NULLIF(CAST(COUNT(CASE WHEN c.l0 = 1 THEN CASE WHEN i.quantity > 0 AND c.r1 IS NOT NULL THEN CAST(i.quantity AS float) * c.r1 END END) AS float), 0) AS float), 6) AS a2
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p1
    GROUP BY i.patient_id
),
codes_events AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 1 THEN 1 ELSE 0 END) AS l1
    FROM codes AS k
    WHERE k.list_id IN (1)
    GROUP BY k.code
),
evt AS (
    SELECT e.patient_id,
           COUNT(*) AS n_rows
    FROM (SELECT Patient_ID AS patient_id,
                 CASE WHEN CAST(ConsultationDate AS date) < CAST('99991231' AS date) THEN CAST(ConsultationDate AS date) END AS event_date,
                 ConceptId AS snomed_code,
                 NumericValue AS numeric_value
          FROM CodedEvent_SNOMED) AS e
    JOIN codes_events AS c ON c.code = e.snomed_code
    WHERE e.event_date <= @p1
    GROUP BY e.patient_id
),
evt_a1 AS (
    SELECT q.patient_id, q.v AS a1
    FROM (SELECT e.patient_id,
                 ROUND(CAST(CAST(e.numeric_value AS float) AS float), 6) AS v,
                 ROW_NUMBER() OVER (PARTITION BY e.patient_id ORDER BY e.event_date DESC, e.snomed_code DESC, CASE WHEN e.numeric_value IS NULL THEN 0 ELSE 1 END DESC, e.numeric_value DESC) AS rn
          FROM (SELECT Patient_ID AS patient_id,
                       CASE WHEN CAST(ConsultationDate AS date) < CAST('99991231' AS date) THEN CAST(ConsultationDate AS date) END AS event_date,
                       ConceptId AS snomed_code,
                       NumericValue AS numeric_value
                FROM CodedEvent_SNOMED) AS e
          JOIN codes_events AS c ON c.code = e.snomed_code
          WHERE e.event_date <= @p1 AND c.l1 = 1 AND CAST(e.numeric_value AS float) IS NOT NULL) AS q
    WHERE q.rn = @p2
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
           COALESCE(i.a0, 0) AS a0,
           i.a2 AS a2,
           ka1.a1 AS a1,
           COALESCE(i.n_rows, 0) + COALESCE(e.n_rows, 0) AS n_rows
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
    LEFT JOIN evt AS e ON e.patient_id = r.patient_id
    LEFT JOIN evt_a1 AS ka1 ON ka1.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.a0 IS NOT NULL AND @p5 IS NOT NULL AND p.a0 >= @p5) THEN 1 ELSE 0 END AS w0,
           CAST(CASE WHEN (p.a1 IS NOT NULL AND @p6 IS NOT NULL AND p.a1 >= @p6) THEN @p7 WHEN (p.a1 IS NOT NULL AND @p8 IS NOT NULL AND p.a1 >= @p8) THEN @p5 ELSE @p9 END AS float) AS v1,
           CAST(p.a2 AS float) AS v2,
           CASE WHEN (CASE WHEN (p.a1 IS NOT NULL AND @p6 IS NOT NULL AND p.a1 >= @p6) THEN @p7 WHEN (p.a1 IS NOT NULL AND @p8 IS NOT NULL AND p.a1 >= @p8) THEN @p5 ELSE @p9 END IS NOT NULL AND @p7 IS NOT NULL AND CASE WHEN (p.a1 IS NOT NULL AND @p6 IS NOT NULL AND p.a1 >= @p6) THEN @p7 WHEN (p.a1 IS NOT NULL AND @p8 IS NOT NULL AND p.a1 >= @p8) THEN @p5 ELSE @p9 END = @p7) THEN 1 ELSE 0 END AS w3
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_multi_molecule__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_band_total__value,
       ROUND(COALESCE(SUM(v.v2), 0), 6) AS m2_mean_ome_total__value,
       COALESCE(SUM(CASE WHEN v.w3 = 1 THEN 1 ELSE 0 END), 0) AS m3_high_band__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-31 (date)
--   @p2 = 1 (int)
--   @p3 = 2055899344 (int)
--   @p4 = "Y01234" (text)
--   @p5 = 2 (number)
--   @p6 = 7 (number)
--   @p7 = 3 (number)
--   @p8 = 4 (number)
--   @p9 = 1 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;

