# esxi-users — build, test, bench, lint. `make test` is the command CI runs.

# The Go toolchain the project builds, tests and ships with (go.mod's toolchain
# line). The go command fetches it from the module proxy on first use; a machine
# whose go env says GOTOOLCHAIN=local would ignore go.mod, so every target gets it.
export GOTOOLCHAIN := go1.27.3

GO        ?= go
BIN       := bin
FUZZTIME  ?= 15s

.PHONY: all build test test-go fuzz cross lint bench deps clean

all: build

build:
	$(GO) build -o $(BIN)/esxi-manage-users ./cmds/esxi-manage-users

## deps: install the system packages, Go modules and lint tools the tests need (only what is missing)
deps:
	./tools/install-test-deps.sh

## test: everything CI checks: deps, lint, all tests, short fuzz runs, Windows cross-build
test: deps lint test-go fuzz cross

## test-go: every package's tests, without -short; prints each package's
## result, failed tests in full and every skipped test with its reason
## (tools/testreport)
test-go: SHELL := /bin/bash
test-go:
	set -o pipefail; $(GO) test -count=1 -json ./... | $(GO) run ./tools/testreport

## test-short: the inner loop while developing: every package's tests with
## -short (long differential corpora sampled, plugin builds skipped; cached
## results reused), reported like test-go: the tests -short skips are listed
## with their reasons. `make test` runs everything.
.PHONY: test-short
test-short: SHELL := /bin/bash
test-short:
	set -o pipefail; $(GO) test -short -json ./... | $(GO) run ./tools/testreport

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./params
	$(GO) test -run '^$$' -fuzz '^FuzzJSONAgainstEncodingJSON$$' -fuzztime $(FUZZTIME) ./params
	$(GO) test -run '^$$' -fuzz '^FuzzAgainstPwqcheck$$' -fuzztime $(FUZZTIME) ./internal/passwdqc

cross:
	GOOS=windows $(GO) build ./...
	GOOS=windows $(GO) vet ./...
	GOOS=linux GOARCH=arm64 $(GO) build ./...

## lint: gofmt, go vet, go.mod tidy, staticcheck, deadcode and govulncheck (offline; tools/lint.sh)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags nosim ./cmds/... ./internal/cli/...
	GONOSUMDB=github.com/rackn $(GO) mod tidy -diff
	GO="$(GO)" ./tools/lint.sh all

## bench: apply N=10,100,1000 entries to the simulator, beside one govc process per call (also with 3 ms latency);
## a fleet through one vCenter; 500 machines at once through the DRP plugin (BenchmarkRack)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./test/bench

clean:
	rm -rf $(BIN) dist

-include mk/*.mk
