// The job supervisor end to end: workers that are SIGKILLed, that hang, that fail, jobs that are
// cancelled and retried, and a server that shuts down mid-job — while the server keeps serving.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MEDIA, curl, curlJson, eventClient, importFile, processState, startServer, tempDataDir, waitFor,
} from './lib/server.mjs';

const SHORT = path.join(MEDIA, 'videotestdata_1-video-streamable.mp4');
const LONGER = path.join(MEDIA, 'moviepy_chaplin.mp4');

describe('newsreel serve: job supervision', () => {
  let server, events, dataDir, readyId;

  before(async () => {
    dataDir = tempDataDir('jobs');
    server = await startServer({ dataDir, extraArgs: ['--workers', '1', '--worker-stall-timeout', '4', '--shutdown-grace', '0'] });
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
    // One ready video to keep serving while workers misbehave.
    readyId = (await importFile(dataDir, SHORT)).video_id;
    await events.next((e) => e.type === 'video.ready' && e.data.id === readyId, 'first video ready');
  });

  after(async () => {
    events?.close();
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const stillServing = async () => {
    const r = await curl(`${server.base}/media/${readyId}/master.m3u8`);
    assert.equal(r.status, 200, 'the server keeps serving');
  };

  test('a worker killed with SIGKILL mid-job is retried and the video becomes ready', async () => {
    const { video_id: id, job_id: jobId } = await importFile(dataDir, LONGER);
    const started = await events.next((e) => e.type === 'job.started' && e.data.job_id === jobId, 'job.started');
    const pid = started.data.worker_pid;
    await events.next((e) => e.type === 'job.progress' && e.data.job_id === jobId && e.data.percent > 0 && e.data.percent < 100, 'progress');
    process.kill(pid, 'SIGSTOP');  // freeze it first so that it cannot finish before the kill
    const state = await waitFor(() => { const st = processState(pid); return st !== 'R' && st !== 'S' && st !== 'D' ? String(st) : null; },
      'the worker to stop', 10_000, 20);
    assert.equal(state, 'T', 'the worker was still running mid-job');
    await stillServing();
    process.kill(pid, 'SIGKILL');
    const failed = await events.next((e) => e.type === 'job.failed' && e.data.job_id === jobId, 'job.failed');
    assert.match(failed.data.error, /SIGKILL/);
    assert.equal(failed.data.state, 'queued', 'requeued for another attempt');
    const retry = await events.next((e) => e.type === 'job.started' && e.data.job_id === jobId && e.data.attempt === 2, 'second attempt');
    assert.notEqual(retry.data.worker_pid, pid);
    assert.equal(retry.data.encoder, 'x264', 'the retry uses the software encoder');
    await events.next((e) => e.type === 'video.ready' && e.data.id === id, 'video.ready after retry');
    const job = await curlJson(`${server.base}/api/v1/jobs/${jobId}`, server.auth);
    assert.equal(job.json.state, 'succeeded');
    assert.equal(job.json.attempts, 2);
    const video = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
    assert.equal(video.json.status, 'ready');
    assert.equal((await curl(`${server.base}/media/${id}/master.m3u8`)).status, 200);
    const metrics = (await curl(`${server.base}/metrics`)).body.toString();
    assert.match(metrics, /newsreel_worker_crashes_total [1-9]/);
    assert.equal(processState(pid), null, 'the killed worker was reaped');
  });

  test('a worker that stops reporting is ended and its job retried', async () => {
    const { video_id: id, job_id: jobId } = await importFile(dataDir, LONGER);
    const started = await events.next((e) => e.type === 'job.started' && e.data.job_id === jobId, 'job.started');
    const pid = started.data.worker_pid;
    await events.next((e) => e.type === 'job.progress' && e.data.job_id === jobId, 'progress');
    process.kill(pid, 'SIGSTOP');  // hangs: alive, silent
    await stillServing();
    const failed = await events.next((e) => e.type === 'job.failed' && e.data.job_id === jobId, 'job.failed (stall)', 60_000);
    assert.match(failed.data.error, /stopped reporting/);
    await waitFor(() => processState(pid) === null, 'the hung worker to be gone', 20_000);
    await stillServing();
    await events.next((e) => e.type === 'video.ready' && e.data.id === id, 'video.ready after the hang');
    const metrics = (await curl(`${server.base}/metrics`)).body.toString();
    assert.match(metrics, /newsreel_worker_timeouts_total [1-9]/);
  });

  test('a file that is not media fails with a readable reason', async () => {
    const bogus = path.join(dataDir, 'notes.mp4');
    fs.writeFileSync(bogus, 'this is not a video, just text pretending\n'.repeat(100));
    const { video_id: id, job_id: jobId } = await importFile(dataDir, bogus);
    const failed = await events.next((e) => e.type === 'video.failed' && e.data.id === id, 'video.failed');
    assert.ok(failed.data.reason.length > 10);
    assert.doesNotMatch(failed.data.reason, /^\s*$/);
    const video = await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth);
    assert.equal(video.json.status, 'failed');
    assert.equal(video.json.failure_reason, failed.data.reason);
    // The kind of failure, as a word the pages translate (the reason is the server's English).
    assert.equal(failed.data.code, 'bad_input');
    assert.equal(video.json.failure_code, 'bad_input');
    const job = await curlJson(`${server.base}/api/v1/jobs/${jobId}`, server.auth);
    assert.equal(job.json.state, 'failed');
    assert.ok(job.json.error);
    await stillServing();
  });

  test('cancel ends the worker; retry runs the job again', async () => {
    const { video_id: id, job_id: jobId } = await importFile(dataDir, LONGER);
    const started = await events.next((e) => e.type === 'job.started' && e.data.job_id === jobId, 'job.started');
    const pid = started.data.worker_pid;
    const c = await curlJson(`${server.base}/api/v1/jobs/${jobId}/cancel`, [...server.auth, '-X', 'POST']);
    assert.equal(c.status, 200);
    assert.equal(c.json.state, 'cancelled');
    await waitFor(() => processState(pid) === null, 'the cancelled worker to be gone', 20_000);
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth)).json.status, 'failed');
    const r = await curlJson(`${server.base}/api/v1/jobs/${jobId}/retry`, [...server.auth, '-X', 'POST']);
    assert.equal(r.status, 200);
    assert.equal(r.json.state, 'queued');
    await events.next((e) => e.type === 'video.ready' && e.data.id === id, 'video.ready after retry');
    const again = await curlJson(`${server.base}/api/v1/jobs/${jobId}/retry`, [...server.auth, '-X', 'POST']);
    assert.equal(again.status, 409, 'a succeeded job cannot be retried');
  });

  test('SIGTERM mid-job requeues the job; the next server finishes it', async () => {
    const { video_id: id, job_id: jobId } = await importFile(dataDir, LONGER);
    const started = await events.next((e) => e.type === 'job.started' && e.data.job_id === jobId, 'job.started');
    const exit = await server.stop('SIGTERM');
    assert.equal(exit.code, 0, server.log.join(''));
    assert.equal(processState(started.data.worker_pid), null, 'no worker outlives the server');
    assert.match(server.log.join(''), new RegExp(`job ${jobId} requeued`));
    events.close();
    server = await startServer({ dataDir, token: server.token, extraArgs: ['--workers', '1'] });
    events = eventClient(server.base, server.authHeaders);
    await events.hello;
    const job0 = await curlJson(`${server.base}/api/v1/jobs/${jobId}`, server.auth);
    assert.ok(['queued', 'running', 'succeeded'].includes(job0.json.state), job0.json.state);
    await waitFor(async () => (await curlJson(`${server.base}/api/v1/videos/${id}`, server.auth)).json.status === 'ready',
      'the requeued job to finish on the new server', 120_000, 300);
    const job = await curlJson(`${server.base}/api/v1/jobs/${jobId}`, server.auth);
    assert.equal(job.json.state, 'succeeded');
    assert.equal(job.json.attempts, 1, 'the interrupted attempt does not count');
  });
});

describe('newsreel serve: worker memory limit', () => {
  test('a worker over the memory limit is ended; after its attempts the video fails saying why', async () => {
    const dataDir = tempDataDir('mem');
    // 16 MB: any GStreamer worker exceeds it within its first progress report.
    const server = await startServer({ dataDir, extraArgs: ['--workers', '1', '--worker-memory-mb', '16'] });
    try {
      const events = eventClient(server.base, server.authHeaders);
      await events.hello;
      const { video_id: id, job_id: jobId } = await importFile(dataDir, SHORT);
      const failed = await events.next((e) => e.type === 'video.failed' && e.data.id === id, 'video.failed');
      assert.match(failed.data.reason, /memory/);
      assert.equal(failed.data.code, 'crashed');  // killed for its memory: a crash to the pages
      const job = await curlJson(`${server.base}/api/v1/jobs/${jobId}`, server.auth);
      assert.equal(job.json.state, 'failed');
      assert.equal(job.json.attempts, job.json.max_attempts, 'every attempt was used');
      const metrics = (await curl(`${server.base}/metrics`)).body.toString();
      assert.match(metrics, /newsreel_worker_memory_kills_total [1-9]/);
      assert.equal((await curl(`${server.base}/healthz`)).status, 200);
      events.close();
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
