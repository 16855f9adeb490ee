// `newsreel live` as the supervisor will run it: ffmpeg relays a real clip as MPEG-TS at
// real-time pace (-re) into the worker's stdin, and the test reads the worker protocol on its
// stdout while the output folder fills, then checks the end (EXT-X-ENDLIST, a result, exit 0).
// ffprobe, a player we did not write, reads the live playlist while the stream is on air.
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/live_worker.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { readMasterPlaylist, readMediaPlaylist } from './lib/hls.mjs';
import { MEDIA_DIR, NEWSREEL_BIN, ffprobeJson, makeTempDir, removeDir, run, runOk, waitFor } from './lib/tools.mjs';

const CLIP = path.join(MEDIA_DIR, 'moviepy_chaplin.mp4'); // 640x360, 25 fps, 9.6 s

// Lines of the worker protocol, parsed as they arrive.
function collectLines(stream) {
  const lines = [];
  let rest = '';
  stream.on('data', (chunk) => {
    rest += chunk.toString('utf8');
    let nl;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      try { lines.push(JSON.parse(line)); } catch { lines.push({ unparsed: line }); }
    }
  });
  return lines;
}

test('a live stream relayed at real-time pace speaks the protocol and ends cleanly', async () => {
  const dir = makeTempDir('live');
  try {
    // The clip twice, as MPEG-TS (H.264 + AAC), the way an encoder in the field sends it.
    const source = path.join(dir, 'source.ts');
    await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-stream_loop', '1', '-i', CLIP, '-c:v', 'libx264',
      '-preset', 'veryfast', '-g', '50', '-c:a', 'aac', '-f', 'mpegts', source]);
    const out = path.join(dir, 'live');
    const feeder = spawn('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-i', source, '-c', 'copy', '-f', 'mpegts', 'pipe:1'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    // The cellular rung (144p, half the frame rate) is in: its cuts must match the others' too.
    const worker = spawn(NEWSREEL_BIN, ['live', out, '--ladder', '360,240,144', '--window-seconds', '6',
      '--delete-grace', '8', '--progress', 'protocol'], { stdio: ['pipe', 'pipe', 'pipe'] });
    feeder.stdout.pipe(worker.stdin);
    worker.stdin.on('error', () => {});
    const lines = collectLines(worker.stdout);
    let stderr = '';
    worker.stderr.on('data', (c) => { stderr += c; });
    const exited = new Promise((resolve) => worker.on('close', (code, signal) => resolve({ code, signal })));

    const master = path.join(out, 'master.m3u8');
    await waitFor(() => fs.existsSync(master), 'master.m3u8');
    const { variants } = readMasterPlaylist(master);
    assert.deepEqual(variants.map((v) => v.attrs.RESOLUTION), ['640x360', '426x240', '256x144']);
    for (const v of variants) {
      assert.match(v.attrs.CODECS, /^avc1\.64[0-9a-f]{4},mp4a\.40\.2$/);
      assert.ok(Number(v.attrs.BANDWIDTH) > 0);
    }
    // On air: no EXT-X-ENDLIST yet, and ffprobe reads the live stream.
    const live = fs.readFileSync(path.join(out, '360p', 'index.m3u8'), 'utf8');
    assert.ok(!live.includes('#EXT-X-ENDLIST'), live);
    const probed = await ffprobeJson(['-show_entries', 'stream=codec_name,width,height', master]);
    const codecs = probed.streams.map((s) => s.codec_name);
    assert.ok(codecs.includes('h264') && codecs.includes('aac'), JSON.stringify(probed));

    const { code, signal } = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
    assert.equal(lines[0].type, 'hello');
    assert.equal(lines[0].kind, 'live');
    const heartbeats = lines.filter((l) => l.type === 'heartbeat' && l.live);
    assert.ok(heartbeats.length >= 3, `heartbeats with figures: ${JSON.stringify(lines)}`);
    const lastBeat = heartbeats.at(-1).live;
    assert.ok(lastBeat.input_bitrate > 0 && lastBeat.fps > 0 && lastBeat.segments > 0, JSON.stringify(lastBeat));
    const result = lines.at(-1);
    assert.equal(result.type, 'result', JSON.stringify(lines.at(-1)));
    assert.equal(result.rungs.length, 3);
    assert.equal(result.source.container, 'mpegts');
    assert.equal(result.source.video_codec, 'h264');
    for (const rung of ['360p', '240p', '144p']) {
      const text = fs.readFileSync(path.join(out, rung, 'index.m3u8'), 'utf8');
      assert.ok(text.trimEnd().endsWith('#EXT-X-ENDLIST'), `${rung}:\n${text}`);
    }
    // Every rung cut at the same instants, each segment opening with an IDR frame (the cellular
    // rung runs at half the frame rate).
    const firstFrame = async (file) => {
      const { frames } = await ffprobeJson(['-select_streams', 'v', '-read_intervals', '%+#1', '-show_frames',
        '-show_entries', 'frame=pts,key_frame,pict_type', file]);
      return frames[0];
    };
    const ended = Object.fromEntries(['360p', '240p', '144p'].map((r) => [r, readMediaPlaylist(path.join(out, r, 'index.m3u8'))]));
    assert.ok(ended['360p'].segments.length >= 3);
    for (let i = 0; i < ended['360p'].segments.length; i++) {
      const starts = [];
      for (const r of ['360p', '240p', '144p']) {
        const frame = await firstFrame(ended[r].segments[i].path);
        assert.equal(frame.key_frame, 1, `${r} ${ended[r].segments[i].uri}`);
        assert.equal(frame.pict_type, 'I', `${r} ${ended[r].segments[i].uri}`);
        starts.push(frame.pts);
      }
      assert.ok(starts.every((p) => p === starts[0]), `segment ${i} starts at ${starts}`);
    }
    // The ended stream decodes to its end.
    await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-i', path.join(out, '144p', 'index.m3u8'), '-f', 'null', '-']);
    feeder.kill();
  } finally {
    removeDir(dir);
  }
});

test('bytes that are not MPEG-TS fail with bad_input and a reason', async () => {
  const dir = makeTempDir('live-hostile');
  try {
    const result = await run(NEWSREEL_BIN, ['live', path.join(dir, 'out'), '--progress', 'protocol'],
      { input: fs.readFileSync(CLIP) });
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const last = lines.at(-1);
    assert.equal(last.type, 'failure');
    assert.equal(last.code, 'bad_input');
    assert.match(last.message, /not MPEG-TS \(it looks like video\/quicktime\)/);
    assert.match(result.stderr, /not MPEG-TS/);
    assert.ok(!fs.existsSync(path.join(dir, 'out', 'master.m3u8')));
  } finally {
    removeDir(dir);
  }
});
