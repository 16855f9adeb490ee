// Raw-socket clients for bytes that curl and fetch will not send (a NUL in a header, a folded
// line, an unmasked WebSocket frame...) and for watching exactly how the server ends a
// connection.
import crypto from 'node:crypto';
import net from 'node:net';

// How one exchange ended, as the corpus tables name outcomes: the HTTP status of the first
// answer (a number), 'closed' (the server closed or reset the connection without an answer),
// or `ws:<code>` (a WebSocket close frame from the server with that code).
export function outcomeName(o) {
  if (o.wsClose !== undefined) return `ws:${o.wsClose}`;
  return o.status || 'closed';
}

// Connects (from `localAddress` when given), writes `pieces` one after another (`pauseMs`
// between them: a slow client), and collects what the server sends until it closes the
// connection. `guardMs` only bounds a server that never closes: it is reported as `timedOut`.
// Resolves {status, statuses, text, bytes, timedOut, reset, sentAll}.
export function exchange(port, pieces, { localAddress, pauseMs = 0, guardMs = 30_000, host = '127.0.0.1' } = {}) {
  const list = (Array.isArray(pieces) ? pieces : [pieces]).map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1')));
  return new Promise((resolve) => {
    const sock = net.connect({ port, host, localAddress });
    const chunks = [];
    let closed = false, reset = false, timedOut = false, sentAll = false;
    sock.on('connect', async () => {
      for (let i = 0; i < list.length && !closed; i++) {
        if (i > 0 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
        if (closed) break;
        sock.write(list[i]);
      }
      sentAll = !closed;
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => { if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true; });
    const guard = setTimeout(() => { timedOut = true; sock.destroy(); }, guardMs);
    sock.on('close', () => {
      closed = true;
      clearTimeout(guard);
      const bytes = Buffer.concat(chunks);
      const text = bytes.toString('latin1');
      const statuses = [...text.matchAll(/(?:^|\r\n\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, statuses, text, bytes, timedOut, reset, sentAll });
    });
  });
}

// A WebSocket frame as a client sends it: FIN, `opcode`, masked (with a random key) unless
// `unmasked`, with `announced` as its length field (the payload sent may be shorter: a frame
// that announces more than it carries).
export function clientFrame(opcode, payload = Buffer.alloc(0), { unmasked = false, announced, fin = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = announced ?? BigInt(data.length);
  const head = [(fin ? 0x80 : 0) | opcode];
  const maskBit = unmasked ? 0 : 0x80;
  let ext = Buffer.alloc(0);
  if (len < 126n) {
    head.push(maskBit | Number(len));
  } else if (len < 65536n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(len));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(len);
  }
  if (unmasked) return Buffer.concat([Buffer.from(head), ext, data]);
  const mask = crypto.randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ mask[i & 3];
  return Buffer.concat([Buffer.from(head), ext, mask, masked]);
}

// The opening handshake of a WebSocket on `path`, as a head to send raw.
export function upgradeHead(path, extra = '') {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

// Opens a WebSocket on `path` over a raw socket, then sends `frames` (Buffers, written as they
// come; the server may close before it has them all) and reads until the server closes.
// Resolves {handshake (the status), wsClose (the server's close code, when it sent a close
// frame), closed, timedOut}.
export function webSocketExchange(port, path, frames, { guardMs = 30_000, localAddress } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    let buf = Buffer.alloc(0);
    let handshake = 0, wsClose, timedOut = false, upgraded = false;
    sock.on('connect', () => sock.write(upgradeHead(path)));
    const send = async () => {
      for (const f of frames) {
        if (sock.destroyed) return;
        // Large frames go in pieces: a server that fails the connection early must see it.
        for (let i = 0; i < f.length && !sock.destroyed; i += 1 << 20) {
          if (!sock.write(f.subarray(i, i + (1 << 20)))) await new Promise((r) => { sock.once('drain', r); sock.once('close', r); });
        }
      }
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /^HTTP\/1\.1 (\d{3})/.exec(buf.toString('latin1', 0, end));
        handshake = m ? Number(m[1]) : 0;
        buf = buf.subarray(end + 4);
        if (handshake !== 101) return;
        upgraded = true;
        send();
      }
      // Server frames: look for a close frame (opcode 8) and read its code.
      while (buf.length >= 2) {
        const opcode = buf[0] & 0x0f;
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        if (opcode === 8 && wsClose === undefined) {
          wsClose = len >= 2 ? buf.readUInt16BE(off) : 1005;
          // Answer it, as a client does (RFC 6455 5.5.1): the server then closes at once
          // rather than waiting for the answer.
          if (!sock.destroyed) sock.write(clientFrame(0x8, buf.subarray(off, off + Math.min(len, 2))));
        }
        buf = buf.subarray(off + len);
      }
    });
    sock.on('error', () => {});
    const guard = setTimeout(() => { timedOut = true; sock.destroy(); }, guardMs);
    sock.on('close', () => {
      clearTimeout(guard);
      resolve({ handshake, wsClose, closed: true, timedOut });
    });
  });
}
