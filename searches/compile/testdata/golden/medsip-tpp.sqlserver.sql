-- dialect: sqlserver, profile: tpp

-- statement 1 of 7: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 7: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p1, @p3), (@p1, @p4), (@p1, @p5), (@p6, @p7), (@p6, @p8), (@p9, @p10), (@p9, @p11), (@p12, @p13), (@p14, @p15), (@p14, @p5);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "NOOME" (text)
--   @p3 = "OP1" (text)
--   @p4 = "OP2" (text)
--   @p5 = "SHARED" (text)
--   @p6 = 1 (int)
--   @p7 = "C1" (text)
--   @p8 = "C2" (text)
--   @p9 = 2 (int)
--   @p10 = "R1" (text)
--   @p11 = "R2" (text)
--   @p12 = 3 (int)
--   @p13 = "P1" (text)
--   @p14 = 4 (int)
--   @p15 = "G1" (text)

-- statement 3 of 7: setup
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;
CREATE TABLE #steward_refs (
  ref_id int NOT NULL,
  code   varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  value  float NOT NULL,
  PRIMARY KEY (ref_id, code)
);

-- statement 4 of 7: setup
INSERT INTO #steward_refs (ref_id, code, value) VALUES (@p1, @p2, @p3), (@p1, @p4, @p5), (@p1, @p6, @p7);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "OP1" (text)
--   @p3 = 1 (number)
--   @p4 = "OP2" (text)
--   @p5 = 2.5 (number)
--   @p6 = "SHARED" (text)
--   @p7 = 3 (number)

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
           MAX(CASE WHEN k.list_id = 4 THEN 1 ELSE 0 END) AS l4,
           MAX(f0.value) AS r0
    FROM codes AS k
    LEFT JOIN refs AS f0 ON f0.ref_id = 0 AND f0.code = k.code
    WHERE k.list_id IN (0, 4)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a0: count(issues:opioids,months(3,as_of),value=2,ref=ome,filter=2)
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 AND CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END IS NULL THEN 1 ELSE 0 END) AS a0,
           -- a1: each_month(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 AND i.issue_date <= @p2 THEN 1 ELSE 0 END) AS a1_m0,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p3 AND i.issue_date <= @p4 THEN 1 ELSE 0 END) AS a1_m1,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p5 THEN 1 ELSE 0 END) AS a1_m2,
           -- a2: each_month(issues:opioids,months(3,baseline))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p6 AND i.issue_date <= @p7 THEN 1 ELSE 0 END) AS a2_m0,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p8 AND i.issue_date <= @p9 THEN 1 ELSE 0 END) AS a2_m1,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p10 AND i.issue_date <= @p11 THEN 1 ELSE 0 END) AS a2_m2,
           -- a8: exists(issues:gabapentinoids,months(3,as_of))
           MAX(CASE WHEN c.l4 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a8,
           -- a9: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a9,
           -- a10: sum(issues:opioids,months(3,as_of),value=2,ref=ome)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) AS float), 6) AS a10,
           -- a11: sum(issues:opioids,months(3,as_of),value=2,ref=ome,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) / @p12 AS float), 6) AS a11,
           -- a12: sum(issues:opioids,months(3,baseline),value=2,ref=ome,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p6 AND i.issue_date <= @p11 THEN COALESCE(CASE WHEN i.quantity > 0 AND c.r0 IS NOT NULL THEN CAST(i.quantity AS float) * c.r0 END, 0) ELSE 0 END) / @p13 AS float), 6) AS a12
    FROM (SELECT m.Patient_ID AS patient_id,
                 CAST(m.ConsultationDate AS date) AS issue_date,
                 NULLIF(NULLIF(d.DMD_ID, ''), 'MULTIPLE_DMD_MAPPING') AS dmd_code,
                 TRY_CAST(NULLIF(LEFT(LTRIM(m.Quantity), PATINDEX('%[^0-9.]%', LTRIM(m.Quantity) + 'x') - 1), '') AS float) AS quantity
          FROM MedicationIssue AS m
          LEFT JOIN MedicationDictionary AS d ON d.MultilexDrug_ID = m.MultilexDrug_ID) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p14 AND i.issue_date >= @p6
    GROUP BY i.patient_id
),
codes_events AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 1 THEN 1 ELSE 0 END) AS l1,
           MAX(CASE WHEN k.list_id = 2 THEN 1 ELSE 0 END) AS l2,
           MAX(CASE WHEN k.list_id = 3 THEN 1 ELSE 0 END) AS l3
    FROM codes AS k
    WHERE k.list_id IN (1, 2, 3)
    GROUP BY k.code
),
evt AS (
    SELECT e.patient_id,
           COUNT(*) AS n_rows,
           -- a3: exists(events:cancer,months(60,as_of))
           MAX(CASE WHEN c.l1 = 1 AND e.event_date >= @p15 THEN 1 ELSE 0 END) AS a3,
           -- a4: exists(events:cancer,months(60,baseline))
           MAX(CASE WHEN c.l1 = 1 AND e.event_date >= @p16 AND e.event_date <= @p11 THEN 1 ELSE 0 END) AS a4,
           -- a5: exists(events:medication_review,months(12,as_of))
           MAX(CASE WHEN c.l2 = 1 AND e.event_date >= @p17 THEN 1 ELSE 0 END) AS a5,
           -- a6: exists(events:palliative,ever(as_of))
           MAX(CASE WHEN c.l3 = 1 THEN 1 ELSE 0 END) AS a6,
           -- a7: exists(events:palliative,ever(baseline))
           MAX(CASE WHEN c.l3 = 1 AND e.event_date <= @p11 THEN 1 ELSE 0 END) AS a7
    FROM (SELECT Patient_ID AS patient_id,
                 CASE WHEN CAST(ConsultationDate AS date) < CAST('99991231' AS date) THEN CAST(ConsultationDate AS date) END AS event_date,
                 ConceptId AS snomed_code,
                 NumericValue AS numeric_value
          FROM CodedEvent_SNOMED) AS e
    JOIN codes_events AS c ON c.code = e.snomed_code
    WHERE e.event_date <= @p14
    GROUP BY e.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p14 AND (g.end_date IS NULL OR g.end_date >= @p14) THEN 1 ELSE 0 END) AS reg_as_of,
           MAX(CASE WHEN g.start_date <= @p11 AND (g.end_date IS NULL OR g.end_date >= @p11) THEN 1 ELSE 0 END) AS reg_baseline
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p18 THEN @p19
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p19
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p14) THEN 1 ELSE 0 END AS registered_as_of,
           CASE WHEN r.reg_baseline = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p11) THEN 1 ELSE 0 END AS registered_baseline,
           @p20 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p21 THEN 1 ELSE 0 END AS age_as_of,
           @p22 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p21 THEN 1 ELSE 0 END AS age_baseline,
           COALESCE(i.a0, 0) AS a0,
           CASE WHEN i.a1_m0 = 1 AND i.a1_m1 = 1 AND i.a1_m2 = 1 THEN 1 ELSE 0 END AS a1,
           CASE WHEN i.a2_m0 = 1 AND i.a2_m1 = 1 AND i.a2_m2 = 1 THEN 1 ELSE 0 END AS a2,
           COALESCE(i.a8, 0) AS a8,
           COALESCE(i.a9, 0) AS a9,
           COALESCE(i.a10, 0) AS a10,
           COALESCE(i.a11, 0) AS a11,
           COALESCE(i.a12, 0) AS a12,
           COALESCE(e.a3, 0) AS a3,
           COALESCE(e.a4, 0) AS a4,
           COALESCE(e.a5, 0) AS a5,
           COALESCE(e.a6, 0) AS a6,
           COALESCE(e.a7, 0) AS a7,
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
                         AND CAST(x.StartDate AS date) <= @p14
                         AND (x.EndDate IS NULL OR CAST(x.EndDate AS date) >= @p14)
                       ORDER BY CAST(x.StartDate AS date) DESC, COALESCE(CAST(x.EndDate AS date), CAST('99991231' AS date)) DESC, x.PatientAddress_ID DESC) AS a) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
    LEFT JOIN evt AS e ON e.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p23 IS NOT NULL AND p.age_as_of >= @p23)) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p23 IS NOT NULL AND p.age_as_of >= @p23)) AND NOT (p.a3 = 1)) AND NOT (p.a6 = 1)) THEN 1 ELSE 0 END AS w1,
           CASE WHEN ((((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p23 IS NOT NULL AND p.age_as_of >= @p23)) AND NOT (p.a3 = 1)) AND NOT (p.a6 = 1)) AND p.a1 = 1) THEN 1 ELSE 0 END AS w2,
           CASE WHEN p.sex = @p24 THEN 0 WHEN p.sex = @p25 THEN 1 ELSE 2 END AS s_sex,
           CASE WHEN p.age_as_of IS NULL THEN -1 WHEN p.age_as_of < @p26 THEN 0 WHEN p.age_as_of < @p27 THEN 1 WHEN p.age_as_of < @p28 THEN 2 WHEN p.age_as_of < @p29 THEN 3 ELSE 4 END AS s_age_band_as_of,
           CASE WHEN p.imd_decile IN (1, 2) THEN 0 WHEN p.imd_decile IN (3, 4) THEN 1 WHEN p.imd_decile IN (5, 6) THEN 2 WHEN p.imd_decile IN (7, 8) THEN 3 WHEN p.imd_decile IN (9, 10) THEN 4 ELSE 5 END AS s_imd_quintile,
           CASE WHEN (((((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p23 IS NOT NULL AND p.age_as_of >= @p23)) AND NOT (p.a3 = 1)) AND NOT (p.a6 = 1)) AND p.a1 = 1) AND (p.a11 IS NOT NULL AND @p30 IS NOT NULL AND p.a11 >= @p30)) THEN 1 ELSE 0 END AS w6,
           CASE WHEN (((((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p23 IS NOT NULL AND p.age_as_of >= @p23)) AND NOT (p.a3 = 1)) AND NOT (p.a6 = 1)) AND p.a1 = 1) AND p.a5 = 1) THEN 1 ELSE 0 END AS w7,
           CAST(p.a10 AS float) AS v8,
           CASE WHEN ((((p.registered_baseline = 1 AND (p.age_baseline IS NOT NULL AND @p23 IS NOT NULL AND p.age_baseline >= @p23)) AND NOT (p.a4 = 1)) AND NOT (p.a7 = 1)) AND p.a2 = 1) THEN 1 ELSE 0 END AS w9,
           CASE WHEN p.age_baseline IS NULL THEN -1 WHEN p.age_baseline < @p26 THEN 0 WHEN p.age_baseline < @p27 THEN 1 WHEN p.age_baseline < @p28 THEN 2 WHEN p.age_baseline < @p29 THEN 3 ELSE 4 END AS s_age_band_baseline,
           CASE WHEN (((((p.registered_baseline = 1 AND (p.age_baseline IS NOT NULL AND @p23 IS NOT NULL AND p.age_baseline >= @p23)) AND NOT (p.a4 = 1)) AND NOT (p.a7 = 1)) AND p.a2 = 1) AND (p.a12 IS NOT NULL AND @p30 IS NOT NULL AND p.a12 >= @p30)) THEN 1 ELSE 0 END AS w11,
           CASE WHEN ((((((p.registered_baseline = 1 AND (p.age_baseline IS NOT NULL AND @p23 IS NOT NULL AND p.age_baseline >= @p23)) AND NOT (p.a4 = 1)) AND NOT (p.a7 = 1)) AND p.a2 = 1) AND p.registered_as_of = 1) AND NOT (p.a9 = 1)) THEN 1 ELSE 0 END AS w12,
           CASE WHEN (((((p.registered_baseline = 1 AND (p.age_baseline IS NOT NULL AND @p23 IS NOT NULL AND p.age_baseline >= @p23)) AND NOT (p.a4 = 1)) AND NOT (p.a7 = 1)) AND p.a2 = 1) AND p.registered_as_of = 1) THEN 1 ELSE 0 END AS w13,
           CASE WHEN (((((p.registered_baseline = 1 AND (p.age_baseline IS NOT NULL AND @p23 IS NOT NULL AND p.age_baseline >= @p23)) AND NOT (p.a4 = 1)) AND NOT (p.a7 = 1)) AND p.a2 = 1) AND NOT (p.registered_as_of = 1)) THEN 1 ELSE 0 END AS w14,
           CAST(p.a0 AS float) AS v15,
           CASE WHEN (((((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p23 IS NOT NULL AND p.age_as_of >= @p23)) AND NOT (p.a3 = 1)) AND NOT (p.a6 = 1)) AND p.a1 = 1) OR p.a8 = 1) THEN 1 ELSE 0 END AS w16
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered_adults__value,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m1_eligible_adults__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m2_long_term__value,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m2_long_term__sex_f,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m2_long_term__sex_m,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m2_long_term__sex_u,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_age_band_as_of = 0 THEN 1 ELSE 0 END), 0) AS m2_long_term__age_band_under_18,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_age_band_as_of = 1 THEN 1 ELSE 0 END), 0) AS m2_long_term__age_band_18_39,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_age_band_as_of = 2 THEN 1 ELSE 0 END), 0) AS m2_long_term__age_band_40_64,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_age_band_as_of = 3 THEN 1 ELSE 0 END), 0) AS m2_long_term__age_band_65_79,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_age_band_as_of = 4 THEN 1 ELSE 0 END), 0) AS m2_long_term__age_band_80_,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_imd_quintile = 0 THEN 1 ELSE 0 END), 0) AS m2_long_term__imd_quintile_1,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_imd_quintile = 1 THEN 1 ELSE 0 END), 0) AS m2_long_term__imd_quintile_2,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_imd_quintile = 2 THEN 1 ELSE 0 END), 0) AS m2_long_term__imd_quintile_3,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_imd_quintile = 3 THEN 1 ELSE 0 END), 0) AS m2_long_term__imd_quintile_4,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_imd_quintile = 4 THEN 1 ELSE 0 END), 0) AS m2_long_term__imd_quintile_5,
       COALESCE(SUM(CASE WHEN v.w2 = 1 AND v.s_imd_quintile = 5 THEN 1 ELSE 0 END), 0) AS m2_long_term__imd_quintile_unknown,
       COALESCE(SUM(CASE WHEN v.w6 = 1 THEN 1 ELSE 0 END), 0) AS m3_high_dose__value,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m3_high_dose__sex_f,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m3_high_dose__sex_m,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m3_high_dose__sex_u,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_age_band_as_of = 0 THEN 1 ELSE 0 END), 0) AS m3_high_dose__age_band_under_18,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_age_band_as_of = 1 THEN 1 ELSE 0 END), 0) AS m3_high_dose__age_band_18_39,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_age_band_as_of = 2 THEN 1 ELSE 0 END), 0) AS m3_high_dose__age_band_40_64,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_age_band_as_of = 3 THEN 1 ELSE 0 END), 0) AS m3_high_dose__age_band_65_79,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_age_band_as_of = 4 THEN 1 ELSE 0 END), 0) AS m3_high_dose__age_band_80_,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_imd_quintile = 0 THEN 1 ELSE 0 END), 0) AS m3_high_dose__imd_quintile_1,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_imd_quintile = 1 THEN 1 ELSE 0 END), 0) AS m3_high_dose__imd_quintile_2,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_imd_quintile = 2 THEN 1 ELSE 0 END), 0) AS m3_high_dose__imd_quintile_3,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_imd_quintile = 3 THEN 1 ELSE 0 END), 0) AS m3_high_dose__imd_quintile_4,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_imd_quintile = 4 THEN 1 ELSE 0 END), 0) AS m3_high_dose__imd_quintile_5,
       COALESCE(SUM(CASE WHEN v.w6 = 1 AND v.s_imd_quintile = 5 THEN 1 ELSE 0 END), 0) AS m3_high_dose__imd_quintile_unknown,
       COALESCE(SUM(CASE WHEN v.w7 = 1 THEN 1 ELSE 0 END), 0) AS m4_long_term_reviewed__numerator,
       COALESCE(SUM(CASE WHEN v.w2 = 1 THEN 1 ELSE 0 END), 0) AS m4_long_term_reviewed__denominator,
       ROUND(COALESCE(SUM(CASE WHEN v.w1 = 1 THEN v.v8 ELSE 0 END), 0), 6) AS m5_ome_total_mg__value,
       ROUND(COALESCE(SUM(CASE WHEN v.w1 = 1 THEN v.v8 ELSE 0 END), 0), 6) AS m6_ome_per_1000__numerator,
       COALESCE(SUM(CASE WHEN v.w1 = 1 THEN 1 ELSE 0 END), 0) AS m6_ome_per_1000__denominator,
       COALESCE(SUM(CASE WHEN v.w9 = 1 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__value,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__sex_f,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__sex_m,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__sex_u,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_age_band_baseline = 0 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__age_band_under_18,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_age_band_baseline = 1 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__age_band_18_39,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_age_band_baseline = 2 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__age_band_40_64,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_age_band_baseline = 3 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__age_band_65_79,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_age_band_baseline = 4 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__age_band_80_,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_imd_quintile = 0 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__imd_quintile_1,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_imd_quintile = 1 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__imd_quintile_2,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_imd_quintile = 2 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__imd_quintile_3,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_imd_quintile = 3 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__imd_quintile_4,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_imd_quintile = 4 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__imd_quintile_5,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_imd_quintile = 5 THEN 1 ELSE 0 END), 0) AS m7_long_term_baseline__imd_quintile_unknown,
       COALESCE(SUM(CASE WHEN v.w11 = 1 THEN 1 ELSE 0 END), 0) AS m8_high_dose_baseline__value,
       COALESCE(SUM(CASE WHEN v.w12 = 1 THEN 1 ELSE 0 END), 0) AS m9_long_term_baseline_stopped__numerator,
       COALESCE(SUM(CASE WHEN v.w13 = 1 THEN 1 ELSE 0 END), 0) AS m9_long_term_baseline_stopped__denominator,
       COALESCE(SUM(CASE WHEN v.w14 = 1 THEN 1 ELSE 0 END), 0) AS m10_baseline_lost__value,
       ROUND(COALESCE(SUM(CASE WHEN v.w1 = 1 THEN v.v15 ELSE 0 END), 0), 6) AS m11_ome_unknown_issues__value,
       COUNT(*) AS m12_universe__value,
       COALESCE(SUM(CASE WHEN v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m12_universe__sex_f,
       COALESCE(SUM(CASE WHEN v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m12_universe__sex_m,
       COALESCE(SUM(CASE WHEN v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m12_universe__sex_u,
       COALESCE(SUM(CASE WHEN v.w16 = 1 THEN 1 ELSE 0 END), 0) AS m13_gaba_or_long__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 2025-01-31 (date)
--   @p3 = 2025-02-01 (date)
--   @p4 = 2025-02-28 (date)
--   @p5 = 2025-03-01 (date)
--   @p6 = 2024-01-01 (date)
--   @p7 = 2024-01-31 (date)
--   @p8 = 2024-02-01 (date)
--   @p9 = 2024-02-29 (date)
--   @p10 = 2024-03-01 (date)
--   @p11 = 2024-03-31 (date)
--   @p12 = 90 (number)
--   @p13 = 91 (number)
--   @p14 = 2025-03-31 (date)
--   @p15 = 2020-04-01 (date)
--   @p16 = 2019-04-01 (date)
--   @p17 = 2024-04-01 (date)
--   @p18 = 2055899344 (int)
--   @p19 = "Y01234" (text)
--   @p20 = 2025 (int)
--   @p21 = 331 (int)
--   @p22 = 2024 (int)
--   @p23 = 18 (number)
--   @p24 = "F" (text)
--   @p25 = "M" (text)
--   @p26 = 18 (int)
--   @p27 = 40 (int)
--   @p28 = 65 (int)
--   @p29 = 80 (int)
--   @p30 = 120 (number)

-- statement 6 of 7: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- statement 7 of 7: teardown
IF OBJECT_ID('tempdb..#steward_refs') IS NOT NULL DROP TABLE #steward_refs;
