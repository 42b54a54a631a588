package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// sessionDefaults are planner settings the collector's queries are tuned
// for, set on each connection unless the URL sets them. The collector's
// tables are read by index far more than scanned: PostgreSQL's default
// random_page_cost of 4 (spinning disks) makes it hash-join a whole
// period's measure rows against every stored row instead of looking them
// up by submission (220 ms against 44 ms per period of 6,500 practices in
// make bench). JIT compilation costs more than these short queries run.
var sessionDefaults = map[string]string{"random_page_cost": "1.1", "jit": "off"}

// OpenPostgres opens the PostgreSQL database at url.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: the URL does not parse (check its escaping)", Redact(url))
	}
	for k, v := range sessionDefaults {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	p := stdlib.OpenDB(*cfg)
	p.SetMaxOpenConns(16)
	p.SetMaxIdleConns(16)
	p.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{engine: Postgres, w: p, r: p}
	if err := db.ping(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open postgres %s: %w", Redact(url), err)
	}
	return db, nil
}

func isUniqueViolationPostgres(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (db *DB) isForeignKeyViolation(err error) bool {
	if db.engine == Postgres {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23503"
	}
	return isForeignKeyViolationSQLite(err)
}

func (db *DB) isUniqueViolation(err error) bool {
	if db.engine == Postgres {
		return isUniqueViolationPostgres(err)
	}
	return isUniqueViolationSQLite(err)
}
