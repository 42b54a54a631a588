package pgtest

import (
	"database/sql"
	"testing"
)

func TestNewDBIsEmptyAndWritable(t *testing.T) {
	u := NewDB(t)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (x int)"); err != nil {
		t.Fatalf("create table in fresh database: %v", err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got, want := n, 1; got != want {
		t.Fatalf("tables in fresh database = %d, want %d", got, want)
	}
}
