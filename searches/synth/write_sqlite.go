package synth

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// sqliteWriter loads SQLite with multi-row INSERTs of literal values inside
// one transaction, journal and sync off: the fastest path through
// database/sql, since it binds no parameters.
type sqliteWriter struct {
	conn *sql.Conn
	lay  *layout
	ctx  context.Context
	err  error
	bufs [nTables][]byte
	rows [nTables]int
}

const (
	sqliteRowsPerInsert  = 500
	sqliteBytesPerInsert = 256 << 10
)

func newSQLiteWriter(ctx context.Context, db *sql.DB, lay *layout) (*sqliteWriter, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to sqlite: %w", err)
	}
	w := &sqliteWriter{conn: conn, lay: lay, ctx: ctx}
	for _, p := range []string{"PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA cache_size=-65536", "PRAGMA temp_store=MEMORY"} {
		if err := w.exec(ctx, p); err != nil {
			conn.Close()
			return nil, fmt.Errorf("sqlite %s: %w", p, err)
		}
	}
	return w, nil
}

func (w *sqliteWriter) exec(ctx context.Context, stmt string) error {
	_, err := w.conn.ExecContext(ctx, stmt)
	return err
}

func (w *sqliteWriter) tableExists(ctx context.Context, name string) (bool, error) {
	var n int
	err := w.conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, name).Scan(&n)
	return n > 0, err
}

func (w *sqliteWriter) begin(ctx context.Context) error {
	w.ctx = ctx
	return w.exec(ctx, "BEGIN")
}

func (w *sqliteWriter) row(t int, vals ...val) {
	b := w.bufs[t]
	if w.rows[t] == 0 {
		spec := w.lay.tables[t]
		b = append(b[:0], "INSERT INTO "...)
		b = append(b, spec.name...)
		b = append(b, " ("...)
		for i, c := range spec.cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, c...)
		}
		b = append(b, ") VALUES\n("...)
	} else {
		b = append(b, ",\n("...)
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSQLiteVal(b, v)
	}
	b = append(b, ')')
	w.bufs[t] = b
	w.rows[t]++
	if w.rows[t] >= sqliteRowsPerInsert || len(b) >= sqliteBytesPerInsert {
		w.flushTable(t)
	}
}

func appendSQLiteVal(b []byte, v val) []byte {
	switch v.k {
	case kInt:
		return strconv.AppendInt(b, v.i, 10)
	case kFloat:
		return strconv.AppendFloat(b, v.f, 'g', -1, 64)
	case kText:
		b = append(b, '\'')
		for i := 0; i < len(v.s); i++ {
			if v.s[i] == '\'' {
				b = append(b, '\'')
			}
			b = append(b, v.s[i])
		}
		return append(b, '\'')
	case kDate:
		b = append(b, '\'')
		b = v.d.appendISO(b)
		return append(b, '\'')
	case kDateTime:
		b = append(b, '\'')
		b = v.d.appendISO(b)
		h, m := v.min/60, v.min%60
		b = append(b, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', '0', '0')
		return append(b, '\'')
	}
	return append(b, "NULL"...)
}

func (w *sqliteWriter) flushTable(t int) {
	if w.rows[t] == 0 {
		return
	}
	if w.err == nil {
		if _, err := w.conn.ExecContext(w.ctx, string(w.bufs[t])); err != nil {
			w.err = fmt.Errorf("insert into %s: %w", w.lay.tables[t].name, err)
		}
	}
	w.rows[t] = 0
	w.bufs[t] = w.bufs[t][:0]
}

func (w *sqliteWriter) flush(context.Context) error {
	for t := range nTables {
		w.flushTable(t)
	}
	return w.err
}

func (w *sqliteWriter) commit(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *sqliteWriter) finish(ctx context.Context) error {
	if err := w.exec(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

func (w *sqliteWriter) close() { w.conn.Close() }
