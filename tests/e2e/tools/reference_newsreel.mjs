#!/usr/bin/env node
// A stand-in for `newsreel probe|transcode` made of ffmpeg commands, used to develop and
// self-check the end-to-end harness: the conformance and playback tests are expected to pass
// against this reference, so a failure against the real binary points at the binary, not at
// the tests. It follows the output contract (layout, playlists, manifest.json fields), not
// newsreel's internals, and is not meant to be fast or clever.
//
//   NEWSREEL_BIN=tests/e2e/tools/reference_newsreel.mjs node --test tests/e2e/
//
//   reference_newsreel.mjs probe FILE
//   reference_newsreel.mjs transcode INPUT OUTDIR [--ladder 1080,720,...] [--progress json] [--encoder auto|x264]

import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describeSource, ffprobeJson, firstH264AccessUnit, run, runOk } from '../lib/tools.mjs';
import { avc1CodecString } from '../lib/hls.mjs';

const SEGMENT_SECONDS = 6;
const GOP_SECONDS = 2;
const AUDIO_BITRATE = 64_000;
// Video targets per rung height (bits/s): maxrate = 1.1x, bufsize = 2x.
const VIDEO_BITRATE = { 2160: 12_000_000, 1440: 8_000_000, 1080: 5_000_000, 720: 2_800_000, 480: 1_200_000, 360: 700_000, 240: 300_000, 144: 80_000 };

function fail(message) {
  process.stderr.write(`newsreel: ${message.replace(/\s+/g, ' ').trim()}\n`);
  process.exit(1);
}

const even = (x) => Math.max(2, 2 * Math.round(x / 2));

function planLadder(source, heights) {
  const { displayWidth, displayHeight } = source.video;
  const portrait = displayHeight > displayWidth;
  const shortSide = Math.min(displayWidth, displayHeight);
  let fitting = heights.filter((h) => h <= shortSide);
  if (fitting.length === 0) fitting = [even(shortSide)];
  const frameRate = Math.min(60, Math.round(source.video.frameRate * 1000) / 1000 || 30);
  return fitting.map((h) => {
    const ratio = displayWidth / displayHeight;
    const width = portrait ? h : even(h * ratio);
    const height = portrait ? even(h / ratio) : h;
    const bitrate = VIDEO_BITRATE[h] ?? Math.round(2.5 * width * height * frameRate / 30);
    return { name: `${h}p`, width, height, bitrate, max_bitrate: Math.round(bitrate * 1.1), buffer_size: bitrate * 2, frame_rate: frameRate };
  });
}

// Runs ffmpeg, turning its -progress output into newsreel-style JSON lines when asked.
function ffmpegWithProgress(args, duration, progress) {
  return new Promise((resolve) => {
    const child = spawn('ffmpeg', ['-nostdin', '-v', 'warning', '-progress', 'pipe:1', '-nostats', ...args]);
    let stderr = '';
    let buffered = '';
    let state = {};
    child.stderr.on('data', (d) => { stderr += d; });
    child.stdout.on('data', (d) => {
      buffered += d;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [key, value] = buffered.slice(0, nl).trim().split('=');
        buffered = buffered.slice(nl + 1);
        state[key] = value;
        if (key === 'progress' && progress) {
          const seconds = Number(state.out_time_us) / 1e6;
          const percent = Math.min(99, Math.max(0, (100 * seconds) / duration)) || 0;
          const speed = parseFloat(state.speed) || 0;
          const eta = speed > 0 ? Math.max(0, (duration - seconds) / speed) : 0;
          process.stdout.write(JSON.stringify({ percent: Number(percent.toFixed(1)), fps: Number(state.fps) || 0, speed, eta_seconds: Number(eta.toFixed(1)) }) + '\n');
        }
      }
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

// Byte offsets of the transport-stream packets that start a video keyframe's PES, per segment.
async function keyframeRanges(segmentFile) {
  const info = await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'packet=pos,flags,pts_time', segmentFile]);
  const size = fs.statSync(segmentFile).size;
  const packets = info.packets.map((p) => ({ pos: Number(p.pos), key: p.flags.includes('K') }));
  const ranges = [];
  packets.forEach((p, i) => {
    if (!p.key) return;
    const end = i + 1 < packets.length ? packets[i + 1].pos : size;
    const offset = ranges.length === 0 && i === 0 ? 0 : p.pos; // keep PAT/PMT with the segment's first I-frame
    ranges.push({ offset, length: end - offset });
  });
  return ranges;
}

async function transcode(input, outdir, options) {
  let source;
  try {
    source = await describeSource(input);
  } catch {
    fail(`${input}: not a media file that can be read`);
  }
  if (!source.video && !source.audio) fail(`${input}: no audio or video stream`);
  if (!Number.isFinite(source.duration) || source.duration <= 0) fail(`${input}: unknown duration`);
  fs.mkdirSync(outdir, { recursive: true });
  const rungs = source.video ? planLadder(source, options.ladder) : [];
  const streams = [];
  const args = ['-y', '-i', input];
  const filters = [];
  if (source.video) {
    const fr = rungs[0].frame_rate;
    filters.push(`[0:v:0]bwdif=deint=interlaced,fps=${fr},format=yuv420p,split=${rungs.length}${rungs.map((_, i) => `[s${i}]`).join('')}`);
    rungs.forEach((r, i) => filters.push(`[s${i}]scale=${r.width}:${r.height},setsar=1[v${i}]`));
    args.push('-filter_complex', filters.join(';'));
    rungs.forEach((r, i) => {
      args.push('-map', `[v${i}]`);
      if (source.audio) args.push('-map', '0:a:0');
      streams.push(`v:${i}${source.audio ? `,a:${i}` : ''},name:${r.name}`);
    });
    rungs.forEach((r, i) => args.push(`-b:v:${i}`, `${r.bitrate}`, `-maxrate:v:${i}`, `${r.max_bitrate}`, `-bufsize:v:${i}`, `${r.buffer_size}`));
    const gop = Math.round(GOP_SECONDS * rungs[0].frame_rate);
    args.push('-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
      '-g', `${gop}`, '-keyint_min', `${gop}`, '-sc_threshold', '0', '-force_key_frames', `expr:gte(t,n_forced*${GOP_SECONDS})`);
  }
  if (source.audio) {
    args.push('-map', '0:a:0');
    streams.push(`a:${rungs.length},name:audio`);
    args.push('-c:a', 'aac', '-b:a', `${AUDIO_BITRATE}`, '-ac', '2', '-ar', '48000');
  }
  args.push('-f', 'hls', '-hls_time', `${SEGMENT_SECONDS}`, '-hls_playlist_type', 'vod', '-start_number', '1',
    '-hls_segment_filename', path.join(outdir, '%v', 'seg_%05d.ts'), '-var_stream_map', streams.join(' '),
    path.join(outdir, '%v', 'index.m3u8'));
  const result = await ffmpegWithProgress(args, source.duration, options.progress);
  if (result.code !== 0) fail(`${input}: ${result.stderr.trim().split('\n').pop() || 'transcode failed'}`);

  // Measure what was written: peak and average bitrate per rendition, codecs from the stream.
  const names = [...rungs.map((r) => r.name), ...(source.audio ? ['audio'] : [])];
  const measured = {};
  for (const name of names) {
    const text = fs.readFileSync(path.join(outdir, name, 'index.m3u8'), 'utf8');
    const segs = [...text.matchAll(/#EXTINF:([\d.]+),\s*\n(\S+)/g)].map((m) => ({ duration: Number(m[1]), file: path.join(outdir, name, m[2]) }));
    let peak = 0, bytes = 0, seconds = 0;
    for (const s of segs) {
      const size = fs.statSync(s.file).size;
      peak = Math.max(peak, (size * 8) / s.duration);
      bytes += size;
      seconds += s.duration;
    }
    measured[name] = { peak: Math.ceil(peak), average: Math.ceil((bytes * 8) / seconds), segs, bytes };
    if (name !== 'audio') {
      const au = await firstH264AccessUnit(segs[0].file);
      measured[name].codecs = `${avc1CodecString(au.sps)}${source.audio ? ',mp4a.40.2' : ''}`;
      // I-frame playlist with byte ranges into the rung's segments.
      const lines = ['#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-TARGETDURATION:' + GOP_SECONDS, '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-I-FRAMES-ONLY'];
      let iframeBytes = 0, iframeCount = 0;
      for (const s of segs) {
        const ranges = await keyframeRanges(s.file);
        const each = s.duration / ranges.length;
        for (const r of ranges) {
          lines.push(`#EXTINF:${each.toFixed(5)},`, `#EXT-X-BYTERANGE:${r.length}@${r.offset}`, path.basename(s.file));
          iframeBytes = Math.max(iframeBytes, r.length);
          iframeCount++;
        }
      }
      lines.push('#EXT-X-ENDLIST');
      fs.writeFileSync(path.join(outdir, name, 'iframes.m3u8'), lines.join('\n') + '\n');
      measured[name].iframeBandwidth = Math.ceil((iframeBytes * 8) / GOP_SECONDS);
    }
  }

  if (source.video) {
    const posterAt = Math.min(1, source.duration / 2);
    await runOk('ffmpeg', ['-v', 'error', '-y', '-ss', `${posterAt}`, '-i', input, '-frames:v', '1', '-q:v', '3', path.join(outdir, 'poster.jpg')]);
    const interval = Math.max(1, Math.ceil(source.duration / 50));
    const count = Math.max(1, Math.ceil(source.duration / interval));
    const columns = Math.min(5, count), rows = Math.ceil(count / columns);
    const thumbW = 160, thumbH = even(160 * source.video.displayHeight / source.video.displayWidth);
    await runOk('ffmpeg', ['-v', 'error', '-y', '-i', input, '-vf', `fps=1/${interval},scale=${thumbW}:${thumbH},tile=${columns}x${rows}`, '-frames:v', '1', '-q:v', '4', path.join(outdir, 'storyboard.jpg')]);
    const ts = (t) => new Date(t * 1000).toISOString().slice(11, 23);
    const vtt = ['WEBVTT', ''];
    for (let i = 0; i < count; i++) {
      const x = (i % columns) * thumbW, y = Math.floor(i / columns) * thumbH;
      vtt.push(`${ts(i * interval)} --> ${ts(Math.min(source.duration, (i + 1) * interval))}`, `storyboard.jpg#xywh=${x},${y},${thumbW},${thumbH}`, '');
    }
    fs.writeFileSync(path.join(outdir, 'storyboard.vtt'), vtt.join('\n'));
  }

  const master = ['#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const r of rungs) {
    const m = measured[r.name];
    master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${m.peak},AVERAGE-BANDWIDTH=${m.average},CODECS="${m.codecs}",RESOLUTION=${r.width}x${r.height},FRAME-RATE=${r.frame_rate.toFixed(3)}`, `${r.name}/index.m3u8`);
  }
  if (source.audio) {
    const m = measured.audio;
    master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${m.peak},AVERAGE-BANDWIDTH=${m.average},CODECS="mp4a.40.2"`, 'audio/index.m3u8');
  }
  for (const r of rungs) {
    const m = measured[r.name];
    master.push(`#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=${m.iframeBandwidth},CODECS="${m.codecs.split(',')[0]}",RESOLUTION=${r.width}x${r.height},URI="${r.name}/iframes.m3u8"`);
  }
  const manifest = {
    duration: source.duration,
    encoder: 'x264 (ffmpeg reference)',
    audio_bitrate: source.audio ? AUDIO_BITRATE : null,
    rungs: rungs.map((r) => ({ ...r, bytes: measured[r.name].bytes, peak_bandwidth: measured[r.name].peak })),
  };
  // Publish atomically: the two files that say "complete" appear last, by rename.
  for (const [name, body] of [['manifest.json', JSON.stringify(manifest, null, 2)], ['master.m3u8', master.join('\n') + '\n']]) {
    fs.writeFileSync(path.join(outdir, `.${name}.tmp`), body);
    fs.renameSync(path.join(outdir, `.${name}.tmp`), path.join(outdir, name));
  }
  if (options.progress) process.stdout.write(JSON.stringify({ percent: 100, fps: 0, speed: 0, eta_seconds: 0 }) + '\n');
  // Damaged input that still produced output: say so, on one line.
  const warnings = result.stderr.trim().split('\n').filter(Boolean);
  if (warnings.length) process.stderr.write(`newsreel: warning: ${input}: ${warnings.length} decoder warnings, first: ${warnings[0]}\n`);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'probe' && rest.length === 1) {
  const result = await run('ffprobe', ['-v', 'error', '-of', 'json', '-show_format', '-show_streams', rest[0]]);
  const info = result.code === 0 ? JSON.parse(result.stdout) : null;
  if (!info || !info.streams || info.streams.length === 0) fail(`${rest[0]}: not a media file that can be read`);
  process.stdout.write(JSON.stringify(info) + '\n');
} else if (command === 'transcode' && rest.length >= 2) {
  const [input, outdir, ...flags] = rest;
  const options = { ladder: [1080, 720, 480, 360, 144], progress: false };
  for (let i = 0; i < flags.length; i += 2) {
    if (flags[i] === '--ladder') options.ladder = flags[i + 1].split(',').map(Number).sort((a, b) => b - a);
    else if (flags[i] === '--progress') options.progress = flags[i + 1] === 'json';
    else if (flags[i] !== '--encoder') fail(`unknown option ${flags[i]}`);
  }
  await transcode(input, outdir, options);
} else {
  fail('usage: reference_newsreel.mjs probe FILE | transcode INPUT OUTDIR [--ladder H,...] [--progress json]');
}
