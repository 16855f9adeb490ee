// Low-latency live playback: the fragmented MP4 (CMAF) a live stream sends on /ws/live/<id>,
// fed to the browser's MediaSource, with a short buffer kept short; LL-HLS through hls.js where
// there is no MediaSource at all.
//
//   const session = playWebSocket(video, 'wss://host/ws/live/abc123', { targetLatency: 0.25 });
//   session.stats   // {latency, rate, stalls, jumps, ...}: read it at any time
//   session.stop()
//
// What the server sends (docs/api.md, "Live media: /ws/live"): binary messages, the first one
// the init segment (ftyp + moov), then media fragments (moof + mdat, one or more per message)
// starting at a keyframe, in order. A new init segment on the same socket (the encoder's
// settings changed) is appended as it comes. The codecs for the SourceBuffer are read from the
// init segment itself (avcC / hvcC, esds), so the server sends nothing else.
//
// Keeping the latency short: latency here is how far the playhead is behind the newest media
// the browser holds (buffered end − currentTime). Media lands a part at a time, so it saw-tooths:
// up by a part when one lands, down as it plays. What the player steers is the trough, the
// latency just before a part lands (the lowest of the last 1.5 s): the margin left before the
// buffer would run dry, and with the part's length and the server's own delay, the whole delay a
// viewer sees. A trough more than 0.1 s over the target plays the video faster (up to 10 %,
// faster the further behind) until it is back at the target; beyond `maxLatency` (a burst after
// the network stalled) it jumps to the target before the end. The target starts at
// `targetLatency` and grows by STALL_TARGET_STEP with every stall, up to STALL_TARGET_MAX: a link
// whose parts come unevenly gets the margin it needs (stats.target), an even one keeps the
// least delay. Media more than 10 s behind the playhead is removed. A hole in the buffer (the
// server skipped a slow viewer ahead to a newer keyframe) is jumped over.
//
// No words here: the page says what the stats and error codes mean (live.js).

const TICK_MS = 250;
const BACK_BUFFER_S = 10;       // kept behind the playhead (seeking back a little works)
const MAX_RATE = 1.1;           // faster than this is heard (pitch is kept, but speech hurries)
const CATCH_UP_ABOVE = 0.1;     // seconds of trough over the target before playing faster
const TROUGH_WINDOW_MS = 1500;  // the troughs the player steers by: those of this long ago at most
const STALL_TARGET_STEP = 0.25; // seconds the target grows by at each stall
const STALL_TARGET_MAX = 1;     // ... up to this
const MAX_QUEUE = 200;          // fragments waiting for the SourceBuffer; beyond: start over
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15_000;
const UNAVAILABLE_AFTER = 4;    // connections without an init segment before giving up (7.5 s)
const MAX_MEDIA_ERRORS = 3;     // the browser could not decode the stream: after this, give up

// --- The init segment: which codecs. ----------------------------------------------------------

// The child boxes of `data` (a DataView) between `start` and `end`: [{type, start, end, body}],
// `body` where the payload starts. Stops at a box that does not fit (a truncated message).
function boxes(data, start = 0, end = data.byteLength) {
  const out = [];
  for (let at = start; at + 8 <= end;) {
    let size = data.getUint32(at);
    const type = String.fromCharCode(data.getUint8(at + 4), data.getUint8(at + 5), data.getUint8(at + 6), data.getUint8(at + 7));
    let body = at + 8;
    if (size === 1) {
      if (at + 16 > end) break;
      size = Number(data.getBigUint64(at + 8));
      body = at + 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < body - at || at + size > end) break;
    out.push({ type, start: at, end: at + size, body });
    at += size;
  }
  return out;
}

const child = (data, box, type) => boxes(data, box.body, box.end).find((b) => b.type === type);
const path = (data, box, ...types) => types.reduce((b, type) => b && child(data, b, type), box);
const hex2 = (n) => n.toString(16).padStart(2, '0');

// The length of an MPEG-4 descriptor (ISO 14496-1: up to four bytes of 7 bits) at `at`:
// [length, where the payload starts].
function descriptorLength(data, at, end) {
  let length = 0;
  for (let i = 0; i < 4 && at < end; i++) {
    const b = data.getUint8(at++);
    length = (length << 7) | (b & 0x7f);
    if (!(b & 0x80)) break;
  }
  return [length, at];
}

// The RFC 6381 string of an mp4a sample entry: "mp4a.40.<audio object type>" (mp4a.40.2, AAC-LC).
function mp4aCodec(data, entry) {
  // AudioSampleEntry: 8 reserved + 20 of fields, then its boxes (esds).
  const esds = boxes(data, entry.body + 28, entry.end).find((b) => b.type === 'esds');
  if (!esds) return 'mp4a.40.2';
  let at = esds.body + 4;  // version and flags
  const end = esds.end;
  while (at < end) {
    const tag = data.getUint8(at);
    const [length, payload] = descriptorLength(data, at + 1, end);
    if (tag === 0x03) {        // ES_Descriptor: ES_ID, flags, optional fields, then children
      const flags = data.getUint8(payload + 2);
      at = payload + 3 + (flags & 0x80 ? 2 : 0);
      if (flags & 0x40) at += 1 + data.getUint8(at);
      if (flags & 0x20) at += 2;
    } else if (tag === 0x04) { // DecoderConfigDescriptor: objectTypeIndication, ..., then DecoderSpecificInfo
      const objectType = data.getUint8(payload);
      if (objectType !== 0x40) return `mp4a.${hex2(objectType)}`;
      at = payload + 13;
    } else if (tag === 0x05) { // AudioSpecificConfig: the first 5 bits (31: 6 more follow)
      let aot = data.getUint8(payload) >> 3;
      if (aot === 31) aot = 32 + (((data.getUint8(payload) & 0x07) << 3) | (data.getUint8(payload + 1) >> 5));
      return `mp4a.40.${aot}`;
    } else {
      at = payload + length;
    }
  }
  return 'mp4a.40.2';
}

// The RFC 6381 string of one sample entry, or null for one this module does not know.
function sampleEntryCodec(data, entry) {
  // VisualSampleEntry: 8 reserved + 70 of fields, then its boxes (avcC, hvcC, ...).
  const visualChild = (type) => boxes(data, entry.body + 78, entry.end).find((b) => b.type === type);
  if (entry.type === 'avc1' || entry.type === 'avc3') {
    const avcC = visualChild('avcC');
    if (!avcC || avcC.body + 4 > avcC.end) return null;
    return `${entry.type}.${hex2(data.getUint8(avcC.body + 1))}${hex2(data.getUint8(avcC.body + 2))}${hex2(data.getUint8(avcC.body + 3))}`;
  }
  if (entry.type === 'hvc1' || entry.type === 'hev1') {
    const hvcC = visualChild('hvcC');
    if (!hvcC || hvcC.body + 13 > hvcC.end) return null;
    const b = hvcC.body;
    const first = data.getUint8(b + 1);
    const space = ['', 'A', 'B', 'C'][first >> 6];
    const tier = first & 0x20 ? 'H' : 'L';
    let compat = data.getUint32(b + 2);  // written bit-reversed, in hex
    let reversed = 0;
    for (let i = 0; i < 32; i++) { reversed = (reversed << 1) | (compat & 1); compat >>>= 1; }
    const constraints = [];
    for (let i = 0; i < 6; i++) constraints.push(data.getUint8(b + 6 + i));
    while (constraints.length && constraints[constraints.length - 1] === 0) constraints.pop();
    return [`${entry.type}.${space}${first & 0x1f}`, (reversed >>> 0).toString(16).toUpperCase(),
      `${tier}${data.getUint8(b + 12)}`, ...constraints.map((c) => c.toString(16).toUpperCase())].join('.');
  }
  if (entry.type === 'mp4a') return mp4aCodec(data, entry);
  if (entry.type === 'Opus') return 'opus';
  return null;
}

// What an init segment holds: {codecs: ['avc1.64001f', 'mp4a.40.2'], mime: 'video/mp4; codecs="..."',
// timescales: {trackId: ticks per second}}. Throws an Error when it is not an init segment, is
// cut short, or names a codec this module cannot name.
export function parseInit(buffer) {
  try {
    return readInit(new DataView(buffer));
  } catch (e) {
    if (e instanceof RangeError) throw new Error('the init segment is cut short');
    throw e;
  }
}

function readInit(data) {
  const moov = boxes(data).find((b) => b.type === 'moov');
  if (!moov) throw new Error('no moov box in the init segment');
  const codecs = [];
  const timescales = {};
  for (const trak of boxes(data, moov.body, moov.end).filter((b) => b.type === 'trak')) {
    const tkhd = child(data, trak, 'tkhd');
    const mdhd = path(data, trak, 'mdia', 'mdhd');
    const stsd = path(data, trak, 'mdia', 'minf', 'stbl', 'stsd');
    if (!tkhd || !mdhd || !stsd) continue;
    const trackId = data.getUint32(tkhd.body + (data.getUint8(tkhd.body) === 1 ? 20 : 12));
    timescales[trackId] = data.getUint32(mdhd.body + (data.getUint8(mdhd.body) === 1 ? 20 : 12));
    const entry = boxes(data, stsd.body + 8, stsd.end)[0];  // version, flags, entry count
    if (!entry) continue;
    const codec = sampleEntryCodec(data, entry);
    if (!codec) throw new Error(`unknown sample entry ${entry.type}`);
    codecs.push(codec);
  }
  if (!codecs.length) throw new Error('no track in the init segment');
  const kind = codecs.some((c) => !/^(mp4a|opus)/.test(c)) ? 'video' : 'audio';
  return { codecs, mime: `${kind}/mp4; codecs="${codecs.join(',')}"`, timescales };
}

// The earliest decode time (seconds) of the fragments in `buffer`, by their tfdt boxes and the
// init segment's `timescales`; null when it has none or is cut short (the browser judges it then).
export function fragmentStart(buffer, timescales) {
  try {
    return readFragmentStart(new DataView(buffer), timescales);
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
}

function readFragmentStart(data, timescales) {
  let earliest = null;
  for (const moof of boxes(data).filter((b) => b.type === 'moof')) {
    for (const traf of boxes(data, moof.body, moof.end).filter((b) => b.type === 'traf')) {
      const tfhd = child(data, traf, 'tfhd');
      const tfdt = child(data, traf, 'tfdt');
      if (!tfhd || !tfdt) continue;
      const scale = timescales[data.getUint32(tfhd.body + 4)];
      if (!scale) continue;
      const ticks = data.getUint8(tfdt.body) === 1 ? Number(data.getBigUint64(tfdt.body + 4)) : data.getUint32(tfdt.body + 4);
      const t = ticks / scale;
      if (earliest === null || t < earliest) earliest = t;
    }
  }
  return earliest;
}

// Whether `buffer` begins with an init segment (ftyp or moov first).
function isInit(buffer) {
  if (buffer.byteLength < 8) return false;
  const type = new TextDecoder().decode(new Uint8Array(buffer, 4, 4));
  return type === 'ftyp' || type === 'moov';
}

// --- What this browser can do. ----------------------------------------------------------------

// The MediaSource to use: MediaSource where it exists, ManagedMediaSource (Safari on iPhone,
// iOS 17.1 and later) otherwise; null when neither can play H.264 + AAC in MP4.
export function mediaSourceKind() {
  const probe = 'video/mp4; codecs="avc1.42E01E,mp4a.40.2"';
  if (window.MediaSource?.isTypeSupported?.(probe)) return 'MediaSource';
  if (window.ManagedMediaSource?.isTypeSupported?.(probe)) return 'ManagedMediaSource';
  return null;
}

// --- Playing the WebSocket stream. -----------------------------------------------------------

// Plays the stream at `url` (ws: or wss:) in `video` until stop(). Returns a session:
//   stats: {mode: 'MediaSource'|'ManagedMediaSource', state: 'connecting'|'playing'|'waiting'|'paused'|'stopped',
//           latency (s, buffered end − currentTime), rate, stalls (times playback ran dry after
//           it began), jumps (seeks to catch up or over a hole), fragments, bytes, reconnects,
//           codecs, error (the last problem, a short code: 'codec', 'append', 'socket', ...)}
//   stop(): closes the socket and detaches the media; the video is left empty.
//   finish(): the stream ended: no more connecting; what is buffered plays out.
// `onStats(stats)` is called every tick (4 times a second); `onError(code, detail)` when the
// stream cannot play here at all, after which the session has stopped and the caller may try
// another way (LL-HLS): 'no-mse' (no MediaSource of either kind), 'codec' (the browser refuses
// the stream's codecs), 'media' (it accepted them but could not decode, three times), 'unavailable' (the first UNAVAILABLE_AFTER connections all ended without
// an init segment: no such stream here, or a proxy that does not pass WebSockets).
// Once an init segment came, lost connections are retried for ever, 0.5 s doubling to 15 s,
// until stop() or finish().
export function playWebSocket(video, url, { targetLatency = 0.25, maxLatency = 2, onStats = () => {}, onError = () => {} } = {}) {
  let target = targetLatency;  // grows with each stall (above)
  const kind = mediaSourceKind();
  const stats = {
    mode: kind, state: 'connecting', latency: null, trough: null, target: targetLatency, rate: 1, stalls: 0, jumps: 0, fragments: 0, bytes: 0,
    reconnects: 0, codecs: null, error: null, maxRate: 1,
  };
  let stopped = false;
  let finished = false;
  let everInit = false;    // an init segment came on some connection: the stream exists
  let failures = 0;        // connections in a row that ended without an init segment
  let socket = null;
  let retryTimer = 0;
  let retryDelay = RECONNECT_MIN_MS;
  let mediaSource = null;
  let objectUrl = null;
  let sourceBuffer = null;
  let mime = null;
  let timescales = {};
  let queue = [];          // ArrayBuffers (init or fragments) waiting for the SourceBuffer
  let mediaErrors = 0;     // the video element's decode errors: after MAX_MEDIA_ERRORS, give up
  let startedPlaying = false;
  let catchingUp = false;  // playing faster until back near the target
  let troughs = [];        // [{at, latency}]: the latency each time just before a part landed
  let lastStart = null;    // where the last fragment landed (seconds, after timestampOffset)

  const fail = (code, detail) => {
    stats.error = code;
    console.warn(`lowlatency: ${code}: ${detail}`);
  };

  if (!kind) {
    stats.state = 'stopped';
    queueMicrotask(() => onError('no-mse', 'no MediaSource in this browser'));
    return { stats, stop() {}, finish() {} };
  }

  // A fresh MediaSource on the video; resolves when it is open.
  function attachMediaSource() {
    detachMediaSource();
    const MS = window[kind];
    mediaSource = new MS();
    // ManagedMediaSource opens only with remote playback (AirPlay) off. It may also drop
    // buffered media by itself and send 'endstreaming': a live socket cannot wait, so appends go
    // on, and what it drops is a hole or a gap the tick below jumps.
    if (kind === 'ManagedMediaSource') video.disableRemotePlayback = true;
    objectUrl = URL.createObjectURL(mediaSource);
    const opened = new Promise((resolve) => mediaSource.addEventListener('sourceopen', resolve, { once: true }));
    video.src = objectUrl;
    return opened;
  }

  function detachMediaSource() {
    sourceBuffer = null;
    mime = null;
    queue = [];
    lastStart = null;
    if (objectUrl) {
      video.removeAttribute('src');
      video.load();
      URL.revokeObjectURL(objectUrl);
    }
    objectUrl = null;
    mediaSource = null;
  }

  // An init segment: the SourceBuffer for its codecs (a new MediaSource when the codecs change).
  async function takeInit(buffer) {
    let info;
    try {
      info = parseInit(buffer);
    } catch (e) {
      fail('init', e.message);
      return false;
    }
    timescales = info.timescales;
    stats.codecs = info.codecs.join(',');
    if (!window[kind].isTypeSupported(info.mime)) {
      stop();
      onError('codec', info.mime);
      return false;
    }
    if (sourceBuffer && info.mime === mime) {
      push(buffer);  // the same codecs: the new init segment goes in line with the fragments
      return true;
    }
    await attachMediaSource();
    if (stopped) return false;
    mime = info.mime;
    sourceBuffer = mediaSource.addSourceBuffer(mime);
    sourceBuffer.mode = 'segments';  // the fragments' own times: a skip ahead leaves a hole to jump
    sourceBuffer.addEventListener('updateend', pump);
    sourceBuffer.addEventListener('error', () => fail('append', 'SourceBuffer error'));
    push(buffer);
    return true;
  }

  function push(buffer) {
    if (queue.length >= MAX_QUEUE) {
      // The browser is not keeping up at all (a hidden tab on some browsers): start over from
      // the next connection rather than hold more.
      fail('queue', `${queue.length} fragments waiting`);
      reconnect();
      return;
    }
    queue.push(buffer);
    pump();
  }

  // Appends the next queued buffer, or removes old media first; one operation at a time.
  function pump() {
    if (!sourceBuffer || sourceBuffer.updating || mediaSource?.readyState !== 'open') return;
    const ranges = video.buffered;
    if (ranges.length && video.currentTime - ranges.start(0) > BACK_BUFFER_S + 2) {
      try {
        sourceBuffer.remove(0, video.currentTime - BACK_BUFFER_S);
        return;
      } catch (e) {
        fail('remove', e.message);
      }
    }
    const buffer = queue.shift();
    if (!buffer) return;
    if (!isInit(buffer)) {
      placeFragment(buffer);
      if (startedPlaying && !video.paused && ranges.length) {
        const at = performance.now();
        troughs = troughs.filter((t) => at - t.at < TROUGH_WINDOW_MS);
        troughs.push({ at, latency: ranges.end(ranges.length - 1) - video.currentTime });
      }
    }
    try {
      sourceBuffer.appendBuffer(buffer);
      stats.fragments += isInit(buffer) ? 0 : 1;
      stats.bytes += buffer.byteLength;
    } catch (e) {
      if (e.name === 'QuotaExceededError' && ranges.length && video.currentTime - 1 > ranges.start(0) + 0.1) {
        // Full: drop all but a second behind the playhead, then try this one again.
        queue.unshift(buffer);
        sourceBuffer.remove(0, video.currentTime - 1);
        return;
      }
      // Full ahead of the playhead (paused for many minutes), or broken: start over with a new
      // MediaSource from the next init segment.
      fail(e.name === 'QuotaExceededError' ? 'quota' : 'append', e.message);
      detachMediaSource();
      startedPlaying = false;
      reconnect();
    }
  }

  // Times that go backwards (the encoder started again from zero) would land on top of what is
  // already buffered: they are shifted to follow it instead.
  function placeFragment(buffer) {
    const raw = fragmentStart(buffer, timescales);
    if (raw === null) return;
    const at = raw + sourceBuffer.timestampOffset;
    if (lastStart !== null && at < lastStart - 0.5) {
      const ranges = video.buffered;
      const end = ranges.length ? ranges.end(ranges.length - 1) : lastStart;
      sourceBuffer.timestampOffset = end - raw;
    }
    lastStart = raw + sourceBuffer.timestampOffset;
  }

  function connect() {
    if (stopped) return;
    stats.state = 'connecting';
    const ws = socket = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    let gotInit = false;
    let chain = Promise.resolve();  // messages are taken in order, the init one asynchronously
    ws.onmessage = (m) => {
      if (ws !== socket || typeof m.data === 'string') return;  // no text messages are defined
      const buffer = m.data;
      chain = chain.then(async () => {
        if (ws !== socket || stopped) return;
        if (isInit(buffer)) {
          gotInit = await takeInit(buffer);
          if (gotInit) {
            everInit = true;
            failures = 0;
            retryDelay = RECONNECT_MIN_MS;
          }
        } else if (gotInit) {
          push(buffer);
        }
      });
    };
    ws.onclose = () => {
      if (ws !== socket || stopped || finished) return;
      fail('socket', 'connection closed');
      if (!gotInit && !everInit && ++failures >= UNAVAILABLE_AFTER) {
        stop();
        onError('unavailable', `${failures} connections to ${url} without an init segment`);
        return;
      }
      reconnect();
    };
  }

  function reconnect() {
    if (stopped || finished) return;
    const ws = socket;
    socket = null;
    if (ws) { ws.onclose = null; ws.close(); }
    queue = [];
    clearTimeout(retryTimer);
    stats.state = 'connecting';
    retryTimer = setTimeout(() => { stats.reconnects++; connect(); }, retryDelay * (0.75 + Math.random() / 2));
    retryDelay = Math.min(retryDelay * 2, RECONNECT_MAX_MS);
  }

  // Four times a second: where the playhead is against the newest media, and what to do.
  function tick() {
    const ranges = video.buffered;
    if (!sourceBuffer || !ranges.length) {
      stats.latency = null;
      onStats(stats);
      return;
    }
    const end = ranges.end(ranges.length - 1);
    const now = video.currentTime;
    if (video.paused && startedPlaying) {
      // Paused by the reader: nothing to chase; on play, the jump below brings them back live.
      stats.latency = Math.round((end - now) * 1000) / 1000;
      stats.state = 'paused';
      onStats(stats);
      return;
    }
    let inRange = -1;
    for (let i = 0; i < ranges.length; i++) if (now >= ranges.start(i) - 0.05 && now < ranges.end(i)) inRange = i;
    let latency = end - now;
    const jumpTo = (t) => {
      video.currentTime = t;
      stats.jumps++;
      latency = end - t;
      troughs = [];
    };
    if (latency > maxLatency) {
      jumpTo(Math.max(ranges.start(ranges.length - 1), end - target));
    } else if (inRange < 0) {
      // Before the first media (the start) or in a hole: on to the next media there is.
      for (let i = 0; i < ranges.length; i++) {
        if (ranges.start(i) > now) { jumpTo(Math.max(ranges.start(i), Math.min(end - target, ranges.end(i) - 0.05))); break; }
      }
    }
    // Catching up, from CATCH_UP_ABOVE of trough over the target until back at it; up to
    // MAX_RATE half a second over. Without a recent trough (no part lately), the latency now less
    // the sawtooth's usual height stands in for it.
    const at = performance.now();
    const recent = troughs.filter((t) => at - t.at < TROUGH_WINDOW_MS);
    const trough = recent.length ? Math.min(...recent.map((t) => t.latency)) : latency - 0.5;
    const over = Math.min(trough, latency) - target;
    if (over > CATCH_UP_ABOVE) catchingUp = true;
    else if (over <= 0.02) catchingUp = false;
    const rate = catchingUp ? Math.min(MAX_RATE, 1 + (MAX_RATE - 1) * Math.min(1, over / 0.5)) : 1;
    const rounded = Math.round(rate * 100) / 100;
    if (video.playbackRate !== rounded) video.playbackRate = rounded;
    stats.rate = rounded;
    stats.maxRate = Math.max(stats.maxRate, rounded);
    stats.latency = Math.round(latency * 1000) / 1000;
    stats.trough = recent.length ? Math.round(trough * 1000) / 1000 : null;
    if (video.paused && !startedPlaying) video.play().catch(() => {});  // muted autoplay
    stats.state = video.readyState >= 3 && !video.paused ? 'playing' : 'waiting';
    onStats(stats);
  }

  const onPlaying = () => { startedPlaying = true; };
  const onWaiting = () => {
    if (!startedPlaying || stopped) return;
    stats.stalls++;
    target = Math.min(STALL_TARGET_MAX, target + STALL_TARGET_STEP);
    stats.target = target;
  };
  // The browser could not decode what it was given: the MediaSource is closed. Start over from
  // the next init segment a few times, then let the page try another way.
  const onMediaError = () => {
    if (!objectUrl || stopped) return;
    fail('media', video.error?.message || `code ${video.error?.code}`);
    if (++mediaErrors >= MAX_MEDIA_ERRORS) {
      stop();
      onError('media', video.error?.message || '');
      return;
    }
    detachMediaSource();
    startedPlaying = false;
    reconnect();
  };
  video.addEventListener('playing', onPlaying);
  video.addEventListener('waiting', onWaiting);
  video.addEventListener('error', onMediaError);
  const ticker = setInterval(tick, TICK_MS);
  connect();

  function stop() {
    if (stopped) return;
    stopped = true;
    clearInterval(ticker);
    clearTimeout(retryTimer);
    video.removeEventListener('playing', onPlaying);
    video.removeEventListener('waiting', onWaiting);
    video.removeEventListener('error', onMediaError);
    const ws = socket;
    socket = null;
    if (ws) { ws.onclose = null; ws.close(); }
    detachMediaSource();
    video.playbackRate = 1;
    stats.state = 'stopped';
  }

  function finish() {
    finished = true;
    clearTimeout(retryTimer);
    const ws = socket;
    socket = null;
    if (ws) { ws.onclose = null; ws.close(); }
  }

  return { stats, stop, finish };
}

// --- LL-HLS, where there is no MediaSource of any kind. ---------------------------------------

// Plays LL-HLS playlist `src` with hls.js in low-latency mode (window.Hls, vendor/hls.min.js),
// or with the browser's own HLS (Safari). Returns a session like playWebSocket's ({stats, stop(),
// finish(), hls}, stats.mode 'hls.js' or 'native'; stats.latency as there, stats.liveLatency
// hls.js's estimate of the distance to the live edge), or null when this browser plays neither.
// More than `maxLatency` seconds behind the edge (hls.js's estimate), it jumps to where hls.js
// joins a stream (stats.jumps). `onError(code, detail)`: hls.js gave up ('hls'); the session has
// stopped.
export function playLowLatencyHls(video, src, { maxLatency = 4, onStats = () => {}, onError = () => {} } = {}) {
  const Hls = window.Hls;
  const stats = { mode: null, state: 'connecting', latency: null, rate: 1, stalls: 0, jumps: 0, error: null, errors: [] };
  let hls = null;
  let startedPlaying = false;
  if (Hls?.isSupported()) {
    stats.mode = 'hls.js';
    hls = new Hls({
      lowLatencyMode: true,              // parts, blocking reloads, the preload hint; PART-HOLD-BACK behind the edge
      maxLiveSyncPlaybackRate: MAX_RATE, // catches up by playing a little faster
      liveDurationInfinity: true,
      backBufferLength: BACK_BUFFER_S,
    });
    let mediaRecoveries = 0;
    hls.on(Hls.Events.ERROR, (event, data) => {
      stats.errors.push({ type: data.type, details: data.details, fatal: data.fatal });
      if (!data.fatal) return;
      stats.error = data.details;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 3) {
        hls.recoverMediaError();
        return;
      }
      stop();
      onError('hls', data.details);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    stats.mode = 'native';
    video.src = src;
    video.play().catch(() => {});
  } else {
    return null;
  }
  const onPlaying = () => { startedPlaying = true; };
  const onWaiting = () => { if (startedPlaying) stats.stalls++; };
  video.addEventListener('playing', onPlaying);
  video.addEventListener('waiting', onWaiting);
  const ticker = setInterval(() => {
    const ranges = video.buffered;
    stats.latency = ranges.length ? Math.round((ranges.end(ranges.length - 1) - video.currentTime) * 1000) / 1000 : null;
    stats.liveLatency = hls && Number.isFinite(hls.latency) ? Math.round(hls.latency * 1000) / 1000 : null;
    // Too far behind the live edge (a stall it waited out, a hole it stopped at): hls.js would
    // only play 10 % faster, a minute to win back six seconds. Back to where it joins a stream.
    const edge = hls?.liveSyncPosition;
    if (hls && startedPlaying && !video.paused && stats.liveLatency > maxLatency && Number.isFinite(edge) && edge > video.currentTime) {
      video.currentTime = edge;
      stats.jumps++;
    }
    stats.rate = video.playbackRate;
    stats.state = video.readyState >= 3 && !video.paused ? 'playing' : 'waiting';
    onStats(stats);
  }, TICK_MS);

  function stop() {
    clearInterval(ticker);
    video.removeEventListener('playing', onPlaying);
    video.removeEventListener('waiting', onWaiting);
    if (hls) hls.destroy();
    else { video.removeAttribute('src'); video.load(); }
    hls = null;
    stats.state = 'stopped';
  }
  // hls.js plays out a playlist that ended (EXT-X-ENDLIST) by itself.
  return { stats, stop, finish() {}, get hls() { return hls; } };
}
