# `make test` is the whole test suite on a fresh machine: it installs the servers the tests start
# (redis-server, memcached, nats-server), makes sure PostgreSQL answers, builds the Jaeger v2 binary
# of the otel end-to-end test on its first run (cached afterwards), then runs every test with the
# race detector, saying what it does before each slow step. `make test-short` is the inner loop:
# no PostgreSQL and no Jaeger (the tests that need them skip and say so).
GO ?= go
export GO

.PHONY: test test-short deps vet bench quickstart

test:
	@./scripts/test

test-short:
	@./scripts/test -short

deps:
	@./scripts/install-deps

vet:
	$(GO) vet ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./tiered/ | tee /dev/stderr | ./scripts/benchratio L1Hit:OtterBaseline L2Hit:RedisBaseline

quickstart:
	$(GO) run ./examples/quickstart
