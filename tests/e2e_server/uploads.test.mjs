// Resumable uploads (tus 1.0 at /files/) end to end: tus-js-client from npm as the real client,
// a plain curl client, a TCP proxy that cuts connections, a server killed with SIGKILL and
// restarted mid-upload, and hostile and slow clients.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tus from 'tus-js-client';
import {
  MEDIA, bearer, curl, curlJson, eventClient, freePort, makeAccount, sleep, startServer, tempDataDir,
  waitFor,
} from './lib/server.mjs';

const SHORT = path.join(MEDIA, 'videotestdata_1-video-streamable.mp4');
const OCTETS = 'application/offset+octet-stream';
const TUS = { 'Tus-Resumable': '1.0.0' };
const b64 = (s) => Buffer.from(s).toString('base64');
const sha = (alg, buf) => crypto.createHash(alg).update(buf).digest('base64');
const sha256File = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// The credentials of the server under test (its admin's token); each suite sets them.
let AUTH = {};

// AUTH as a header line for raw requests.
const authLine = () => Object.entries(AUTH).map(([k, v]) => `${k}: ${v}\r\n`).join('');

// fetch with the tus version header and AUTH; returns {status, headers (Headers), text}.
async function req(base, method, p, headers = {}, body = undefined) {
  const r = await fetch(base + p, { method, headers: { ...TUS, ...AUTH, ...headers }, body });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

async function create(base, length, metadata = {}, extra = {}) {
  const meta = Object.entries(metadata).map(([k, v]) => `${k} ${b64(v)}`).join(',');
  const r = await req(base, 'POST', '/files/', {
    ...(length === null ? { 'Upload-Defer-Length': '1' } : { 'Upload-Length': String(length) }),
    ...(meta ? { 'Upload-Metadata': meta } : {}), ...extra,
  });
  return r;
}

const patch = (base, loc, offset, body, extra = {}) =>
  req(base, 'PATCH', loc, { 'Upload-Offset': String(offset), 'Content-Type': OCTETS, ...extra }, body);

// The bytes of upload `id` as the server holds them (in progress or kept as the original).
function storedBytes(dataDir, id) {
  const inProgress = path.join(dataDir, 'uploads', id);
  if (fs.existsSync(inProgress)) return fs.readFileSync(inProgress);
  const dir = path.join(dataDir, 'originals', id);
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  return files.length === 1 ? fs.readFileSync(path.join(dir, files[0])) : null;
}

// A TCP proxy in front of the server that cuts every connection once `cutEvery` bytes went
// through it towards the server (a reporter's mobile link dropping), and counts the bytes.
async function startProxy(targetPort, { cutEvery = Infinity } = {}) {
  const state = { forwarded: 0, cuts: 0, sinceCut: 0, sockets: new Set() };
  const srv = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    state.sockets.add(client);
    const end = () => { client.destroy(); upstream.destroy(); state.sockets.delete(client); };
    client.on('data', (d) => {
      state.forwarded += d.length;
      state.sinceCut += d.length;
      upstream.write(d);
      if (state.sinceCut >= cutEvery) {
        state.sinceCut = 0;
        state.cuts++;
        end();
      }
    });
    upstream.on('data', (d) => client.write(d));
    client.on('error', end); upstream.on('error', end);
    client.on('close', end); upstream.on('close', end);
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { port, state, close: () => { for (const s of state.sockets) s.destroy(); srv.close(); } };
}

function tusUpload(data, endpoint, options = {}) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      retryDelays: Array(80).fill(250),
      removeFingerprintOnSuccess: true,
      ...options,
      headers: { ...AUTH, ...options.headers },
      onError: reject,
      onSuccess: () => resolve(upload),
    });
    upload.start();
  });
}

describe('tus: the protocol, with curl and fetch', () => {
  let server, dataDir, base;
  before(async () => {
    dataDir = tempDataDir('tus');
    server = await startServer({
      dataDir, extraArgs: ['--workers', '0', '--upload-max-size', '5000000', '--upload-quota', '8000000'],
    });
    base = server.base;
    AUTH = server.authHeaders;
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  test('OPTIONS announces version, extensions, checksums and the size limit', async () => {
    const r = await curl(`${base}/files/`, [...server.auth, '-X', 'OPTIONS']);
    assert.equal(r.status, 204);
    assert.equal(r.headers['tus-version'], '1.0.0');
    assert.equal(r.headers['tus-resumable'], '1.0.0');
    assert.equal(r.headers['tus-max-size'], '5000000');
    for (const ext of ['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'checksum', 'expiration'])
      assert.ok(r.headers['tus-extension'].split(',').includes(ext), ext);
    assert.deepEqual(r.headers['tus-checksum-algorithm'].split(',').sort(), ['md5', 'sha1', 'sha256']);
    assert.match(r.headers['access-control-allow-headers'], /Upload-Offset/);
    assert.match(r.headers['access-control-expose-headers'], /Location/);
  });

  test('a plain curl client: create, PATCH in pieces with checksums, HEAD, resume', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-curl-tus-'));
    const data = crypto.randomBytes(300_000);
    const parts = [data.subarray(0, 100_000), data.subarray(100_000, 250_000), data.subarray(250_000)];
    const made = await curl(`${base}/files/`, [...server.auth, '-X', 'POST', '-H', 'Tus-Resumable: 1.0.0',
      '-H', `Upload-Length: ${data.length}`,
      '-H', `Upload-Metadata: filename ${b64('phóng sự.mp4')},title ${b64('Lũ quét ở Mù Cang Chải')},reporter ${b64('curl reporter')}`]);
    assert.equal(made.status, 201);
    assert.match(made.headers.location, /^\/files\/[A-Za-z0-9_-]+$/);
    assert.ok(Date.parse(made.headers['upload-expires']) > Date.now(), 'Upload-Expires is a future HTTP date');
    const loc = made.headers.location;
    let offset = 0;
    for (const [i, part] of parts.entries()) {
      const f = path.join(tmp, `p${i}`);
      fs.writeFileSync(f, part);
      const alg = ['sha1', 'sha256', 'md5'][i];
      const r = await curl(`${base}${loc}`, [...server.auth, '-X', 'PATCH', '-H', 'Tus-Resumable: 1.0.0',
        '-H', `Upload-Offset: ${offset}`, '-H', `Content-Type: ${OCTETS}`,
        '-H', `Upload-Checksum: ${alg} ${sha(alg, part)}`, '--data-binary', `@${f}`]);
      assert.equal(r.status, 204, `PATCH ${i}: ${r.body}`);
      offset += part.length;
      assert.equal(Number(r.headers['upload-offset']), offset);
      if (i === 0) {
        const head = await curl(`${base}${loc}`, [...server.auth, '-I', '-H', 'Tus-Resumable: 1.0.0']);
        assert.equal(head.status, 200);
        assert.equal(head.headers['upload-offset'], String(offset));
        assert.equal(head.headers['upload-length'], String(data.length));
        assert.equal(head.headers['cache-control'], 'no-store');
        assert.match(head.headers['upload-metadata'], new RegExp(`title ${b64('Lũ quét ở Mù Cang Chải').replace(/[+/=]/g, '\\$&')}`));
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    const id = loc.split('/').pop();
    const v = await curlJson(`${base}/api/v1/videos/${id}`, server.auth);
    assert.equal(v.status, 200, 'the finished upload is a video with the same id');
    assert.equal(v.json.title, 'Lũ quét ở Mù Cang Chải');
    assert.equal(v.json.status, 'queued');
    assert.equal(v.json.reporter, 'tester', 'the signed-in account is the reporter, whatever the metadata says');
    assert.ok(storedBytes(dataDir, id).equals(data), 'the original holds exactly the uploaded bytes');
    assert.ok(!fs.existsSync(path.join(dataDir, 'uploads', id)), 'moved out of uploads/');
    const again = await curl(`${base}${loc}`, [...server.auth, '-I', '-H', 'Tus-Resumable: 1.0.0']);
    assert.equal(again.headers['upload-offset'], String(data.length));
    assert.equal(again.headers['upload-expires'], undefined, 'a finished upload does not expire');
    // Deleting the video forgets the upload too (and frees the reporter's quota).
    assert.equal((await curl(`${base}/api/v1/videos/${id}`, [...server.auth, '-X', 'DELETE'])).status, 204);
    assert.equal((await curl(`${base}${loc}`, [...server.auth, '-I', '-H', 'Tus-Resumable: 1.0.0'])).status, 404);
  });

  test('curl -T with Expect: 100-continue: the body is asked for, or refused before it is sent', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-curl-expect-'));
    const f = path.join(tmp, 'big');
    const data = crypto.randomBytes(3_000_000);  // over 1 MB: curl sends Expect: 100-continue
    fs.writeFileSync(f, data);
    const loc = (await create(base, data.length)).headers.get('location');
    const args = (offset) => ['-X', 'PATCH', '-H', 'Tus-Resumable: 1.0.0', '-H', `Upload-Offset: ${offset}`,
      // Without a 100 Continue curl would wait 60 s, past its 30 s --max-time: no answer.
      '-H', `Content-Type: ${OCTETS}`, '-T', f, '--expect100-timeout', '60'];
    const wrong = await curl(`${base}${loc}`, [...server.auth, ...args(5)]);
    assert.equal(wrong.status, 409, 'refused without reading the body');
    const r = await curl(`${base}${loc}`, [...server.auth, ...args(0)]);
    assert.equal(r.status, 204);
    assert.equal(r.headers['upload-offset'], String(data.length));
    assert.ok(storedBytes(dataDir, loc.split('/').pop()).equals(data));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('creation with data: the same limits as PATCH; a refused chunk still names the upload', async () => {
    const before = fs.readdirSync(path.join(dataDir, 'uploads')).length;
    let r = await req(base, 'POST', '/files/', { 'Upload-Length': '10', 'Content-Type': OCTETS }, Buffer.alloc(100));
    assert.equal(r.status, 413, 'data longer than Upload-Length');
    r = await req(base, 'POST', '/files/', { 'Upload-Defer-Length': '1', 'Content-Type': OCTETS }, Buffer.alloc(5_000_001));
    assert.equal(r.status, 413, 'deferred, data larger than Tus-Max-Size');
    const creator = bearer(await makeAccount(dataDir, 'data-creator', 'reporter')).headers;
    r = await req(base, 'POST', '/files/', { 'Upload-Defer-Length': '1', 'Content-Type': OCTETS, ...creator }, Buffer.alloc(4_000_000));
    assert.equal(r.status, 201);
    r = await req(base, 'POST', '/files/', { 'Upload-Defer-Length': '1', 'Content-Type': OCTETS, ...creator }, Buffer.alloc(4_500_000));
    assert.equal(r.status, 413, 'deferred, data past the quota');
    assert.equal(fs.readdirSync(path.join(dataDir, 'uploads')).length, before + 1, 'only the accepted one is stored');
    const data = Buffer.from('creation with data');
    r = await req(base, 'POST', '/files/', { 'Upload-Length': String(data.length * 2), 'Content-Type': OCTETS, 'Upload-Checksum': `sha1 ${sha('sha1', Buffer.from('other'))}` }, data);
    assert.equal(r.status, 460);
    const loc = r.headers.get('location');
    assert.match(loc ?? '', /^\/files\//, 'the refused creation still says where the upload is');
    assert.equal((await req(base, 'HEAD', loc)).headers.get('upload-offset'), '0');
    assert.equal((await req(base, 'DELETE', loc)).status, 204, 'so that the client can terminate it');
  });

  test('acknowledged bytes that vanished from disk: 410 and the upload is forgotten, never filled with zeros', async () => {
    const loc = (await create(base, 200)).headers.get('location');
    const id = loc.split('/').pop();
    assert.equal((await patch(base, loc, 0, Buffer.alloc(100, 5))).status, 204);
    fs.rmSync(path.join(dataDir, 'uploads', id));
    const r = await patch(base, loc, 100, Buffer.alloc(100, 6));
    assert.equal(r.status, 410);
    assert.match(r.text, /lost/);
    assert.equal((await req(base, 'HEAD', loc)).status, 404, 'forgotten, so that the client starts again');
    assert.ok(!fs.existsSync(path.join(dataDir, 'originals', id)), 'no video made of zeros');
  });

  test('a chunked body (also claiming a Content-Length) is refused; nothing of it is written', async () => {
    const loc = (await create(base, 10)).headers.get('location');
    const id = loc.split('/').pop();
    // Exactly what `printf 0123456789 | curl -T - -H "Content-Length: 10"` sends.
    const answer = await new Promise((resolve) => {
      const sock = net.connect(server.port, '127.0.0.1');
      let text = '';
      sock.on('connect', () => sock.write(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\n` +
        `Upload-Offset: 0\r\nContent-Type: ${OCTETS}\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n` +
        'a\r\n0123456789\r\n0\r\n\r\n'));
      sock.on('data', (d) => { text += d.toString('latin1'); });
      sock.on('close', () => resolve(text));
      sock.on('error', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 411/);
    assert.equal((await req(base, 'HEAD', loc)).headers.get('upload-offset'), '0');
    assert.equal(storedBytes(dataDir, id).length, 0, 'no chunk framing stored as data');
  });

  test('checksum mismatch: 460 and the chunk is discarded', async () => {
    const loc = (await create(base, 20)).headers.get('location');
    const good = Buffer.from('0123456789'), bad = Buffer.from('abcdefghij');
    let r = await patch(base, loc, 0, good, { 'Upload-Checksum': `sha1 ${sha('sha1', good)}` });
    assert.equal(r.status, 204);
    r = await patch(base, loc, 10, bad, { 'Upload-Checksum': `sha1 ${sha('sha1', good)}` });
    assert.equal(r.status, 460);
    const id = loc.split('/').pop();
    assert.equal(storedBytes(dataDir, id).length, 10, 'the mismatching bytes are not on disk');
    assert.equal((await req(base, 'HEAD', loc)).headers.get('upload-offset'), '10');
    r = await patch(base, loc, 10, bad, { 'Upload-Checksum': 'crc32 AAAAAA==' });
    assert.equal(r.status, 400, 'an unsupported algorithm is refused');
    r = await patch(base, loc, 10, bad, { 'Upload-Checksum': `sha256 ${sha('sha256', bad)}` });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('upload-offset'), '20');
  });

  test('offset mismatch is 409 with the real offset; nothing is written', async () => {
    const loc = (await create(base, 100)).headers.get('location');
    assert.equal((await patch(base, loc, 0, Buffer.alloc(30, 1))).status, 204);
    const r = await patch(base, loc, 10, Buffer.alloc(30, 2));
    assert.equal(r.status, 409);
    assert.equal(r.headers.get('upload-offset'), '30');
    assert.ok(storedBytes(dataDir, loc.split('/').pop()).equals(Buffer.alloc(30, 1)));
  });

  test('deferred length: set once by a PATCH, then the upload completes', async () => {
    const made = await create(base, null, { filename: 'x.mov' });
    assert.equal(made.status, 201);
    assert.equal(made.headers.get('upload-defer-length'), '1');
    const loc = made.headers.get('location');
    assert.equal((await patch(base, loc, 0, Buffer.alloc(50, 7))).status, 204);
    const head = await req(base, 'HEAD', loc);
    assert.equal(head.headers.get('upload-defer-length'), '1');
    assert.equal(head.headers.get('upload-length'), null);
    const r = await patch(base, loc, 50, Buffer.alloc(50, 8), { 'Upload-Length': '100' });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('upload-length'), '100');
    const id = loc.split('/').pop();
    assert.equal((await curlJson(`${base}/api/v1/videos/${id}`, server.auth)).status, 200);
    assert.equal((await patch(base, loc, 100, Buffer.alloc(1), {})).status, 413, 'nothing past the length');
  });

  test('termination deletes an unfinished upload; a finished one is refused', async () => {
    const loc = (await create(base, 100)).headers.get('location');
    const id = loc.split('/').pop();
    await patch(base, loc, 0, Buffer.alloc(40));
    assert.ok(fs.existsSync(path.join(dataDir, 'uploads', id)));
    assert.equal((await req(base, 'DELETE', loc)).status, 204);
    assert.equal((await req(base, 'HEAD', loc)).status, 404);
    assert.equal((await patch(base, loc, 40, Buffer.alloc(1))).status, 404);
    assert.ok(!fs.existsSync(path.join(dataDir, 'uploads', id)), 'its bytes are gone');
    const done = (await create(base, 1)).headers.get('location');
    assert.equal((await patch(base, done, 0, Buffer.alloc(1))).status, 204);
    assert.equal((await req(base, 'DELETE', done)).status, 409);
  });

  test('Tus-Max-Size: 413 at creation and for a deferred upload that grows past it', async () => {
    assert.equal((await create(base, 5_000_001)).status, 413);
    const loc = (await create(base, null)).headers.get('location');
    const r = await patch(base, loc, 0, Buffer.alloc(5_000_001));
    assert.equal(r.status, 413);
    assert.equal((await req(base, 'HEAD', loc)).headers.get('upload-offset'), '0');
  });

  test('per-reporter quota: 413 once a reporter holds too much; others are unaffected', async () => {
    // This server allows 8,000,000 bytes per account.
    const quota = bearer(await makeAccount(dataDir, 'quota-reporter', 'reporter')).headers;
    const other = bearer(await makeAccount(dataDir, 'someone-else', 'reporter')).headers;
    assert.equal((await create(base, 4_000_000, {}, quota)).status, 201);
    assert.equal((await create(base, 3_000_000, {}, quota)).status, 201);
    const over = await create(base, 2_000_000, {}, quota);
    assert.equal(over.status, 413);
    assert.match(over.text, /quota/);
    // The same display name is no way around it: the account counts, not the metadata.
    assert.equal((await create(base, 2_000_000, { reporter: 'someone-else' }, quota)).status, 413);
    assert.equal((await create(base, 2_000_000, {}, other)).status, 201);
  });

  test('two PATCH requests at once: the second gets 423, a stale one later 409', async () => {
    const loc = (await create(base, 2_000_000)).headers.get('location');
    const id = loc.split('/').pop();
    // Request A: headers and the first half of its body, then it waits.
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let answer = '';
    sock.on('data', (d) => { answer += d.toString('latin1'); });
    sock.write(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
      `Content-Type: ${OCTETS}\r\nContent-Length: 2000000\r\n\r\n`);
    sock.write(Buffer.alloc(1_000_000, 3));
    await waitFor(() => (storedBytes(dataDir, id)?.length ?? 0) >= 1_000_000, 'the first half on disk', 10_000, 20);
    const b = await patch(base, loc, 0, Buffer.alloc(2_000_000, 4));
    assert.equal(b.status, 423, 'the upload is locked while A writes');
    sock.write(Buffer.alloc(1_000_000, 3));
    await waitFor(() => /^HTTP\/1\.1 204/.test(answer), 'A to be answered', 10_000, 20);
    sock.destroy();
    const stale = await patch(base, loc, 0, Buffer.alloc(2_000_000, 4));
    assert.equal(stale.status, 409);
    assert.ok(storedBytes(dataDir, id).equals(Buffer.alloc(2_000_000, 3)), 'only A\'s bytes were stored');
  });

  test('creating an upload answers from the pool and keeps the connection for the next request', async () => {
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let answer = '';
    sock.on('data', (d) => { answer += d.toString('latin1'); });
    sock.write(`POST /files/ HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\nUpload-Length: 5\r\n` +
      'Content-Length: 0\r\n\r\n');
    await waitFor(() => /\r\n\r\n/.test(answer), 'the creation to be answered', 10_000, 20);
    assert.match(answer, /^HTTP\/1\.1 201/);
    assert.doesNotMatch(answer, /connection: close/i);
    const loc = answer.match(/location: (\S+)/i)[1];
    answer = '';
    sock.write(`HEAD ${loc} HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\n\r\n`);
    await waitFor(() => /\r\n\r\n/.test(answer), 'the HEAD on the same connection', 10_000, 20);
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.match(answer, /upload-offset: 0/i);
    sock.destroy();
  });

  test('a PATCH pipelined right behind a HEAD is stored and answered; the server does not spin', async () => {
    const loc = (await create(base, 10)).headers.get('location');
    const id = loc.split('/').pop();
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    let answer = '';
    let closed = false;
    sock.on('data', (d) => { answer += d.toString('latin1'); });
    sock.on('close', () => { closed = true; });
    // Both requests in one write: lws reads the PATCH from bytes it already holds.
    sock.write(`HEAD ${loc} HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\n\r\n` +
      `PATCH ${loc} HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
      `Content-Type: ${OCTETS}\r\nContent-Length: 10\r\n\r\n0123456789`);
    await waitFor(() => (answer.match(/^HTTP\/1\.1 /gm) || []).length >= 2, 'both answers', 10_000, 20);
    const statuses = answer.match(/^HTTP\/1\.1 \d+/gm);
    assert.deepEqual(statuses, ['HTTP/1.1 200', 'HTTP/1.1 204'], answer);
    assert.match(answer, /upload-offset: 10/i);
    await waitFor(() => closed, 'the server to close that connection', 10_000, 20);
    const head = await req(base, 'HEAD', loc);
    assert.equal(head.headers.get('upload-offset'), '10');
    assert.ok(fs.existsSync(path.join(dataDir, 'originals', id)), 'the finished upload became a video');
    // A spinning service thread burns a whole core whatever the machine; an idle one almost
    // nothing. Half a core over two seconds tells them apart on any machine.
    const cpu = () => {
      const f = fs.readFileSync(`/proc/${server.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);  // utime + stime
    };
    const before = cpu();
    await sleep(2000);
    const ticks = cpu() - before;  // clock ticks (100 a second on Linux)
    assert.ok(ticks < 100, `the server used ${ticks} ticks of CPU in 2 s while idle`);
  });

  test('hostile requests get clear 4xx answers', async () => {
    const loc = (await create(base, 10)).headers.get('location');
    let r = await fetch(`${base}${loc}`, { method: 'HEAD' });
    assert.equal(r.status, 412, 'no Tus-Resumable');
    r = await fetch(`${base}/files/`, { method: 'POST', headers: { 'Tus-Resumable': '0.2.2', 'Upload-Length': '1' } });
    assert.equal(r.status, 412);
    assert.equal(r.headers.get('tus-version'), '1.0.0');
    assert.equal((await patch(base, loc, 0, Buffer.alloc(5), { 'Content-Type': 'text/plain' })).status, 415);
    assert.equal((await req(base, 'PATCH', loc, { 'Content-Type': OCTETS }, Buffer.alloc(1))).status, 400, 'no Upload-Offset');
    assert.equal((await patch(base, loc, -1, Buffer.alloc(1))).status, 400);
    assert.equal((await req(base, 'POST', '/files/', {})).status, 400, 'no length at all');
    assert.equal((await req(base, 'POST', '/files/', { 'Upload-Length': '12abc' })).status, 400);
    assert.equal((await req(base, 'POST', '/files/', { 'Upload-Length': '5', 'Upload-Metadata': 'title !!!notbase64' })).status, 400);
    assert.equal((await req(base, 'POST', '/files/', { 'Upload-Length': '5', 'Upload-Metadata': `title ${Buffer.from([0xff, 0xfe]).toString('base64')}` })).status, 400, 'metadata must be UTF-8');
    assert.equal((await req(base, 'POST', '/files/', { 'Upload-Length': '5', 'Upload-Metadata': `a ${b64('1')},a ${b64('2')}` })).status, 400, 'duplicate key');
    assert.equal((await req(base, 'POST', '/files/', { 'Upload-Length': '5', 'Upload-Metadata': `title ${Buffer.from([0xc0, 0xaf]).toString('base64')}` })).status, 400, 'overlong UTF-8');
    assert.equal((await req(base, 'POST', '/files/', { 'Upload-Length': '5', 'Upload-Concat': 'partial' })).status, 400);
    for (const p of ['/files/nope-nope', '/files/..%2fcatalog.db', '/files/a/b', '/files/-x'])
      assert.equal((await curl(`${base}${p}`, [...server.auth, '-I', '-H', 'Tus-Resumable: 1.0.0'])).status, 404, p);
    assert.equal((await req(base, 'GET', loc)).status, 405);
    // Headers past the 8 KB limit: libwebsockets closes the connection without an answer.
    const huge = await curl(`${base}/files/`, [...server.auth, '-X', 'POST', '-H', 'Tus-Resumable: 1.0.0', '-H', 'Upload-Length: 5',
      '-H', `Upload-Metadata: title ${Buffer.alloc(15000).toString('base64')}`]);
    assert.ok(huge.status === 0 || huge.status === 431, `oversized headers -> ${huge.status}`);
    assert.equal(huge.headers.location, undefined, 'no upload was created');
    // The catalog is untouched by all of this.
    assert.ok(fs.existsSync(path.join(dataDir, 'catalog.db')));
    assert.equal((await curl(`${base}/healthz`)).status, 200);
  });
});

describe('tus: expiration', () => {
  let server, dataDir;
  before(async () => {
    dataDir = tempDataDir('tus-exp');
    server = await startServer({ dataDir, extraArgs: ['--workers', '0', '--upload-expiry', '2', '--upload-sweep-interval', '1'] });
    AUTH = server.authHeaders;
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  test('an abandoned upload expires: 410/404, and its bytes are removed', async () => {
    const base = server.base;
    const loc = (await create(base, 1000)).headers.get('location');
    const id = loc.split('/').pop();
    assert.equal((await patch(base, loc, 0, Buffer.alloc(100))).status, 204);
    const expires = Date.parse((await req(base, 'HEAD', loc)).headers.get('upload-expires'));
    assert.ok(expires > Date.now() && expires < Date.now() + 5000);
    await waitFor(() => !fs.existsSync(path.join(dataDir, 'uploads', id)), 'the sweep to remove the bytes', 15_000);
    const head = await req(base, 'HEAD', loc);
    assert.ok([404, 410].includes(head.status), `HEAD after expiry: ${head.status}`);
    assert.equal((await patch(base, loc, 100, Buffer.alloc(10))).status, head.status);
  });
});

describe('tus: 200 MB with tus-js-client over a link that drops, and a server killed mid-upload', () => {
  let server, dataDir, proxy, tmp;
  before(async () => {
    dataDir = tempDataDir('tus-big');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-tus-big-'));
    server = await startServer({ dataDir, extraArgs: ['--workers', '0'] });
    AUTH = server.authHeaders;
    proxy = await startProxy(server.port, { cutEvery: 45 * 1024 * 1024 });
  });
  after(async () => {
    proxy?.close();
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('completes with the same SHA-256, resuming rather than restarting', async () => {
    const size = 200 * 1024 * 1024;
    const data = crypto.randomBytes(size);
    const want = crypto.createHash('sha256').update(data).digest('hex');
    let killedAt = 0, restarted = null;
    const upload = await tusUpload(data, `http://127.0.0.1:${proxy.port}/files/`, {
      chunkSize: 16 * 1024 * 1024,
      metadata: { filename: 'raw footage.mxf', title: 'Sạt lở ở Hà Giang', reporter: 'field reporter' },
      onProgress: (sent) => {
        if (!killedAt && sent > 110 * 1024 * 1024) {
          killedAt = sent;
          server.proc.kill('SIGKILL');
          restarted = server.exited.then(() => startServer({ dataDir, port: server.port, token: server.token, extraArgs: ['--workers', '0'] }))
            .then((s) => { server = s; });
        }
      },
    });
    await restarted;
    assert.ok(killedAt > 0, 'the server was killed mid-upload');
    assert.ok(proxy.state.cuts >= 3, `the link dropped ${proxy.state.cuts} times`);
    const id = upload.url.split('/').pop();
    const original = await waitFor(() => {
      const dir = path.join(dataDir, 'originals', id);
      return fs.existsSync(dir) && fs.readdirSync(dir).length === 1 && path.join(dir, fs.readdirSync(dir)[0]);
    }, 'the original to be kept', 10_000);
    assert.equal(sha256File(original), want, 'same SHA-256 as the source');
    // Resumed from where it stopped: much less than a second copy went over the wire.
    assert.ok(proxy.state.forwarded < size * 1.5, `forwarded ${proxy.state.forwarded} bytes for ${size}`);
    const v = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
    assert.equal(v.status, 200);
    assert.equal(v.json.title, 'Sạt lở ở Hà Giang');
    assert.equal(v.json.status, 'queued');
  });
});

describe('tus: from upload to a ready (or readably failed) video', () => {
  let server, dataDir, events;
  before(async () => {
    dataDir = tempDataDir('tus-ready');
    server = await startServer({ dataDir, extraArgs: ['--workers', '1'] });
    AUTH = server.authHeaders;
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
  });
  after(async () => { events?.close(); await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  test('a real clip uploaded with tus-js-client becomes a ready video; events follow it', async () => {
    const upload = await tusUpload(fs.readFileSync(SHORT), `${server.base}/files/`, {
      metadata: { filename: path.basename(SHORT), title: 'Phóng sự thử', tags: 'thời sự, Hà Giang', description: 'từ hiện trường' },
    });
    const id = upload.url.split('/').pop();
    const created = await events.next((e) => e.type === 'video.created' && e.data.id === id, 'video.created');
    assert.equal(created.data.status, 'queued');
    const ready = await events.next((e) => e.type === 'video.ready' && e.data.id === id, 'video.ready');
    assert.ok(ready.seq > created.seq, 'events in order');
    const v = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
    assert.equal(v.json.status, 'ready');
    assert.deepEqual(v.json.tags, ['thời sự', 'Hà Giang']);
    assert.equal(v.json.description, 'từ hiện trường');
    // An upload is a draft: not served at its plain path, only through the API's signed URL.
    assert.equal(v.json.visibility, 'draft');
    assert.equal((await curl(`${server.base}/media/${id}/master.m3u8`)).status, 404);
    assert.equal((await curl(`${server.base}${v.json.playback.master}`)).status, 200);
    assert.equal(sha256File(path.join(dataDir, 'originals', id, 'source.mp4')), sha256File(SHORT));
  });

  test('playlists and stream descriptions named .mp4 fail as not media, and nothing is fetched', async () => {
    // Where the uploads point: a listener on this machine that records every connection.
    let knocks = 0;
    const listener = net.createServer((s) => { knocks += 1; s.destroy(); });
    await new Promise((r) => listener.listen(0, '127.0.0.1', r));
    const port = listener.address().port;
    const url = `http://127.0.0.1:${port}`;
    const hostile = {
      'hls.mp4': `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${url}/secret.ts\n#EXT-X-ENDLIST\n`,
      'master.mp4': `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n${url}/index.m3u8\n`,
      'dash.mp4': `<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S"><Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1"><BaseURL>${url}/a.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>\n`,
      'stream.mp4': `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video ${port} RTP/AVP 96\na=rtpmap:96 H264/90000\n`,
    };
    try {
      // A real clip at the same time: it still becomes ready.
      const uploads = [tusUpload(fs.readFileSync(SHORT), `${server.base}/files/`, {
        metadata: { filename: 'real.mp4', title: 'thật' },
      })];
      for (const [name, body] of Object.entries(hostile)) {
        uploads.push(tusUpload(Buffer.from(body), `${server.base}/files/`, { metadata: { filename: name, title: name } }));
      }
      const [real, ...bad] = await Promise.all(uploads);
      for (const upload of bad) {
        const id = upload.url.split('/').pop();
        await events.next((e) => e.type === 'video.failed' && e.data.id === id, `video.failed for ${id}`);
        const v = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
        assert.equal(v.json.status, 'failed');
        assert.match(v.json.failure_reason, /not a media file/i, `reason: ${v.json.failure_reason}`);
        assert.ok(!v.json.failure_reason.includes(os.tmpdir()), `the reason names a server folder: ${v.json.failure_reason}`);
      }
      const realId = real.url.split('/').pop();
      await events.next((e) => e.type === 'video.ready' && e.data.id === realId, 'the real clip ready');
      assert.equal(knocks, 0, 'a worker connected to the address an upload named');
    } finally {
      listener.close();
    }
  });

  test('a file that is not media ends as failed with a readable reason; nothing else is affected', async () => {
    const upload = await tusUpload(crypto.randomBytes(300_000), `${server.base}/files/`, {
      metadata: { filename: 'not-a-video.mp4', title: 'rác' },
    });
    const id = upload.url.split('/').pop();
    const failed = await events.next((e) => e.type === 'video.failed' && e.data.id === id, 'video.failed');
    const v = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
    assert.equal(v.json.status, 'failed');
    assert.match(v.json.failure_reason, /media/i, `reason: ${v.json.failure_reason}`);
    assert.ok(failed.seq > 0);
    const ready = events.events.find((e) => e.type === 'video.ready');
    const other = await curlJson(`${server.base}/api/v1/videos/${ready.data.id}`, server.auth);
    assert.equal((await curl(`${server.base}${other.json.playback.master}`)).status, 200, 'the other video still plays');
  });
});

describe('tus: slow and stalled clients', () => {
  let server, dataDir;
  before(async () => {
    dataDir = tempDataDir('tus-slow');
    server = await startServer({
      dataDir,
      extraArgs: ['--workers', '0', '--idle-timeout', '3', '--keepalive-timeout', '4',
        '--upload-min-rate', '100000', '--upload-rate-grace', '2'],
    });
    AUTH = server.authHeaders;
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  test('a thousand stalled connections do not starve an honest upload, and are closed', async () => {
    const stalled = [];
    let closedByServer = 0;
    const open = (i) => new Promise((resolve) => {
      const s = net.connect(server.port, '127.0.0.1');
      s.on('connect', () => {
        // Half stop in the middle of their headers, half in the middle of an upload body.
        if (i % 2) {
          s.write('PATCH /files/x HTTP/1.1\r\nHost: x\r\nTus-Resu');
        } else {
          s.write(`POST /files/ HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\nUpload-Length: 100000\r\n` +
            `Content-Type: ${OCTETS}\r\nContent-Length: 100000\r\n\r\n` + 'x'.repeat(100));
        }
        resolve();
      });
      s.on('close', () => { closedByServer++; });
      s.on('error', () => {});
      stalled.push(s);
    });
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => open(i + k)));
    const honest = crypto.randomBytes(20 * 1024 * 1024);
    const upload = await tusUpload(honest, `${server.base}/files/`, { metadata: { filename: 'honest.mp4' } });
    assert.ok(closedByServer < 1000, 'the honest upload finished while stalled connections were open');
    const id = upload.url.split('/').pop();
    assert.equal(sha256File(path.join(dataDir, 'originals', id, 'source.mp4')),
      crypto.createHash('sha256').update(honest).digest('hex'));
    await waitFor(() => closedByServer === 1000, `the server to close stalled connections (${closedByServer} closed)`, 60_000, 200);
    for (const s of stalled) s.destroy();
  });

  test('kept-alive connections: an idle one is closed after the keep-alive timeout, a busy one is not', async () => {
    const connect = () => new Promise((resolve) => {
      const s = net.connect(server.port, '127.0.0.1');
      const c = { s, closed: false, answers: 0 };
      s.on('data', (d) => { c.answers += (d.toString('latin1').match(/HTTP\/1\.1 200/g) || []).length; });
      s.on('close', () => { c.closed = true; });
      s.on('error', () => {});
      s.on('connect', () => resolve(c));
    });
    const ask = (c) => c.s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const idle = await connect(), busy = await connect();
    ask(idle);
    // The busy one asks every second for longer than the keep-alive timeout (4 s).
    for (let i = 0; i < 7; i++) {
      ask(busy);
      await sleep(1000);
    }
    assert.equal(busy.closed, false, 'a connection in use stays open');
    assert.equal(busy.answers, 7);
    assert.equal(idle.answers, 1);
    await waitFor(() => idle.closed, 'the idle kept-alive connection to be closed', 20_000);
    busy.s.destroy();
  });

  test('a client trickling below the minimum rate is cut off, keeping what arrived', async () => {
    const loc = (await create(server.base, 1_000_000)).headers.get('location');
    const s = net.connect(server.port, '127.0.0.1');
    await new Promise((r) => s.on('connect', r));
    let closed = false;
    s.on('close', () => { closed = true; });
    s.on('error', () => {});
    s.write(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\n${authLine()}Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n` +
      `Content-Type: ${OCTETS}\r\nContent-Length: 1000000\r\n\r\n`);
    let sent = 0;
    while (!closed && sent < 1_000_000) {
      s.write(Buffer.alloc(2000, 9));
      sent += 2000;
      await sleep(200);
      if (sent > 200_000) break;  // 10 kB/s would take 100 s; the server must act long before
    }
    await waitFor(() => closed, 'the server to cut the trickle off', 20_000);
    const head = await req(server.base, 'HEAD', loc);
    const kept = Number(head.headers.get('upload-offset'));
    assert.ok(kept > 0 && kept < 1_000_000, `kept ${kept} bytes of the trickle`);
    s.destroy();
  });
});

describe('requests without a length', () => {
  let server, dataDir;
  before(async () => {
    dataDir = tempDataDir('no-length');
    server = await startServer({ dataDir, extraArgs: ['--workers', '0'] });
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  test('a POST without Content-Length is answered and does not hang the next request', async () => {
    const auth = Object.entries(server.authHeaders).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    for (const first of [
      `POST /api/v1/session HTTP/1.1\r\nHost: x\r\n\r\n`,
      `POST /files/ HTTP/1.1\r\nHost: x\r\n${auth}Tus-Resumable: 1.0.0\r\nUpload-Length: 5\r\n\r\n`,
      `PATCH /api/v1/users/tester HTTP/1.1\r\nHost: x\r\n${auth}\r\n`,
    ]) {
      const sock = net.connect(server.port, '127.0.0.1');
      await new Promise((r) => sock.on('connect', r));
      let answer = '';
      let closed = false;
      sock.on('data', (d) => { answer += d.toString('latin1'); });
      sock.on('close', () => { closed = true; });
      sock.on('error', () => {});
      sock.write(first + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      // Either both are answered, or the first answer says it closes and the server closes.
      await waitFor(() => (answer.match(/^HTTP\/1\.1 /gm) || []).length >= 2 || closed,
        `an answer and then the next one or a close (${first.split('\r\n')[0]})`, 10_000, 20);
      assert.match(answer, /^HTTP\/1\.1 [1-5]\d\d/, first.split('\r\n')[0]);
      if ((answer.match(/^HTTP\/1\.1 /gm) || []).length < 2) assert.match(answer, /connection: close/i);
      sock.destroy();
    }
    assert.equal((await curl(`${server.base}/healthz`)).status, 200);
  });
});
