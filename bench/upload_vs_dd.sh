#!/usr/bin/env bash
# Upload throughput over loopback against raw disk write speed, in one run, on the same disk:
#   dd         writes SIZE_MB from /dev/zero into the data directory, flushed (conv=fdatasync);
#   curl       one tus PATCH of the whole file (the server fdatasyncs before it answers);
#   tus-js     tus-js-client from Node in CHUNK_MB requests, 64 MiB as the upload page sends them (each
#              chunk is flushed and acknowledged before the next), timed from the first
#              request to the last answer (not Node reading the file into memory).
# The source file lives in /dev/shm so that reading it does not compete with the writes. Runs
# alternate, RUNS times; the medians and the ratios upload/dd are printed, and the server's
# resident memory is sampled during every upload (it must stay flat whatever the size).
#
#   bench/upload_vs_dd.sh [path/to/newsreel]
# Env: SIZE_MB (default 1024), RUNS (default 3), CHUNK_MB (tus-js-client request size, default 64),
#      DATA_PARENT (folder on the disk to measure;
#      default: a temporary folder under ./build).
set -euo pipefail
cd "$(dirname "$0")/.."
NEWSREEL=${1:-${NEWSREEL_BIN:-build/app/newsreel}}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
CHUNK_MB=${CHUNK_MB:-64}
for tool in curl node dd; do
  command -v $tool >/dev/null || { echo "upload_vs_dd: needs $tool (scripts/setup.sh installs it)"; exit 1; }
done
[[ -x $NEWSREEL ]] || { echo "upload_vs_dd: no newsreel binary at $NEWSREEL"; exit 1; }
[[ -d tests/e2e_server/node_modules/tus-js-client ]] || { echo "upload_vs_dd: run scripts/setup.sh (tus-js-client)"; exit 1; }

PARENT=${DATA_PARENT:-build}
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/nr-upload-bench-XXXXXX")
WORK=$(cd "$WORK" && pwd)
SRC=$(mktemp /dev/shm/nr-upload-src-XXXXXX)
NR_PID=
cleanup() {
  [[ -n $NR_PID ]] && kill "$NR_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK" "$SRC"
}
trap cleanup EXIT

head -c $((SIZE_MB * 1048576)) /dev/urandom >"$SRC"
SIZE=$(stat -c %s "$SRC")
PORT=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
"$NEWSREEL" serve --data "$WORK/data" --port "$PORT" --workers 0 --upload-max-size $((SIZE * 2)) \
  --upload-quota 0 2>"$WORK/newsreel.log" &
NR_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$NR_PID/status"; }
# Samples the server's RSS every 0.1 s while "$@" runs; prints "seconds peak_rss_kb".
timed_with_rss() {
  local start end peak=0 rss pid
  start=$(date +%s.%N)
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(rss_kb); ((rss > peak)) && peak=$rss
    sleep 0.1
  done
  wait "$pid"
  end=$(date +%s.%N)
  echo "$(calc "$end - $start") $peak"
}

run_dd() {
  rm -f "$WORK/dd.bin"
  sync
  local start end
  start=$(date +%s.%N)
  dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$SIZE_MB" conv=fdatasync status=none
  end=$(date +%s.%N)
  rm -f "$WORK/dd.bin"
  calc "$end - $start"
}

curl_upload() {
  local loc
  loc=$(curl -sf -D - -o /dev/null -X POST "$BASE/files/" -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $SIZE" -H "Upload-Metadata: filename $(printf bench.bin | base64)" |
    tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
  curl -sf -o /dev/null -X PATCH "$BASE$loc" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' -T "$SRC"
  curl -sf -X DELETE "$BASE/api/v1/videos/${loc##*/}" >/dev/null  # keep the disk from filling
}

tus_upload() {
  (cd tests/e2e_server && node --input-type=module - "$BASE" "$SRC" <<'NODE'
import fs from 'node:fs';
import * as tus from 'tus-js-client';
const [base, file] = process.argv.slice(2);
// The file in memory, as a browser's File slices are: tus-js-client's Node stream reader
// concatenates buffers and would measure itself (363 vs 473 MiB/s here) rather than the server.
const data = Buffer.allocUnsafe(fs.statSync(file).size);  // readFileSync stops at 2 GiB
const fd = fs.openSync(file, 'r');
for (let at = 0; at < data.length;) at += fs.readSync(fd, data, at, Math.min(1 << 30, data.length - at), at);
fs.closeSync(fd);
const t0 = process.hrtime.bigint();
await new Promise((resolve, reject) => {
  const u = new tus.Upload(data, {
    endpoint: `${base}/files/`, chunkSize: Number(process.env.CHUNK_MB) * 1024 * 1024,
    metadata: { filename: 'bench.bin' }, retryDelays: [],
    onError: reject,
    onSuccess: async () => {
      await fetch(`${base}/api/v1/videos/${u.url.split('/').pop()}`, { method: 'DELETE' });
      resolve();
    },
  });
  u.start();
});
fs.writeFileSync(process.env.TUS_SECONDS, String(Number(process.hrtime.bigint() - t0) / 1e9));
NODE
  )
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "upload_vs_dd: $SIZE_MB MiB, $RUNS runs, disk of $WORK ($(df -h --output=source "$WORK" | tail -1))"
REST=$(rss_kb)
echo "server RSS at rest: $REST kB"
: >"$WORK/dd.t"; : >"$WORK/curl.t"; : >"$WORK/tus.t"; : >"$WORK/rss"
for run in $(seq 1 "$RUNS"); do
  d=$(run_dd); echo "$d" >>"$WORK/dd.t"
  read -r c cr < <(timed_with_rss curl_upload); echo "$c" >>"$WORK/curl.t"; echo "$cr" >>"$WORK/rss"
  read -r _ tr < <(CHUNK_MB=$CHUNK_MB TUS_SECONDS=$WORK/tus.s timed_with_rss tus_upload)
  t=$(cat "$WORK/tus.s")
  echo "$t" >>"$WORK/tus.t"; echo "$tr" >>"$WORK/rss"
  printf 'run %d: dd %.2f s, curl %.2f s (server peak RSS %d kB), tus-js %.2f s (peak RSS %d kB)\n' \
    "$run" "$d" "$c" "$cr" "$t" "$tr"
done
D=$(median <"$WORK/dd.t"); C=$(median <"$WORK/curl.t"); T=$(median <"$WORK/tus.t")
mbps() { calc "$SIZE_MB / $1"; }
printf '\n%-34s %10s %10s\n' "median of $RUNS" "MiB/s" "x dd"
printf '%-34s %10.0f %10s\n' "dd (conv=fdatasync)" "$(mbps "$D")" "1.00"
printf '%-34s %10.0f %10.2f\n' "curl, one PATCH" "$(mbps "$C")" "$(calc "$D / $C")"
printf '%-34s %10.0f %10.2f\n' "tus-js-client, $CHUNK_MB MiB requests" "$(mbps "$T")" "$(calc "$D / $T")"
printf 'server RSS: %s kB at rest, peak %s kB during the uploads, %s kB after\n' \
  "$REST" "$(sort -n "$WORK/rss" | tail -1)" "$(rss_kb)"
