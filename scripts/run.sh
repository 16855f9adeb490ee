#!/usr/bin/env bash
# Installs what is missing, builds, and starts the server with its embedded defaults:
# catalog and media under ./data, listening on 127.0.0.1:8080. Extra arguments go to
# `newsreel serve` (see `build/app/newsreel serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/app/newsreel serve "$@"
