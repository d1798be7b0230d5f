# Conflux: every entry point a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
VITEST := npx vitest run

.PHONY: help install images test-deps build typecheck test test-fast sim-long crash-long chaos cluster bench bench-quick bench-core bench-storage crds dashboard-png clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

node_modules/.package-lock.json: package-lock.json
	npm ci

install: node_modules/.package-lock.json ## install dependencies (npm ci)

test-deps: ## Debian packages and Go-built tools the tests need (cached outside the repository; quick when present)
	bash scripts/test-deps.sh

build: install ## compile TypeScript to dist/
	npm run -s build

typecheck: install ## type-check everything, tests included
	npx tsc -p tsconfig.json --noEmit

test: test-deps build typecheck ## the whole test suite with coverage; ends with "N passed, N failed"
	@mkdir -p test-results
	@set +e; $(VITEST) --coverage --reporter=default --reporter=json --outputFile.json=test-results/vitest.json; rc=$$?; \
	  node test/support/summary.mjs test-results/vitest.json; exit $$rc

test-fast: build ## in-process tests only (no real node processes), no coverage
	$(VITEST) test/raft test/sim test/store test/http test/operator test/support test/server/driver test/server/peer-codec test/server/retention

cluster: build ## start a local 3-node cluster on 127.0.0.1 (data in ./.local-cluster) until Ctrl-C
	node dist/node/src/cli/local-cluster.js

sim-long: build ## the long simulator run (SIM_SEEDS=100000 by default)
	SIM_SEEDS=$${SIM_SEEDS:-100000} $(VITEST) test/sim

bench: build ## Conflux next to etcd: 1/3/5 nodes, writes, reads, 64 KiB values, watch fan-out (~25 min; bench/results/full.*)
	test/bench/ensure-etcd.sh
	node dist/test/bench/kv-bench.js --mode full $(BENCH_ARGS)

bench-quick: build ## a few points of `make bench` on 3 nodes, under 3 minutes (bench/results/quick.*)
	test/bench/ensure-etcd.sh
	node dist/test/bench/kv-bench.js --mode quick $(BENCH_ARGS)

bench-core: build ## Raft core throughput: 3 cores in one process, no I/O (target >= 200k entries/s)
	node dist/test/bench/raft-core-bench.js 5

bench-storage: build ## log appends, WAL next to format 1's LevelDB (batch 1/16/64/256, 64 writers), and the raw fdatasync rate
	node dist/node/src/storage/bench-append.js --seconds 3

crash-long: build ## the storage crash test with 200 SIGKILL rounds
	CRASH_ROUNDS=200 $(VITEST) test/storage/crash.test.ts

chaos: build ## long chaos run on real processes, every nemesis (CHAOS_SECONDS=600, CHAOS_SEED=random; a failing run keeps its folder)
	CHAOS_SECONDS=$${CHAOS_SECONDS:-600} $(VITEST) test/chaos/chaos.test.ts

crds: build ## regenerate crds/confluxclusters.yaml from operator/src/api, and the charts' copy and values schema (tests fail when stale)
	node dist/operator/src/api/write-crd.js crds/confluxclusters.yaml
	node charts/sync-from-crd.mjs

dashboard-png: build ## draw docs/images/dashboard.png from a real Prometheus scrape of a local 3-node cluster (needs prometheus and rsvg-convert)
	@mkdir -p docs/images
	CONFLUX_DASHBOARD_PNG=$(CURDIR)/docs/images/dashboard.png $(VITEST) test/observability/prometheus.process.test.ts

IMAGE_PREFIX ?=
VERSION = $(shell node -p "require('./package.json').version")
images: ## build the container images conflux and conflux-operator (needs a Docker engine; IMAGE_PREFIX=registry/path/)
	docker build --target conflux -t $(IMAGE_PREFIX)conflux:$(VERSION) .
	docker build --target conflux-operator -t $(IMAGE_PREFIX)conflux-operator:$(VERSION) .

clean: ## remove build output and local data
	rm -rf dist coverage test-results .local-cluster
