#!/usr/bin/env bash
# One short fuzzing run, as the test suite makes it (fuzz/README.md):
#   short_run.sh SECONDS HARNESS SEED_DIR [--media MEDIA_DIR] [libFuzzer flags...]
# Fuzzes HARNESS for SECONDS from the inputs in SEED_DIR (and, with --media, from the first 4 KB
# of each file in MEDIA_DIR, cut into a temporary folder). New inputs go to a temporary folder,
# never into SEED_DIR. A finding (crash, sanitizer report, broken invariant, timeout) exits
# non-zero and leaves the input in the build folder's fuzz-findings/<harness>/.
# The seed is fixed (NEWSREEL_FUZZ_SEED, default 1) so that a test run explores the same inputs
# on every machine of like speed; scripts/fuzz.sh is for exploring, with a fresh seed each run.
set -euo pipefail
seconds=$1 harness=$2 seeds=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/nr_fuzz_short.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
dirs=("$work/new" "$seeds")
if [[ ${1:-} == --media ]]; then
  mkdir "$work/media"
  for f in "$2"/*; do
    [[ -f $f && $f != *.md ]] || continue
    head -c 4096 "$f" > "$work/media/$(basename "$f")"
  done
  dirs+=("$work/media")
  shift 2
fi
findings="$(dirname "$harness")/fuzz-findings/$(basename "$harness")"
mkdir -p "$findings"
"$harness" -seed="${NEWSREEL_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
  -artifact_prefix="$findings/" "$@" "${dirs[@]}"
