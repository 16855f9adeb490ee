// web_player/lowlatency.js in Debian's Chromium (playwright-core), fed live CMAF that ffmpeg
// makes at real-time pace (lib/cmaf_feed.mjs; the server's /ws/live and LL-HLS stand-ins):
//
//   * WebSocket: the init segment, then fragments from a keyframe, into MediaSource; playback
//     advances, no error, the latency (buffered end − currentTime) stays short;
//   * the feed stalls for 3 s, then bursts what it held: the player catches up (a jump, or a
//     faster rate) and is back under the bound;
//   * the server skips the viewer ahead to a newer keyframe: the hole is jumped;
//   * a viewer joining mid-stream starts at the next keyframe, near the newest media;
//   * the connection drops: the player reconnects and plays on;
//   * ManagedMediaSource (Safari on iPhone) where MediaSource is absent: used, with
//     disableRemotePlayback set;
//   * no MediaSource of any kind: playWebSocket says so ('no-mse'), for the page to fall back;
//   * LL-HLS: hls.js in low-latency mode plays the same stream from parts with blocking reloads;
//   * (in Node) the codecs read from init segments are those ffprobe reads (H.264 + AAC, HEVC +
//     Opus), and every cut-short prefix, or noise, is refused with an Error, never a crash.
//
// The bounds on latency are the player's own behaviour, not the machine's speed: it plays
// faster above its target (0.5 s) and jumps beyond its maximum (2 s), so between two of its
// checks (every 250 ms) the latency can exceed 2 s only by what arrived meanwhile. A slow
// machine that delivers late makes the buffer run dry (latency falls, a stall), never grow. So:
// every sample in steady play is under 2.5 s, and their median under 1.5 s (about the target
// plus one 300 ms fragment when all is well).
//
//   cd tests/e2e && NEWSREEL_BIN=/work/bin-snapshot/newsreel node --test lowlatency_player.test.mjs
//
// Needs ffmpeg, Chromium (NEWSREEL_CHROMIUM), and `npm ci` in web_player/ and tests/e2e/ (ws).
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { fragmentStart, parseInit } from '../../web_player/lowlatency.js';
import { initSegmentOf, startCmafSource, startLlHls, startWebSocketFeed } from './lib/cmaf_feed.mjs';
import { CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB_ROOT } from './lib/newsroom.mjs';
import { startStaticServer } from './lib/static_server.mjs';
import { runOk, sleep, waitFor } from './lib/tools.mjs';

const HLS_DIST = path.join(WEB_ROOT, 'node_modules', 'hls.js', 'dist');
const STEADY_MAX_S = 2.5;
const STEADY_MEDIAN_S = 1.5;
const CAUGHT_UP_S = 1.5;

// The test page: the module and hls.js, a muted video, and what the session reports every tick.
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>lowlatency</title>
<script src="/vendor/hls.min.js"></script></head><body><video id="video" muted autoplay playsinline></video>
<script type="module">
import * as ll from '/lowlatency.js';
const video = document.getElementById('video');
window.samples = [];
window.errors = [];
const onStats = (s) => window.samples.push({ latency: s.latency, rate: s.rate, state: s.state, t: video.currentTime });
const onError = (code, detail) => window.errors.push({ code, detail });
window.playWs = (url) => { window.session = ll.playWebSocket(video, url, { onStats, onError }); return window.session.stats.mode; };
window.playLlHls = (url) => { window.session = ll.playLowLatencyHls(video, url, { onStats, onError }); return window.session?.stats.mode ?? null; };
window.ready = true;
</script></body></html>`;

let source = null;
let feed = null;
let llhls = null;
let web = null;
let browser = null;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  assert.ok(fs.existsSync(path.join(HLS_DIST, 'hls.min.js')), 'web_player/node_modules/hls.js missing (run `npm ci` in web_player)');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/e2e/node_modules (run \`npm ci\` there): ${e.message}`);
  }
  source = startCmafSource();
  await new Promise((resolve, reject) => {
    source.once('fragment', resolve);
    source.exited.then((code) => reject(new Error(`ffmpeg exited ${code}: ${source.log.join('')}`)));
  });
  feed = await startWebSocketFeed(source);
  llhls = await startLlHls(source);
  web = await startStaticServer({ routes: { '/': WEB_ROOT, '/vendor/': HLS_DIST }, pages: { '/ll.html': PAGE, '/favicon.ico': '' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
});

after(async () => {
  if (browser) {
    const closed = await Promise.race([browser.close().then(() => true), sleep(15_000).then(() => false)]);
    if (!closed) browser.process()?.kill('SIGKILL');
  }
  await feed?.close();
  await llhls?.close();
  await web?.close();
  await source?.stop();
});

// A fresh page of its own, recording page errors; `init` runs before any script of the page.
async function openPage(init) {
  const context = await browser.newContext();
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(`${web.url}/ll.html`);
  await page.waitForFunction(() => window.ready);
  return { page, problems, context };
}

const stats = (page) => page.evaluate(() => ({ ...window.session.stats, reported: window.errors }));
const currentTime = (page) => page.evaluate(() => document.getElementById('video').currentTime);

// Resolves once the video has played `seconds` beyond where it is now.
async function waitForPlayback(page, seconds) {
  const t0 = await currentTime(page);
  await page.waitForFunction(({ t0, seconds }) => document.getElementById('video').currentTime > t0 + seconds,
    { t0, seconds }, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`playback did not advance ${seconds} s from ${t0}: ${e.message}\n${JSON.stringify(await stats(page))}`); });
}

// The latency samples taken while playing, from now for as long as `during()` runs.
async function latencyWhile(page, during) {
  const from = await page.evaluate(() => window.samples.length);
  await during();
  const samples = await page.evaluate((from) => window.samples.slice(from), from);
  return samples.filter((s) => s.state === 'playing' && s.latency !== null).map((s) => s.latency);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function assertShort(latencies, what) {
  assert.ok(latencies.length >= 8, `${what}: enough samples while playing (${latencies.length})`);
  const max = Math.max(...latencies);
  assert.ok(max < STEADY_MAX_S, `${what}: every latency under ${STEADY_MAX_S} s (max ${max}; ${latencies.join(' ')})`);
  assert.ok(median(latencies) < STEADY_MEDIAN_S, `${what}: median latency under ${STEADY_MEDIAN_S} s (${latencies.join(' ')})`);
}

// The shared pieces of every WebSocket case: the session plays, and for `seconds` more
// with the latency short; no error anywhere.
async function playsShort(page, seconds, what) {
  await waitForPlayback(page, 1);
  const latencies = await latencyWhile(page, () => waitForPlayback(page, seconds));
  assertShort(latencies, what);
  console.log(`${what}: latency median ${median(latencies)} s, max ${Math.max(...latencies)} s`);
  const s = await stats(page);
  assert.deepEqual(s.reported, [], `${what}: no error reported`);
  assert.equal(await page.evaluate(() => document.getElementById('video').error), null, `${what}: no media error`);
  return s;
}

test('the codecs of init segments as ffprobe reads them; cut-short and noisy bytes refused cleanly', { timeout: 120_000 }, async () => {
  const arrayBuffer = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  // HEVC (as hvc1) + Opus, made here; H.264 + AAC is the live source's. HEVC: Main profile
  // (1), compatible with Main and Main 10 (6), the level, then x265's constraint flags.
  const made = await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=1',
    '-f', 'lavfi', '-i', 'sine=sample_rate=48000:duration=1', '-c:v', 'libx265', '-x265-params', 'log-level=error',
    '-tag:v', 'hvc1', '-c:a', 'libopus', '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', 'pipe:1'],
  { binary: true });
  // ffprobe needs a frame after the init segment to tell the level.
  const cases = [
    [source.init, Buffer.concat([source.init, source.lastKeyframe]), /^avc1\.64[0-9a-f]{2}(?<level>[0-9a-f]{2})$/],
    [initSegmentOf(made.stdout), made.stdout, /^hvc1\.1\.6\.L(?<level>\d+)(\.[0-9A-F]{1,2})*$/],
  ];
  for (const [init, media, expected] of cases) {
    const probe = JSON.parse((await runOk('ffprobe', ['-v', 'error', '-of', 'json', '-show_streams', '-'], { input: media })).stdout);
    const info = parseInit(arrayBuffer(init));
    assert.equal(info.codecs.length, 2);
    const [video, audio] = info.codecs;
    const { level } = expected.exec(video)?.groups ?? assert.fail(`${video} is not ${expected}`);
    const levelOf = (s) => (s.codec_name === 'h264' ? s.level.toString(16).padStart(2, '0') : String(s.level));
    assert.equal(level, levelOf(probe.streams[0]), `the level of ${video}`);
    assert.equal(audio, probe.streams[1].codec_name === 'aac' ? 'mp4a.40.2' : 'opus');
    assert.match(info.mime, /^video\/mp4; codecs="[^"]+"$/);
    assert.deepEqual(Object.keys(info.timescales).length, 2);
  }
  // Every prefix of the init segment: named or refused with an Error (a RangeError is a crash).
  for (let n = 0; n < source.init.length; n++) {
    try { parseInit(arrayBuffer(source.init.subarray(0, n))); } catch (e) { assert.equal(e.constructor, Error, `prefix ${n}: ${e}`); }
  }
  // Every prefix of a fragment: a time or null, never a throw; the whole one its tfdt time.
  const { timescales } = parseInit(arrayBuffer(source.init));
  const fragment = source.lastKeyframe;
  for (let n = 0; n < fragment.length; n += 7) {
    const t = fragmentStart(arrayBuffer(fragment.subarray(0, n)), timescales);
    assert.ok(t === null || Number.isFinite(t), `prefix ${n}: ${t}`);
  }
  // (The latest keyframe fragment: at t = 0 when the feed has only just begun, on a slow machine.)
  const whole = fragmentStart(arrayBuffer(fragment), timescales);
  assert.ok(Number.isFinite(whole) && whole >= 0, `the whole fragment: ${whole}`);
  // Noise, with box-like headers of every size.
  let seed = 1;
  const noise = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed & 0xff; };
  for (let i = 0; i < 500; i++) {
    const bytes = Buffer.from(Array.from({ length: 8 + (i % 64) * 4 }, noise));
    bytes.write(['moov', 'trak', 'moof', 'ftyp'][i % 4], 4, 'latin1');
    bytes.writeUInt32BE(8 + (noise() % bytes.length), 0);
    try { parseInit(arrayBuffer(bytes)); } catch (e) { assert.equal(e.constructor, Error, `noise ${i}: ${e}`); }
    const t = fragmentStart(arrayBuffer(bytes), timescales);
    assert.ok(t === null || Number.isFinite(t));
  }
});

test('WebSocket: init then fragments into MediaSource; playback advances with a short buffer', { timeout: WAIT_MS + 60_000 }, async () => {
  const { page, problems, context } = await openPage();
  assert.equal(await page.evaluate((url) => window.playWs(url), feed.url), 'MediaSource');
  const s = await playsShort(page, 6, 'steady');
  // The codecs read from the init segment: H.264 (the profile and level ffprobe reads from the
  // stream) and AAC-LC.
  const probe = JSON.parse((await runOk('ffprobe', ['-v', 'error', '-of', 'json', '-show_streams', '-'],
    { input: Buffer.concat([source.init, source.lastKeyframe]) })).stdout);
  assert.deepEqual(probe.streams.map((x) => x.codec_name), ['h264', 'aac']);
  const video = probe.streams[0];
  assert.equal(video.profile, 'High');
  const level = video.level.toString(16).padStart(2, '0');
  assert.match(s.codecs, new RegExp(`^avc1\\.64[0-9a-f]{2}${level},mp4a\\.40\\.2$`));
  assert.ok(s.fragments > 10, `fragments appended: ${s.fragments}`);
  // While the feed flows the player runs dry at most rarely: where fragments come unevenly (a
  // busy machine) a stall makes it keep a quarter of a second more in hand each time.
  assert.ok(s.stalls <= 2, `stalls while the feed flows: ${s.stalls}`);
  assert.equal(s.target, Math.min(1, 0.25 + 0.25 * s.stalls), `the target after ${s.stalls} stall(s)`);
  // It began at the newest media, not at 0: the stream had been running before this page came.
  const start = await page.evaluate(() => document.getElementById('video').buffered.start(0));
  assert.ok(start > 0.5, `the first fragment sent was a later one (buffer starts at ${start})`);
  assert.deepEqual(problems, [], problems.join('\n'));
  await page.evaluate(() => window.session.stop());
  assert.equal(await page.evaluate(() => window.session.stats.state), 'stopped');
  await context.close();
});

test('the feed stalls for 3 s, then bursts: the player catches up under the bound', { timeout: WAIT_MS + 60_000 }, async () => {
  const { page, problems, context } = await openPage();
  await page.evaluate((url) => window.playWs(url), feed.url);
  await waitForPlayback(page, 2);
  const before = await stats(page);
  feed.pause();
  await sleep(3000);  // the network stalls: the input of this test, not a bound on anything
  const burst = feed.resume();
  assert.ok(burst >= 5, `fragments held back and sent at once: ${burst}`);
  // Caught up: it jumped or played faster, and the latency is back under the bound.
  await page.waitForFunction(({ jumps, bound }) => {
    const s = window.session.stats;
    return (s.jumps > jumps || s.maxRate > 1) && s.latency !== null && s.latency < bound && s.state === 'playing';
  }, { jumps: before.jumps, bound: CAUGHT_UP_S }, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`no catch-up: ${e.message}\n${JSON.stringify(await stats(page))}`); });
  const after = await stats(page);
  assert.ok(after.stalls > before.stalls, `the stall was counted (${before.stalls} -> ${after.stalls})`);
  await playsShort(page, 3, 'after the burst');
  assert.deepEqual(problems, [], problems.join('\n'));
  await context.close();
});

test('the server skips ahead to a newer keyframe: the player jumps the hole and plays on', { timeout: WAIT_MS + 60_000 }, async () => {
  const { page, problems, context } = await openPage();
  const viewersBefore = feed.viewers.length;
  await page.evaluate((url) => window.playWs(url), feed.url);
  await waitForPlayback(page, 2);
  const viewer = feed.viewers[viewersBefore];
  const before = await stats(page);
  const sentBefore = viewer.fragments;
  feed.skipAhead();
  await waitFor(() => viewer.started && viewer.fragments > sentBefore, 'fragments after the skip', WAIT_MS);
  await page.waitForFunction((jumps) => window.session.stats.jumps > jumps, before.jumps, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`the hole was not jumped: ${e.message}\n${JSON.stringify(await stats(page))}`); });
  await playsShort(page, 3, 'after the hole');
  assert.deepEqual(problems, [], problems.join('\n'));
  await context.close();
});

test('a viewer joining mid-stream starts at the next keyframe, at the newest media', { timeout: WAIT_MS + 60_000 }, async () => {
  const { page, problems, context } = await openPage();
  const viewersBefore = feed.viewers.length;
  await page.evaluate((url) => window.playWs(url), feed.url);
  await waitForPlayback(page, 1);
  const viewer = feed.viewers[viewersBefore];
  assert.equal(viewer.firstKeyframe, true, 'the first fragment it was sent begins with a keyframe');
  // The playhead is near the newest media, not wherever the first fragment began.
  const { start, now, end } = await page.evaluate(() => {
    const v = document.getElementById('video');
    return { start: v.buffered.start(0), now: v.currentTime, end: v.buffered.end(v.buffered.length - 1) };
  });
  assert.ok(now >= start && end - now < STEADY_MAX_S, `playhead ${now} within the newest media (${start}..${end})`);
  await playsShort(page, 3, 'joined mid-stream');
  assert.deepEqual(problems, [], problems.join('\n'));
  await context.close();
});

test('the connection drops: the player reconnects and plays on', { timeout: WAIT_MS + 60_000 }, async () => {
  const { page, problems, context } = await openPage();
  const viewersBefore = feed.viewers.length;
  await page.evaluate((url) => window.playWs(url), feed.url);
  await waitForPlayback(page, 1);
  feed.viewers[viewersBefore].ws.terminate();
  await page.waitForFunction(() => window.session.stats.reconnects >= 1, null, { timeout: WAIT_MS });
  await waitFor(() => feed.viewers.length > viewersBefore + 1, 'a new connection', WAIT_MS);
  await playsShort(page, 3, 'after reconnecting');
  assert.deepEqual(problems.filter((p) => !/WebSocket/.test(p)), [], problems.join('\n'));
  await context.close();
});

test('ManagedMediaSource where there is no MediaSource (iOS 17.1+): used with remote playback off', { timeout: WAIT_MS + 60_000 }, async () => {
  // Chromium has no ManagedMediaSource: its MediaSource stands in for it, under that name only.
  const { page, problems, context } = await openPage(() => {
    window.ManagedMediaSource = window.MediaSource;
    delete window.MediaSource;
  });
  assert.equal(await page.evaluate((url) => window.playWs(url), feed.url), 'ManagedMediaSource');
  await playsShort(page, 3, 'ManagedMediaSource');
  assert.equal(await page.evaluate(() => document.getElementById('video').disableRemotePlayback), true);
  assert.deepEqual(problems, [], problems.join('\n'));
  await context.close();
});

test('no MediaSource of any kind: playWebSocket says so, for the page to fall back', { timeout: 60_000 }, async () => {
  const { page, context } = await openPage(() => { delete window.MediaSource; });
  assert.equal(await page.evaluate((url) => window.playWs(url), feed.url), null);
  await page.waitForFunction(() => window.errors.length > 0);
  assert.deepEqual(await page.evaluate(() => window.errors.map((e) => e.code)), ['no-mse']);
  assert.equal(await page.evaluate(() => window.session.stats.state), 'stopped');
  await context.close();
});

test('LL-HLS: hls.js in low-latency mode plays the parts with blocking reloads', { timeout: WAIT_MS + 60_000 }, async () => {
  const { page, problems, context } = await openPage();
  const requestsBefore = llhls.requests.length;
  assert.equal(await page.evaluate((url) => window.playLlHls(url), `${llhls.url}/ll/master.m3u8`), 'hls.js');
  await waitForPlayback(page, 1);
  const latencies = await latencyWhile(page, () => waitForPlayback(page, 6));
  // hls.js holds back PART-HOLD-BACK (1 s) behind the newest part, and fetches a part ahead.
  assert.ok(latencies.length >= 8, `samples while playing: ${latencies.length}`);
  assert.ok(Math.max(...latencies) < 4, `every latency under 4 s: ${latencies.join(' ')}`);
  assert.ok(median(latencies) < 2.5, `median latency under 2.5 s: ${latencies.join(' ')}`);
  console.log(`LL-HLS latency: median ${median(latencies)} s, max ${Math.max(...latencies)} s`);
  const s = await stats(page);
  assert.deepEqual(s.errors.filter((e) => e.fatal), [], `no fatal hls.js error: ${JSON.stringify(s.errors)}`);
  assert.deepEqual(s.reported, [], 'no error reported to the page');
  const asked = llhls.requests.slice(requestsBefore).map((r) => r.path);
  assert.ok(asked.some((p) => /index\.m3u8\?.*_HLS_msn=\d+/.test(p)), `blocking playlist reloads: ${asked.slice(0, 20).join(' ')}`);
  assert.ok(asked.some((p) => /\/p\d+\.\d+\.m4s$/.test(p)), `parts fetched: ${asked.slice(0, 20).join(' ')}`);
  assert.deepEqual(problems, [], problems.join('\n'));
  await context.close();
});
