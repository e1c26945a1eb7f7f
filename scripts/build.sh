#!/usr/bin/env bash
# Configures and builds Shoal (Release) into build/. Usage: scripts/build.sh [targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"$(nproc)" "$@"
