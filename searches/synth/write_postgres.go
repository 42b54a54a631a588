package synth

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresWriter loads PostgreSQL with COPY (pgx CopyFrom) inside one
// transaction on one connection.
type postgresWriter struct {
	conn *sql.Conn
	lay  *layout
	rows [nTables][][]any
	n    int
}

const postgresRowsPerCopy = 50000

func newPostgresWriter(ctx context.Context, db *sql.DB, lay *layout) (*postgresWriter, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	return &postgresWriter{conn: conn, lay: lay}, nil
}

func (w *postgresWriter) exec(ctx context.Context, stmt string) error {
	_, err := w.conn.ExecContext(ctx, stmt)
	return err
}

func (w *postgresWriter) tableExists(ctx context.Context, name string) (bool, error) {
	var n int
	err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name = lower($1)`, name).Scan(&n)
	return n > 0, err
}

func (w *postgresWriter) begin(ctx context.Context) error { return w.exec(ctx, "BEGIN") }

func (w *postgresWriter) row(t int, vals ...val) {
	r := make([]any, len(vals))
	for i, v := range vals {
		switch v.k {
		case kInt:
			r[i] = v.i
		case kFloat:
			r[i] = v.f
		case kText:
			r[i] = v.s
		case kDate:
			r[i] = v.d.time()
		case kDateTime:
			r[i] = v.d.time().Add(time.Duration(v.min) * time.Minute)
		}
	}
	w.rows[t] = append(w.rows[t], r)
	w.n++
}

func (w *postgresWriter) flush(ctx context.Context) error {
	if w.n < postgresRowsPerCopy {
		return nil
	}
	return w.copyAll(ctx)
}

func (w *postgresWriter) copyAll(ctx context.Context) error {
	err := w.conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		for t := range nTables {
			if len(w.rows[t]) == 0 {
				continue
			}
			spec := w.lay.tables[t]
			cols := make([]string, len(spec.cols))
			for i, c := range spec.cols {
				cols[i] = strings.ToLower(c) // unquoted names fold to lower case
			}
			if _, err := pc.CopyFrom(ctx, pgx.Identifier{strings.ToLower(spec.name)}, cols, pgx.CopyFromRows(w.rows[t])); err != nil {
				return fmt.Errorf("copy into %s: %w", spec.name, err)
			}
			w.rows[t] = w.rows[t][:0]
		}
		return nil
	})
	w.n = 0
	return err
}

func (w *postgresWriter) commit(ctx context.Context) error {
	if err := w.copyAll(ctx); err != nil {
		return err
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *postgresWriter) finish(ctx context.Context) error {
	if err := w.exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

func (w *postgresWriter) close() { w.conn.Close() }
