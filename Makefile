# Podium's entry points. `make run` and `make test` work on a fresh Debian 12 machine:
# each installs what is missing first (scripts/setup.sh), as root or with sudo.
#
# Everything builds in release: the mediasoup worker (C++) is built once per profile,
# and tests of media code are only meaningful at release speed.
CARGO ?= cargo
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
PODIUM := $(CARGO_TARGET_DIR)/release/podium
# Arguments for `make run`, e.g. make run ARGS="--listen 0.0.0.0:3000 --announced-ip 192.0.2.10"
ARGS ?=

.PHONY: setup web build run test clean
.DEFAULT_GOAL := build

setup:
	@scripts/setup.sh

web: setup
	cd web && node build.mjs

build: web
	$(CARGO) build --release --locked -p server

run: build
	$(PODIUM) serve $(ARGS)

# The benchmarks must build (they are run by hand: docs/benchmarks.md), then unit and
# integration tests (real mediasoup workers, real FFmpeg), then the browser end-to-end
# tests (Debian's chromium, driven by playwright-core) against the binary.
test: web
	$(CARGO) build --release --locked --workspace --benches
	$(CARGO) test --release --locked --workspace
	PODIUM_BIN=$(PODIUM) node --test --test-reporter=spec web/e2e/

clean:
	$(CARGO) clean
	rm -rf web/dist
