#!/usr/bin/env bash
# Installs every Debian package hwnas needs to build and test. Idempotent: re-running is safe
# and skips apt entirely when everything is already there.
#   ./scripts/install-deps.sh          build + test dependencies
#   ./scripts/install-deps.sh --bench  also what only the benchmarks need (PyTorch)
# Then installs onnxruntime-node (the independent ONNX runtime the exporter's tests compare
# against) from npm into a cache folder: $HWNAS_CACHE (default ~/.cache/hwnas)/onnxruntime-node.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libeigen3-dev libtbb-dev libyaml-cpp-dev libsqlite3-dev sqlite3
  libboost-program-options-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler libonnx-dev
  libxgboost-dev xgboost
  libopenmpi-dev openmpi-bin
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist libonnx-testdata
  g++-aarch64-linux-gnu qemu-user-static
)
BENCH_PKGS=(python3 python3-torch python3-numpy)

want=("${PKGS[@]}")
for a in "$@"; do
  case "$a" in
    --bench) want+=("${BENCH_PKGS[@]}") ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#want[@]} packages already installed"
else
  echo "install-deps.sh: installing ${missing[*]}"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# onnxruntime-node from the npm registry, pinned, into the cache folder (not the repo).
# --ignore-scripts: its install script only fetches the CUDA provider from github.com; the
# CPU library ships inside the npm package.
ORT_VERSION=1.20.1
ORT_DIR="${HWNAS_CACHE:-$HOME/.cache/hwnas}/onnxruntime-node"
if [ -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ] && \
   grep -q "\"version\": \"$ORT_VERSION\"" "$ORT_DIR/node_modules/onnxruntime-node/package.json"; then
  echo "install-deps.sh: onnxruntime-node $ORT_VERSION already in $ORT_DIR"
elif command -v npm >/dev/null; then
  echo "install-deps.sh: installing onnxruntime-node $ORT_VERSION into $ORT_DIR"
  mkdir -p "$ORT_DIR"
  if ! (cd "$ORT_DIR" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "onnxruntime-node@$ORT_VERSION" >/dev/null); then
    echo "install-deps.sh: warning: npm could not install onnxruntime-node; the ONNX runtime comparison tests will be skipped" >&2
  fi
fi
