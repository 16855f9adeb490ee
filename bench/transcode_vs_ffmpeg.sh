#!/usr/bin/env bash
# Side-by-side benchmark: `newsreel transcode` against the ffmpeg command a user would write for
# the same HLS ladder (decode once, split, scale, libx264 -preset veryfast with the same
# bitrate/maxrate/bufsize per rung that newsreel's manifest.json reports, fixed 2 s GOP,
# 6 s VOD segments, AAC stereo).
#
# For each source it runs newsreel once to learn the ladder, then both tools alternately RUNS
# times, and prints: wall time per run and the median ratio newsreel/ffmpeg, CPU seconds,
# peak memory (max RSS, /usr/bin/time), and per rung the SSIM of the decoded rendition against
# the source at the source's size (ffmpeg's ssim filter, in RGB), bitrate and bytes for both.
#
# Sources: a generated 1080p30 clip (testsrc2 + sine, DURATION s) with --ladder 1080,720,480,360,
# then the BENCH_REAL_COUNT largest video clips (width x height x duration) of the shared media folder with newsreel's
# default ladder.
#
#   bench/transcode_vs_ffmpeg.sh
#   RUNS=5 DURATION=30 NEWSREEL_BIN=build-release/app/newsreel bench/transcode_vs_ffmpeg.sh
#
# Environment: NEWSREEL_BIN (default build/app/newsreel), RUNS (3), DURATION (20),
# NEWSREEL_MEDIA_DIR (<repo>/../shared/media), BENCH_REAL_COUNT (3), BENCH_LADDER
# (1080,720,480,360), BENCH_KEEP=1 keeps the work folder.
# Run it on an otherwise idle machine: the numbers are only as good as the quiet around them.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
NEWSREEL_BIN=${NEWSREEL_BIN:-$repo/build/app/newsreel}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
MEDIA_DIR=${NEWSREEL_MEDIA_DIR:-$repo/../shared/media}
BENCH_REAL_COUNT=${BENCH_REAL_COUNT:-3}
BENCH_LADDER=${BENCH_LADDER:-1080,720,480,360}
ladder_args_tool=$repo/bench/lib/ffmpeg_ladder_args.mjs

for tool in ffmpeg ffprobe node /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install ffmpeg nodejs time)" >&2; exit 1; }
done
[[ -x $NEWSREEL_BIN ]] || { echo "bench: newsreel binary not found at $NEWSREEL_BIN (set NEWSREEL_BIN)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/newsreel-bench-XXXXXX")
cleanup() { [[ ${BENCH_KEEP:-0} == 1 ]] && echo "bench: kept $work" || rm -rf "$work"; }
trap cleanup EXIT

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timed OUT_PREFIX CMD...: runs CMD under /usr/bin/time; writes "wall cpu maxrss_kb" to OUT_PREFIX.time
# and the command's stderr to OUT_PREFIX.err. Returns the command's exit status.
timed() {
  local prefix=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$prefix.rawtime" "$@" >/dev/null 2>"$prefix.err"
  local status=$?
  # With a failing command, GNU time writes "Command exited with non-zero status N" first.
  tail -n 1 "$prefix.rawtime" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' >"$prefix.time"
  return $status
}

# color_matrix FILE [FALLBACK]: the YUV->RGB matrix a file's video is tagged with, as ffmpeg's
# scale filter names it; untagged video gets FALLBACK, or the usual guess (HD: bt709, SD: bt601).
color_matrix() {
  local tag height
  tag=$(ffprobe -v error -select_streams v:0 -show_entries stream=color_space -of csv=p=0 "$1" | head -n 1)
  height=$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of csv=p=0 "$1" | head -n 1)
  case $tag in
    bt709) echo bt709 ;;
    smpte170m | bt470bg) echo smpte170m ;;
    bt2020nc | bt2020c) echo bt2020 ;;
    *) if [[ -n ${2:-} ]]; then echo "$2"; elif ((height >= 720)); then echo bt709; else echo smpte170m; fi ;;
  esac
}

# ssim DECODED_PLAYLIST SOURCE FPS: prints "YUV RGB", two SSIMs (All) of the decoded rendition
# against the source, at the source's size: the rendition is scaled up to it (bicubic, the same
# for both tools), as VMAF-style comparisons do. (Comparing at the rung's size against the source
# scaled down with ffmpeg's own bicubic scaler measured ffmpeg's encode alone but newsreel's
# scaler as well.) YUV is ffmpeg's ssim filter as usual (Y, U, V weighted by plane size), with the
# rendition brought to the source's colour matrix if it is tagged with another; RGB compares the
# three colour channels, where chroma errors weigh more. An untagged rung is taken to carry the
# source's matrix. Frames are paired by index (timestamps rebuilt as N/fps, rounded): pairing by
# the streams' own timestamps would let a 1-tick (1/90000 s) rounding in a rendition's PTS pair
# each frame with its predecessor.
ssim() {
  local decoded=$1 source=$2 fps=$3
  local source_matrix decoded_matrix
  source_matrix=$(color_matrix "$source")
  decoded_matrix=$(color_matrix "$decoded" "$source_matrix")
  local out
  out=$(ffmpeg -nostdin -hide_banner -i "$decoded" -i "$source" -filter_complex \
    "[0:v:0]setpts=round(N/($fps*TB))[d0];[1:v:0]fps=$fps,setsar=1,setpts=round(N/($fps*TB))[r0];[d0][r0]scale2ref=flags=bicubic[d1][r1];[d1]split[d2][d3];[r1]split[r2][r3];[d2]scale=in_color_matrix=$decoded_matrix:out_color_matrix=$source_matrix[dy];[r2]null[ry];[dy][ry]ssim@yuv=shortest=1;[d3]scale=in_color_matrix=$decoded_matrix,format=gbrp[dr];[r3]scale=in_color_matrix=$source_matrix,format=gbrp[rr];[dr][rr]ssim@rgb=shortest=1" \
    -f null - 2>&1)
  local yuv rgb
  yuv=$(grep 'ssim@yuv' <<<"$out" | grep -o 'All:[0-9.]*' | tail -n 1 | cut -d: -f2)
  rgb=$(grep 'ssim@rgb' <<<"$out" | grep -o 'All:[0-9.]*' | tail -n 1 | cut -d: -f2)
  echo "${yuv:-nan} ${rgb:-nan}"
}

# bytes of a rendition's segments
rung_bytes() { cat "$1"/seg_*.ts 2>/dev/null | wc -c; }

# bench_source LABEL SOURCE [newsreel transcode options...]
bench_source() {
  local label=$1 source=$2; shift 2
  local options=("$@")
  local dir=$work/results/$(basename "$source" | tr -c 'A-Za-z0-9._\n-' _)
  mkdir -p "$dir"
  local has_audio=0
  [[ -n $(ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$source") ]] && has_audio=1
  local duration
  duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$source")

  echo
  echo "== $label"
  echo "   source: $source (${duration} s, audio: $([[ $has_audio == 1 ]] && echo yes || echo no)); newsreel options: ${options[*]:-(default ladder)}; RUNS=$RUNS"

  # Warm-up newsreel run: learns the ladder (manifest.json) and fills the page cache.
  if ! timed "$dir/warmup" "$NEWSREEL_BIN" transcode "$source" "$dir/warmup.out" "${options[@]}"; then
    echo "   newsreel failed on this source: $(tail -n 3 "$dir/warmup.err")"
    return 0
  fi
  local manifest=$dir/warmup.out/manifest.json
  local -a ffargs
  mapfile -d '' ffargs < <(node "$ladder_args_tool" "$manifest" "$source" "$dir/ffmpeg.out" "$has_audio")

  printf '   %-4s | %-30s | %-30s\n' run "newsreel wall / cpu / peak RSS" "ffmpeg wall / cpu / peak RSS"
  local i nw nc nm fw fc fm
  : >"$dir/newsreel.runs"; : >"$dir/ffmpeg.runs"
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$dir/newsreel.out" "$dir/ffmpeg.out"
    if ! timed "$dir/newsreel.$i" "$NEWSREEL_BIN" transcode "$source" "$dir/newsreel.out" "${options[@]}"; then
      echo "   newsreel failed in run $i: $(tail -n 3 "$dir/newsreel.$i.err")"; return 0
    fi
    mkdir -p "$dir/ffmpeg.out"
    if ! timed "$dir/ffmpeg.$i" ffmpeg "${ffargs[@]}"; then
      echo "   ffmpeg failed in run $i: $(tail -n 3 "$dir/ffmpeg.$i.err")"; return 0
    fi
    read -r nw nc nm <"$dir/newsreel.$i.time"; read -r fw fc fm <"$dir/ffmpeg.$i.time"
    echo "$nw $nc $nm" >>"$dir/newsreel.runs"; echo "$fw $fc $fm" >>"$dir/ffmpeg.runs"
    printf '   %-4s | %7.2f s %7.2f s %7.0f MB   | %7.2f s %7.2f s %7.0f MB\n' "$i" "$nw" "$nc" "$((nm / 1024))" "$fw" "$fc" "$((fm / 1024))"
  done
  local n_wall f_wall n_cpu f_cpu n_rss f_rss
  n_wall=$(cut -d' ' -f1 "$dir/newsreel.runs" | median); f_wall=$(cut -d' ' -f1 "$dir/ffmpeg.runs" | median)
  n_cpu=$(cut -d' ' -f2 "$dir/newsreel.runs" | median); f_cpu=$(cut -d' ' -f2 "$dir/ffmpeg.runs" | median)
  n_rss=$(cut -d' ' -f3 "$dir/newsreel.runs" | sort -g | tail -n 1); f_rss=$(cut -d' ' -f3 "$dir/ffmpeg.runs" | sort -g | tail -n 1)
  awk -v nw="$n_wall" -v fw="$f_wall" -v nc="$n_cpu" -v fc="$f_cpu" -v nr="$n_rss" -v fr="$f_rss" 'BEGIN {
    printf "   median wall   newsreel %7.2f s   ffmpeg %7.2f s   ratio newsreel/ffmpeg %.2f\n", nw, fw, nw / fw
    printf "   median CPU    newsreel %7.2f s   ffmpeg %7.2f s   ratio newsreel/ffmpeg %.2f\n", nc, fc, nc / fc
    printf "   peak RSS      newsreel %7.0f MB  ffmpeg %7.0f MB  ratio newsreel/ffmpeg %.2f\n", nr / 1024, fr / 1024, nr / fr
  }'

  # Quality and size per rung, on the last run's outputs.
  printf '   %-6s %-10s %6s %6s | %-33s | %-33s | %-15s %s\n' rung size fps target \
    "newsreel SSIM yuv/rgb  kb/s  bytes" "ffmpeg SSIM yuv/rgb  kb/s  bytes" "dSSIM yuv/rgb" "bytes n/f"
  local name w h fr br
  while read -r name w h fr br; do
    local ny nr fy fr_ nb fb
    read -r ny nr < <(ssim "$dir/newsreel.out/$name/index.m3u8" "$source" "$fr")
    read -r fy fr_ < <(ssim "$dir/ffmpeg.out/$name/index.m3u8" "$source" "$fr")
    nb=$(rung_bytes "$dir/newsreel.out/$name"); fb=$(rung_bytes "$dir/ffmpeg.out/$name")
    awk -v name="$name" -v size="${w}x${h}" -v fr="$fr" -v br="$br" -v ny="$ny" -v nr="$nr" -v fy="$fy" -v fr_="$fr_" -v nb="$nb" -v fb="$fb" -v d="$duration" 'BEGIN {
      printf "   %-6s %-10s %6.2f %5.0fk | %.4f/%.4f %6.0f %9d | %.4f/%.4f %6.0f %9d | %+.4f/%+.4f %.3f\n", name, size, fr, br / 1000, ny, nr, nb * 8 / d / 1000, nb, fy, fr_, fb * 8 / d / 1000, fb, ny - fy, nr - fr_, (fb > 0 ? nb / fb : 0)
    }'
  done < <(node -e '
    const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const r of m.rungs) console.log(r.name, r.width, r.height, r.frame_rate, r.bitrate);' "$manifest")
  if [[ $has_audio == 1 ]]; then
    printf '   %-6s %-29s | %8s %6s %10d | %8s %6s %10d\n' audio "(AAC, audio-only rendition)" "" "" \
      "$(rung_bytes "$dir/newsreel.out/audio")" "" "" "$(rung_bytes "$dir/ffmpeg.out/audio")"
  fi
  echo "   (newsreel also writes I-frame playlists, poster and storyboard; the ffmpeg command does not.)"
}

echo "newsreel transcode vs ffmpeg  ($(nproc) cores, $(ffmpeg -version | head -n 1 | cut -d' ' -f1-3), newsreel: $NEWSREEL_BIN)"

# 1. Generated 1080p30 source with audio: a high-quality intermediate so that both tools start
#    from the same decoded pictures.
synthetic=$work/synthetic_1080p30.mp4
ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=1920x1080:rate=30" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t "$DURATION" -c:v libx264 -preset fast -crf 16 -pix_fmt yuv420p -g 60 -c:a aac -b:a 192k -ac 2 "$synthetic"
bench_source "generated 1080p30 testsrc2 + sine, ${DURATION} s, ladder $BENCH_LADDER" "$synthetic" --ladder "$BENCH_LADDER"

# 2. Real footage: the largest video clips of the shared media folder, largest meaning the most
#    pixels to process (width x height x duration), not the most bytes.
if [[ -d $MEDIA_DIR ]]; then
  while read -r _work file; do
    bench_source "real footage: $(basename "$file")" "$file"
  done < <(
    find "$MEDIA_DIR" -maxdepth 1 -type f ! -name '*.md' -print0 | while IFS= read -r -d '' file; do
      size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height:format=duration -of csv=p=0:s=x "$file" 2>/dev/null | tr '\n' 'x')
      [[ $size =~ ^([0-9]+)x([0-9]+)x([0-9.]+) ]] || continue # no video stream
      awk -v w="${BASH_REMATCH[1]}" -v h="${BASH_REMATCH[2]}" -v d="${BASH_REMATCH[3]}" -v f="$file" 'BEGIN { printf "%.0f %s\n", w * h * d, f }'
    done | sort -rn | head -n "$BENCH_REAL_COUNT")
else
  echo "bench: no media folder at $MEDIA_DIR; skipping real footage" >&2
fi
