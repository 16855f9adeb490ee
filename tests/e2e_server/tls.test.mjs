// `newsreel serve --tls-cert --tls-key` end to end: certificates made by the openssl CLI in a
// temporary folder; curl (HTTP/2 and HTTP/1.1), ffprobe, openssl s_client, Node's https and the
// `ws` package as clients; a certificate replaced under the running server and reloaded on
// SIGHUP, and broken replacements that must not be taken.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { chromium } from 'playwright-core';
import {
  BIN, MEDIA, eventClient, execFileP, freePort, httpsGet, importFile, makeAccount, startServer,
  tempDataDir, waitFor,
} from './lib/server.mjs';

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';

// curl arguments every request of these tests carries: the admin's token (startServer's auth).
let AUTH_HEADERS = [];

// A self-signed certificate for 127.0.0.1 and localhost: {cert, key, pem, fingerprint}, the
// fingerprint as `openssl x509 -fingerprint -sha256` prints it ("AB:CD:...").
async function makeCertificate(dir, name) {
  const cert = path.join(dir, `${name}.crt`), key = path.join(dir, `${name}.key`);
  await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/CN=newsreel-test-${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']);
  return { cert, key, pem: fs.readFileSync(cert, 'utf8'), fingerprint: await fingerprintOf(cert) };
}

async function fingerprintOf(certFile) {
  const { stdout } = await execFileP('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint',
    '-sha256']);
  return stdout.trim().split('=')[1];
}

// The certificate a new connection to `port` is shown, by openssl s_client.
async function servedFingerprint(port) {
  const { stdout } = await execFileP('sh', ['-c',
    `openssl s_client -connect 127.0.0.1:${port} </dev/null 2>/dev/null | ` +
    'openssl x509 -noout -fingerprint -sha256']);
  return stdout.trim().split('=')[1];
}

// Whether `openssl s_client` with `args` completes a handshake with the server on `port`.
async function handshakes(port, args) {
  try {
    await execFileP('sh', ['-c',
      `openssl s_client -connect 127.0.0.1:${port} ${args} </dev/null >/dev/null 2>&1`]);
    return true;
  } catch {
    return false;
  }
}

// curl over TLS trusting `ca`: resolves {status, version ("2", "1.1"), connects, body} for each
// URL, in order, all in one curl run (so that it may reuse its connection).
async function curlTls(ca, urls, extra = [], auth = AUTH_HEADERS) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-curl-tls-'));
  try {
    const args = ['-sS', '--cacert', ca, '--max-time', '60', ...auth, ...extra,
      '-w', '%{http_code} %{http_version} %{num_connects}\\n'];
    urls.forEach((u, i) => args.push('-o', path.join(dir, `b${i}`), u));
    const { stdout } = await execFileP('curl', args);
    return stdout.trim().split('\n').map((line, i) => {
      const [status, version, connects] = line.split(' ');
      const file = path.join(dir, `b${i}`);
      return { status: Number(status), version, connects: Number(connects),
        body: fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0) };
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// A TCP proxy in front of the server that passes what the server sends at most `perTick` bytes
// every `tickMs` (a slow link): the server's socket fills and its writes come out partial.
async function startSlowProxy(targetPort, { perTick = 256 * 1024, tickMs = 20 } = {}) {
  const sockets = new Set();
  const srv = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let budget = perTick;
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      client.write(d);
      budget -= d.length;
      if (budget > 0) return;
      upstream.pause();
      setTimeout(() => { budget = perTick; upstream.resume(); }, tickMs);
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    for (const s of [client, upstream]) { s.on('error', end); s.on('close', end); }
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { port, close: () => { for (const s of sockets) s.destroy(); srv.close(); } };
}

// Runs `newsreel serve` expecting it to refuse to start: resolves {code, stderr}.
async function refusedStart(dataDir, args) {
  const port = await freePort();
  try {
    await execFileP(BIN, ['serve', '--data', dataDir, '--host', '127.0.0.1', '--port',
      String(port), '--workers', '0', '--srt-port', '-1', ...args], { timeout: 30_000 });
  } catch (e) {
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`the server started with ${args.join(' ')}`);
}

describe('newsreel serve refuses to start with a bad certificate or key, and says which', () => {
  let dir, dataDir, a, b;

  before(async () => {
    dir = tempDataDir('tls-bad');
    dataDir = path.join(dir, 'data');
    a = await makeCertificate(dir, 'a');
    b = await makeCertificate(dir, 'b');
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a missing certificate file', async () => {
    const missing = path.join(dir, 'nowhere.crt');
    const r = await refusedStart(dataDir, ['--tls-cert', missing, '--tls-key', a.key]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--tls-cert ${missing}: cannot read it: No such file`));
  });

  test('a missing key file', async () => {
    const missing = path.join(dir, 'nowhere.key');
    const r = await refusedStart(dataDir, ['--tls-cert', a.cert, '--tls-key', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--tls-key ${missing}: cannot read it: No such file`));
  });

  test('a folder where the certificate should be', async () => {
    const r = await refusedStart(dataDir, ['--tls-cert', dir, '--tls-key', a.key]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--tls-cert ${dir}: not a PEM file`));
  });

  test('a certificate file that holds no certificate (the key given twice)', async () => {
    const r = await refusedStart(dataDir, ['--tls-cert', a.key, '--tls-key', a.key]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--tls-cert ${a.key}: holds no PEM certificate`));
  });

  test('a key file that holds no key (the certificate given twice)', async () => {
    const r = await refusedStart(dataDir, ['--tls-cert', a.cert, '--tls-key', a.cert]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--tls-key ${a.cert}: holds no PEM private key`));
  });

  test('a key of another certificate', async () => {
    const r = await refusedStart(dataDir, ['--tls-cert', a.cert, '--tls-key', b.key]);
    assert.equal(r.code, 1);
    assert.match(r.stderr,
      new RegExp(`--tls-key ${b.key} does not match the certificate in --tls-cert ${a.cert}`));
  });

  test('an encrypted key', async () => {
    const encrypted = path.join(dir, 'encrypted.key');
    await execFileP('openssl', ['pkey', '-in', a.key, '-aes256', '-passout', 'pass:secret',
      '-out', encrypted]);
    const r = await refusedStart(dataDir, ['--tls-cert', a.cert, '--tls-key', encrypted]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`--tls-key ${encrypted}: the key is encrypted`));
  });

  test('a certificate without its key', async () => {
    const r = await refusedStart(dataDir, ['--tls-cert', a.cert]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--tls-cert requires --tls-key/);
  });
});

describe('newsreel serve over TLS: HTTPS, HTTP/2, WSS and certificate reloads', () => {
  let dir, dataDir, server, events, a, b, live, ca, id;

  before(async () => {
    dir = tempDataDir('tls');
    dataDir = path.join(dir, 'data');
    a = await makeCertificate(dir, 'a');
    b = await makeCertificate(dir, 'b');
    // The files the server is given; replaced in place later. Clients trust both certificates.
    live = { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
    fs.copyFileSync(a.cert, live.cert);
    fs.copyFileSync(a.key, live.key);
    ca = path.join(dir, 'trusted.pem');
    fs.writeFileSync(ca, a.pem + b.pem);
    server = await startServer({ dataDir, tls: { ...live, ca: a.pem + b.pem },
      extraArgs: ['--workers', '1', '--http2'] });
    AUTH_HEADERS = server.auth;
    events = eventClient(server.base, server.authHeaders, { ca: a.pem + b.pem });
    await events.hello;
    const imported = await importFile(dataDir, path.join(MEDIA, 'videotestdata_1-video-streamable.mp4'));
    id = imported.video_id;
    await events.next((e) => e.type === 'video.ready' && e.data.id === id, 'video.ready');
  });

  after(async () => {
    events?.close();
    const exit = await server?.stop();
    assert.equal(exit?.code, 0, `clean exit on SIGTERM; log:\n${server?.log.join('')}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('/healthz over HTTPS, as HTTP/2 through ALPN and as HTTP/1.1', async () => {
    const [h2] = await curlTls(ca, [`${server.base}/healthz`], ['--http2']);
    assert.equal(h2.status, 200);
    assert.equal(h2.version, '2');
    assert.equal(JSON.parse(h2.body).status, 'ok');
    const [h1] = await curlTls(ca, [`${server.base}/healthz`], ['--http1.1']);
    assert.equal(h1.status, 200);
    assert.equal(h1.version, '1.1');
    assert.deepEqual(JSON.parse(h1.body), JSON.parse(h2.body));
  });

  test('media files over HTTP/2 and HTTP/1.1: every byte as on disk, on one connection', async () => {
    const folder = path.join(dataDir, 'media', id);
    const rung = fs.readdirSync(folder).find((f) => fs.existsSync(path.join(folder, f, 'index.m3u8')));
    // The clip's segments are small: a large one beside them takes many writes (256 KB each
    // over HTTP/1.1, 16 KB DATA frames within the flow-control window over HTTP/2).
    fs.writeFileSync(path.join(folder, rung, 'large_00001.ts'), crypto.randomBytes(3 * 1024 * 1024 + 321));
    const files = ['master.m3u8', `${rung}/index.m3u8`, 'poster.jpg',
      ...fs.readdirSync(path.join(folder, rung)).filter((f) => f.endsWith('.ts')).map((f) => `${rung}/${f}`)];
    for (const [flag, version] of [['--http2', '2'], ['--http1.1', '1.1']]) {
      const got = await curlTls(ca, files.map((f) => `${server.base}/media/${id}/${f}`), [flag]);
      got.forEach((r, i) => {
        assert.equal(r.status, 200, files[i]);
        assert.equal(r.version, version, files[i]);
        assert.equal(sha256(r.body), sha256(fs.readFileSync(path.join(folder, files[i]))), files[i]);
      });
      assert.equal(got[0].connects, 1);
      assert.ok(got.slice(1).every((r) => r.connects === 0), 'one connection for all of them');
    }
  });

  test('an API change over HTTP/2: a request body, an answer from the pool', async () => {
    const body = path.join(dir, 'title.json');
    fs.writeFileSync(body, JSON.stringify({ title: 'Nước lên over HTTP/2' }));
    const [patched] = await curlTls(ca, [`${server.base}/api/v1/videos/${id}`], ['--http2',
      '-X', 'PATCH', '-H', 'Content-Type: application/json', '--data-binary', `@${body}`]);
    assert.equal(patched.status, 200);
    assert.equal(patched.version, '2');
    assert.equal(JSON.parse(patched.body).title, 'Nước lên over HTTP/2');
    const [got] = await curlTls(ca, [`${server.base}/api/v1/videos/${id}`], ['--http2']);
    assert.equal(JSON.parse(got.body).title, 'Nước lên over HTTP/2');
  });

  test('signed in with a cookie over HTTPS: Secure; a same-origin change over HTTP/2 passes the CSRF check', async () => {
    await makeAccount(dataDir, 'editor-h2', 'editor', 'a long enough passphrase');
    const login = path.join(dir, 'login.json');
    fs.writeFileSync(login, JSON.stringify({ name: 'editor-h2', password: 'a long enough passphrase' }));
    const jar = path.join(dir, 'cookies.txt');
    const { stdout: signedIn } = await execFileP('curl', ['-sS', '--http2', '--cacert', ca,
      '-X', 'POST', '-H', 'Content-Type: application/json', '-H', `Origin: ${server.base}`,
      '--data-binary', `@${login}`, '-c', jar, '-D', '-', '-o', '/dev/null', `${server.base}/api/v1/session`]);
    assert.match(signedIn, /^HTTP\/2 200/);
    assert.match(signedIn, /^set-cookie: .*; Secure/mi);
    const body = path.join(dir, 'cookie-title.json');
    fs.writeFileSync(body, JSON.stringify({ title: 'changed with a cookie over HTTP/2' }));
    const change = (origin) => execFileP('curl', ['-sS', '--http2', '--cacert', ca, '-b', jar,
      '-X', 'PATCH', '-H', 'Content-Type: application/json', '-H', `Origin: ${origin}`,
      '--data-binary', `@${body}`, '-o', '/dev/null', '-w', '%{http_code} %{http_version}',
      `${server.base}/api/v1/videos/${id}`]);
    assert.equal((await change(server.base)).stdout, '200 2');
    assert.equal((await change('https://elsewhere.example')).stdout, '403 2');
  });

  test('without --http2, ALPN offers HTTP/1.1 only', async () => {
    const other = await startServer({ dataDir: path.join(dir, 'data-h1'), tls: { ...live, ca: a.pem + b.pem },
      extraArgs: ['--workers', '0'] });
    try {
      const [r] = await curlTls(ca, [`${other.base}/healthz`], ['--http2'], other.auth);
      assert.equal(r.status, 200);
      assert.equal(r.version, '1.1');
    } finally {
      assert.equal((await other.stop()).code, 0);
    }
  });

  test('over a slow link, every byte of several responses on one HTTP/2 connection', async () => {
    // The server's writes come out partial and lws holds the rest for the connection while
    // streams end: each response must still arrive whole (lws 4.1 stops sending what it holds
    // once the stream that wrote it closes; the server keeps the stream open until it is sent).
    const folder = path.join(dataDir, 'media', id);
    const rung = fs.readdirSync(folder).find((f) => fs.existsSync(path.join(folder, f, 'index.m3u8')));
    const large = path.join(folder, rung, 'slow_00001.ts');
    fs.writeFileSync(large, crypto.randomBytes(24 * 1024 * 1024 + 7));
    const proxy = await startSlowProxy(server.port);
    try {
      const base = `https://127.0.0.1:${proxy.port}/media/${id}`;
      const files = [`${rung}/slow_00001.ts`, 'master.m3u8', `${rung}/slow_00001.ts`, 'poster.jpg'];
      const got = await curlTls(ca, files.map((f) => `${base}/${f}`), ['--http2']);
      got.forEach((r, i) => {
        assert.equal(r.status, 200, files[i]);
        assert.equal(r.version, '2');
        assert.equal(sha256(r.body), sha256(fs.readFileSync(path.join(folder, files[i]))), files[i]);
      });
    } finally {
      proxy.close();
      fs.rmSync(large);
    }
  });

  test('per-address limits over TLS: 429 over HTTP/1.1 and HTTP/2, extra connections closed', async () => {
    const limited = await startServer({ dataDir: path.join(dir, 'data-limits'),
      tls: { ...live, ca: a.pem + b.pem }, extraArgs: ['--workers', '0', '--http2'],
      limits: ['--rate-limit-per-address', '1', '--rate-limit-burst', '2',
        '--max-connections-per-address', '2'] });
    try {
      const urls = Array.from({ length: 6 }, () => `${limited.base}/healthz`);
      for (const [flag, version] of [['--http1.1', '1.1'], ['--http2', '2']]) {
        const headers = path.join(dir, `limits-${version}.txt`);
        const got = await curlTls(ca, urls, [flag, '-D', headers], []);
        assert.ok(got.some((r) => r.status === 429), got.map((r) => r.status).join(' '));
        assert.ok(got.every((r) => r.status === 200 || r.status === 429));
        for (const r of got.filter((x) => x.status === 429)) {
          assert.equal(r.version, version);
          assert.match(JSON.parse(r.body).error.message, /too many requests/);
        }
        assert.match(fs.readFileSync(headers, 'latin1'), /^retry-after: \d+/mi);
      }
      // Two connections held open; a third gets no TLS handshake (a 429 could not be read).
      const open = (port) => new Promise((resolve) => {
        const s = tls.connect({ port, host: '127.0.0.1', ca: a.pem + b.pem, ALPNProtocols: ['http/1.1'] });
        s.on('secureConnect', () => resolve({ socket: s, ok: true }));
        s.on('error', () => resolve({ socket: s, ok: false }));
        s.on('close', () => resolve({ socket: s, ok: false }));
      });
      const held = [await open(limited.port), await open(limited.port)];
      assert.deepEqual(held.map((h) => h.ok), [true, true]);
      const third = await open(limited.port);
      assert.equal(third.ok, false);
      for (const h of [...held, third]) h.socket.destroy();
      assert.equal(limited.proc.exitCode, null);
    } finally {
      assert.equal((await limited.stop()).code, 0);
    }
  });

  test('a range of a segment over HTTP/2', async () => {
    const folder = path.join(dataDir, 'media', id);
    const rung = fs.readdirSync(folder).find((f) => fs.existsSync(path.join(folder, f, 'index.m3u8')));
    const segment = fs.readdirSync(path.join(folder, rung)).find((f) => f.endsWith('.ts'));
    const bytes = fs.readFileSync(path.join(folder, rung, segment));
    const [r] = await curlTls(ca, [`${server.base}/media/${id}/${rung}/${segment}`],
      ['--http2', '-r', '1000-70999']);
    assert.equal(r.status, 206);
    assert.equal(r.version, '2');
    assert.ok(r.body.equals(bytes.subarray(1000, 71000)));
  });

  test('ffprobe reads the HLS master playlist and a rendition over HTTPS', async () => {
    const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-tls_verify', '1', '-ca_file', ca,
      '-show_streams', '-of', 'json', `${server.base}/media/${id}/master.m3u8`]);
    const streams = JSON.parse(stdout).streams;
    assert.ok(streams.some((s) => s.codec_type === 'video' && s.codec_name === 'h264'));
  });

  test('Node https: the playlist, verified against the certificate it trusts', async () => {
    const r = await httpsGet(`${server.base}/media/${id}/master.m3u8`, a.pem + b.pem);
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /^#EXTM3U/);
    assert.equal(r.protocol, 'TLSv1.3');
  });

  test('uploads over HTTPS (HTTP/1.1): a tus PATCH body arrives whole; over HTTP/2 a 505 says why not', async () => {
    const chunk = crypto.randomBytes(300 * 1024);
    const dirOut = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-tls-upload-'));
    const tusCurl = (args) => execFileP('curl', ['-sS', '--cacert', ca, ...AUTH_HEADERS,
      '-H', 'Tus-Resumable: 1.0.0', '-D', '-', '-o', '/dev/null', ...args]);
    try {
      const body = path.join(dirOut, 'chunk');
      fs.writeFileSync(body, chunk);
      const { stdout: created } = await tusCurl(['--http1.1', '-X', 'POST',
        '-H', `Upload-Length: ${chunk.length * 2}`, `${server.base}/files/`]);
      assert.match(created, /^HTTP\/1\.1 201/);
      const location = new URL(/^location: (\S+)/mi.exec(created)[1], server.base).href;
      const { stdout: patched } = await tusCurl(['--http1.1', '-X', 'PATCH', '-H', 'Upload-Offset: 0',
        '-H', 'Content-Type: application/offset+octet-stream', '--data-binary', `@${body}`, location]);
      assert.match(patched, /^HTTP\/1\.1 204/);
      assert.match(patched, new RegExp(`^upload-offset: ${chunk.length}\\r?$`, 'mi'));
      const stored = fs.readFileSync(path.join(dataDir, 'uploads', location.split('/').pop()));
      assert.equal(sha256(stored), sha256(chunk));
      // lws 4.1 drops header names it does not know from HTTP/2 requests: tus's would vanish.
      const { stdout: h2 } = await tusCurl(['--http2', '-X', 'PATCH', '-H', `Upload-Offset: ${chunk.length}`,
        '-H', 'Content-Type: application/offset+octet-stream', '--data-binary', `@${body}`, location]);
      assert.match(h2, /^HTTP\/2 505/);
      assert.equal(fs.statSync(path.join(dataDir, 'uploads', location.split('/').pop())).size, chunk.length);
    } finally {
      fs.rmSync(dirOut, { recursive: true, force: true });
    }
  });

  test('Chromium signed in: a page over HTTP/2, /ws on the same connection (RFC 8441), a 100 KB draft event whole', async (t) => {
    // Chromium sends a WebSocket over its HTTP/2 connection when the server allows it (lws
    // does); lws writes each message as one DATA frame, which may not exceed 16 KB: the server
    // sends larger ones in fragments. (One frame of 100 KB overran lws's headroom and killed
    // the server.) The page signs in with a cookie: the socket's same-origin check reads the
    // HTTP/2 :authority, so an event about a draft reaches the editor.
    await makeAccount(dataDir, 'chromium-editor', 'editor', 'another long passphrase');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'] });
    t.after(() => browser.close());
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`${server.base}/healthz`);
    assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/session', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'chromium-editor', password: 'another long passphrase' }),
    })).status), 200);
    const visibility = async (value) => {
      const { stdout } = await execFileP('curl', ['-sS', '--cacert', ca, ...AUTH_HEADERS, '-X', 'PATCH',
        '-H', 'Content-Type: application/json', '-d', JSON.stringify({ visibility: value }),
        '-o', '/dev/null', '-w', '%{http_code}', `${server.base}/api/v1/videos/${id}`]);
      assert.equal(stdout, '200');
    };
    await visibility('draft');
    t.after(() => visibility('published'));
    await page.evaluate((url) => new Promise((resolve, reject) => {
      window.received = [];
      const ws = new WebSocket(url);
      ws.onmessage = (m) => { window.received.push(m.data); resolve(); };
      ws.onerror = () => reject(new Error('WebSocket error'));
    }), `${server.base.replace('https', 'wss')}/ws`);
    const description = 'Lũ quét ở Sơn La. '.repeat(6000);
    const patch = path.join(dir, 'patch.json');
    fs.writeFileSync(patch, JSON.stringify({ description }));
    const { stdout } = await execFileP('curl', ['-sS', '--http1.1', '--cacert', ca, ...AUTH_HEADERS,
      '-X', 'PATCH', '-H', 'Content-Type: application/json', '--data-binary', `@${patch}`,
      '-o', '/dev/null', '-w', '%{http_code}', `${server.base}/api/v1/videos/${id}`]);
    assert.equal(stdout, '200');
    const event = await page.waitForFunction(() => window.received.map((m) => JSON.parse(m))
      .find((e) => e.type === 'video.updated' && e.data.description?.length > 100_000), null,
    { timeout: 30_000 });
    const got = await event.jsonValue();
    assert.equal(got.data.description, description);
    assert.equal(server.proc.exitCode, null);
  });

  test('WSS: /ws events arrive over TLS', async () => {
    assert.match(events.ws._socket.getProtocol(), /^TLSv1\.[23]$/);
    assert.ok(events.events.some((e) => e.type === 'video.ready' && e.data.id === id));
  });

  test('TLS 1.2 and 1.3 only, forward-secret AEAD ciphers only', async () => {
    // The client's security level is lowered so that only the server can refuse.
    const lax = '-cipher DEFAULT@SECLEVEL=0';
    assert.equal(await handshakes(server.port, `-tls1_3`), true);
    assert.equal(await handshakes(server.port, `-tls1_2 ${lax}`), true);
    assert.equal(await handshakes(server.port, `-tls1_1 ${lax}`), false);
    assert.equal(await handshakes(server.port, `-tls1 ${lax}`), false);
    assert.equal(await handshakes(server.port, '-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256'), true);
    assert.equal(await handshakes(server.port, '-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256'), false);
    assert.equal(await handshakes(server.port, '-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA'), false);
  });

  test('plain HTTP to the HTTPS port gets a 400 that says so; other bytes a closed connection', async () => {
    const { stdout } = await execFileP('curl', ['-sS', '-w', '\n%{http_code}',
      `http://127.0.0.1:${server.port}/healthz`]);
    const [body, status] = stdout.split('\n');
    assert.equal(status, '400');
    assert.match(JSON.parse(body).error.message, /this port speaks HTTPS/);
    const closed = await new Promise((resolve) => {
      const sock = net.connect(server.port, '127.0.0.1', () => sock.write(Buffer.from([0, 1, 2, 3])));
      let got = 0;
      sock.on('data', (d) => { got += d.length; });
      sock.on('close', () => resolve(got));
      sock.on('error', () => {});
    });
    assert.equal(closed, 0);
  });

  test('SIGHUP: new connections get the new certificate; open ones and the listener stay', async () => {
    assert.equal(await servedFingerprint(server.port), a.fingerprint);
    const socket = events.ws._socket;
    assert.equal(socket.getPeerCertificate().fingerprint256, a.fingerprint);
    const reloaded = () => server.log.join('').split('TLS certificate reloaded').length - 1;
    const before = reloaded();
    fs.copyFileSync(b.key, live.key);
    fs.copyFileSync(b.cert, live.cert);
    server.proc.kill('SIGHUP');
    await waitFor(() => reloaded() > before, 'the reload in the log', 20_000);
    assert.equal(await servedFingerprint(server.port), b.fingerprint);
    const fresh = await httpsGet(`${server.base}/healthz`, a.pem + b.pem);
    assert.equal(fresh.status, 200);
    assert.equal(fresh.fingerprint256, b.fingerprint);
    // The WebSocket opened before the reload is the same connection, still with the first
    // certificate, and still gets events.
    assert.equal(events.ws._socket, socket);
    assert.equal(socket.getPeerCertificate().fingerprint256, a.fingerprint);
    const { stdout } = await execFileP('curl', ['-sS', '--cacert', ca, ...AUTH_HEADERS, '-X', 'PATCH',
      '-H', 'Content-Type: application/json', '-d', '{"title":"after the reload"}', '-o', '/dev/null',
      '-w', '%{http_code}', `${server.base}/api/v1/videos/${id}`]);
    assert.equal(stdout, '200');
    const updated = await events.next((e) => e.type === 'video.updated' && e.data.id === id &&
      e.data.title === 'after the reload', 'video.updated after the reload');
    assert.ok(updated);
    assert.equal(server.proc.exitCode, null);
  });

  test('SIGHUP with a broken or mismatched replacement keeps the certificate in use', async () => {
    const failures = () => server.log.join('').split('TLS reload failed').length - 1;
    const current = await servedFingerprint(server.port);
    // A truncated certificate file.
    const before = failures();
    fs.writeFileSync(live.cert, fs.readFileSync(a.cert, 'utf8').slice(0, 200));
    server.proc.kill('SIGHUP');
    await waitFor(() => failures() > before, 'the failed reload in the log', 20_000);
    assert.match(server.log.join(''), /TLS reload failed, the server keeps its certificate.*holds no PEM certificate/);
    assert.equal(await servedFingerprint(server.port), current);
    // A certificate with another certificate's key.
    fs.copyFileSync(a.cert, live.cert);  // live.key is still b's
    server.proc.kill('SIGHUP');
    await waitFor(() => failures() > before + 1, 'the second failed reload in the log', 20_000);
    assert.match(server.log.join(''), /TLS reload failed.*does not match the certificate/);
    assert.equal(await servedFingerprint(server.port), current);
    const r = await httpsGet(`${server.base}/healthz`, a.pem + b.pem);
    assert.equal(r.status, 200);
    assert.equal(r.fingerprint256, current);
  });
});
