#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release, -j2) and runs every test with ctest.
#   ./scripts/test.sh              the CI run: unit tests plus small versions of the end-to-end tests
#   HWNAS_FULL_TESTS=1 ./scripts/test.sh   the end-to-end tests at full size (slow)
#   BUILD_DIR=build-x ./scripts/test.sh    another build folder (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-2}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHWNAS_BUILD_TESTS=ON -DHWNAS_BUILD_BENCH=ON
cmake --build "$BUILD_DIR" -j"$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$JOBS" --timeout 900 "$@"
