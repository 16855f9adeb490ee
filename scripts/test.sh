#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test through CTest
# (C++ unit and pipeline tests, end-to-end tests with ffprobe, hls.js in headless Chromium, ...),
# then a short run of every fuzz harness from its own build folder (build-fuzz/, clang).
#   scripts/test.sh                 everything
#   scripts/test.sh -L transcoder   extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${NEWSREEL_BUILD_DIR:-build}
# The fuzz harnesses: their own build with clang (fuzz/README.md); CTest runs each briefly.
FUZZ_BUILD_DIR=${NEWSREEL_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEWSREEL_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
cmake --build "$FUZZ_BUILD_DIR" -j "$(nproc)"
status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${NEWSREEL_TEST_JOBS:-2}" "$@" || status=$?
ctest --test-dir "$FUZZ_BUILD_DIR" --output-on-failure -j "${NEWSREEL_TEST_JOBS:-2}" "$@" || status=$?
exit "$status"
