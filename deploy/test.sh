#!/usr/bin/env bash
# Installs dependencies, builds everything and runs every CPU test. GPU-labelled tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -LE gpu -j "$(nproc)" --timeout 900
