package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatementsGoThroughHandles reads the store's sources and fails on a
// database/sql statement (QueryContext, QueryRowContext, ExecContext and
// their kin) made anywhere but query.go, and on the raw pools reached
// outside the files that open, close and begin them: every statement must
// go through a handle (db.r, db.w, a transaction's handle) so that its ?
// placeholders are rebound for PostgreSQL.
func TestStatementsGoThroughHandles(t *testing.T) {
	statements := map[string]bool{
		"QueryContext": true, "QueryRowContext": true, "ExecContext": true, "PrepareContext": true,
		"Query": true, "QueryRow": true, "Exec": true, "Prepare": true,
	}
	// postgres.go reads measures on pgx directly (binary format), after
	// rebinding the query itself; that Query is pgx's, not database/sql's.
	allowed := map[string]map[string]bool{"postgres.go": {"Query": true}}
	poolFiles := map[string]bool{"query.go": true, "store.go": true, "postgres.go": true, "sqlite.go": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d Go files in the store's directory; the test must run there", len(files))
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if name == "query.go" || name == "statements_test.go" {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if ok && statements[sel.Sel.Name] && !allowed[name][sel.Sel.Name] {
					t.Errorf("%s: %s called directly: run statements through a handle, which rebinds ? placeholders for PostgreSQL: "+
						"db.r or db.w (or a transaction's handle from db.inTx).exec, .queryRow, .queryEach, or queryAll(ctx, handle, query, scan, args...) (see query.go)",
						fset.Position(n.Pos()), sel.Sel.Name)
				}
			case *ast.SelectorExpr:
				if n.Sel.Name == "pool" && !poolFiles[name] && !strings.HasSuffix(name, "_test.go") {
					t.Errorf("%s: the raw pools (db.pool) are for opening, closing and beginning transactions only: "+
						"run statements through db.r, db.w or db.inTx's handle (see query.go)", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
}
