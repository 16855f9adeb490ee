#!/usr/bin/env bash
# The pages over a weak mobile link (issue 17): 300 kb/s, 300 ms RTT in Chromium's network
# emulation, a phone-sized screen, an empty cache. Measures the time to the list page's first
# poster and to the watch page's first frame, and the bytes received by then, from newsreel and
# from nginx serving the same pages and HLS folder (gzip on; the API and /ws proxied to newsreel,
# as a caching edge in front of it would). Prints a table and the ratios newsreel/nginx.
#
#   bench/weak_link.sh [path/to/newsreel]
# Env: RUNS (visits per page and server, default 3), WEB_ROOT (the pages to serve, default
#      web_player/ of this checkout: point it at another checkout's to compare builds of the pages).
set -euo pipefail
cd "$(dirname "$0")/.."
NEWSREEL=$(realpath "${1:-${NEWSREEL_BIN:-build/app/newsreel}}")
RUNS=${RUNS:-3}
WEB=$(realpath "${WEB_ROOT:-web_player}")
for tool in nginx curl node; do
  command -v $tool >/dev/null || { echo "weak_link: needs $tool (scripts/setup.sh installs it)"; exit 1; }
done
[[ -x $NEWSREEL ]] || { echo "weak_link: no newsreel binary at $NEWSREEL"; exit 1; }
[[ -f $WEB/node_modules/hls.js/dist/hls.min.js ]] || { echo "weak_link: run npm ci in $WEB"; exit 1; }

WORK=$(mktemp -d /tmp/nr-weak-XXXXXX)
NGINX_PID=; NR_PID=
cleanup() {
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null || true
  [[ -n $NR_PID ]] && kill "$NR_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# Two real clips, the list's first card (the newest) and the watch page's video being Chaplin
# (640x360: a 360p and a cellular 144p rung).
DATA=$WORK/data
MEDIA_DIR=${NEWSREEL_MEDIA_DIR:-../shared/media}
"$NEWSREEL" import --data "$DATA" "$MEDIA_DIR/nomexif_webm_480.webm" --title "Chợ đêm Hà Giang" >/dev/null
ID=$("$NEWSREEL" import --data "$DATA" "$MEDIA_DIR/moviepy_chaplin.mp4" --title "Lũ quét ở Sơn La")
NR_PORT=$(free_port)
"$NEWSREEL" serve --data "$DATA" --port "$NR_PORT" --workers 1 --srt-port 0 --web-root "$WEB" \
  --host 127.0.0.1 2>"$WORK/newsreel.log" &
NR_PID=$!
ready=0
for _ in $(seq 1 900); do
  if [[ $(curl -s "http://127.0.0.1:$NR_PORT/api/v1/videos?limit=5" | grep -o '"status":"ready"' | wc -l) == 2 ]]; then ready=1; break; fi
  sleep 0.2
done
[[ $ready == 1 ]] || { echo "weak_link: the transcodes did not finish"; cat "$WORK/newsreel.log"; exit 1; }
chmod -R a+rX "$WORK"  # nginx workers run as www-data

NG_PORT=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  include /etc/nginx/mime.types;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; text/vtt vtt; }
  gzip on;
  gzip_comp_level 6;  # nginx's default is 1; newsreel compresses at zlib's default, 6
  gzip_types text/css application/javascript text/javascript application/json application/manifest+json application/vnd.apple.mpegurl text/vtt;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:$NG_PORT;
    root $WEB;
    location = /vendor/hls.min.js { alias $WEB/node_modules/hls.js/dist/hls.min.js; }
    location = /vendor/hls.light.min.js { alias $WEB/node_modules/hls.js/dist/hls.light.min.js; }
    location = /vendor/tus.min.js { alias $WEB/node_modules/tus-js-client/dist/tus.min.js; }
    location /media/ { alias $DATA/media/; }
    location /api/ { proxy_pass http://127.0.0.1:$NR_PORT; proxy_set_header Host \$host; }
    location = /ws {
      proxy_pass http://127.0.0.1:$NR_PORT; proxy_http_version 1.1; proxy_set_header Host \$host;
      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \$connection_upgrade;
    }
  }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>"$WORK/nginx/stderr" &
NGINX_PID=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$NG_PORT/media/$ID/master.m3u8" && break; sleep 0.1; done

echo "pages: $WEB; video $ID; hls.js $(node -p "require('$WEB/node_modules/hls.js/package.json').version")"
node bench/lib/weak_link_visit.mjs "$RUNS" "$ID" "newsreel=http://127.0.0.1:$NR_PORT" "nginx=http://127.0.0.1:$NG_PORT"
