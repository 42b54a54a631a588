-- case: four month ends
-- dialect: sqlserver, profile: canonical

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
    FROM (SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p3
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN 1 ELSE 0 END) AS reg_as_of,
           MAX(CASE WHEN g.start_date <= @p4 AND (g.end_date IS NULL OR g.end_date >= @p4) THEN 1 ELSE 0 END) AS reg_baseline,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN g.start_date END) AS regstart_as_of
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p5
    GROUP BY g.patient_id
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p3) THEN 1 ELSE 0 END AS registered_as_of,
           CASE WHEN r.reg_baseline = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p4) THEN 1 ELSE 0 END AS registered_baseline,
           r.regstart_as_of,
           @p6 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > @p7 THEN 1 ELSE 0 END AS age_as_of,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p8 IS NOT NULL AND p.age_as_of >= @p8)) AND p.a1 = 1) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p8 IS NOT NULL AND p.age_as_of >= @p8)) THEN 1 ELSE 0 END AS w1,
           CAST(p.a2 AS float) AS v2,
           CAST(p.a0 AS float) AS v3,
           CASE WHEN (p.regstart_as_of IS NOT NULL AND @p9 IS NOT NULL AND p.regstart_as_of > @p9) THEN 1 ELSE 0 END AS w4,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w5,
           CASE WHEN (p.registered_as_of = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6,
           CASE WHEN p.registered_baseline = 1 THEN 1 ELSE 0 END AS w7,
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p8 IS NOT NULL AND p.age_as_of >= @p8)) AND NOT (p.a1 = 1)) THEN 1 ELSE 0 END AS w8
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
--   @p5 = "Y01234" (text)
--   @p6 = 2025 (int)
--   @p7 = 331 (int)
--   @p8 = 18 (number)
--   @p9 = 2025-01-31 (date)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

-- series of 4 month ends
-- dialect: sqlserver, profile: canonical

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
month_ends AS (
    SELECT 0 AS point, @p1 AS a0, @p2 AS a1, @p3 AS a2, @p4 AS a3, @p5 AS a4, @p6 AS a5
    UNION ALL
    SELECT 1 AS point, @p7 AS a0, @p8 AS a1, @p3 AS a2, @p9 AS a3, @p10 AS a4, @p11 AS a5
    UNION ALL
    SELECT 2 AS point, @p12 AS a0, @p13 AS a1, @p14 AS a2, @p15 AS a3, @p10 AS a4, @p16 AS a5
    UNION ALL
    SELECT 3 AS point, @p9 AS a0, @p17 AS a1, @p3 AS a2, @p18 AS a3, @p10 AS a4, @p19 AS a5
),
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
           me.point,
           -- a0: count(issues:opioids,ever(as_of))
           SUM(CASE WHEN c.l0 = 1 THEN 1 ELSE 0 END) AS a0,
           -- a1: exists(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= me.a1 THEN 1 ELSE 0 END) AS a1,
           -- a2: sum(issues:opioids,months(1,as_of),value=1,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= me.a1 THEN COALESCE(CASE WHEN i.quantity > 0 THEN CAST(i.quantity AS float) END, 0) ELSE 0 END) / MAX(me.a2) AS float), 6) AS a2
    FROM (SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues) AS i
    CROSS JOIN codes_issues AS c
    CROSS JOIN month_ends AS me
    WHERE c.code = i.dmd_code AND i.issue_date <= @p18
      AND i.issue_date <= me.a3
    GROUP BY i.patient_id, me.point
),
reg AS (
    SELECT g.patient_id,
           me.point,
           MAX(CASE WHEN g.start_date <= me.a3 AND (g.end_date IS NULL OR g.end_date >= me.a3) THEN 1 ELSE 0 END) AS reg_as_of,
           MAX(CASE WHEN g.start_date <= @p20 AND (g.end_date IS NULL OR g.end_date >= @p20) THEN 1 ELSE 0 END) AS reg_baseline,
           MAX(CASE WHEN g.start_date <= me.a3 AND (g.end_date IS NULL OR g.end_date >= me.a3) THEN g.start_date END) AS regstart_as_of
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    CROSS JOIN month_ends AS me
    WHERE g.practice_ods = @p21
    GROUP BY g.patient_id, me.point
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           r.point,
           CASE WHEN r.reg_as_of = 1 AND (x.date_of_death IS NULL OR x.date_of_death > me.a3) THEN 1 ELSE 0 END AS registered_as_of,
           CASE WHEN r.reg_baseline = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p20) THEN 1 ELSE 0 END AS registered_baseline,
           r.regstart_as_of,
           me.a4 - YEAR(x.date_of_birth) - CASE WHEN (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) > me.a5 THEN 1 ELSE 0 END AS age_as_of,
           COALESCE(i.a0, 0) AS a0,
           COALESCE(i.a1, 0) AS a1,
           COALESCE(i.a2, 0) AS a2,
           COALESCE(i.n_rows, 0) AS n_rows
    FROM reg AS r
    JOIN month_ends AS me ON me.point = r.point
    LEFT JOIN (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id AND i.point = r.point
),
val AS (
    SELECT p.patient_id,
           p.n_rows,
           p.point,
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p22 IS NOT NULL AND p.age_as_of >= @p22)) AND p.a1 = 1) THEN 1 ELSE 0 END AS w0,
           CASE WHEN (p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p22 IS NOT NULL AND p.age_as_of >= @p22)) THEN 1 ELSE 0 END AS w1,
           CAST(p.a2 AS float) AS v2,
           CAST(p.a0 AS float) AS v3,
           CASE WHEN (p.regstart_as_of IS NOT NULL AND me.a0 IS NOT NULL AND p.regstart_as_of > me.a0) THEN 1 ELSE 0 END AS w4,
           CASE WHEN p.registered_as_of = 1 THEN 1 ELSE 0 END AS w5,
           CASE WHEN (p.registered_as_of = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6,
           CASE WHEN ((p.registered_as_of = 1 AND (p.age_as_of IS NOT NULL AND @p22 IS NOT NULL AND p.age_as_of >= @p22)) AND NOT (p.a1 = 1)) THEN 1 ELSE 0 END AS w7
    FROM pat AS p
    JOIN month_ends AS me ON me.point = p.point
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows) AS rows_read,
       COALESCE(SUM(CASE WHEN v.w0 = 1 THEN 1 ELSE 0 END), 0) AS m0_on_opioid__value,
       ROUND(COALESCE(SUM(CASE WHEN v.w1 = 1 THEN v.v2 ELSE 0 END), 0), 6) AS m1_daily_total__value,
       ROUND(COALESCE(SUM(v.v3), 0), 6) AS m2_issues_ever__value,
       COALESCE(SUM(CASE WHEN v.w4 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__numerator,
       COALESCE(SUM(CASE WHEN v.w5 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__denominator,
       COALESCE(SUM(CASE WHEN v.w6 = 1 THEN 1 ELSE 0 END), 0) AS m4_kept_from_baseline__value,
       COALESCE(SUM(CASE WHEN v.w7 = 1 THEN 1 ELSE 0 END), 0) AS m5_no_series_here__value,
       v.point AS point
FROM val AS v
GROUP BY v.point
ORDER BY v.point;
-- parameters:
--   @p1 = 2024-10-31 (date)
--   @p2 = 2024-12-01 (date)
--   @p3 = 31 (number)
--   @p4 = 2024-12-31 (date)
--   @p5 = 2024 (int)
--   @p6 = 1231 (int)
--   @p7 = 2024-11-30 (date)
--   @p8 = 2025-01-01 (date)
--   @p9 = 2025-01-31 (date)
--   @p10 = 2025 (int)
--   @p11 = 131 (int)
--   @p12 = 2024-12-28 (date)
--   @p13 = 2025-02-01 (date)
--   @p14 = 28 (number)
--   @p15 = 2025-02-28 (date)
--   @p16 = 228 (int)
--   @p17 = 2025-03-01 (date)
--   @p18 = 2025-03-31 (date)
--   @p19 = 331 (int)
--   @p20 = 2024-03-31 (date)
--   @p21 = "Y01234" (text)
--   @p22 = 18 (number)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

