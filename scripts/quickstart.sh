#!/usr/bin/env bash
# The main job on built-in defaults: installs what is missing, builds, and runs the hardware-aware
# search pipeline of configs/quickstart.yaml: trains the fmnist_small supernet on Fashion-MNIST,
# profiles this CPU into a latency table, searches under a budget of 0.7 x refnet's latency,
# trains the finalists and refnet with the same budget, and exports the winner (~10 minutes on
# 2 cores). Results and report.md land in runs/quickstart.
#   ./scripts/quickstart.sh [extra nas-search flags, e.g. --threads 2 | --resume]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"${JOBS:-2}" --target nas-search
extra=("$@")
if [ ${#extra[@]} -eq 0 ]; then extra=(--force); fi
./build/bin/nas-search --config configs/quickstart.yaml --out runs/quickstart "${extra[@]}"
echo "quickstart: report in runs/quickstart/report.md (winner in runs/quickstart/export/)"
