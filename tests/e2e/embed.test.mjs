// Sharing and watching in Debian's headless Chromium against a real `newsreel serve`
// (issue 17, point 5):
//   * a partner site (a page of another origin) frames /embed/<id>, and an anonymous viewer
//     plays it there: the playhead moves, hls.js raises no error, the page logs none; its title
//     links to the watch page in a new tab;
//   * the watch page's share button gives the link at the current second (`t=`), copied to the
//     clipboard and shown in a field; that link opens the watch page at that second;
//   * the watch page's keyboard shortcuts: space pauses, l and the arrows seek, m mutes, ? lists
//     them, and none fires while typing in a field.
//
//   cd tests/e2e && NEWSREEL_BIN=../../build/app/newsreel node --test embed.test.mjs
//
// Timeouts only bound waiting; nothing here asserts how fast anything is.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { untranslated } from './lib/i18n.mjs';
import { WAIT_MS, hlsFaults, startNewsroom, waitForPlayhead } from './lib/newsroom.mjs';
import { startStaticServer } from './lib/static_server.mjs';

// 30 s at 480x270: long enough to seek 10 s both ways, quick to transcode.
const CLIP = { file: 'nomexif_webm_480.webm', title: 'Lũ về Mường La "<b>trực tiếp</b>"', visibility: 'published' };

let room, id;

before(async () => {
  room = await startNewsroom({ prefix: 'embed' });
  id = await room.importClip(CLIP);
  await room.waitUntilReady(id);
});

after(async () => {
  await room?.stop();
});

const video = (frameOrPage) => frameOrPage.evaluate(() => {
  const v = document.getElementById('video');
  return { time: v.currentTime, paused: v.paused, muted: v.muted, duration: v.duration, readyState: v.readyState };
});

test('a partner site frames /embed/<id> and an anonymous viewer plays it', { timeout: 300_000 }, async () => {
  const embedUrl = `${room.base}/embed/${id}`;
  const partner = await startStaticServer({
    pages: { '/': `<!doctype html><html lang="vi"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Cổng thông tin tỉnh</title></head>
<body><h1>Tin mới</h1><iframe id="player" src="${embedUrl}" width="640" height="360" allow="autoplay; fullscreen" allowfullscreen title="Video"></iframe></body></html>` },
  });
  // Opened on its own first (the harness's page records its errors), then framed by the partner.
  const { page, problems } = await room.openPage(`/embed/${id}`);
  await page.locator('h1 a#title').waitFor();
  assert.deepEqual(await untranslated(page, 'vi', [CLIP.title]), [], 'the embed page speaks Vietnamese');
  const missing = [];
  page.on('response', (r) => { if (r.status() >= 400) missing.push(`${r.status()} ${r.url()}`); });
  try {
    await page.goto(partner.url);
    const frame = await waitForFrame(page, embedUrl);
    const link = frame.locator('h1 a#title');
    await link.waitFor();
    assert.equal(await link.textContent(), CLIP.title);
    assert.equal(await link.getAttribute('href'), `${room.base}/watch.html?id=${id}`);
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.equal(await frame.title(), `${CLIP.title} — Newsreel`);
    await frame.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
    await waitForPlayhead(frame, 1.5);
    const before = (await video(frame)).time;
    await waitForPlayhead(frame, before + 0.5);
    assert.deepEqual(hlsFaults(await frame.evaluate(() => window.newsreel.errors)), [], 'hls.js errors in the embed');
    assert.equal(await frame.locator('#message').isVisible(), false, 'no message over the playing video');
    // No navigation bar in the embed: only the video and its title.
    assert.equal(await frame.locator('nav, header').count(), 0);
    assert.deepEqual(problems, [], `errors:\n${problems.join('\n')}\n${missing.join('\n')}`);
  } finally {
    await page.context().close();
    await partner.close();
  }
});

test('the share button gives the link at the current second, and that link starts there', { timeout: 300_000 }, async () => {
  const context = await room.browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  try {
    const { page, problems } = await room.openPage(`/watch.html?id=${id}`, { context });
    await page.locator('#share').waitFor();
    await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
    await waitForPlayhead(page, 3);
    await page.evaluate(() => document.getElementById('video').pause());
    const at = Math.floor((await video(page)).time);
    await page.click('#share');
    const shared = await page.inputValue('#share-url');
    assert.equal(shared, `${room.base}/watch.html?id=${id}&t=${at}`);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), shared, 'the link is on the clipboard');
    await page.locator('#share-status', { hasText: 'Đã chép liên kết' }).waitFor();
    assert.deepEqual(problems, [], `errors on watch.html:\n${problems.join('\n')}`);

    const opened = await room.openPage(shared.slice(room.base.length), { context });
    await opened.page.waitForFunction(() => document.getElementById('video').readyState >= 1, null, { timeout: WAIT_MS });
    await opened.page.waitForFunction((t) => Math.abs(document.getElementById('video').currentTime - t) < 0.6, at, { timeout: WAIT_MS });
    await opened.page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
    await waitForPlayhead(opened.page, at + 0.5);
    assert.deepEqual(hlsFaults(await opened.page.evaluate(() => window.newsreel.errors)), []);
    assert.deepEqual(opened.problems, [], `errors on the shared link:\n${opened.problems.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('keyboard shortcuts: space pauses, l and the arrows seek, m mutes, ? lists them; not while typing', { timeout: 300_000 }, async () => {
  const { page, problems, context } = await room.openPage(`/watch.html?id=${id}&t=12`);
  try {
    await page.locator('#actions').waitFor();
    await page.waitForFunction(() => document.getElementById('video').readyState >= 1, null, { timeout: WAIT_MS });
    await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
    await page.waitForFunction(() => !document.getElementById('video').paused, null, { timeout: WAIT_MS });

    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.getElementById('video').paused);
    const seekBy = async (key, by) => {
      const from = (await video(page)).time;
      await page.keyboard.press(key);
      await page.waitForFunction(({ target }) => Math.abs(document.getElementById('video').currentTime - target) < 0.3,
        { target: Math.max(0, from + by) }, { timeout: WAIT_MS });
    };
    await seekBy('l', 10);
    await seekBy('ArrowLeft', -5);
    await seekBy('j', -10);
    await seekBy('ArrowRight', 5);
    assert.equal((await video(page)).paused, true, 'seeking did not start playback');

    await page.keyboard.press('k');
    await page.waitForFunction(() => !document.getElementById('video').paused);
    await page.keyboard.press('k');
    await page.waitForFunction(() => document.getElementById('video').paused);
    await page.keyboard.press('m');
    assert.equal((await video(page)).muted, false, 'm unmuted the muted video');
    await page.keyboard.press('m');
    assert.equal((await video(page)).muted, true);

    // Typing in a field (here the share link) is typing, not commands.
    await page.click('#share');
    await page.focus('#share-url');
    const still = await video(page);
    for (const key of ['Space', 'k', 'l', 'm', 'ArrowLeft']) await page.keyboard.press(key);
    const after = await video(page);
    assert.deepEqual([after.paused, after.muted, after.time], [still.paused, still.muted, still.time]);

    // ? opens the list of shortcuts, worded in the page's language; Escape closes it.
    await page.evaluate(() => document.activeElement.blur());
    await page.keyboard.press('?');
    await page.waitForFunction(() => document.getElementById('shortcuts').open);
    const list = await page.locator('#shortcut-list').innerText();
    assert.match(list, /Phím cách/);
    assert.match(list, /Lùi 10 giây/);
    assert.deepEqual(await untranslated(page, 'vi', [CLIP.title, CLIP.file]), []);
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.getElementById('shortcuts').open);
    await page.click('[data-lang="en"]');
    await page.click('#shortcuts-button');
    assert.match(await page.locator('#shortcut-list').innerText(), /Back 10 seconds/);
    assert.deepEqual(problems, [], `errors on watch.html:\n${problems.join('\n')}`);
  } finally {
    await context.close();
  }
});

test('an unlisted video plays in its embed page through signed URLs', { timeout: 300_000 }, async () => {
  const unlisted = await room.importClip({ file: 'videotestdata_1-video-streamable.mp4', title: 'Chỉ ai có đường dẫn', visibility: 'unlisted' });
  await room.waitUntilReady(unlisted);
  const context = await room.browser.newContext();
  const media = [];  // every media request, from the first
  context.on('request', (r) => { if (r.url().includes('/media/')) media.push(r.url()); });
  try {
    const { page, problems } = await room.openPage(`/embed/${unlisted}`, { context });
    await page.locator('h1 a#title', { hasText: 'Chỉ ai có đường dẫn' }).waitFor();
    await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
    await waitForPlayhead(page, 0.5);
    assert.ok(media.length > 0);
    for (const url of media) assert.match(url, new RegExp(`/media/${unlisted}/~s\\.`), 'every media request is signed');
    assert.deepEqual(hlsFaults(await page.evaluate(() => window.newsreel.errors)), []);
    assert.deepEqual(problems, [], `errors on the embed page:\n${problems.join('\n')}`);
  } finally {
    await context.close();
  }
});

// The frame of `page` whose URL is `url`, once it is there.
async function waitForFrame(page, url) {
  for (let i = 0; i < 600; i++) {
    const frame = page.frames().find((f) => f.url() === url);
    if (frame) {
      await frame.waitForLoadState('load');
      return frame;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no frame at ${url}`);
}
