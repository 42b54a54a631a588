// Package store keeps the collector's data in SQLite (the default, one ICB)
// or PostgreSQL (a region or the country) with the same code: one schema
// written once with a few per-engine type words, queries written with ?
// placeholders and rebound for PostgreSQL.
//
// SQLite runs with one writer connection (WAL, synchronous=FULL,
// busy_timeout, foreign keys) and a pool of read-only readers; submissions
// are group-committed by one writer goroutine and acknowledged only after
// their transaction commits.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/nhs-steward/steward/internal/redact"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Engine names a database engine.
type Engine string

// Engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is the collector's store.
type DB struct {
	engine Engine
	// pool holds the raw connections, only to open, ping, close and begin
	// transactions on: statements go through the handles (see query.go).
	pool struct {
		w *sql.DB // writes; SQLite: one connection
		r *sql.DB // reads; SQLite: read-only pool, PostgreSQL: same as w
	}
	w, r handle // the pools as queries see them
	bind *rebinder

	// Group commit of submissions (SQLite only).
	batch     chan *ingestReq
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Open opens the store named by storage: "sqlite:PATH" or a PostgreSQL URL
// ("postgres://..." or "postgresql://..."). It does not migrate: call
// Migrate.
func Open(ctx context.Context, storage string) (*DB, error) {
	switch {
	case strings.HasPrefix(storage, "sqlite:"):
		return OpenSQLite(ctx, strings.TrimPrefix(storage, "sqlite:"))
	case strings.HasPrefix(storage, "postgres://"), strings.HasPrefix(storage, "postgresql://"):
		return OpenPostgres(ctx, storage)
	}
	return nil, fmt.Errorf("storage %q: want sqlite:PATH or a postgres:// URL", redact.URL(storage))
}

// Engine reports which engine db runs on.
func (db *DB) Engine() Engine { return db.engine }

// Close stops the group-commit writer, after committing and answering what
// it holds, and closes the connections.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		if db.quit != nil {
			close(db.quit)
			<-db.done
		}
		err = db.pool.w.Close()
		if db.pool.r != db.pool.w {
			err = errors.Join(err, db.pool.r.Close())
		}
	})
	return err
}

// sqliteDSN builds a modernc.org/sqlite DSN for path.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + filepath.ToSlash(path) + "?" + q.Encode()
}

func (db *DB) ping(ctx context.Context) error {
	if err := db.pool.w.PingContext(ctx); err != nil {
		return err
	}
	return db.pool.r.PingContext(ctx)
}

// timeLayout is how SQLite stores times: fixed width UTC, so text order is
// time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// ts converts t for a bind parameter; the zero time is NULL.
func (db *DB) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if db.engine == SQLite {
		return t.Format(timeLayout)
	}
	return t
}

// timeScan scans a stored time (text or timestamp, NULL as zero).
type timeScan struct{ t *time.Time }

func (s timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*s.t = time.Time{}
	case time.Time:
		*s.t = v.UTC()
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	default:
		return fmt.Errorf("scan time from %T", src)
	}
	return nil
}

func (s timeScan) parse(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return fmt.Errorf("scan time: %w", err)
	}
	*s.t = t.UTC()
	return nil
}

// dateScan scans a date stored as text (SQLite) or DATE (PostgreSQL) into
// YYYY-MM-DD.
type dateScan struct{ s *string }

func (d dateScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.s = ""
	case time.Time:
		*d.s = v.Format(time.DateOnly)
	case string:
		*d.s = v
	case []byte:
		*d.s = string(v)
	default:
		return fmt.Errorf("scan date from %T", src)
	}
	return nil
}

// inTx runs f in a transaction on the writer and commits it.
func (db *DB) inTx(ctx context.Context, f func(tx handle) error) error {
	tx, h, err := db.begin(ctx)
	if err != nil {
		return err
	}
	if err := f(h); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
