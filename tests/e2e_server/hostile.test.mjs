// Hostile clients against the real server (issue 13): a corpus of more than a hundred hostile
// requests (lib/hostile_corpus.mjs) sent while honest clients keep streaming a real video's HLS
// and uploading a real clip with tus-js-client from the same address; and the per-address
// limits, seen from two loopback addresses.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tus from 'tus-js-client';
import { hostileCorpus } from './lib/hostile_corpus.mjs';
import { exchange, upgradeHead, webSocketExchange } from './lib/raw.mjs';
import { MEDIA, eventClient, importFile, startServer, tempDataDir, waitFor } from './lib/server.mjs';

const CLIP = path.join(MEDIA, 'moviepy_chaplin.mp4');
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// Every file a player fetches for video `id`: the master playlist, each rung's playlist and
// segments, read from the data folder as the server should serve them.
function hlsFiles(dataDir, id) {
  const dir = path.join(dataDir, 'media', id);
  const uris = (file) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const files = ['master.m3u8'];
  for (const rung of uris(path.join(dir, 'master.m3u8'))) {
    files.push(rung);
    for (const seg of uris(path.join(dir, rung))) files.push(path.posix.join(path.posix.dirname(rung), seg));
  }
  return files.map((f) => ({ url: `/media/${id}/${f}`, bytes: fs.readFileSync(path.join(dir, f)) }));
}

// Runs `fn` over `items`, at most `limit` at once; resolves with the results in order.
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }));
  return results;
}

async function createUpload(server, length) {
  const r = await fetch(`${server.base}/files/`, {
    method: 'POST',
    headers: { ...server.authHeaders, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(length), 'Upload-Metadata': `filename ${Buffer.from('corpus.mp4').toString('base64')}` },
  });
  assert.equal(r.status, 201);
  return new URL(r.headers.get('location'), server.base).pathname;
}

describe('a hostile corpus while honest clients stream and upload', () => {
  let server, dataDir, id, events;

  before(async () => {
    dataDir = tempDataDir('hostile');
    // Limits on, high enough for the honest clients, which share 127.0.0.1 with the corpus;
    // short idle and upload-rate grace periods so that the slow clients are ended soon.
    server = await startServer({
      dataDir,
      limits: ['--max-connections-per-address', '200', '--rate-limit-per-address', '2000', '--rate-limit-burst', '4000'],
      extraArgs: ['--workers', '1', '--idle-timeout', '4', '--upload-rate-grace', '3', '--shutdown-grace', '1'],
    });
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
    id = (await importFile(dataDir, path.join(MEDIA, 'videotestdata_1-video-streamable.mp4'), ['--title', 'honest'])).video_id;
    await events.next((e) => e.type === 'video.ready' && e.data.id === id, 'the video to be ready');
  });

  after(async () => {
    events?.close();
    const exit = await server?.stop();
    assert.equal(exit.code, 0, `clean exit on SIGTERM; log:\n${server.log.join('').slice(-3000)}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('every hostile request is refused cleanly; the server stays up; every honest request succeeds', async (t) => {
    const files = hlsFiles(dataDir, id);
    const segment = files.find((f) => f.url.endsWith('.ts') || f.url.endsWith('.m4s'));
    assert.ok(segment, 'the video has segments');
    // The tus and API rows carry the test account's token, so that what they send is read past
    // the authorization check.
    const rows = hostileCorpus({
      id, segment: segment.url, segmentSize: segment.bytes.length, dataDir,
      upload: await createUpload(server, 100), slowUpload: await createUpload(server, 1_000_000),
      auth: Object.entries(server.authHeaders).map(([k, v]) => `${k}: ${v}\r\n`).join(''),
    });
    assert.ok(rows.length >= 100, `${rows.length} rows`);

    // The honest clients, until the corpus is done.
    let stop = false;
    const honest = { fetched: 0, failures: [], uploads: [], health: 0, healthFailures: [] };
    const streamer = (async () => {
      // A player: the playlists and segments over and over, every byte checked.
      while (!stop) {
        for (const f of files) {
          try {
            const r = await fetch(server.base + f.url);
            const body = Buffer.from(await r.arrayBuffer());
            if (r.status !== 200 || !body.equals(f.bytes)) honest.failures.push(`${f.url}: ${r.status}, ${body.length} bytes`);
          } catch (e) {
            honest.failures.push(`${f.url}: ${e.message}`);
          }
          honest.fetched++;
          await new Promise((r) => setTimeout(r, 10));  // a player's pace, not a flood
        }
      }
    })();
    const uploader = (async () => {
      // A reporter: the clip again and again, in small chunks; each must arrive whole.
      const clip = fs.readFileSync(CLIP);
      do {
        const url = await new Promise((resolve, reject) => {
          const up = new tus.Upload(clip, {
            endpoint: `${server.base}/files/`, chunkSize: 64 * 1024, retryDelays: [], headers: server.authHeaders,
            metadata: { filename: 'honest.mp4' }, onError: reject, onSuccess: () => resolve(up.url),
          });
          up.start();
        }).catch((e) => { honest.failures.push(`upload: ${e.message}`); return null; });
        if (!url) break;
        const upId = url.split('/').pop();
        const stored = fs.readFileSync(path.join(dataDir, 'originals', upId, 'source.mp4'));
        honest.uploads.push(sha256(stored) === sha256(clip));
      } while (!stop);
    })();
    const health = (async () => {
      while (!stop) {
        const r = await fetch(`${server.base}/healthz`).catch((e) => ({ status: e.message }));
        honest.health++;
        if (r.status !== 200) honest.healthFailures.push(r.status);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    const results = await pool(rows, 6, async (row) => {
      const guardMs = row.guardMs ?? 30_000;
      if (row.ws) {
        const r = await webSocketExchange(server.port, row.ws.path, row.ws.frames, { guardMs });
        const outcome = r.handshake !== 101 ? (r.handshake || 'closed') : (r.wsClose !== undefined ? `ws:${r.wsClose}` : 'closed');
        return { row, outcome, timedOut: r.timedOut, text: '' };
      }
      const r = await exchange(server.port, row.send, { pauseMs: row.pauseMs, guardMs });
      return { row, outcome: r.status || 'closed', timedOut: r.timedOut, text: r.text, r };
    });
    stop = true;
    await Promise.all([streamer, uploader, health]);

    const wrong = [];
    for (const { row, outcome, timedOut, text, r } of results) {
      if (timedOut) wrong.push(`${row.what}: the server kept the connection open`);
      else if (!row.expect.includes(outcome)) wrong.push(`${row.what}: ${outcome}${r?.reset ? ' (reset)' : ''}${r ? ` after ${r.bytes.length} bytes` : ''}, expected ${row.expect.join(' or ')}: ${text.slice(0, 160)}`);
      else if (row.check && !row.check(r)) wrong.push(`${row.what}: ${outcome}, but not as expected: ${text.slice(0, 300)}`);
      // 505 (HTTP Version Not Supported) is the one answer from the 5xx range a client earns.
      if (typeof outcome === 'number' && outcome >= 500 && outcome !== 505) wrong.push(`${row.what}: ${outcome}`);
      if (/SQLite format 3|root:x:0:0/.test(text)) wrong.push(`${row.what}: leaked a file`);
    }
    if (process.env.HOSTILE_VERBOSE) for (const { row, outcome } of results) if (row.expect.length > 1) t.diagnostic(`${row.what}: ${outcome}`);
    const tally = {};
    for (const { outcome } of results) tally[outcome] = (tally[outcome] || 0) + 1;
    t.diagnostic(`${rows.length} hostile requests: ${Object.entries(tally).map(([o, n]) => `${o} x${n}`).join(', ')}`);
    t.diagnostic(`honest meanwhile: ${honest.fetched} HLS files fetched, ${honest.uploads.length} uploads, ` +
      `${honest.health} health checks`);
    if (wrong.length) t.diagnostic(`server log, last lines:\n${server.log.join('').split('\n').slice(-60).join('\n')}`);
    assert.deepEqual(wrong, [], `${wrong.length} of ${rows.length} hostile requests were not handled`);

    assert.equal(server.proc.exitCode, null, 'the server is up');
    assert.deepEqual(honest.failures, [], 'every honest request succeeded');
    assert.ok(honest.fetched >= files.length, `the player fetched ${honest.fetched} files`);
    assert.ok(honest.uploads.length >= 1, 'an upload completed');
    assert.ok(honest.uploads.every(Boolean), 'every upload stored the clip byte for byte');
    assert.deepEqual(honest.healthFailures, [], '/healthz answered throughout');
    assert.ok(honest.health >= 1);
    // What the corpus was refused with shows in /metrics, and nothing crashed a worker.
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    for (const code of [400, 404, 405, 409, 411, 412, 413, 415, 416, 426, 431, 460, 505])
      assert.match(metrics, new RegExp(`newsreel_http_requests_total\\{code="${code}"\\} [1-9]`), `code ${code} counted`);
    const serverErrors = [...metrics.matchAll(/newsreel_http_requests_total\{code="(5\d\d)"\} (\d+)/g)]
      .filter((m) => m[1] !== '505').map((m) => `${m[1]} x${m[2]}`);
    assert.deepEqual(serverErrors, [], 'no request was answered with a server error');
  });
});

// GET `p` from `localAddress` on a connection of `agent`'s (or a new one); resolves
// {status, headers, body}.
function get(port, p, localAddress, agent = false) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, localAddress, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
  });
}

describe('per-address limits', () => {
  let server, dataDir;
  const OTHER = '127.0.0.2';

  before(async () => {
    dataDir = tempDataDir('limits');
    server = await startServer({
      dataDir, extraArgs: ['--workers', '0'],
      limits: ['--max-connections-per-address', '4', '--rate-limit-per-address', '2', '--rate-limit-burst', '10'],
    });
  });

  after(async () => {
    const exit = await server?.stop();
    assert.equal(exit.code, 0, `clean exit on SIGTERM; log:\n${server.log.join('').slice(-3000)}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a burst from one address gets 429 with Retry-After; another address is served', async () => {
    const BURSTING = '127.0.0.3';
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const answers = [];
    for (let i = 0; i < 60; i++) answers.push(await get(server.port, '/healthz', BURSTING, agent));
    agent.destroy();
    const statuses = answers.map((a) => a.status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200), 'the burst is served');
    const refused = answers.filter((a) => a.status === 429);
    assert.ok(refused.length > 0, `some are refused: ${statuses.join(',')}`);
    assert.deepEqual([...new Set(statuses)].sort(), [200, 429]);
    for (const r of refused) {
      assert.match(r.headers['retry-after'], /^[1-9]\d*$/);
      assert.equal(r.headers.connection, 'close');
      assert.equal(JSON.parse(r.body).error.code, 'too_many_requests');
    }
    // A WebSocket upgrade is a request too.
    const ws = await exchange(server.port, upgradeHead('/ws'), { localAddress: BURSTING });
    assert.equal(ws.status, 429);
    // Another address is not affected, over HTTP nor WebSocket.
    assert.equal((await get(server.port, '/healthz', OTHER)).status, 200);
    const other = await webSocketExchange(server.port, '/ws', [Buffer.from([0x81, 0x80, 0, 0, 0, 0])], { localAddress: OTHER });
    assert.equal(other.handshake, 101);
    // Once its bucket refills, the first address is served again (a refused request takes no token).
    await waitFor(async () => (await get(server.port, '/healthz', BURSTING)).status === 200, 'the address to be served again', 30_000, 250);
  });

  test('connections over the limit get 429, then are closed unanswered; another address is served', async () => {
    const HOLDING = '127.0.0.4';
    // Four kept-alive connections, each with a request answered, so the server surely counts them.
    const held = [];
    const hold = async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const answer = await get(server.port, '/healthz', HOLDING, agent);
      assert.equal(answer.status, 200, `held connection ${held.length + 1}: ${answer.body}\n${server.log.join('').slice(-2000)}`);
      held.push(agent);
    };
    for (let i = 0; i < 4; i++) await hold();
    // The fifth is answered before it says anything, and closed.
    const fifth = await exchange(server.port, [], { localAddress: HOLDING });
    assert.equal(fifth.status, 429, fifth.text);
    assert.match(fifth.text, /\r\nretry-after: 5\r\n/i);
    assert.match(fifth.text, /too many connections/);
    assert.equal((await get(server.port, '/healthz', OTHER)).status, 200, 'another address is served');
    // One closes: a new one is admitted.
    held.pop().destroy();
    await waitFor(async () => (await get(server.port, '/healthz', HOLDING)).status === 200, 'a free slot', 30_000, 100);
    await hold();
    // An address that keeps knocking spends its request tokens on refusals; then it is closed
    // without an answer, so that refusing cannot be made to cost the server more.
    const seen = [];
    for (let i = 0; i < 60 && !seen.includes('closed'); i++) {
      const r = await exchange(server.port, [], { localAddress: HOLDING });
      seen.push(r.status || 'closed');
    }
    assert.equal(seen[0], 429, seen.join(','));
    assert.ok(seen.includes('closed'), `refusals: ${seen.join(',')}`);
    assert.equal((await get(server.port, '/healthz', OTHER)).status, 200, 'another address is still served');
    held.forEach((a) => a.destroy());
  });

  test('/metrics counts refused connections and rate-limited requests', async () => {
    const text = (await get(server.port, '/metrics', OTHER)).body;
    const value = (re) => Number((re.exec(text) || [])[1] ?? NaN);
    assert.ok(value(/newsreel_refused_connections_total\{answer="429"\} (\d+)/) >= 1, text);
    assert.ok(value(/newsreel_refused_connections_total\{answer="none"\} (\d+)/) >= 1, text);
    assert.ok(value(/newsreel_rate_limited_requests_total (\d+)/) >= 2, text);
    assert.ok(value(/newsreel_http_requests_total\{code="429"\} (\d+)/) >= 3, text);
  });
});
