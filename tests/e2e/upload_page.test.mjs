// upload.html in Debian's Chromium (driven by playwright-core) against a real `newsreel serve`
// (lib/newsroom.mjs), as a reporter uses it:
//
//   * in Vietnamese: the reporter signs in with the page's form and picks two real clips at once;
//     each gets a row with its own title (from the file name; one is edited); they are sent one
//     at a time over a link throttled with CDP (Network.emulateNetworkConditions), and the first
//     row's progress bar moves. Mid-way the page is reloaded (the browser asks first: an upload
//     is running), and the server holds part of the first file (HEAD on its upload URL:
//     0 < offset < size). After the reload the page lists the unfinished upload and asks for the file; the
//     two files are picked again, the first continues from the server's offset (the page's HEAD
//     and PATCH say an offset > 0) and the second starts; both rows show processing and then
//     ready with a link to the watch page. The videos are the reporter's (no name typed), with
//     the titles and shared details of the page, and their originals have the files' SHA-256.
//     Nothing on the page is left in English (lib/i18n.mjs).
//   * in English: a file dropped on the page (a drop event with a DataTransfer built in the page)
//     gets a row; sent while the browser is offline, its row says the connection is lost and
//     when it retries, and back online it goes through and becomes ready; a file larger than the server's Tus-Max-Size is
//     refused before sending, saying both sizes; nothing is left in Vietnamese.
//   * Pause on the first of two files lets the second go; Cancel on the second ends its upload
//     on the server (HEAD: 404); Resume on the first continues from the server's offset.
//   * on a server with a small quota: an upload started after the session ended says so with a
//     link to sign in, and continues by itself once signed in again; a file that would pass the
//     quota is refused saying what is used, the quota and the file's size.
//   No errors on the pages.
//
//   cd tests/e2e && NEWSREEL_BIN=../../build/app/newsreel node --test upload_page.test.mjs
//
// Environment: NEWSREEL_BIN, NEWSREEL_MEDIA_DIR, NEWSREEL_CHROMIUM (default /usr/bin/chromium).
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { MEDIA_DIR, waitFor } from './lib/tools.mjs';
import { WAIT_MS, startNewsroom } from './lib/newsroom.mjs';
import { untranslated } from './lib/i18n.mjs';

const REPORTER = { name: 'phongvien', role: 'reporter', password: 'mật khẩu phóng viên', display: 'Phóng viên Lai Châu' };
// 761 kB, 9.6 s 640x360: the one interrupted; 86 kB, 1 s 720p.
const FIRST = path.join(MEDIA_DIR, 'moviepy_chaplin.mp4');
const SECOND = path.join(MEDIA_DIR, 'moviepy_big_buck_bunny_432_433.webm');
// 1,044,618 bytes: over the server's limit below, which the two clips are under.
const TOO_BIG = path.join(MEDIA_DIR, 'moviepy_rain.mp3');
const MAX_SIZE = 800_000;
const FIRST_TITLE = 'Sạt lở ở Mường Tè';
const DESCRIPTION = 'Mưa lớn suốt đêm';
// Bytes per second for the throttled upload: the first file takes about 15 s to send.
const SLOW_UPLOAD = 50_000;

// What users typed or picked, which stays in its own language whatever the page's.
const USER_DATA = [REPORTER.display, FIRST_TITLE, DESCRIPTION, 'Lai Châu', 'moviepy_chaplin.mp4', 'moviepy_chaplin',
  'moviepy_big_buck_bunny_432_433.webm', 'moviepy_big_buck_bunny_432_433', 'moviepy_rain.mp3', 'moviepy_rain',
  'lũ lụt, Sơn La'];  // the tags' example, in both languages

let room = null;

before(async () => {
  for (const f of [FIRST, SECOND, TOO_BIG]) assert.ok(fs.existsSync(f), `test clip missing: ${f}`);
  assert.ok(fs.statSync(TOO_BIG).size > MAX_SIZE && fs.statSync(FIRST).size < MAX_SIZE);
  room = await startNewsroom({ users: [REPORTER], serveArgs: ['--upload-max-size', String(MAX_SIZE)], prefix: 'upload' });
});

after(async () => {
  await room?.stop();
});

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const row = (page, file) => page.locator(`#items .upload-item[data-file="${path.basename(file)}"]`);

async function signIn(page) {
  await page.locator('#signin').waitFor({ state: 'visible' });
  await page.fill('#signin-name', REPORTER.name);
  await page.fill('#signin-password', REPORTER.password);
  await page.click('#signin-button');
  await page.locator('#form').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#whoami-name').textContent(), REPORTER.display);
}

// Where the server stands on an upload: its Upload-Offset, asked as its owner.
async function serverOffset(uploadUrl) {
  const res = await fetch(new URL(uploadUrl, room.base), {
    method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${room.tokens[REPORTER.name]}` },
  });
  assert.equal(res.status, 200, `HEAD ${uploadUrl}`);
  return Number(res.headers.get('upload-offset'));
}

// Records, in the page, every state and processing state each row goes through (across
// reloads: it is an init script), so that short-lived ones are not missed.
async function recordRowStates(context) {
  await context.addInitScript(() => {
    window.rowStates = [];
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target.classList?.contains('upload-item')) {
          window.rowStates.push(`${r.target.dataset.file} ${r.attributeName} ${r.target.getAttribute(r.attributeName)}`);
        }
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-processing'] });
  });
}

const rowStates = (page, file) => page.evaluate((name) => window.rowStates
  .filter((s) => s.startsWith(`${name} `)).map((s) => s.slice(name.length + 1)), path.basename(file));

// The id of the video a row links to, once it is ready.
async function readyVideoId(page, file) {
  const link = row(page, file).locator('.item-status a');
  await row(page, file).and(page.locator('[data-state="ready"]')).waitFor({ timeout: WAIT_MS }).catch(async (e) => {
    throw new Error(`${e.message}\nrow: ${await row(page, file).textContent()}\nserver log:\n${room.logTail()}`);
  });
  return new URL(await link.getAttribute('href'), room.base).searchParams.get('id');
}

function assertOriginal(id, file) {
  const folder = path.join(room.dataDir, 'originals', id);
  const originals = fs.readdirSync(folder);
  assert.equal(originals.length, 1, `one original: ${originals}`);
  assert.equal(sha256(path.join(folder, originals[0])), sha256(file), `the stored original of ${id} is ${path.basename(file)}`);
}

test('two files at once, one interrupted by a reload and resumed; both become ready (Vietnamese)', { timeout: 600_000 }, async (t) => {
  const context = await room.browser.newContext();
  await recordRowStates(context);
  const { page, problems } = await room.openPage('/upload.html', { context });
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.type()); d.accept(); });
  await signIn(page);
  assert.equal(await page.locator('html').getAttribute('lang'), 'vi');
  assert.equal(await page.locator('#queue').isVisible(), false, 'no list before a file is picked');

  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = (uploadThroughput) => cdp.send('Network.emulateNetworkConditions',
    { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await throttle(SLOW_UPLOAD);

  // Two files in one pick: two rows, titles from the file names.
  await page.setInputFiles('#file', [FIRST, SECOND]);
  await page.locator('#items .upload-item').nth(1).waitFor();
  assert.equal(await row(page, FIRST).locator('.item-title').inputValue(), 'moviepy_chaplin');
  assert.equal(await row(page, SECOND).locator('.item-title').inputValue(), 'moviepy_big_buck_bunny_432_433');
  assert.equal(await page.locator('#reporter').count(), 0, 'no reporter field: the uploader is the account');
  await row(page, FIRST).locator('.item-title').fill(FIRST_TITLE);
  await page.fill('#description', DESCRIPTION);
  await page.fill('#location', 'Lai Châu');

  const created = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/files/');
  await page.click('#start');
  const uploadUrl = (await created).headers().location;
  assert.match(uploadUrl, /^\/files\/[A-Za-z0-9_-]+$/);
  const size = fs.statSync(FIRST).size;

  // Sent one at a time: the second waits while the first goes; the first's bar moves.
  const bar = row(page, FIRST).locator('progress.item-bar');
  const firstValue = Number(await page.waitForFunction((b) => b.value > 0 && b.value < 100 && b.value, await bar.elementHandle())
    .then((h) => h.jsonValue()));
  assert.equal(await row(page, SECOND).getAttribute('data-state'), 'queued', 'the second file waits its turn');
  await page.waitForFunction(([b, v]) => b.value > v && b.value < 100, [await bar.elementHandle(), firstValue]);
  assert.match(await row(page, FIRST).locator('.item-bytes').textContent(), / \/ 761 kB$/);

  // Reload mid-way (the server commits the offset of a request when it ends, so the page's bar
  // tells when part is sent); the browser asks first. The dropped request's bytes are kept.
  await page.waitForFunction((b) => b.value >= 20 && b.value <= 80, await bar.elementHandle());
  await page.reload();
  assert.ok(dialogs.includes('beforeunload'), `the page asked before leaving during an upload: ${dialogs}`);
  const kept = await waitFor(async () => {
    const offset = await serverOffset(uploadUrl);
    return offset > 0 && offset < size && offset;
  }, 'the server to hold part of the first file', WAIT_MS);
  await throttle(-1);

  // The unfinished upload is listed, with what the server has, and the page asks for the file.
  await page.locator('#form').waitFor({ state: 'visible' });
  const listed = page.locator('#unfinished-list li[data-file="moviepy_chaplin.mp4"]');
  await listed.waitFor();
  assert.match(await listed.textContent(), /761 kB/);
  assert.match(await page.locator('#unfinished').textContent(), /chọn lại đúng tệp đó/);
  assert.deepEqual(await untranslated(page, 'vi', USER_DATA), [], 'upload.html after a reload: text in English');

  // Both picked again: the first continues from the server's offset, the second starts.
  const resumeOffsets = [];
  page.on('response', (r) => {
    if (r.request().method() === 'HEAD' && r.url().endsWith(uploadUrl)) resumeOffsets.push(Number(r.headers()['upload-offset']));
  });
  const patchOffsets = [];
  page.on('request', (r) => {
    if (r.method() === 'PATCH' && r.url().endsWith(uploadUrl)) patchOffsets.push(Number(r.headers()['upload-offset']));
  });
  await page.setInputFiles('#file', [FIRST, SECOND]);
  await row(page, SECOND).waitFor();
  await row(page, FIRST).locator('.item-status', { hasText: 'trước đây' }).waitFor();
  assert.equal(await row(page, FIRST).locator('.item-title').inputValue(), FIRST_TITLE, 'the title sent before');
  await listed.waitFor({ state: 'detached' });
  await page.fill('#description', DESCRIPTION);
  await page.fill('#location', 'Lai Châu');
  await page.click('#start');

  const firstId = await readyVideoId(page, FIRST);
  const secondId = await readyVideoId(page, SECOND);
  assert.equal(firstId, uploadUrl.split('/').pop(), 'the first video is the resumed upload');
  assert.ok(resumeOffsets.length > 0 && resumeOffsets[0] > 0, `the page asked the server's offset and it was > 0: ${resumeOffsets}`);
  assert.ok(patchOffsets.length > 0 && patchOffsets.every((o) => o >= kept), `PATCHes from the kept offset ${kept}: ${patchOffsets}`);
  t.diagnostic(`kept ${kept} of ${size} bytes; offsets at resume: HEAD ${resumeOffsets}, PATCH ${patchOffsets}`);

  // Each row showed its processing before ready, and ended with its link.
  const firstStates = await rowStates(page, FIRST);
  assert.ok(firstStates.includes('data-processing queued') && firstStates.includes('data-processing processing'),
    `the first row showed queued and processing: ${firstStates}`);
  assert.ok((await rowStates(page, SECOND)).includes('data-processing queued'));
  for (const file of [FIRST, SECOND]) {
    assert.match(await row(page, file).locator('.item-status').textContent(), /Đã tải lên và sẵn sàng/);
    assert.equal(await row(page, file).locator('progress.item-bar').evaluate((b) => b.value), 100);
    assert.equal(await row(page, file).locator('.item-pause').isVisible(), false, 'no Pause once uploaded');
  }

  // The videos: the reporter's, with the page's details; the originals are the files.
  const first = await room.getVideo(firstId);
  const second = await room.getVideo(secondId);
  assert.equal(first.title, FIRST_TITLE);
  assert.equal(second.title, 'moviepy_big_buck_bunny_432_433');
  for (const v of [first, second]) {
    assert.equal(v.status, 'ready');
    assert.equal(v.reporter, REPORTER.display, 'the signed-in reporter');
    assert.equal(v.description, DESCRIPTION);
    assert.equal(v.location, 'Lai Châu');
  }
  assertOriginal(firstId, FIRST);
  assertOriginal(secondId, SECOND);
  const mine = await room.api(REPORTER.name, '/api/v1/videos?mine=1');
  assert.deepEqual(mine.body.videos?.map((v) => v.id).sort() ?? mine.body, [firstId, secondId].sort());

  assert.deepEqual(await untranslated(page, 'vi', USER_DATA), [], 'upload.html: text in English');
  assert.deepEqual(problems, [], `errors on upload.html:\n${problems.join('\n')}`);
  await context.close();
});

test('a dropped file uploads through a lost connection and becomes ready; a file over the limit is refused with both sizes (English)', { timeout: 300_000 }, async () => {
  const { page, problems, context } = await room.openPage('/upload.html', { lang: 'en' });
  await signIn(page);
  assert.equal(await page.locator('#start').textContent(), 'Upload');

  // A drop with a DataTransfer built in the page, holding the clip's bytes.
  const bytes = fs.readFileSync(SECOND).toString('base64');
  await page.evaluate(({ name, b64 }) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([data], name, { type: 'video/webm' }));
    const zone = document.getElementById('drop');
    zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    window.highlighted = zone.classList.contains('over');
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, { name: path.basename(SECOND), b64: bytes });
  assert.equal(await page.evaluate(() => window.highlighted), true, 'the drop zone shows where to drop');
  await row(page, SECOND).waitFor();
  assert.equal(await page.locator('#drop').getAttribute('class'), 'drop-zone');

  // Over the limit: refused at once, with the file's size and the server's limit.
  await page.setInputFiles('#file', TOO_BIG);
  await row(page, TOO_BIG).locator('.item-status.error', { hasText: 'it is 1 MB, and the server takes files up to 800 kB' }).waitFor();
  assert.equal(await row(page, TOO_BIG).getAttribute('data-state'), 'refused');

  // Offline when Upload is pressed (Chromium's offline emulation does not cut a request already
  // sending, so the link is down from the start): the row says the connection is lost and when
  // it retries, and keeps trying (tus-js-client alone gives up at once while the browser says it
  // is offline); back online, the upload goes through by itself.
  await context.setOffline(true);
  await page.click('#start');
  await row(page, SECOND).locator('.item-status.error', { hasText: /^Connection lost, retrying in \d+ s…$/ }).waitFor();
  assert.equal(await row(page, SECOND).getAttribute('data-state'), 'uploading', 'still going');
  await context.setOffline(false);
  const id = await readyVideoId(page, SECOND);
  assert.match(await row(page, SECOND).locator('.item-status').textContent(), /Uploaded and ready\. Open the watch page/);
  assertOriginal(id, SECOND);
  assert.equal(await row(page, TOO_BIG).getAttribute('data-state'), 'refused', 'never sent');
  assert.deepEqual(await untranslated(page, 'en', USER_DATA), [], 'upload.html in English: text in Vietnamese');
  // The requests that failed while offline are the browser's own console lines.
  const other = problems.filter((p) => !/net::ERR_INTERNET_DISCONNECTED/.test(p));
  assert.deepEqual(other, [], `errors on upload.html:\n${problems.join('\n')}`);
  await context.close();
});

test('pause lets the next file go, resume continues from the server, cancel ends the upload on the server', { timeout: 300_000 }, async () => {
  const { page, problems, context } = await room.openPage('/upload.html');
  page.on('dialog', (d) => d.accept());
  await signIn(page);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: SLOW_UPLOAD });
  const OTHER = path.join(MEDIA_DIR, 'nomexif_3gp_640x360.3gp');
  const urls = {};
  page.on('response', (r) => {
    if (r.request().method() === 'POST' && new URL(r.url()).pathname === '/files/') {
      urls[Object.keys(urls).length ? OTHER : FIRST] = r.headers().location;
    }
  });
  const patchOffsets = [];
  page.on('request', (r) => { if (r.method() === 'PATCH') patchOffsets.push([r.url(), Number(r.headers()['upload-offset'])]); });
  await page.setInputFiles('#file', [FIRST, OTHER]);
  await page.click('#start');
  const barOf = async (file) => row(page, file).locator('progress.item-bar').elementHandle();
  await page.waitForFunction((b) => b.value >= 5, await barOf(FIRST));

  // Pausing the first lets the second go.
  await row(page, FIRST).locator('.item-pause', { hasText: 'Tạm dừng' }).click();
  assert.equal(await row(page, FIRST).getAttribute('data-state'), 'paused');
  await page.waitForFunction((b) => b.value >= 5, await barOf(OTHER));
  assert.equal(await row(page, OTHER).getAttribute('data-state'), 'uploading');

  // Cancelling the second ends its upload on the server.
  await row(page, OTHER).locator('.item-cancel').click();
  await row(page, OTHER).waitFor({ state: 'detached' });
  await waitFor(async () => {
    const res = await fetch(new URL(urls[OTHER], room.base), {
      method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${room.tokens[REPORTER.name]}` },
    });
    return res.status === 404;
  }, 'the cancelled upload to be gone from the server', WAIT_MS);

  // Resuming the first continues from what the server kept.
  const kept = await serverOffset(urls[FIRST]);
  assert.ok(kept > 0, `the server kept what arrived before the pause: ${kept}`);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await row(page, FIRST).locator('.item-pause', { hasText: 'Tiếp tục' }).click();
  await row(page, FIRST).locator('.item-status a[href^="watch.html"]').waitFor({ timeout: WAIT_MS });
  const last = patchOffsets.filter(([u]) => u.endsWith(urls[FIRST])).pop();
  assert.ok(last[1] >= kept, `the last PATCH started at the kept offset ${kept}: ${last}`);
  assertOriginal(urls[FIRST].split('/').pop(), FIRST);
  // Until the server has finished with a request that was cut (Pause, Cancel), the next one on
  // that upload gets 423 and is retried: the browser's own console lines.
  const other = problems.filter((p) => !/Failed to load resource: .* 423/.test(p));
  assert.deepEqual(other, [], `errors on upload.html:\n${problems.join('\n')}`);
  await context.close();
});

test('an ended session and a full quota are said clearly; signing in again continues the upload', { timeout: 300_000 }, async () => {
  // A server of its own, where the reporter may keep 800 kB: the small clip fits, the large one
  // then does not.
  const quotaRoom = await startNewsroom({ users: [REPORTER], serveArgs: ['--upload-quota', '800000'], prefix: 'upload-quota' });
  try {
    const { page, problems, context } = await quotaRoom.openPage('/upload.html');
    await signIn(page);
    await page.setInputFiles('#file', SECOND);
    // Signed out behind the page's back (another tab, an expired session): Upload gets 401.
    await page.evaluate(() => fetch('/api/v1/session', { method: 'DELETE' }));
    await page.click('#start');
    const status = row(page, SECOND).locator('.item-status.error', { hasText: 'Phiên đăng nhập đã hết' });
    await status.waitFor();
    assert.equal(await status.locator('a').getAttribute('href'), '#signin');
    assert.equal(await row(page, SECOND).getAttribute('data-state'), 'stopped');
    await page.locator('#signin').waitFor({ state: 'visible' });
    await signIn(page);
    await row(page, SECOND).locator('.item-status a[href^="watch.html"]').waitFor();  // uploaded once signed in

    // 86 kB in use of 800 kB: the 761 kB clip is refused, saying the three sizes.
    await page.setInputFiles('#file', FIRST);
    await page.click('#start');
    await row(page, FIRST).locator('.item-status.error', {
      hasText: 'tài khoản của bạn đã dùng 86 kB trong hạn mức 800 kB, không đủ chỗ cho 761 kB',
    }).waitFor();
    assert.equal(await row(page, FIRST).getAttribute('data-state'), 'refused');
    assert.equal(await row(page, FIRST).locator('.item-pause').isVisible(), false, 'no Resume for a refused file');
    // The 401 and 413 answers are the browser's own console lines.
    const other = problems.filter((p) => !/Failed to load resource: .* (401|413)/.test(p));
    assert.deepEqual(other, [], `errors on upload.html:\n${problems.join('\n')}`);
    await context.close();
  } finally {
    await quotaRoom.stop();
  }
});
