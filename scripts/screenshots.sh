#!/usr/bin/env bash
# Screenshots of every page, desktop (1280x800) and phone (390x844), in Vietnamese: runs the
# accessibility test (tests/e2e/a11y.test.mjs), which saves them as PNG into build/screenshots/,
# then writes them as WebP into docs/screenshots/ for the README (a tenth of the PNG's size).
#   scripts/screenshots.sh [path/to/newsreel]      (default build/app/newsreel, built already)
set -euo pipefail
cd "$(dirname "$0")/.."
NEWSREEL=$(realpath "${1:-${NEWSREEL_BIN:-build/app/newsreel}}")
[[ -x $NEWSREEL ]] || { echo "screenshots: no newsreel binary at $NEWSREEL (build it first)"; exit 1; }
SHOTS=$PWD/build/screenshots
rm -rf "$SHOTS"
(cd tests/e2e && NEWSREEL_BIN=$NEWSREEL NEWSREEL_SCREENSHOT_DIR=$SHOTS node --test a11y.test.mjs)
mkdir -p docs/screenshots
rm -f docs/screenshots/*.webp
for png in "$SHOTS"/*.png; do
  ffmpeg -v error -y -i "$png" -c:v libwebp -quality 85 "docs/screenshots/$(basename "$png" .png).webp"
done
ls -l docs/screenshots
