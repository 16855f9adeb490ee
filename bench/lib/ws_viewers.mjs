#!/usr/bin/env node
// Many WebSocket viewers of one live stream (bench/glass_to_glass.sh): for each count N, opens N
// plain `ws` clients on /ws/live/ID (all from this process, 50 at a time), holds them HOLD
// seconds, and measures the server process meanwhile: CPU (user + system from /proc/PID/stat, as a
// share of one core), resident memory (VmRSS sampled every second: its largest value) and the
// process's peak (VmHWM). Each viewer counts what it receives; the per-viewer rate (median and
// lowest) is printed beside the rate one lone viewer got (N = 1, or the first count), so a
// viewer the server had to skip ahead shows as a lower rate, not as memory. The clients read all
// they are sent; on two shared cores this process competes with the server for CPU, which the
// figures include.
//
//   node ws_viewers.mjs BASE_URL STREAM_ID SERVER_PID HOLD_SECONDS RUNG|'' N [N ...]

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { WebSocket } = createRequire(path.resolve(here, '../../tests/e2e/package.json'))('ws');

const [base, id, pidArg, holdArg, rung, ...countArgs] = process.argv.slice(2);
const counts = countArgs.map(Number).filter((n) => n > 0);
if (!base || !id || !pidArg || !counts.length) {
  process.stderr.write('usage: ws_viewers.mjs BASE_URL STREAM_ID SERVER_PID HOLD_SECONDS RUNG|"" N [N ...]\n');
  process.exit(2);
}
const HOLD = Number(holdArg) || 20;
const TICKS = 100;  // clock ticks per second (sysconf(_SC_CLK_TCK) on Linux)
const url = `${base.replace(/^http/, 'ws')}/ws/live/${encodeURIComponent(id)}${rung ? `?rung=${encodeURIComponent(rung)}` : ''}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cpuTicks = () => {
  const stat = fs.readFileSync(`/proc/${pidArg}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);  // utime, stime
};
const memory = () => {
  const status = fs.readFileSync(`/proc/${pidArg}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] || 0);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
};
const mb = (kb) => (kb / 1024).toFixed(1);

function openViewer() {
  return new Promise((resolve) => {
    const v = { bytes: 0, messages: 0, open: false, closed: false, socket: new WebSocket(url, { perMessageDeflate: false }) };
    v.socket.on('open', () => { v.open = true; resolve(v); });
    v.socket.on('message', (data) => { v.bytes += data.length; v.messages++; });
    v.socket.on('error', () => resolve(v));
    v.socket.on('close', () => { v.closed = true; resolve(v); });
  });
}

const idle = memory();
console.log(`server before any viewer: RSS ${mb(idle.rss)} MB, peak ${mb(idle.hwm)} MB`);
console.log(`${'viewers'.padStart(8)} ${'open'.padStart(6)} ${'cpu_%core'.padStart(10)} ${'rss_MB'.padStart(8)} ${'peak_MB'.padStart(8)} ${'kb/s med'.padStart(9)} ${'kb/s min'.padStart(9)} ${'vs lone'.padStart(8)} load`);
let lone = null;
for (const n of counts) {
  const viewers = [];
  for (let i = 0; i < n; i += 50) viewers.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, openViewer)));
  await sleep(2000);  // every viewer past its init segment and first keyframe
  for (const v of viewers) v.bytes = 0;
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const c0 = cpuTicks();
  const t0 = Date.now();
  let rss = 0;
  while (Date.now() - t0 < HOLD * 1000) {
    await sleep(1000);
    rss = Math.max(rss, memory().rss);
  }
  const seconds = (Date.now() - t0) / 1000;
  const cpu = ((cpuTicks() - c0) / TICKS / seconds) * 100;
  const rates = viewers.filter((v) => v.open).map((v) => (v.bytes * 8) / 1000 / seconds).sort((a, b) => a - b);
  const median = rates.length ? rates[Math.floor(rates.length / 2)] : 0;
  lone ??= median;
  const open = viewers.filter((v) => v.open && !v.closed).length;
  console.log(`${String(n).padStart(8)} ${String(open).padStart(6)} ${cpu.toFixed(1).padStart(10)} ${mb(rss).padStart(8)} ${mb(memory().hwm).padStart(8)} ${median.toFixed(0).padStart(9)} ${(rates[0] ?? 0).toFixed(0).padStart(9)} ${(lone ? median / lone : 0).toFixed(2).padStart(8)} ${load}`);
  for (const v of viewers) v.socket.terminate();
  await sleep(3000);
}
process.exit(0);
