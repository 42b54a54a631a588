package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Every statement the store runs goes through a handle: a pool or a
// transaction whose exec, queryRow, queryEach and queryAll take queries
// written with ? placeholders and rebind them for the engine themselves,
// so no query can reach PostgreSQL with a ? left in it. The raw
// connections (DB.pool) are only opened, pinged, closed and begun here and
// in the engines' files; TestStatementsGoThroughHandles fails on a
// database/sql statement method called anywhere but this file.

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebinder rebinds queries written with ? placeholders for an engine,
// remembering each query it rebound.
type rebinder struct {
	engine Engine
	cache  sync.Map
}

// bind returns query with its placeholders as the engine wants them:
// unchanged for SQLite, $1, $2... for PostgreSQL. Every ? is a
// placeholder, so a query must not hold one in a literal.
func (b *rebinder) bind(query string) string {
	if b.engine != Postgres {
		return query
	}
	if v, ok := b.cache.Load(query); ok {
		return v.(string)
	}
	var s strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			s.WriteByte('$')
			s.WriteString(strconv.Itoa(n))
			continue
		}
		s.WriteRune(r)
	}
	out := s.String()
	b.cache.Store(query, out)
	return out
}

// handle is a pool or a transaction as the store's queries see it.
type handle struct {
	raw querier
	b   *rebinder
}

// exec runs a statement that returns no rows.
func (h handle) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return h.raw.ExecContext(ctx, h.b.bind(query), args...)
}

// queryRow runs a query for at most one row; Scan on the result reports
// sql.ErrNoRows when there is none.
func (h handle) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return h.raw.QueryRowContext(ctx, h.b.bind(query), args...)
}

// queryEach runs a query and calls row for each row, in order, stopping at
// the first error; it closes the rows whatever happens.
func (h handle) queryEach(ctx context.Context, query string, row func(*sql.Rows) error, args ...any) error {
	rows, err := h.raw.QueryContext(ctx, h.b.bind(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// queryAll runs a query and returns what scan makes of each row, in order
// (nil when there are none).
func queryAll[T any](ctx context.Context, h handle, query string, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	var out []T
	err := h.queryEach(ctx, query, func(rows *sql.Rows) error {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// newDB makes a store on the pools w (writes) and r (reads; w itself for
// PostgreSQL).
func newDB(engine Engine, w, r *sql.DB) *DB {
	db := &DB{engine: engine, bind: &rebinder{engine: engine}}
	db.pool.w, db.pool.r = w, r
	db.w, db.r = handle{raw: w, b: db.bind}, handle{raw: r, b: db.bind}
	return db
}

// begin starts a transaction on the writer and returns it with its handle.
func (db *DB) begin(ctx context.Context) (*sql.Tx, handle, error) {
	tx, err := db.pool.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, handle{}, fmt.Errorf("begin: %w", err)
	}
	return tx, handle{raw: tx, b: db.bind}, nil
}
