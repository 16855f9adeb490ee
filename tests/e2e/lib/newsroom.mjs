// One harness for the browser tests of the pages: a real `newsreel serve` on a free port with a
// temporary data directory and accounts made by the real CLI, Debian's Chromium through
// playwright-core, pages that record their own errors, and the catalog read through the API.
//
//   const room = await startNewsroom({ users: [{ name: 'pv', role: 'reporter', password: '...' }] });
//   const { page, problems } = await room.openPage('/');
//   ...
//   await room.stop();
//
// Timeouts only bound waiting; nothing here asserts how fast anything is.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { MEDIA_DIR, NEWSREEL_BIN, REPO_ROOT, freePort, makeTempDir, removeDir, run, runOk, sleep, waitFor } from './tools.mjs';

export const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
export const WEB_ROOT = path.join(REPO_ROOT, 'web_player');
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];
// hls.js ERROR events that are faults: every fatal one, and every other but the stalls hls.js
// recovered from by itself. On a busy machine hls.js abandons a fragment mid-download for a lower
// rung (`aborted`, its own INTERNAL_ABORTED, non-fatal: it loads the other rung's), which leaves
// a moment without media that it nudges past (bufferNudgeOnStall, bufferStalledError): that is
// the machine's speed, not the media, whose continuity conformance.test.mjs checks segment by
// segment. A hole in the media itself shows as bufferSeekOverHole (the cellular rung once had
// one at t=0), which stays a fault; so does any load error the server caused (fragLoadError...).
export const hlsFaults = (errors) =>
  errors.filter((e) => e.fatal || !['bufferNudgeOnStall', 'bufferStalledError', 'aborted'].includes(e.details));

// Upper bound for any one transcode or player wait on a busy machine.
export const WAIT_MS = Number(process.env.NEWSREEL_E2E_WAIT_MS || 180_000);

// Waits until the page's (or frame's) #video plays past `seconds` (or has ended, with
// `orEnded`). A timeout says where the player stood: playhead, paused, readyState, buffered
// ranges, hls.js's level and errors, the page's visibility and its shown message, so that a
// failure on a busy CI machine explains itself.
export async function waitForPlayhead(target, seconds, { orEnded = false, timeout = WAIT_MS } = {}) {
  try {
    await target.waitForFunction(({ s, e }) => {
      const v = document.getElementById('video');
      return v.currentTime > s || (e && v.ended);
    }, { s: seconds, e: orEnded }, { timeout });
  } catch (err) {
    const state = await target.evaluate(() => {
      const v = document.getElementById('video');
      const ranges = [];
      for (let i = 0; i < v.buffered.length; i++) ranges.push(`${v.buffered.start(i).toFixed(2)}-${v.buffered.end(i).toFixed(2)}`);
      const n = window.newsreel;
      return { currentTime: v.currentTime, paused: v.paused, ended: v.ended, readyState: v.readyState, networkState: v.networkState,
        duration: v.duration, buffered: ranges.join(' '), mediaError: v.error?.message ?? null, level: n?.hls?.currentLevel,
        hlsErrors: n?.errors, visibility: document.visibilityState,
        message: document.getElementById('message')?.hidden === false ? document.getElementById('message').textContent.trim() : null };
    }).catch((e) => ({ unreadable: e.message }));
    throw new Error(`the playhead did not pass ${seconds} s: ${err.message}\nplayer: ${JSON.stringify(state)}`);
  }
}

// Starts a server and a browser. `users`: [{name, role, password?, display?}] made with
// `newsreel user add` before the server starts; every user also gets an API token
// (room.tokens[name]). An editor named `editor` is always made for the harness's own API reads.
// `serveArgs`: extra `newsreel serve` flags. `browser: false` starts no Chromium.
export async function startNewsroom({ users = [], serveArgs = [], browser: wantBrowser = true, prefix = 'room' } = {}) {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN} (set NEWSREEL_BIN)`);
  for (const f of ['hls.js/dist/hls.min.js', 'tus-js-client/dist/tus.min.js']) {
    assert.ok(fs.existsSync(path.join(WEB_ROOT, 'node_modules', f)), `web_player/node_modules/${f} missing (run \`npm ci\` in web_player)`);
  }
  const dataDir = makeTempDir(prefix);
  const tokens = {};
  const all = users.some((u) => u.name === 'editor') ? users : [...users, { name: 'editor', role: 'editor' }];
  for (const u of all) {
    const args = ['user', 'add', u.name, '--role', u.role, '--data', dataDir];
    if (u.display) args.push('--display-name', u.display);
    if (u.password) args.push('--password-stdin');
    await runOk(NEWSREEL_BIN, args, u.password ? { input: `${u.password}\n` } : {});
    tokens[u.name] = (await runOk(NEWSREEL_BIN, ['token', 'create', u.name, '--data', dataDir])).stdout.trim();
  }
  const port = await freePort();
  const proc = spawn(NEWSREEL_BIN, ['serve', '--data', dataDir, '--srt-port', '0', '--web-root', WEB_ROOT,
    '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--threads', '1', '--job-poll-ms', '200',
    ...serveArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  const exited = new Promise((r) => proc.on('exit', r));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`server exited: ${log.join('')}`);
    const r = await fetch(`${base}/healthz`).catch(() => null);
    return r?.status === 200;
  }, 'the server to answer /healthz', 20_000);

  let browser = null;
  if (wantBrowser) {
    assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium)`);
    let chromium;
    try {
      ({ chromium } = await import('playwright-core'));
    } catch (e) {
      throw new Error(`playwright-core is not installed in tests/e2e/node_modules (run \`npm ci\` there): ${e.message}`);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
  }

  const room = {
    base, dataDir, proc, log, tokens, browser,
    logTail: (n = 3000) => log.join('').slice(-n),

    // Calls the API as `user` (a name from `users`, or null for anonymous); resolves with
    // {status, body} (body parsed when JSON).
    async api(user, apiPath, { method = 'GET', body } = {}) {
      const headers = { Accept: 'application/json' };
      if (user) headers.Authorization = `Bearer ${tokens[user]}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const res = await fetch(`${base}${apiPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let parsed = text;
      try { parsed = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body: parsed };
    },

    async getVideo(id) {
      const r = await room.api('editor', `/api/v1/videos/${id}`);
      if (r.status !== 200) throw new Error(`GET video ${id}: ${r.status}`);
      return r.body;
    },

    // Waits until the video is ready; fails at once (with the server's log) when it failed.
    async waitUntilReady(id) {
      return waitFor(async () => {
        const v = await room.getVideo(id);
        if (v.status === 'failed') throw Object.assign(new Error(`video ${id} failed: ${v.failure_reason}`), { fatal: true });
        return v.status === 'ready' ? v : null;
      }, `video ${id} to become ready`, WAIT_MS).catch((e) => {
        throw new Error(`${e.message}\nserver log:\n${room.logTail()}`);
      });
    },

    // `newsreel import` of a file from the shared media folder; resolves with the video id.
    async importClip({ file, title, description, visibility }) {
      const input = path.join(MEDIA_DIR, file);
      assert.ok(fs.existsSync(input), `test clip missing: ${input}`);
      const args = ['import', '--data', dataDir, input, '--json', '--title', title];
      if (description) args.push('--description', description);
      if (visibility) args.push('--visibility', visibility);
      const r = await run(NEWSREEL_BIN, args, { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `newsreel import ${file} failed: ${r.stderr}`);
      return JSON.parse(r.stdout).video_id;
    },

    // A new page (in a context of its own unless `context` is given) that records uncaught
    // exceptions and console errors. `hello` resolves when the page's /ws says hello.
    // `lang`: 'vi' | 'en' stored before the first script runs (the pages' remembered choice).
    // `setUp(page)`: awaited before the page is opened (network emulation, init scripts).
    async openPage(pathAndQuery, { context = null, lang = null, viewport = null, setUp = null } = {}) {
      const ctx = context || await browser.newContext(viewport ? { viewport } : {});
      if (lang) await ctx.addInitScript((l) => { try { localStorage.setItem('newsreel.lang', l); } catch { /* */ } }, lang);
      const page = await ctx.newPage();
      page.setDefaultTimeout(60_000);
      const problems = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      const hello = new Promise((resolve) => page.on('websocket', (ws) => ws.on('framereceived', (f) => {
        if (String(f.payload).includes('"hello"')) resolve();
      })));
      if (setUp) await setUp(page);
      await page.goto(`${base}${pathAndQuery}`);
      // i18n.js fetches the language's strings with a top-level await, which the load event
      // goto waits for does not wait on: until it has, an English page still reads Vietnamese.
      if (lang) await page.waitForFunction((l) => document.documentElement.lang === l, lang);
      return { page, problems, hello, context: ctx };
    },

    async stop() {
      if (browser) {
        const closed = await Promise.race([browser.close().then(() => true), sleep(15_000).then(() => false)]);
        if (!closed) browser.process()?.kill('SIGKILL');
      }
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const stopped = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
        if (!stopped) proc.kill('SIGKILL');
      }
      removeDir(dataDir);
    },
  };
  return room;
}
