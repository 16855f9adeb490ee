// `newsreel live --low-latency`: ffmpeg relays a real clip as MPEG-TS at real-time pace into the
// worker, which writes, beside its MPEG-TS output, CMAF parts and LL-HLS playlists in OUTDIR/ll/.
// While the stream is on air: the playlists validate (lib/ll_hls.mjs), every `part` message of the
// worker protocol names a file that is there and listed, and hls.js in Chromium with
// lowLatencyMode plays ll/master.m3u8, loading parts, without an error. The static server holds
// requests the way the origin does (blocking reloads, a hinted part not written yet). At the end:
// ffprobe and ffmpeg read each init + segment, whose frames add up to its EXTINF, and the decode
// times (tfdt) of the parts continue one another.
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/live_ll_worker.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { readMasterPlaylist } from './lib/hls.mjs';
import { lowLatencyProblems, readLowLatencyPlaylist } from './lib/ll_hls.mjs';
import { startStaticServer } from './lib/static_server.mjs';
import {
  E2E_DIR, MEDIA_DIR, NEWSREEL_BIN, ffprobeJson, loadPlaywright, makeTempDir, removeDir, runOk, sleep, waitFor,
} from './lib/tools.mjs';

const CLIP = path.join(MEDIA_DIR, 'moviepy_chaplin.mp4'); // 640x360, 25 fps, 9.6 s
const CHROMIUM = process.env.NEWSREEL_CHROMIUM || '/usr/bin/chromium';
const HLS_DIST = path.join(E2E_DIR, 'node_modules', 'hls.js', 'dist');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio'];
const RUNGS = ['360p', '144p'];

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>newsreel LL-HLS e2e</title></head>
<body>
<video id="video" muted playsinline width="640" height="360"></video>
<script src="/hls/hls.js"></script>
<script>
  const video = document.getElementById('video');
  const log = window.log = { errors: [], parts: 0, fragments: 0, videoErrors: [] };
  const hls = window.hls = new Hls({ lowLatencyMode: true });
  hls.on(Hls.Events.ERROR, (event, data) => log.errors.push({
    type: data.type, details: data.details, fatal: data.fatal, reason: data.reason || '',
    url: (data.frag && data.frag.url) || data.url || '', error: data.error ? String(data.error) : '',
  }));
  hls.on(Hls.Events.FRAG_LOADED, (event, data) => { if (data.part) log.parts++; else log.fragments++; });
  video.addEventListener('error', () => log.videoErrors.push(video.error ? video.error.code : -1));
  hls.loadSource('/live/ll/master.m3u8');
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) => log.errors.push({ details: 'play', error: String(e) })));
</script>
</body></html>`;

// Holds a request as an LL-HLS origin does: a blocking playlist reload (_HLS_msn, _HLS_part) until
// the playlist lists what was asked for, and a part not written yet until it is.
async function holdLikeAnOrigin(urlPath, params, file) {
  const deadline = Date.now() + 6000;
  if (urlPath.endsWith('.m4s')) {
    while (!fs.existsSync(file) && Date.now() < deadline) await sleep(20);
    return;
  }
  if (!urlPath.endsWith('index.m3u8') || !params.has('_HLS_msn')) return;
  const msn = Number(params.get('_HLS_msn'));
  const want = params.has('_HLS_part') ? `p${msn}.${params.get('_HLS_part')}.m4s` : `s${msn}.m4s`;
  while (Date.now() < deadline) {
    let text = '';
    try { text = fs.readFileSync(file, 'utf8'); } catch { /* not yet */ }
    if (text.includes(`"${want}"`) || text.includes(`\n${want}\n`) || text.includes(`p${msn + 1}.0.m4s`) ||
        text.includes('#EXT-X-ENDLIST')) return;
    await sleep(20);
  }
}

// Each moof's track, tfdt, sample count and summed sample durations (ISO BMFF, 32-bit sizes).
function fragments(bytes) {
  const out = [];
  const boxes = (buf, from, to) => {
    const list = [];
    for (let at = from; at + 8 <= to;) {
      const size = buf.readUInt32BE(at);
      assert.ok(size >= 8 && at + size <= to, `box size ${size} at ${at}`);
      list.push({ type: buf.toString('latin1', at + 4, at + 8), start: at + 8, end: at + size });
      at += size;
    }
    return list;
  };
  for (const moof of boxes(bytes, 0, bytes.length).filter((b) => b.type === 'moof')) {
    const traf = boxes(bytes, moof.start, moof.end).find((b) => b.type === 'traf');
    const inner = boxes(bytes, traf.start, traf.end);
    const tfhd = inner.find((b) => b.type === 'tfhd');
    const tfdt = inner.find((b) => b.type === 'tfdt');
    const trun = inner.find((b) => b.type === 'trun');
    const count = bytes.readUInt32BE(trun.start + 4);
    let duration = 0;
    for (let i = 0; i < count; i++) duration += bytes.readUInt32BE(trun.start + 12 + 16 * i);
    out.push({ track: bytes.readUInt32BE(tfhd.start + 4), tfdt: Number(bytes.readBigUInt64BE(tfdt.start + 4)), count, duration });
  }
  return out;
}

test('a low-latency live stream: parts, LL-HLS playlists, the part message, and hls.js plays it', async () => {
  const dir = makeTempDir('live-ll');
  const { chromium } = await loadPlaywright();
  const children = [];  // killed at the end whatever happened, so that a failure cannot hang the test
  try {
    // The clip three times (29 s), as MPEG-TS (H.264 with B-frames + AAC), as an encoder sends it.
    const source = path.join(dir, 'source.ts');
    await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-stream_loop', '2', '-i', CLIP, '-c:v', 'libx264',
      '-preset', 'veryfast', '-g', '50', '-c:a', 'aac', '-f', 'mpegts', source]);
    const out = path.join(dir, 'live');
    const feeder = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-i', source, '-c', 'copy', '-f', 'mpegts', 'pipe:1'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(feeder);
    // 144p runs at half the frame rate: its parts hold fewer frames.
    const worker = spawn(NEWSREEL_BIN, ['live', out, '--ladder', '360,144', '--window-seconds', '6',
      '--delete-grace', '8', '--progress', 'protocol', '--low-latency'], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(worker);
    feeder.stdout.pipe(worker.stdin);
    worker.stdin.on('error', () => {});
    let stderr = '';
    worker.stderr.on('data', (c) => { stderr += c; });
    const exited = new Promise((resolve) => worker.on('close', (code, signal) => resolve({ code, signal })));

    // Each part message, with what was on disk when it arrived.
    const lines = [];
    let rest = '';
    worker.stdout.on('data', (chunk) => {
      rest += chunk.toString('utf8');
      let nl;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = JSON.parse(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
        if (line.type === 'part') {
          line.fileThere = fs.existsSync(path.join(out, line.file));
          line.initThere = fs.existsSync(path.join(out, line.init));
          const playlist = path.join(out, 'll', line.rung, 'index.m3u8');
          line.listed = fs.existsSync(playlist) && fs.readFileSync(playlist, 'utf8').includes(`URI="${path.basename(line.file)}"`);
        }
        lines.push(line);
      }
    });

    const master = path.join(out, 'll', 'master.m3u8');
    await waitFor(() => fs.existsSync(master), 'll/master.m3u8');
    const { variants } = readMasterPlaylist(master);
    assert.deepEqual(variants.map((v) => v.uri), RUNGS.map((r) => `${r}/index.m3u8`));
    assert.deepEqual(variants.map((v) => v.attrs.RESOLUTION), ['640x360', '256x144']);
    for (const v of variants) {
      assert.match(v.attrs.CODECS, /^avc1\.64[0-9a-f]{4},mp4a\.40\.2$/);
      assert.ok(Number(v.attrs.BANDWIDTH) > 0 && Number(v.attrs['FRAME-RATE']) > 0, JSON.stringify(v.attrs));
    }

    // On air: a playlist with a complete segment and parts in progress validates.
    const livePath = path.join(out, 'll', '360p', 'index.m3u8');
    await waitFor(() => fs.existsSync(livePath) && readLowLatencyPlaylist(livePath).segments.length >= 1, 'a complete LL segment');
    const live = readLowLatencyPlaylist(livePath);
    assert.deepEqual(lowLatencyProblems(live), [], live.text);
    assert.ok(!live.endList && live.preloadHint, live.text);
    assert.deepEqual(live.renditionReports.map((r) => r.uri), ['../144p/index.m3u8'], live.text);

    // hls.js in low-latency mode plays it.
    const server = await startStaticServer({ routes: { '/live/': out, '/hls/': HLS_DIST }, pages: { '/': PAGE }, holdUntil: holdLikeAnOrigin });
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    let played;
    try {
      const page = await browser.newPage();
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      await page.goto(`${server.url}/`);
      // Four seconds of media played (the playhead moved), through parts.
      await page.waitForFunction(() => document.getElementById('video').currentTime > 4 || window.log.errors.some((e) => e.fatal),
        null, { timeout: 90_000, polling: 200 });
      played = await page.evaluate(() => ({ log: window.log, time: document.getElementById('video').currentTime, latency: window.hls.latency }));
      console.log(`hls.js: ${played.log.parts} parts and ${played.log.fragments} segments loaded, latency ${played.latency?.toFixed(2)} s`);
      assert.deepEqual(pageErrors, []);
      // A live stream fed at real-time pace can run dry for a moment on a busy machine (hls.js
      // then reports a non-fatal stall and waits for the next part): that is the machine's
      // speed, not a fault. Anything else, or anything fatal, is.
      // On a stream a few seconds old, hls.js starts at the first part of the newest whole
      // segment (its live edge less the hold-back lands there: 2.0 s here), while the playhead
      // is still at 0 until its own start seek; when its gap watchdog ticks first, it skips
      // that start "hole" itself and reports a non-fatal bufferSeekOverHole from 0 to that
      // segment's start plus its 0.1 s padding. A race in the player's start-up, seen alone in
      // 3 of 10 runs on a busy day; the parts' tfdt, checked below, show the media has no hole.
      const startGap = (e) => !e.fatal && e.details === 'bufferSeekOverHole' && (() => {
        const m = /^fragment loaded with buffer holes, seeking from 0 to ([\d.]+)$/.exec(e.reason);
        if (!m) return false;
        const segmentStart = Number(m[1]) - 0.1;
        return segmentStart > 0 && Math.abs(segmentStart / 2 - Math.round(segmentStart / 2)) < 0.01;
      })();
      const faults = played.log.errors.filter((e) => e.fatal ||
        !(['bufferStalledError', 'bufferNudgeOnStall'].includes(e.details) || startGap(e)));
      if (played.log.errors.some(startGap)) console.log('hls.js skipped the start gap to the newest segment');
      assert.deepEqual(faults, [], JSON.stringify(played.log.errors));
      assert.deepEqual(played.log.videoErrors, []);
      assert.ok(played.log.parts > 0, `hls.js loaded no parts: ${JSON.stringify(played.log)}`);
    } finally {
      await Promise.race([browser.close(), sleep(15_000)]);
      await server.close();
    }

    const { code, signal } = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
    feeder.kill();

    // The part messages: each one's file and init were in place and its playlist listed it.
    const parts = lines.filter((l) => l.type === 'part');
    assert.ok(parts.length > 40, `${parts.length} part messages`);
    for (const p of parts) {
      assert.ok(RUNGS.includes(p.rung), JSON.stringify(p));
      assert.equal(p.file, `ll/${p.rung}/p${p.msn}.${p.part}.m4s`);
      assert.equal(p.init, `ll/${p.rung}/init.mp4`);
      assert.ok(p.fileThere && p.initThere && p.listed, JSON.stringify(p));
      assert.equal(p.independent, p.part === 0, JSON.stringify(p));
    }
    for (const rung of RUNGS) {
      const mine = parts.filter((p) => p.rung === rung);
      mine.forEach((p, i) => {
        const next = mine[i + 1];
        const lastOfSegment = !next || next.msn !== p.msn;
        // Parts of the default 200 ms plan: whole frames of the rung (25 fps; 12.5 on the
        // cellular rung, whose 25-frame GOP makes twelve parts of 2 frames and one of 1).
        const frame = rung === '144p' ? 0.08 : 0.04;
        assert.ok(p.duration >= frame - 1e-3 && p.duration <= 0.2 + 1e-3, JSON.stringify(p));
        assert.ok(Math.abs(p.duration / frame - Math.round(p.duration / frame)) < 0.01, `whole frames: ${JSON.stringify(p)}`);
        if (next) assert.ok(next.msn === p.msn ? next.part === p.part + 1 : next.msn === p.msn + 1 && next.part === 0, JSON.stringify([p, next]));
      });
    }

    // The ended playlists validate; each listed segment decodes with its init, its frames add up
    // to its EXTINF, and its parts' decode times continue one another.
    for (const rung of RUNGS) {
      const ended = readLowLatencyPlaylist(path.join(out, 'll', rung, 'index.m3u8'));
      assert.ok(ended.endList, ended.text);
      assert.deepEqual(lowLatencyProblems(ended), [], ended.text);
      assert.ok(ended.segments.length >= 3, ended.text);
      const init = fs.readFileSync(path.join(out, 'll', rung, 'init.mp4'));
      const fps = rung === '144p' ? 12.5 : 25;
      let videoEnd = null;
      for (const s of ended.segments) {
        const whole = path.join(dir, `${rung}-${s.msn}.mp4`);
        fs.writeFileSync(whole, Buffer.concat([init, fs.readFileSync(s.path)]));
        const probed = await ffprobeJson(['-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', whole]);
        const video = probed.streams.find((x) => x.codec_name === 'h264');
        assert.ok(video && probed.streams.some((x) => x.codec_name === 'aac'), JSON.stringify(probed));
        assert.ok(Math.abs(Number(video.nb_read_frames) / fps - s.duration) < 0.001, `${rung} ${s.uri}: ${video.nb_read_frames} frames, EXTINF ${s.duration}`);
        await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-i', whole, '-f', 'null', '-']);
        const segmentBytes = fs.readFileSync(s.path);
        assert.deepEqual(Buffer.concat(s.parts.map((p) => fs.readFileSync(p.path))), segmentBytes, `${s.uri} is its parts`);
        for (const f of fragments(segmentBytes).filter((x) => x.track === 1)) {
          if (videoEnd !== null) assert.equal(f.tfdt, videoEnd, `${rung} ${s.uri}: tfdt`);
          videoEnd = f.tfdt + f.duration;
        }
      }
    }
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    removeDir(dir);
  }
});
