#!/usr/bin/env bash
# Installs what the test suite needs beyond npm packages, once per machine: each test area that
# needs something (Debian packages, Go-built binaries cached outside the repository) has an
# `ensure-deps.sh` of its own; this runs them all, in a stable order. Idempotent and quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
for script in test/*/ensure-deps.sh; do
  echo "test-deps: $script"
  bash "$script"
done
