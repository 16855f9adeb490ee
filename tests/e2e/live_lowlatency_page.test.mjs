// live.html's "low latency" switch in Chromium, against a real `newsreel serve` fed over SRT by
// a real ffmpeg publisher (lib/newsroom.mjs):
//
//   * off by default: the classic HLS plays, and the delay line shows hls.js's figure;
//   * switched on: the page plays the best way this server offers: the WebSocket (/ws/live/<id>)
//     when the server sends it, else LL-HLS (/live/<id>/ll/master.m3u8) when the server writes
//     it, else it says low latency is not available and plays the classic HLS on. Which way is
//     expected is asked of the server by this test itself (a ws client, a GET), so the test holds
//     before and after the server's low-latency side lands;
//   * the choice is remembered across a reload; the words are in both languages.
//
//   cd tests/e2e && NEWSREEL_BIN=/work/bin-snapshot/newsreel node --test live_lowlatency_page.test.mjs
//
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import WebSocket from 'ws';

import { untranslated } from './lib/i18n.mjs';
import { WAIT_MS, startNewsroom } from './lib/newsroom.mjs';
import { MEDIA_DIR } from './lib/tools.mjs';

// H.264 + AAC, 2 s, looped (as live_page.test.mjs uses).
const CLIP = path.join(MEDIA_DIR, 'videotestdata_1-video-streamable.mp4');
const TITLE = 'Trực tiếp: họp báo tỉnh';

let room = null;
let stream = null;      // POST /api/v1/live's answer
let publisher = null;

before(async () => {
  assert.ok(fs.existsSync(CLIP), `test clip missing: ${CLIP}`);
  room = await startNewsroom({
    users: [{ name: 'phongvien', role: 'reporter' }],
    // One small rung and 1 s segments: light on two shared cores.
    serveArgs: ['--live-ladder', '360', '--live-segment-seconds', '1', '--live-window-seconds', '6'],
    prefix: 'livell',
  });
  const created = await room.api('phongvien', '/api/v1/live', { method: 'POST', body: { title: TITLE, visibility: 'unlisted' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  stream = created.body;
  publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', CLIP,
    '-c', 'copy', '-f', 'mpegts', stream.ingest.url], { stdio: ['ignore', 'ignore', 'inherit'] });
});

after(async () => {
  if (publisher && publisher.exitCode === null) publisher.kill('SIGKILL');
  await room?.stop();
});

// What the server offers for low latency, asked directly: 'websocket' when /ws/live/<id> opens
// and sends a message, else 'll-hls' when the LL master playlist is there, else 'hls'.
async function serverOffers() {
  const ws = await new Promise((resolve) => {
    const socket = new WebSocket(`${room.base.replace(/^http/, 'ws')}/ws/live/${stream.id}`);
    const done = (v) => { socket.terminate(); resolve(v); };
    socket.on('message', () => done(true));
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
    setTimeout(() => done(false), 10_000).unref();
  });
  if (ws) return 'websocket';
  const ll = await fetch(`${room.base}/live/${stream.id}/ll/master.m3u8`);
  return ll.status === 200 ? 'll-hls' : 'hls';
}

// The browser's own console lines for what a server without the low-latency side refuses: the
// WebSocket upgrade, the LL playlist's 404.
const unexpected = (problems) => problems.filter((p) =>
  !/Failed to load resource: .* 404|WebSocket connection to .*\/ws\/live\/.* failed/.test(p));

const playerState = (page) => page.evaluate(() => ({
  mode: window.newsreel.mode, errors: window.newsreel.lowLatencyErrors, stats: window.newsreel.lowLatency?.stats ?? null,
  hlsErrors: window.newsreel.errors,
}));

async function waitForPlayback(page, seconds) {
  const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
  await page.waitForFunction(({ t0, seconds }) => document.getElementById('video').currentTime > t0 + seconds,
    { t0, seconds }, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`playback did not advance ${seconds} s: ${e.message}\n${JSON.stringify(await playerState(page))}\n${room.logTail()}`); });
}

test('live.html: the low-latency switch is off by default; on, it plays the best way the server offers, and is remembered', { timeout: WAIT_MS * 3 }, async () => {
  const { page, problems } = await room.openPage(`/live.html?id=${stream.id}`);
  await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'live', null, { timeout: WAIT_MS });
  const toggle = page.locator('#low-latency');
  assert.equal(await toggle.isVisible(), true, 'the switch shows');
  assert.equal(await toggle.isChecked(), false, 'off by default');
  assert.equal(await page.getByRole('switch', { name: 'Độ trễ thấp' }).count(), 1, 'a labelled switch');

  // Off: the classic HLS, and its delay.
  await waitForPlayback(page, 2);
  assert.equal(await page.evaluate(() => window.newsreel.mode), 'hls');
  await page.locator('#latency').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.match(await page.locator('#latency').textContent(), /^Độ trễ: \d+(,\d)? giây$/);

  // On: the best way there is.
  const offers = await serverOffers();
  await toggle.check();
  assert.equal(await page.evaluate(() => localStorage.getItem('newsreel.lowLatency')), '1');
  await page.waitForFunction((mode) => window.newsreel.mode === mode, offers, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`not playing by ${offers}: ${e.message}\n${JSON.stringify(await playerState(page))}`); });
  await waitForPlayback(page, 2);
  await page.waitForFunction((mode) => document.getElementById('latency').dataset.mode === mode && !document.getElementById('latency').hidden,
    offers, { timeout: WAIT_MS });
  const state = await playerState(page);
  assert.equal(state.hlsErrors.filter((e) => e.fatal).length, 0, `no fatal hls.js error: ${JSON.stringify(state.hlsErrors)}`);
  if (offers === 'hls') {
    // Neither WebSocket media nor LL-HLS from this server: the page says so and plays on.
    await page.locator('#low-latency-note').waitFor({ state: 'visible' });
    assert.deepEqual(state.errors.map((e) => `${e.mode}:${e.code}`), ['websocket:unavailable', 'll-hls:no-playlist']);
  } else {
    assert.equal(await page.locator('#low-latency-note').isVisible(), false, 'no "not available" note');
    assert.equal(state.stats.error === 'codec' || state.stats.error === 'append', false, `no media error: ${JSON.stringify(state.stats)}`);
  }
  assert.deepEqual(await untranslated(page, 'vi', [TITLE]), [], 'the switch and the delay in Vietnamese');
  await page.click('[data-lang="en"]');
  await page.locator('label.switch', { hasText: 'Low latency' }).waitFor();
  await page.locator('#latency', { hasText: /^Delay: [\d.]+ s$/ }).waitFor({ timeout: WAIT_MS });
  assert.deepEqual(await untranslated(page, 'en', [TITLE]), [], 'the switch and the delay in English');

  // Remembered: after a reload the switch is on and the page goes the same way again.
  await page.reload();
  await page.waitForFunction(() => document.getElementById('state')?.dataset.state === 'live', null, { timeout: WAIT_MS });
  assert.equal(await page.locator('#low-latency').isChecked(), true, 'still on after a reload');
  await page.waitForFunction((mode) => window.newsreel.mode === mode && document.getElementById('video').currentTime > 1,
    offers, { timeout: WAIT_MS });
  await waitForPlayback(page, 1);

  // Off again: the classic HLS, no note.
  await page.locator('#low-latency').uncheck();
  await page.waitForFunction(() => window.newsreel.mode === 'hls' && window.newsreel.hls, null, { timeout: WAIT_MS });
  assert.equal(await page.locator('#low-latency-note').isVisible(), false);
  await waitForPlayback(page, 1);
  assert.equal(await page.evaluate(() => localStorage.getItem('newsreel.lowLatency')), '0');
  assert.deepEqual(unexpected(problems), [], `errors on live.html:\n${problems.join('\n')}`);
});
