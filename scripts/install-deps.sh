#!/usr/bin/env bash
# Installs every Debian package hwnas needs to build and test. Idempotent: re-running is safe
# and skips apt entirely when everything is already there.
#   ./scripts/install-deps.sh          build + test dependencies
#   ./scripts/install-deps.sh --bench  also what only the benchmarks need (PyTorch, Node.js)
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libeigen3-dev libtbb-dev libyaml-cpp-dev libsqlite3-dev sqlite3
  libboost-program-options-dev nlohmann-json3-dev
  libprotobuf-dev protobuf-compiler libonnx-dev
  libxgboost-dev xgboost
  libopenmpi-dev openmpi-bin
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
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
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#want[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps.sh: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
