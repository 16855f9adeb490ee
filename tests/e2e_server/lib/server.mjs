// Helpers for end-to-end tests of `newsreel serve`: a real server on a free port with a temporary
// data directory, curl and ffprobe as independent clients, and the `ws` package for /ws.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { freePort, sleep, waitFor } from '../../e2e/lib/tools.mjs';

export { freePort, sleep, waitFor };

const execFileP = promisify(execFile);

export const BIN = process.env.NEWSREEL_BIN;
export const MEDIA = process.env.NEWSREEL_MEDIA_DIR ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../shared/media');
if (!BIN) throw new Error('set NEWSREEL_BIN to the newsreel binary (ctest does)');

export function tempDataDir(tag) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `nr-e2e-${tag}-`));
}

// Creates account `name` with `role` in `dataDir` through the CLI (works whether or not a
// server runs there) and returns an API token for it.
export async function makeAccount(dataDir, name, role, password) {
  const add = execFileP(BIN, ['user', 'add', name, '--role', role, '--data', dataDir,
    ...(password ? ['--password-stdin'] : [])]);
  if (password) { add.child.stdin.write(password + '\n'); add.child.stdin.end(); }
  await add;
  const { stdout } = await execFileP(BIN, ['token', 'create', name, '--label', 'tests', '--data', dataDir]);
  return stdout.trim();
}

// curl arguments and fetch headers that authenticate with `token`.
export function bearer(token) {
  return { args: ['-H', `Authorization: Bearer ${token}`], headers: { Authorization: `Bearer ${token}` } };
}

// GET over HTTPS trusting `ca` (PEM); resolves with {status, body (Buffer), socket facts}.
export function httpsGet(url, ca, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers, agent: false }, (res) => {
      const chunks = [];
      const peer = res.socket.getPeerCertificate();
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks),
        fingerprint256: peer.fingerprint256, protocol: res.socket.getProtocol(),
      }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`timed out: ${url}`)));
  });
}

// Every test client connects from 127.0.0.1, many of them at once: the per-address limits are
// off unless a test passes its own (`limits`: flags; [] for the server's defaults).
const NO_LIMITS = ['--max-connections-per-address', '0', '--rate-limit-per-address', '0'];

// Starts `newsreel serve`; resolves once /healthz answers. Unless `accounts: false`, an admin
// account "tester" is made first: `auth` (curl args) and `authHeaders` (fetch) carry its token.
// A restart on the same data directory passes the first start's `token`. With `tls` ({cert,
// key, ca}: file paths, ca the PEM text clients trust) the server speaks HTTPS and `base` is
// https://.
export async function startServer({ dataDir, extraArgs = [], port: fixedPort, accounts = true, token: given, limits = NO_LIMITS, tls } = {}) {
  const token = given || (accounts && !fs.existsSync(path.join(dataDir, 'catalog.db'))
    ? await makeAccount(dataDir, 'tester', 'admin') : null);
  const port = fixedPort || await freePort();
  const tlsArgs = tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [];
  const args = ['serve', '--data', dataDir, '--host', '127.0.0.1', '--port', String(port),
    '--threads', '2', '--job-poll-ms', '200', '--retry-backoff-ms', '300', ...limits, ...tlsArgs,
    // Tests run side by side: the SRT ingest takes a free UDP port, not the default 9000.
    ...(extraArgs.includes('--srt-port') ? [] : ['--srt-port', '0']), ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  proc.stdout.on('data', (d) => log.push(d.toString()));
  proc.stderr.on('data', (d) => log.push(d.toString()));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`server exited: ${log.join('')}`);
    const r = tls ? await httpsGet(`${base}/healthz`, tls.ca).catch(() => null)
      : await fetch(`${base}/healthz`).catch(() => null);
    return r && r.status === 200;
  }, 'the server to answer /healthz', 20_000);
  const auth = token ? bearer(token) : { args: [], headers: {} };
  return {
    port, base, proc, log, exited, dataDir, token, auth: auth.args, authHeaders: auth.headers,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

// curl, returning {status, headers (lower-case names), body (Buffer)}. Uses --path-as-is so that
// hostile paths reach the server exactly as written.
export async function curl(url, extra = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nr-curl-'));
  const hdr = path.join(dir, 'h'), body = path.join(dir, 'b');
  try {
    try {
      await execFileP('curl', ['-sS', '--path-as-is', '--max-time', '30', '-D', hdr, '-o', body, ...extra, url]);
    } catch (e) {
      // 52: the server closed the connection without answering.
      if (e.code === 52) return { status: 0, headers: {}, body: Buffer.alloc(0) };
      throw e;
    }
    const blocks = fs.readFileSync(hdr, 'latin1').split(/\r\n\r\n/).filter((b) => b.trim());
    const lines = blocks[blocks.length - 1].split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    return { status, headers, body: fs.existsSync(body) ? fs.readFileSync(body) : Buffer.alloc(0) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function curlJson(url, extra = []) {
  const r = await curl(url, extra);
  let json = null;
  try { json = JSON.parse(r.body.toString()); } catch { /* not JSON */ }
  return { ...r, json };
}

// A raw HTTP/1.1 request over a socket, for requests curl will not send (NUL, backslashes).
// Resolves with the status code, or 0 when the server closed without answering.
export function rawRequest(port, requestLine) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.on('connect', () => sock.write(Buffer.concat([Buffer.from(requestLine, 'latin1'),
      Buffer.from('\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')])));
    sock.on('data', (d) => { data += d.toString('latin1'); });
    sock.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve({ status: m ? Number(m[1]) : 0, text: data });
    });
    sock.on('error', () => {});
    sock.setTimeout(15_000, () => sock.destroy());
  });
}

export async function importFile(dataDir, file, extra = []) {
  const { stdout } = await execFileP(BIN, ['import', '--data', dataDir, file, '--json', ...extra]);
  return JSON.parse(stdout);
}

// A /ws client that records every event. `hello` resolves once the server greeted us (from then
// on, every published event reaches this client). `headers` authenticate it (authHeaders);
// `options` go to the `ws` package too (`ca` for wss://).
export function eventClient(base, headers = {}, options = {}) {
  const ws = new WebSocket(base.replace('http', 'ws') + '/ws', { headers, ...options });
  const events = [];
  const waiters = [];
  const hello = new Promise((resolve, reject) => {
    ws.on('message', (m) => {
      const e = JSON.parse(m.toString());
      if (e.type === 'hello') { resolve(e); return; }
      events.push(e);
      for (const w of [...waiters]) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); clearTimeout(w.timer); w.resolve(e); }
    });
    ws.on('error', reject);
  });
  return {
    ws, events, hello,
    // Resolves with the first recorded or future event matching `pred`.
    next(pred, what, timeoutMs = 120_000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        w.timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) { waiters.splice(i, 1); reject(new Error(`timed out waiting for event: ${what}`)); }
        }, timeoutMs);
      });
    },
    close() { ws.close(); },
  };
}

export function processState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];  // R, S, T, Z, ...
  } catch {
    return null;  // gone
  }
}

export { execFileP };
