// live.html in Debian's Chromium (driven by playwright-core), against a real `newsreel serve`
// with SRT ingest on a free UDP port, fed by a real ffmpeg publisher:
//
//   * live.html (the list): a reporter signs in and creates an unlisted stream with the form; the
//     key and the full SRT URL are shown once (not after a reload, not in GET); the card says idle;
//   * ffmpeg pushes a real clip over SRT with that URL (`-c copy`, looped); the owner's
//     live.html?id= shows the ingest server and the pull URL, the state and the badge turn live,
//     hls.js starts inside the window (not at its oldest segment) and playback advances, the
//     viewer count reaches 1, the list shows the stream live;
//   * an anonymous viewer's page plays too, with no ingest block (and the API gives it none);
//     when the browser goes offline the page says the network is lost, and playback resumes
//     once it is back;
//   * ffmpeg is killed: the state turns reconnecting, and playback carries on through the
//     EXT-X-DISCONTINUITY onto the server's slate (its dark blue picture is on screen); then ffmpeg
//     publishes again: live again, and playback carries on through the next discontinuity;
//   * "new key" shows another key and URL once; "end broadcast" (confirmed) ends the stream,
//     and the page links the recording's video;
//   * live.html?id= of an unknown stream says it was not found.
//   No hls.js fatal error on any page, and no error on the pages but the expected 404s.
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/live_page.test.mjs
//
// Environment: NEWSREEL_BIN, NEWSREEL_MEDIA_DIR, NEWSREEL_CHROMIUM (default /usr/bin/chromium).
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { untranslated } from './lib/i18n.mjs';
import { MEDIA_DIR, NEWSREEL_BIN, REPO_ROOT, freePort, makeTempDir, removeDir, runOk, sleep, waitFor } from './lib/tools.mjs';

const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'web_player');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];
// H.264 High 720x576 25 fps + AAC, 2 s, looped. (moviepy_chaplin.mp4 carries MP3 audio, which
// the live worker of this version cannot decode when the TS does not say the layer.)
const CLIP = path.join(MEDIA_DIR, 'videotestdata_1-video-streamable.mp4');
const WAIT_MS = Number(process.env.NEWSREEL_E2E_WAIT_MS || 180_000);
const REPORTER = { name: 'phongvien', password: 'mật khẩu phóng viên trực tiếp', display: 'Phóng viên Điện Biên' };
const TITLE = 'Trực tiếp: lũ ở Điện Biên';
// The slate's colour (transcoder/live_pipeline.cpp): 0x1d2b3a.
const SLATE_RGB = [0x1d, 0x2b, 0x3a];

let server = null;     // {proc, log, base, exited}
let dataDir = null;
let browser = null;
let reporterToken = '';
let owner = null;      // the reporter's browser context (signed in by the list page's form)
let created = null;    // {id, key, url} as the create form showed them
let publisher = null;  // the ffmpeg child
let ownerPage = null;  // {page, problems}: live.html?id= as the owner, open from playback to the end

async function openPage(context, pathAndQuery) {
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => d.accept());  // "new key" and "end broadcast" ask first
  await page.goto(`${server.base}${pathAndQuery}`);
  return { page, problems };
}

// Errors on a page but the browser's own lines for the 404s a live page expects: master.m3u8
// before its first segment, an unknown stream.
const unexpected = (problems) => problems.filter((p) => !/Failed to load resource: .* 404/.test(p));

async function apiGet(pathname, token) {
  const res = await fetch(`${server.base}${pathname}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  assert.equal(res.status, 200, `GET ${pathname}: ${res.status}`);
  return res.json();
}

const serverLog = () => `\nserver log:\n${server.log.join('').slice(-4000)}`;
const hlsErrors = (page) => page.evaluate(() => window.newsreel.errors);
const fatalCount = (page) => page.evaluate(() => window.newsreel.fatal);
const currentTime = (page) => page.evaluate(() => document.getElementById('video').currentTime);

async function waitForState(page, state) {
  await page.waitForFunction((s) => document.getElementById('state')?.dataset.state === s, state, { timeout: WAIT_MS })
    .catch((e) => { throw new Error(`the page did not show state ${state}: ${e.message}${serverLog()}`); });
}

// Resolves once the video has played `seconds` beyond where it is now.
async function waitForPlayback(page, seconds) {
  const t0 = await currentTime(page);
  await page.waitForFunction(({ t0, seconds }) => document.getElementById('video').currentTime > t0 + seconds,
    { t0, seconds }, { timeout: WAIT_MS })
    .catch(async (e) => {
      throw new Error(`playback did not advance ${seconds} s from ${t0} s: ${e.message}\nhls.js errors: ${JSON.stringify(await hlsErrors(page))}${serverLog()}`);
    });
}

before(async () => {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN} (set NEWSREEL_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  assert.ok(fs.existsSync(CLIP), `test clip missing: ${CLIP}`);
  assert.ok(fs.existsSync(path.join(WEB_ROOT, 'node_modules', 'hls.js/dist/hls.min.js')),
    'web_player/node_modules/hls.js missing (run `npm ci` in web_player)');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/e2e/node_modules (run \`npm ci\` there): ${e.message}`);
  }

  dataDir = makeTempDir('livepage');
  await runOk(NEWSREEL_BIN, ['user', 'add', REPORTER.name, '--role', 'reporter', '--display-name', REPORTER.display,
    '--password-stdin', '--data', dataDir], { input: `${REPORTER.password}\n` });
  reporterToken = (await runOk(NEWSREEL_BIN, ['token', 'create', REPORTER.name, '--data', dataDir])).stdout.trim();
  const port = await freePort();
  // One small rung and 1 s segments: light on two shared cores, and the slate comes quickly.
  // A long grace: the stream stays reconnecting until the test ends it.
  const proc = spawn(NEWSREEL_BIN, ['serve', '--data', dataDir, '--web-root', WEB_ROOT, '--host', '127.0.0.1',
    '--port', String(port), '--workers', '1', '--threads', '1', '--job-poll-ms', '200',
    '--srt-port', '0', '--live-ladder', '360', '--live-segment-seconds', '1', '--live-window-seconds', '6',
    '--live-reconnect-grace', '600'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  server = { proc, log, base: `http://127.0.0.1:${port}`, exited: new Promise((r) => proc.on('exit', r)) };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`server exited: ${log.join('')}`);
    const r = await fetch(`${server.base}/healthz`).catch(() => null);
    return r?.status === 200;
  }, 'the server to answer /healthz', 20_000);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  owner = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
});

after(async () => {
  if (publisher && publisher.exitCode === null) publisher.kill('SIGKILL');
  if (browser) {
    const closed = await Promise.race([browser.close().then(() => true), sleep(15_000).then(() => false)]);
    if (!closed) browser.process()?.kill('SIGKILL');
  }
  if (server && server.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    const stopped = await Promise.race([server.exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!stopped) server.proc.kill('SIGKILL');
  }
  removeDir(dataDir);
});

test('live.html: a reporter signs in and creates a stream; its key and URL are shown once', { timeout: 120_000 }, async () => {
  const { page, problems } = await openPage(owner, '/live.html');
  await page.locator('#signin').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#create').isVisible(), false, 'no create form before signing in');
  await page.fill('#signin-name', REPORTER.name);
  await page.fill('#signin-password', REPORTER.password);
  await page.click('#signin-button');
  await page.locator('#create').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#whoami-name').textContent(), REPORTER.display);
  assert.equal(await page.locator('#create-visibility option[value="published"]').isEnabled(), false,
    'a reporter cannot publish a stream: the option is off');

  await page.fill('#create-title', TITLE);
  await page.selectOption('#create-visibility', 'unlisted');
  await page.click('#create-button');
  await page.locator('#created').waitFor({ state: 'visible' });
  const id = new URL(await page.getAttribute('#created-link', 'href'), server.base).searchParams.get('id');
  const key = await page.inputValue('#created input[data-name="key"]');
  const url = await page.inputValue('#created input[data-name="url"]');
  const streamId = await page.inputValue('#created input[data-name="stream_id"]');
  assert.match(id, /^[A-Za-z0-9_-]+$/);
  assert.ok(key.length >= 16, `a key: ${key}`);
  assert.equal(streamId, `#!::r=${id},m=publish,s=${key}`);
  assert.match(url, new RegExp(`^srt://127\\.0\\.0\\.1:\\d+\\?streamid=${streamId.replace(/[!#]/g, '\\$&')}$`));
  created = { id, key, url };
  assert.doesNotMatch(await page.locator('#created').textContent(), /null|undefined/);
  assert.deepEqual(await untranslated(page, 'vi', [TITLE, REPORTER.display]), [], 'the list and the new key, all in Vietnamese');

  // Shown once: GET never has the key again, and a reload shows no secret.
  const got = await apiGet(`/api/v1/live/${id}`, reporterToken);
  assert.equal(got.title, TITLE);
  assert.equal(got.state, 'idle');
  assert.equal(got.ingest?.key, undefined, 'GET shows no key');
  const card = page.locator(`.live-card[data-id="${id}"]`);
  await card.waitFor();
  assert.equal(await card.getAttribute('data-state'), 'idle');
  assert.equal(await card.locator('h2').textContent(), TITLE);
  await page.reload();
  await page.locator(`.live-card[data-id="${id}"]`).waitFor();
  assert.equal(await page.locator('#created').isVisible(), false, 'the key is not shown again');
  assert.deepEqual(unexpected(problems), [], `errors on live.html:\n${problems.join('\n')}`);
  await page.close();
});

test('live.html?id=: the owner sees the ingest block; the SRT stream plays from the live edge', { timeout: WAIT_MS + 120_000 }, async () => {
  assert.ok(created, 'the stream was created');
  // The publisher: a real clip relayed as it is, at real-time pace, over SRT.
  publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', CLIP,
    '-c', 'copy', '-f', 'mpegts', created.url], { stdio: ['ignore', 'ignore', 'pipe'] });
  const publisherLog = [];
  publisher.stderr.on('data', (d) => publisherLog.push(d.toString()));

  ownerPage = await openPage(owner, `/live.html?id=${created.id}`);
  const { page } = ownerPage;
  await page.locator('#manage').waitFor({ state: 'visible' })
    .catch((e) => { throw new Error(`no ingest block for the owner: ${e.message}`); });
  const port = new URL(created.url.replace(/^srt:/, 'http:')).port;
  assert.equal(await page.inputValue('#ingest-server'), `srt://127.0.0.1:${port}`);
  assert.equal(await page.inputValue('#ingest-streamid'), `#!::r=${created.id},m=publish,s=KEY`);
  assert.equal(await page.inputValue('#ingest-url'), `srt://127.0.0.1:${port}?streamid=#!::r=${created.id},m=publish,s=KEY`);
  assert.equal(await page.locator('#ingest-passphrase-block').isVisible(), false, 'no passphrase: the stream has no encryption');
  assert.match(await page.inputValue('#pull-url'),
    new RegExp(`^srt://127\\.0\\.0\\.1:${port}\\?streamid=#!::r=${created.id},m=request&passphrase=\\S{10,79}$`));

  await waitForState(page, 'live');
  assert.equal(await page.getAttribute('#live-badge', 'data-state'), 'live');
  assert.equal(await page.locator('#live-badge').isVisible(), true, 'the LIVE badge shows');
  // The page in Vietnamese, then in English without a reload (playback goes on), then back.
  await page.locator('#live-badge', { hasText: 'TRỰC TIẾP' }).waitFor();
  assert.deepEqual(await untranslated(page, 'vi', [TITLE]), [], 'the live page in Vietnamese');
  await page.click('[data-lang="en"]');
  await page.locator('#manage h2', { hasText: 'Sending to the server' }).waitFor();
  await page.locator('#state', { hasText: 'Live' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  assert.deepEqual(await untranslated(page, 'en', [TITLE]), [], 'the live page in English');
  await page.click('[data-lang="vi"]');
  await page.locator('#state', { hasText: 'Đang phát' }).waitFor();
  await page.waitForFunction(() => window.newsreel.hls && document.getElementById('video').currentTime > 1, null, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`no playback: ${e.message}\nhls.js errors: ${JSON.stringify(await hlsErrors(page))}\nffmpeg: ${publisherLog.join('')}${serverLog()}`); });
  await waitForPlayback(page, 3);
  assert.equal(await page.evaluate(() => window.newsreel.hls.levels[window.newsreel.hls.currentLevel]?.details?.live), true,
    'hls.js reads a live playlist');
  // The live edge: hls.js began three target durations from the newest segment, not at the
  // oldest one of the window.
  // (The window may still be filling up when the owner's page starts: the anonymous viewer,
  // who comes later, checks that it did not start at the window's oldest segment.)
  const first = await page.evaluate(() => window.newsreel.firstFragment);
  assert.ok(first.endSN - first.sn <= 4, `the first fragment (${JSON.stringify(first)}) is near the newest`);

  // This browser fetches the playlists: it is a viewer (the poll brings the count every 5 s).
  await page.waitForFunction(() => Number(document.getElementById('viewers').dataset.count) >= 1, null, { timeout: 60_000 });
  assert.equal(await fatalCount(page), 0, `hls.js fatal errors: ${JSON.stringify(await hlsErrors(page))}`);
  assert.equal(await page.locator('#connection').isVisible(), false, 'no connection warning while playing');
  // A copy button puts its value on the clipboard.
  await page.click('button[data-copy="pull-url"]');
  await page.locator('button[data-copy="pull-url"]', { hasText: 'Đã chép' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await page.inputValue('#pull-url'));

  // The list, as the owner, shows it live.
  const list = await openPage(owner, '/live.html');
  await list.page.waitForFunction((id) => document.querySelector(`.live-card[data-id="${id}"]`)?.dataset.state === 'live', created.id);
  assert.deepEqual(unexpected(list.problems), [], `errors on live.html:\n${list.problems.join('\n')}`);
  await list.page.close();
});

test('live.html?id= for an anonymous viewer: plays, no ingest block; network lost and back', { timeout: WAIT_MS + 120_000 }, async () => {
  const context = await browser.newContext();
  const { page, problems } = await openPage(context, `/live.html?id=${created.id}`);
  await waitForState(page, 'live');
  await page.locator('#title', { hasText: TITLE }).waitFor();
  // A viewer's page: in English after EN, while playing.
  await page.click('[data-lang="en"]');
  await page.locator('#state', { hasText: 'Live' }).waitFor();
  await page.locator('#viewers', { hasText: 'watching' }).waitFor();
  assert.deepEqual(await untranslated(page, 'en', [TITLE]), [], 'the live page in English');
  await page.click('[data-lang="vi"]');
  await page.locator('#state', { hasText: 'Đang phát' }).waitFor();
  await page.waitForFunction(() => window.newsreel.hls && document.getElementById('video').currentTime > 1, null, { timeout: WAIT_MS });
  const first = await page.evaluate(() => window.newsreel.firstFragment);
  assert.ok(first.endSN - first.sn <= 4 && first.sn > first.startSN,
    `the first fragment (${JSON.stringify(first)}) is near the newest, not the window's oldest`);
  assert.equal(await page.locator('#manage').isVisible(), false, 'no ingest block for an anonymous viewer');
  assert.equal(await page.locator('#new-key').isVisible(), false);
  const got = await apiGet(`/api/v1/live/${created.id}`);
  assert.equal(got.ingest, undefined, 'the API gives an anonymous viewer no ingest');
  assert.equal(got.pull, undefined, 'the API gives an anonymous viewer no pull URL');

  // Offline: the poll fails and the page says so; back online, it goes away and playback goes on.
  await context.setOffline(true);
  await page.locator('#connection', { hasText: /Mất kết nối mạng|Mất kết nối tới luồng/ }).waitFor({ timeout: 60_000 });
  await context.setOffline(false);
  await page.locator('#connection').waitFor({ state: 'hidden', timeout: WAIT_MS });
  await waitForPlayback(page, 2);
  assert.equal(await page.locator('#message').isVisible(), false, 'no error message');
  // Offline requests fail with net::ERR_INTERNET_DISCONNECTED: the browser's own console lines.
  const other = unexpected(problems).filter((p) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|WebSocket/.test(p));
  assert.deepEqual(other, [], `errors on live.html:\n${problems.join('\n')}`);
  await context.close();
});

test('the publisher drops and comes back: reconnecting, the slate, live again; hls.js plays on through both discontinuities', { timeout: WAIT_MS + 120_000 }, async () => {
  const { page } = ownerPage;
  const before = await page.evaluate(() => window.newsreel.playing);
  publisher.kill('SIGKILL');
  await waitForState(page, 'reconnecting');
  assert.equal(await page.getAttribute('#live-badge', 'data-state'), 'reconnecting');
  assert.match(await page.locator('#player-note').textContent(), /sớm tiếp tục/);
  // The slate continues the playlists after an EXT-X-DISCONTINUITY: hls.js plays into it.
  await page.waitForFunction((cc) => window.newsreel.playing?.cc > cc, before.cc, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`no fragment after the discontinuity played: ${e.message}\nhls.js errors: ${JSON.stringify(await hlsErrors(page))}${serverLog()}`); });
  await waitForPlayback(page, 1);
  // The slate's picture is on screen: the four corners and the top middle of the frame (away
  // from its centred text) all have its colour; the clip's picture is nowhere that even.
  await page.waitForFunction((rgb) => {
    const v = document.getElementById('video');
    const c = document.createElement('canvas');
    const w = c.width = v.videoWidth;
    const h = c.height = v.videoHeight;
    if (!w) return false;
    const ctx = c.getContext('2d');
    ctx.drawImage(v, 0, 0);
    return [[4, 4], [w - 5, 4], [4, h - 5], [w - 5, h - 5], [w >> 1, 4]].every(([x, y]) => {
      const p = ctx.getImageData(x, y, 1, 1).data;
      return rgb.every((value, i) => Math.abs(p[i] - value) <= 16);
    });
  }, SLATE_RGB, { timeout: WAIT_MS });
  assert.equal(await fatalCount(page), 0, `hls.js fatal errors: ${JSON.stringify(await hlsErrors(page))}`);

  // The encoder comes back: live again, and hls.js plays on across the next discontinuity.
  const onSlate = await page.evaluate(() => window.newsreel.playing);
  publisher = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', CLIP,
    '-c', 'copy', '-f', 'mpegts', created.url], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForState(page, 'live');
  await page.waitForFunction((cc) => window.newsreel.playing?.cc > cc, onSlate.cc, { timeout: WAIT_MS })
    .catch(async (e) => { throw new Error(`no fragment after the return played: ${e.message}\nhls.js errors: ${JSON.stringify(await hlsErrors(page))}${serverLog()}`); });
  await waitForPlayback(page, 1);
  assert.equal(await fatalCount(page), 0, `hls.js fatal errors: ${JSON.stringify(await hlsErrors(page))}`);
});

test('new key shows another key once; end broadcast ends the stream and links the recording', { timeout: WAIT_MS + 120_000 }, async () => {
  const { page, problems } = ownerPage;
  await page.click('#new-key');
  await page.locator('#new-secret').waitFor({ state: 'visible' });
  const key = await page.inputValue('#new-secret input[data-name="key"]');
  assert.ok(key.length >= 16 && key !== created.key, 'a new key');
  assert.ok((await page.inputValue('#new-secret input[data-name="url"]')).endsWith(`,m=publish,s=${key}`), 'its URL');

  await page.click('#end');
  await waitForState(page, 'ended');
  assert.equal(await page.locator('#live-badge').isVisible(), false, 'no LIVE badge once ended');
  await page.locator('#ended').waitFor({ state: 'visible' });
  const stream = await waitFor(async () => {
    const s = await apiGet(`/api/v1/live/${created.id}`, reporterToken);
    return s.recording_video_id ? s : null;
  }, 'the recording to become a video', WAIT_MS);
  const link = page.locator('#recording');
  await link.waitFor({ timeout: 30_000 });  // the page polls every 5 s
  assert.equal(await link.getAttribute('href'), `watch.html?id=${stream.recording_video_id}`);
  assert.equal(await link.textContent(), 'Xem bản ghi');
  assert.deepEqual(await untranslated(page, 'vi', [TITLE]), [], 'the ended stream in Vietnamese');
  assert.equal(await fatalCount(page), 0, `hls.js fatal errors: ${JSON.stringify(await hlsErrors(page))}`);
  assert.deepEqual(unexpected(problems), [], `errors on live.html?id=:\n${problems.join('\n')}`);
  await page.close();
});

test('live.html?id= of an unknown stream says it was not found', { timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  const { page, problems } = await openPage(context, '/live.html?id=zzzzzzzzzzzzzzzz');
  const message = page.locator('#message.error');
  await message.waitFor();
  assert.match(await message.textContent(), /Không tìm thấy luồng/);
  assert.equal(await page.locator('#stream').isVisible(), false, 'no player for a missing stream');
  assert.deepEqual(unexpected(problems), [], `errors on live.html:\n${problems.join('\n')}`);
  await context.close();
});
