#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test through CTest
# (C++ unit and pipeline tests, end-to-end tests with ffprobe, hls.js in headless Chromium, ...).
#   scripts/test.sh                 everything
#   scripts/test.sh -L transcoder   extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${NEWSREEL_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${NEWSREEL_TEST_JOBS:-2}" "$@"
