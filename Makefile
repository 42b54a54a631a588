# Steward. Quick start: `make demo`, then `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/nhs-steward/steward/internal/buildinfo.Version=$(VERSION)
CMDS     := steward steward-agent steward-collector
DIST     := dist
OUT      := out

.PHONY: all build demo test vet fmt-check lint go-test bench fuzz dist dist-verify windows-check vulncheck clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build the three commands into bin/
	@mkdir -p bin
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

demo: build ## the main job end to end on embedded SQLite, no network or setup
	@./scripts/demo.sh

test: vet fmt-check lint go-test ## everything the project checks

vet:
	$(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: ## staticcheck and deadcode, pinned as tools in go.mod: no finding, no unreachable function
	$(GO) tool staticcheck ./...
	@out=$$($(GO) tool deadcode -test ./...); \
	if [ -n "$$out" ]; then echo "deadcode: unreachable functions (wire them or delete them):"; echo "$$out"; exit 1; fi

vulncheck: ## known vulnerabilities in the dependencies (needs the Go vulnerability database: a release step, see docs/install-practice.md, For the release manager)
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.9.0 ./...

go-test: ## unit and integration tests with the race detector, on a throwaway PostgreSQL
	./.ci/with-postgres.sh $(GO) test -race -count=1 -timeout 40m ./...

bench: build ## benchmarks: generation, the MedSIP pack, ingest, reconciliation
	./.ci/with-postgres.sh ./scripts/bench.sh

# Every fuzz target, as package:Function (docs/fuzzing.md). The test of
# internal/fuzzcheck fails when a Fuzz function of the repository is missing
# here, or listed but gone.
FUZZ_TARGETS := \
	./agent/config:FuzzParse \
	./cmd/steward-collector:FuzzListSizes \
	./reporting/collector/config:FuzzParse \
	./reporting/collector/server:FuzzEnrol \
	./reporting/collector/server:FuzzHeartbeat \
	./reporting/collector/server:FuzzSubmit \
	./reporting/results:FuzzDecode \
	./reporting/schemes:FuzzAppendString \
	./reporting/schemes:FuzzParse \
	./reporting/wire:FuzzVerify \
	./searches/bundle:FuzzExtract \
	./searches/lang:FuzzParseExpr \
	./searches/lang:FuzzParseSearch \
	./searches/lang:FuzzSearchCSV \
	./searches/profile:FuzzParse
# FUZZTIME is per target: a duration (30s) or a count of inputs (1000000x).
# FUZZ_ONLY picks the targets whose package:Function contains it. The
# targets' temporary folders (SQLite stores, extracted bundles) go to
# FUZZTMPDIR, a RAM disk where there is one: fsync on a disk holds the
# targets that write to a few hundred inputs a second.
FUZZTIME         ?= 30s
FUZZMINIMIZETIME ?= 100x
FUZZPARALLEL     ?= 2
FUZZ_ONLY        ?=
FUZZTMPDIR       ?= $(firstword $(wildcard /dev/shm) $(TMPDIR) /tmp)

fuzz: ## run each fuzz target for FUZZTIME (default 30s); FUZZ_ONLY=FuzzSubmit picks targets
	@set -e; for t in $(FUZZ_TARGETS); do \
	  case "$$t" in *"$(FUZZ_ONLY)"*) ;; *) continue ;; esac; \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== $$pkg $$fn, $(FUZZTIME)"; \
	  TMPDIR='$(FUZZTMPDIR)' $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) \
	    -fuzzminimizetime $(FUZZMINIMIZETIME) -parallel $(FUZZPARALLEL) $$pkg; \
	done

dist: ## packages (signed exe and MSI, .debs, SHA256SUMS) and linux/windows binaries of all three commands
	VERSION='$(VERSION)' GO='$(GO)' DIST='$(DIST)' ./installer/build.sh
	@mkdir -p $(DIST)
	for os in linux windows; do \
	  for c in $(CMDS); do \
	    ext=; [ $$os = windows ] && ext=.exe; \
	    CGO_ENABLED=0 GOOS=$$os GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DIST)/$$os-amd64/$$c$$ext ./cmd/$$c || exit 1; \
	  done; \
	done
	@ls -l $(DIST)/*/

dist-verify: ## check what make dist built: signatures, MSI tables, .deb install/use/purge (root)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  GO='$(GO)' DIST='$(DIST)' ./.ci/with-postgres.sh ./installer/ci-check.sh; \
	else GO='$(GO)' DIST='$(DIST)' ./installer/ci-check.sh; fi

windows-check: ## run the MSI, the service and a full cycle under Wine (after make dist; see installer/wine-check.sh)
	GO='$(GO)' DIST='$(DIST)' ./installer/wine-check.sh

clean: ## remove build output
	rm -rf bin $(DIST) $(OUT)
