// Progressive publishing (docs/transcoding.md): a video is playable while its transcode runs.
//
//   * A 60 s 1080p clip (made here with ffmpeg: testsrc2 + a sine tone) is uploaded through tus
//     from Node's fetch. watch.html, opened at once, waits; /ws announces `video.playable` while
//     the video is still `processing`, and the page starts hls.js on the growing (EVENT)
//     playlists. The test plays from the start, through the end of what exists, on to the end
//     of the video (`ended`), with no hls.js error event, fatal or not, and no MediaError.
//   * The worker is killed (SIGKILL) once a 30 s clip is playable: the published master playlist
//     and every segment its media playlists list still fetch while the job waits and retries,
//     and the retried job completes, ready.
//
//   cd tests/e2e && NEWSREEL_BIN=../../build/app/newsreel node --test progressive.test.mjs
//
// Timeouts only bound waiting; nothing here asserts how fast anything is.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { WAIT_MS, startNewsroom } from './lib/newsroom.mjs';
import { makeTempDir, removeDir, runOk, waitFor } from './lib/tools.mjs';

const CLIP_SECONDS = 60;
// The kill needs a job still running once the video is playable, not a long one: a clip half
// as long spares the suite a minute of 1080p transcoding (the first segments are one GOP).
const KILL_CLIP_SECONDS = 30;
// Transcoding 60 s of 1080p on two cores shared with Chromium, then playing it: generous.
const LONG_WAIT_MS = Math.max(WAIT_MS, 600_000);

async function makeClip(dir, seconds = CLIP_SECONDS) {
  const file = path.join(dir, `clip1080-${seconds}s.mp4`);
  await runOk('ffmpeg', ['-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=30:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', file],
  { timeoutMs: 300_000 });
  return file;
}

const meta = (v) => Buffer.from(v, 'utf8').toString('base64');

// Uploads `file` through tus 1.0 as `user` (its API token), in 16 MiB requests; resolves with
// the video id and the time the last byte was acknowledged.
async function tusUpload(room, user, file, title) {
  const size = fs.statSync(file).size;
  const auth = { Authorization: `Bearer ${room.tokens[user]}`, 'Tus-Resumable': '1.0.0' };
  const created = await fetch(`${room.base}/files/`, {
    method: 'POST',
    headers: { ...auth, 'Upload-Length': String(size), 'Upload-Metadata': `filename ${meta(path.basename(file))},title ${meta(title)}` },
  });
  assert.equal(created.status, 201, `tus create: ${await created.text()}`);
  const location = new URL(created.headers.get('location'), room.base);
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = 16 << 20;
    for (let offset = 0; offset < size;) {
      const n = Math.min(chunk, size - offset);
      const body = Buffer.alloc(n);
      fs.readSync(fd, body, 0, n, offset);
      const r = await fetch(location, {
        method: 'PATCH',
        headers: { ...auth, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
        body,
      });
      assert.equal(r.status, 204, `tus PATCH at ${offset}: ${await r.text()}`);
      offset = Number(r.headers.get('upload-offset'));
    }
  } finally {
    fs.closeSync(fd);
  }
  return { id: location.pathname.split('/').pop(), lastByteAt: Date.now() };
}

async function publish(room, id) {
  const r = await room.api('editor', `/api/v1/videos/${id}`, { method: 'PATCH', body: { visibility: 'published' } });
  assert.equal(r.status, 200, `publishing ${id}: ${JSON.stringify(r.body)}`);
}

async function waitUntilPlayable(room, id) {
  return waitFor(async () => {
    const v = await room.getVideo(id);
    if (v.status === 'failed') throw Object.assign(new Error(`video ${id} failed: ${v.failure_reason}`), { fatal: true });
    return v.playable ? v : null;
  }, `video ${id} to become playable`, LONG_WAIT_MS);
}

// The media playlists a master playlist names, and the segments each lists.
async function publishedFiles(base) {
  const master = await fetch(`${base}master.m3u8`);
  assert.equal(master.status, 200, 'the master playlist fetches');
  const playlists = (await master.text()).split('\n').filter((l) => l && !l.startsWith('#'));
  assert.ok(playlists.length >= 2, 'the master lists the rungs and the audio');
  const files = [];
  for (const p of playlists) {
    const r = await fetch(`${base}${p}`);
    assert.equal(r.status, 200, `${p} fetches`);
    const dir = p.slice(0, p.lastIndexOf('/') + 1);
    const segments = (await r.text()).split('\n').filter((l) => l && !l.startsWith('#'));
    assert.ok(segments.length >= 1, `${p} lists a segment`);
    for (const s of segments) files.push(`${dir}${s}`);
  }
  return files;
}

test('a viewer plays a video from the start while it transcodes, on to its end', { timeout: 1_500_000 }, async () => {
  const tmp = makeTempDir('progressive');
  const room = await startNewsroom({ users: [{ name: 'pv', role: 'reporter' }], prefix: 'progressive' });
  try {
    const clip = await makeClip(tmp);
    const { id, lastByteAt } = await tusUpload(room, 'pv', clip, 'Phát sóng dần');
    await publish(room, id);
    const { page, problems } = await room.openPage(`/watch.html?id=${id}`);
    const announced = new Promise((resolve) => page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      if (String(f.payload).includes('"video.playable"')) resolve(JSON.parse(String(f.payload)));
    })));

    // The page starts hls.js once /ws says the video is playable.
    await page.waitForFunction(() => window.newsreel?.hls?.levels?.length > 0, null, { timeout: LONG_WAIT_MS });
    const playableAt = Date.now();
    const event = await announced;
    assert.equal(event.data?.id ?? event.id, id, 'video.playable names the video');
    const during = await room.getVideo(id);
    assert.equal(during.status, 'processing', 'playback began while the video was processing');
    assert.equal(during.playable, true);
    assert.ok(during.playback?.master, 'a processing, playable video has playback URLs');
    const master = await fetch(`${room.base}${during.playback.master}`);
    assert.match(master.headers.get('cache-control') || '', /max-age=1\b/, 'a growing master is not cached for long');
    assert.doesNotMatch(await master.text(), /AVERAGE-BANDWIDTH/, 'no measured average while processing');

    // The page may hold this start until two GOPs are buffered (player.js), which interrupts
    // this play() call; it then plays by itself.
    await page.evaluate(() => { const v = document.getElementById('video'); v.muted = true; v.play().catch(() => {}); });
    // Still an EVENT playlist (no ENDLIST) after the first fragment is buffered.
    const startedLive = await page.evaluate(() => new Promise((resolve) => {
      const hls = window.newsreel.hls;
      const check = () => {
        const d = hls.levels[hls.currentLevel]?.details ?? hls.levels.find((l) => l.details)?.details;
        if (d) resolve({ type: d.type, live: d.live, end: d.edge ?? d.totalduration }); else setTimeout(check, 100);
      };
      check();
    }));
    console.log(`# last byte -> playable: ${((playableAt - lastByteAt) / 1000).toFixed(1)} s; first playlist ${JSON.stringify(startedLive)}`);
    assert.equal(startedLive.type, 'EVENT', 'hls.js started on a growing playlist');
    assert.ok(startedLive.end < CLIP_SECONDS - 1, `hls.js started before the whole video existed (${startedLive.end} s)`);

    await page.waitForFunction(() => document.getElementById('video').ended, null, { timeout: LONG_WAIT_MS, polling: 500 });
    const end = await page.evaluate(() => ({
      time: document.getElementById('video').currentTime,
      duration: document.getElementById('video').duration,
      error: document.getElementById('video').error?.message ?? null,
      errors: window.newsreel.errors,
    }));
    assert.deepEqual(end.errors, [], `hls.js raised no error event: ${JSON.stringify(end.errors)}`);
    assert.equal(end.error, null, 'no MediaError');
    assert.ok(end.time >= CLIP_SECONDS - 0.5, `played to the end (${end.time} of ${end.duration} s)`);
    assert.deepEqual(problems, [], 'the page recorded no errors');
    const ready = await room.waitUntilReady(id);
    assert.equal(ready.playable, true);
  } finally {
    await room.stop();
    removeDir(tmp);
  }
});

test('a worker killed mid-job leaves the published part playable, and the retry completes', { timeout: 1_500_000 }, async () => {
  const tmp = makeTempDir('progressive-kill');
  const room = await startNewsroom({ browser: false, serveArgs: ['--retry-backoff-ms', '3000'], users: [{ name: 'pv', role: 'reporter' }], prefix: 'progressive-kill' });
  try {
    const clip = await makeClip(tmp, KILL_CLIP_SECONDS);
    const { id } = await tusUpload(room, 'pv', clip, 'Giữa chừng');
    await publish(room, id);
    const v = await waitUntilPlayable(room, id);
    assert.equal(v.status, 'processing');
    const pid = v.latest_job?.worker_pid;
    assert.ok(Number.isInteger(pid) && pid > 0, `the running job names its worker: ${JSON.stringify(v.latest_job)}`);
    const base = `${room.base}/media/${id}/`;
    const before = await publishedFiles(base);
    process.kill(pid, 'SIGKILL');

    // While the job waits for its retry and while the retry runs, the published part stays.
    await waitFor(async () => (await room.getVideo(id)).latest_job?.attempts >= 2, 'the retry to start', LONG_WAIT_MS);
    const after = await publishedFiles(base);
    for (const f of before) assert.ok(after.includes(f), `${f} is still listed during the retry`);
    for (const f of after) {
      const r = await fetch(`${base}${f}`);
      assert.equal(r.status, 200, `${f} fetches during the retry`);
      const bytes = Buffer.from(await r.arrayBuffer());
      assert.ok(bytes.length >= 188 && bytes[0] === 0x47, `${f} is MPEG-TS`);
    }
    const during = await room.getVideo(id);
    assert.equal(during.playable, true, 'still playable while the retry runs');

    const ready = await room.waitUntilReady(id);
    assert.equal(ready.latest_job.attempts, 2, 'the second attempt completed');
    const final = await fetch(`${base}master.m3u8`);
    assert.match(await final.text(), /AVERAGE-BANDWIDTH/, 'the finished master carries measured figures');
    for (const f of await publishedFiles(base)) {
      const r = await fetch(`${base}${f}`, { method: 'HEAD' });
      assert.equal(r.status, 200, `${f} of the finished output fetches`);
    }
  } catch (e) {
    throw new Error(`${e.message}\nserver log:\n${room.logTail(4000)}`);
  } finally {
    await room.stop();
    removeDir(tmp);
  }
});
