// Measures one progressive transcode for bench/progressive.sh: polls the video through the API
// (every 50 ms) from the moment its upload's last byte was acknowledged (`lastByteMs`, epoch ms),
// starts ffmpeg on the master playlist as soon as the video is playable and notes when it has
// decoded the first frame, samples the worker's CPU time and peak RSS from /proc, and prints
// the figures when the video is ready.
//
//   node bench/lib/progressive_watch.mjs BASE VIDEO_ID TOKEN LAST_BYTE_MS
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const [base, id, token, lastByteArg] = process.argv.slice(2);
const lastByteMs = Number(lastByteArg);
const ticks = 100;  // USER_HZ on Linux
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function video() {
  const r = await fetch(`${base}/api/v1/videos/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`GET video: ${r.status}`);
  return r.json();
}

// utime + stime (s) and VmHWM (kB) of a process, or null once it is gone.
function sample(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / ticks;
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpu, hwm };
  } catch {
    return null;
  }
}

function firstFrame(url) {
  return new Promise((resolve, reject) => {
    const ff = spawn('ffmpeg', ['-v', 'error', '-i', url, '-map', '0:v:0', '-frames:v', '1', '-f', 'null', '-']);
    let err = '';
    ff.stderr.on('data', (d) => { err += d; });
    ff.on('exit', (code) => (code === 0 ? resolve(Date.now()) : reject(new Error(`ffmpeg: ${err}`))));
  });
}

let playableMs = null, firstFrameMs = null, readyMs = null, frame = null;
let worker = null, workerStartMs = null, workerEndMs = null, last = null;
let statusAtPlayable = null;
for (;;) {
  const v = await video();
  const now = Date.now();
  if (v.status === 'failed') throw new Error(`transcode failed: ${v.failure_reason}`);
  const pid = v.latest_job?.worker_pid;
  if (pid && !worker) { worker = pid; workerStartMs = now; }
  if (worker) {
    const s = sample(worker);
    // A worker that has exited but is not yet reaped keeps its CPU time but no VmHWM.
    if (s) last = { cpu: s.cpu, hwm: Math.max(s.hwm, last?.hwm ?? 0) }; else if (!workerEndMs) workerEndMs = now;
  }
  if (v.playable && playableMs === null) {
    playableMs = now;
    statusAtPlayable = v.status;
    frame = firstFrame(`${base}${v.playback.master}`).then((t) => { firstFrameMs = t; });
  }
  if (v.status === 'ready') { readyMs = now; break; }
  await sleep(50);
}
await frame;
if (!workerEndMs) workerEndMs = readyMs;
const s = (ms) => ((ms - lastByteMs) / 1000).toFixed(2);
console.log(`video ${id}`);
console.log(`last byte -> playable     ${s(playableMs)} s   (status then: ${statusAtPlayable})`);
console.log(`last byte -> first frame  ${s(firstFrameMs)} s   (ffmpeg over HTTP from the master playlist)`);
console.log(`last byte -> ready        ${s(readyMs)} s`);
if (last) {
  console.log(`worker: wall ${((workerEndMs - workerStartMs) / 1000).toFixed(1)} s (from the first poll that saw it), ` +
    `CPU ${last.cpu.toFixed(1)} s, peak RSS ${(last.hwm / 1024).toFixed(0)} MB`);
}
