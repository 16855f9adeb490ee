// Every page in Vietnamese, checked by axe-core (issue 17): no violation of impact "serious" or
// "critical" (each one found is printed with its elements). The same visit saves a screenshot of
// the page at desktop (1280x800) and phone (390x844) width into $NEWSREEL_SCREENSHOT_DIR
// (default <repo>/build/screenshots); scripts/screenshots.sh copies them into docs/screenshots/.
//
//   cd tests/e2e && NEWSREEL_BIN=../../build/app/newsreel node --test a11y.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { WAIT_MS, startNewsroom } from './lib/newsroom.mjs';
import { REPO_ROOT } from './lib/tools.mjs';

// Every page and the state worth seeing it in. `path`: {video} and {stream} become the ids of a
// ready video and a live stream; `user`: signed in as that account first; `ready`: a selector
// that is visible once the page has drawn what it shows. A new page is added here.
const PAGES = [
  { name: 'index', path: '/', ready: '#grid .card img' },
  { name: 'watch', path: '/watch.html?id={video}', ready: '#info h1' },
  { name: 'embed', path: '/embed/{video}', ready: '#heading' },
  { name: 'signin', path: '/signin.html', ready: '#signin-form' },
  { name: 'upload-signin', path: '/upload.html', ready: '#signin' },
  { name: 'upload', path: '/upload.html', user: 'pv', ready: '#form' },
  { name: 'dashboard', path: '/dashboard.html', user: 'quantri', ready: '#videos li' },
  { name: 'live', path: '/live.html', ready: '.card, #list' },
  { name: 'live-stream', path: '/live.html?id={stream}', user: 'bientap', ready: '#manage' },
];
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } };
const SERIOUS = new Set(['serious', 'critical']);
const SCREENSHOT_DIR = path.resolve(process.env.NEWSREEL_SCREENSHOT_DIR || path.join(REPO_ROOT, 'build', 'screenshots'));
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const USERS = [
  { name: 'pv', role: 'reporter', password: 'mat-khau-phong-vien', display: 'Nguyễn Lan' },
  { name: 'bientap', role: 'editor', password: 'mat-khau-bien-tap', display: 'Trần Bích' },
  { name: 'quantri', role: 'admin', password: 'mat-khau-quan-tri', display: 'Lê Quản Trị' },
];

let room;
const ids = {};
before(async () => {
  room = await startNewsroom({ users: USERS, prefix: 'a11y' });
  ids.video = await room.importClip({
    file: 'moviepy_chaplin.mp4', title: 'Lũ quét ở Sơn La: người dân dựng lại nhà',
    description: 'Phóng sự của phóng viên thường trú tại Mường La.',
  });
  const second = await room.importClip({ file: 'nomexif_webm_480.webm', title: 'Chợ đêm Hà Giang sau mùa mưa' });
  const stream = await room.api('bientap', '/api/v1/live', { method: 'POST', body: { title: 'Trực tiếp: họp báo tỉnh', visibility: 'published' } });
  assert.equal(stream.status, 201, JSON.stringify(stream.body));
  ids.stream = stream.body.id;
  await room.waitUntilReady(ids.video);
  await room.waitUntilReady(second);
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
});
after(async () => { await room?.stop(); });

async function openAs({ user, path: pagePath }, viewport) {
  const context = await room.browser.newContext({ viewport, locale: 'vi-VN' });
  if (user) {
    const password = USERS.find((u) => u.name === user).password;
    const r = await context.request.post(`${room.base}/api/v1/session`, { data: { name: user, password }, headers: { Origin: room.base } });
    assert.equal(r.status(), 200, `sign in as ${user}: ${await r.text()}`);
  }
  const url = pagePath.replace('{video}', ids.video).replace('{stream}', ids.stream);
  return room.openPage(url, { context, lang: 'vi' });
}

for (const spec of PAGES) {
  test(`${spec.name}: no serious or critical axe-core violation; screenshots in Vietnamese`, { timeout: WAIT_MS }, async () => {
    const found = [];
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      const { page, problems, context } = await openAs(spec, viewport);
      await page.locator(spec.ready).first().waitFor({ state: 'visible' });
      await page.waitForLoadState('networkidle').catch(() => {});  // posters and fonts, when they come
      // Images drawn: nothing half-loaded in the picture.
      await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 30_000 }).catch(() => {});
      assert.equal(await page.evaluate(() => document.documentElement.lang), 'vi');
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${spec.name}-${size}.png`) });

      await page.addScriptTag({ path: AXE });
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of result.violations) {
        if (!SERIOUS.has(v.impact)) {
          console.log(`${spec.name} (${size}): also ${v.impact} ${v.id}: ${v.help}`);
          continue;
        }
        found.push(`${size}: ${v.id}`);
        console.log(`${spec.name} (${size}): ${v.impact} ${v.id}: ${v.help}\n` +
          v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('\n'));
      }
      assert.deepEqual(problems, [], 'no page errors');
      await context.close();
    }
    assert.deepEqual(found, [], 'no serious or critical violation at either width');
  });
}
