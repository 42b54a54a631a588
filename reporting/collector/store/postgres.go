package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// OpenPostgres opens the PostgreSQL database at url.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	p, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", Redact(url), err)
	}
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
