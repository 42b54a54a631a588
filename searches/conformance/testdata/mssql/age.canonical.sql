-- case: eighteen exactly on as-of is an adult
-- dialect: sqlserver, profile: canonical
WITH
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p2
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p1) THEN 1 ELSE 0 END AS registered_as_of,
           @p3 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p4 THEN 1 ELSE 0 END AS age_as_of,
           0 AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p5 IS NOT NULL AND p.age_as_of >= @p5)) THEN 1 ELSE 0 END AS w0,
           CAST(p.age_as_of AS float) AS v1
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_adults__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_total_age__value
FROM val AS v;
-- parameters:
--   @p1 = 2025-03-31 (date)
--   @p2 = "Y01234" (text)
--   @p3 = 2025 (int)
--   @p4 = 331 (int)
--   @p5 = 18 (number)

-- case: born on 29 February is a year older on 1 March
-- dialect: sqlserver, profile: canonical
WITH
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN 1 ELSE 0 END) AS reg_as_of
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p2
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p1) THEN 1 ELSE 0 END AS registered_as_of,
           @p3 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p4 THEN 1 ELSE 0 END AS age_as_of,
           0 AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN (p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p5 IS NOT NULL AND p.age_as_of >= @p5)) THEN 1 ELSE 0 END AS w0,
           CAST(p.age_as_of AS float) AS v1
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_adults__value,
       ROUND(COALESCE(SUM(v.v1), 0), 6) AS m1_total_age__value
FROM val AS v;
-- parameters:
--   @p1 = 2026-02-28 (date)
--   @p2 = "Y01234" (text)
--   @p3 = 2026 (int)
--   @p4 = 228 (int)
--   @p5 = 18 (number)

