-- case: custom bands 16-64 and 65+
-- dialect: sqlserver, profile: emis
WITH
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT registration_id AS patient_id,
                 CASE WHEN hashed_organisation = @p2 THEN @p3
                      ELSE hashed_organisation END AS practice_ods,
                 registered_date AS start_date,
                 CASE WHEN registration_end_date < CAST('99991231' AS date) THEN registration_end_date END AS end_date
          FROM patient_all_orgs_v2) AS g
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
    LEFT JOIN (SELECT registration_id AS patient_id,
                 MAX(CASE gender WHEN 1 THEN 'M' WHEN 2 THEN 'F' ELSE 'U' END) AS sex,
                 MAX(date_of_birth) AS date_of_birth,
                 MAX(date_of_death) AS date_of_death,
                 CAST(MAX(CASE WHEN imd_rank < 0 OR imd_rank > 32844 THEN NULL
                               WHEN imd_rank = 0 THEN 1
                               ELSE (imd_rank * 10 + 32843) / 32844 END) AS int) AS imd_decile
          FROM patient_all_orgs_v2
          GROUP BY registration_id) AS x ON x.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w0,
           CASE WHEN p.age_as_of IS NULL THEN -1 WHEN p.age_as_of < @p6 THEN 0 WHEN p.age_as_of < @p7 THEN 1 ELSE 2 END AS s_age_band_as_of
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__value,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 0 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_under_16,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 1 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_16_64,
       COALESCE(SUM(CASE WHEN v.w0 = 1 AND v.s_age_band_as_of = 2 THEN 1 ELSE 0 END), 0) AS m0_registered__age_band_65_
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-31 (date)
--   @p2 = "9ec104040308a458" (text)
--   @p3 = "Y01234" (text)
--   @p4 = 2025 (int)
--   @p5 = 331 (int)
--   @p6 = 16 (int)
--   @p7 = 65 (int)

