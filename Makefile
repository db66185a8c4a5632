# Eventline — see README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin

.PHONY: run demo-profile test test-race build bench fuzz vet postgres-binaries chromium clean

build:
	$(GO) build -o $(BIN)/eventline ./cmd/eventline
	$(GO) build -o $(BIN)/zuora-sim ./cmd/zuora-sim

# Make sure PostgreSQL's server binaries exist (installs them when root on Debian).
postgres-binaries:
	@./scripts/ensure-postgres.sh

# zuora-sim serves the demo tenants on 127.0.0.1:8081 while serve runs.
# Make sure a headless Chromium exists for the dashboard's browser tests.
chromium:
	@./scripts/ensure-chromium.sh

# make run's demo profile: saga steps time out after 2 s and are retried after 250 ms (the
# contract's defaults are 300 s and 60 s), so that tok_flaky and tok_slow finish in seconds.
# A value set in the environment wins: EVENTLINE_SAGA_RETRY_DELAY=60s make run.
DEMO_PROFILE := EVENTLINE_SAGA_STEP_TIMEOUT=2s EVENTLINE_SAGA_RETRY_DELAY=250ms EVENTLINE_SAGA_COMPENSATION_TIMEOUT=30s
demo-profile:
	@for v in $(DEMO_PROFILE); do n=$${v%%=*}; if [ -n "$${!n}" ]; then echo "$$n=$${!n}"; else echo "$$v"; fi; done

run: postgres-binaries build
	./$(BIN)/zuora-sim --demo --addr 127.0.0.1:8081 & sim=$$!; trap 'kill $$sim 2>/dev/null' EXIT; \
		env $$($(MAKE) -s demo-profile) ./$(BIN)/eventline serve

# The dashboard's browser tests save screenshots; their paths are printed at the end.
SCREENSHOTS := $(or $(TMPDIR),/tmp)/eventline-screenshots.txt
test: postgres-binaries chromium
	$(GO) vet ./...
	@rm -f $(SCREENSHOTS)
	@# Two runs side by side, one package at a time each: the packages that
	@# start goroutines of their own under the race detector, the others
	@# (cmd/eventline, which runs those packages again in-process, is far too
	@# slow under -race) without it.
	@$(GO) test -race -count=1 -p 1 -timeout 8m $(RACE_PKGS) > $(RACE_LOG) 2>&1 & race=$$!; \
	EVENTLINE_SCREENSHOT_LIST=$(SCREENSHOTS) $(GO) test -count=1 -p 1 -timeout 8m $$($(GO) list ./... | grep -v -E '$(RACE_RE)') && \
	$(GO) test -count=1 -run '$(TIMING_TESTS)' ./eventstore/; rc=$$?; \
	wait $$race; rrc=$$?; echo "-- under the race detector:"; cat $(RACE_LOG); \
	if [ -s $(SCREENSHOTS) ]; then echo "screenshots of the dashboard's browser tests:"; sort $(SCREENSHOTS); fi; \
	exit $$(( rc || rrc ))

# The race detector alone: `make test-race`.
RACE_PKGS := ./eventstore/... ./projections/... ./platform/... ./handlers/... ./internal/pgcluster/
RACE_RE := /(eventstore|projections|platform|handlers)(/|$$)|/internal/pgcluster$$
RACE_LOG := $(or $(TMPDIR),/tmp)/eventline-race.log
# Timing guards, skipped under -race: run without it too.
TIMING_TESTS := ^TestGroupCommitSharesDiskSyncs$$
test-race: postgres-binaries
	$(GO) test -race -count=1 -timeout 8m $(RACE_PKGS)

# Every fuzz target, FUZZTIME each (go test runs one fuzz target at a time).
FUZZTIME ?= 20s
fuzz:
	@set -e; for t in FuzzDecodeSingle FuzzDecodeNDJSON FuzzDecodeArray FuzzDecodeEntriesReceived FuzzEntryRoundTrip FuzzFromOTLP; do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./domain/logs; done
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshalEnvelope$$' -fuzztime $(FUZZTIME) ./eventstore
	$(GO) test -run '^$$' -fuzz '^FuzzValidType$$' -fuzztime $(FUZZTIME) ./eventstore
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./domain/saga
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./domain/orders
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePage$$' -fuzztime $(FUZZTIME) ./zuora

# Prints our figures beside same-run baselines; see docs/BENCHMARKS.md.
bench: postgres-binaries chromium build
	$(GO) run ./bench/ingest --bin $(BIN)/eventline
	$(GO) run ./bench/ops --bin $(BIN)/eventline
	$(GO) run ./bench/command
	$(GO) test -run '^$$' -bench BenchmarkLoadLongHistory -benchtime 3x ./eventstore
	$(GO) test -run '^$$' -bench BenchmarkColdProductLoad -benchtime 3x ./handlers/orders
	$(GO) test -run '^$$' -bench 'BenchmarkDecode(Single|Array)' -benchtime 1s -count 2 ./domain/logs
	$(GO) -C bench/jsonlibs test -mod=mod -run TestCandidatesAgree -bench . -benchtime 0.5s .
	$(GO) run ./bench/reactor
	$(GO) run ./bench/sync
	$(GO) run ./bench/saga --bin $(BIN)/eventline
	$(GO) run ./bench/cluster --bin $(BIN)/eventline
	$(GO) run ./bench/hostile --bin $(BIN)/eventline
	$(GO) run ./bench/synchostile --bin $(BIN)/eventline
	$(GO) run ./bench/dashboard --bin $(BIN)/eventline
	$(GO) run ./bench/logsearch --bin $(BIN)/eventline

clean:
	rm -rf $(BIN)
