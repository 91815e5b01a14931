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
generate: ## Regenerate gen/ from proto/ (Go, grpc-gateway, OpenAPI) and the reference in docs/api.md
	$(BUF) generate
	$(BUF) build -o - | go run ./internal/tools/protodoc -http proto/gateway.yaml -out docs/api.md

.PHONY: checkgenerate
checkgenerate: generate ## Fail if gen/ or docs/api.md differs from what proto/ generates
	@if [ -n "$$(git status --porcelain -- gen docs/api.md)" ]; then \
		echo "gen/ or docs/api.md is out of date with proto/: run 'make generate' and commit them"; \
		git status --porcelain -- gen docs/api.md; git --no-pager diff --stat -- gen docs/api.md; exit 1; \
	fi

.PHONY: lint
lint: ## gofmt, go vet and buf lint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-ed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	$(BUF) lint

.PHONY: build
build: ## Build the binaries into bin/: kycgw, kycctl (the command-line client), kyc-sandbox, kycbench
	go build -o bin/ ./cmd/...
