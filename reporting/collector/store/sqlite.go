package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nhs-steward/steward/internal/fsutil"
)

// OpenSQLite opens (creating if needed) the SQLite database at path.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite storage needs a path: sqlite:PATH")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, fsutil.PrivateDir); err != nil {
			return nil, fmt.Errorf("create directory for %s: %w", path, err)
		}
	}
	// The store holds who may sign in and every practice's figures: it is
	// the service's alone whatever the umask of whoever runs a command.
	// SQLite gives the -wal and -shm files the database file's mode when
	// it creates them; existing ones are narrowed here and after opening.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fsutil.PrivateFile)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	if err := narrowSQLite(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1) // the single writer
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer sets WAL before any reader opens the file.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	// A reader loads the planner's statistics when it opens; one busy
	// when they were gathered (refreshReaders) gets them within the hour.
	r.SetConnMaxLifetime(time.Hour)
	db := newDB(SQLite, w, r)
	if err := db.ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := narrowSQLite(path); err != nil {
		db.Close()
		return nil, err
	}
	db.startBatcher()
	return db, nil
}

// narrowSQLite makes the database file and its -wal and -shm files, where
// they exist, readable and writable by their owner only (0600; an access
// list on Windows).
func narrowSQLite(path string) error {
	if err := fsutil.RestrictFiles(path, path+"-wal", path+"-shm"); err != nil {
		return fmt.Errorf("open sqlite %s: %w (run the command as the service's account, or fix the files' owner)", path, err)
	}
	return nil
}

func isUniqueViolationSQLite(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isForeignKeyViolationSQLite(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// refreshReaders makes SQLite's read-only connections load the new
// statistics: each reads them only when it first loads the schema, so the
// idle ones are closed and the next read opens a fresh one.
func (db *DB) refreshReaders() {
	if db.engine != SQLite || db.pool.r == db.pool.w {
		return
	}
	db.pool.r.SetMaxIdleConns(0)
	db.pool.r.SetMaxIdleConns(8)
}
