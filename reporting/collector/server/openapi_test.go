package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/nhs-steward/steward/reporting/collector/server"
	"github.com/nhs-steward/steward/reporting/tufrepo"
)

// noBundles stands in for a search-bundle repository, so that its routes
// are registered.
type noBundles struct{}

func (noBundles) Handler() http.Handler                          { return http.NotFoundHandler() }
func (noBundles) PublishHandler(tufrepo.Authorizer) http.Handler { return http.NotFoundHandler() }

// TestRoutesDocumented checks that every route the server registers, with
// a search-bundle repository, is in docs/openapi.yaml and in docs/api.md.
func TestRoutesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.0") {
		t.Fatalf("openapi version %q, want 3.0.x", spec.OpenAPI)
	}
	md, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Store: nil, Logger: quiet, Bundles: noBundles{}})
	for _, r := range srv.Routes() {
		op, ok := spec.Paths[r.Path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("%s %s is not in docs/openapi.yaml", r.Method, r.Path)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s %s in docs/openapi.yaml has no responses", r.Method, r.Path)
		}
		if !strings.Contains(string(md), r.Method+" "+r.Path) {
			t.Errorf("%s %s is not in docs/api.md", r.Method, r.Path)
		}
	}
}
