// The pages of web_player/ can be installed on a phone's home screen: Debian's Chromium (driven by
// playwright-core) against a real `newsreel serve` on a free port (no videos needed):
//
//   * every page links the same manifest, the icon and the apple-touch-icon, and sets a
//     theme-color;
//   * Chromium's own parser reads the manifest without errors, and Chromium finds the site
//     installable (no installability errors; a page without a manifest has some, so the check
//     is live);
//   * the manifest, fetched over HTTP, is application/json with the required fields: name,
//     short_name, a Vietnamese description, lang "vi", start_url "/", display "standalone";
//     its theme colour is the header's and its background colour the page's, as the browser
//     computes them from style.css;
//   * it declares a 192 and a 512 PNG icon and a maskable one; each answers 200 as image/png and
//     is a PNG of its declared size (read from the IHDR header); the maskable icon and the
//     apple-touch-icon are opaque to the corners (ffmpeg decodes them), since a mask or iOS
//     would show transparent corners black.
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/web_manifest.test.mjs
//
// Environment: NEWSREEL_BIN, NEWSREEL_CHROMIUM (default /usr/bin/chromium).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  NEWSREEL_BIN, REPO_ROOT, freePort, loadPlaywright, makeTempDir, removeDir, runOk, sleep, waitFor,
} from './lib/tools.mjs';

const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
const WEB_ROOT = path.join(REPO_ROOT, 'web_player');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PAGES = ['/', '/watch.html?id=zzzzzzzzzzzzzzzz', '/live.html', '/upload.html', '/signin.html'];

let server = null;     // {proc, base, log, exited}
let dataDir = null;
let profileDir = null;
let context = null;    // a persistent context: Chromium finds nothing installable in an incognito one

before(async () => {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN} (set NEWSREEL_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  const { chromium } = await loadPlaywright();

  dataDir = makeTempDir('manifest');
  profileDir = makeTempDir('manifest-profile');
  const port = await freePort();
  const proc = spawn(NEWSREEL_BIN, ['serve', '--data', dataDir, '--srt-port', '0', '--web-root', WEB_ROOT, '--host', '127.0.0.1',
    '--port', String(port), '--workers', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  server = { proc, log, base: `http://127.0.0.1:${port}`, exited: new Promise((r) => proc.on('exit', r)) };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`server exited: ${log.join('')}`);
    const r = await fetch(`${server.base}/healthz`).catch(() => null);
    return r?.status === 200;
  }, 'the server to answer /healthz', 20_000);
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
});

after(async () => {
  if (context) {
    const closed = await Promise.race([context.close().then(() => true), sleep(15_000).then(() => false)]);
    if (!closed) context.browser()?.process()?.kill('SIGKILL');
  }
  if (server && server.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    const stopped = await Promise.race([server.exited.then(() => true), sleep(15_000).then(() => false)]);
    if (!stopped) server.proc.kill('SIGKILL');
  }
  removeDir(dataDir);
  removeDir(profileDir);
});

// Opens `pathAndQuery`; returns the page, a CDP session on it, and the console errors it logs
// (Chromium reports a manifest or icon it cannot use there).
async function openPage(pathAndQuery) {
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(`${server.base}${pathAndQuery}`);
  const cdp = await context.newCDPSession(page);
  return { page, cdp, problems };
}

// What a page's <head> says about installing it, as absolute URLs.
const headLinks = (page) => page.evaluate(() => {
  const href = (sel) => document.querySelector(sel)?.href ?? null;
  return {
    manifest: href('link[rel="manifest"]'),
    icon: href('link[rel="icon"]'),
    appleTouchIcon: href('link[rel="apple-touch-icon"]'),
    themeColor: document.querySelector('meta[name="theme-color"]')?.content ?? null,
    headerColor: getComputedStyle(document.querySelector('header.top')).backgroundColor,
    pageColor: getComputedStyle(document.body).backgroundColor,
  };
});

// "#16181c" -> "rgb(22, 24, 28)", as getComputedStyle writes colours.
function cssRgb(hex) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  assert.ok(m, `not a #rrggbb colour: ${hex}`);
  return `rgb(${m.slice(1).map((h) => parseInt(h, 16)).join(', ')})`;
}

// Width and height from a PNG's signature and IHDR chunk; throws if the bytes are not a PNG.
function pngSize(bytes) {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(bytes.length >= 24 && bytes.subarray(0, 8).equals(signature), 'PNG signature');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR', 'IHDR is the first chunk');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

// Fetches an icon; asserts 200 and image/png; returns its size from the PNG header.
async function fetchPng(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  assert.equal(res.headers.get('content-type'), 'image/png', `content type of ${url}`);
  return pngSize(Buffer.from(await res.arrayBuffer()));
}

// The smallest alpha value of an image, decoded by ffmpeg from its URL (255: opaque everywhere).
async function minAlpha(url) {
  const { stdout } = await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-i', url, '-f', 'rawvideo', '-pix_fmt', 'rgba', '-'], { binary: true });
  assert.ok(stdout.length > 0 && stdout.length % 4 === 0, `ffmpeg decoded ${stdout.length} bytes of RGBA from ${url}`);
  let min = 255;
  for (let i = 3; i < stdout.length; i += 4) min = Math.min(min, stdout[i]);
  return min;
}

test('every page links the manifest, the icons and a theme colour; Chromium finds the site installable', { timeout: 300_000 }, async () => {
  const manifestUrl = `${server.base}/manifest.json`;
  for (const p of PAGES) {
    const { page, cdp, problems } = await openPage(p);
    const links = await headLinks(page);
    assert.equal(links.manifest, manifestUrl, `${p}: <link rel="manifest">`);
    assert.equal(links.icon, `${server.base}/icon-192.png`, `${p}: <link rel="icon">`);
    assert.equal(links.appleTouchIcon, `${server.base}/apple-touch-icon.png`, `${p}: <link rel="apple-touch-icon">`);
    assert.equal(cssRgb(links.themeColor), links.headerColor, `${p}: theme-color is the header's colour`);

    // Chromium's own reading of the manifest, and its verdict on installing the page.
    const parsed = await waitFor(async () => {
      const m = await cdp.send('Page.getAppManifest');
      return m.url ? m : null;
    }, `${p}: Chromium to find the manifest`, 60_000);
    assert.equal(parsed.url, manifestUrl);
    assert.deepEqual(parsed.errors, [], `${p}: Chromium's manifest errors`);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, [], `${p}: Chromium's installability errors`);

    // The watch page's API request for the unknown id is a 404 the browser logs itself.
    const other = problems.filter((m) => !/Failed to load resource: .* 404/.test(m));
    assert.deepEqual(other, [], `errors on ${p}:\n${other.join('\n')}`);
    await page.close();
  }

  // The same question about a page without a manifest gets an answer: the check above is live.
  const { page, cdp } = await openPage('/healthz');
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.ok(installabilityErrors.some((e) => e.errorId === 'no-manifest'), JSON.stringify(installabilityErrors));
  await page.close();
});

test('the manifest has the required fields, colours from style.css, and icons of their declared sizes', { timeout: 120_000 }, async () => {
  const res = await fetch(`${server.base}/manifest.json`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const manifest = JSON.parse(await res.text());

  assert.equal(manifest.name, 'Newsreel');
  assert.ok(typeof manifest.short_name === 'string' && manifest.short_name.length > 0 && manifest.short_name.length <= 12,
    `short_name fits under a home-screen icon: ${JSON.stringify(manifest.short_name)}`);
  assert.equal(manifest.lang, 'vi');
  assert.match(manifest.description, /tải tư liệu lên/, 'a Vietnamese description, with its diacritics');
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.display, 'standalone');

  // The colours a phone shows around the app (status bar, splash screen) are the pages' own.
  const { page } = await openPage('/');
  const { headerColor, pageColor } = await headLinks(page);
  await page.close();
  assert.equal(cssRgb(manifest.theme_color), headerColor, 'theme_color is the header bar\'s colour');
  assert.equal(cssRgb(manifest.background_color), pageColor, 'background_color is the page\'s colour');

  const icons = manifest.icons.map((icon) => ({ ...icon, url: new URL(icon.src, res.url).href, purpose: icon.purpose ?? 'any' }));
  const find = (size, purpose) => icons.find((i) => i.sizes.split(' ').includes(size) && i.purpose.split(' ').includes(purpose));
  assert.ok(find('192x192', 'any'), 'a 192x192 icon');
  assert.ok(find('512x512', 'any'), 'a 512x512 icon');
  assert.ok(icons.some((i) => i.purpose.split(' ').includes('maskable')), 'a maskable icon');
  for (const icon of icons) {
    assert.equal(icon.type, 'image/png', `${icon.src}: declared type`);
    const [width, height] = icon.sizes.split('x').map(Number);
    assert.deepEqual(await fetchPng(icon.url), { width, height }, `${icon.src}: size in the PNG header`);
    if (icon.purpose.split(' ').includes('maskable')) assert.equal(await minAlpha(icon.url), 255, `${icon.src}: opaque to the corners`);
  }

  const apple = `${server.base}/apple-touch-icon.png`;
  assert.deepEqual(await fetchPng(apple), { width: 180, height: 180 }, 'apple-touch-icon is 180x180');
  assert.equal(await minAlpha(apple), 255, 'apple-touch-icon is opaque to the corners');
});
