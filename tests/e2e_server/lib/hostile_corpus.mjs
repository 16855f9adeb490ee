// Hostile requests as data: one row per request, with the bytes to send and the outcomes that
// count as handled. An outcome is an HTTP status (the first answer on the connection),
// 'closed' (the server closed the connection without an answer), or 'ws:<code>' (a WebSocket
// the server failed with that close code). Shared by media.test.mjs (traversal, malformed heads)
// and hostile.test.mjs (the whole corpus, sent while honest clients stream and upload).
import { clientFrame, upgradeHead } from './raw.mjs';

// Paths under /media/ and /live/ that try to leave the media folders. Each must get a 4xx.
// media.test.mjs plants the links (leak.ts, updir, linkvid0000000000) and a secret beside the
// data directory; elsewhere they are just missing files.
export function traversalPaths(id) {
  return [
    `/media/${id}/../../secret.txt`, `/media/${id}/../../../secret.txt`, '/media/../secret.txt',
    '/media/../../etc/passwd', `/media/${id}/../../../../../../etc/passwd`,
    `/media/${id}/%2e%2e/%2e%2e/secret.txt`, `/media/${id}/%2E%2E/%2E%2E/secret.txt`,
    '/media/%2e%2e/secret.txt', '/media/%2e%2e%2fsecret.txt', `/media/${id}/..%2f..%2fsecret.txt`,
    `/media/${id}/%2e%2e%2f%2e%2e%2fsecret.txt`, `/media/${id}/.%2e/.%2e/secret.txt`,
    `/media/${id}/%252e%252e/%252e%252e/secret.txt`, `/media/${id}/..%252f..%252fsecret.txt`,
    `/media/${id}/..\\..\\secret.txt`, `/media/${id}/%5c..%5c..%5csecret.txt`,
    `/media/${id}/..%5c..%5csecret.txt`, `/media/${id}/master.m3u8%00.jpg`, `/media/${id}/%00`,
    `/media/${id}/%00/../../secret.txt`, '/media//etc/passwd', '/media/%2fetc%2fpasswd',
    `/media/${id}//etc/passwd`, `/media/${id}/%2fetc%2fpasswd`, `/media/${id}/leak.ts`,
    `/media/${id}/updir/secret.txt`, '/media/linkvid0000000000/secret.txt',
    `/media/${id}/.../secret.txt`, `/media/${id}/....//....//secret.txt`,
    `/media/${id}/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt`, `/media/${id}/..;/..;/secret.txt`,
    `/media/${id}/manifest.json/../../secret.txt`, '/media/~/secret.txt',
    `/media/${id}/C:%5cWindows%5cwin.ini`, '/media/file:%2f%2f%2fetc%2fpasswd',
    `/media/${id}/%0a`, `/media/${id}/%ff%fe`, `/media/.${id}.partial-1/master.m3u8`,
    `/media/${id}/.hidden`, '/media/catalog.db', '/media/', '/media', `/media/${id}`,
    `/media/${id}/`, '/media/../catalog.db', '/media/%2e%2e/catalog.db',
    `/media/${id}/../../catalog.db`, '/live/../catalog.db', '/live/x/../../secret.txt',
  ];
}

// Request lines curl will not send: a raw NUL, backslashes, an absolute path of the data folder.
export function rawTraversalLines(id, dataDir) {
  return [`GET /media/${id}/master.m3u8\0/../../secret.txt HTTP/1.1`,
    `GET /media\\${id}\\..\\..\\secret.txt HTTP/1.1`, 'GET \\media\\..\\secret.txt HTTP/1.1',
    `GET /media/${id}/\0 HTTP/1.1`, `GET ${dataDir}/secret.txt HTTP/1.1`];
}

// Heads libwebsockets 4.1 held open without an answer or answered 200 (issue 13), with the
// status each must now get: [what, head, status].
export const malformedHeads = [
  ['a NUL in a header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', 400],
  ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n', 400],
  ['an obs-fold continuation', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n', 400],
  ['an HTTP/0.9 line', 'GET /healthz\r\n\r\n', 400],
  ['CONNECT', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', 405],
  ['HTTP/9.9', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n', 505],
  ['WebSocket version 99', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n', 426],
  ['headers past 8 KB', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`, 431],
];

const OCTETS = 'Content-Type: application/offset+octet-stream\r\n';
const b64 = (s) => Buffer.from(s).toString('base64');

// One request, closed after its answer. `headers` is raw header lines, each ending in CRLF.
function request(method, path, headers = '', body = '') {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1');
  const length = data.length || /^(POST|PUT|PATCH)$/.test(method) ? `Content-Length: ${data.length}\r\n` : '';
  return Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    `${length}${headers}\r\n`, 'latin1'), data]);
}

// The whole corpus. `ctx`: id (a ready video), segment (the path of one of its segments) and
// segmentSize, upload and slowUpload (locations of two unfinished uploads of 100 and 1,000,000
// bytes that nothing else touches, made by the account of `auth`), dataDir, and auth (header
// lines with the credentials of an account that may edit the video and write the uploads).
// A row: {what, send (bytes, or pieces sent `pauseMs` apart), expect: [outcomes], why?, check?
// (more to verify of the exchange), ws?: {path, frames} (a WebSocket opened raw, then frames)}.
export function hostileCorpus(ctx) {
  const { id, segment, segmentSize, upload, slowUpload, dataDir } = ctx;
  const TUS = `Tus-Resumable: 1.0.0\r\n${ctx.auth}`;  // for requests that are not about the version
  const AUTH = ctx.auth;
  const rows = [];
  const add = (what, send, expect, more = {}) => rows.push({ what, send, expect, ...more });
  const wholeFile = (r) => new RegExp(`content-length: ${segmentSize}\\r\\n`, 'i').test(r.text);

  // Path traversal: every variant, raw (as written, no client normalising it).
  for (const p of traversalPaths(id)) add(`traversal ${p}`, request('GET', p), [400, 404]);
  for (const line of rawTraversalLines(id, dataDir))
    add(`traversal (raw) ${JSON.stringify(line)}`, `${line}\r\nHost: x\r\nConnection: close\r\n\r\n`, [400, 403, 404]);
  add('traversal: overlong UTF-8 dots, raw bytes', request('GET', `/media/${id}/\xc0\xae\xc0\xae/\xc0\xae\xc0\xae/catalog.db`), [400]);
  add('traversal: double-encoded NUL', request('GET', `/media/${id}/master.m3u8%2500`), [400, 404]);
  add('traversal: under /files/', request('HEAD', '/files/..%2f..%2fcatalog.db', TUS), [404]);
  add('traversal: under /api/v1/videos', request('GET', '/api/v1/videos/..%2f..%2fcatalog.db'), [400, 404]);
  add('traversal: under /live/, encoded', request('GET', '/live/%2e%2e/%2e%2e/catalog.db'), [400, 404]);
  add('traversal: the pages, encoded', request('GET', '/%2e%2e/%2e%2e/etc/passwd'), [400, 404]);
  add('traversal: the pages, backslashes', request('GET', '/..%5c..%5cetc%5cpasswd'), [400, 404]);
  add('traversal: the pages, plain', request('GET', '/../../catalog.db'), [400, 404]);

  // Malformed and oversized heads.
  const closes = (r) => /\r\nconnection: close\r\n/i.test(r.text);
  for (const [what, head, status] of malformedHeads) add(`head: ${what}`, head, [status], { check: closes });
  add('head: a request line of 10 KB', `GET /media/${id}/${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, [431]);
  add('head: 200 headers', `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')}\r\n`, [431]);
  add('head: a Host of 9 KB', `GET /healthz HTTP/1.1\r\nHost: ${'h'.repeat(9000)}\r\n\r\n`, [431]);
  add('head: no version at all, then headers', 'GET /healthz\r\nHost: x\r\n\r\n', [400]);
  add('head: HTTP/2.0 in an HTTP/1 line', 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n', [505]);
  add('head: the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [405]);
  add('head: TRACE', 'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n', [405]);
  add('head: an unknown method', 'BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n', [405]);
  add('head: a lower-case method', 'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n', [405]);
  add('head: a TLS ClientHello on the plain port', Buffer.from('16030100a5010000a10303', 'hex'), [400]);
  add('head: a bare CR in a header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', [400]);
  add('head: a space in a header name', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n', [400]);
  add('head: a space before the colon', 'GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n', [400]);
  // lws answers a target that is not a path itself: 403 (in HTTP/1.0, with a page of its own).
  add('head: an asterisk target', 'GET * HTTP/1.1\r\nHost: x\r\n\r\n', [403]);
  add('head: an absolute-form target', 'GET http://evil.example/healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n', [403]);
  add('head: a chunked API body', request('POST', `/api/v1/jobs/1/retry`, `${AUTH}Transfer-Encoding: chunked\r\n`), [411]);
  add('head: chunked and a Content-Length', request('PATCH', `/api/v1/videos/${id}`, `${AUTH}Transfer-Encoding: chunked\r\n`, '{}'), [411]);
  add('head: two Content-Lengths that differ', `PATCH /api/v1/videos/${id} HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}`, [400]);
  add('head: a negative Content-Length', `PATCH /api/v1/videos/${id} HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: -5\r\n\r\n{}`, [400]);
  add('head: a 30-digit Content-Length', `PATCH /api/v1/videos/${id} HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: ${'9'.repeat(30)}\r\n\r\n{}`, [400]);

  // tus: bad headers, on two uploads of their own.
  add('tus: Upload-Length -1', request('POST', '/files/', `${TUS}Upload-Length: -1\r\n`), [400]);
  add('tus: Upload-Length of 30 digits', request('POST', '/files/', `${TUS}Upload-Length: ${'9'.repeat(30)}\r\n`), [400]);
  add('tus: Upload-Length past Tus-Max-Size', request('POST', '/files/', `${TUS}Upload-Length: ${2 ** 53}\r\n`), [413]);
  add('tus: Upload-Length and Upload-Defer-Length', request('POST', '/files/', `${TUS}Upload-Length: 5\r\nUpload-Defer-Length: 1\r\n`), [400]);
  add('tus: Upload-Defer-Length 2', request('POST', '/files/', `${TUS}Upload-Defer-Length: 2\r\n`), [400]);
  add('tus: Upload-Metadata not base64', request('POST', '/files/', `${TUS}Upload-Length: 5\r\nUpload-Metadata: filename !!!notbase64\r\n`), [400]);
  add('tus: Upload-Metadata a bad key', request('POST', '/files/', `${TUS}Upload-Length: 5\r\nUpload-Metadata: ../x ${b64('y')}\r\n`), [400]);
  add('tus: Upload-Metadata overlong UTF-8', request('POST', '/files/', `${TUS}Upload-Length: 5\r\nUpload-Metadata: title ${Buffer.from([0xc0, 0xaf]).toString('base64')}\r\n`), [400]);
  add('tus: Upload-Metadata a duplicate key', request('POST', '/files/', `${TUS}Upload-Length: 5\r\nUpload-Metadata: a ${b64('1')},a ${b64('2')}\r\n`), [400]);
  add('tus: Tus-Resumable 0.2.2', request('POST', '/files/', `${AUTH}Tus-Resumable: 0.2.2\r\nUpload-Length: 5\r\n`), [412]);
  add('tus: no Tus-Resumable', request('POST', '/files/', `${AUTH}Upload-Length: 5\r\n`), [412]);
  add('tus: Upload-Concat', request('POST', '/files/', `${TUS}Upload-Length: 5\r\nUpload-Concat: partial\r\n`), [400]);
  add('tus: a negative Upload-Offset', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: -1\r\n`, 'x'), [400]);
  add('tus: an Upload-Offset of 30 digits', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: ${'9'.repeat(30)}\r\n`, 'x'), [400]);
  add('tus: an Upload-Offset past the stored one', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: 50\r\n`, 'x'), [409]);
  add('tus: no Upload-Offset', request('PATCH', upload, `${TUS}${OCTETS}`, 'x'), [400]);
  add('tus: a PATCH beyond Upload-Length', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: 0\r\n`, Buffer.alloc(200, 1)), [413]);
  add('tus: a checksum mismatch', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: 0\r\nUpload-Checksum: sha1 ${b64('not the digest of it')}\r\n`, 'abc'), [460]);
  add('tus: an unknown checksum algorithm', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: 0\r\nUpload-Checksum: crc32 AAAA\r\n`, 'abc'), [400]);
  add('tus: a checksum that is not base64', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: 0\r\nUpload-Checksum: sha1 !!!\r\n`, 'abc'), [400]);
  add('tus: the wrong Content-Type', request('PATCH', upload, `${TUS}Content-Type: text/plain\r\nUpload-Offset: 0\r\n`, 'abc'), [415]);
  add('tus: HEAD without Tus-Resumable', request('HEAD', upload, AUTH), [412]);
  add('tus: GET of an upload', request('GET', upload, TUS), [405]);
  add('tus: PATCH of a missing upload', request('PATCH', '/files/0123456789abcdef0123', `${TUS}${OCTETS}Upload-Offset: 0\r\n`, 'x'), [404]);
  add('tus: DELETE of a missing upload', request('DELETE', '/files/nope-nope', TUS), [404]);
  add('tus: a chunked upload body', request('PATCH', upload, `${TUS}${OCTETS}Upload-Offset: 0\r\nTransfer-Encoding: chunked\r\n`), [411]);

  // Ranges on a real segment. An invalid or multi-range header is ignored, and the whole file
  // is the answer (RFC 9110 14.2 lets a server ignore Range; players never send these, and
  // ignoring is what keeps a merely clumsy client working); one that cannot be satisfied is 416.
  const range = (what, value, expect, check) => add(`range: ${what}`, request('GET', segment, `Range: ${value}\r\n`), expect,
    { why: expect[0] === 200 ? 'ignored: the whole file' : undefined, check });
  range('reversed', 'bytes=50-10', [200], wholeFile);
  range('two ranges', 'bytes=0-1,5-6', [200], wholeFile);
  range('500 overlapping ranges', `bytes=${Array(500).fill('0-100').join(',')}`, [200], wholeFile);
  range('not numbers', 'bytes=abc-def', [200], wholeFile);
  range('an empty set', 'bytes=', [200], wholeFile);
  range('another unit', 'items=0-10', [200], wholeFile);
  range('a start of 30 digits', `bytes=${'9'.repeat(30)}-`, [200], wholeFile);
  range('a suffix of 30 digits', `bytes=-${'9'.repeat(30)}`, [200], wholeFile);
  range('past the end', `bytes=${segmentSize}-`, [416]);
  range('a zero-length suffix', 'bytes=-0', [416]);
  range('negative numbers', 'bytes=-5--1', [200], wholeFile);

  // The JSON API: bodies that are not what they claim.
  const api = (what, body, expect, method = 'PATCH', path = `/api/v1/videos/${id}`) =>
    add(`api: ${what}`, request(method, path, `${AUTH}Content-Type: application/json\r\n`, body), expect);
  api('not JSON', '{not json', [400]);
  api('truncated JSON', '{"title":"x"', [400]);
  api('an array, not an object', '[1,2]', [400]);
  api('a number for the title', '{"title":42}', [400]);
  api('invalid UTF-8 in a string', Buffer.from([0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), [400]);
  api('100,000 nested arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`, [400]);
  api('50,000 nested objects', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`, [400]);
  api('a number too large for a double', '{"title":1e999999}', [400]);
  api('an empty body', '', [400]);
  api('a body past --max-body-bytes', `{"description":"${'x'.repeat(2 << 20)}"}`, [413]);
  api('an unknown field', '{"owner":"me"}', [400]);
  api('a JSON body to a retry of no job', '{"x":', [404], 'POST', '/api/v1/jobs/999999/retry');
  add('api: FTS syntax in a search', request('GET', '/api/v1/videos?q=%22NEAR(a%20b%20AND%20OR'), [200],
    { why: 'searched as words', check: (r) => /"videos":\[/.test(r.text) });
  add('api: a negative limit', request('GET', '/api/v1/videos?limit=-1'), [400]);
  add('api: a cursor that is garbage', request('GET', '/api/v1/videos?cursor=%ff%00garbage'), [400]);
  add('api: a job id of 30 digits', request('GET', `/api/v1/jobs/${'9'.repeat(30)}`), [400]);
  add('api: PUT is not an API verb here', request('PUT', `/api/v1/videos/${id}`, AUTH, '{}'), [405]);
  // Credentials that are not.
  add('auth: a Bearer token that is no token', request('PATCH', `/api/v1/videos/${id}`, 'Authorization: Bearer nr_not-a-token\r\n', '{"title":"x"}'), [401]);
  add('auth: a Bearer token of 9 KB', request('GET', '/api/v1/videos', `Authorization: Bearer ${'t'.repeat(9000)}\r\n`), [431]);
  add('auth: Basic credentials', request('PATCH', `/api/v1/videos/${id}`, `Authorization: Basic ${b64('admin:admin')}\r\n`, '{"title":"x"}'), [401]);
  add('auth: a session cookie that is garbage', request('PATCH', `/api/v1/videos/${id}`, 'Cookie: nr_session=%00%ff..%2f\r\n', '{"title":"x"}'), [401]);
  add('auth: sign-in with invalid JSON', request('POST', '/api/v1/session', 'Content-Type: application/json\r\n', '{"name":'), [400]);
  add('auth: sign-in with 100,000 nested arrays', request('POST', '/api/v1/session', 'Content-Type: application/json\r\n', `${'['.repeat(100_000)}${']'.repeat(100_000)}`), [400]);

  // WebSocket: a bad handshake, then clients that send anything at all (the server takes no
  // messages: its first byte fails the connection, 1008; lws fails protocol errors itself, 1002).
  add('ws: Sec-WebSocket-Version 99', upgradeHead('/ws').replace('Version: 13', 'Version: 99'), [426]);
  add('ws: no Sec-WebSocket-Key', 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n', [400]);
  add('ws: an upgrade on a path without WebSocket', upgradeHead('/api/v1/videos'), [404]);
  add('ws: an upgrade to a stream not on air', upgradeHead('/ws/live/not-on-air'), [404]);
  const ws = (what, frames, expect) => add(`ws: ${what}`, null, expect, { ws: { path: '/ws', frames } });
  ws('a text message', [clientFrame(0x1, 'hello')], ['ws:1008']);
  ws('an unmasked frame', [clientFrame(0x2, 'data', { unmasked: true })], ['ws:1002', 'ws:1008', 'closed']);
  ws('a reserved opcode', [clientFrame(0x3, 'x')], ['ws:1002', 'ws:1008', 'closed']);
  ws('a frame announcing 2^63 bytes', [clientFrame(0x2, Buffer.alloc(64, 0x61), { announced: 1n << 63n })], ['ws:1002', 'ws:1008', 'ws:1009', 'closed']);
  ws('a frame announcing 2^63 - 1 bytes', [clientFrame(0x2, Buffer.alloc(64, 0x61), { announced: (1n << 63n) - 1n })], ['ws:1008', 'ws:1009', 'closed']);
  ws('a 16 MB frame', [clientFrame(0x2, Buffer.alloc(16 << 20, 0x61))], ['ws:1008', 'ws:1009', 'closed']);
  // Failed at the first frame; the close frame may be lost to the reset of closing with the rest unread.
  ws('100,000 tiny frames', [Buffer.concat(Array.from({ length: 100_000 }, () => clientFrame(0x2, 'x')))], ['ws:1008', 'closed']);
  ws('a fragment that never ends', [clientFrame(0x1, 'part', { fin: false })], ['ws:1008']);
  ws('a continuation with nothing to continue', [clientFrame(0x0, 'x')], ['ws:1002', 'ws:1008', 'closed']);
  ws('a close frame with code 999', [clientFrame(0x8, Buffer.from([0x03, 0xe7]))], ['ws:1002', 'closed']);

  // Slow clients, each ended by the server: a connection that never says anything, a head
  // trickled a byte at a time, an API body that stops, an API body and an upload body trickled.
  const slow = { guardMs: 60_000 };
  add('slowloris: a connection that sends nothing', [], ['closed'], slow);
  add('slowloris: a head trickled a byte at a time', [...`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(400)}`],
    ['closed'], { ...slow, pauseMs: 100 });
  add('slowloris: an API body that stops half-way',
    `PATCH /api/v1/videos/${id} HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title":`,
    ['closed'], slow);
  add('slowloris: an API body trickled a byte at a time',
    [`PATCH /api/v1/videos/${id} HTTP/1.1\r\nHost: x\r\n${AUTH}Content-Length: 1000\r\n\r\n`, ...'{"title":"' + 'x'.repeat(900)],
    ['closed'], { ...slow, pauseMs: 250 });
  add('slowloris: an upload body trickled',
    [`PATCH ${slowUpload} HTTP/1.1\r\nHost: x\r\n${TUS}${OCTETS}Upload-Offset: 0\r\nContent-Length: 1000000\r\n\r\n`,
      ...Array.from({ length: 400 }, () => Buffer.alloc(100, 7))],
    ['closed'], { ...slow, pauseMs: 200 });
  add('slowloris: a kept-alive request line trickled', ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', ...'GET /healthz HTTP/1.1\r\nHost: x\r\n'],
    [200], { ...slow, pauseMs: 300, check: (r) => r.statuses.length === 1 });
  return rows;
}
