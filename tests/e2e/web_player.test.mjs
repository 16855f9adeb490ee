// The web pages in web_player/, in Debian's Chromium (driven by playwright-core), against a real
// `newsreel serve` on a free port with a temporary data directory:
//
//   * a short real clip is imported (`newsreel import`, Vietnamese title) and transcoded by the
//     server's worker;
//   * index.html lists it (title, status, poster, duration);
//   * a second clip imported while index.html is open appears and turns ready without a reload
//     (the page only learns about it from /ws);
//   * the search box narrows the list as one types: a query matching only the first clip (without
//     its diacritics), one matching only the second, one matching nothing;
//   * watch.html plays it (currentTime passes 1 s), the quality menu lists Auto plus one entry per
//     video rendition, choosing a fixed rung switches hls.js to it (picture at that size, still
//     playing), the storyboard preview shows and tapping the scrub bar seeks; hls.js reports no
//     error events and the page no errors;
//   * watch.html for an unknown id says the video was not found;
//   * upload.html loads with tus-js-client and no errors, picking a file gives it a row with its
//     title, and uploading it to /files/ (tus) gives a link to the new video, whose title, description and
//     tags are the form's, whose original has the file's SHA-256, and which becomes ready.
//     (The clip fits in one 64 MiB request: pausing and resuming are not exercised.)
//   * the pages speak Vietnamese first (a first visit: <html lang="vi">, key strings, and no
//     word only the English file uses, lib/i18n.mjs), EN switches a page in place without a
//     reload, the choice is remembered across a reload and on every other page, and VI brings
//     Vietnamese back; the two translation files have the same keys and placeholders;
//   * the watch page of a video without location or reporter shows no "null".
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/web_player.test.mjs
//
// Environment: NEWSREEL_BIN, NEWSREEL_MEDIA_DIR, NEWSREEL_CHROMIUM (default /usr/bin/chromium).
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  MEDIA_DIR, NEWSREEL_BIN, REPO_ROOT, freePort, makeTempDir, removeDir, run, runOk, sleep, waitFor,
} from './lib/tools.mjs';
import { readStrings, untranslated } from './lib/i18n.mjs';
import { hlsFaults, waitForPlayhead } from './lib/newsroom.mjs';

const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'web_player');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];

// Two short clips: 9.6 s 640x360 (two video rungs and a cross-segment playback), and 1 s 720p.
const FIRST = { file: 'moviepy_chaplin.mp4', title: 'Lũ quét ở Sơn La — Chaplin', description: 'Phóng sự thử nghiệm' };
const SECOND = { file: 'moviepy_big_buck_bunny_432_433.webm', title: 'Big Buck Bunny in Điện Biên' };
// Upper bound for any one transcode or player wait on a busy machine.
const WAIT_MS = Number(process.env.NEWSREEL_E2E_WAIT_MS || 180_000);

let server = null;     // {proc, base, log}
let dataDir = null;
let browser = null;
let first = null;      // the first clip's video, as GET /api/v1/videos/{id} returns it once ready

// The reporter account the upload tests sign in with, and an editor's token for the API.
const REPORTER = { name: 'phongvien', password: 'mật khẩu của phóng viên', display: 'Phóng viên Hà Giang' };
let editorToken = '';

async function getVideo(id) {
  const res = await fetch(`${server.base}/api/v1/videos/${id}`, { headers: { Authorization: `Bearer ${editorToken}` } });
  if (res.status !== 200) throw new Error(`GET video ${id}: ${res.status}`);
  return res.json();
}

async function importClip(clip) {
  const input = path.join(MEDIA_DIR, clip.file);
  assert.ok(fs.existsSync(input), `test clip missing: ${input}`);
  const args = ['import', '--data', dataDir, input, '--json', '--title', clip.title];
  if (clip.description) args.push('--description', clip.description);
  const r = await run(NEWSREEL_BIN, args, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `newsreel import ${clip.file} failed: ${r.stderr}`);
  return JSON.parse(r.stdout).video_id;
}

async function waitUntilReady(id) {
  return waitFor(async () => {
    const v = await getVideo(id);
    if (v.status === 'failed') throw Object.assign(new Error(`video ${id} failed: ${v.failure_reason}`), { fatal: true });
    return v.status === 'ready' ? v : null;
  }, `video ${id} to become ready`, WAIT_MS).catch((e) => {
    throw new Error(`${e.message}\nserver log:\n${server.log.join('').slice(-3000)}`);
  });
}

// A new page that records uncaught exceptions and console errors (a missing script or a failed
// request shows up there too).
async function openPage(pathAndQuery) {
  const page = await browser.newPage();
  page.setDefaultTimeout(60_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  const hello = new Promise((resolve) => page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    if (String(f.payload).includes('"hello"')) resolve();
  })));
  await page.goto(`${server.base}${pathAndQuery}`);
  return { page, problems, hello };
}

before(async () => {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN} (set NEWSREEL_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  for (const f of ['hls.js/dist/hls.min.js', 'tus-js-client/dist/tus.min.js']) {
    assert.ok(fs.existsSync(path.join(WEB_ROOT, 'node_modules', f)), `web_player/node_modules/${f} missing (run \`npm ci\` in web_player)`);
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/e2e/node_modules (run \`npm ci\` there): ${e.message}`);
  }

  dataDir = makeTempDir('web');
  await runOk(NEWSREEL_BIN, ['user', 'add', REPORTER.name, '--role', 'reporter', '--display-name', REPORTER.display,
    '--password-stdin', '--data', dataDir], { input: `${REPORTER.password}\n` });
  await runOk(NEWSREEL_BIN, ['user', 'add', 'editor', '--role', 'editor', '--data', dataDir]);
  editorToken = (await runOk(NEWSREEL_BIN, ['token', 'create', 'editor', '--data', dataDir])).stdout.trim();
  const port = await freePort();
  const proc = spawn(NEWSREEL_BIN, ['serve', '--data', dataDir, '--srt-port', '0', '--web-root', WEB_ROOT, '--host', '127.0.0.1',
    '--port', String(port), '--workers', '1', '--threads', '1', '--job-poll-ms', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  server = { proc, log, base: `http://127.0.0.1:${port}`, exited: new Promise((r) => proc.on('exit', r)) };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`server exited: ${log.join('')}`);
    const r = await fetch(`${server.base}/healthz`).catch(() => null);
    return r?.status === 200;
  }, 'the server to answer /healthz', 20_000);

  first = await waitUntilReady(await importClip(FIRST));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
});

after(async () => {
  if (browser) {
    const closed = await Promise.race([browser.close().then(() => true), sleep(15_000).then(() => false)]);
    if (!closed) browser.process()?.kill('SIGKILL');
  }
  if (server && server.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    const stopped = await Promise.race([server.exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!stopped) server.proc.kill('SIGKILL');
  }
  removeDir(dataDir);
});

// The titles of the cards on index.html, in page order.
const cardTitles = (page) => page.$$eval('#grid .card h2', (hs) => hs.map((h) => h.textContent));

test('index.html lists the video; a clip imported meanwhile appears via /ws; search narrows the list', { timeout: 400_000 }, async () => {
  const { page, problems, hello } = await openPage('/');
  await page.locator('#grid .card h2', { hasText: FIRST.title }).waitFor();
  const card = page.locator(`.card[data-id="${first.id}"]`);
  assert.equal(await card.getAttribute('data-status'), 'ready');
  assert.equal(await card.getAttribute('href'), `watch.html?id=${first.id}`);
  assert.match(await card.locator('.duration').textContent(), /^0:(09|10)$/, 'duration of a 9.6 s clip');
  await page.waitForFunction((id) => document.querySelector(`.card[data-id="${id}"] img`)?.naturalWidth > 0, first.id);

  // Second clip, imported while the page is open: only /ws can tell the page about it.
  await hello;
  await page.evaluate(() => { window.notReloaded = true; });
  const secondId = await importClip(SECOND);
  const second = page.locator(`.card[data-id="${secondId}"]`);
  await second.waitFor({ timeout: WAIT_MS });
  assert.equal(await second.locator('h2').textContent(), SECOND.title);
  await page.waitForFunction((id) => document.querySelector(`.card[data-id="${id}"]`)?.dataset.status === 'ready', secondId, { timeout: WAIT_MS });
  await page.waitForFunction((id) => document.querySelector(`.card[data-id="${id}"] img`)?.naturalWidth > 0, secondId);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  assert.deepEqual(await cardTitles(page), [SECOND.title, FIRST.title], 'newest first');

  // Search as you type. Each result is waited for by its own visible effect, and the list is
  // then compared whole.
  await page.fill('#q', 'zzkhongco');
  await page.locator('#notice', { hasText: 'Không có video nào khớp với “zzkhongco”' }).waitFor();
  assert.deepEqual(await cardTitles(page), [], 'a query matching nothing leaves no cards');
  assert.equal(new URL(page.url()).searchParams.get('q'), 'zzkhongco', 'the query is in the address');

  await page.fill('#q', 'lu quet son');
  await page.locator('#grid .card').first().waitFor();
  assert.deepEqual(await cardTitles(page), [FIRST.title], '"lu quet son" finds only the Sơn La clip');

  await page.fill('#q', 'bunny');
  await page.locator('#grid .card h2', { hasText: SECOND.title }).waitFor();
  assert.deepEqual(await cardTitles(page), [SECOND.title], '"bunny" finds only the second clip');

  await page.fill('#q', '');
  await page.waitForFunction(() => document.querySelectorAll('#grid .card').length === 2);
  assert.equal(new URL(page.url()).searchParams.get('q'), null);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  assert.deepEqual(problems, [], `errors on index.html:\n${problems.join('\n')}`);
  await page.close();
});

test('watch.html plays with hls.js, switches to a chosen rung, previews the storyboard', { timeout: 400_000 }, async (t) => {
  const { page, problems } = await openPage(`/watch.html?id=${first.id}`);
  await page.locator('#info h1', { hasText: FIRST.title }).waitFor();  // filled in once the API answered
  assert.equal(await page.locator('h1').textContent(), FIRST.title);
  assert.equal(await page.title(), `${FIRST.title} — Newsreel`);
  await page.locator('#description', { hasText: FIRST.description }).waitFor();
  // The clip has no location and no reporter: the line under the title shows the status, the
  // length and the date, and never the word "null" for what is missing.
  assert.equal(await page.locator('#meta > *').count(), 3, await page.locator('#meta').innerHTML());
  assert.doesNotMatch(await page.locator('#meta').textContent(), /null|undefined/);
  assert.ok((await page.getAttribute('#video', 'poster')).endsWith(`/media/${first.id}/poster.jpg`));

  // The quality menu: Auto, then one entry per video rendition, highest first.
  const rungs = first.renditions.filter((r) => r.height > 0).sort((a, b) => b.height - a.height);
  assert.ok(rungs.length >= 2, `expected at least two video renditions: ${JSON.stringify(first.renditions)}`);
  await page.locator('#controls').waitFor();
  const options = await page.$$eval('#quality option', (os) => os.map((o) => ({ value: o.value, text: o.textContent })));
  assert.equal(options[0].value, '-1');
  assert.match(options[0].text, /^Tự động/);
  assert.deepEqual(options.slice(1).map((o) => o.text), rungs.map((r) => `${r.height}p`));

  await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
  await waitForPlayhead(page, 1);

  // Choose the rung that is not playing now; hls.js must switch to it and keep playing.
  const now = await page.evaluate(() => window.newsreel.hls.levels[window.newsreel.hls.currentLevel]?.height);
  const target = rungs.find((r) => r.height !== now);
  const option = options.find((o) => o.text === `${target.height}p`);
  await page.selectOption('#quality', option.value);
  await page.waitForFunction(({ index, height }) => {
    const { hls } = window.newsreel;
    const v = document.getElementById('video');
    return hls.currentLevel === index && !hls.autoLevelEnabled && v.videoHeight === height;
  }, { index: Number(option.value), height: target.height }, { timeout: WAIT_MS });
  await page.locator('#playing', { hasText: `Đang phát ${target.height}p` }).waitFor();
  const timeAfterSwitch = await page.evaluate(() => document.getElementById('video').currentTime);
  await waitForPlayhead(page, timeAfterSwitch + 0.5, { orEnded: true });

  // Storyboard: hovering the scrub bar shows a tile of storyboard.jpg; tapping it seeks there.
  const bar = page.locator('#scrub');
  await bar.waitFor();
  const box = await bar.boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  const preview = page.locator('#scrub .preview');
  await preview.waitFor();
  assert.match(await preview.evaluate((p) => p.style.backgroundImage), new RegExp(`/media/${first.id}/storyboard\\.jpg`));
  await page.evaluate(() => {
    window.seekedTo = [];
    document.getElementById('video').addEventListener('seeked', (e) => window.seekedTo.push(e.target.currentTime));
  });
  await page.mouse.click(box.x + box.width * 0.5, box.y + box.height / 2);
  const seekedTo = await page.waitForFunction(() => window.seekedTo.length > 0 && window.seekedTo[0]).then((h) => h.jsonValue());
  const duration = await page.evaluate(() => document.getElementById('video').duration);
  assert.ok(Math.abs(seekedTo - duration / 2) < 0.5, `tapping the middle of the scrub bar seeked to ${seekedTo} s of ${duration} s`);

  // No hls.js error, fatal or not, but a stall it recovered from by itself (lib/newsroom.mjs,
  // hlsFaults). The cellular rung once had a 0.16 s hole at t=0 (its B-frame delay) that hls.js
  // skipped with a bufferSeekOverHole when it started on that rung: that still fails.
  const errors = await page.evaluate(() => window.newsreel.errors);
  assert.deepEqual(hlsFaults(errors), [], `hls.js errors:\n${JSON.stringify(errors, null, 1)}`);
  assert.equal(await page.locator('#message').isVisible(), false, 'no message over a playing video');
  assert.deepEqual(problems, [], `errors on watch.html:\n${problems.join('\n')}`);
  await page.close();
});

test('watch.html for an unknown id says the video was not found', { timeout: 120_000 }, async () => {
  const { page, problems } = await openPage('/watch.html?id=zzzzzzzzzzzzzzzz');
  const message = page.locator('#message.error');
  await message.waitFor();
  assert.match(await message.textContent(), /Không tìm thấy video/);
  assert.equal(await page.locator('#player').isVisible(), false, 'no player for a missing video');
  // The 404 of the API request is the browser's own console line; nothing else may be there.
  const other = problems.filter((p) => !/Failed to load resource: .* 404/.test(p));
  assert.deepEqual(other, [], `errors on watch.html:\n${other.join('\n')}`);
  await page.close();
});

// Signs in on upload.html as REPORTER; resolves once the upload form shows.
async function signIn(page, password = REPORTER.password) {
  await page.locator('#signin').waitFor({ state: 'visible', timeout: WAIT_MS });
  await page.fill('#signin-name', REPORTER.name);
  await page.fill('#signin-password', password);
  await page.click('#signin-button');
}

test('upload.html asks for a sign-in; a wrong password is said clearly, the right one shows the form', { timeout: 120_000 }, async () => {
  const { page, problems } = await openPage('/upload.html');
  assert.equal(await page.locator('#form').isVisible(), false, 'no upload form before signing in');
  await signIn(page, 'not the password');
  await page.locator('#signin-message', { hasText: 'Sai tên đăng nhập hoặc mật khẩu' }).waitFor({ timeout: WAIT_MS });
  await signIn(page);
  await page.locator('#form').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await page.locator('#whoami-name').textContent(), REPORTER.display);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'newsreel_session');
  assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Lax');
  // Signing out hides the form again, and the cookie no longer works.
  await page.click('#signout');
  await page.locator('#signin').waitFor({ state: 'visible', timeout: WAIT_MS });
  const after = await fetch(`${server.base}/api/v1/session`, { headers: { Cookie: `newsreel_session=${session.value}` } });
  assert.equal((await after.json()).user, null, 'a signed-out session is gone');
  // The 401 of the wrong password is the browser's own console line.
  const other = problems.filter((p) => !/Failed to load resource: .* 401/.test(p));
  assert.deepEqual(other, [], `errors on upload.html:\n${other.join('\n')}`);
  await page.close();
});

test('upload.html loads tus-js-client without errors and takes the title from the file name', { timeout: 120_000 }, async () => {
  const { page, problems } = await openPage('/upload.html');
  await signIn(page);
  await page.locator('#form').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await page.evaluate(() => typeof window.tus?.Upload === 'function' && window.tus.isSupported), true,
    'tus-js-client is loaded and supported');
  assert.equal(await page.locator('#queue').isVisible(), false, 'no list of files before a file is picked');
  assert.equal(await page.locator('#start').isEnabled(), false, 'nothing to upload yet');
  await page.setInputFiles('#file', path.join(MEDIA_DIR, FIRST.file));
  assert.equal(await page.inputValue('.upload-item .item-title'), 'moviepy_chaplin');
  assert.equal(await page.locator('#start').isEnabled(), true);
  assert.deepEqual(problems, [], `errors on upload.html:\n${problems.join('\n')}`);
  await page.close();
});

test('upload.html uploads a clip with tus; the video gets the details from the form and becomes ready', { timeout: 400_000 }, async () => {
  const { page, problems } = await openPage('/upload.html');
  await signIn(page);
  await page.locator('#form').waitFor({ state: 'visible', timeout: WAIT_MS });
  const file = path.join(MEDIA_DIR, FIRST.file);
  await page.setInputFiles('#file', file);
  await page.fill('.upload-item .item-title', 'Tải lên từ Lào Cai');
  await page.fill('#description', 'Mưa lớn, đường sạt lở');
  await page.fill('#tags', ' lũ , Lào Cai,, ');
  await page.click('#start');
  const link = page.locator('.upload-item .item-status a');
  await link.waitFor({ timeout: WAIT_MS });
  const id = new URL(await link.getAttribute('href'), server.base).searchParams.get('id');
  assert.match(id, /^[A-Za-z0-9_-]+$/, 'the watch link names a video id');
  assert.equal(await page.locator('.upload-item .item-percent').textContent(), '100,0%');

  await page.locator('.upload-item .item-status', { hasText: 'Đã tải lên và sẵn sàng' }).waitFor({ timeout: WAIT_MS });
  const video = await getVideo(id);
  assert.equal(video.status, 'ready');
  assert.equal(video.title, 'Tải lên từ Lào Cai');
  assert.equal(video.description, 'Mưa lớn, đường sạt lở');
  assert.deepEqual(video.tags, ['lũ', 'Lào Cai']);
  assert.equal(video.reporter, REPORTER.display, 'the signed-in reporter');
  assert.equal(video.source.filename, FIRST.file);
  const sha256 = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const originals = fs.readdirSync(path.join(dataDir, 'originals', id));
  assert.equal(originals.length, 1, `one original: ${originals}`);
  assert.equal(sha256(path.join(dataDir, 'originals', id, originals[0])), sha256(file), 'the stored original is the uploaded file');
  assert.equal(await page.locator('.upload-item .item-pause').isVisible(), false, 'no Pause button after the upload');
  assert.deepEqual(problems, [], `errors on upload.html:\n${problems.join('\n')}`);
  await page.close();
});

test('the two translation files have the same messages with the same placeholders', () => {
  const vi = readStrings('vi');
  const en = readStrings('en');
  assert.deepEqual(Object.keys(vi).sort(), Object.keys(en).sort(), 'the same keys in strings.vi.json and strings.en.json');
  const placeholders = (m) => (m.match(/\{[^}]*\}/g) || []).sort();
  for (const key of Object.keys(vi)) assert.deepEqual(placeholders(vi[key]), placeholders(en[key]), `placeholders of "${key}"`);
  // Vietnamese with its diacritics, not ASCII-folded.
  assert.equal(vi['upload.heading'], 'Tải tư liệu lên');
});

// Each page: where it is, what shows it has loaded, and a few key strings (selector, Vietnamese,
// English). The upload and live pages are seen signed in, with their forms.
const PAGES = () => [
  { path: '/', ready: `.card[data-id="${first.id}"]`, texts: [
    ['nav a[href="live.html"]', 'Trực tiếp', 'Live'],
    [`.card[data-id="${first.id}"] .badge.ready`, 'Sẵn sàng', 'Ready'],
  ], placeholder: ['#q', /^Tìm video/, /^Search videos/] },
  { path: `/watch.html?id=${first.id}`, ready: '#controls', texts: [
    ['label[for="quality"]', 'Chất lượng', 'Quality'],
    ['#facts dt', 'Bản gốc', 'Original'],
    ['#meta .badge', 'Sẵn sàng', 'Ready'],
  ] },
  { path: '/upload.html', ready: '#form', texts: [
    ['main h1', 'Tải tư liệu lên', 'Upload footage'],
    ['#start', 'Tải lên', 'Upload'],
    ['.file-pick .button', 'Chọn tệp', 'Choose files'],
    ['#signout', 'Đăng xuất', 'Sign out'],
  ] },
  { path: '/live.html', ready: '#create', texts: [
    ['#list h1', 'Phát trực tiếp', 'Live streams'],
    ['#create-button', 'Tạo luồng', 'Create'],
    ['#create-visibility option[value="unlisted"]', 'Ai có đường dẫn', 'Anyone with the link'],
  ] },
];

// What users typed, which stays in its own language whatever the page's.
const USER_DATA = [FIRST.title, SECOND.title, FIRST.description, REPORTER.display, 'Tải lên từ Lào Cai',
  'Mưa lớn, đường sạt lở', FIRST.file, 'lũ lụt, Sơn La'];

// Checks that `page` (loaded) is all in `lang`: <html lang>, the pressed switch button, the key
// strings, and no text left in the other language.
async function expectLanguage(page, spec, lang) {
  const i = lang === 'vi' ? 1 : 2;
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
  assert.equal(await page.getAttribute(`[data-lang="${lang}"]`, 'aria-pressed'), 'true', `${spec.path}: ${lang} is the pressed button`);
  for (const text of spec.texts) {
    await page.locator(text[0], { hasText: text[i] }).first().waitFor({ state: 'attached' });
  }
  if (spec.placeholder) assert.match(await page.getAttribute(spec.placeholder[0], 'placeholder'), spec.placeholder[i]);
  assert.deepEqual(await untranslated(page, lang, USER_DATA), [], `${spec.path} in ${lang}: text in the other language`);
}

test('every page is in Vietnamese first; EN switches it in place and is remembered; nothing is left untranslated', { timeout: 300_000 }, async () => {
  const context = await browser.newContext();  // no stored choice: a first visit
  const problems = [];
  const open = async (p) => {
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (e) => problems.push(`${p}: pageerror: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`${p}: console: ${m.text()}`); });
    await page.goto(`${server.base}${p}`);
    return page;
  };
  const signInPage = await open('/upload.html');
  await signIn(signInPage);
  await signInPage.locator('#form').waitFor({ state: 'visible', timeout: WAIT_MS });
  await signInPage.close();

  for (const spec of PAGES()) {
    const page = await open(spec.path);
    await page.locator(spec.ready).waitFor({ state: 'visible', timeout: WAIT_MS });
    await expectLanguage(page, spec, 'vi');
    await page.close();
  }

  // EN on the list page: the page changes language without a reload.
  const [index, ...others] = PAGES();
  const page = await open(index.path);
  await page.locator(index.ready).waitFor({ state: 'visible' });
  await page.evaluate(() => { window.notReloaded = true; });
  await page.click('[data-lang="en"]');
  await expectLanguage(page, index, 'en');
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'switching the language reloaded the page');
  assert.equal(await page.evaluate(() => localStorage.getItem('newsreel.lang')), 'en');
  await page.reload();
  await page.locator(index.ready).waitFor({ state: 'visible' });
  await expectLanguage(page, index, 'en');
  await page.close();

  // Remembered on every other page; VI brings Vietnamese back, also after a reload.
  for (const spec of others) {
    const p = await open(spec.path);
    await p.locator(spec.ready).waitFor({ state: 'visible', timeout: WAIT_MS });
    await expectLanguage(p, spec, 'en');
    await p.close();
  }
  const live = await open('/live.html');
  await live.locator('#create').waitFor({ state: 'visible' });
  await live.click('[data-lang="vi"]');
  await expectLanguage(live, others[2], 'vi');
  await live.reload();
  await live.locator('#create').waitFor({ state: 'visible' });
  await expectLanguage(live, others[2], 'vi');
  await live.close();
  assert.deepEqual(problems, [], `errors on the pages:\n${problems.join('\n')}`);
  await context.close();
});
