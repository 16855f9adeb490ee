// Live streams end to end (issue 14; docs/live.md): the real `newsreel serve` with its SRT port,
// real encoders we did not write pushing in (ffmpeg, and gst-launch-1.0 with srtsink), ffmpeg
// and ffprobe reading the live HLS and pulling over SRT, the live workers under the supervisor.
// One server, one stream's life: created through the API, published in each stream id form,
// watched, pulled, its worker killed, its publisher dropped and back, the server restarted, and
// ended into a video that plays. Segments are 1 s and the window 6 s, so that it slides soon.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  MEDIA, bearer, curl, curlJson, eventClient, makeAccount, startServer, tempDataDir, waitFor,
} from './lib/server.mjs';

const execFileP = promisify(execFile);
const SOURCE = path.join(MEDIA, 'moviepy_chaplin.mp4');  // 640x360 H.264 + MP3, 9.6 s, looped
const LIVE_ARGS = ['--workers', '1', '--live-segment-seconds', '1', '--live-window-seconds', '6',
  '--live-ladder', '360,240', '--live-reconnect-grace', '600'];

// An encoder: ffmpeg relaying the clip in a loop at its own pace, as MPEG-TS over SRT.
function ffmpegPublisher(url) {
  const proc = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1',
    '-i', SOURCE, '-c', 'copy', '-f', 'mpegts', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve({ code, stderr })));
  return { proc, exited, stop: () => { proc.kill('SIGKILL'); return exited; } };
}

// Another encoder: a GStreamer pipeline (live test pattern, x264, mpegtsmux, srtsink).
function gstPublisher(port, streamId) {
  const proc = spawn('gst-launch-1.0', ['-q', 'videotestsrc', 'is-live=true', 'pattern=ball', '!',
    'video/x-raw,width=640,height=360,framerate=25/1', '!', 'x264enc', 'tune=zerolatency',
    'speed-preset=ultrafast', 'key-int-max=25', '!', 'h264parse', '!', 'mpegtsmux', '!', 'srtsink',
    `uri=srt://127.0.0.1:${port}`, `streamid=${streamId}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve({ code })));
  return { proc, exited, stop: () => { proc.kill('SIGKILL'); return exited; } };
}

function lines(text) { return text.toString().split('\n').filter(Boolean); }
function mediaSequence(playlist) { return Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? -1); }
function segmentsOf(playlist) { return lines(playlist).filter((l) => !l.startsWith('#')); }

describe('live streams: SRT in, live HLS out, pull, reconnects, recording', () => {
  let dataDir, server, reporter, editor, events, stream, key;
  const earlierLogs = [];  // of the servers before a restart
  const as = (token) => bearer(token).args;
  const api = (p, token, extra = []) => curlJson(`${server.base}/api/v1/live${p}`, [...as(token), ...extra]);
  const getStream = async () => (await api(`/${stream.id}`, reporter)).json;
  const playlist = async (rel) => (await curl(`${server.base}/live/${stream.id}/${rel}`)).body.toString();
  const waitState = (state, what, ms = 60_000) =>
    waitFor(async () => (await getStream()).state === state, what || `state ${state}`, ms);
  // The highest media sequence listed by the first rung's playlist.
  async function lastSequence(rung) {
    const text = await playlist(`${rung}/index.m3u8`);
    return mediaSequence(text) + segmentsOf(text).length - 1;
  }

  before(async () => {
    dataDir = tempDataDir('live');
    server = await startServer({ dataDir, extraArgs: LIVE_ARGS });
    reporter = await makeAccount(dataDir, 'lan', 'reporter');
    editor = await makeAccount(dataDir, 'minh', 'editor');
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
  });

  after(async () => {
    events?.close();
    await server?.stop();
    // For a failure's post-mortem: the server's log.
    if (server) fs.writeFileSync(path.join(path.dirname(dataDir), 'nr-live-test-server.log'), earlierLogs.join('') + server.log.join(''));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a reporter creates a stream: its key once, its passphrase to its runners only', async () => {
    const refused = await api('', reporter, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '--data-binary', JSON.stringify({ title: 'x', visibility: 'published' })]);
    assert.equal(refused.status, 403, 'publishing a stream is an editor\'s call');
    const anonymous = await curlJson(`${server.base}/api/v1/live`, ['-X', 'POST', '--data-binary', '{}']);
    assert.equal(anonymous.status, 401);
    const made = await api('', reporter, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '--data-binary', JSON.stringify({ title: 'Lễ hội đền Hùng', visibility: 'unlisted' })]);
    assert.equal(made.status, 201, made.body.toString());
    stream = made.json;
    key = stream.ingest.key;
    assert.match(key, /^[a-z2-7]{32}$/);
    assert.equal(stream.state, 'idle');
    assert.equal(stream.playback_url, `/live/${stream.id}/master.m3u8`);
    assert.ok(stream.ingest.url.startsWith(`srt://127.0.0.1:${stream.ingest.port}?streamid=#!::r=${stream.id},m=publish,s=${key}`));
    assert.ok(stream.pull.passphrase.length >= 10);
    // Afterwards: never the key; the passphrase to the owner and staff, not to anyone else.
    const owner = await getStream();
    assert.equal(owner.ingest.key, undefined);
    assert.equal(owner.pull.passphrase, stream.pull.passphrase);
    const staff = (await api(`/${stream.id}`, editor)).json;
    assert.equal(staff.pull.passphrase, stream.pull.passphrase);
    const viewer = await curlJson(`${server.base}/api/v1/live/${stream.id}`);
    assert.equal(viewer.status, 200, 'an unlisted stream is watchable by its link');
    assert.equal(viewer.json.pull, undefined);
    assert.equal(viewer.json.ingest, undefined);
    const listed = await curlJson(`${server.base}/api/v1/live`);
    assert.ok(!listed.json.items.some((s) => s.id === stream.id), 'an unlisted stream is not listed to the public');
    assert.ok((await api('', reporter)).json.items.some((s) => s.id === stream.id), 'its owner lists it');
    // A draft of someone else's is not even there for another reporter.
    const other = await makeAccount(dataDir, 'hoa', 'reporter');
    const draft = (await api('', editor, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '--data-binary', JSON.stringify({ title: 'nháp' })])).json;
    assert.equal((await api(`/${draft.id}`, other)).status, 404);
    assert.equal((await curl(`${server.base}/live/${draft.id}/master.m3u8`)).status, 404);
    assert.equal((await api(`/${draft.id}`, editor, ['-X', 'DELETE'])).status, 204);
    // Keys never reach the log.
    assert.ok(!server.log.join('').includes(key), 'the key is not logged');
  });

  test('a wrong key is refused when the encoder connects, and says why in the log', async () => {
    const wrong = ffmpegPublisher(`srt://127.0.0.1:${stream.ingest.port}?streamid=#!::r=${stream.id},m=publish,s=notthekeynotthekey`);
    const { code, stderr } = await wrong.exited;
    assert.notEqual(code, 0);
    assert.match(stderr, /reject/i, stderr);
    await waitFor(() => /srt: refused .* 403 forbidden: no stream has this key/.test(server.log.join('')), 'the refusal logged');
    assert.equal((await getStream()).state, 'idle');
  });

  test('every stream id form is taken: access control (ffmpeg), the bare key (ffmpeg), live/<key> (GStreamer)', async () => {
    const port = stream.ingest.port;
    const forms = [
      ['access control', () => ffmpegPublisher(stream.ingest.url)],
      ['bare key', () => ffmpegPublisher(`srt://127.0.0.1:${port}?streamid=${key}`)],
      ['live/<key> from GStreamer', () => gstPublisher(port, `live/${key}`)],
    ];
    for (const [form, start] of forms) {
      const publisher = start();
      try {
        await waitFor(async () => {
          const s = await getStream();
          return s.state === 'live' && s.ingest_stats && s.ingest_stats.bytes_received > 0;
        }, `live with the ${form} form`, 30_000);
      } finally {
        await publisher.stop();
      }
      await waitState('reconnecting', `reconnecting after the ${form} publisher left`);
    }
  });

  test('the live playlists appear and slide, every rung cut at the same instants; ffmpeg plays it', async () => {
    const publisher = ffmpegPublisher(stream.ingest.url);
    try {
      await waitState('live');
      await waitFor(async () => (await curl(`${server.base}/live/${stream.id}/240p/index.m3u8`)).status === 200, 'the playlists', 60_000);
      const master = await playlist('master.m3u8');
      const rungs = lines(master).filter((l) => !l.startsWith('#')).map((l) => l.split('/')[0]);
      assert.deepEqual(rungs, ['360p', '240p'], master);
      const master_answer = await curl(`${server.base}/live/${stream.id}/master.m3u8`);
      assert.match(master_answer.headers['cache-control'], /max-age=[0-2]\b/, 'a short life for playlists');
      // It slides: the first listed segment moves on while the window stays about 6 s.
      const first = mediaSequence(await playlist('360p/index.m3u8'));
      await waitFor(async () => mediaSequence(await playlist('360p/index.m3u8')) >= first + 3, 'the window to slide', 60_000);
      const text = await playlist('360p/index.m3u8');
      assert.ok(segmentsOf(text).length >= 3 && segmentsOf(text).length <= 8, text);
      // The same segment numbers in both rungs start at the same time.
      const last = Math.min(await lastSequence('360p'), await lastSequence('240p'));
      for (const seq of [last - 1, last]) {
        const starts = [];
        for (const rung of rungs) {
          const file = path.join(dataDir, 'live', stream.id, rung, `seg_${String(seq).padStart(5, '0')}.ts`);
          const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-select_streams', 'v:0',
            '-show_entries', 'stream=start_time', '-of', 'csv=p=0', file]);
          starts.push(Number(lines(stdout)[0]));  // a program's streams are listed too
        }
        assert.ok(Math.abs(starts[0] - starts[1]) < 0.001, `segment ${seq} starts at ${starts}`);
      }
      const segment = await curl(`${server.base}/live/${stream.id}/360p/${segmentsOf(text)[0]}`);
      assert.equal(segment.status, 200);
      assert.match(segment.headers['cache-control'], /max-age=\d{3,}/, 'segments live long in caches');
      // ffmpeg, as a player, reads the live stream without an error.
      const { stderr } = await execFileP('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i',
        `${server.base}/live/${stream.id}/master.m3u8`, '-map', '0:v:0', '-t', '4', '-f', 'null', '-'],
      { timeout: 60_000 });
      assert.equal(stderr.trim(), '', stderr);
      // The API shows the publisher's SRT figures, the worker's, and this viewer.
      const s = await getStream();
      assert.ok(s.ingest_stats.bitrate_bps > 0 && s.ingest_stats.packets_received > 0, JSON.stringify(s.ingest_stats));
      assert.ok(s.worker && s.worker.segments > 0, JSON.stringify(s.worker));
      assert.ok(s.viewers >= 1, `viewers: ${s.viewers}`);
      const metrics = (await curl(`${server.base}/metrics`)).body.toString();
      assert.match(metrics, /newsreel_live_streams_on_air 1\b/);
      assert.match(metrics, /newsreel_live_bytes_received_total [1-9]/);

      // A broadcaster pulls the source with the passphrase; without it, it is refused.
      const pulled = path.join(dataDir, 'pulled.ts');
      await execFileP('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', stream.pull.url,
        '-t', '3', '-c', 'copy', pulled], { timeout: 60_000 });
      const { stdout: probed } = await execFileP('ffprobe', ['-v', 'error', '-show_entries',
        'stream=codec_name', '-of', 'csv=p=0', pulled]);
      assert.match(probed, /h264/);
      const without = stream.pull.url.replace(/&passphrase=.*/, '');
      await assert.rejects(execFileP('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', without,
        '-t', '1', '-c', 'copy', path.join(dataDir, 'refused.ts')], { timeout: 30_000 }));

      // The live worker killed: the supervisor starts another, which continues the playlists
      // after a discontinuity, while the publisher stays connected.
      const { stdout: pids } = await execFileP('pgrep', ['-f', `live ${path.join(dataDir, 'live', stream.id)}`]);
      const before = await lastSequence('360p');
      for (const pid of lines(pids)) process.kill(Number(pid), 'SIGKILL');
      await waitFor(async () => await lastSequence('360p') >= before + 3, 'segments again after the kill', 60_000);
      assert.match(await playlist('360p/index.m3u8'), /#EXT-X-DISCONTINUITY\n/);
      assert.equal((await getStream()).state, 'live');
    } finally {
      await publisher.stop();
    }
  });

  test('a dropped publisher: reconnecting with a slate, then live again after a discontinuity; a second encoder is refused, or replaces the first when asked', async () => {
    await waitState('reconnecting');
    const event = await events.next((e) => e.type === 'live.state' && e.data.id === stream.id && e.data.state === 'reconnecting', 'the reconnecting event');
    assert.ok(event.data.since_ms > 0);
    // The slate keeps the playlists going.
    const before = await lastSequence('360p');
    await waitFor(async () => await lastSequence('360p') >= before + 2, 'slate segments', 60_000);
    const publisher = ffmpegPublisher(stream.ingest.url);
    try {
      await waitState('live');
      const back = await lastSequence('360p');
      await waitFor(async () => await lastSequence('360p') >= back + 2, 'segments after the return', 60_000);
      const text = await playlist('360p/index.m3u8');
      assert.match(text, /#EXT-X-DISCONTINUITY\n/);
      assert.match(text, /#EXT-X-DISCONTINUITY-SEQUENCE:\d+/);
      // Sequence numbers never go back.
      assert.ok(mediaSequence(text) + segmentsOf(text).length - 1 >= back + 2);

      // A second encoder on the same key is refused while the first is on air...
      const second = ffmpegPublisher(stream.ingest.url);
      const refused = await second.exited;
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /reject/i);
      assert.equal(publisher.proc.exitCode, null, 'the first encoder stays on air');
      await waitFor(() => /srt: refused .* 409/.test(server.log.join('')), 'the 409 logged');
      // ...unless the owner asks for the newcomer to take over (a reporter's new phone).
      const patched = await api(`/${stream.id}`, reporter, ['-X', 'PATCH', '-H', 'Content-Type: application/json',
        '--data-binary', JSON.stringify({ replace_publisher: true })]);
      assert.equal(patched.status, 200, patched.body.toString());
      const third = ffmpegPublisher(stream.ingest.url);
      try {
        const first = await publisher.exited;  // the server closed the first one
        assert.notEqual(first.code, null);
        await waitFor(async () => (await getStream()).state === 'live' && third.proc.exitCode === null,
          'the newcomer on air', 30_000);
      } finally {
        await third.stop();
      }
    } finally {
      await publisher.stop();
    }
  });

  test('a server restart during a broadcast: the stream waits for its publisher and goes on', async () => {
    const publisher = ffmpegPublisher(stream.ingest.url);
    let restarted;
    try {
      await waitState('live');
      const before = await lastSequence('360p');
      await server.stop();
      earlierLogs.push(server.log.join(''));
      await publisher.exited;  // the encoder lost its server
      server = await startServer({ dataDir, token: server.token, extraArgs: [...LIVE_ARGS, '--srt-port', String(stream.ingest.port)] });
      await waitState('reconnecting', 'reconnecting after the restart');
      restarted = ffmpegPublisher(stream.ingest.url);
      await waitState('live', 'live again after the restart');
      await waitFor(async () => await lastSequence('360p') >= before + 3, 'the playlists go on', 60_000);
    } finally {
      await publisher.stop();
      await restarted?.stop();
    }
  });

  test('ending the stream closes the playlists and its recording becomes a video that plays', async () => {
    const ended = await api(`/${stream.id}/end`, reporter, ['-X', 'POST']);
    assert.equal(ended.status, 202);
    await waitState('ended');
    assert.match(await playlist('360p/index.m3u8'), /#EXT-X-ENDLIST/);
    const s = await getStream();
    assert.match(s.recording_video_id || '', /^[a-z0-9]+$/, JSON.stringify(s));
    // After all of it, neither secret ever reached the log.
    const log = earlierLogs.join('') + server.log.join('');
    assert.ok(!log.includes(key) && !log.includes(stream.pull.passphrase), 'no key or passphrase in the log');
    // A draft of the stream's owner: theirs to see, nobody else's (but staff).
    const video = await curlJson(`${server.base}/api/v1/videos/${s.recording_video_id}`, as(reporter));
    assert.equal(video.status, 200);
    assert.equal(video.json.visibility, 'draft');
    const stranger = await makeAccount(dataDir, 'tuan', 'reporter');
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${s.recording_video_id}`, as(stranger))).status, 404);
    await waitFor(async () => {
      const v = (await curlJson(`${server.base}/api/v1/videos/${s.recording_video_id}`, as(reporter))).json;
      if (v.status === 'failed') throw new Error(`the recording failed: ${v.failure_reason}`);
      return v.status === 'ready';
    }, 'the recording to be transcoded', 240_000);
    const ready = (await curlJson(`${server.base}/api/v1/videos/${s.recording_video_id}`, as(reporter))).json;
    assert.ok(ready.duration_seconds > 5, `duration ${ready.duration_seconds}`);
    const master = path.join(dataDir, 'media', s.recording_video_id, 'master.m3u8');
    const { stderr } = await execFileP('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', master,
      '-map', '0:v:0', '-f', 'null', '-'], { timeout: 120_000 });
    assert.equal(stderr.trim(), '', stderr);
  });
});
