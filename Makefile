# `make test` is the whole test suite: it installs what a fresh machine lacks (redis-server), then
# runs every test with the race detector. Tests start their own redis-server processes.
GO ?= go

.PHONY: test deps vet bench quickstart

test: deps
	$(GO) test -race -count=1 -timeout 20m ./...

deps:
	@./scripts/install-deps

vet:
	$(GO) vet ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./tiered/ | tee /dev/stderr | ./scripts/benchratio L1Hit:OtterBaseline L2Hit:RedisBaseline

quickstart:
	$(GO) run ./examples/quickstart
