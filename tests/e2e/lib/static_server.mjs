// A small static file server for the browser tests, on 127.0.0.1 and a free port.
// Serves `routes`: URL prefix -> folder on disk (longest prefix wins), plus fixed pages.
// Only GET/HEAD; no directory listings; paths are confined to their folder.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const CONTENT_TYPES = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.map': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.jpg': 'image/jpeg',
  '.vtt': 'text/vtt',
};

// Starts the server. `routes` is { '/media/': '/tmp/out', ... }; `pages` is { '/': '<html>...' }.
// Resolves to { url, requests, close() } where `requests` records every request as {path, status}.
// `holdUntil(urlPath, searchParams, file)`, when given, is awaited before a routed file is read:
// a test can hold a request the way a live origin does (an LL-HLS blocking reload, a part not
// written yet).
export function startStaticServer({ routes = {}, pages = {}, holdUntil = null }) {
  const requests = [];
  const prefixes = Object.keys(routes).sort((a, b) => b.length - a.length);
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const reply = (status, body, type = 'text/plain') => {
      requests.push({ path: urlPath, status });
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed');
    if (pages[urlPath] !== undefined) return reply(200, pages[urlPath], CONTENT_TYPES['.html']);
    const prefix = prefixes.find((p) => urlPath.startsWith(p));
    if (!prefix) return reply(404, 'not found');
    const root = path.resolve(routes[prefix]);
    const file = path.resolve(root, '.' + path.sep + urlPath.slice(prefix.length));
    if (!file.startsWith(root + path.sep)) return reply(403, 'forbidden');
    const read = () => fs.readFile(file, (err, data) => {
      if (err) return reply(404, 'not found');
      reply(200, data, CONTENT_TYPES[path.extname(file)] || 'application/octet-stream');
    });
    if (!holdUntil) return read();
    Promise.resolve(holdUntil(urlPath, new URL(req.url, 'http://x').searchParams, file)).then(read, read);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(() => done()); }),
      });
    });
  });
}
