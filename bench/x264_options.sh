#!/usr/bin/env bash
# x264 options, one at a time, on real footage: what each costs in CPU and in SSIM against
# veryfast, the preset both newsreel and the ffmpeg command of bench/transcode_vs_ffmpeg.sh use.
# This is how newsreel's VOD rungs got `me=dia:partitions=p8x8,i8x8,i4x4` (docs/performance.md,
# "x264's analysis, rung by rung") and why `subme=1` was refused.
#
# Each video clip of the shared media folder (1.5 s or longer) is decoded once to raw frames
# (y4m) at its own size, and once scaled down to 270p (bicubic) when it is larger, as a rung is
# fed; every variant encodes those
# frames with ffmpeg's libx264 (the library newsreel's x264enc uses), one thread, the bitrate a
# rung of that size gets (newsreel's formula: 4500 kb/s x (pixels / 1080p)^0.8), maxrate = bitrate,
# a 2 s buffer, a 2 s GOP without scene cuts. Printed per clip and variant: x264 CPU seconds
# (user + system), SSIM against the frames it was fed, YUV and RGB, and the difference to plain
# veryfast; then CPU and worst SSIM summed over all clips.
#
#   bench/x264_options.sh
#   VARIANTS='me=dia|subme=1' bench/x264_options.sh
#
# Environment: NEWSREEL_MEDIA_DIR (<repo>/../shared/media), VARIANTS (|-separated x264-params,
# default: the candidates measured for the December 2026 change), BENCH_KEEP=1 keeps the work
# folder. The CPU column is only as good as the quiet around it; SSIM does not depend on it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
MEDIA_DIR=${NEWSREEL_MEDIA_DIR:-$repo/../shared/media}
VARIANTS=${VARIANTS:-'me=dia:partitions=p8x8,i8x8,i4x4|me=dia:partitions=p8x8,i8x8,i4x4:bframes=2|me=dia:partitions=p8x8,i8x8,i4x4:rc-lookahead=5|partitions=i8x8,i4x4|subme=1'}

for tool in ffmpeg ffprobe /usr/bin/time awk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install ffmpeg time)" >&2; exit 1; }
done
[[ -d $MEDIA_DIR ]] || { echo "bench: no media folder at $MEDIA_DIR" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/newsreel-x264opts-XXXXXX")
cleanup() { [[ ${BENCH_KEEP:-0} == 1 ]] && echo "bench: kept $work" || rm -rf "$work"; }
trap cleanup EXIT

# encode FRAMES KBPS PARAMS: prints "cpu_seconds ssim_yuv ssim_rgb" for one variant.
encode() {
  local frames=$1 kbps=$2 params=$3 out=$work/out.mp4
  /usr/bin/time -f '%U %S' -o "$work/time" ffmpeg -nostdin -v error -y -i "$frames" -c:v libx264 \
    -preset veryfast -threads 1 -b:v "${kbps}k" -maxrate "${kbps}k" -bufsize "$((kbps * 2))k" \
    -g 60 -keyint_min 60 -sc_threshold 0 ${params:+-x264-params "$params"} "$out"
  local measured
  measured=$(ffmpeg -nostdin -hide_banner -i "$out" -i "$frames" -lavfi \
    "[0:v]split[a][b];[1:v]split[c][d];[a][c]ssim@yuv;[b]format=gbrp[br];[d]format=gbrp[dr];[br][dr]ssim@rgb" \
    -f null - 2>&1)
  local yuv rgb
  yuv=$(grep 'ssim@yuv' <<<"$measured" | grep -o 'All:[0-9.]*' | tail -n 1 | cut -d: -f2)
  rgb=$(grep 'ssim@rgb' <<<"$measured" | grep -o 'All:[0-9.]*' | tail -n 1 | cut -d: -f2)
  echo "$(awk '{ print $1 + $2 }' "$work/time") ${yuv:-nan} ${rgb:-nan}"
}

# newsreel's bitrate for a rung of W x H at 30 fps, in kb/s (transcoder/ladder.cpp).
kbps_for() { awk -v w="$1" -v h="$2" 'BEGIN { printf "%d", int(4500 * ((w * h) / (1920 * 1080)) ^ 0.8 / 10 + 0.5) * 10 }'; }

echo "x264 options against veryfast on real footage  ($(ffmpeg -version | head -n 1 | cut -d' ' -f1-3))"
printf '%-40s %-9s %-50s %6s %9s %8s %8s\n' clip frames variant cpu_s "ssim_yuv" "d_yuv" "d_rgb"
: >"$work/summary"
IFS='|' read -r -a variants <<<"$VARIANTS"
find "$MEDIA_DIR" -maxdepth 1 -type f ! -name '*.md' | sort | while read -r clip; do
  size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$clip" 2>/dev/null | head -n 1)
  [[ $size =~ ^([0-9]+)x([0-9]+)$ ]] || continue  # no video
  w=${BASH_REMATCH[1]} h=${BASH_REMATCH[2]}
  duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$clip" | head -n 1)
  # Under 1.5 s rate control has not settled: its SSIM moves by more than what is measured.
  awk -v d="${duration:-0}" 'BEGIN { exit !(d >= 1.5) }' || continue
  name=$(basename "$clip")
  ffmpeg -nostdin -v error -y -i "$clip" -an -pix_fmt yuv420p "$work/own.y4m"
  ((h > 270)) && ffmpeg -nostdin -v error -y -i "$clip" -an -vf scale=-2:270:flags=bicubic -pix_fmt yuv420p "$work/270.y4m"
  sizes=(own)
  ((h > 270)) && sizes+=(270)  # scaled down, as a lower rung is fed
  for fed in "${sizes[@]}"; do
    if [[ $fed == own ]]; then fw=$w fh=$h; else fw=$(((w * 270 / h + 1) / 2 * 2)) fh=270; fi
    kbps=$(kbps_for "$fw" "$fh")
    read -r base_cpu base_yuv base_rgb < <(encode "$work/$fed.y4m" "$kbps" "")
    printf '%-40s %-9s %-50s %6.2f %9s %8s %8s\n' "$name" "${fw}x$fh" veryfast "$base_cpu" "$base_yuv" - -
    for v in "${variants[@]}"; do
      read -r cpu yuv rgb < <(encode "$work/$fed.y4m" "$kbps" "$v")
      dy=$(awk -v a="$yuv" -v b="$base_yuv" 'BEGIN { printf "%+.4f", a - b }')
      dr=$(awk -v a="$rgb" -v b="$base_rgb" 'BEGIN { printf "%+.4f", a - b }')
      printf '%-40s %-9s %-50s %6.2f %9s %8s %8s\n' "" "" "$v" "$cpu" "$yuv" "$dy" "$dr"
      echo "$v $cpu $base_cpu $dr" >>"$work/summary"
    done
  done
done
echo
echo "over every clip and size: x264 CPU against veryfast, and the worst SSIM (RGB) difference"
awk '{ cpu[$1] += $2; base[$1] += $3; if (!($1 in worst) || $4 < worst[$1]) worst[$1] = $4 }
  END { for (v in cpu) printf "  %-44s CPU %+5.1f %%   worst d_rgb %+.4f\n", v, 100 * (cpu[v] / base[v] - 1), worst[v] }' "$work/summary"
