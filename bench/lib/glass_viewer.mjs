#!/usr/bin/env node
// The glass-to-glass meter's viewer (bench/glass_to_glass.sh): Debian's headless Chromium opens
// the real live page (live.html?id=ID) of a stream whose every frame carries its wall-clock birth
// time in a QR code (bench/glass_publisher.cpp), in one of three ways:
//   hls        the classic live HLS (the page's "low latency" switch off: hls.js, 3 segments back)
//   ll-hls     LL-HLS with hls.js in low-latency mode (switch on, the WebSocket refused by the
//              page's own WebSocket, so that the page falls back as it does where a proxy drops it)
//   websocket  /ws/live/ID through web_player/lowlatency.js (switch on)
// For every frame the browser presents (requestVideoFrameCallback), at most DECODES_PER_SECOND of
// them, it copies the code's corner of the picture into a canvas and decodes it with jsQR (npm);
// delay = the frame's expected display time (performance.timeOrigin + expectedDisplayTime, the
// same host clock as the publisher's) minus the time in the code. The first WARMUP seconds after
// the first decoded frame are left out (the player joining the stream), then SECONDS are kept.
//
//   node glass_viewer.mjs BASE_URL STREAM_ID MODE [SECONDS=30] [WARMUP=8]
//
// Prints one JSON line: {mode, played_mode, samples, p50_ms, p95_ms, min_ms, max_ms, unread,
// heights, stalls, player_errors (hls.js's ERROR events, fatal or not), ...}. `played_mode` is what the page says it played (window.newsreel.mode); a
// run whose page fell back to another way is reported, never counted as the one asked for.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.resolve(here, '../../tests/e2e');
const require = createRequire(path.join(e2e, 'package.json'));
const { chromium } = require('playwright-core');
const JSQR = require.resolve('jsqr/dist/jsQR.js');
const { CHROMIUM, CHROMIUM_ARGS } = await import(path.join(e2e, 'lib/newsroom.mjs'));

const [base, id, mode, secondsArg = '30', warmupArg = '8'] = process.argv.slice(2);
if (!base || !id || !['hls', 'll-hls', 'websocket'].includes(mode)) {
  process.stderr.write('usage: glass_viewer.mjs BASE_URL STREAM_ID hls|ll-hls|websocket [SECONDS] [WARMUP]\n');
  process.exit(2);
}
const SECONDS = Number(secondsArg);
const WARMUP = Number(warmupArg);
const DECODES_PER_SECOND = 10;

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
await context.addInitScript((lowLatency) => {
  try { localStorage.setItem('newsreel.lowLatency', lowLatency ? '1' : '0'); } catch { /* */ }
}, mode !== 'hls');
if (mode === 'll-hls') {
  // The page's WebSocket to /ws/live/ fails at once, as behind a proxy that drops upgrades.
  await context.addInitScript(() => {
    const Real = window.WebSocket;
    window.WebSocket = function WebSocket(url, protocols) {
      return new Real(String(url).includes('/ws/live/') ? String(url).replace(/\/ws\/live\/.*/, '/ws/refused-by-the-meter') : url, protocols);
    };
    Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3, prototype: Real.prototype });
  });
}
await context.addInitScript({ path: JSQR });
await context.addInitScript((decodesPerSecond) => {
  window.glass = { samples: [], unread: 0, heights: {}, stalls: 0 };
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let last = 0;
  const watch = (video) => {
    video.addEventListener('waiting', () => { window.glass.stalls++; });
    const onFrame = (now, meta) => {
      video.requestVideoFrameCallback(onFrame);
      if (now - last < 1000 / decodesPerSecond || !meta.width) return;
      last = now;
      // The code sits in the top-left corner (x 4 %, y 6 %, about 40 % by 65 % of a 640x360 picture).
      const sw = Math.round(meta.width * 0.45);
      const sh = Math.round(meta.height * 0.75);
      canvas.width = sw;
      canvas.height = sh;
      ctx.drawImage(video, 0, 0, sw, sh, 0, 0, sw, sh);
      const code = window.jsQR(ctx.getImageData(0, 0, sw, sh).data, sw, sh, { inversionAttempts: 'dontInvert' });
      const born = code && /^\d{13}$/.test(code.data) ? Number(code.data) : NaN;
      if (!Number.isFinite(born)) {
        window.glass.unread++;
        return;
      }
      const shown = performance.timeOrigin + meta.expectedDisplayTime;
      window.glass.samples.push({ at: Date.now(), delay: shown - born, mode: window.newsreel?.mode ?? null, height: meta.height });
      window.glass.heights[meta.height] = (window.glass.heights[meta.height] || 0) + 1;
    };
    video.requestVideoFrameCallback(onFrame);
  };
  document.addEventListener('DOMContentLoaded', () => {
    const video = document.getElementById('video');
    if (video) watch(video);
  });
}, DECODES_PER_SECOND);

const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(e.message));
await page.goto(`${base}/live.html?id=${encodeURIComponent(id)}`);
await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
// Until the first decoded frame (the stream may still be starting), then the warm-up, then the run.
await page.waitForFunction(() => window.glass.samples.length > 0, null, { timeout: 120_000, polling: 250 });
const t0 = Date.now();
await page.waitForTimeout((WARMUP + SECONDS) * 1000);
const glass = await page.evaluate(() => ({
  ...window.glass, mode: window.newsreel?.mode ?? null, llErrors: window.newsreel?.lowLatencyErrors ?? [],
  playerErrors: [...(window.newsreel?.errors ?? []), ...(window.newsreel?.lowLatency?.stats?.errors ?? [])],
}));
await browser.close();

const kept = glass.samples.filter((s) => s.at >= t0 + WARMUP * 1000);
const delays = kept.map((s) => s.delay).sort((a, b) => a - b);
const pct = (p) => (delays.length ? Math.round(delays[Math.min(delays.length - 1, Math.floor(p * delays.length))]) : null);
const heights = {};
for (const s of kept) heights[s.height] = (heights[s.height] || 0) + 1;
console.log(JSON.stringify({
  mode, played_mode: glass.mode ?? 'hls', samples: delays.length, p50_ms: pct(0.5), p95_ms: pct(0.95),
  min_ms: delays.length ? Math.round(delays[0]) : null, max_ms: delays.length ? Math.round(delays[delays.length - 1]) : null,
  unread: glass.unread, heights, stalls: glass.stalls, low_latency_errors: glass.llErrors, player_errors: glass.playerErrors,
  page_errors: problems,
}));
