// signin.html and dashboard.html in Debian's Chromium against a real `newsreel serve` with
// accounts (lib/newsroom.mjs):
//
//   * a reporter signs in through signin.html (in Vietnamese) and lands on the dashboard: their
//     own uploads only (another reporter's published video is not there), their failed upload (a text
//     file named .mp4) with its reason; Retry queues it again, the page follows it through
//     queued/processing back to failed with a new end time, without a reload;
//   * an editor signs in (in English) and sees everyone's videos: edits a title, publishes a
//     draft (checked through the API), cancels a deletion (the video stays) then confirms one
//     (the video is gone);
//   * while a clip transcodes, its row goes processing -> ready on the open page, by itself;
//   * an admin adds an account (its password shown once, and it signs in) and an API token
//     (shown once, works, not shown after a reload), then revokes it (refused from then on);
//   * an anonymous visit to dashboard.html goes to signin.html?next=dashboard.html, a `next`
//     to another site is ignored, the header links follow the role, signing out works;
//   * changing one's password: the wrong current password is said, the old password stops
//     working and the new one works; a throttled account is told when to try again;
//   * offline, the dashboard says the connection is lost and retrying, and clears it once back.
//   No page errors (only the refusals the test provokes), nothing in the other language.
//
//   cd tests/e2e && NEWSREEL_BIN=../../build/app/newsreel node --test dashboard.test.mjs
//
// Timeouts only bound waiting; nothing asserts how fast anything is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { untranslated } from './lib/i18n.mjs';
import { WAIT_MS, startNewsroom } from './lib/newsroom.mjs';
import { MEDIA_DIR, waitFor } from './lib/tools.mjs';

const REPORTER = { name: 'lan', role: 'reporter', password: 'mật khẩu của Lan 2026', display: 'Nguyễn Thị Lan' };
const OTHER = { name: 'minh', role: 'reporter', password: 'mật khẩu của Minh 2026', display: 'Trần Văn Minh' };
const EDITOR = { name: 'editor', role: 'editor', password: 'mật khẩu biên tập 2026', display: 'Phạm Biên Tập' };
const ADMIN = { name: 'quantri', role: 'admin', password: 'mật khẩu quản trị 2026', display: 'Quản Trị' };
const THROTTLED = { name: 'khoa', role: 'reporter', password: 'mật khẩu của Khoa 2026' };

const OWN_TITLE = 'Lũ quét ở Sơn La';
const FAIL_TITLE = 'Ghi chú hiện trường';
const OTHER_TITLE = 'Cháy chợ Đồng Xuân';
const RENAMED = 'Cháy chợ Đồng Xuân, Hà Nội';
const LATE_TITLE = 'Mưa lớn ở Lào Cai';
const NAMES = [REPORTER.display, OTHER.display, EDITOR.display, ADMIN.display];
const TITLES = [OWN_TITLE, FAIL_TITLE, OTHER_TITLE, RENAMED, LATE_TITLE];

let room = null;
const ids = {};  // own, fail, other: video ids

// Pages may log the refusals the test provokes (a wrong password, a deleted video's 404);
// anything else is a failure.
const unexpected = (problems) =>
  problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|404|429)/.test(p));

// Uploads `bytes` (or the file `file` of the shared media) with tus as `user`; resolves with the
// video's id (the upload's).
async function upload(user, { file, bytes, filename, title }) {
  const data = bytes ?? fs.readFileSync(path.join(MEDIA_DIR, file));
  const meta = (k, v) => `${k} ${Buffer.from(v).toString('base64')}`;
  const auth = { Authorization: `Bearer ${room.tokens[user]}`, 'Tus-Resumable': '1.0.0' };
  const created = await fetch(`${room.base}/files/`, {
    method: 'POST',
    headers: { ...auth, 'Upload-Length': String(data.length), 'Upload-Metadata': [meta('filename', filename ?? file), meta('title', title)].join(',') },
  });
  assert.equal(created.status, 201, `tus create: ${await created.text()}`);
  const location = created.headers.get('location');
  const sent = await fetch(new URL(location, room.base), {
    method: 'PATCH', body: data,
    headers: { ...auth, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
  });
  assert.equal(sent.status, 204, `tus PATCH: ${await sent.text()}`);
  return location.split('/').filter(Boolean).pop();
}

async function waitForStatus(id, status) {
  return waitFor(async () => {
    const v = await room.getVideo(id);
    return v.status === status ? v : null;
  }, `video ${id} to be ${status}`, WAIT_MS);
}

// Signs `user` in with signin.html (opened at `pathAndQuery`) and waits for the dashboard.
async function signIn(user, { lang = 'vi', pathAndQuery = '/signin.html?next=dashboard.html' } = {}) {
  const opened = await room.openPage(pathAndQuery, { lang });
  const { page } = opened;
  await page.locator('#signin-form').waitFor({ state: 'visible' });
  await page.fill('#signin-name', user.name);
  await page.fill('#signin-password', user.password);
  await page.click('#signin-button');
  await page.waitForURL(/\/dashboard\.html$/);
  await page.locator('#videos-section').waitFor({ state: 'visible' });
  return opened;
}

// The data-status values a video's row takes from now on, recorded by the page itself.
async function recordStatuses(page) {
  await page.evaluate(() => {
    window.statusLog = [];
    new MutationObserver((changes) => {
      for (const c of changes) {
        const row = c.target;
        if (c.attributeName === 'data-status' && row.dataset?.id) window.statusLog.push([row.dataset.id, row.dataset.status]);
      }
      for (const row of document.querySelectorAll('#videos li[data-id]')) {
        const pct = row.querySelector('progress')?.value;
        if (pct !== undefined) window.statusLog.push([row.dataset.id, `progress:${pct}`]);
      }
    }).observe(document.getElementById('videos'), { subtree: true, attributes: true, childList: true, attributeFilter: ['data-status', 'value'] });
  });
}

before(async () => {
  room = await startNewsroom({ users: [REPORTER, OTHER, EDITOR, ADMIN, THROTTLED], prefix: 'dashboard' });
  ids.fail = await upload(REPORTER.name, { bytes: Buffer.from('Ghi chú: phỏng vấn trưởng bản lúc 9 giờ.\n'.repeat(200)), filename: 'ghi-chu.mp4', title: FAIL_TITLE });
  ids.own = await upload(REPORTER.name, { file: 'nomexif_3gp_640x360.3gp', title: OWN_TITLE });
  ids.other = await upload(OTHER.name, { file: 'nomexif_mkv_640x360.mkv', title: OTHER_TITLE });
  // Published, so that only the dashboard's "mine" keeps it off the reporter's list.
  const published = await room.api('editor', `/api/v1/videos/${ids.other}`, { method: 'PATCH', body: { visibility: 'published' } });
  assert.equal(published.status, 200);
});

after(async () => {
  await room?.stop();
});

test('a reporter signs in in Vietnamese and sees only their own videos; a failed one says why and Retry runs it again', async () => {
  const failed = await waitForStatus(ids.fail, 'failed');
  assert.ok(failed.failure_reason, 'the API gives a reason');
  const { page, problems } = await signIn(REPORTER);

  const own = page.locator(`#videos li[data-id="${ids.own}"]`);
  const fail = page.locator(`#videos li[data-id="${ids.fail}"]`);
  await own.waitFor();
  await fail.locator('.reason').waitFor();
  assert.equal(await page.locator('#videos-heading').textContent(), 'Video của bạn');
  assert.equal(await own.locator('h3').textContent(), OWN_TITLE);
  assert.equal(await page.locator(`#videos li[data-id="${ids.other}"]`).count(), 0, 'another reporter\'s video is not listed');
  assert.equal(await page.locator('#videos li').count(), 2, 'exactly the two uploads of this reporter');
  assert.equal(await own.locator('.reporter').textContent(), REPORTER.display, 'the upload is the signed-in reporter\'s, by name');
  // A reporter edits their own, but neither publishes nor deletes; no accounts section.
  assert.equal(await own.locator('button.edit').count(), 1);
  assert.equal(await page.locator('#videos button.publish, #videos button.delete').count(), 0);
  assert.equal(await page.locator('#admin-section').isVisible(), false);
  // The header: their links and name.
  assert.equal(await page.locator('nav a[data-nav-page="dashboard"]').getAttribute('aria-current'), 'page');
  assert.equal(await page.locator('nav a[data-nav-page="upload"]').textContent(), 'Tải lên');
  assert.equal(await page.locator('#nav-user').textContent(), REPORTER.display);

  // The failed upload: why, in the page's language (the API's failure_code), the server's own
  // words beside it, its attempts, and Retry.
  assert.equal(await fail.getAttribute('data-status'), 'failed');
  assert.equal(failed.failure_code, 'bad_input');
  assert.equal(await fail.locator('.reason').textContent(),
    'Lỗi: máy chủ không xử lý được tệp này (tệp hỏng, không phải video hay âm thanh, hoặc quá dài).');
  assert.equal(await fail.locator('.reason-detail').textContent(), `Chi tiết từ máy chủ (tiếng Anh): ${failed.failure_reason}`);
  await fail.locator('.attempts').waitFor();
  assert.match(await fail.locator('.attempts').textContent(), /^Lần thử \d+\/\d+, kết thúc lúc /);
  const jobBefore = failed.latest_job;
  assert.equal(await page.locator('#connection').isVisible(), false, 'no connection trouble reported');
  assert.deepEqual(await untranslated(page, 'vi', [OWN_TITLE, FAIL_TITLE, failed.failure_reason, ...NAMES]), [],
    'the dashboard in Vietnamese');

  await recordStatuses(page);
  await fail.locator('button.retry').click();
  await fail.locator('[role="status"]', { hasText: 'Đã xếp hàng xử lý lại.' }).waitFor();
  // The job runs again and fails again: the page goes through queued (or processing) back to
  // failed, with the job's new end, and offers Retry again.
  const again = await waitFor(async () => {
    const v = await room.getVideo(ids.fail);
    return v.status === 'failed' && v.latest_job.finished_at > jobBefore.finished_at ? v : null;
  }, 'the retried job to fail again', WAIT_MS);
  assert.equal(again.latest_job.id, jobBefore.id, 'the same job, run again');
  await page.waitForFunction(([id, at]) => document.querySelector(`#videos li[data-id="${id}"]`)?.dataset.jobFinished === String(at),
    [ids.fail, again.latest_job.finished_at], { timeout: WAIT_MS });
  const seen = (await page.evaluate(() => window.statusLog)).filter(([id]) => id === ids.fail).map(([, s]) => s);
  assert.ok(seen.some((s) => s === 'queued' || s === 'processing'), `the row showed the retry under way: ${seen}`);
  assert.equal(seen.at(-1), 'failed', `the row ends failed: ${seen}`);
  assert.equal(await fail.locator('.reason').textContent(),
    'Lỗi: máy chủ không xử lý được tệp này (tệp hỏng, không phải video hay âm thanh, hoặc quá dài).');
  assert.equal(await fail.locator('.reason-detail').textContent(), `Chi tiết từ máy chủ (tiếng Anh): ${again.failure_reason}`);
  assert.equal(await fail.locator('button.retry').count(), 1, 'Retry is offered again');
  assert.equal(await page.evaluate(() => Array.isArray(window.statusLog)), true, 'no reload happened');
  assert.deepEqual(unexpected(problems), [], `errors on the reporter's dashboard:\n${problems.join('\n')}`);
  await page.context().close();
});

test('a reporter sees their unfinished uploads (no one else\'s) and can discard one', async () => {
  // Lan sends 1,000 of 5,000 bytes; Minh starts one too. Only Lan's is on Lan's dashboard.
  const start = async (user, title, sent) => {
    const auth = { Authorization: `Bearer ${room.tokens[user]}`, 'Tus-Resumable': '1.0.0' };
    const created = await fetch(`${room.base}/files/`, {
      method: 'POST',
      headers: { ...auth, 'Upload-Length': '5000', 'Upload-Metadata': `title ${Buffer.from(title).toString('base64')}` },
    });
    assert.equal(created.status, 201);
    const location = created.headers.get('location');
    if (sent) {
      const patched = await fetch(new URL(location, room.base), {
        method: 'PATCH', body: Buffer.alloc(sent),
        headers: { ...auth, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      });
      assert.equal(patched.status, 204);
    }
    return location;
  };
  const mine = await start(REPORTER.name, 'Đường lên Sìn Hồ', 1000);
  const minh = await start(OTHER.name, 'Chợ phiên Tam Đường', 0);
  const { page, problems } = await signIn(REPORTER);
  const id = mine.split('/').pop();
  const item = page.locator(`#uploads li[data-id="${id}"]`);
  await item.waitFor();
  assert.equal(await page.locator('#uploads-section').isVisible(), true);
  assert.equal(await item.locator('h3').textContent(), 'Đường lên Sìn Hồ');
  assert.match(await item.locator('p').first().textContent(), /^Đã gửi 1 kB \/ 5 kB \(20\s?%\)$/);
  assert.equal(await page.locator(`#uploads li[data-id="${minh.split('/').pop()}"]`).count(), 0, 'another reporter\'s upload is not listed');
  const reason = (await room.getVideo(ids.fail)).failure_reason;  // the server's words, in English
  assert.deepEqual(await untranslated(page, 'vi', [...NAMES, ...TITLES, 'Đường lên Sìn Hồ', reason]), []);

  await item.locator('button.discard').click();
  await page.locator('dialog#confirm #confirm-ok').click();
  await item.waitFor({ state: 'detached' });
  const head = await fetch(new URL(mine, room.base), {
    method: 'HEAD', headers: { Authorization: `Bearer ${room.tokens[REPORTER.name]}`, 'Tus-Resumable': '1.0.0' },
  });
  assert.equal(head.status, 404, 'the discarded upload is gone from the server');
  assert.equal(await page.locator('#uploads-section').isVisible(), false, 'no section once nothing is left');
  assert.deepEqual(unexpected(problems), [], `errors on the reporter's dashboard:\n${problems.join('\n')}`);
  await page.context().close();
});

let editorPage = null;  // open from the editor's test to the progress test

test('an editor signs in in English, sees every video, edits a title, publishes a draft and deletes after confirming', async () => {
  editorPage = await signIn(EDITOR, { lang: 'en', pathAndQuery: '/signin.html' });
  const { page, problems } = editorPage;
  for (const id of [ids.own, ids.fail, ids.other]) await page.locator(`#videos li[data-id="${id}"]`).waitFor();
  assert.equal(await page.locator('#videos-heading').textContent(), 'All videos');
  assert.equal(await page.locator('#admin-section').isVisible(), false, 'accounts are for admins');
  assert.deepEqual(await untranslated(page, 'en', [OWN_TITLE, FAIL_TITLE, OTHER_TITLE, ...NAMES,
    (await room.getVideo(ids.fail)).failure_reason]), [], 'the dashboard in English');

  // Edit a title inline.
  const other = page.locator(`#videos li[data-id="${ids.other}"]`);
  await other.locator('button.edit').click();
  await other.locator('form.edit input[name="title"]').fill(RENAMED);
  // The row is redrawn while its form is open (here another editor's change comes over /ws; a
  // job that ends does the same): the field being typed in keeps its focus and its letters.
  const place = other.locator('form.edit input[name="location"]');
  await place.focus();
  await page.keyboard.type('Hà ');
  const elsewhere = await room.api(EDITOR.name, `/api/v1/videos/${ids.other}`, { method: 'PATCH', body: { reporter: 'Tran Van B' } });
  assert.equal(elsewhere.status, 200, JSON.stringify(elsewhere.body));
  await other.locator('.dash-main .reporter', { hasText: 'Tran Van B' }).waitFor();
  assert.equal(await place.evaluate((e) => e === document.activeElement), true, 'the field keeps its focus through a redraw');
  await page.keyboard.type('Nội');
  assert.equal(await place.inputValue(), 'Hà Nội');
  await other.locator('form.edit button.save').click();
  await other.locator('[role="status"]', { hasText: 'Saved.' }).waitFor();
  assert.equal(await other.locator('h3').textContent(), RENAMED);
  assert.equal(await other.locator('form.edit').count(), 0, 'the form closes');
  const renamed = await room.getVideo(ids.other);
  assert.equal(renamed.title, RENAMED);
  assert.equal(renamed.location, 'Hà Nội');

  // Publish the reporter's draft.
  const own = page.locator(`#videos li[data-id="${ids.own}"]`);
  assert.equal(await own.getAttribute('data-visibility'), 'draft', 'an upload starts as a draft');
  await own.locator('button.publish').click();
  await page.locator(`#videos li[data-id="${ids.own}"][data-visibility="published"]`).waitFor();
  assert.equal(await own.locator('button.publish').textContent(), 'Unpublish');
  assert.equal((await room.getVideo(ids.own)).visibility, 'published');

  // Delete: cancelling keeps the video, confirming removes it.
  await other.locator('button.delete').click();
  const dialog = page.locator('dialog#confirm');
  await dialog.waitFor({ state: 'visible' });
  assert.equal(await dialog.locator('h2').textContent(), `Delete “${RENAMED}”?`);
  await dialog.locator('#confirm-cancel').click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await other.count(), 1, 'still listed after Cancel');
  assert.equal((await room.api('editor', `/api/v1/videos/${ids.other}`)).status, 200, 'still there after Cancel');
  await other.locator('button.delete').click();
  await dialog.locator('#confirm-ok').click();
  await page.locator('#message', { hasText: `“${RENAMED}” was deleted.` }).waitFor();
  assert.equal(await other.count(), 0, 'the row is gone');
  assert.equal((await room.api('editor', `/api/v1/videos/${ids.other}`)).status, 404, 'deleted after confirming');

  // Filters: failed only, then a search.
  await page.selectOption('#filter-status', 'failed');
  await page.waitForFunction((id) => [...document.querySelectorAll('#videos li')].map((li) => li.dataset.id).join() === id, ids.fail);
  await page.selectOption('#filter-status', '');
  await page.fill('#filter-q', 'son la');
  await page.waitForFunction((id) => [...document.querySelectorAll('#videos li')].map((li) => li.dataset.id).join() === id, ids.own);
  await page.fill('#filter-q', '');
  await page.locator(`#videos li[data-id="${ids.fail}"]`).waitFor();
  assert.deepEqual(unexpected(problems), [], `errors on the editor's dashboard:\n${problems.join('\n')}`);
});

test('a transcode shows on the open dashboard as it runs, and ends ready without a reload', async () => {
  const { page, problems } = editorPage;
  await waitForStatus(ids.own, 'ready');  // one worker: the new clip is the only job from here
  await recordStatuses(page);
  const id = await upload(REPORTER.name, { file: 'videotestdata_1-video-streamable.mp4', title: LATE_TITLE });
  const row = page.locator(`#videos li[data-id="${id}"]`);
  await row.waitFor({ timeout: WAIT_MS });
  await page.locator(`#videos li[data-id="${id}"][data-status="ready"]`).waitFor({ timeout: WAIT_MS });
  const seen = (await page.evaluate(() => window.statusLog)).filter(([v]) => v === id).map(([, s]) => s);
  assert.ok(seen.includes('processing'), `the row showed processing before ready: ${seen}`);
  assert.ok(seen.indexOf('processing') < seen.lastIndexOf('ready'), `processing, then ready: ${seen}`);
  assert.equal(await row.locator('h3').textContent(), LATE_TITLE);
  assert.equal(await row.locator('.status').textContent(), 'Ready');
  assert.equal(await row.locator('progress').count(), 0, 'no progress bar once ready');
  assert.deepEqual(unexpected(problems), [], `errors on the editor's dashboard:\n${problems.join('\n')}`);
  await page.context().close();
});

test('an admin adds an account and a token (each shown once) and revokes the token', async () => {
  const { page, problems } = await signIn(ADMIN, { lang: 'en' });
  await page.locator('#admin-section').waitFor({ state: 'visible' });
  await page.locator(`#users li[data-name="${REPORTER.name}"]`).waitFor();

  await page.fill('#user-name', 'hoa');
  await page.fill('#user-display', 'Lê Thị Hoa');
  await page.selectOption('#user-role', 'editor');
  await page.click('#user-add');
  await page.locator('#users li[data-name="hoa"]').waitFor();
  const password = await page.inputValue('#user-secret input[data-secret="password"]');
  assert.ok(password.length >= 10, 'a generated password is shown');
  const signedIn = await fetch(`${room.base}/api/v1/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'hoa', password }),
  });
  assert.equal(signedIn.status, 200, 'the new account signs in with the password shown');
  assert.equal((await signedIn.json()).user.role, 'editor');
  assert.equal(await page.locator('#users li[data-name="hoa"] select.role').inputValue(), 'editor');

  await page.fill('#token-label', 'máy quay hiện trường');
  await page.fill('#token-days', '30');
  await page.click('#token-add');
  const secret = await page.inputValue('#token-secret input[data-secret="token"]');
  assert.match(secret, /^nrt_/, 'the token\'s secret is shown');
  const asToken = () => fetch(`${room.base}/api/v1/session`, { headers: { Authorization: `Bearer ${secret}` } });
  const who = await asToken();
  assert.equal(who.status, 200);
  assert.equal((await who.json()).user.name, ADMIN.name, 'the token works, as the admin');
  const tokenRow = page.locator('#tokens li', { hasText: 'máy quay hiện trường' });
  await tokenRow.waitFor();
  assert.deepEqual(await untranslated(page, 'en', [...TITLES, ...NAMES, 'Lê Thị Hoa', 'máy quay hiện trường', password, secret]), [],
    'the admin\'s dashboard in English');

  // Shown once: not after a reload.
  await page.reload();
  await tokenRow.waitFor();
  assert.equal(await page.locator('#token-secret').isVisible(), false);
  assert.equal((await page.content()).includes(secret), false, 'the secret is not on the page any more');
  assert.equal((await page.content()).includes(password), false, 'nor the password');

  await tokenRow.locator('button.revoke').click();
  await page.locator('#confirm-ok').click();
  await page.locator('#tokens li[data-revoked="true"]', { hasText: 'máy quay hiện trường' }).waitFor();
  assert.equal((await asToken()).status, 401, 'the revoked token is refused');
  assert.deepEqual(unexpected(problems), [], `errors on the admin's dashboard:\n${problems.join('\n')}`);
  await page.context().close();
});

test('anonymous visitors are sent to sign in, see only public links, and `next` stays on this server', async () => {
  const { page, problems, context } = await room.openPage('/dashboard.html');
  await page.waitForURL(/\/signin\.html\?next=dashboard\.html$/);
  await page.locator('#signin-form').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#message').textContent(), 'Hãy đăng nhập để mở trang đó.');
  await page.locator('nav a[data-nav-page="signin"]').waitFor();
  assert.deepEqual(await page.locator('nav a').evaluateAll((as) => as.map((a) => a.dataset.navPage)), ['videos', 'live', 'signin'],
    'no Upload or Dashboard for anonymous visitors');
  assert.deepEqual(await untranslated(page, 'vi'), [], 'the sign-in page in Vietnamese');

  // A wrong password is said; a `next` to another site is ignored.
  await page.goto(`${room.base}/signin.html?next=${encodeURIComponent('//evil.example/x')}`);
  await page.fill('#signin-name', REPORTER.name);
  await page.fill('#signin-password', 'not the password');
  await page.click('#signin-button');
  await page.locator('#signin-error', { hasText: 'Sai tên đăng nhập hoặc mật khẩu.' }).waitFor();
  await page.fill('#signin-password', REPORTER.password);
  await page.click('#signin-button');
  await page.waitForURL(`${room.base}/dashboard.html`);

  // The header of another page follows the session; its Sign out signs out.
  await page.goto(`${room.base}/`);
  await page.locator('#nav-signout').waitFor();
  assert.deepEqual(await page.locator('nav a').evaluateAll((as) => as.map((a) => a.dataset.navPage)),
    ['videos', 'live', 'upload', 'dashboard', 'account']);
  await page.click('#nav-signout');
  await page.waitForURL(/\/signin\.html\?signedout=1$/);
  await page.locator('#message', { hasText: 'Bạn đã đăng xuất.' }).waitFor();
  assert.equal((await context.cookies()).some((c) => c.name === 'newsreel_session' && c.value), false, 'the cookie is gone');
  await page.goto(`${room.base}/dashboard.html`);
  await page.waitForURL(/\/signin\.html\?next=dashboard\.html$/);
  assert.deepEqual(unexpected(problems), [], `errors on the sign-in page:\n${problems.join('\n')}`);
  await context.close();
});

test('a reporter changes their password: the wrong current one is said, the old stops working, the new one works', async () => {
  const { page, problems, context } = await signIn(OTHER, { lang: 'en' });
  await page.goto(`${room.base}/signin.html`);
  await page.locator('#account').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#account-name').textContent(), OTHER.display);
  assert.equal(await page.locator('#account-role').textContent(), 'Reporter');
  const fresh = 'một mật khẩu mới cho Minh';

  await page.fill('#current-password', 'not my password');
  await page.fill('#new-password', fresh);
  await page.fill('#repeat-password', fresh);
  await page.click('#password-button');
  await page.locator('#password-message', { hasText: 'The current password is wrong.' }).waitFor();

  await page.fill('#current-password', OTHER.password);
  await page.fill('#new-password', fresh);
  await page.fill('#repeat-password', `${fresh}!`);
  await page.click('#password-button');
  await page.locator('#password-message', { hasText: 'The two new passwords differ' }).waitFor();

  await page.fill('#repeat-password', fresh);
  await page.click('#password-button');
  await page.locator('#password-message', { hasText: 'Password changed.' }).waitFor();
  const signInWith = (password) => fetch(`${room.base}/api/v1/session`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: OTHER.name, password }),
  }).then((r) => r.status);
  assert.equal(await signInWith(OTHER.password), 401, 'the old password stops working');
  assert.equal(await signInWith(fresh), 200, 'the new one works');
  // This browser stays signed in.
  await page.goto(`${room.base}/dashboard.html`);
  await page.locator('#videos-section').waitFor({ state: 'visible' });
  assert.deepEqual(await untranslated(page, 'en', [...TITLES, ...NAMES]), [], 'the reporter\'s dashboard in English');
  assert.deepEqual(unexpected(problems), [], `errors:\n${problems.join('\n')}`);

  // Without a network the page says so (at its next check of the server), and clears it when
  // the server answers again.
  await context.setOffline(true);
  await page.locator('#connection', { hasText: 'The connection to the server was lost; retrying…' }).waitFor({ timeout: WAIT_MS });
  await context.setOffline(false);
  await page.locator('#connection').waitFor({ state: 'hidden', timeout: WAIT_MS });
  assert.equal(await page.locator('#videos-section').isVisible(), true);
  await context.close();
});

test('a throttled account is told when to try again', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${room.base}/api/v1/session`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: THROTTLED.name, password: `wrong ${i}` }),
    });
    assert.equal(r.status, 401);
  }
  const { page, problems, context } = await room.openPage('/signin.html');
  await page.fill('#signin-name', THROTTLED.name);
  await page.fill('#signin-password', THROTTLED.password);
  await page.click('#signin-button');
  const error = page.locator('#signin-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.textContent(), /^Sai quá nhiều lần\. Hãy thử lại sau \d+ phút\.$/);
  assert.equal(new URL(page.url()).pathname, '/signin.html', 'still on the sign-in page');
  assert.deepEqual(unexpected(problems), [], `errors:\n${problems.join('\n')}`);
  await context.close();
});
