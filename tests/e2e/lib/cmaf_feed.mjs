// A live CMAF source for the low-latency player's tests, standing in for the server until its
// /ws/live and LL-HLS land: ffmpeg encodes a test pattern and a tone at real-time pace (-re) to
// fragmented MP4 on a pipe, ~300 ms per fragment and a keyframe every second, and this module
// cuts the pipe into top-level boxes:
//
//   * `startWebSocketFeed`: a `ws` server that sends each viewer the init segment (ftyp + moov)
//     as its first message, then one message per fragment (moof + mdat), starting at the next
//     fragment that begins with a keyframe: what docs/api.md says /ws/live/<id> does. The test
//     can hold the fragments back (pause) and let them go at once (burst).
//   * `LlHls`: the same fragments as LL-HLS in memory, in the shape the live worker writes
//     (init.mp4, p<msn>.<k>.m4s, s<msn>.m4s, index.m3u8 with EXT-X-PART, a preload hint and
//     blocking reloads), one part per fragment and one segment per keyframe interval.
//
// The box parsing here is the test's own (not web_player/lowlatency.js's), so the player's
// reading of the stream is checked against an independent one.

import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import http from 'node:http';

import { WebSocketServer } from 'ws';

// Top-level boxes of `buf` from `at`: [{type, start, end}] for the whole ones.
function boxesOf(buf, start = 0, end = buf.length) {
  const out = [];
  for (let at = start; at + 8 <= end;) {
    let size = buf.readUInt32BE(at);
    if (size === 1) size = Number(buf.readBigUInt64BE(at + 8));
    if (size < 8 || at + size > end) break;
    out.push({ type: buf.toString('latin1', at + 4, at + 8), start: at, end: at + size });
    at += size;
  }
  return out;
}

const childBoxes = (buf, box, headerBytes = 8) => boxesOf(buf, box.start + headerBytes, box.end);

// What a fragment (moof + mdat) says about track `trackId`: its decode time in ticks and
// whether its first sample is a sync sample (ISO 14496-12 sample flags: bit 16 is "non-sync").
function fragmentInfo(fragment, trackId) {
  const moof = boxesOf(fragment).find((b) => b.type === 'moof');
  for (const traf of childBoxes(fragment, moof).filter((b) => b.type === 'traf')) {
    const kids = childBoxes(fragment, traf);
    const tfhd = kids.find((b) => b.type === 'tfhd');
    if (fragment.readUInt32BE(tfhd.start + 12) !== trackId) continue;
    const tfdt = kids.find((b) => b.type === 'tfdt');
    const trun = kids.find((b) => b.type === 'trun');
    const decodeTime = fragment[tfdt.start + 8] === 1 ? Number(fragment.readBigUInt64BE(tfdt.start + 12)) : fragment.readUInt32BE(tfdt.start + 12);
    // The first sample's flags: trun's first_sample_flags, else its per-sample flags, else tfhd's default.
    const trunFlags = fragment.readUInt32BE(trun.start + 8) & 0xffffff;
    let at = trun.start + 16 + (trunFlags & 0x1 ? 4 : 0);
    let flags = null;
    if (trunFlags & 0x4) {
      flags = fragment.readUInt32BE(at);
    } else if (trunFlags & 0x400) {
      at += (trunFlags & 0x100 ? 4 : 0) + (trunFlags & 0x200 ? 4 : 0);
      flags = fragment.readUInt32BE(at);
    } else {
      const tfhdFlags = fragment.readUInt32BE(tfhd.start + 8) & 0xffffff;
      let p = tfhd.start + 16;
      for (const [bit, bytes] of [[0x1, 8], [0x2, 4], [0x8, 4], [0x10, 4]]) if (tfhdFlags & bit) p += bytes;
      if (tfhdFlags & 0x20) flags = fragment.readUInt32BE(p);
    }
    return { decodeTime, keyframe: flags !== null && !(flags & 0x10000) };
  }
  throw new Error(`no track ${trackId} in the fragment`);
}

// The video track's id and timescale in an init segment (the track whose handler is 'vide').
function videoTrack(init) {
  const moov = boxesOf(init).find((b) => b.type === 'moov');
  for (const trak of childBoxes(init, moov).filter((b) => b.type === 'trak')) {
    const kids = childBoxes(init, trak);
    const tkhd = kids.find((b) => b.type === 'tkhd');
    const mdia = kids.find((b) => b.type === 'mdia');
    const mdiaKids = childBoxes(init, mdia);
    const hdlr = mdiaKids.find((b) => b.type === 'hdlr');
    const mdhd = mdiaKids.find((b) => b.type === 'mdhd');
    if (init.toString('latin1', hdlr.start + 16, hdlr.start + 20) !== 'vide') continue;
    const v1 = (box) => init[box.start + 8] === 1;
    return {
      id: init.readUInt32BE(tkhd.start + (v1(tkhd) ? 28 : 20)),
      timescale: init.readUInt32BE(mdhd.start + (v1(mdhd) ? 28 : 20)),
    };
  }
  throw new Error('no video track in the init segment');
}

// The init segment (ftyp + moov) at the start of fragmented MP4 `buf`.
export function initSegmentOf(buf) {
  const moov = boxesOf(buf).find((b) => b.type === 'moov');
  if (!moov) throw new Error('no moov box');
  return buf.subarray(0, moov.end);
}

// Starts ffmpeg making live CMAF. Returns an EventEmitter: 'init' (Buffer), then 'fragment'
// ({data: Buffer, keyframe, start: seconds}) for each fragment as it comes; `init` and
// `lastKeyframe` (the newest fragment that begins with one) as properties; `stop()` ends ffmpeg.
export function startCmafSource({ seconds = 600 } = {}) {
  const source = new EventEmitter();
  const ffmpeg = spawn('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error',
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30:duration=${seconds}`,
    '-re', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0', '-b:v', '800k',
    '-c:a', 'aac', '-b:a', '96k',
    // A fragment at every keyframe and every 300 ms between them; written as soon as it is whole.
    '-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '300000',
    '-flush_packets', '1', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  ffmpeg.stderr.on('data', (d) => log.push(d.toString()));
  let pending = Buffer.alloc(0);
  let head = [];       // ftyp, moov until the init segment is whole
  let moof = null;
  let track = null;
  ffmpeg.stdout.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    const whole = boxesOf(pending);
    for (const box of whole) {
      const bytes = pending.subarray(box.start, box.end);
      if (box.type === 'ftyp') head = [bytes];
      else if (box.type === 'moov') {
        source.init = Buffer.concat([...head, bytes]);
        track = videoTrack(source.init);
        source.emit('init', source.init);
      } else if (box.type === 'moof') moof = bytes;
      else if (box.type === 'mdat' && moof && track) {
        const data = Buffer.concat([moof, bytes]);
        const { decodeTime, keyframe } = fragmentInfo(data, track.id);
        moof = null;
        if (keyframe) source.lastKeyframe = data;
        source.emit('fragment', { data, keyframe, start: decodeTime / track.timescale });
      }
    }
    pending = Buffer.from(pending.subarray(whole.length ? whole[whole.length - 1].end : 0));
  });
  source.log = log;
  source.exited = new Promise((resolve) => ffmpeg.on('exit', resolve));
  source.stop = () => { if (ffmpeg.exitCode === null) ffmpeg.kill('SIGKILL'); return source.exited; };
  return source;
}

// A WebSocket server on 127.0.0.1 relaying `source` to every viewer as /ws/live/<id> does.
// Resolves to {url, viewers, pause(), resume(), skipAhead(), close()}: `viewers` records, per
// connection, what it was sent ({firstKeyframe, fragments, started}); pause() holds fragments
// back for everyone, resume() sends what was held at once; skipAhead() drops what comes until
// the next keyframe, as the server does for a viewer that reads too slowly (a hole in its media).
export async function startWebSocketFeed(source) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.on('listening', resolve));
  const viewers = [];
  let held = null;  // while paused: the fragments not sent yet
  const send = (fragment) => {
    for (const v of viewers) {
      if (v.ws.readyState !== v.ws.OPEN) continue;
      if (!v.started) {
        if (!fragment.keyframe) continue;  // a new viewer starts at a keyframe
        v.started = true;
        v.firstKeyframe = fragment.keyframe;
      }
      v.ws.send(fragment.data);
      v.fragments++;
    }
  };
  source.on('fragment', (fragment) => (held ? held.push(fragment) : send(fragment)));
  source.on('init', (init) => { for (const v of viewers) if (v.ws.readyState === v.ws.OPEN) v.ws.send(init); });
  wss.on('connection', (ws) => {
    const viewer = { ws, started: false, firstKeyframe: null, fragments: 0 };
    viewers.push(viewer);
    if (source.init) ws.send(source.init);
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/ws/live/test`,
    viewers,
    pause() { held = held || []; },
    skipAhead() { for (const v of viewers) v.started = false; },
    resume() {
      const burst = held || [];
      held = null;
      for (const f of burst) send(f);
      return burst.length;
    },
    close: () => new Promise((resolve) => {
      for (const v of viewers) v.ws.terminate();
      wss.close(() => resolve());
    }),
  };
}

// LL-HLS of `source`, served at <url>/ll/master.m3u8 (one rung, "video/") by a server of its
// own on 127.0.0.1, with CORS for a page of another origin. Blocking reloads:
// `_HLS_msn=N[&_HLS_part=K]` waits until the playlist has that part (3 s at most); the preload
// hint's part waits until it exists. Resolves to {url, requests, close()}.
export async function startLlHls(source) {
  const files = new Map();   // name -> Buffer: init.mp4, p<msn>.<k>.m4s, s<msn>.m4s
  const segments = [];       // {msn, parts: [{name, duration, independent}], duration, done}
  let previous = null;       // the fragment waiting for its successor (which gives its duration)
  let msn = -1;
  const changed = new EventEmitter();
  changed.setMaxListeners(0);
  const WINDOW = 6;          // segments listed
  const PART_SEGMENTS = 3;   // segments whose parts are listed
  const PART_TARGET = 0.333;

  const addPart = (fragment, duration) => {
    if (fragment.keyframe || msn < 0) {
      if (msn >= 0) {
        const last = segments[segments.length - 1];
        last.done = true;
        files.set(`s${last.msn}.m4s`, Buffer.concat(last.parts.map((p) => files.get(p.name))));
      }
      if (!fragment.keyframe) return;  // media before the first keyframe is not listed
      msn++;
      segments.push({ msn, parts: [], duration: 0, done: false });
      while (segments.length > WINDOW + 1) {
        const gone = segments.shift();
        for (const p of gone.parts) files.delete(p.name);
        files.delete(`s${gone.msn}.m4s`);
      }
    }
    const segment = segments[segments.length - 1];
    const name = `p${segment.msn}.${segment.parts.length}.m4s`;
    files.set(name, fragment.data);
    segment.parts.push({ name, duration, independent: fragment.keyframe });
    segment.duration += duration;
    changed.emit('part');
  };
  source.on('init', (init) => files.set('init.mp4', init));
  if (source.init) files.set('init.mp4', source.init);
  source.on('fragment', (fragment) => {
    if (previous) addPart(previous, fragment.start - previous.start);
    previous = fragment;
  });

  const playlist = () => {
    const listed = segments.slice(-WINDOW);
    const target = Math.max(1, Math.ceil(Math.max(...listed.map((s) => s.duration), 0)));
    const lines = ['#EXTM3U', '#EXT-X-VERSION:9', `#EXT-X-TARGETDURATION:${target}`,
      `#EXT-X-PART-INF:PART-TARGET=${PART_TARGET}`,
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${(3 * PART_TARGET + 0.001).toFixed(3)}`,
      `#EXT-X-MEDIA-SEQUENCE:${listed[0]?.msn ?? 0}`, '#EXT-X-MAP:URI="init.mp4"'];
    listed.forEach((s, i) => {
      if (i >= listed.length - PART_SEGMENTS) {
        for (const p of s.parts) {
          lines.push(`#EXT-X-PART:DURATION=${p.duration.toFixed(5)},URI="${p.name}"${p.independent ? ',INDEPENDENT=YES' : ''}`);
        }
      }
      if (s.done) lines.push(`#EXTINF:${s.duration.toFixed(5)},`, `s${s.msn}.m4s`);
    });
    const last = listed[listed.length - 1];
    if (last) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p${last.msn}.${last.parts.length}.m4s"`);
    return `${lines.join('\n')}\n`;
  };
  // Whether part `k` of segment `n` is listed (k undefined: the whole segment is).
  const has = (n, k) => segments.some((s) => s.msn > n ||
    (s.msn === n && (k === undefined ? s.done : s.parts.length > k)));
  const until = (ready, ms) => new Promise((resolve) => {
    if (ready()) return resolve();
    const timer = setTimeout(done, ms);
    function done() { clearTimeout(timer); changed.off('part', check); resolve(); }
    function check() { if (ready()) done(); }
    changed.on('part', check);
  });

  const requests = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const name = url.pathname.replace(/^\/ll\/(video\/)?/, '');
    const reply = (status, body, type) => {
      requests.push({ path: url.pathname + url.search, status });
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-cache', 'Access-Control-Allow-Origin': '*' });
      res.end(body);
    };
    if (!url.pathname.startsWith('/ll/')) return reply(404, 'not found', 'text/plain');
    if (name === 'master.m3u8') {
      return reply(200, '#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n' +
        '#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30\n' +
        'video/index.m3u8\n', 'application/vnd.apple.mpegurl');
    }
    if (name === 'index.m3u8') {
      const n = url.searchParams.get('_HLS_msn');
      const k = url.searchParams.get('_HLS_part');
      if (n !== null) await until(() => has(Number(n), k === null ? undefined : Number(k)), 3000);
      return reply(200, playlist(), 'application/vnd.apple.mpegurl');
    }
    const part = /^p(\d+)\.(\d+)\.m4s$/.exec(name);
    if (part && !files.has(name)) await until(() => files.has(name), 3000);
    if (!files.has(name)) return reply(404, 'not found', 'text/plain');
    return reply(200, files.get(name), 'video/mp4');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}
