#!/usr/bin/env bash
# Installs everything Newsreel needs to build, run and test on Debian 12, then configures and builds.
# Idempotent: packages already present are skipped by apt-get, npm installs from the lock file,
# and the CMake build is incremental.
#   scripts/setup.sh          install packages + build (Release)
#   NEWSREEL_SKIP_APT=1 ...   skip the apt-get step (packages already installed)
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang-format
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  # libswscale: the rungs' scaler (transcoder/sws_scale.h).
  libswscale-dev libavutil-dev
  # libx264: the VOD rungs' encoder element (transcoder/x264_element.h).
  libx264-dev
  # libavcodec: the VOD audio's AAC encoder element (transcoder/aac_encoder.h) and the encoder
  # trial's decoder (transcoder/encoder_trial.cpp).
  libavcodec-dev
  # libjpeg-turbo: posters and storyboards (transcoder/storyboard.h).
  libjpeg62-turbo-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # textoverlay (pango) and a font with Vietnamese letters, for the live slate (docs/live.md).
  gstreamer1.0-x fonts-dejavu-core
  libwebsockets-dev libsqlitecpp-dev libsqlite3-dev sqlite3 libboost-filesystem-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libssl-dev
  libev-dev libsrt-gnutls-dev ffmpeg curl time chromium nginx-light wrk
  # The fuzz build (fuzz/README.md): clang with libFuzzer, whose runtime libclang-common-14-dev
  # only recommends.
  clang-14 libclang-rt-14-dev
)
# This machine kind ships Node.js 20 with npm; fall back to Debian's packages where it does not.
command -v npm >/dev/null 2>&1 || DEB_PACKAGES+=(nodejs npm)

if [[ "${NEWSREEL_SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
    SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# Node packages for the web pages (hls.js and tus-js-client, served under /vendor/) and for the
# end-to-end tests (hls.js, tus-js-client and playwright-core driving Debian's Chromium; the ws
# client for the server tests), from each folder's lock file.
for dir in web_player tests/e2e tests/e2e_server; do
  [[ -f $dir/package.json ]] || continue
  if [[ -f $dir/package-lock.json ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
  else
    (cd "$dir" && npm install --no-audit --no-fund --silent)
  fi
done

BUILD_DIR=${NEWSREEL_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${NEWSREEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
