// Low latency end to end (issue 15; docs/live.md "Low latency"): the real `newsreel serve`, ffmpeg
// publishing over SRT, the real live worker writing CMAF parts and LL-HLS playlists, and plain
// HTTP clients (curl, fetch) and two `ws` clients as the viewers. What a player relies on: the
// LL playlist's tags, blocking reloads that answer once the part is listed, 400 for requests the
// spec calls bad, the preload hint's part served once it exists, no-cache on playlists and
// immutable parts; and on /ws/live/<id>, a viewer that stops reading is skipped ahead to a
// keyframe part while another one gets every part in order.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  MEDIA, bearer, curl, curlJson, makeAccount, sleep, startServer, tempDataDir, waitFor,
} from './lib/server.mjs';

const SOURCE = path.join(MEDIA, 'moviepy_chaplin.mp4');  // 640x360 H.264 + MP3, 9.6 s, looped
// 1 s segments (so parts of about 1/3 s), one rung; a viewer may lag 256 KB before it skips.
const LL_ARGS = ['--live-low-latency', 'true', '--workers', '1', '--live-segment-seconds', '1', '--live-window-seconds', '6',
  '--live-ladder', '360', '--live-reconnect-grace', '600', '--live-viewer-lag-bytes', '262144'];

const sha = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

// The EXT-X-PART lines of an LL playlist, in order: {msn, part, uri, independent}.
function partsOf(text) {
  const parts = [];
  for (const line of text.split('\n')) {
    const m = /^#EXT-X-PART:.*URI="(p(\d+)\.(\d+)\.m4s)"/.exec(line);
    if (m) parts.push({ uri: m[1], msn: Number(m[2]), part: Number(m[3]), independent: /INDEPENDENT=YES/.test(line) });
  }
  return parts;
}
function hintOf(text) {
  const m = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"/.exec(text);
  return m && { msn: Number(m[1]), part: Number(m[2]), uri: `p${m[1]}.${m[2]}.m4s` };
}
// Whether part b comes right after part a in a stream of parts.
const follows = (a, b) => (b.msn === a.msn && b.part === a.part + 1) || (b.msn === a.msn + 1 && b.part === 0);

describe('low latency: LL-HLS blocking requests and WebSocket media from the live worker', () => {
  let dataDir, server, reporter, stream, publisher, base;
  const rung = '360p';
  const ll = (rest) => `${base}/live/${stream.id}/ll/${rung}/${rest}`;

  before(async () => {
    dataDir = tempDataDir('ll');
    server = await startServer({ dataDir, extraArgs: LL_ARGS });
    base = server.base;
    reporter = await makeAccount(dataDir, 'lan', 'reporter');
    const made = await curlJson(`${base}/api/v1/live`, [...bearer(reporter).args, '-X', 'POST',
      '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify({ title: 'LL', visibility: 'unlisted' })]);
    assert.equal(made.status, 201, made.body.toString());
    stream = made.json;
    const proc = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1',
      '-i', SOURCE, '-c', 'copy', '-f', 'mpegts', stream.ingest.url], { stdio: ['ignore', 'ignore', 'pipe'] });
    publisher = proc;
    // The LL playlist exists once the worker has written its first parts.
    await waitFor(async () => (await curl(ll('index.m3u8'))).status === 200, 'the LL playlist', 90_000);
  });

  after(async () => {
    publisher?.kill('SIGKILL');
    await server?.stop();
    if (server) fs.writeFileSync(path.join(path.dirname(dataDir), 'nr-ll-test-server.log'), server.log.join(''));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the LL playlist carries the tags a player needs and is not cached; parts are', async () => {
    const r = await curl(ll('index.m3u8'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-cache');
    const text = r.body.toString();
    assert.match(text, /#EXT-X-SERVER-CONTROL:.*CAN-BLOCK-RELOAD=YES/);
    assert.match(text, /#EXT-X-PART-INF:PART-TARGET=/);
    assert.match(text, /#EXT-X-MAP:URI="init.mp4"/);
    assert.ok(hintOf(text), `a preload hint in\n${text}`);
    const parts = partsOf(text);
    assert.ok(parts.length > 0, text);
    const part = await curl(ll(parts[parts.length - 1].uri));
    assert.equal(part.status, 200);
    assert.match(part.headers['cache-control'], /immutable/);
    assert.ok(part.body.length > 8);
    assert.equal((await curl(`${base}/live/${stream.id}/ll/master.m3u8`)).headers['cache-control'], 'no-cache');
  });

  test('a blocking reload for the hinted part waits for it, then lists it', async () => {
    const before = (await curl(ll('index.m3u8'))).body.toString();
    const hint = hintOf(before);
    assert.ok(!partsOf(before).some((p) => p.uri === hint.uri), 'the hinted part is not listed yet');
    const r = await curl(ll(`index.m3u8?_HLS_msn=${hint.msn}&_HLS_part=${hint.part}`));
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.ok(partsOf(r.body.toString()).some((p) => p.uri === hint.uri),
      `the answer lists ${hint.uri}:\n${r.body}`);
    // Without _HLS_part: the answer holds segment msn whole (a later segment's parts are out).
    const whole = await curl(ll(`index.m3u8?_HLS_msn=${hint.msn}`));
    assert.equal(whole.status, 200);
    assert.ok(partsOf(whole.body.toString()).some((p) => p.msn > hint.msn), whole.body.toString());
  });

  test('the preload hint\'s part is served once it exists; far-future parts are 404', async () => {
    const hint = hintOf((await curl(ll('index.m3u8'))).body.toString());
    const [part, far] = await Promise.all([
      curl(ll(hint.uri)),
      curl(ll(`p${hint.msn + 5}.0.m4s`)),
    ]);
    assert.equal(part.status, 200);
    assert.match(part.headers['cache-control'], /immutable/);
    assert.match(part.body.subarray(4, 8).toString('latin1'), /^(moof|styp)$/, 'a CMAF fragment');
    assert.equal(far.status, 404);
    // The bytes are the part's file, as the playlist lists it afterwards.
    const again = await curl(ll(hint.uri));
    assert.equal(sha(again.body), sha(part.body));
  });

  test('bad blocking requests are 400', async () => {
    const last = partsOf((await curl(ll('index.m3u8'))).body.toString()).pop();
    for (const q of ['_HLS_part=1', `_HLS_msn=${last.msn + 3}`, '_HLS_msn=x', `_HLS_msn=${last.msn}&_HLS_part=y`]) {
      const r = await curl(ll(`index.m3u8?${q}`));
      assert.equal(r.status, 400, q);
    }
  });

  test('a viewer that stops reading is skipped ahead to a keyframe part; another gets every part in order', async () => {
    // Every part's bytes, by hash, from the playlists: what each WebSocket message is.
    const known = new Map();  // sha -> part
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const text = (await curl(ll('index.m3u8'))).body.toString();
        for (const p of partsOf(text)) {
          if ([...known.values()].some((k) => k.uri === p.uri)) continue;
          const r = await curl(ll(p.uri));
          if (r.status === 200) known.set(sha(r.body), p);
        }
        await sleep(200);
      }
    })();
    const skippedBefore = await metric('newsreel_live_frames_skipped_total');
    const open = (tag) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/live/${stream.id}?rung=${rung}`);
      const v = { ws, tag, messages: [], bytes: 0 };
      ws.on('message', (data) => { v.messages.push(Buffer.from(data)); v.bytes += data.length; });
      ws.on('open', () => resolve(v));
      ws.on('error', reject);
    });
    const fast = await open('fast');
    const slow = await open('slow');
    try {
      await waitFor(() => fast.messages.length > 3 && slow.messages.length > 3, 'both viewers to receive parts', 30_000);
      // The slow one stops reading: its socket's buffers fill, then the server has fragments
      // waiting for it beyond its lag bound.
      slow.ws._socket.pause();
      const fastBytesAtPause = fast.bytes;
      await waitFor(() => fast.bytes - fastBytesAtPause > 3_000_000, 'the stream to move on by 3 MB', 120_000);
      slow.ws._socket.resume();
      await waitFor(async () => await metric('newsreel_live_frames_skipped_total') > skippedBefore,
        'the slow viewer to be skipped ahead', 60_000);
      const countAtResume = slow.messages.length;
      await waitFor(() => slow.messages.length > countAtResume + 5, 'the slow viewer to receive again', 30_000);
    } finally {
      polling = false;
      await poll;
      fast.ws.close();
      slow.ws.close();
    }
    const identify = (v) => v.messages.slice(1).map((m) => known.get(sha(m)));  // [0]: init
    // Both start with the init segment, then a keyframe part.
    for (const v of [fast, slow]) {
      assert.equal(v.messages[0].subarray(4, 8).toString('latin1'), 'ftyp', `${v.tag}: init first`);
      const first = identify(v)[0];
      assert.ok(first?.independent, `${v.tag}: the first part is an INDEPENDENT one`);
    }
    // The fast viewer: every part, in order (those the playlists listed while it watched).
    const fastParts = identify(fast).filter(Boolean);
    assert.ok(fastParts.length > 10);
    for (let i = 1; i < fastParts.length; ++i)
      assert.ok(follows(fastParts[i - 1], fastParts[i]), `fast viewer: ${fastParts[i - 1].uri} then ${fastParts[i].uri}`);
    // The slow viewer: in order up to a gap, and the part after the gap is a keyframe part.
    const slowParts = identify(slow).filter(Boolean);
    const gap = slowParts.findIndex((p, i) => i > 0 && !follows(slowParts[i - 1], p));
    assert.ok(gap > 0, `the slow viewer skipped: ${slowParts.map((p) => p.uri).join(' ')}`);
    assert.ok(slowParts[gap].independent, `after the skip, ${slowParts[gap].uri} is INDEPENDENT`);
    assert.ok(slowParts[gap].msn > slowParts[gap - 1].msn);
  });

  async function metric(name) {
    const text = (await curl(`${base}/metrics`)).body.toString();
    const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  }

  test('a draft stream: its WebSocket media is for its owner and staff, never through a cookie a page of another site sends', async () => {
    const password = 'mật khẩu biên tập viên';
    await makeAccount(dataDir, 'bientap', 'editor', password);
    const signIn = await fetch(`${base}/api/v1/session`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'bientap', password }),
    });
    assert.equal(signIn.status, 200);
    const cookie = /newsreel_session=[^;]*/.exec(signIn.headers.get('set-cookie'))[0];
    const setVisibility = async (visibility) => {
      const r = await curlJson(`${base}/api/v1/live/${stream.id}`, [...bearer(reporter).args, '-X', 'PATCH',
        '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify({ visibility })]);
      assert.equal(r.status, 200, r.body.toString());
    };
    // Resolves with the status of the upgrade: 101 when it opened, else the refusal's.
    const upgrade = (headers) => new Promise((resolve) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/live/${stream.id}?rung=${rung}`, { headers });
      ws.on('open', () => { ws.terminate(); resolve(101); });
      ws.on('unexpected-response', (req, res) => { res.resume(); resolve(res.statusCode); });
      ws.on('error', () => resolve(0));
    });
    await setVisibility('draft');
    try {
      assert.equal(await upgrade({ Cookie: cookie, Origin: base }), 101, 'staff signed in on this site');
      assert.equal(await upgrade({ Cookie: cookie, Origin: 'https://evil.example' }), 404, 'the same cookie from another site');
      assert.equal(await upgrade({}), 404, 'anonymous');
      assert.equal(await upgrade(bearer(reporter).headers), 101, 'its owner, with a token');
    } finally {
      await setVisibility('unlisted');
    }
  });
});
