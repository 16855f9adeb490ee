#!/usr/bin/env node
// Prints, NUL-separated, the arguments of the ffmpeg command a user would write to make the same
// HLS ladder that newsreel made, read from newsreel's manifest.json:
//   decode once, split, fps + scale per rung, libx264 -preset veryfast High profile with the same
//   bitrate / maxrate / bufsize per rung, a fixed 2 s GOP without scene-cut keyframes, AAC stereo
//   at newsreel's audio bitrate muxed into every rung plus an audio-only rendition, 6 s VOD segments.
//
//   node ffmpeg_ladder_args.mjs MANIFEST.json SOURCE OUTDIR HAS_AUDIO(0|1)
//
// manifest.json fields used: rungs[].name, width, height, bitrate, max_bitrate, buffer_size,
// frame_rate (bits/s and frames/s) and audio_bitrate.

import fs from 'node:fs';
import path from 'node:path';

const [manifestFile, source, outdir, hasAudioArg] = process.argv.slice(2);
if (!outdir) {
  process.stderr.write('usage: ffmpeg_ladder_args.mjs MANIFEST.json SOURCE OUTDIR HAS_AUDIO\n');
  process.exit(2);
}
const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
const rungs = manifest.rungs;
const hasAudio = hasAudioArg === '1';
const audioBitrate = manifest.audio_bitrate || 128000;
const GOP_SECONDS = manifest.gop_seconds || 2;
const SEGMENT_SECONDS = manifest.segment_seconds || 6;

const args = ['-nostdin', '-v', 'error', '-y', '-i', source];
const split = `[0:v:0]split=${rungs.length}${rungs.map((_, i) => `[s${i}]`).join('')}`;
const branches = rungs.map((r, i) => `[s${i}]fps=${r.frame_rate},scale=${r.width}:${r.height},setsar=1[v${i}]`);
args.push('-filter_complex', [split, ...branches].join(';'));
const streamMap = [];
rungs.forEach((r, i) => {
  args.push('-map', `[v${i}]`);
  if (hasAudio) args.push('-map', '0:a:0');
  streamMap.push(`v:${i}${hasAudio ? `,a:${i}` : ''},name:${r.name}`);
});
if (hasAudio) {
  args.push('-map', '0:a:0');
  streamMap.push(`a:${rungs.length},name:audio`);
}
args.push('-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-sc_threshold', '0');
rungs.forEach((r, i) => {
  const gop = Math.round(GOP_SECONDS * r.frame_rate);
  args.push(`-b:v:${i}`, `${r.bitrate}`, `-maxrate:v:${i}`, `${r.max_bitrate}`, `-bufsize:v:${i}`, `${r.buffer_size}`,
    `-g:v:${i}`, `${gop}`, `-keyint_min:v:${i}`, `${gop}`);
});
if (hasAudio) args.push('-c:a', 'aac', '-b:a', `${audioBitrate}`, '-ac', '2');
args.push('-f', 'hls', '-hls_time', `${SEGMENT_SECONDS}`, '-hls_playlist_type', 'vod', '-start_number', '1',
  '-hls_segment_filename', path.join(outdir, '%v', 'seg_%05d.ts'), '-master_pl_name', 'master.m3u8',
  '-var_stream_map', streamMap.join(' '), path.join(outdir, '%v', 'index.m3u8'));
process.stdout.write(args.join('\0') + '\0');
