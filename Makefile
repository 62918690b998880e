# latchkey — the two commands: `make run` (server on embedded SQLite, no
# config) and `make test` (the whole suite; Postgres/Redis suites run when
# LATCHKEY_TEST_POSTGRES_DSN / LATCHKEY_TEST_REDIS_URL are set, see README).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build test test-short check smoke bench bench-embedded bench-go wrk services fmt

# Builds into bin/ (saying so: the first build downloads the modules and
# compiles for a minute or two, silently) and serves.
run:
	@echo "latchkey: building bin/latchkey (the first build downloads modules and compiles: a minute or two)..."
	@$(GO) build -o bin/latchkey ./cmd/latchkey
	@echo "latchkey: starting bin/latchkey serve"
	./bin/latchkey serve

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/latchkey ./cmd/latchkey

# go test -race -count=1 ./..., then a list of the suites that skipped
# for want of a service (scripts/test.sh).
test:
	GO=$(GO) bash scripts/test.sh

test-short:
	$(GO) test -count=1 ./...

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Runs the README's quick-start and production commands, as written, on a
# fresh data directory in a temporary folder (scripts/readme-smoke.sh).
smoke:
	GO=$(GO) bash scripts/readme-smoke.sh

# Load benchmark, driven by wrk (bench/wrk/*.lua): the Gin baseline and
# latchkey's endpoints, req/s and p50/p90/p99, at log level info (the
# default) and warn, the verified-token cache warm and cold, password vs raw
# argon2id with the server's peak RSS, on the embedded default and in the
# production shape (Postgres + Redis; a throwaway schema and key prefix,
# dropped afterwards). Installs wrk with apt-get when it is missing.
BENCH_POSTGRES ?= $(or $(LATCHKEY_TEST_POSTGRES_DSN),postgres://postgres@127.0.0.1:5432/test?sslmode=disable)
BENCH_REDIS    ?= $(or $(LATCHKEY_TEST_REDIS_URL),redis://127.0.0.1:6379/14)
BENCH_FLAGS    ?= -duration 10s
bench: wrk
	$(GO) run ./bench $(BENCH_FLAGS) -postgres '$(BENCH_POSTGRES)' -redis '$(BENCH_REDIS)'

# Only the embedded default (no Postgres or Redis needed).
bench-embedded: wrk
	$(GO) run ./bench $(BENCH_FLAGS) -only 'baseline,client_credentials,introspection (cache warm),introspection (cache cold),refresh,code,device polling,password,client_credentials [warn],introspection (cache warm) [warn],introspection (cache cold) [warn],refresh [warn],code [warn],device polling [warn]'

# The load generator of make bench.
wrk:
	@bash scripts/wrk.sh

# Micro-benchmarks (go test -bench).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./provider/ ./storage/... ./backends/... ./resourceserver/

# Start PostgreSQL and Redis locally if they are down (Debian).
services:
	bash scripts/services.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
