#!/usr/bin/env bash
# Progressive publishing, measured in one run: a 1080p30 clip (testsrc2 + sine, DURATION s, x264
# ultrafast, made here) is uploaded through tus to a real `newsreel serve` (one worker, default
# ladder), and from the moment its last byte is acknowledged the script reports:
#   playable     the API first says "playable": true (status still "processing");
#   first frame  ffmpeg, started then, has fetched the master playlist, a media playlist and the
#                first segment over HTTP and decoded the first video frame;
#   ready        the API says "ready" (the finished output has replaced the growing one);
# and the transcode worker's wall time, CPU seconds (user + system) and peak RSS (VmHWM), read
# from /proc while it runs. bench/lib/progressive_watch.mjs does the measuring.
#
#   bench/progressive.sh
#   DURATION=120 NEWSREEL_BIN=build-release/app/newsreel bench/progressive.sh
#
# Environment: NEWSREEL_BIN (default build/app/newsreel), DURATION (60), BENCH_KEEP=1 keeps the
# work folder. Run it on an otherwise idle machine: the numbers are only as good as the quiet
# around them.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
NEWSREEL_BIN=${NEWSREEL_BIN:-$repo/build/app/newsreel}
DURATION=${DURATION:-60}
for tool in ffmpeg curl node; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (apt-get install ffmpeg curl nodejs)" >&2; exit 1; }
done
[[ -x $NEWSREEL_BIN ]] || { echo "bench: newsreel binary not found at $NEWSREEL_BIN (set NEWSREEL_BIN)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/newsreel-progressive-XXXXXX")
NR_PID=
cleanup() {
  [[ -n $NR_PID ]] && kill "$NR_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

clip=$work/clip1080.mp4
ffmpeg -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$DURATION" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$DURATION" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$clip"

data=$work/data
"$NEWSREEL_BIN" user add bench --role editor --data "$data" >/dev/null
token=$("$NEWSREEL_BIN" token create bench --data "$data" 2>/dev/null)
port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
"$NEWSREEL_BIN" serve --data "$data" --port "$port" --host 127.0.0.1 --srt-port 0 --workers 1 \
  --job-poll-ms 100 2>"$work/newsreel.log" &
NR_PID=$!
base=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); clip: ${DURATION} s of 1080p30, $(stat -c %s "$clip") bytes"
size=$(stat -c %s "$clip")
loc=$(curl -sf -D - -o /dev/null -X POST "$base/files/" -H 'Tus-Resumable: 1.0.0' \
  -H "Authorization: Bearer $token" -H "Upload-Length: $size" \
  -H "Upload-Metadata: filename $(printf clip1080.mp4 | base64 -w0)" |
  tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
id=${loc##*/}
curl -sf -X PATCH "$base$loc" -H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" \
  -H 'Upload-Offset: 0' -H 'Content-Type: application/offset+octet-stream' -T "$clip" -o /dev/null
last_byte_ms=$(date +%s%3N)

node "$repo/bench/lib/progressive_watch.mjs" "$base" "$id" "$token" "$last_byte_ms"
