// hls.js in Debian's headless Chromium (playwright-core) plays a draft through its signed URL:
//
//   * a real `newsreel serve` with a temporary data directory transcodes a draft
//     (`newsreel import --visibility draft`, the server's worker);
//   * the API hands out its playback URL, signed (docs/serving.md, "Signed URLs");
//   * a page (hls.js from node_modules, on a static server of another origin, so CORS is used as
//     a real player's page would) loads that URL: the manifest parses, every fragment of the
//     timeline is buffered (from whichever level hls.js picks), the playhead moves, and hls.js
//     raises no ERROR at all;
//   * every media request the browser made went to the signed prefix and got 200;
//   * the same draft's plain URL fails to load in hls.js (404 on the manifest).
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/signed_playback.test.mjs
//
// Environment: NEWSREEL_BIN, NEWSREEL_MEDIA_DIR, NEWSREEL_CHROMIUM (default /usr/bin/chromium).
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { curlJson, importFile, startServer, tempDataDir } from '../e2e_server/lib/server.mjs';
import { startStaticServer } from './lib/static_server.mjs';
import { E2E_DIR, MEDIA_DIR, NEWSREEL_BIN, loadPlaywright, waitFor } from './lib/tools.mjs';
import { hlsFaults } from './lib/newsroom.mjs';

const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
const HLS_DIST = path.join(E2E_DIR, 'node_modules', 'hls.js', 'dist');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];
// 9.6 s, 640x360: more than one segment per rung.
const CLIP = path.join(MEDIA_DIR, 'moviepy_chaplin.mp4');
const WAIT_MS = 180_000;

// Every API call goes through here: once accounts exist, the credentials go in these arguments.

// The page: `window.play(url)` loads `url` into a new hls.js and records what happens.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>signed playback</title></head>
<body>
<video id="video" muted playsinline width="640" height="360"></video>
<script src="/hls/hls.js"></script>
<script>
  const video = document.getElementById('video');
  window.play = (url) => {
    const log = window.log = { supported: Hls.isSupported(), levels: null, errors: [], fragBuffered: [], videoErrors: [] };
    if (window.hls) window.hls.destroy();
    const hls = window.hls = new Hls({ capLevelToPlayerSize: false, startLevel: 0 });
    hls.on(Hls.Events.ERROR, (event, data) => log.errors.push({ type: data.type, details: data.details,
      fatal: data.fatal, url: (data.frag && data.frag.url) || data.url || '', code: data.response ? data.response.code : null }));
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      log.levels = hls.levels.map((l) => ({ height: l.height, url: String(l.url && l.url[0] || '') }));
    });
    hls.on(Hls.Events.LEVEL_LOADED, (event, data) => { log.fragments = log.fragments || {}; log.fragments[data.level] = data.details.fragments.length; });
    hls.on(Hls.Events.FRAG_BUFFERED, (event, data) => {
      if (data.frag.type === 'main') log.fragBuffered.push({ level: data.frag.level, sn: data.frag.sn });
    });
    video.onerror = () => log.videoErrors.push(video.error ? video.error.code : 0);
    hls.loadSource(url);
    hls.attachMedia(video);
  };
</script>
</body></html>`;

test('hls.js in Chromium plays a draft through its signed URL, and not without it', { timeout: 360_000 }, async (t) => {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN}`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  assert.ok(fs.existsSync(path.join(HLS_DIST, 'hls.js')), `hls.js not installed in ${HLS_DIST} (run \`npm ci\` in ${E2E_DIR})`);
  const { chromium } = await loadPlaywright();

  const dataDir = tempDataDir('signed-play');
  const server = await startServer({ dataDir, extraArgs: ['--workers', '1'] });
  t.after(async () => {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const { video_id: id } = await importFile(dataDir, CLIP, ['--visibility', 'draft', '--title', 'Bản nháp']);
  const video = await waitFor(async () => {
    const r = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
    if (r.json?.status === 'failed') throw new Error(`transcode failed: ${r.json.failure_reason}`);
    return r.json?.status === 'ready' ? r.json : null;
  }, `draft ${id} ready`, WAIT_MS);
  assert.equal(video.visibility, 'draft');
  const master = video.playback.master;
  const prefix = master.slice(0, -'master.m3u8'.length);
  assert.match(prefix, new RegExp(`^/media/${id}/~s\\.\\d+\\.[0-9a-f]{64}/$`), 'a signed URL from the API');

  const pageServer = await startStaticServer({ routes: { '/hls/': HLS_DIST }, pages: { '/': PAGE } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  t.after(async () => {
    const closed = await Promise.race([browser.close().then(() => true), new Promise((r) => setTimeout(r, 15_000, false).unref())]);
    if (!closed) browser.process()?.kill('SIGKILL');
    await pageServer.close();
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(60_000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const media = [];  // every answer from newsreel's /media/ the browser got
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.origin === server.base && u.pathname.startsWith('/media/')) media.push({ path: u.pathname, status: r.status() });
  });
  await page.goto(`${pageServer.url}/`);

  const wait = async (what, predicate) => {
    try {
      await page.waitForFunction(predicate, null, { timeout: WAIT_MS, polling: 100 });
    } catch (e) {
      const state = await page.evaluate(() => ({ log: window.log, t: document.getElementById('video').currentTime })).catch((err) => err.message);
      throw new Error(`${what}: not reached (${e.message.split('\n')[0]})\n${JSON.stringify(state, null, 1)}`);
    }
  };

  // Through the signed URL: every fragment of the first level is buffered, and it plays.
  await page.evaluate((url) => window.play(url), server.base + master);
  assert.ok(await page.evaluate(() => window.log.supported), 'Hls.isSupported() is false in this Chromium');
  await wait('manifest parsed', () => window.log.levels !== null || window.log.errors.some((e) => e.fatal));
  const levels = await page.evaluate(() => window.log.levels);
  assert.ok(levels?.length >= 1, `levels: ${JSON.stringify(levels)}`);
  for (const l of levels) assert.ok(l.url.startsWith(server.base + prefix), `level playlist under the signed prefix: ${l.url}`);
  await page.evaluate(() => document.getElementById('video').play().catch((e) => window.log.videoErrors.push(String(e))));
  // Every fragment of the timeline, from whichever level the player's ABR chose.
  await wait('every fragment buffered and the playhead past 1 s', () => {
    const log = window.log;
    const count = log.fragments && log.fragments[0];
    const buffered = new Set(log.fragBuffered.map((f) => f.sn));
    return (count && buffered.size >= count && document.getElementById('video').currentTime > 1) || log.errors.some((e) => e.fatal);
  });
  const played = await page.evaluate(() => window.log);
  // Fatal or not, except a stall hls.js recovered from by itself (lib/newsroom.mjs, hlsFaults).
  assert.deepEqual(hlsFaults(played.errors), [], `hls.js errors: ${JSON.stringify(played.errors)}`);
  assert.deepEqual(played.videoErrors, []);
  assert.ok(played.fragments[0] >= 2, `more than one segment played: ${played.fragments[0]}`);
  assert.ok(media.length >= 2 + played.fragments[0], `media requests: ${JSON.stringify(media)}`);
  for (const m of media) {
    assert.ok(m.path.startsWith(prefix), `a media request outside the signed prefix: ${m.path}`);
    assert.equal(m.status, 200, `${m.path}`);
  }

  // Without the signature the same draft does not load.
  media.length = 0;
  await page.evaluate((url) => window.play(url), `${server.base}/media/${id}/master.m3u8`);
  await wait('a fatal error for the unsigned draft', () => window.log.errors.some((e) => e.fatal));
  const refused = await page.evaluate(() => window.log);
  assert.equal(refused.levels, null, 'no manifest parsed');
  assert.equal(refused.errors.find((e) => e.fatal).details, 'manifestLoadError');
  assert.deepEqual(media.map((m) => m.status), [404], JSON.stringify(media));
  assert.deepEqual(pageErrors, [], `errors in the page: ${pageErrors.join('\n')}`);
});
