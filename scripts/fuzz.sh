#!/usr/bin/env bash
# A longer fuzzing run of one harness (fuzz/README.md), at low CPU priority:
#   scripts/fuzz.sh NAME [SECONDS] [libFuzzer flags...]     e.g. scripts/fuzz.sh tus 3600
# Builds build-fuzz/ when needed, then fuzzes fuzz_NAME for SECONDS (default 600) with
# build-fuzz/corpus/NAME/ as its working corpus, seeded from the checked-in fuzz/corpus/NAME/
# (and, for the probe, the first 4 KB of each file in ../shared/media). Findings land in
# build-fuzz/fuzz-findings/fuzz_NAME/. Keep what is worth keeping with
#   build-fuzz/fuzz/fuzz_NAME -merge=1 fuzz/corpus/NAME build-fuzz/corpus/NAME
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/fuzz.sh NAME [SECONDS] [libFuzzer flags...]}
seconds=${2:-600}
shift $(($# >= 2 ? 2 : 1))
FUZZ_BUILD_DIR=${NEWSREEL_FUZZ_BUILD_DIR:-build-fuzz}
if [[ ! -f $FUZZ_BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNEWSREEL_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
fi
cmake --build "$FUZZ_BUILD_DIR" --target "fuzz_$name"
harness=$FUZZ_BUILD_DIR/fuzz/fuzz_$name
corpus=$FUZZ_BUILD_DIR/corpus/$name
findings=$FUZZ_BUILD_DIR/fuzz-findings/fuzz_$name
mkdir -p "$corpus" "$findings"
seeds=(fuzz/corpus/"$name")
media=${NEWSREEL_MEDIA_DIR:-../shared/media}
if [[ $name == probe && -d $media ]]; then
  mkdir -p "$FUZZ_BUILD_DIR/corpus/media-cuts"
  for f in "$media"/*; do
    [[ -f $f && $f != *.md ]] || continue
    head -c 4096 "$f" > "$FUZZ_BUILD_DIR/corpus/media-cuts/$(basename "$f")"
  done
  seeds+=("$FUZZ_BUILD_DIR/corpus/media-cuts")
fi
exec nice -n 15 "$harness" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$@" "$corpus" "${seeds[@]}"
