-- case: boolean, listed values, crossed
-- dialect: sqlserver, profile: emis

-- statement 1 of 4: setup
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;
CREATE TABLE #steward_codes (
  list_id int NOT NULL,
  code    varchar(64) COLLATE DATABASE_DEFAULT NOT NULL,
  PRIMARY KEY (list_id, code)
);

-- statement 2 of 4: setup
INSERT INTO #steward_codes (list_id, code) VALUES (@p1, @p2), (@p1, @p3), (@p1, @p4), (@p1, @p5), (@p6, @p2), (@p6, @p7);
-- parameters:
--   @p1 = 0 (int)
--   @p2 = "1001" (text)
--   @p3 = "1002" (text)
--   @p4 = "1003" (text)
--   @p5 = "1004" (text)
--   @p6 = 1 (int)
--   @p7 = "2001" (text)

-- statement 3 of 4: query
WITH
codes AS (
    SELECT list_id, code FROM #steward_codes
),
codes_issues AS (
    SELECT k.code,
           MAX(CASE WHEN k.list_id = 0 THEN 1 ELSE 0 END) AS l0,
           MAX(CASE WHEN k.list_id = 1 THEN 1 ELSE 0 END) AS l1
    FROM codes AS k
    WHERE k.list_id IN (0, 1)
    GROUP BY k.code
),
iss AS (
    SELECT i.patient_id,
           COUNT(*) AS n_rows,
           -- a0: count_distinct(issues:opioids,months(3,as_of))
           COUNT(DISTINCT CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN i.dmd_code END) AS a0,
           -- a1: exists(issues:opioids,months(3,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a1,
           -- a2: exists(issues:opioids,months(3,baseline))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p2 AND i.issue_date <= @p3 THEN 1 ELSE 0 END) AS a2,
           -- a3: exists(issues:strong,months(3,as_of))
           MAX(CASE WHEN c.l1 = 1 AND i.issue_date >= @p1 THEN 1 ELSE 0 END) AS a3
    FROM (SELECT registration_id AS patient_id,
                 CAST(effective_date AS date) AS issue_date,
                 CAST(snomed_concept_id AS varchar(20)) AS dmd_code,
                 CAST(NULL AS decimal(18,4)) AS quantity
          FROM medication_all_orgs_v2) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p4 AND i.issue_date >= @p2
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p4 AND (g.end_date IS NULL OR g.end_date >= @p4) THEN 1 ELSE 0 END) AS reg_as_of,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN 1 ELSE 0 END) AS reg_baseline
    FROM (SELECT registration_id AS patient_id,
                 CASE WHEN hashed_organisation = @p5 THEN @p6
                      ELSE hashed_organisation END AS practice_ods,
                 registered_date AS start_date,
                 CASE WHEN registration_end_date < CAST('99991231' AS date) THEN registration_end_date END AS end_date
          FROM patient_all_orgs_v2) AS g
    WHERE g.practice_ods = @p6
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p4) THEN 1 ELSE 0 END AS registered_as_of,
           CASE WHEN r.reg_baseline = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p3) THEN 1 ELSE 0 END AS registered_baseline,
           @p7 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p8 THEN 1 ELSE 0 END AS age_as_of,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.a3, 0) AS a3,
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
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.a1 = 1 THEN 0 ELSE 1 END AS s_x1,
           CASE WHEN CASE WHEN p.a3 = 1 THEN @p9 WHEN p.a1 = 1 THEN @p10 END = @p10 THEN 0 WHEN CASE WHEN p.a3 = 1 THEN @p9 WHEN p.a1 = 1 THEN @p10 END = @p9 THEN 1 ELSE 2 END AS s_x2,
           CASE WHEN p.sex = @p11 THEN 0 WHEN p.sex = @p12 THEN 1 ELSE 2 END AS s_sex,
           ((CASE WHEN p.sex = @p11 THEN 0 WHEN p.sex = @p12 THEN 1 ELSE 2 END)) * 2 + CASE WHEN p.a1 = 1 THEN 0 ELSE 1 END AS s_x4,
           CASE WHEN p.age_as_of IS NULL THEN -1 WHEN p.age_as_of < @p13 THEN 0 WHEN p.age_as_of < @p14 THEN 1 ELSE 2 END AS s_age_band_as_of,
           ((CASE WHEN p.age_as_of IS NULL THEN -1 WHEN p.age_as_of < @p13 THEN 0 WHEN p.age_as_of < @p14 THEN 1 ELSE 2 END)) * 3 + CASE WHEN p.a0 = @p15 THEN 0 WHEN p.a0 = @p10 THEN 1 ELSE 2 END AS s_x6,
           CASE WHEN p.registered_baseline = 1 THEN 1 ELSE 0 END AS w7,
           CASE WHEN p.a2 = 1 THEN 0 ELSE 1 END AS s_x8,
           CASE WHEN p.a3 = 1 THEN 1 ELSE 0 END AS w9,
           ((CASE WHEN p.age_as_of IS NULL THEN -1 WHEN p.age_as_of < @p13 THEN 0 WHEN p.age_as_of < @p14 THEN 1 ELSE 2 END)) * 2 + CASE WHEN p.a1 = 1 THEN 0 ELSE 1 END AS s_x10
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__value,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x1 = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__on_opioid_true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x1 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__on_opioid_false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x2 = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__dose_band_1,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x2 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__dose_band_2,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x2 = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__dose_band_other,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x4 = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_by_on_opioid_f_true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x4 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_by_on_opioid_f_false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x4 = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_by_on_opioid_m_true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x4 = 3 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_by_on_opioid_m_false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x4 = 4 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_by_on_opioid_u_true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x4 = 5 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_by_on_opioid_u_false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_under_18_0,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_under_18_1,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_under_18_other,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 3 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_18_64_0,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 4 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_18_64_1,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 5 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_18_64_other,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 6 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_65__0,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 7 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_65__1,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x6 = 8 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_by_products_65__other,
       COALESCE(SUM(CASE WHEN v.w7 = 1 THEN 1 ELSE 0 END), 0) AS m1_registered_baseline__value,
       COALESCE(SUM(CASE WHEN v.w7 = 1 AND v.s_x8 = 0 THEN 1 ELSE 0 END), 0) AS m1_registered_baseline__on_opioid_true,
       COALESCE(SUM(CASE WHEN v.w7 = 1 AND v.s_x8 = 1 THEN 1 ELSE 0 END), 0) AS m1_registered_baseline__on_opioid_false,
       COALESCE(SUM(CASE WHEN v.w9 = 1 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_sex_f,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_sex_m,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_sex_u,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_x10 = 0 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_age_band_by_on_opioid_under_18_true,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_x10 = 1 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_age_band_by_on_opioid_under_18_false,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_x10 = 2 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_age_band_by_on_opioid_18_64_true,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_x10 = 3 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_age_band_by_on_opioid_18_64_false,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_x10 = 4 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_age_band_by_on_opioid_65__true,
       COALESCE(SUM(CASE WHEN v.w9 = 1 AND v.s_x10 = 5 THEN 1 ELSE 0 END), 0) AS m2_strong_share__numerator_age_band_by_on_opioid_65__false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_sex_f,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_sex_m,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_sex_u,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x10 = 0 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_age_band_by_on_opioid_under_18_true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x10 = 1 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_age_band_by_on_opioid_under_18_false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x10 = 2 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_age_band_by_on_opioid_18_64_true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x10 = 3 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_age_band_by_on_opioid_18_64_false,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x10 = 4 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_age_band_by_on_opioid_65__true,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_x10 = 5 THEN 1 ELSE 0 END), 0) AS m2_strong_share__denominator_age_band_by_on_opioid_65__false
FROM val AS v;
-- parameters:
--   @p1 = 2025-01-01 (date)
--   @p2 = 2024-01-01 (date)
--   @p3 = 2024-03-31 (date)
--   @p4 = 2025-03-31 (date)
--   @p5 = "9ec104040308a458" (text)
--   @p6 = "Y01234" (text)
--   @p7 = 2025 (int)
--   @p8 = 331 (int)
--   @p9 = 2 (number)
--   @p10 = 1 (number)
--   @p11 = "F" (text)
--   @p12 = "M" (text)
--   @p13 = 18 (int)
--   @p14 = 65 (int)
--   @p15 = 0 (number)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

