package arch

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nhs-steward/steward/"

// rank is each tree's place in the order; a package may import only
// packages of equal or greater rank.
var rank = map[string]int{
	"cmd": 0, "installer": 0,
	"agent":     1,
	"reporting": 2,
	"searches":  3,
	"internal":  4,
}

const rule = "the import order is cmd, installer -> agent -> reporting -> searches -> internal: a package imports only its own tree and trees to its right (internal/arch/doc.go)"

func tree(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, module)
	if !ok {
		return "", false
	}
	t, _, _ := strings.Cut(rest, "/")
	return t, true
}

// TestImportOrder fails on any import of a package's own code against the
// order. Tests may import any tree but cmd: an end-to-end test of the
// collector may drive the real agent client, which is where the pieces
// are meant to meet.
func TestImportOrder(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	packages := 0
	for dec.More() {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from, _ := tree(p.ImportPath)
		fr, known := rank[from]
		if from == "scripts" {
			continue
		}
		if !known {
			t.Errorf("%s is in tree %q, which has no place in the order: %s", p.ImportPath, from, rule)
			continue
		}
		packages++
		for _, imp := range p.Imports {
			if to, ours := tree(imp); ours {
				if tr, ok := rank[to]; ok && tr < fr {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(p.ImportPath, module), strings.TrimPrefix(imp, module), rule)
				}
			}
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			if to, _ := tree(imp); to == "cmd" {
				t.Errorf("%s imports %s: nothing imports a command", strings.TrimPrefix(p.ImportPath, module), strings.TrimPrefix(imp, module))
			}
		}
	}
	if packages < 40 {
		t.Fatalf("go list gave %d packages: the test is not seeing the module", packages)
	}
}
