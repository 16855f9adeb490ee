#!/bin/sh
# Draws the PNG icons of web_player/ from the SVGs in this folder, with Debian's Chromium (to
# render) and ffmpeg (to a 32-colour palette, which keeps each file a few KB). The PNGs are
# committed; run this again only after changing an SVG:
#   sh web_player/icons/make.sh
# (This folder itself is not served: page names under / have no '/'.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$here")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# draw SVG SIZE OUTPUT
draw() {
  printf '<!doctype html><body style="margin:0"><img src="file://%s" style="display:block;width:%spx;height:%spx">' \
    "$here/$1" "$2" "$2" >"$tmp/page.html"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
    --default-background-color=00000000 --window-size="$2,$2" --screenshot="$tmp/shot.png" \
    "file://$tmp/page.html" 2>/dev/null
  ffmpeg -v error -y -i "$tmp/shot.png" -pred mixed -vf \
    'split[a][b];[a]palettegen=max_colors=32:reserve_transparent=1[p];[b][p]paletteuse=dither=none:alpha_threshold=128' \
    "$out/$3"
}

draw reel.svg 192 icon-192.png
draw reel.svg 512 icon-512.png
# Full-bleed, for masks; iOS rounds the corners of apple-touch-icon itself and would show
# transparent corners black.
draw reel-maskable.svg 512 icon-maskable-512.png
draw reel-maskable.svg 180 apple-touch-icon.png
