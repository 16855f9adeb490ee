// Plays `newsreel transcode` output with hls.js in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core), the way a viewer's browser does:
//
//   * transcode a real clip from the shared media folder into a temporary OUTDIR;
//   * serve OUTDIR and hls.js (from node_modules) from a small static server on 127.0.0.1;
//   * start playback muted on the lowest level (the cellular rung: low frame rate, where an
//     encoder's B-frame delay is longest) and check that the buffer starts at 0, with no hole
//     for hls.js to skip, and that the playhead moves;
//   * force the highest level, then the lowest (hls.currentLevel), and on each check that
//     LEVEL_SWITCHED, FRAG_BUFFERED and FRAG_CHANGED arrive for that level, that every fragment of
//     the level gets played, that the decoded picture has that level's size and that the playhead
//     keeps moving;
//   * and that hls.js raised no Hls.Events.ERROR at all, fatal or not (all are listed on failure),
//     and the <video> element no MediaError.
//
// The clip loops, so that a short clip still lets every level play all of its fragments.
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/hls_playback.test.mjs
//
// Environment: NEWSREEL_BIN, NEWSREEL_MEDIA_DIR, NEWSREEL_CHROMIUM (default /usr/bin/chromium).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { readMasterPlaylist, readMediaPlaylist } from './lib/hls.mjs';
import { startStaticServer } from './lib/static_server.mjs';
import {
  E2E_DIR, MEDIA_DIR, NEWSREEL_BIN, TRANSCODE_TIMEOUT_MS, loadPlaywright, makeTempDir, removeDir, run,
} from './lib/tools.mjs';

const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
const HLS_DIST = path.join(E2E_DIR, 'node_modules', 'hls.js', 'dist');

// Chromium on a machine without network access: these flags keep it from stalling on
// background requests. Each launch gets a fresh profile (see below), so runs are independent.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];

// The clips, and the ladder to ask for. The first has >= 3 rungs below its 576-line source;
// the second uses the default ladder and is long enough (9.6 s) to cross a segment boundary.
const CLIPS = [
  { file: 'videotestdata_1-video-streamable.mp4', args: ['--ladder', '480,360,144'], minLevels: 3 },
  { file: 'moviepy_chaplin.mp4', args: [], minLevels: 2 },
];

// The page under test: hls.js from node_modules, every event we assert on recorded in window.log.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>newsreel hls.js e2e</title></head>
<body>
<video id="video" muted playsinline width="640" height="360"></video>
<script src="/hls/hls.js"></script>
<script>
  const video = document.getElementById('video');
  video.muted = true;
  video.loop = true;
  const log = window.log = {
    supported: Hls.isSupported(), version: Hls.version, levels: null, errors: [], videoErrors: [],
    levelSwitched: [], fragBuffered: [], fragChanged: [], playingLevel: -1, playedOnLevel: {},
    firstBuffered: null,
  };
  const hls = window.hls = new Hls({ capLevelToPlayerSize: false });
  hls.on(Hls.Events.ERROR, (event, data) => log.errors.push({
    type: data.type, details: data.details, fatal: data.fatal, reason: data.reason || '',
    url: (data.frag && data.frag.url) || data.url || '', level: data.frag ? data.frag.level : data.level,
    error: data.error ? String(data.error) : '', at: video.currentTime,
  }));
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    // Start on the lowest level, so that forcing the highest and then the lowest are real switches.
    hls.startLevel = 0;
    log.levels = hls.levels.map((l) => ({ bitrate: l.bitrate, width: l.width, height: l.height,
      videoCodec: l.videoCodec || '', audioCodec: l.audioCodec || '', url: String(l.url && l.url[0] || l.uri || '') }));
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (event, data) => log.levelSwitched.push({ level: data.level, at: video.currentTime }));
  hls.on(Hls.Events.FRAG_BUFFERED, (event, data) => {
    if (data.frag.type !== 'main') return;
    log.fragBuffered.push({ level: data.frag.level, sn: data.frag.sn, at: video.currentTime });
    // Where the first fragment's media begins on the player's timeline (audio and video together).
    if (!log.firstBuffered && video.buffered.length) {
      log.firstBuffered = { level: data.frag.level, sn: data.frag.sn, start: video.buffered.start(0), end: video.buffered.end(0) };
    }
  });
  hls.on(Hls.Events.FRAG_CHANGED, (event, data) => {
    log.fragChanged.push({ level: data.frag.level, sn: data.frag.sn, at: video.currentTime });
    log.playingLevel = data.frag.level;
  });
  // Seconds of playback per level: forward steps of the playhead while a level's fragment plays
  // (jumps from seeking or looping are not counted).
  let last = 0;
  video.addEventListener('timeupdate', () => {
    const step = video.currentTime - last;
    last = video.currentTime;
    if (step > 0 && step < 1 && !video.seeking && log.playingLevel >= 0) {
      log.playedOnLevel[log.playingLevel] = (log.playedOnLevel[log.playingLevel] || 0) + step;
    }
  });
  video.addEventListener('error', () => log.videoErrors.push(video.error ? { code: video.error.code, message: video.error.message } : {}));
  if (log.supported) {
    hls.loadSource('/media/master.m3u8');
    hls.attachMedia(video);
  }
</script>
</body></html>`;

// A snapshot of the player for failure messages.
async function playerState(page) {
  return page.evaluate(() => {
    const v = document.getElementById('video');
    const ranges = [];
    for (let i = 0; i < v.buffered.length; i++) ranges.push(`${v.buffered.start(i).toFixed(2)}-${v.buffered.end(i).toFixed(2)}`);
    return {
      currentTime: v.currentTime, paused: v.paused, readyState: v.readyState, videoSize: `${v.videoWidth}x${v.videoHeight}`,
      buffered: ranges.join(' '), currentLevel: window.hls.currentLevel, log: window.log,
    };
  });
}

// Waits until `predicate(arg)` holds in the page; on timeout fails with `what` and the player's state.
// The deadline only guards against a stuck player; nothing asserts how fast playback is.
async function waitInPage(page, what, predicate, arg, timeoutMs) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: timeoutMs, polling: 100 });
  } catch (e) {
    const state = await playerState(page).catch((err) => ({ unavailable: err.message }));
    throw new Error(`${what}: not reached within ${timeoutMs / 1000} s (${e.message.split('\n')[0]})\nplayer: ${JSON.stringify(state, null, 1)}`);
  }
}

// Forces `level`, then waits until that level is switched to, buffered, playing, has played every
// one of its fragments plus `extraSeconds`, and the decoded picture has its size.
async function playWholeLevel(page, level, fragmentCount, extraSeconds, timeoutMs) {
  await page.evaluate((l) => {
    window.log.playedOnLevel = {};
    window.log.fragChanged.length = 0;
    window.log.fragBuffered.length = 0;
    window.log.levelSwitched.length = 0;
    window.hls.currentLevel = l;
  }, level);
  const conditions = ({ l, n, extra }) => {
    const log = window.log;
    const v = document.getElementById('video');
    const info = log.levels[l];
    const played = new Set(log.fragChanged.filter((f) => f.level === l).map((f) => f.sn));
    return log.levelSwitched.some((s) => s.level === l)
      && log.fragBuffered.some((f) => f.level === l)
      && played.size >= n
      && (log.playedOnLevel[l] || 0) >= extra
      && (!info.width || (v.videoWidth === info.width && v.videoHeight === info.height));
  };
  await waitInPage(page, `level ${level}: switch, buffer, play all ${fragmentCount} fragments and ${extraSeconds} s, picture at the level's size`,
    conditions, { l: level, n: fragmentCount, extra: extraSeconds }, timeoutMs);
}

test('prerequisites: binary, Chromium, hls.js and playwright-core installed', async () => {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN} (set NEWSREEL_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  assert.ok(fs.existsSync(path.join(HLS_DIST, 'hls.js')), `hls.js not installed: ${HLS_DIST}/hls.js missing (run \`npm ci\` in ${E2E_DIR})`);
  await loadPlaywright();
});

for (const clip of CLIPS) {
  test(`hls.js in Chromium plays ${clip.file} on its lowest and highest level without errors`, { timeout: 300_000 }, async (t) => {
    const input = path.join(MEDIA_DIR, clip.file);
    assert.ok(fs.existsSync(input), `test clip missing: ${input}`);
    const { chromium } = await loadPlaywright();

    const outdir = makeTempDir('play');
    t.after(() => removeDir(outdir));

    const result = await run(NEWSREEL_BIN, ['transcode', input, outdir, ...clip.args], { timeoutMs: TRANSCODE_TIMEOUT_MS });
    assert.ok(result.code === 0 && !result.timedOut, `newsreel transcode ${clip.file} ${clip.args.join(' ')} ${result.timedOut ? 'hung' : `exited ${result.code ?? result.signal}`}: ${result.stderr.slice(-2000)}`);

    // What the player should find: video variants and their fragment counts, from the playlists.
    const master = readMasterPlaylist(path.join(outdir, 'master.m3u8'));
    const videoVariants = master.variants.filter((v) => v.attrs.RESOLUTION);
    assert.ok(videoVariants.length >= clip.minLevels,
      `${clip.file} ${clip.args.join(' ')}: ${videoVariants.length} video variants in master.m3u8, expected at least ${clip.minLevels}:\n${master.text}`);
    const duration = readMediaPlaylist(videoVariants[0].path).segments.reduce((s, x) => s + x.duration, 0);

    const server = await startStaticServer({ routes: { '/media/': outdir, '/hls/': HLS_DIST }, pages: { '/': PAGE } });
    // launch() gives Chromium a fresh temporary --user-data-dir of its own and removes it on close.
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    t.after(async () => {
      // Closing must not hang the suite: give Chromium 15 s, then kill it.
      const closed = await Promise.race([browser.close().then(() => true), new Promise((r) => setTimeout(r, 15_000, false).unref())]);
      if (!closed) browser.process()?.kill('SIGKILL');
      await server.close();
    });
    const page = await browser.newPage();
    page.setDefaultTimeout(60_000);
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await page.goto(`${server.url}/`);
    const supported = await page.evaluate(() => window.log.supported);
    assert.ok(supported, 'Hls.isSupported() is false in this Chromium (no MediaSource?)');
    const perLevelTimeout = Math.round((2 * duration + 30) * 1000);
    await waitInPage(page, 'manifest parsed', () => window.log.levels !== null || window.log.errors.some((e) => e.fatal), null, 30_000);

    const levels = await page.evaluate(() => window.log.levels);
    assert.equal(levels.length, videoVariants.length, `hls.js sees ${levels.length} levels, master.m3u8 has ${videoVariants.length} video variants: ${JSON.stringify(levels)}`);
    // hls.js orders levels by bitrate: 0 is the lowest, the last the highest.
    const lowest = 0;
    const highest = levels.length - 1;
    const fragmentsOf = (level) => readMediaPlaylist(path.join(outdir, new URL(levels[level].url, `${server.url}/media/`).pathname.replace(/^\/media\//, ''))).segments.length;

    // Start muted once the first fragment can play (as a viewer pressing play on a loaded page);
    // the playhead must move.
    await waitInPage(page, 'first fragment buffered, <video> can play', () => window.log.fragBuffered.length > 0
      && document.getElementById('video').readyState >= 3, null, perLevelTimeout);
    // The first fragment (of the lowest level) is buffered from 0: hls.js starts its timeline at
    // the lowest audio PTS or video DTS, so a video whose first DTS precedes its first PTS (an
    // encoder's B-frame delay) would begin after 0 and leave a hole to skip (bufferSeekOverHole).
    const firstBuffered = await page.evaluate(() => window.log.firstBuffered);
    assert.equal(firstBuffered.level, lowest, `the first fragment buffered is from level ${firstBuffered.level}, not the lowest (${lowest})`);
    assert.ok(firstBuffered.start <= 0.001,
      `level ${lowest} (${levels[lowest].height}p): the first fragment is buffered from ${firstBuffered.start.toFixed(3)} s, not 0: a hole at the start`);
    // play() settles only once playback really starts: do not await it here (the wait below
    // has a deadline, this would not); a rejection is recorded as a page error.
    await page.evaluate(() => {
      document.getElementById('video').play().catch((e) => window.log.videoErrors.push({ play: String(e) }));
    });
    await waitInPage(page, 'playback starts (currentTime advances)', () => {
      const v = document.getElementById('video');
      return v.currentTime > 0.3 && !v.paused;
    }, null, perLevelTimeout);

    const extra = Math.min(1, duration / 2);
    await playWholeLevel(page, highest, fragmentsOf(highest), extra, perLevelTimeout);
    await playWholeLevel(page, lowest, fragmentsOf(lowest), extra, perLevelTimeout);

    const state = await playerState(page);
    assert.deepEqual(state.log.errors, [], `hls.js raised ${state.log.errors.length} ERROR events:\n${JSON.stringify(state.log.errors, null, 1)}`);
    assert.deepEqual(state.log.videoErrors, [], `<video> MediaError: ${JSON.stringify(state.log.videoErrors)}`);
    assert.deepEqual(pageErrors, [], `errors in the page: ${pageErrors.join('\n')}`);
    const failed = server.requests.filter((r) => r.status !== 200 && r.path.startsWith('/media/'));
    assert.deepEqual(failed, [], `media requests that failed: ${JSON.stringify(failed)}`);
  });
}
