# kycgw — the front door. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BUF       := go tool -modfile=tools/go.mod buf
RUN_ARGS  ?=
TEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run the gateway on the embedded defaults (in-memory store, sandbox providers)
	go run ./cmd/kycgw $(RUN_ARGS)

.PHONY: test
test: ## Run every test with the race detector
	go test -race -count=1 $(TEST_ARGS) ./...

.PHONY: bench
bench: ## Run the benchmark and print the table (BENCH_ARGS="--quick" for the one-minute run)
	go run ./cmd/kycbench $(BENCH_ARGS)

.PHONY: generate
generate: ## Regenerate gen/ from proto/ (Go, grpc-gateway, OpenAPI)
	$(BUF) generate

.PHONY: checkgenerate
checkgenerate: generate ## Fail if gen/ differs from what proto/ generates
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
		echo "gen/ is out of date with proto/: run 'make generate' and commit gen/"; \
		git status --porcelain -- gen; git --no-pager diff --stat -- gen; exit 1; \
	fi

.PHONY: lint
lint: ## gofmt, go vet and buf lint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-ed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	$(BUF) lint

.PHONY: build
build: ## Build the binaries into bin/
	go build -o bin/ ./cmd/...
