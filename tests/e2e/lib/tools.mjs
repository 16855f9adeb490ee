// Shared helpers for the end-to-end tests: where things are, running processes with a
// deadline, and asking ffprobe/ffmpeg (Debian's, the independent verifiers) about media.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');

// The media folder beside the checkout (<repo>/../shared/media) unless NEWSREEL_MEDIA_DIR says otherwise.
export const MEDIA_DIR = path.resolve(process.env.NEWSREEL_MEDIA_DIR || path.join(REPO_ROOT, '..', 'shared', 'media'));

// The binary under test; CTest passes $<TARGET_FILE:newsreel>.
export const NEWSREEL_BIN = path.resolve(process.env.NEWSREEL_BIN || path.join(REPO_ROOT, 'build', 'app', 'newsreel'));

// Deadline for one `newsreel transcode` run: longer than any of the small test inputs needs,
// short enough that a hang is reported as a hang instead of stalling the suite.
export const TRANSCODE_TIMEOUT_MS = Number(process.env.NEWSREEL_E2E_TIMEOUT_MS || 120_000);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A TCP port that was free a moment ago on 127.0.0.1.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// Polls `fn` until it returns a truthy value; the timeout only bounds waiting, it asserts nothing.
export async function waitFor(fn, what, timeoutMs = 120_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

// Throws with a clear message when something the suite cannot run without is missing:
// the tests must fail loudly rather than skip.
export function requireFile(file, what) {
  if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file}`);
  return file;
}

// Creates a fresh temporary folder and returns its path; callers remove it with removeDir.
export function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `newsreel-e2e-${prefix}-`));
}

export function removeDir(dir) {
  if (dir && process.env.NEWSREEL_E2E_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
}

// Runs a program to completion (or until timeoutMs, then SIGKILLs it).
// Resolves to { code, signal, stdout, stderr, timedOut, wallMs }; stdout is a Buffer when
// options.binary is set, a string otherwise. Never rejects for a non-zero exit: callers assert.
export function run(program, args, { timeoutMs = 120_000, input = null, binary = false, cwd, env } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(program, args, { cwd, env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${program}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({
        code,
        signal: timedOut ? null : signal,
        timedOut,
        stdout: binary ? stdout : stdout.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        wallMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    child.stdin.on('error', () => {}); // the child may exit without reading its input
    child.stdin.end(input ?? undefined);
  });
}

// Like run(), but rejects unless the program exited 0; for the verifiers and generators.
export async function runOk(program, args, options) {
  const result = await run(program, args, options);
  if (result.code !== 0) {
    throw new Error(`${program} ${args.join(' ')} exited ${result.code ?? result.signal}: ${result.stderr.trim().slice(-2000)}`);
  }
  return result;
}

// ffprobe -of json with the given arguments; returns the parsed object.
export async function ffprobeJson(args, options = {}) {
  const result = await runOk('ffprobe', ['-v', 'error', '-of', 'json', ...args], options);
  return JSON.parse(result.stdout);
}

// Parses a rational like "30000/1001" into a number (NaN for 0/0 or missing).
export function rational(text) {
  if (!text) return NaN;
  const [num, den = '1'] = String(text).split(/[/:]/);
  return Number(num) / Number(den);
}

// Describes a media file the way the tests need it, from ffprobe:
//   { duration, video: {width, height, displayWidth, displayHeight, rotation, sar, ...} | null,
//     audio: {...} | null }
// displayWidth/displayHeight are the size a player shows: sample aspect ratio applied and
// width/height swapped for a ±90° display-matrix rotation. Cover art (attached pictures) does not count as video.
export async function describeSource(file) {
  const info = await ffprobeJson(['-show_format', '-show_streams', file]);
  const video = info.streams.find((s) => s.codec_type === 'video' && !(s.disposition && s.disposition.attached_pic));
  const audio = info.streams.find((s) => s.codec_type === 'audio');
  let videoInfo = null;
  if (video) {
    const rotationEntry = (video.side_data_list || []).find((d) => d.rotation !== undefined);
    const rotation = rotationEntry ? Number(rotationEntry.rotation) : Number(video.tags?.rotate ?? 0);
    const sar = rational(video.sample_aspect_ratio);
    const squareWidth = video.width * (Number.isFinite(sar) && sar > 0 ? sar : 1);
    const quarterTurn = Math.abs(rotation) % 180 === 90;
    videoInfo = {
      codec: video.codec_name,
      width: video.width,
      height: video.height,
      sar: Number.isFinite(sar) && sar > 0 ? sar : 1,
      rotation,
      displayWidth: quarterTurn ? video.height : squareWidth,
      displayHeight: quarterTurn ? squareWidth : video.height,
      frameRate: rational(video.avg_frame_rate) || rational(video.r_frame_rate),
      colorSpace: video.color_space && video.color_space !== 'unknown' ? video.color_space : null,
    };
  }
  // How long each stream really lasts, from its packets: the container's duration is the longest
  // stream's, and audio often outlasts video (or the other way round) by a few hundred ms.
  const spans = await streamSpans(file);
  if (videoInfo) videoInfo.duration = spans.get(video.index) ?? NaN;
  return {
    file,
    duration: Number(info.format.duration),
    video: videoInfo,
    audio: audio ? { codec: audio.codec_name, channels: audio.channels, sampleRate: Number(audio.sample_rate), duration: spans.get(audio.index) ?? NaN } : null,
  };
}

// Map stream index -> seconds from its earliest packet start to its latest packet end.
// Packets before 0 (encoder priming that an MP4 edit list cuts away) are not presented: they count
// from 0.
async function streamSpans(file) {
  const info = await ffprobeJson(['-show_entries', 'packet=stream_index,pts_time,duration_time', file]);
  const bounds = new Map();
  for (const p of info.packets || []) {
    const pts = Number(p.pts_time);
    if (!Number.isFinite(pts)) continue;
    const end = pts + (Number(p.duration_time) || 0);
    if (end <= 0) continue;
    const start = Math.max(0, pts);
    const b = bounds.get(p.stream_index) || { start, end };
    bounds.set(p.stream_index, { start: Math.min(b.start, start), end: Math.max(b.end, end) });
  }
  return new Map([...bounds].map(([index, b]) => [index, b.end - b.start]));
}

// Splits an H.264 Annex B byte stream into NAL units: [{type, bytes}] (bytes include the NAL header).
export function annexBNalUnits(buffer) {
  const starts = [];
  for (let i = 0; i + 2 < buffer.length; i++) {
    if (buffer[i] === 0 && buffer[i + 1] === 0 && buffer[i + 2] === 1) {
      starts.push(i + 3);
      i += 2;
    }
  }
  return starts.map((start, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : buffer.length;
    while (end > start && buffer[end - 1] === 0) end--; // trailing zero of a 4-byte start code
    const bytes = buffer.subarray(start, end);
    return { type: bytes[0] & 0x1f, bytes };
  });
}

// The first access unit of an H.264 stream in a transport-stream file (or bytes), in decode order,
// as NAL units; with `sps` = {profileIdc, constraintFlags, levelIdc} if the access unit carries one.
export async function firstH264AccessUnit(input) {
  const fromBytes = Buffer.isBuffer(input);
  const args = ['-v', 'error', ...(fromBytes ? ['-f', 'mpegts'] : []), '-i', fromBytes ? 'pipe:0' : input,
    '-map', '0:v:0', '-c', 'copy', '-frames:v', '1', '-f', 'h264', 'pipe:1'];
  const result = await runOk('ffmpeg', args, { binary: true, input: fromBytes ? input : null });
  const nals = annexBNalUnits(result.stdout);
  const spsNal = nals.find((n) => n.type === 7);
  const sps = spsNal ? { profileIdc: spsNal.bytes[1], constraintFlags: spsNal.bytes[2], levelIdc: spsNal.bytes[3] } : null;
  return { nals, types: nals.map((n) => n.type), sps };
}

export const NAL_IDR = 5;

// Byte-for-byte prefix of a file, for the truncated-input tests.
export function writePrefix(source, destination, fraction) {
  const bytes = fs.readFileSync(source);
  fs.writeFileSync(destination, bytes.subarray(0, Math.floor(bytes.length * fraction)));
}

// Loads playwright-core; a missing node_modules must fail the test, not skip it.
export async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in ${E2E_DIR}/node_modules (run \`npm ci\` there): ${e.message}`);
  }
}
