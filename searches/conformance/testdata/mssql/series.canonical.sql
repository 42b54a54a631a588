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
           SUM(CASE WHEN i.issue_date <= @p1 THEN 1 ELSE 0 END) AS n_rows_p0,
           SUM(CASE WHEN i.issue_date <= @p2 THEN 1 ELSE 0 END) AS n_rows_p1,
           SUM(CASE WHEN i.issue_date <= @p3 THEN 1 ELSE 0 END) AS n_rows_p2,
           SUM(CASE WHEN i.issue_date <= @p4 THEN 1 ELSE 0 END) AS n_rows_p3,
           -- a0: count(issues:opioids,ever(as_of))
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date <= @p1 THEN 1 ELSE 0 END) AS a0_p0,
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date <= @p2 THEN 1 ELSE 0 END) AS a0_p1,
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date <= @p3 THEN 1 ELSE 0 END) AS a0_p2,
           SUM(CASE WHEN c.l0 = 1 AND i.issue_date <= @p4 THEN 1 ELSE 0 END) AS a0_p3,
           -- a1: exists(issues:opioids,months(1,as_of))
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p5 AND i.issue_date <= @p1 THEN 1 ELSE 0 END) AS a1_p0,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p6 AND i.issue_date <= @p2 THEN 1 ELSE 0 END) AS a1_p1,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p7 AND i.issue_date <= @p3 THEN 1 ELSE 0 END) AS a1_p2,
           MAX(CASE WHEN c.l0 = 1 AND i.issue_date >= @p8 AND i.issue_date <= @p4 THEN 1 ELSE 0 END) AS a1_p3,
           -- a2: sum(issues:opioids,months(1,as_of),value=1,per_day)
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p5 AND i.issue_date <= @p1 THEN COALESCE(CASE WHEN i.quantity > 0 THEN CAST(i.quantity AS float) END, 0) ELSE 0 END) / @p9 AS float), 6) AS a2_p0,
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p6 AND i.issue_date <= @p2 THEN COALESCE(CASE WHEN i.quantity > 0 THEN CAST(i.quantity AS float) END, 0) ELSE 0 END) / @p9 AS float), 6) AS a2_p1,
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p7 AND i.issue_date <= @p3 THEN COALESCE(CASE WHEN i.quantity > 0 THEN CAST(i.quantity AS float) END, 0) ELSE 0 END) / @p10 AS float), 6) AS a2_p2,
           ROUND(CAST(SUM(CASE WHEN c.l0 = 1 AND i.issue_date >= @p8 AND i.issue_date <= @p4 THEN COALESCE(CASE WHEN i.quantity > 0 THEN CAST(i.quantity AS float) END, 0) ELSE 0 END) / @p9 AS float), 6) AS a2_p3
    FROM (SELECT patient_id, issue_date, dmd_code, quantity FROM medication_issues) AS i
    JOIN codes_issues AS c ON c.code = i.dmd_code
    WHERE i.issue_date <= @p4
    GROUP BY i.patient_id
),
reg AS (
    SELECT g.patient_id,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN 1 ELSE 0 END) AS reg_as_of_p0,
           MAX(CASE WHEN g.start_date <= @p2 AND (g.end_date IS NULL OR g.end_date >= @p2) THEN 1 ELSE 0 END) AS reg_as_of_p1,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN 1 ELSE 0 END) AS reg_as_of_p2,
           MAX(CASE WHEN g.start_date <= @p4 AND (g.end_date IS NULL OR g.end_date >= @p4) THEN 1 ELSE 0 END) AS reg_as_of_p3,
           MAX(CASE WHEN g.start_date <= @p11 AND (g.end_date IS NULL OR g.end_date >= @p11) THEN 1 ELSE 0 END) AS reg_baseline,
           MAX(CASE WHEN g.start_date <= @p1 AND (g.end_date IS NULL OR g.end_date >= @p1) THEN g.start_date END) AS regstart_as_of_p0,
           MAX(CASE WHEN g.start_date <= @p2 AND (g.end_date IS NULL OR g.end_date >= @p2) THEN g.start_date END) AS regstart_as_of_p1,
           MAX(CASE WHEN g.start_date <= @p3 AND (g.end_date IS NULL OR g.end_date >= @p3) THEN g.start_date END) AS regstart_as_of_p2,
           MAX(CASE WHEN g.start_date <= @p4 AND (g.end_date IS NULL OR g.end_date >= @p4) THEN g.start_date END) AS regstart_as_of_p3
    FROM (SELECT patient_id, practice_ods, start_date, end_date FROM registrations) AS g
    WHERE g.practice_ods = @p12
    GROUP BY g.patient_id
),
px AS (
    SELECT x.patient_id,
           x.sex,
           x.date_of_birth,
           x.date_of_death,
           x.imd_decile,
           YEAR(x.date_of_birth) AS dob_year,
           (MONTH(x.date_of_birth) * 100 + DAY(x.date_of_birth)) AS dob_md
    FROM (SELECT patient_id, sex, date_of_birth, date_of_death, imd_decile FROM patients) AS x
),
pat AS (
    SELECT r.patient_id,
           x.sex,
           x.imd_decile,
           CASE WHEN r.reg_as_of_p0 = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p1) THEN 1 ELSE 0 END AS registered_as_of_p0,
           CASE WHEN r.reg_as_of_p1 = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p2) THEN 1 ELSE 0 END AS registered_as_of_p1,
           CASE WHEN r.reg_as_of_p2 = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p3) THEN 1 ELSE 0 END AS registered_as_of_p2,
           CASE WHEN r.reg_as_of_p3 = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p4) THEN 1 ELSE 0 END AS registered_as_of_p3,
           CASE WHEN r.reg_baseline = 1 AND (x.date_of_death IS NULL OR x.date_of_death > @p11) THEN 1 ELSE 0 END AS registered_baseline,
           r.regstart_as_of_p0 AS regstart_as_of_p0,
           r.regstart_as_of_p1 AS regstart_as_of_p1,
           r.regstart_as_of_p2 AS regstart_as_of_p2,
           r.regstart_as_of_p3 AS regstart_as_of_p3,
           @p13 - x.dob_year - CASE WHEN x.dob_md > @p14 THEN 1 ELSE 0 END AS age_as_of_p0,
           @p15 - x.dob_year - CASE WHEN x.dob_md > @p16 THEN 1 ELSE 0 END AS age_as_of_p1,
           @p15 - x.dob_year - CASE WHEN x.dob_md > @p17 THEN 1 ELSE 0 END AS age_as_of_p2,
           @p15 - x.dob_year - CASE WHEN x.dob_md > @p18 THEN 1 ELSE 0 END AS age_as_of_p3,
           COALESCE(i.a0_p0, 0) AS a0_p0,
           COALESCE(i.a0_p1, 0) AS a0_p1,
           COALESCE(i.a0_p2, 0) AS a0_p2,
           COALESCE(i.a0_p3, 0) AS a0_p3,
           COALESCE(i.a1_p0, 0) AS a1_p0,
           COALESCE(i.a1_p1, 0) AS a1_p1,
           COALESCE(i.a1_p2, 0) AS a1_p2,
           COALESCE(i.a1_p3, 0) AS a1_p3,
           COALESCE(i.a2_p0, 0) AS a2_p0,
           COALESCE(i.a2_p1, 0) AS a2_p1,
           COALESCE(i.a2_p2, 0) AS a2_p2,
           COALESCE(i.a2_p3, 0) AS a2_p3,
           COALESCE(i.n_rows_p0, 0) AS n_rows_p0,
           COALESCE(i.n_rows_p1, 0) AS n_rows_p1,
           COALESCE(i.n_rows_p2, 0) AS n_rows_p2,
           COALESCE(i.n_rows_p3, 0) AS n_rows_p3
    FROM reg AS r
    LEFT JOIN px AS x ON x.patient_id = r.patient_id
    LEFT JOIN iss AS i ON i.patient_id = r.patient_id
),
val AS (
    SELECT p.patient_id,
           p.n_rows_p0 AS n_rows_p0,
           p.n_rows_p1 AS n_rows_p1,
           p.n_rows_p2 AS n_rows_p2,
           p.n_rows_p3 AS n_rows_p3,
           CASE WHEN ((p.registered_as_of_p0 = 1 AND (p.age_as_of_p0 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p0 >= @p19)) AND p.a1_p0 = 1) THEN 1 ELSE 0 END AS w0_p0,
           CASE WHEN ((p.registered_as_of_p1 = 1 AND (p.age_as_of_p1 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p1 >= @p19)) AND p.a1_p1 = 1) THEN 1 ELSE 0 END AS w0_p1,
           CASE WHEN ((p.registered_as_of_p2 = 1 AND (p.age_as_of_p2 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p2 >= @p19)) AND p.a1_p2 = 1) THEN 1 ELSE 0 END AS w0_p2,
           CASE WHEN ((p.registered_as_of_p3 = 1 AND (p.age_as_of_p3 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p3 >= @p19)) AND p.a1_p3 = 1) THEN 1 ELSE 0 END AS w0_p3,
           CASE WHEN (p.registered_as_of_p0 = 1 AND (p.age_as_of_p0 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p0 >= @p19)) THEN 1 ELSE 0 END AS w1_p0,
           CASE WHEN (p.registered_as_of_p1 = 1 AND (p.age_as_of_p1 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p1 >= @p19)) THEN 1 ELSE 0 END AS w1_p1,
           CASE WHEN (p.registered_as_of_p2 = 1 AND (p.age_as_of_p2 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p2 >= @p19)) THEN 1 ELSE 0 END AS w1_p2,
           CASE WHEN (p.registered_as_of_p3 = 1 AND (p.age_as_of_p3 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p3 >= @p19)) THEN 1 ELSE 0 END AS w1_p3,
           CAST(p.a2_p0 AS float) AS v2_p0,
           CAST(p.a2_p1 AS float) AS v2_p1,
           CAST(p.a2_p2 AS float) AS v2_p2,
           CAST(p.a2_p3 AS float) AS v2_p3,
           CAST(p.a0_p0 AS float) AS v3_p0,
           CAST(p.a0_p1 AS float) AS v3_p1,
           CAST(p.a0_p2 AS float) AS v3_p2,
           CAST(p.a0_p3 AS float) AS v3_p3,
           CASE WHEN (p.regstart_as_of_p0 IS NOT NULL AND @p20 IS NOT NULL AND p.regstart_as_of_p0 > @p20) THEN 1 ELSE 0 END AS w4_p0,
           CASE WHEN (p.regstart_as_of_p1 IS NOT NULL AND @p21 IS NOT NULL AND p.regstart_as_of_p1 > @p21) THEN 1 ELSE 0 END AS w4_p1,
           CASE WHEN (p.regstart_as_of_p2 IS NOT NULL AND @p22 IS NOT NULL AND p.regstart_as_of_p2 > @p22) THEN 1 ELSE 0 END AS w4_p2,
           CASE WHEN (p.regstart_as_of_p3 IS NOT NULL AND @p2 IS NOT NULL AND p.regstart_as_of_p3 > @p2) THEN 1 ELSE 0 END AS w4_p3,
           CASE WHEN p.registered_as_of_p0 = 1 THEN 1 ELSE 0 END AS w5_p0,
           CASE WHEN p.registered_as_of_p1 = 1 THEN 1 ELSE 0 END AS w5_p1,
           CASE WHEN p.registered_as_of_p2 = 1 THEN 1 ELSE 0 END AS w5_p2,
           CASE WHEN p.registered_as_of_p3 = 1 THEN 1 ELSE 0 END AS w5_p3,
           CASE WHEN (p.registered_as_of_p0 = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6_p0,
           CASE WHEN (p.registered_as_of_p1 = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6_p1,
           CASE WHEN (p.registered_as_of_p2 = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6_p2,
           CASE WHEN (p.registered_as_of_p3 = 1 AND p.registered_baseline = 1) THEN 1 ELSE 0 END AS w6_p3,
           CASE WHEN ((p.registered_as_of_p0 = 1 AND (p.age_as_of_p0 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p0 >= @p19)) AND NOT (p.a1_p0 = 1)) THEN 1 ELSE 0 END AS w7_p0,
           CASE WHEN ((p.registered_as_of_p1 = 1 AND (p.age_as_of_p1 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p1 >= @p19)) AND NOT (p.a1_p1 = 1)) THEN 1 ELSE 0 END AS w7_p1,
           CASE WHEN ((p.registered_as_of_p2 = 1 AND (p.age_as_of_p2 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p2 >= @p19)) AND NOT (p.a1_p2 = 1)) THEN 1 ELSE 0 END AS w7_p2,
           CASE WHEN ((p.registered_as_of_p3 = 1 AND (p.age_as_of_p3 IS NOT NULL AND @p19 IS NOT NULL AND p.age_as_of_p3 >= @p19)) AND NOT (p.a1_p3 = 1)) THEN 1 ELSE 0 END AS w7_p3
    FROM pat AS p
)
SELECT COUNT(*) AS universe,
       SUM(v.n_rows_p0) AS rows_read_p0,
       SUM(v.n_rows_p1) AS rows_read_p1,
       SUM(v.n_rows_p2) AS rows_read_p2,
       SUM(v.n_rows_p3) AS rows_read_p3,
       COALESCE(SUM(CASE WHEN v.w0_p0 = 1 THEN 1 ELSE 0 END), 0) AS m0_on_opioid__value_p0,
       COALESCE(SUM(CASE WHEN v.w0_p1 = 1 THEN 1 ELSE 0 END), 0) AS m0_on_opioid__value_p1,
       COALESCE(SUM(CASE WHEN v.w0_p2 = 1 THEN 1 ELSE 0 END), 0) AS m0_on_opioid__value_p2,
       COALESCE(SUM(CASE WHEN v.w0_p3 = 1 THEN 1 ELSE 0 END), 0) AS m0_on_opioid__value_p3,
       ROUND(COALESCE(SUM(CASE WHEN v.w1_p0 = 1 THEN v.v2_p0 ELSE 0 END), 0), 6) AS m1_daily_total__value_p0,
       ROUND(COALESCE(SUM(CASE WHEN v.w1_p1 = 1 THEN v.v2_p1 ELSE 0 END), 0), 6) AS m1_daily_total__value_p1,
       ROUND(COALESCE(SUM(CASE WHEN v.w1_p2 = 1 THEN v.v2_p2 ELSE 0 END), 0), 6) AS m1_daily_total__value_p2,
       ROUND(COALESCE(SUM(CASE WHEN v.w1_p3 = 1 THEN v.v2_p3 ELSE 0 END), 0), 6) AS m1_daily_total__value_p3,
       ROUND(COALESCE(SUM(v.v3_p0), 0), 6) AS m2_issues_ever__value_p0,
       ROUND(COALESCE(SUM(v.v3_p1), 0), 6) AS m2_issues_ever__value_p1,
       ROUND(COALESCE(SUM(v.v3_p2), 0), 6) AS m2_issues_ever__value_p2,
       ROUND(COALESCE(SUM(v.v3_p3), 0), 6) AS m2_issues_ever__value_p3,
       COALESCE(SUM(CASE WHEN v.w4_p0 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__numerator_p0,
       COALESCE(SUM(CASE WHEN v.w4_p1 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__numerator_p1,
       COALESCE(SUM(CASE WHEN v.w4_p2 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__numerator_p2,
       COALESCE(SUM(CASE WHEN v.w4_p3 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__numerator_p3,
       COALESCE(SUM(CASE WHEN v.w5_p0 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__denominator_p0,
       COALESCE(SUM(CASE WHEN v.w5_p1 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__denominator_p1,
       COALESCE(SUM(CASE WHEN v.w5_p2 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__denominator_p2,
       COALESCE(SUM(CASE WHEN v.w5_p3 = 1 THEN 1 ELSE 0 END), 0) AS m3_share_recent__denominator_p3,
       COALESCE(SUM(CASE WHEN v.w6_p0 = 1 THEN 1 ELSE 0 END), 0) AS m4_kept_from_baseline__value_p0,
       COALESCE(SUM(CASE WHEN v.w6_p1 = 1 THEN 1 ELSE 0 END), 0) AS m4_kept_from_baseline__value_p1,
       COALESCE(SUM(CASE WHEN v.w6_p2 = 1 THEN 1 ELSE 0 END), 0) AS m4_kept_from_baseline__value_p2,
       COALESCE(SUM(CASE WHEN v.w6_p3 = 1 THEN 1 ELSE 0 END), 0) AS m4_kept_from_baseline__value_p3,
       COALESCE(SUM(CASE WHEN v.w7_p0 = 1 THEN 1 ELSE 0 END), 0) AS m5_no_series_here__value_p0,
       COALESCE(SUM(CASE WHEN v.w7_p1 = 1 THEN 1 ELSE 0 END), 0) AS m5_no_series_here__value_p1,
       COALESCE(SUM(CASE WHEN v.w7_p2 = 1 THEN 1 ELSE 0 END), 0) AS m5_no_series_here__value_p2,
       COALESCE(SUM(CASE WHEN v.w7_p3 = 1 THEN 1 ELSE 0 END), 0) AS m5_no_series_here__value_p3
FROM val AS v;
-- parameters:
--   @p1 = 2024-12-31 (date)
--   @p2 = 2025-01-31 (date)
--   @p3 = 2025-02-28 (date)
--   @p4 = 2025-03-31 (date)
--   @p5 = 2024-12-01 (date)
--   @p6 = 2025-01-01 (date)
--   @p7 = 2025-02-01 (date)
--   @p8 = 2025-03-01 (date)
--   @p9 = 31 (number)
--   @p10 = 28 (number)
--   @p11 = 2024-03-31 (date)
--   @p12 = "Y01234" (text)
--   @p13 = 2024 (int)
--   @p14 = 1231 (int)
--   @p15 = 2025 (int)
--   @p16 = 131 (int)
--   @p17 = 228 (int)
--   @p18 = 331 (int)
--   @p19 = 18 (number)
--   @p20 = 2024-10-31 (date)
--   @p21 = 2024-11-30 (date)
--   @p22 = 2024-12-28 (date)

-- statement 4 of 4: teardown
IF OBJECT_ID('tempdb..#steward_codes') IS NOT NULL DROP TABLE #steward_codes;

