#!/usr/bin/env bash
# Glass to glass (issue 15): how long after a frame is made a viewer sees it, on each way the live
# page plays a stream, and what many WebSocket viewers of one stream cost the server.
#
# One `newsreel serve --live-low-latency true` on loopback, with its live defaults (2 s segments)
# or LIVE_ARGS. bench/glass_publisher.cpp (built as
# build/bench/newsreel_glass_publisher) pushes a live 640x360 30 fps picture over SRT, H.264 with
# x264's zero-latency tuning, one-second GOP, AAC, every frame carrying its wall-clock birth time
# in a QR code (GStreamer's qroverlay, 8 px per module). Then, one after the other, headless
# Chromium opens the real live page (bench/lib/glass_viewer.mjs) in each way:
#   hls        classic live HLS (hls.js, three segments behind the newest)
#   ll-hls     LL-HLS, hls.js in low-latency mode (the page's WebSocket refused, as by a proxy)
#   websocket  /ws/live/<id> through web_player/lowlatency.js
# and reads the code back from every presented frame (requestVideoFrameCallback, jsQR): delay =
# display time - birth time, one host clock. Prints p50/p95 per way.
#
# Then the fan-out: N = 1, 100, 1000 WebSocket viewers of the same stream (bench/lib/ws_viewers.mjs,
# plain `ws` clients that read all they are sent), each N held HOLD seconds; the server's CPU
# (user + system, /proc/PID/stat, as a share of one core) and resident memory (VmRSS, and the
# peak VmHWM) while they watch, and what each viewer received against the rung's own rate.
#
#   bench/glass_to_glass.sh
#   SECONDS_PER_WAY=20 VIEWERS="1 100" bench/glass_to_glass.sh
#
# Environment: NEWSREEL_BIN (build/app/newsreel), PUBLISHER (build/bench/newsreel_glass_publisher),
# SECONDS_PER_WAY (30), WARMUP (8), WAYS ("hls ll-hls websocket"), VIEWERS ("1 100 1000"; empty: none), HOLD (20), VIEWER_RUNG (the rung the
# fan-out viewers ask for; default the stream's top), LIVE_ARGS (more `newsreel serve` flags, e.g.
# "--live-segment-seconds 1"), BENCH_KEEP=1 keeps the work folder.
# Nothing is asserted; the machine's other load moves every figure, so the script prints the load
# average beside them. Takes about 5 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
NEWSREEL=$(realpath "${NEWSREEL_BIN:-build/app/newsreel}")
PUBLISHER=$(realpath "${PUBLISHER:-build/bench/newsreel_glass_publisher}")
SECONDS_PER_WAY=${SECONDS_PER_WAY:-30}
WARMUP=${WARMUP:-8}
VIEWERS=${VIEWERS-1 100 1000}
WAYS=${WAYS:-hls ll-hls websocket}
HOLD=${HOLD:-20}
LIVE_ARGS=${LIVE_ARGS:-}
for tool in node curl; do
  command -v $tool >/dev/null || { echo "glass_to_glass: needs $tool (scripts/setup.sh installs it)"; exit 1; }
done
[[ -x $NEWSREEL ]] || { echo "glass_to_glass: no newsreel binary at $NEWSREEL"; exit 1; }
[[ -x $PUBLISHER ]] || { echo "glass_to_glass: no publisher at $PUBLISHER (cmake --build build)"; exit 1; }
[[ -f tests/e2e/node_modules/jsqr/dist/jsQR.js ]] || { echo "glass_to_glass: run npm ci in tests/e2e"; exit 1; }
# A thousand viewers are a thousand sockets, on both sides.
ulimit -n 8192

WORK=$(mktemp -d /tmp/nr-glass-XXXXXX)
NR_PID=; PUB_PID=
cleanup() {
  [[ -n $PUB_PID ]] && kill "$PUB_PID" 2>/dev/null || true
  [[ -n $NR_PID ]] && kill "$NR_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

DATA=$WORK/data
"$NEWSREEL" user add meter --role editor --data "$DATA" >/dev/null 2>&1
TOKEN=$("$NEWSREEL" token create meter --data "$DATA" 2>/dev/null)
PORT=$(free_port)
SRT_PORT=$(free_port)
# The server's live defaults unless LIVE_ARGS says otherwise; no connection cap for the
# thousand viewers from one address.
# shellcheck disable=SC2086
"$NEWSREEL" serve --data "$DATA" --host 127.0.0.1 --port "$PORT" --srt-port "$SRT_PORT" --web-root web_player \
  --live-low-latency true $LIVE_ARGS \
  --max-connections-per-address 0 --rate-limit-per-address 0 2>"$WORK/newsreel.log" &
NR_PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
STREAM=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"title":"Glass to glass","visibility":"published"}' "$BASE/api/v1/live")
ID=$(node -e 'console.log(JSON.parse(process.argv[1]).id)' "$STREAM")
STREAMID=$(node -e 'console.log(new URL(JSON.parse(process.argv[1]).ingest.url.replace("#", "%23")).searchParams.get("streamid"))' "$STREAM")
PASSPHRASE=$(node -e 'console.log(new URL(JSON.parse(process.argv[1]).ingest.url.replace("#", "%23")).searchParams.get("passphrase") || "")' "$STREAM")
"$PUBLISHER" --uri "srt://127.0.0.1:$SRT_PORT" --streamid "$STREAMID" ${PASSPHRASE:+--passphrase "$PASSPHRASE"} \
  2>"$WORK/publisher.log" &
PUB_PID=$!
for _ in $(seq 1 300); do
  [[ $(curl -s "$BASE/live/$ID/ll/master.m3u8" -o /dev/null -w '%{http_code}') == 200 &&
     $(curl -s "$BASE/live/$ID/master.m3u8" -o /dev/null -w '%{http_code}') == 200 ]] && break
  sleep 0.2
done

echo "glass to glass on $(nproc) cores, $(date -u +%FT%TZ), newsreel $(git rev-parse --short HEAD)"
TOP=$(curl -s "$BASE/live/$ID/master.m3u8" | grep -v '^#' | grep . | head -1)
echo "source 640x360 30 fps, x264 zerolatency, 1 s GOP; server: ${LIVE_ARGS:-live defaults}; rungs $(curl -s "$BASE/live/$ID/master.m3u8" | grep -v '^#' | cut -d/ -f1 | tr '\n' ' ')"
echo "$(grep -m1 -o 'TARGETDURATION:[0-9]*' <(curl -s "$BASE/live/$ID/$TOP")) s segments; LL $(grep -m1 -o 'PART-TARGET=[0-9.]*' <(curl -s "$BASE/live/$ID/ll/$TOP"))"
printf '%-10s %-10s %8s %8s %8s %8s %8s %7s %s\n' way played samples p50_ms p95_ms min_ms max_ms stalls load
for way in $WAYS; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  line=$(node bench/lib/glass_viewer.mjs "$BASE" "$ID" "$way" "$SECONDS_PER_WAY" "$WARMUP")
  node -e '
    const r = JSON.parse(process.argv[1]);
    const f = (v) => String(v ?? "-");
    console.log([r.mode.padEnd(10), r.played_mode.padEnd(10), f(r.samples).padStart(8), f(r.p50_ms).padStart(8), f(r.p95_ms).padStart(8),
      f(r.min_ms).padStart(8), f(r.max_ms).padStart(8), f(r.stalls).padStart(7), process.argv[2]].join(" "));
    if (r.page_errors.length || r.player_errors.length) console.log("   ", JSON.stringify({ page_errors: r.page_errors, player_errors: r.player_errors }));
  ' "$line" "$load"
  echo "$line" >>"$WORK/ways.jsonl"
done

[[ -n $VIEWERS ]] || exit 0
echo
echo "WebSocket viewers of one stream (rung ${VIEWER_RUNG:-top}), each count held ${HOLD} s:"
node bench/lib/ws_viewers.mjs "$BASE" "$ID" "$NR_PID" "$HOLD" "${VIEWER_RUNG:-}" $VIEWERS
