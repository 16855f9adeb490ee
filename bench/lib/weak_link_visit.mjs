#!/usr/bin/env node
// First visits over a weak link (300 kb/s, 300 ms RTT, Chromium's network emulation, the same
// as tests/e2e/weak_link.test.mjs): for each server, a fresh browser context (empty cache) opens
// the list page and waits for its first poster, then the watch page and waits for the video's
// first frame. Prints, per page and server, the median time to that moment and the bytes
// received by then (headers included, as sent: gzip where the server gzips), split into the
// page itself, hls.js, posters and other images, and video; then newsreel/peer ratios.
// Used by bench/weak_link.sh.
//
//   node weak_link_visit.mjs RUNS VIDEO_ID name=BASE_URL [name=BASE_URL ...]
//
// Runs alternate between servers (a, b, a, b, ...), so that the machine's changes of speed
// fall on both. Nothing here is asserted.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.resolve(here, '../../tests/e2e');
const { chromium } = createRequire(path.join(e2e, 'package.json'))('playwright-core');
const { CHROMIUM, CHROMIUM_ARGS } = await import(path.join(e2e, 'lib/newsroom.mjs'));
const { emulateWeakLink, meterNetwork, recordPlayback } = await import(path.join(e2e, 'lib/weak_link.mjs'));

const [runsArg, videoId, ...serverArgs] = process.argv.slice(2);
const servers = serverArgs.map((a) => { const i = a.indexOf('='); return { name: a.slice(0, i), base: a.slice(i + 1) }; });
if (!videoId || servers.length === 0) {
  process.stderr.write('usage: weak_link_visit.mjs RUNS VIDEO_ID name=BASE_URL [name=BASE_URL ...]\n');
  process.exit(2);
}

const kind = (url) => {
  const p = new URL(url).pathname;
  if (p.startsWith('/vendor/hls')) return 'hlsjs';
  if (/\/media\/.*\.(ts|m3u8|m4s|mp4)$/.test(p)) return 'video';
  if (/\.(jpg|jpeg|png|webp|svg)$/.test(p)) return 'images';
  return 'page';
};

const PAGES = {
  // The list: until the first card's poster has arrived.
  index: {
    path: () => '/',
    async until(page) {
      await page.waitForFunction(() => { const i = document.querySelector('.card img'); return i && i.complete && i.naturalWidth > 0; },
        null, { timeout: 300_000, polling: 50 });
      return page.evaluate(() => {
        const src = document.querySelector('.card img').currentSrc;
        return performance.getEntriesByName(src)[0]?.responseEnd ?? performance.now();
      });
    },
  },
  // The watch page, played at once: until the first frame is shown.
  watch: {
    path: (id) => `/watch.html?id=${id}`,
    setUp: (page) => recordPlayback(page),
    async until(page) {
      await page.waitForFunction(() => window.__playback?.firstFrameAt != null, null, { timeout: 300_000, polling: 50 });
      return page.evaluate(() => window.__playback.firstFrameAt);
    },
  },
};

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
const results = {};  // page -> server -> [{ms, bytes: {page, hlsjs, images, video, total}}]
const runs = Number(runsArg) || 3;
for (let run = 0; run < runs; run++) {
  for (const server of run % 2 ? [...servers].reverse() : servers) {
    for (const [name, spec] of Object.entries(PAGES)) {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
      await context.addInitScript(() => { try { localStorage.setItem('newsreel.lang', 'vi'); } catch { /* */ } });
      const page = await context.newPage();
      await emulateWeakLink(page);
      const meter = await meterNetwork(page);
      if (spec.setUp) await spec.setUp(page);
      await page.goto(server.base + spec.path(videoId));
      const ms = await spec.until(page);
      const bytes = { total: meter.bytes() };
      for (const k of ['page', 'hlsjs', 'images', 'video']) bytes[k] = meter.bytes((u) => kind(u) === k);
      ((results[name] ??= {})[server.name] ??= []).push({ ms, bytes });
      process.stderr.write(`run ${run + 1} ${server.name} ${name}: ${Math.round(ms)} ms, ${bytes.total} bytes\n`);
      await context.close();
    }
  }
}
await browser.close();

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const kb = (n) => (n / 1000).toFixed(1);
console.log(`\nFirst visit on a phone (390x844 @3x) over 300 kb/s, 300 ms RTT; median of ${runs} runs`);
console.log('| page | server | time to first poster / frame | KB received by then | page | hls.js | images | video |');
console.log('|---|---|---|---|---|---|---|---|');
const med = {};
for (const [name, byServer] of Object.entries(results)) {
  for (const [server, rs] of Object.entries(byServer)) {
    const m = med[`${name}/${server}`] = { ms: median(rs.map((r) => r.ms)) };
    for (const k of ['total', 'page', 'hlsjs', 'images', 'video']) m[k] = median(rs.map((r) => r.bytes[k]));
    const what = name === 'index' ? 'first poster' : 'first frame';
    console.log(`| ${name} | ${server} | ${(m.ms / 1000).toFixed(2)} s (${what}; runs ${rs.map((r) => (r.ms / 1000).toFixed(2)).join(', ')}) | ${kb(m.total)} | ${kb(m.page)} | ${kb(m.hlsjs)} | ${kb(m.images)} | ${kb(m.video)} |`);
  }
}
if (servers.length > 1) {
  const [a, b] = servers.map((s) => s.name);
  for (const name of Object.keys(results)) {
    const x = med[`${name}/${a}`], y = med[`${name}/${b}`];
    console.log(`${name}: ${a}/${b} time ${(x.ms / y.ms).toFixed(2)}x, bytes ${(x.total / y.total).toFixed(2)}x`);
  }
}
