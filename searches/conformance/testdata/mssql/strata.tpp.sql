-- case: sex U, unknown IMD and every age band
-- dialect: sqlserver, profile: tpp
WITH
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT r.Patient_ID AS patient_id,
                 CASE WHEN o.Organisation_ID = @p2 THEN @p3
                      ELSE CAST(r.Organisation_ID AS varchar(20)) END AS practice_ods,
                 CAST(r.StartDate AS date) AS start_date,
                 CASE WHEN CAST(r.EndDate AS date) < CAST('99991231' AS date) THEN CAST(r.EndDate AS date) END AS end_date
          FROM RegistrationHistory AS r
          LEFT JOIN Organisation AS o ON o.Organisation_ID = r.Organisation_ID) AS g
    WHERE g.practice_ods = @p3
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p1) THEN 1 ELSE 0 END AS registered_as_of,
           @p4 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p5 THEN 1 ELSE 0 END AS age_as_of,
           0 AS n_rows
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
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.sex = @p6 THEN 0 WHEN p.sex = @p7 THEN 1 ELSE 2 END AS s_sex,
           CASE WHEN p.age_as_of IS NULL THEN -1 WHEN p.age_as_of < @p8 THEN 0 WHEN p.age_as_of < @p9 THEN 1 WHEN p.age_as_of < @p10 THEN 2 WHEN p.age_as_of < @p11 THEN 3 ELSE 4 END AS s_age_band_as_of,
           CASE WHEN p.imd_decile IN (1, 2) THEN 0 WHEN p.imd_decile IN (3, 4) THEN 1 WHEN p.imd_decile IN (5, 6) THEN 2 WHEN p.imd_decile IN (7, 8) THEN 3 WHEN p.imd_decile IN (9, 10) THEN 4 ELSE 5 END AS s_imd_quintile
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__value,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_sex = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_f,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_sex = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_m,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_sex = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__sex_u,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_under_18,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_18_39,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_40_64,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 3 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_65_79,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 4 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_80_,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_imd_quintile = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__imd_quintile_1,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_imd_quintile = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__imd_quintile_2,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_imd_quintile = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__imd_quintile_3,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_imd_quintile = 3 THEN 1 ELSE 0 END), 0) AS m0_registered__imd_quintile_4,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_imd_quintile = 4 THEN 1 ELSE 0 END), 0) AS m0_registered__imd_quintile_5,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_imd_quintile = 5 THEN 1 ELSE 0 END), 0) AS m0_registered__imd_quintile_unknown,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m1_registered_public__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-31 (date)
--   @p2 = 2055899344 (int)
--   @p3 = "Y01234" (text)
--   @p4 = 2025 (int)
--   @p5 = 331 (int)
--   @p6 = "F" (text)
--   @p7 = "M" (text)
--   @p8 = 18 (int)
--   @p9 = 40 (int)
--   @p10 = 65 (int)
--   @p11 = 80 (int)

