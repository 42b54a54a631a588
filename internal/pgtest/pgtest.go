// Package pgtest gives tests a fresh, empty PostgreSQL database on a real
// server. The server comes from STEWARD_TEST_PG (a URL of a role that may
// create databases); `make test` and `.ci/run` start a throwaway cluster on a
// loopback port and set it. Without it, tests that need PostgreSQL are
// skipped, unless STEWARD_REQUIRE_PG is set, when they fail: `make test` sets
// it so that a missing server can never pass silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"github.com/nhs-steward/steward/internal/redact"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names the variable holding the server URL.
const EnvURL = "STEWARD_TEST_PG"

// ServerURL returns the server URL, skipping or failing t when there is none.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("STEWARD_REQUIRE_PG") != "" {
			t.Fatalf("%s is not set but STEWARD_REQUIRE_PG is: start a server with scripts/pg-cluster.sh (make test does)", EnvURL)
		}
		t.Skipf("%s not set: run `make test` to start a throwaway PostgreSQL cluster", EnvURL)
	}
	return u
}

// NewDB creates a database with a random name, returns its URL, and drops it
// when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", redact.URL(server), err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "steward_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
