#!/usr/bin/env bash
# Serves the same HLS folder with nginx (2 workers, sendfile) and with `newsreel serve`, drives
# both with wrk in one run (a playlist and a 2 MB segment; 100 and 2,000 connections) and prints
# requests/s, throughput and p99 latency for both and their ratios. Then checks that newsreel
# holds 10,000 idle keep-alive connections open while it keeps serving.
#
#   bench/serve_vs_nginx.sh [path/to/newsreel]
# Env: DURATION (wrk seconds per run, default 10), THREADS (wrk threads, default 2),
#      IDLE (idle connections to hold, default 10000), NR_ARGS (extra `newsreel serve` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
NEWSREEL=${1:-${NEWSREEL_BIN:-build/app/newsreel}}
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
IDLE=${IDLE:-10000}
for tool in nginx wrk curl node; do
  command -v $tool >/dev/null || { echo "serve_vs_nginx: needs $tool (scripts/setup.sh installs it)"; exit 1; }
done
[[ -x $NEWSREEL ]] || { echo "serve_vs_nginx: no newsreel binary at $NEWSREEL"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d /tmp/nr-bench-XXXXXX)
NGINX_PID=; NR_PID=
cleanup() {
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null || true
  [[ -n $NR_PID ]] && kill "$NR_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# The content: a real video imported and transcoded by newsreel, plus a 2 MB segment (the
# newsroom's 1080p rungs have segments of that size; the test clips are small).
DATA=$WORK/data
"$NEWSREEL" import --data "$DATA" "${NEWSREEL_MEDIA_DIR:-../shared/media}/moviepy_chaplin.mp4" --title bench >"$WORK/id"
ID=$(cat "$WORK/id")
NR_PORT=$(free_port)
# wrk's 2,000 connections and the 10,000 idle ones all come from 127.0.0.1: the per-address
# limits are off, as nginx has none here, so that the two serve the same load.
"$NEWSREEL" serve --data "$DATA" --port "$NR_PORT" --workers 1 --srt-port 0 --keepalive-timeout 600 \
  --max-connections-per-address 0 --rate-limit-per-address 0 ${NR_ARGS:-} 2>"$WORK/newsreel.log" &
NR_PID=$!
for _ in $(seq 1 600); do
  [[ $(curl -s "http://127.0.0.1:$NR_PORT/api/v1/videos/$ID" | grep -o '"status":"[a-z]*"') == '"status":"ready"' ]] && break
  sleep 0.2
done
MEDIA=$DATA/media/$ID
[[ -f $MEDIA/master.m3u8 ]] || { echo "serve_vs_nginx: transcode did not finish"; cat "$WORK/newsreel.log"; exit 1; }
head -c 2097152 /dev/urandom >"$MEDIA/bench_2mb.ts"
PLAYLIST=$(grep -v -e '^#' -e '^$' "$MEDIA/master.m3u8" | head -1)
chmod -R a+rX "$WORK"  # nginx workers run as www-data

NG_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 600;
  keepalive_requests 1000000;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:$NG_PORT reuseport;
    location /media/ { alias $DATA/media/; add_header Access-Control-Allow-Origin *; }
  }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>"$WORK/nginx/stderr" &
NGINX_PID=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$NG_PORT/media/$ID/master.m3u8" && break; sleep 0.1; done

# wrk --latency prints "99%  12.34ms"; normalise to ms.
run_wrk() {  # url conns -> "rps bytes_per_s p99_ms"
  local out
  out=$(wrk -t"$THREADS" -c"$2" -d"${DURATION}s" --timeout 10s --latency "$1" 2>&1)
  local rps tput p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  tput=$(awk '/Transfer\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errs
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  [[ -n $errs ]] && echo "    (wrk: $errs)" >&2
  echo "$rps $(to_bytes "$tput") $(to_ms "$p99")"
}
to_bytes() { awk -v v="$1" 'BEGIN{u=substr(v,length(v)-1);n=v+0;
  if(u=="GB")n*=1073741824;else if(u=="MB")n*=1048576;else if(u=="KB")n*=1024;printf "%.0f",n}'; }
to_ms() { awk -v v="$1" 'BEGIN{n=v+0;if(v~/us$/)n/=1000;else if(v~/ms$/)n=n;else if(v~/s$/)n*=1000;printf "%.2f",n}'; }

printf '\n%-26s %-9s %12s %12s %10s\n' "file / connections" "server" "requests/s" "MB/s" "p99 ms"
declare -A R
for file in "$PLAYLIST" bench_2mb.ts; do
  for conns in 100 2000; do
    for server in nginx newsreel; do
      port=$NG_PORT; [[ $server == newsreel ]] && port=$NR_PORT
      read -r rps bps p99 < <(run_wrk "http://127.0.0.1:$port/media/$ID/$file" "$conns")
      R[$file,$conns,$server]="$rps $bps $p99"
      printf '%-26s %-9s %12.0f %12.1f %10.2f\n' "$(basename "$file") / $conns" "$server" "$rps" \
        "$(awk -v b="$bps" 'BEGIN{print b/1048576}')" "$p99"
    done
    read -r nr nb np <<<"${R[$file,$conns,newsreel]}"
    read -r gr gb gp <<<"${R[$file,$conns,nginx]}"
    printf '%-26s %-9s %11.2fx %11.2fx %9.2fx\n' "" "ratio" "$(awk -v a="$nr" -v b="$gr" 'BEGIN{print a/b}')" \
      "$(awk -v a="$nb" -v b="$gb" 'BEGIN{print a/b}')" "$(awk -v a="$np" -v b="$gp" 'BEGIN{print (b>0)?a/b:0}')"
  done
done

# 10,000 idle keep-alive connections held open while serving.
echo
node - "$NR_PORT" "$IDLE" "$ID" <<'NODE'
const net = require('net');
const [port, idle, id] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const socks = [];
let opened = 0, answered = 0, closed = 0;
function open(i) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      opened++;
      s.write(`HEAD /media/${id}/master.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n`);
    });
    s.once('data', (d) => { if (/^HTTP\/1\.1 200/.test(d.toString())) answered++; resolve(); });
    s.on('error', () => resolve());
    s.on('close', () => closed++);
    socks.push(s);
  });
}
(async () => {
  for (let i = 0; i < idle; i += 500) await Promise.all(Array.from({ length: Math.min(500, idle - i) }, (_, k) => open(i + k)));
  await new Promise((r) => setTimeout(r, 3000));
  const t0 = Date.now();
  const res = await fetch(`http://127.0.0.1:${port}/media/${id}/master.m3u8`);
  const ms = Date.now() - t0;
  const still = socks.filter((s) => !s.destroyed).length;
  console.log(`idle keep-alive: opened ${opened}/${idle}, answered ${answered}, still open after 3 s: ${still}; ` +
              `a new request meanwhile: HTTP ${res.status} in ${ms} ms`);
  socks.forEach((s) => s.destroy());
  process.exit(still >= idle && res.status === 200 ? 0 : 1);
})();
NODE
