package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nhs-steward/steward/internal/pgtest"
	"github.com/nhs-steward/steward/reporting/collector/store"
	"github.com/nhs-steward/steward/reporting/collector/storetest"
)

func openSQLite(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

func openPostgres(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

func TestConformanceSQLite(t *testing.T)   { storetest.Run(t, openSQLite) }
func TestConformancePostgres(t *testing.T) { storetest.Run(t, openPostgres) }
