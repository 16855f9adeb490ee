#!/usr/bin/env bash
# Latency of the cheap requests while the server does slow work, in one run. Probes: GET /healthz,
# a ready video's master playlist and one rung's index.m3u8, each on PROBES keep-alive connections
# (Node, one request after another with a PAUSE_MS pause, every request timed), first with the
# server idle (BASELINE seconds), then while this load runs against it, spread over LOAD_SECONDS:
#   UPLOADS tus uploads of CLIP (POST /files/, then one PATCH with all the bytes; each finished
#           upload makes a video and a transcode job), started evenly, at most PARALLEL at a time;
#   DELETES DELETE /api/v1/videos/<id> of uploaded videos whose transcode job is running (seen in
#           GET /api/v1/jobs?state=running, polled every 100 ms), with --workers WORKERS so that
#           the jobs do run;
#   ENCODERS GET /api/v1/encoders, evenly (the server forks `newsreel encoders --json` for the
#           first and caches the answer for a minute).
# The load phase lasts until all of that is done, and at least LOAD_SECONDS. Prints count, p50,
# p99, max and the non-2xx answers per probe and phase (target: p99 under TARGET_MS under load),
# the p99 corrected for coordinated omission ("p99 CO": a stalled connection records one slow
# request where an open-loop client would have seen many), the same for the load's own requests,
# and the slowest probe requests with the load requests that were in flight meanwhile.
#
#   bench/serve_latency.sh [path/to/newsreel]
# Env: BASELINE (seconds, default 10), LOAD_SECONDS (default 20), UPLOADS (default 50),
#      DELETES (default 20), ENCODERS (default 5), PARALLEL (uploads in flight, default 10),
#      WORKERS (`serve --workers`, default 20), PROBES (connections per probed URL, default 2),
#      PAUSE_MS (pause between a connection's requests, default 2), TARGET_MS (default 20),
#      CLIP (default $NEWSREEL_MEDIA_DIR/moviepy_chaplin.mp4, NEWSREEL_MEDIA_DIR defaulting to
#      ../shared/media), DATA_PARENT (where the temporary data directory goes, default /tmp; pick
#      a real disk, not tmpfs, since uploads are flushed), NR_ARGS (extra `newsreel serve` flags),
#      WORKER_NICE (e.g. 19: renice the server's child processes, i.e. the transcode workers, so
#      that what remains is the server's own latency rather than the CPU shared with the encoders;
#      default: leave them alone).
set -euo pipefail
cd "$(dirname "$0")/.."
NEWSREEL=${1:-${NEWSREEL_BIN:-build/app/newsreel}}
BASELINE=${BASELINE:-10}
LOAD_SECONDS=${LOAD_SECONDS:-20}
UPLOADS=${UPLOADS:-50}
DELETES=${DELETES:-20}
ENCODERS=${ENCODERS:-5}
PARALLEL=${PARALLEL:-10}
WORKERS=${WORKERS:-20}
PROBES=${PROBES:-2}
PAUSE_MS=${PAUSE_MS:-2}
TARGET_MS=${TARGET_MS:-20}
CLIP=${CLIP:-${NEWSREEL_MEDIA_DIR:-../shared/media}/moviepy_chaplin.mp4}
for tool in curl node; do
  command -v $tool >/dev/null || { echo "serve_latency: needs $tool (scripts/setup.sh installs it)"; exit 1; }
done
[[ -x $NEWSREEL ]] || { echo "serve_latency: no newsreel binary at $NEWSREEL"; exit 1; }
[[ -f $CLIP ]] || { echo "serve_latency: no clip at $CLIP (set CLIP or NEWSREEL_MEDIA_DIR)"; exit 1; }
((DELETES <= UPLOADS)) || { echo "serve_latency: DELETES ($DELETES) > UPLOADS ($UPLOADS)"; exit 1; }

WORK=$(mktemp -d "${DATA_PARENT:-/tmp}/nr-latency-XXXXXX")
WORK=$(cd "$WORK" && pwd)
NR_PID=; PROBE_PID=; RENICE_PID=
cleanup() {
  [[ -n $PROBE_PID ]] && kill "$PROBE_PID" 2>/dev/null || true
  [[ -n $RENICE_PID ]] && kill "$RENICE_PID" 2>/dev/null || true
  if [[ -n $NR_PID ]] && kill "$NR_PID" 2>/dev/null; then
    # The server ends its workers on SIGTERM (--shutdown-grace 0); insist after 15 s.
    for _ in $(seq 1 150); do kill -0 "$NR_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NR_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
BASE="http://127.0.0.1:$PORT"
# Every probe and load request comes from 127.0.0.1, faster than any one client would: the
# per-address limits are off, so that the figures measure serving, not refusing (and stay
# comparable with runs from before the limits existed).
# The load signs in as an admin (uploads need an account; deleting needs an editor).
"$NEWSREEL" user add bench --role admin --data "$WORK/data" >/dev/null 2>&1
TOKEN=$("$NEWSREEL" token create bench --data "$WORK/data" 2>/dev/null)
AUTH=(-H "Authorization: Bearer $TOKEN")
"$NEWSREEL" serve --data "$WORK/data" --port "$PORT" --workers "$WORKERS" --shutdown-grace 0 --srt-port 0 \
  --keepalive-timeout 600 --max-connections-per-address 0 --rate-limit-per-address 0 \
  ${NR_ARGS:-} 2>"$WORK/newsreel.log" &
NR_PID=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
curl -sf -o /dev/null "$BASE/healthz" || { echo "serve_latency: server did not start"; cat "$WORK/newsreel.log"; exit 1; }
if [[ -n ${WORKER_NICE:-} ]]; then
  # Every thread of every child of the server, each once (threads a reniced thread starts inherit).
  (
    declare -A seen
    while kill -0 "$NR_PID" 2>/dev/null; do
      new=()
      for c in $(cat /proc/"$NR_PID"/task/*/children 2>/dev/null); do
        for t in /proc/"$c"/task/*; do
          t=${t##*/}; [[ $t == '*' || -n ${seen[$t]:-} ]] && continue
          seen[$t]=1; new+=("$t")
        done
      done
      ((${#new[@]})) && renice -n "$WORKER_NICE" -p "${new[@]}" >/dev/null 2>&1 || true
      sleep 0.1
    done
  ) &
  RENICE_PID=$!
fi

# One ready video for the playlist probes (uploaded as the load's uploads are).
SIZE=$(stat -c %s "$CLIP")
LOC=$(curl -sf -D - -o /dev/null -X POST "$BASE/files/" "${AUTH[@]}" -H 'Tus-Resumable: 1.0.0' \
  -H "Upload-Length: $SIZE" -H "Upload-Metadata: filename $(printf probe.mp4 | base64 -w0)" |
  tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
[[ -n $LOC ]] || { echo "serve_latency: POST /files/ gave no Location"; exit 1; }
curl -sf -o /dev/null -X PATCH "$BASE$LOC" "${AUTH[@]}" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
  -H 'Content-Type: application/offset+octet-stream' -T "$CLIP"
ID=${LOC##*/}
status=
for _ in $(seq 1 1200); do
  status=$(curl -s "${AUTH[@]}" "$BASE/api/v1/videos/$ID" | grep -o '"status":"[a-z]*"' | head -1 | cut -d'"' -f4)
  [[ $status == ready || $status == failed ]] && break
  sleep 0.25
done
[[ $status == ready ]] || { echo "serve_latency: video $ID is $status, not ready"; tail -20 "$WORK/newsreel.log"; exit 1; }
# An upload is a draft; the probes fetch its plain paths, so publish it.
curl -sf -o /dev/null -X PATCH "$BASE/api/v1/videos/$ID" "${AUTH[@]}" \
  -H 'Content-Type: application/json' -d '{"visibility":"published"}'
MASTER=/media/$ID/master.m3u8
RUNG=/media/$ID/$(curl -sf "$BASE$MASTER" | tr -d '\r' | grep -v -e '^#' -e '^$' | head -1)
curl -sf -o /dev/null "$BASE$RUNG" || { echo "serve_latency: cannot read $RUNG"; exit 1; }

# The probes: a phase is advanced by SIGUSR1 (warm-up, not recorded -> baseline -> load); SIGTERM
# prints every request's outcome as JSON and exits.
cat >"$WORK/probe.js" <<'NODE'
const http = require('http');
const [port, probes, pauseMs, ...paths] = process.argv.slice(2);
const phases = ['warmup', 'baseline', 'load'];
let phase = 0, stopping = false, readyWritten = false;
// phase -> path -> {ms: [], codes: {status: n}, errors, slow: [[start epoch ms, ms]]}
const rec = {};
const slot = (ph, p) => ((rec[ph] ??= {})[p] ??= { ms: [], codes: {}, errors: 0, slow: [] });
function once(agent, path) {
  return new Promise((resolve) => {
    const ph = phases[phase], t0 = process.hrtime.bigint(), start = Date.now();
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        const s = slot(ph, path), ms = Number(process.hrtime.bigint() - t0) / 1e6;
        s.ms.push(ms);
        if (ms >= 10) s.slow.push([start, ms]);
        if (res.statusCode < 200 || res.statusCode > 299) s.codes[res.statusCode] = (s.codes[res.statusCode] || 0) + 1;
        resolve();
      });
    });
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    req.on('error', () => { slot(ph, path).errors++; setTimeout(resolve, 10); });
    req.end();
  });
}
async function loop(path) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  while (!stopping) {
    await once(agent, path);
    if (!readyWritten) { readyWritten = true; console.log('ready'); }
    if (Number(pauseMs) > 0) await new Promise((r) => setTimeout(r, Number(pauseMs)));
  }
}
process.on('SIGUSR1', () => { if (phase < phases.length - 1) phase++; });
process.on('SIGTERM', () => {
  stopping = true;
  delete rec.warmup;
  require('fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify(rec));
  process.exit(0);
});
for (const p of paths) for (let i = 0; i < Number(probes); i++) loop(p);
NODE

# The load: uploads, deletions of videos with a running job, encoder lists. Writes its requests
# (and when each ran) as JSON.
cat >"$WORK/load.js" <<'NODE'
const http = require('http');
const fs = require('fs');
const [port, clip, uploads, deletes, encoders, parallel, seconds] = process.argv.slice(2).map((a, i) => (i === 1 ? a : Number(a)));
const body = fs.readFileSync(clip);
const agent = new http.Agent({ keepAlive: true, maxSockets: parallel + 4 });
const T0 = Date.now();
const rec = {};  // label -> {ms: [], codes: {}, errors: 0}
const spans = [];  // [start epoch ms, end epoch ms, label]
const log = (...a) => process.stderr.write(`  [${((Date.now() - T0) / 1000).toFixed(1)} s] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((res) => setTimeout(res, Math.max(0, ms)));
function request(label, method, path, headers = {}, data = null) {
  return new Promise((resolve) => {
    const s = (rec[label] ??= { ms: [], codes: {}, errors: 0 });
    const t0 = process.hrtime.bigint(), start = Date.now();
    if (data) headers['Content-Length'] = data.length;
    headers.Authorization = `Bearer ${process.env.NR_TOKEN}`;
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        s.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        spans.push([start, Date.now(), label]);
        if (res.statusCode < 200 || res.statusCode > 299) s.codes[res.statusCode] = (s.codes[res.statusCode] || 0) + 1;
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    req.setTimeout(120000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      s.errors++; spans.push([start, Date.now(), label + ' (error)']); log(label, 'error', e.message);
      resolve({ status: 0, headers: {}, body: '' });
    });
    req.end(data);
  });
}
const tus = { 'Tus-Resumable': '1.0.0' };
const uploaded = [];  // video ids, in the order their uploads finished
const deleted = new Set();
let uploadsDone = false, uploadsDoneAt = 0, deletedRunning = 0;
async function upload(i) {
  const name = Buffer.from(`load-${i}.mp4`).toString('base64');
  const c = await request('POST /files/', 'POST', '/files/',
    { ...tus, 'Upload-Length': String(body.length), 'Upload-Metadata': `filename ${name}` });
  if (c.status !== 201 || !c.headers.location) { log('POST /files/ ->', c.status, c.body); return; }
  const loc = new URL(c.headers.location, 'http://x').pathname;
  const p = await request('PATCH /files/<id>', 'PATCH', loc,
    { ...tus, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body);
  if (p.status !== 204) { log('PATCH ->', p.status, p.body); return; }
  uploaded.push(loc.split('/').pop());
}
async function uploadAll() {
  // Upload i starts at i * seconds / uploads, or when fewer than `parallel` are in flight.
  const inFlight = new Set();
  for (let i = 0; i < uploads; i++) {
    await sleep(T0 + (i * seconds * 1000) / uploads - Date.now());
    while (inFlight.size >= parallel) await Promise.race(inFlight);
    const u = upload(i).finally(() => inFlight.delete(u));
    inFlight.add(u);
  }
  await Promise.all(inFlight);
  uploadsDone = true;
  uploadsDoneAt = Date.now();
  log(`${uploaded.length}/${uploads} uploads finished`);
}
async function deleteRunning() {
  while (deleted.size < deletes) {
    const r = await request('GET /api/v1/jobs?state=running', 'GET', '/api/v1/jobs?state=running&limit=500');
    let ids = [];
    try { ids = JSON.parse(r.body).jobs.map((j) => j.video_id); } catch {}
    const mine = new Set(uploaded);
    const todo = ids.filter((v) => mine.has(v) && !deleted.has(v)).slice(0, deletes - deleted.size);
    for (const v of todo) deleted.add(v);
    await Promise.all(todo.map(async (v) => {
      const d = await request('DELETE /api/v1/videos/<id>', 'DELETE', `/api/v1/videos/${v}`);
      if (d.status === 204) deletedRunning++; else log('DELETE ->', d.status, d.body);
    }));
    // Give up when every upload is deleted, or a minute after the last upload finished.
    if (uploadsDone && (uploaded.every((v) => deleted.has(v)) || Date.now() - uploadsDoneAt > 60000)) break;
    await sleep(100);
  }
  log(`${deletedRunning} videos deleted while their job ran`);
}
async function askEncoders() {
  for (let i = 0; i < encoders; i++) {
    await sleep(T0 + (i * seconds * 1000) / encoders - Date.now());
    const r = await request('GET /api/v1/encoders', 'GET', '/api/v1/encoders');
    if (r.status !== 200) log('encoders ->', r.status, r.body.slice(0, 200));
  }
}
(async () => {
  await Promise.all([uploadAll(), deleteRunning(), askEncoders(), sleep(seconds * 1000)]);
  const jobs = await request('GET /api/v1/jobs', 'GET', '/api/v1/jobs?limit=500');
  const states = {};
  try { for (const j of JSON.parse(jobs.body).jobs) states[j.state] = (states[j.state] || 0) + 1; } catch {}
  log('jobs now:', JSON.stringify(states));
  fs.writeFileSync(process.env.LOAD_OUT, JSON.stringify({ t0: T0, seconds: (Date.now() - T0) / 1000,
                                                        uploaded: uploaded.length, deletedRunning, rec, spans }));
})();
NODE

PROBE_OUT=$WORK/probe.json node "$WORK/probe.js" "$PORT" "$PROBES" "$PAUSE_MS" /healthz "$MASTER" "$RUNG" \
  >"$WORK/probe.stdout" 2>"$WORK/probe.stderr" &
PROBE_PID=$!
for _ in $(seq 1 100); do grep -qs ready "$WORK/probe.stdout" && break; sleep 0.1; done
sleep 1  # warm-up: every connection open
echo "serve_latency: $NEWSREEL on port $PORT, data in $WORK ($(df --output=fstype "$WORK" | tail -1)), $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n ${WORKER_NICE:-} ]] && echo "the server's child processes (workers) are reniced to $WORKER_NICE"
echo "probes: $PROBES keep-alive connections each to /healthz, $MASTER, $RUNG; ${PAUSE_MS} ms pause"
# Whole-machine TCP retransmissions and timeouts: a lost segment on loopback costs 200 ms (RTO min).
net_counters() {
  echo "$(awk '/^Tcp:/ {n++} /^Tcp:/ && n == 2 {print $13}' /proc/net/snmp)" \
    "$(awk '/^TcpExt:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) h[$i] = i; else print $h["TCPTimeouts"]}' /proc/net/netstat)"
}
kill -USR1 "$PROBE_PID"
echo "baseline: idle server, ${BASELINE} s"
read -r RT0 TO0 < <(net_counters)
sleep "$BASELINE"
read -r RT1 TO1 < <(net_counters)
kill -USR1 "$PROBE_PID"
echo "load: $UPLOADS uploads of $(basename "$CLIP") ($SIZE bytes, $PARALLEL at a time), $DELETES deletions of" \
  "videos with a running job (--workers $WORKERS), $ENCODERS x GET /api/v1/encoders, over $LOAD_SECONDS s"
LOAD_OUT=$WORK/load.json NR_TOKEN=$TOKEN node "$WORK/load.js" "$PORT" "$CLIP" "$UPLOADS" "$DELETES" "$ENCODERS" "$PARALLEL" "$LOAD_SECONDS"
read -r RT2 TO2 < <(net_counters)
kill -TERM "$PROBE_PID"
wait "$PROBE_PID" || true
PROBE_PID=
[[ -s $WORK/probe.json ]] || { echo "serve_latency: the probe printed nothing"; cat "$WORK/probe.stderr"; exit 1; }

node - "$WORK/probe.json" "$WORK/load.json" "$ID" "$TARGET_MS" "$BASELINE" "$PROBES" <<'NODE'
const fs = require('fs');
const [probeFile, loadFile, id, target, baselineSeconds, probes] = process.argv.slice(2);
const probe = JSON.parse(fs.readFileSync(probeFile));
const load = JSON.parse(fs.readFileSync(loadFile));
const pct = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN);
const f = (x) => (Number.isNaN(x) ? '-' : x.toFixed(2));
const codes = (s) => Object.entries(s.codes).map(([c, n]) => `${c}x${n}`).join(',') || '0';
const short = (p) => p.replace(id, '<id>');
const head = () => console.log(`\n${'phase'.padEnd(9)} ${'request'.padEnd(34)} ${'count'.padStart(7)} ${'p50 ms'.padStart(8)} ` +
                               `${'p99 ms'.padStart(8)} ${'max ms'.padStart(9)}  ${'non-2xx'.padEnd(8)} ${'errors'.padStart(6)}` +
                               (corrected ? `  ${'p99 CO'.padStart(8)}` : ''));
let corrected = false;
// A probe connection sends its next request only after the answer, so a stall of L ms yields one
// sample where an open-loop client would have seen L/interval slow ones ("coordinated omission").
// "p99 CO" adds those (L - interval, L - 2 interval, ...), interval being the connection's
// mean cycle at idle (baseline), as HdrHistogram's recordValueWithExpectedInterval does.
function withOmitted(ms, interval) {
  const out = Array.from(ms);
  for (const l of ms) for (let m = l - interval; m > interval; m -= interval) out.push(m);
  return Float64Array.from(out).sort();
}
function row(phase, name, s, interval) {
  const ms = Float64Array.from(s.ms).sort();
  const r = { p50: pct(ms, 0.5), p99: pct(ms, 0.99), max: ms.length ? ms[ms.length - 1] : NaN };
  if (interval) r.p99co = pct(withOmitted(ms, interval), 0.99);
  console.log(`${phase.padEnd(9)} ${name.padEnd(34)} ${String(ms.length).padStart(7)} ${f(r.p50).padStart(8)} ` +
              `${f(r.p99).padStart(8)} ${f(r.max).padStart(9)}  ${codes(s).padEnd(8)} ${String(s.errors).padStart(6)}` +
              (interval ? `  ${f(r.p99co).padStart(8)}` : ''));
  return r;
}
const paths = Object.keys(probe.baseline || probe.load || {});
const interval = {};  // path -> ms between a connection's requests at idle
for (const p of paths) interval[p] = (Number(baselineSeconds) * 1000 * Number(probes)) / (probe.baseline?.[p]?.ms.length || 1);
corrected = true;
head();
const res = {};
for (const ph of ['baseline', 'load'])
  for (const p of paths) if (probe[ph]?.[p]) res[ph + p] = row(ph, 'GET ' + short(p), probe[ph][p], interval[p]);
for (const p of paths) {
  const b = res['baseline' + p], l = res['load' + p];
  if (!b || !l) continue;
  console.log(`${'ratio'.padEnd(9)} ${('load/baseline ' + short(p).split('/').pop()).padEnd(34)} ${''.padStart(7)} ` +
              `${(l.p50 / b.p50).toFixed(2).padStart(7)}x ${(l.p99 / b.p99).toFixed(2).padStart(7)}x ${(l.max / b.max).toFixed(2).padStart(8)}x`);
}
console.log(`\nthe load's own requests (${load.seconds.toFixed(1)} s; ${load.uploaded} uploads finished, ` +
            `${load.deletedRunning} videos deleted while their job ran):`);
corrected = false;
head();
for (const [name, s] of Object.entries(load.rec)) row('load', name, s);
// The slowest probe requests under load, and which load requests were in flight meanwhile.
const slow = [];
for (const p of paths) for (const [start, ms] of probe.load?.[p]?.slow || []) slow.push([ms, start, p]);
slow.sort((a, b) => b[0] - a[0]);
console.log('\nslowest probe requests under load (started at t s of the load), and the load requests in flight then:');
for (const [ms, start, p] of slow.slice(0, 6)) {
  const during = {};
  for (const [s, e, label] of load.spans) if (s <= start + ms && e >= start) during[label] = (during[label] || 0) + 1;
  console.log(`  ${f(ms).padStart(9)} ms  t=${((start - load.t0) / 1000).toFixed(2).padStart(6)}  GET ${short(p).padEnd(28)} ` +
              (Object.entries(during).map(([l, n]) => `${n}x ${l}`).join(', ') || 'none'));
}
const worst = Math.max(...paths.map((p) => res['load' + p]?.p99 ?? NaN));
const worstCo = Math.max(...paths.map((p) => res['load' + p]?.p99co ?? NaN));
console.log(`\ntarget: p99 under ${target} ms under load; worst probe p99 under load ${f(worst)} ms: ` +
            (worst < Number(target) ? 'met' : 'NOT met') + `; corrected for coordinated omission ${f(worstCo)} ms: ` +
            (worstCo < Number(target) ? 'met' : 'NOT met'));
NODE
echo "TCP on this machine (all sockets): baseline $((RT1 - RT0)) segments retransmitted, $((TO1 - TO0)) RTO timeouts;" \
  "load $((RT2 - RT1)) retransmitted, $((TO2 - TO1)) timeouts"
echo "server log: $(grep -c -i -E '\b(error|warn)' "$WORK/newsreel.log" || true) error/warning lines"
grep -i -E '\b(error|warn)' "$WORK/newsreel.log" | head -5 | sed 's/^/  /' || true
