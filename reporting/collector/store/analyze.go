package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Planner statistics. Without them both engines guess at the sizes of the
// collector's tables and pick plans that read every measure row (SQLite:
// 175 ms for the overview's latest figures of 200 practices, 8 ms with
// statistics; PostgreSQL: 13.6 s for the first overview of a freshly
// restored store, before autovacuum got to it). Statistics are gathered
// after Migrate changes the schema, whenever Migrate finds a store holding
// figures without them (a restored backup, a bulk load), and by Optimize,
// which serve runs from its prune loop.

// statsTables are the tables whose statistics the collector's reads
// depend on; a store whose measure rows have none needs ANALYZE.
var statsTables = []string{"submissions", "measure_rows"}

// Analyze gathers the planner's statistics for every table.
func (db *DB) Analyze(ctx context.Context) error {
	stmt := "ANALYZE"
	if db.engine == SQLite {
		// A bounded sample per index: as good for these plans, and quick
		// on a store of any size.
		stmt = "PRAGMA analysis_limit = 1000; ANALYZE"
	}
	if _, err := db.w.exec(ctx, stmt); err != nil {
		return fmt.Errorf("gather planner statistics: %w", err)
	}
	db.refreshReaders()
	return nil
}

// StatisticsMissing reports whether the store holds figures the planner
// has no statistics for.
func (db *DB) StatisticsMissing(ctx context.Context) (bool, error) {
	for _, t := range statsTables {
		var one int
		err := db.w.queryRow(ctx, "SELECT 1 FROM "+t+" LIMIT 1").Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			continue // empty: nothing to plan for yet
		}
		if err != nil {
			return false, fmt.Errorf("check planner statistics: %w", err)
		}
		var n int
		switch db.engine {
		case SQLite:
			var have int
			if err := db.w.queryRow(ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'").Scan(&have); err != nil {
				return false, fmt.Errorf("check planner statistics: %w", err)
			}
			if have == 0 {
				return true, nil
			}
			err = db.w.queryRow(ctx, "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = ?", t).Scan(&n)
		default:
			err = db.w.queryRow(ctx, "SELECT COUNT(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = ?", t).Scan(&n)
		}
		if err != nil {
			return false, fmt.Errorf("check planner statistics: %w", err)
		}
		if n == 0 {
			return true, nil
		}
	}
	return false, nil
}

// analyzeIfMissing gathers statistics when the store holds figures
// without them.
func (db *DB) analyzeIfMissing(ctx context.Context) error {
	missing, err := db.StatisticsMissing(ctx)
	if err != nil || !missing {
		return err
	}
	return db.Analyze(ctx)
}

// Optimize refreshes statistics that have gone stale, cheaply enough to run
// every few minutes: SQLite's PRAGMA optimize looks at every table and
// analyses those that changed much since their last analysis; on
// PostgreSQL, tables never analysed or changed by more than a tenth since
// are analysed (what autovacuum would do, without waiting for it).
func (db *DB) Optimize(ctx context.Context) error {
	if err := db.analyzeIfMissing(ctx); err != nil {
		return err
	}
	if db.engine == SQLite {
		// 0x10000: every table, not just those this connection queried.
		if _, err := db.w.exec(ctx, "PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002"); err != nil {
			return fmt.Errorf("refresh planner statistics: %w", err)
		}
		db.refreshReaders()
		return nil
	}
	stale, err := queryAll(ctx, db.w, `SELECT quote_ident(relname) FROM pg_stat_user_tables WHERE schemaname = current_schema()
	AND (n_mod_since_analyze > 50 + n_live_tup / 10 OR (last_analyze IS NULL AND last_autoanalyze IS NULL AND n_live_tup > 0))`,
		func(rows *sql.Rows) (string, error) {
			var t string
			err := rows.Scan(&t)
			return t, err
		})
	if err != nil {
		return fmt.Errorf("refresh planner statistics: %w", err)
	}
	for _, t := range stale {
		if _, err := db.w.exec(ctx, "ANALYZE "+t); err != nil {
			return fmt.Errorf("refresh planner statistics of %s: %w", t, err)
		}
	}
	return nil
}
