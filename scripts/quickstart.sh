#!/usr/bin/env bash
# The main job on built-in defaults: installs what is missing, builds, and trains the reference
# network (configs/models/refnet.yaml) on Fashion-MNIST with hwnas's default recipe.
# Results land in runs/quickstart (metrics.json, curve.csv, model.safetensors, model.yaml).
#   ./scripts/quickstart.sh [extra nas-train flags, e.g. --epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"${JOBS:-2}" --target nas-train
./build/bin/nas-train --model configs/models/refnet.yaml --dataset fashion-mnist --out runs/quickstart --force "$@"
echo "quickstart: results in runs/quickstart (metrics.json, curve.csv, model.safetensors)"
