package cli

import (
	"cmp"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lookupFix is what a command does instead of looking a flag up by name.
const lookupFix = "a flag read by name panics at run time once the flag is renamed: " +
	"bind it to a typed variable in the command's Flags (var name string; fs.StringVar(&name, \"name\", ...)) " +
	"and read the variable in Run (see Command.Flags)"

// TestCommandsReadTypedFlags fails when a program under cmd/ looks a flag
// up by name on a flag.FlagSet (fs.Lookup("name").Value...) instead of
// reading the typed variable the flag is bound to.
func TestCommandsReadTypedFlags(t *testing.T) {
	root := filepath.Join("..", "..", "cmd")
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, dir := range dirs {
		found, n, err := flagLookups(dir)
		if err != nil {
			t.Fatal(err)
		}
		files += n
		for _, f := range found {
			rel, _ := filepath.Rel(filepath.Join("..", ".."), f.pos.Filename)
			t.Errorf("%s:%d:%d: %s.Lookup: %s", filepath.ToSlash(rel), f.pos.Line, f.pos.Column, f.recv, lookupFix)
		}
	}
	if files < 20 {
		t.Fatalf("read %d Go files under cmd/: the test is not seeing the commands", files)
	}
}

// TestFlagLookupsFindsReadsByName shows the check finds a FlagSet's Lookup
// however the set is reached, and leaves other Lookups and typed flags be.
func TestFlagLookupsFindsReadsByName(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", `package main

import (
	"flag"
	fl "flag"

	"example.com/dialect"
)

type opts struct{ set *flag.FlagSet }

func run(fs *flag.FlagSet, o opts) string {
	d, _ := dialect.Lookup("sqlite")                      // not a FlagSet
	_ = fs.Lookup("name").Value.String()                   // want
	_ = o.set.Lookup("name")                               // want
	_ = fl.NewFlagSet("x", fl.ContinueOnError).Lookup("a") // want
	_ = flag.Lookup("v")                                   // want: the program's own FlagSet
	var name string
	fs.StringVar(&name, "name", "", "")
	return d + name
}

func main() {}
`)
	write("main_test.go", `package main

import "flag"

func read(fs *flag.FlagSet) string { return fs.Lookup("name").Value.String() }
`)
	write("other_windows.go", `package main

import "flag"

func win(fs *flag.FlagSet) string { return fs.Lookup("name").Value.String() } // want
`)
	found, files, err := flagLookups(dir)
	if err != nil {
		t.Fatal(err)
	}
	if files != 2 {
		t.Errorf("read %d files, want 2 (main.go and other_windows.go; tests are not commands)", files)
	}
	var got []string
	for _, f := range found {
		got = append(got, fmt.Sprintf("%s:%d %s", filepath.Base(f.pos.Filename), f.pos.Line, f.recv))
	}
	want := []string{
		"main.go:14 fs",
		"main.go:15 o.set",
		`main.go:16 fl.NewFlagSet("x", fl.ContinueOnError)`,
		"main.go:17 flag",
		"other_windows.go:5 fs",
	}
	if !slices.Equal(got, want) {
		t.Errorf("found\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

type lookup struct {
	pos  token.Position
	recv string // the expression Lookup is called on
}

// flagLookups type-checks the non-test Go files of dir, for each operating
// system the programs build for, and returns every selection of Lookup on
// a flag.FlagSet or of the package function flag.Lookup, and the number of
// files read. Only package flag is imported; other imports stay
// unresolved, which leaves FlagSets, reached any way, fully typed.
func flagLookups(dir string) ([]lookup, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	fset := token.NewFileSet()
	parsed := map[string]*ast.File{}
	seen := map[token.Position]bool{}
	var out []lookup
	for _, goos := range []string{"linux", "windows", "darwin"} {
		ctx := build.Default
		ctx.GOOS = goos
		var files []*ast.File
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			if ok, err := ctx.MatchFile(dir, name); err != nil || !ok {
				if err != nil {
					return nil, 0, err
				}
				continue
			}
			f, ok := parsed[name]
			if !ok {
				if f, err = parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution); err != nil {
					return nil, 0, err
				}
				parsed[name] = f
			}
			files = append(files, f)
		}
		if len(files) == 0 {
			continue
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}, Uses: map[*ast.Ident]types.Object{}}
		conf := types.Config{Importer: flagOnly{importer.ForCompiler(fset, "gc", nil)}, Error: func(error) {}}
		conf.Check(files[0].Name.Name, fset, files, info) // errors expected: other imports are not loaded
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				se, ok := n.(*ast.SelectorExpr)
				if !ok || se.Sel.Name != "Lookup" || !flagLookup(info, se) {
					return true
				}
				pos := fset.Position(se.Sel.Pos())
				if !seen[pos] {
					seen[pos] = true
					out = append(out, lookup{pos: pos, recv: types.ExprString(se.X)})
				}
				return true
			})
		}
	}
	slices.SortFunc(out, func(a, b lookup) int {
		return cmp.Or(strings.Compare(a.pos.Filename, b.pos.Filename), cmp.Compare(a.pos.Offset, b.pos.Offset))
	})
	return out, len(parsed), nil
}

// flagLookup reports whether se is (*flag.FlagSet).Lookup or flag.Lookup.
func flagLookup(info *types.Info, se *ast.SelectorExpr) bool {
	if sel := info.Selections[se]; sel != nil {
		t := types.Unalias(sel.Recv())
		if p, ok := t.(*types.Pointer); ok {
			t = types.Unalias(p.Elem())
		}
		n, ok := t.(*types.Named)
		return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "flag" && n.Obj().Name() == "FlagSet"
	}
	fn, ok := info.Uses[se.Sel].(*types.Func)
	return ok && fn.Pkg() != nil && fn.Pkg().Path() == "flag"
}

// flagOnly imports package flag and nothing else.
type flagOnly struct{ gc types.Importer }

func (i flagOnly) Import(path string) (*types.Package, error) {
	if path != "flag" {
		return nil, errors.New("not loaded: only package flag is")
	}
	return i.gc.Import(path)
}
