package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/nhs-steward/steward/internal/redact"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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
		return nil, fmt.Errorf("open postgres %s: the URL does not parse (check its escaping)", redact.URL(url))
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
	db := newDB(Postgres, p, p)
	if err := db.ping(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open postgres %s: %w", redact.URL(url), err)
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

// periodMeasuresPostgres runs a MeasuresOf query (written with ?
// placeholders, rebound here) on pgx directly, reading each row's bytes in
// PostgreSQL's binary format: database/sql makes a string of every text
// value and boxes every number, and a cold reconciliation of 24 periods
// reads over a million rows.
func (db *DB) periodMeasuresPostgres(ctx context.Context, query string, args []any, add func(int64, []byte, []byte, sql.NullFloat64, sql.NullFloat64, sql.NullFloat64)) error {
	conn, err := db.pool.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		sc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres connection is a %T, not pgx's", driverConn)
		}
		rows, err := sc.Conn().Query(ctx, db.bind.bind(query), append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		want := []uint32{pgtype.Int8OID, pgtype.TextOID, pgtype.TextOID, pgtype.Float8OID, pgtype.Float8OID, pgtype.Float8OID}
		fields := rows.FieldDescriptions()
		if len(fields) != len(want) {
			return fmt.Errorf("measure query returned %d columns, want %d", len(fields), len(want))
		}
		for i, f := range fields {
			if f.DataTypeOID != want[i] {
				return fmt.Errorf("measure column %s has type OID %d, want %d (has the schema changed?)", f.Name, f.DataTypeOID, want[i])
			}
		}
		float := func(b []byte) (sql.NullFloat64, error) {
			switch len(b) {
			case 0:
				if b == nil {
					return sql.NullFloat64{}, nil
				}
			case 8:
				return sql.NullFloat64{Float64: math.Float64frombits(binary.BigEndian.Uint64(b)), Valid: true}, nil
			}
			return sql.NullFloat64{}, fmt.Errorf("float8 of %d bytes", len(b))
		}
		for rows.Next() {
			v := rows.RawValues()
			if len(v[0]) != 8 || v[1] == nil || v[2] == nil {
				return fmt.Errorf("malformed measure row")
			}
			num, err1 := float(v[3])
			den, err2 := float(v[4])
			val, err3 := float(v[5])
			if err := errors.Join(err1, err2, err3); err != nil {
				return err
			}
			add(int64(binary.BigEndian.Uint64(v[0])), v[1], v[2], num, den, val)
		}
		return rows.Err()
	})
}
