#!/usr/bin/env bash
# Search latency of the catalog over 100,000 Vietnamese news videos: median and p99 of FTS5
# search (VideoSearch) next to a plain LIKE scan over the same folded text.
#   bench/catalog_search_bench.sh                      build (Release) and run with the defaults
#   bench/catalog_search_bench.sh --videos 20000       any flag of newsreel_catalog_bench
#   NEWSREEL_BUILD_DIR=build-x bench/...               use another build folder
# The figures in docs/catalog.md come from this script with no arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${NEWSREEL_BUILD_DIR:-build-bench}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNEWSREEL_BUILD_CATALOG_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" --target newsreel_catalog_bench -j "$(nproc)" >/dev/null

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "sqlite: $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo unknown)"
NEWSREEL_LOG=warning "$BUILD_DIR/catalog/newsreel_catalog_bench" "$@"
