// Conformance of `newsreel transcode` output, checked end to end with independent verifiers
// (Debian's ffprobe and ffmpeg), against the contract in DESIGN.md ("HLS output") and Apple's
// HLS Authoring Specification:
//
//   * every file in the shared media folder, transcoded once with `--progress json`, then:
//     master playlist tags and attributes, every rung decodes, durations, picture format,
//     orientation, IDR at every segment start, fixed 2 s GOP, segment cuts identical across rungs,
//     CODECS from the stream, BANDWIDTH/AVERAGE-BANDWIDTH against measured bitrates, target
//     duration, the 192 kb/s bottom rung, I-frame playlists, poster/storyboard/manifest.json,
//     continuity at segment boundaries, and the progress lines;
//   * audio-only inputs: an audio-only HLS stream;
//   * bad inputs (empty, random bytes, truncated): a clear one-line failure, never a crash or a hang;
//   * inputs generated here with ffmpeg (1080i25, 10-bit HEVC, 4:4:4, 60 fps, odd size, clips ending
//     a few frames after a segment cut): the same checks, plus deinterlacing (idet) or frame
//     accuracy against the source (SSIM).
//
//   NEWSREEL_BIN=build/app/newsreel node --test tests/e2e/conformance.test.mjs
//
// Environment: NEWSREEL_BIN (binary under test), NEWSREEL_MEDIA_DIR (default <repo>/../shared/media),
// NEWSREEL_E2E_KEEP=1 keeps the temporary folders for inspection,
// NEWSREEL_E2E_ONLY=<substring> runs only the inputs whose name contains it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { analyzeOutput, decodeFully, leadingTablePackets, misplacedFrames, tsPid } from './lib/analyze.mjs';
import { avc1CodecString, readMediaPlaylist, roundedSegmentDuration } from './lib/hls.mjs';
import {
  MEDIA_DIR, NAL_IDR, NEWSREEL_BIN, TRANSCODE_TIMEOUT_MS, describeSource, ffprobeJson, makeTempDir,
  rational, removeDir, run, runOk, writePrefix,
} from './lib/tools.mjs';

// ---- Contract constants (DESIGN.md "HLS output", the task's output contract). ----
const SEGMENT_SECONDS = 6; // segments ~6 s
const SEGMENT_TOLERANCE = 0.5; // a full segment is 6 s give or take this (it is 3 GOPs of 2 s)
const GOP_SECONDS = 2; // IDR every 2 s, no scene-cut keyframes
const DURATION_TOLERANCE = 0.1; // output duration within 0.1 s of the source
const BANDWIDTH_TOLERANCE = 0.1; // BANDWIDTH within 10 % of the measured peak segment bitrate
const CELLULAR_BANDWIDTH = 192_000; // Apple: the lowest variant must fit a cellular link
const MAX_LEVEL_IDC = 42; // H.264 level 4.2
const HIGH_PROFILE_IDC = 100;
const CUT_TOLERANCE_SECONDS = 0.001; // "identical" segment starts across video rungs (90 ticks)
const ASPECT_TOLERANCE = 0.03; // even-size rounding of small rungs moves the aspect ratio a little
const CONTINUITY_TOLERANCE = 0.002; // timestamps rounded to 90 kHz ticks

// Inputs with a known, open defect: every check still runs and is reported, as a TODO, so that
// the suite stays green while the defect is on record. Remove an entry once its checks pass
// (the TODO lines then say so).
const KNOWN_DEFECTS = {
};

// `t` whose subtests, at every depth, are TODO with `reason` (node:test counts a failing leaf
// under a TODO parent as a failure, so the marking has to reach the leaves).
function todoContext(t, reason) {
  return new Proxy(t, {
    get(target, prop) {
      if (prop === 'test') {
        return (name, a, b) => {
          const [opts, fn] = typeof a === 'function' ? [{}, a] : [a ?? {}, b];
          return target.test(name, { ...opts, todo: reason }, (sub) => fn(todoContext(sub, reason)));
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
const withKnownDefects = (t, name) => (KNOWN_DEFECTS[name] ? todoContext(t, KNOWN_DEFECTS[name]) : t);

const only = process.env.NEWSREEL_E2E_ONLY || '';
const selected = (name) => name.includes(only);

// ---------------------------------------------------------------------------------------------
// Running the binary under test.

// Runs `newsreel transcode INPUT OUTDIR ...args` with the hang deadline.
function transcode(input, outdir, args = []) {
  return run(NEWSREEL_BIN, ['transcode', input, outdir, ...args], { timeoutMs: TRANSCODE_TIMEOUT_MS });
}

// Human-readable summary of how a process ended, for failure messages.
function howItEnded(result) {
  if (result.timedOut) return `did not finish within ${TRANSCODE_TIMEOUT_MS / 1000} s (killed)`;
  if (result.signal) return `was killed by signal ${result.signal}`;
  return `exited ${result.code}`;
}

// stderr lines that are not blank.
const stderrLines = (result) => result.stderr.split('\n').map((l) => l.trim()).filter(Boolean);

// Asserts the "clear failure" contract: non-zero exit, no signal, no hang, exactly one line on stderr.
function assertCleanFailure(result, what) {
  assert.equal(result.timedOut, false, `${what}: newsreel ${howItEnded(result)}`);
  assert.equal(result.signal, null, `${what}: newsreel ${howItEnded(result)}; stderr: ${result.stderr.slice(-1500)}`);
  assert.notEqual(result.code, 0, `${what}: newsreel exited 0 but should have failed; stderr: ${result.stderr.slice(-500)}`);
  const lines = stderrLines(result);
  assert.equal(lines.length, 1, `${what}: expected exactly one line on stderr, got ${lines.length}:\n${result.stderr.slice(0, 3000)}`);
  assert.doesNotMatch(lines[0], /CRITICAL|assert|Segmentation|terminate called|core dumped/i, `${what}: stderr looks like a crash: ${lines[0]}`);
}

// Asserts that an output folder does not look like a finished transcode.
function assertNoCompleteOutput(outdir, what) {
  for (const name of ['master.m3u8', 'manifest.json']) {
    assert.equal(fs.existsSync(path.join(outdir, name)), false, `${what}: the failed run left ${name} in OUTDIR`);
  }
}

// ---------------------------------------------------------------------------------------------
// Checks on a finished output folder.

const isAudioOnlyVariant = (v) => v.attrs.CODECS === 'mp4a.40.2' && !v.attrs.RESOLUTION;
const parseResolution = (text) => {
  const m = /^(\d+)x(\d+)$/.exec(text || '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
};
const codecSet = (text) => new Set(String(text || '').split(',').map((c) => c.trim()).filter(Boolean));
const fmt = (x, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));
const sourceSpans = (source) => `source file ${fmt(source.duration)} s, video ${fmt(source.video?.duration)} s, audio ${fmt(source.audio?.duration)} s`;

// Checks one video rendition; registers one subtest per property.
async function checkVideoRendition(t, source, r) {
  const label = `${path.basename(source.file)} ${r.name}`;
  const variant = r.variant;
  if (!r.videoStream) {
    await t.test('has video', () => assert.fail(`${label}: no segment has a readable video stream (${r.segments.map((s) => s.error || s.uri).join('; ')})`));
    return;
  }

  await t.test('every segment is a transport stream ffprobe reads', () => checkSegmentsReadable(label, r));

  await t.test('decodes fully with ffmpeg, no error output', async () => {
    const decoded = await decodeFully(variant.path);
    assert.ok(decoded.ok, `${label}: ffmpeg -i index.m3u8 -f null - ${decoded.timedOut ? 'hung' : `exited ${decoded.code}`}; stderr:\n${decoded.stderr.slice(0, 3000)}`);
  });

  await t.test(`duration within ${DURATION_TOLERANCE} s of the source`, () => {
    // The rung as a whole against the file's duration (the longest stream); its video against the source's video.
    assert.ok(Math.abs(r.playlistDuration - source.duration) <= DURATION_TOLERANCE,
      `${label}: sum of EXTINF ${fmt(r.playlistDuration)} s, source ${fmt(source.duration)} s (${sourceSpans(source)})`);
    assert.ok(Math.abs(r.videoDuration - source.video.duration) <= DURATION_TOLERANCE,
      `${label}: video packets span ${fmt(r.videoDuration)} s, source video ${fmt(source.video.duration)} s`);
  });

  await t.test('every segment: H.264 High, 8-bit yuv420p, level <= 4.2, even dimensions', () => {
    for (const s of r.segments) {
      const v = s.video;
      assert.ok(v, `${label} ${s.uri}: no video stream`);
      assert.equal(v.codec_name, 'h264', `${label} ${s.uri}: codec ${v.codec_name}`);
      assert.equal(v.profile, 'High', `${label} ${s.uri}: profile ${v.profile}`);
      assert.equal(v.pix_fmt, 'yuv420p', `${label} ${s.uri}: pixel format ${v.pix_fmt}`);
      assert.ok(Number(v.bits_per_raw_sample || 8) === 8, `${label} ${s.uri}: ${v.bits_per_raw_sample} bits per sample`);
      assert.ok(v.level > 0 && v.level <= MAX_LEVEL_IDC, `${label} ${s.uri}: level ${v.level / 10}`);
      assert.ok(v.width % 2 === 0 && v.height % 2 === 0, `${label} ${s.uri}: odd dimensions ${v.width}x${v.height}`);
      const sps = s.firstAccessUnit?.sps;
      assert.ok(sps, `${label} ${s.uri}: first access unit carries no SPS (NAL types ${s.firstAccessUnit?.types})`);
      assert.equal(sps.profileIdc, HIGH_PROFILE_IDC, `${label} ${s.uri}: SPS profile_idc ${sps.profileIdc}`);
      assert.ok(sps.levelIdc <= MAX_LEVEL_IDC, `${label} ${s.uri}: SPS level_idc ${sps.levelIdc}`);
    }
  });

  await t.test('size: matches RESOLUTION, never upscaled, aspect and orientation kept; FRAME-RATE matches', () => {
    const v = r.videoStream;
    const declared = parseResolution(variant.attrs.RESOLUTION);
    assert.deepEqual(declared, { width: v.width, height: v.height }, `${label}: RESOLUTION=${variant.attrs.RESOLUTION} but the stream is ${v.width}x${v.height}`);
    const sar = rational(v.sample_aspect_ratio) > 0 ? rational(v.sample_aspect_ratio) : 1;
    const shownWidth = v.width * sar;
    const src = source.video;
    // Even rounding may add at most one pixel to an odd source dimension.
    assert.ok(shownWidth <= src.displayWidth + 1 && v.height <= src.displayHeight + 1,
      `${label}: ${v.width}x${v.height} (SAR ${fmt(sar)}) is larger than the source's displayed ${fmt(src.displayWidth, 0)}x${fmt(src.displayHeight, 0)}`);
    const sourceAspect = src.displayWidth / src.displayHeight;
    const aspect = shownWidth / v.height;
    assert.ok(Math.abs(aspect / sourceAspect - 1) <= ASPECT_TOLERANCE,
      `${label}: displayed aspect ${fmt(aspect)} (${v.width}x${v.height}, SAR ${fmt(sar)}) vs source ${fmt(sourceAspect)} (rotation ${src.rotation})`);
    if (src.displayHeight > src.displayWidth) assert.ok(v.height > v.width, `${label}: portrait source (${fmt(src.displayWidth, 0)}x${fmt(src.displayHeight, 0)} displayed) became ${v.width}x${v.height}`);
    if (src.displayWidth > src.displayHeight) assert.ok(v.width > v.height, `${label}: landscape source became ${v.width}x${v.height}`);
    const declaredRate = Number(variant.attrs['FRAME-RATE']);
    const streamRate = rational(v.avg_frame_rate) || rational(v.r_frame_rate);
    assert.ok(Math.abs(declaredRate - streamRate) <= 0.01, `${label}: FRAME-RATE=${variant.attrs['FRAME-RATE']} but the stream runs at ${fmt(streamRate)} fps`);
  });

  await t.test('media playlist: VOD, ENDLIST, TARGETDURATION >= every EXTINF, ~6 s segments', () => {
    checkMediaPlaylistRules(label, r);
  });

  await t.test('video continuous across segment boundaries (no dropped or repeated frames)', () => {
    checkContinuity(label, 'video', r.videoBoundaryGaps);
  });

  await t.test('every segment starts with an IDR frame (closed GOP)', () => {
    for (const s of r.segments) {
      const first = s.videoPackets[0];
      assert.ok(first, `${label} ${s.uri}: no video packets`);
      assert.ok(first.key, `${label} ${s.uri}: first video packet (pts ${first.pts}) is not a keyframe`);
      assert.ok(s.firstAccessUnit?.types.includes(NAL_IDR), `${label} ${s.uri}: first access unit has NAL types [${s.firstAccessUnit?.types}], no IDR (5)`);
      assert.equal(first.pts, s.startPts, `${label} ${s.uri}: frames before the segment's first keyframe are presented (pts ${s.startPts} < ${first.pts}): open GOP`);
    }
  });

  await t.test('no hole at the start: first video DTS = first PTS, audio not earlier', () => {
    // hls.js starts its timeline at the lowest of the first fragment's audio PTS and video DTS,
    // and buffers the video only from its first PTS: with an encoder's B-frame reorder delay left
    // in (DTS two frames before PTS, 0.16 s at 12.5 fps) it had to skip a hole at t=0
    // (bufferSeekOverHole). Measured in the first segment, in 90 kHz ticks.
    const s = r.segments[0];
    const first = s.videoPackets[0];
    assert.ok(first, `${label} ${s.uri}: no video packets`);
    const tick = r.videoTickSeconds;
    assert.equal(first.dts, s.startPts,
      `${label} ${s.uri}: first video DTS ${first.dts} is ${fmt((s.startPts - first.dts) * tick)} s before the first PTS ${s.startPts}`);
    if (s.audioPackets.length) {
      const audioStart = Math.min(...s.audioPackets.map((p) => p.pts));
      const hole = (s.startPts - Math.min(audioStart, first.dts)) * tick;
      assert.ok(hole <= 0.001, `${label} ${s.uri}: video starts ${fmt(hole)} s after the stream (audio PTS ${audioStart}, video DTS ${first.dts}, PTS ${s.startPts})`);
    }
  });

  await t.test(`fixed GOP: a keyframe every ${GOP_SECONDS} s and nowhere else`, () => {
    const frameSeconds = 1 / (rational(r.videoStream.avg_frame_rate) || rational(r.videoStream.r_frame_rate) || 30);
    const times = r.keyframeTimes;
    for (let i = 1; i < times.length; i++) {
      const gap = times[i] - times[i - 1];
      assert.ok(Math.abs(gap - GOP_SECONDS) <= frameSeconds / 2 + 0.001,
        `${label}: keyframes at ${fmt(times[i - 1] - times[0])} s and ${fmt(times[i] - times[0])} s are ${fmt(gap)} s apart, not ${GOP_SECONDS} s`);
    }
    const expected = Math.ceil(r.videoDuration / GOP_SECONDS - 0.01);
    assert.ok(Math.abs(times.length - expected) <= 1, `${label}: ${times.length} keyframes in ${fmt(r.videoDuration)} s, expected about ${expected}`);
  });

  await t.test('CODECS in master.m3u8 matches the stream', () => {
    const sps = r.segments[0].firstAccessUnit?.sps;
    assert.ok(sps, `${label}: no SPS at the start of ${r.segments[0].uri}`);
    const expected = new Set([avc1CodecString(sps)]);
    if (r.audioStream) expected.add(audioCodecString(r.audioStream));
    const declared = codecSet(variant.attrs.CODECS);
    assert.deepEqual([...declared].sort(), [...expected].sort(),
      `${label}: CODECS="${variant.attrs.CODECS}", stream is ${r.videoStream.profile}@${r.videoStream.level / 10} (${[...expected].join(',')})`);
    // ffprobe's view of the same stream must agree with the SPS bytes.
    assert.equal(r.videoStream.level, sps.levelIdc, `${label}: ffprobe level ${r.videoStream.level} vs SPS level_idc ${sps.levelIdc}`);
  });

  await t.test('BANDWIDTH and AVERAGE-BANDWIDTH match the measured segment bitrates', () => {
    checkBandwidth(label, r);
  });

  if (source.audio) {
    await t.test('carries the source audio as AAC-LC in every segment, whole and continuous', () => {
      for (const s of r.segments) {
        assert.ok(s.audio, `${label} ${s.uri}: no audio stream although the source has audio`);
        assert.equal(s.audio.codec_name, 'aac', `${label} ${s.uri}: audio codec ${s.audio.codec_name}`);
        assert.ok(s.audioPackets.length > 0, `${label} ${s.uri}: audio stream without packets`);
      }
      assert.ok(Math.abs(r.audioDuration - source.audio.duration) <= DURATION_TOLERANCE,
        `${label}: audio spans ${fmt(r.audioDuration)} s, source audio ${fmt(source.audio.duration)} s`);
      checkContinuity(label, 'audio', r.audioBoundaryGaps);
    });
  }
}

// No hole or overlap of more than CONTINUITY_TOLERANCE where one segment hands over to the next.
function checkContinuity(label, what, gaps) {
  const bad = gaps.filter((g) => Math.abs(g.seconds) > CONTINUITY_TOLERANCE);
  assert.equal(bad.length, 0, `${label}: ${what} is not continuous across segments: ${bad.map((g) => `${g.between.replace('|', ' -> ')} ${g.seconds > 0 ? 'hole' : 'overlap'} of ${fmt(Math.abs(g.seconds) * 1000, 1)} ms`).join('; ')}`);
}

function checkSegmentsReadable(label, r) {
  const broken = r.segments.filter((s) => s.error);
  assert.equal(broken.length, 0, `${label}: unreadable segments: ${broken.map((s) => `${s.uri} (${s.bytes} B): ${s.error.split('\n').pop()}`).join('; ')}`);
}

// RFC 6381 string for an AAC stream as ffprobe describes it (LC -> mp4a.40.2, HE -> .5, HEv2 -> .29).
function audioCodecString(stream) {
  if (stream.codec_name !== 'aac') return `(${stream.codec_name}, not AAC)`;
  return { LC: 'mp4a.40.2', HE: 'mp4a.40.5', 'HE-AAC': 'mp4a.40.5', HEv2: 'mp4a.40.29', 'HE-AACv2': 'mp4a.40.29' }[stream.profile] ?? `mp4a.40.?(${stream.profile})`;
}

// EXT-X-PLAYLIST-TYPE:VOD, EXT-X-ENDLIST, EXT-X-TARGETDURATION >= every rounded EXTINF,
// every segment but the last ~6 s (the last at most one GOP longer), and segment names seg_00001.ts, ...
function checkMediaPlaylistRules(label, r) {
  const p = r.playlist;
  assert.equal(p.playlistType, 'VOD', `${label}: EXT-X-PLAYLIST-TYPE is ${p.playlistType}`);
  assert.ok(p.endList, `${label}: no EXT-X-ENDLIST`);
  assert.ok(Number.isInteger(p.targetDuration), `${label}: EXT-X-TARGETDURATION is ${p.tags.get('#EXT-X-TARGETDURATION')}`);
  assert.ok(p.segments.length > 0, `${label}: no segments`);
  p.segments.forEach((s, i) => {
    assert.ok(roundedSegmentDuration(s.duration) <= p.targetDuration,
      `${label}: segment ${s.uri} EXTINF ${s.duration} rounds above EXT-X-TARGETDURATION ${p.targetDuration}`);
    assert.equal(s.uri, `seg_${String(i + 1).padStart(5, '0')}.ts`, `${label}: segment ${i + 1} is named ${s.uri}`);
    if (i < p.segments.length - 1) {
      assert.ok(Math.abs(s.duration - SEGMENT_SECONDS) <= SEGMENT_TOLERANCE, `${label}: segment ${s.uri} lasts ${s.duration} s, not ~${SEGMENT_SECONDS} s`);
    } else {
      // The last segment may take in a tail shorter than one GOP rather than leave it on its own.
      assert.ok(s.duration > 0 && s.duration <= SEGMENT_SECONDS + GOP_SECONDS, `${label}: last segment ${s.uri} lasts ${s.duration} s`);
    }
  });
}

// BANDWIDTH: the measured peak segment bitrate (bytes*8/EXTINF), within 10 %; AVERAGE-BANDWIDTH likewise.
function checkBandwidth(label, r) {
  const declared = Number(r.variant.attrs.BANDWIDTH);
  const declaredAverage = Number(r.variant.attrs['AVERAGE-BANDWIDTH']);
  const peakSegment = r.segments.reduce((a, b) => (b.bitrate > a.bitrate ? b : a));
  const peak = peakSegment.bitrate;
  const average = (r.totalBytes * 8) / r.playlistDuration;
  const perSegment = r.segments.map((s) => `${s.uri}: ${s.bytes} B / ${s.extinf} s = ${Math.round(s.bitrate)}`).join('; ');
  assert.ok(Number.isInteger(declared) && declared > 0, `${label}: BANDWIDTH=${r.variant.attrs.BANDWIDTH}`);
  assert.ok(Math.abs(peak - declared) <= BANDWIDTH_TOLERANCE * declared,
    `${label}: BANDWIDTH=${declared} but the measured peak is ${Math.round(peak)} b/s (${peakSegment.uri}), ${fmt((peak / declared - 1) * 100, 1)} % off [${perSegment}]`);
  assert.ok(Number.isInteger(declaredAverage) && declaredAverage > 0, `${label}: AVERAGE-BANDWIDTH=${r.variant.attrs['AVERAGE-BANDWIDTH']}`);
  assert.ok(Math.abs(average - declaredAverage) <= BANDWIDTH_TOLERANCE * declaredAverage,
    `${label}: AVERAGE-BANDWIDTH=${declaredAverage} but the measured average is ${Math.round(average)} b/s (${r.totalBytes} B in ${fmt(r.playlistDuration)} s)`);
}

// The audio-only rendition: decodes, lasts as long as the source, AAC-LC, playlist rules, bandwidth.
async function checkAudioRendition(t, source, r) {
  const label = `${path.basename(source.file)} ${r.name}`;
  await t.test('every segment is a transport stream ffprobe reads', () => checkSegmentsReadable(label, r));
  await t.test('decodes fully with ffmpeg, no error output', async () => {
    const decoded = await decodeFully(r.variant.path);
    assert.ok(decoded.ok, `${label}: ffmpeg -i index.m3u8 -f null - ${decoded.timedOut ? 'hung' : `exited ${decoded.code}`}; stderr:\n${decoded.stderr.slice(0, 3000)}`);
  });
  await t.test('audio only, AAC-LC as CODECS says, no video', () => {
    for (const s of r.segments) {
      assert.ok(s.audio, `${label} ${s.uri}: no audio stream`);
      assert.equal(s.video, null, `${label} ${s.uri}: has a ${s.video?.codec_name} video stream`);
      assert.equal(audioCodecString(s.audio), r.variant.attrs.CODECS, `${label} ${s.uri}: ${s.audio.codec_name} ${s.audio.profile}, CODECS="${r.variant.attrs.CODECS}"`);
    }
  });
  await t.test(`duration within ${DURATION_TOLERANCE} s of the source audio`, () => {
    assert.ok(Math.abs(r.playlistDuration - source.audio.duration) <= DURATION_TOLERANCE,
      `${label}: sum of EXTINF ${fmt(r.playlistDuration)} s, source audio ${fmt(source.audio.duration)} s (${sourceSpans(source)})`);
    assert.ok(Math.abs(r.audioDuration - source.audio.duration) <= DURATION_TOLERANCE,
      `${label}: audio packets span ${fmt(r.audioDuration)} s, source audio ${fmt(source.audio.duration)} s`);
  });
  await t.test('audio continuous across segment boundaries', () => checkContinuity(label, 'audio', r.audioBoundaryGaps));
  await t.test('media playlist: VOD, ENDLIST, TARGETDURATION >= every EXTINF, ~6 s segments', () => checkMediaPlaylistRules(label, r));
  await t.test('BANDWIDTH and AVERAGE-BANDWIDTH match the measured segment bitrates', () => checkBandwidth(label, r));
}

// The I-frame playlist of a video rung: one entry per keyframe, byte ranges on transport-stream
// packet boundaries, each range decoding to that keyframe.
async function checkIFramePlaylist(label, r, iframeVariant) {
  assert.ok(iframeVariant, `${label}: no EXT-X-I-FRAME-STREAM-INF for ${r.name}`);
  assert.equal(iframeVariant.uri, `${r.name}/iframes.m3u8`, `${label}: I-frame URI ${iframeVariant.uri}`);
  assert.equal(iframeVariant.attrs.RESOLUTION, r.variant.attrs.RESOLUTION, `${label}: I-frame RESOLUTION ${iframeVariant.attrs.RESOLUTION} vs ${r.variant.attrs.RESOLUTION}`);
  const videoCodec = [...codecSet(r.variant.attrs.CODECS)].find((c) => c.startsWith('avc1.'));
  assert.deepEqual([...codecSet(iframeVariant.attrs.CODECS)], [videoCodec], `${label}: I-frame CODECS="${iframeVariant.attrs.CODECS}", the rung's video is ${videoCodec}`);
  assert.ok(Number(iframeVariant.attrs.BANDWIDTH) > 0, `${label}: I-frame BANDWIDTH=${iframeVariant.attrs.BANDWIDTH}`);
  const p = readMediaPlaylist(iframeVariant.path);
  assert.ok(p.iframesOnly, `${label}: iframes.m3u8 lacks EXT-X-I-FRAMES-ONLY`);
  assert.ok(p.endList, `${label}: iframes.m3u8 lacks EXT-X-ENDLIST`);
  assert.equal(p.segments.length, r.keyframeTimes.length, `${label}: iframes.m3u8 lists ${p.segments.length} I-frames, the rung has ${r.keyframeTimes.length} keyframes`);
  const total = p.segments.reduce((sum, s) => sum + s.duration, 0);
  assert.ok(Math.abs(total - r.playlistDuration) <= DURATION_TOLERANCE, `${label}: iframes.m3u8 EXTINF sum ${fmt(total)} s vs rung ${fmt(r.playlistDuration)} s`);
  const files = new Map();
  const foundTimes = [];
  for (const [i, entry] of p.segments.entries()) {
    const where = `${label} iframes.m3u8 entry ${i + 1} (${entry.uri} ${entry.byteRange?.length}@${entry.byteRange?.offset})`;
    assert.ok(entry.byteRange, `${where}: no EXT-X-BYTERANGE`);
    if (!files.has(entry.path)) files.set(entry.path, fs.readFileSync(entry.path));
    const bytes = files.get(entry.path);
    const { offset, length } = entry.byteRange;
    assert.ok(offset % 188 === 0 && length % 188 === 0 && length > 0, `${where}: not whole 188-byte transport packets`);
    assert.ok(offset + length <= bytes.length, `${where}: beyond the end of the ${bytes.length}-byte file`);
    assert.equal(bytes[offset], 0x47, `${where}: no TS sync byte at the range start`);
    const range = bytes.subarray(offset, offset + length);
    // A player keeps the PAT/PMT it has seen; give ffprobe the segment's tables when the range has none.
    const probeInput = tsPid(range, 0) === 0 ? range : Buffer.concat([leadingTablePackets(bytes), range]);
    const result = await run('ffprobe', ['-v', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-select_streams', 'v:0',
      '-show_entries', 'frame=key_frame,pict_type,pts', '-of', 'json'], { input: probeInput });
    assert.equal(result.code, 0, `${where}: ffprobe failed: ${result.stderr}`);
    const frames = JSON.parse(result.stdout).frames || [];
    assert.ok(frames.length >= 1 && frames[0].key_frame === 1 && frames[0].pict_type === 'I',
      `${where}: does not decode to a keyframe (frames: ${JSON.stringify(frames.slice(0, 2))}; ${result.stderr.trim()})`);
    assert.equal(result.stderr.trim(), '', `${where}: decoding the range reports errors: ${result.stderr.trim()}`);
    foundTimes.push(frames[0].pts * r.videoTickSeconds);
  }
  assert.deepEqual(foundTimes.map((x) => x.toFixed(3)), r.keyframeTimes.map((x) => x.toFixed(3)),
    `${label}: the I-frames listed are not the rung's keyframes`);
}

// WebVTT storyboard: cues in order covering the video, each a rectangle inside storyboard.jpg.
function checkStoryboardVtt(label, vttText, image, duration) {
  const lines = vttText.split(/\r?\n/);
  assert.match(lines[0], /^WEBVTT/, `${label}: storyboard.vtt does not start with WEBVTT`);
  const time = (s) => {
    const parts = s.split(':').map(Number);
    return parts.reduce((acc, x) => acc * 60 + x, 0);
  };
  const cues = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})/.exec(lines[i]);
    if (m) cues.push({ start: time(m[1]), end: time(m[2]), payload: (lines[i + 1] || '').trim() });
  }
  assert.ok(cues.length > 0, `${label}: storyboard.vtt has no cues`);
  assert.ok(cues[0].start <= 0.001, `${label}: first storyboard cue starts at ${cues[0].start} s`);
  let longest = 0;
  cues.forEach((c, i) => {
    assert.ok(c.end > c.start, `${label}: storyboard cue ${i + 1} ends (${c.end}) before it starts (${c.start})`);
    if (i > 0) assert.ok(c.start >= cues[i - 1].end - 0.001, `${label}: storyboard cue ${i + 1} overlaps the previous one`);
    longest = Math.max(longest, c.end - c.start);
    const m = /^storyboard\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(c.payload);
    assert.ok(m, `${label}: storyboard cue ${i + 1} payload ${JSON.stringify(c.payload)} is not storyboard.jpg#xywh=x,y,w,h`);
    const [x, y, w, h] = m.slice(1).map(Number);
    assert.ok(w > 0 && h > 0 && x + w <= image.width && y + h <= image.height,
      `${label}: storyboard cue ${i + 1} rectangle ${x},${y},${w},${h} is outside the ${image.width}x${image.height} storyboard.jpg`);
  });
  const lastEnd = cues[cues.length - 1].end;
  assert.ok(lastEnd >= duration - longest - 0.001, `${label}: storyboard cues end at ${lastEnd} s, the video lasts ${fmt(duration)} s`);
}

async function imageSize(file) {
  const info = await ffprobeJson(['-show_entries', 'stream=codec_name,width,height', file]);
  const s = info.streams[0];
  assert.equal(s.codec_name, 'mjpeg', `${file}: not a JPEG (${s.codec_name})`);
  return { width: s.width, height: s.height };
}

// All checks for a source with a video stream; `analysis` is analyzeOutput()'s result.
async function checkVideoOutput(t, source, outdir, analysis) {
  const name = path.basename(source.file);
  const { master, renditions } = analysis;
  const videoRenditions = renditions.filter((r) => !isAudioOnlyVariant(r.variant));
  const audioRenditions = renditions.filter((r) => isAudioOnlyVariant(r.variant));

  await t.test('master.m3u8: tags, one variant per rung, audio-only variant, I-frame variants', () => {
    assert.ok(master.tags.has('#EXT-X-INDEPENDENT-SEGMENTS'), `${name}: master.m3u8 lacks EXT-X-INDEPENDENT-SEGMENTS`);
    assert.ok(videoRenditions.length >= 1, `${name}: no video variant in master.m3u8:\n${master.text}`);
    for (const r of videoRenditions) {
      const a = r.variant.attrs;
      assert.match(r.variant.uri, /^\d+p\/index\.m3u8$/, `${name}: video variant URI ${r.variant.uri} is not <rung>/index.m3u8 with a rung name like 720p`);
      for (const attr of ['BANDWIDTH', 'AVERAGE-BANDWIDTH', 'CODECS', 'RESOLUTION', 'FRAME-RATE']) {
        assert.ok(a[attr] !== undefined, `${name} ${r.name}: EXT-X-STREAM-INF lacks ${attr}`);
      }
    }
    if (source.audio) {
      assert.equal(audioRenditions.length, 1, `${name}: the source has audio, master.m3u8 has ${audioRenditions.length} audio-only variants (CODECS="mp4a.40.2")`);
      assert.equal(audioRenditions[0].variant.uri, 'audio/index.m3u8', `${name}: audio-only variant URI ${audioRenditions[0].variant.uri}`);
    }
    assert.equal(master.iframeVariants.length, videoRenditions.length,
      `${name}: ${master.iframeVariants.length} EXT-X-I-FRAME-STREAM-INF for ${videoRenditions.length} video variants`);
  });

  await t.test('poster.jpg and its smaller sizes, storyboard.jpg + storyboard.vtt, manifest.json', async () => {
    const poster = await imageSize(path.join(outdir, 'poster.jpg'));
    const src = source.video;
    if (src.displayHeight > src.displayWidth) assert.ok(poster.height > poster.width, `${name}: portrait source, poster is ${poster.width}x${poster.height}`);
    if (src.displayWidth > src.displayHeight) assert.ok(poster.width > poster.height, `${name}: landscape source, poster is ${poster.width}x${poster.height}`);
    // The smaller posters for lists and phones: 320 and 640 wide, never wider than the poster,
    // its aspect ratio kept, listed in manifest.json.
    const sizes = [];
    for (const w of [320, 640]) {
      const small = await imageSize(path.join(outdir, `poster-${w}.jpg`));
      assert.equal(small.width, Math.min(w, poster.width), `${name}: poster-${w}.jpg is ${small.width} wide (poster ${poster.width})`);
      assert.ok(Math.abs(small.height - small.width * poster.height / poster.width) <= 2, `${name}: poster-${w}.jpg is ${small.width}x${small.height}, poster ${poster.width}x${poster.height}`);
      sizes.push({ uri: `poster-${w}.jpg`, width: small.width, height: small.height });
    }
    const board = await imageSize(path.join(outdir, 'storyboard.jpg'));
    checkStoryboardVtt(name, fs.readFileSync(path.join(outdir, 'storyboard.vtt'), 'utf8'), board, source.duration);
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
    assert.ok(Array.isArray(manifest.rungs), `${name}: manifest.json has no rungs array`);
    assert.deepEqual(manifest.poster.sizes, sizes, `${name}: manifest.json's poster sizes`);
    for (const r of videoRenditions) {
      const entry = manifest.rungs.find((m) => m.name === r.name);
      assert.ok(entry, `${name}: manifest.json has no rung named ${r.name} (has ${manifest.rungs.map((m) => m.name)})`);
      assert.equal(`${entry.width}x${entry.height}`, r.variant.attrs.RESOLUTION, `${name} ${r.name}: manifest.json says ${entry.width}x${entry.height}`);
    }
  });

  for (const r of videoRenditions) {
    await t.test(`rung ${r.name}`, async (rt) => {
      await checkVideoRendition(rt, source, r);
      await rt.test('I-frame playlist', async () => {
        await checkIFramePlaylist(`${name} ${r.name}`, r, master.iframeVariants.find((v) => v.uri === `${r.name}/iframes.m3u8`) || master.iframeVariants.find((v) => v.uri?.startsWith(`${r.name}/`)));
      });
    });
  }
  if (source.audio) {
    for (const r of audioRenditions) await t.test(`rendition ${r.name} (audio only)`, (rt) => checkAudioRendition(rt, source, r));
  }

  await t.test('colour: every rung in limited range and the source\'s colour space, tagged alike', () => {
    const expected = expectedMatrix(source.video);
    const top = videoRenditions[0].videoStream;
    for (const r of videoRenditions) {
      const v = r.videoStream;
      const tags = `${v.color_range}/${v.color_space}/${v.color_transfer}/${v.color_primaries}`;
      assert.equal(v.color_range, 'tv', `${name}: ${r.name} is tagged ${tags}`);
      assert.equal(matrixFamily(v.color_space), expected,
        `${name}: ${r.name} is tagged ${tags}; the source is ${source.video.colorSpace || 'untagged'} at ${source.video.height} lines`);
      assert.equal(`${v.color_transfer}/${v.color_primaries}`, `${top.color_transfer}/${top.color_primaries}`,
        `${name}: ${r.name} is tagged ${tags}, ${videoRenditions[0].name} ${top.color_transfer}/${top.color_primaries}`);
    }
  });

  await t.test('segments start at the same instants in every rung', () => {
    const reference = videoRenditions[0];
    const starts = (r, tick) => r.segments.map((s) => s.startPts * tick);
    const refStarts = starts(reference, reference.videoTickSeconds);
    for (const r of videoRenditions.slice(1)) {
      const own = starts(r, r.videoTickSeconds);
      assert.equal(own.length, refStarts.length, `${name}: ${r.name} has ${own.length} segments, ${reference.name} has ${refStarts.length}`);
      own.forEach((x, i) => assert.ok(Math.abs(x - refStarts[i]) <= CUT_TOLERANCE_SECONDS,
        `${name}: segment ${i + 1} starts at ${fmt(x, 4)} s in ${r.name} but at ${fmt(refStarts[i], 4)} s in ${reference.name}`));
    }
    // The audio-only rendition cuts within one AAC frame of the video cuts.
    for (const r of audioRenditions) {
      const own = starts(r, r.audioTickSeconds);
      assert.ok(r.audioStream, `${name}: the audio rendition has no readable audio stream`);
      const frame = 1024 / Number(r.audioStream.sample_rate) + CUT_TOLERANCE_SECONDS;
      assert.equal(own.length, refStarts.length, `${name}: audio has ${own.length} segments, ${reference.name} has ${refStarts.length}`);
      for (let i = 1; i < own.length; i++) {
        assert.ok(Math.abs(own[i] - refStarts[i]) <= frame,
          `${name}: audio segment ${i + 1} starts at ${fmt(own[i], 4)} s, video segment ${i + 1} at ${fmt(refStarts[i], 4)} s`);
      }
    }
  });

  await t.test(`lowest rung BANDWIDTH <= ${CELLULAR_BANDWIDTH}`, () => {
    const lowest = videoRenditions.reduce((a, b) => (Number(b.variant.attrs.BANDWIDTH) < Number(a.variant.attrs.BANDWIDTH) ? b : a));
    assert.ok(Number(lowest.variant.attrs.BANDWIDTH) <= CELLULAR_BANDWIDTH,
      `${name}: lowest rung ${lowest.name} (${lowest.variant.attrs.RESOLUTION}) has BANDWIDTH=${lowest.variant.attrs.BANDWIDTH}`);
  });
}

// The YUV matrix family a colour_space tag names (BT.601's two names are one matrix).
const matrixFamily = (tag) => (tag === 'smpte170m' || tag === 'bt470bg' ? 'bt601' : tag);

// The matrix every rung must keep: the source's; when untagged, what players assume for the
// source's coded height (BT.709 above 576 lines, BT.601 up to it).
function expectedMatrix(video) {
  const family = matrixFamily(video.colorSpace);
  if (family && family !== 'gbr') return family;
  if (family === 'gbr') return 'bt709';
  return video.height > 576 ? 'bt709' : 'bt601';
}

// All checks for a source without video.
async function checkAudioOnlyOutput(t, source, outdir, analysis) {
  const name = path.basename(source.file);
  const { master, renditions } = analysis;
  await t.test('master.m3u8: only the audio variant, no I-frame variants; no poster or storyboard', () => {
    assert.equal(master.variants.length, 1, `${name}: ${master.variants.length} variants:\n${master.text}`);
    assert.ok(isAudioOnlyVariant(master.variants[0]), `${name}: variant is not audio-only CODECS="mp4a.40.2": ${JSON.stringify(master.variants[0].attrs)}`);
    assert.equal(master.variants[0].uri, 'audio/index.m3u8', `${name}: audio variant URI ${master.variants[0].uri}`);
    assert.ok(master.tags.has('#EXT-X-INDEPENDENT-SEGMENTS'), `${name}: master.m3u8 lacks EXT-X-INDEPENDENT-SEGMENTS`);
    assert.equal(master.iframeVariants.length, 0, `${name}: I-frame variants for a source without video`);
    for (const f of ['poster.jpg', 'poster-320.jpg', 'poster-640.jpg', 'storyboard.jpg', 'storyboard.vtt']) assert.equal(fs.existsSync(path.join(outdir, f)), false, `${name}: ${f} written for a source without video`);
    JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
  });
  await t.test('rendition audio', (rt) => checkAudioRendition(rt, source, renditions[0]));
  await t.test(`BANDWIDTH <= ${CELLULAR_BANDWIDTH}`, () => {
    assert.ok(Number(master.variants[0].attrs.BANDWIDTH) <= CELLULAR_BANDWIDTH, `${name}: BANDWIDTH=${master.variants[0].attrs.BANDWIDTH}`);
  });
}

// `--progress json`: every stdout line a JSON object with numeric percent/fps/speed/eta_seconds,
// percent never going down and ending at 100.
function checkProgressLines(name, stdout) {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length >= 1, `${name}: no progress lines on stdout`);
  const objects = lines.map((line, i) => {
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      assert.fail(`${name}: stdout line ${i + 1} is not JSON: ${line.slice(0, 200)}`);
    }
    for (const key of ['percent', 'fps', 'speed', 'eta_seconds']) {
      assert.ok(typeof o[key] === 'number' && Number.isFinite(o[key]) && o[key] >= 0, `${name}: line ${i + 1} ${key} is ${JSON.stringify(o[key])}: ${line}`);
    }
    assert.ok(o.percent <= 100, `${name}: line ${i + 1} percent ${o.percent} > 100`);
    return o;
  });
  objects.forEach((o, i) => {
    if (i > 0) assert.ok(o.percent >= objects[i - 1].percent, `${name}: percent went down from ${objects[i - 1].percent} to ${o.percent} at line ${i + 1}`);
  });
  assert.equal(objects[objects.length - 1].percent, 100, `${name}: last progress line says ${objects[objects.length - 1].percent} %`);
  if (objects.length > 1) assert.ok(objects[0].percent < 100, `${name}: every progress line says 100 %`);
}

// Transcodes one input once and runs every applicable check on the result.
async function transcodeAndCheck(t, input, { args = [], expectProgress = false, extra = null } = {}) {
  const source = await describeSource(input);
  assert.ok(source.video || source.audio, `${input}: ffprobe finds neither audio nor video; not a usable test input`);
  const outdir = makeTempDir('out');
  t.after(() => removeDir(outdir));
  const result = await transcode(input, outdir, expectProgress ? [...args, '--progress', 'json'] : args);
  const ok = !result.timedOut && result.signal === null && result.code === 0;
  await t.test('transcode exits 0 (no crash, no hang)', () => {
    assert.ok(ok, `newsreel transcode ${path.basename(input)} ${howItEnded(result)}; stderr:\n${result.stderr.slice(-3000)}`);
  });
  if (!ok) return;
  if (expectProgress) await t.test('--progress json lines', () => checkProgressLines(path.basename(input), result.stdout));

  let analysis;
  try {
    analysis = await analyzeOutput(outdir);
  } catch (e) {
    await t.test('output folder is readable', () => assert.fail(`${path.basename(input)}: ${e.message}`));
    return;
  }
  if (source.video) await checkVideoOutput(t, source, outdir, analysis);
  else await checkAudioOnlyOutput(t, source, outdir, analysis);
  if (extra) await extra(t, source, outdir, analysis);
}

// ---------------------------------------------------------------------------------------------
// The tests.

const mediaFiles = (() => {
  try {
    return fs.readdirSync(MEDIA_DIR).filter((f) => !f.startsWith('.') && !/\.(md|txt)$/i.test(f)).sort();
  } catch (e) {
    return { error: e };
  }
})();

test('prerequisites: binary under test, media folder, ffmpeg/ffprobe', async () => {
  assert.ok(fs.existsSync(NEWSREEL_BIN), `newsreel binary not found at ${NEWSREEL_BIN} (set NEWSREEL_BIN)`);
  assert.ok(Array.isArray(mediaFiles) && mediaFiles.length > 0, `no media files in ${MEDIA_DIR} (set NEWSREEL_MEDIA_DIR): ${mediaFiles.error?.message ?? 'empty'}`);
  await runOk('ffmpeg', ['-version']);
  await runOk('ffprobe', ['-version']);
});

for (const file of Array.isArray(mediaFiles) ? mediaFiles.filter(selected) : []) {
  test(`media: ${file}`, (t) => transcodeAndCheck(withKnownDefects(t, file), path.join(MEDIA_DIR, file), { expectProgress: true }));
}

// ---- Bad inputs. ----

test('bad input: empty file and random bytes fail with one clear line (transcode and probe)', async (t) => {
  const dir = makeTempDir('bad');
  t.after(() => removeDir(dir));
  const empty = path.join(dir, 'empty.mp4');
  fs.writeFileSync(empty, Buffer.alloc(0));
  const random = path.join(dir, 'random.mp4');
  fs.writeFileSync(random, crypto.randomBytes(256 * 1024));
  for (const [what, input] of [['empty file', empty], ['random bytes', random]]) {
    await t.test(`transcode ${what}`, async () => {
      const outdir = path.join(dir, `out-${path.basename(input)}`);
      fs.mkdirSync(outdir);
      const result = await transcode(input, outdir);
      assertCleanFailure(result, `transcode ${what}`);
      assertNoCompleteOutput(outdir, `transcode ${what}`);
    });
    await t.test(`probe ${what}`, async () => {
      const result = await run(NEWSREEL_BIN, ['probe', input], { timeoutMs: TRANSCODE_TIMEOUT_MS });
      assertCleanFailure(result, `probe ${what}`);
    });
  }
});

test('probe: a real file gives JSON on stdout', { skip: !Array.isArray(mediaFiles) }, async () => {
  const input = path.join(MEDIA_DIR, 'moviepy_chaplin.mp4');
  const result = await run(NEWSREEL_BIN, ['probe', input], { timeoutMs: TRANSCODE_TIMEOUT_MS });
  assert.equal(result.code, 0, `probe ${input} ${howItEnded(result)}: ${result.stderr}`);
  const parsed = JSON.parse(result.stdout);
  assert.equal(typeof parsed, 'object', `probe printed ${result.stdout.slice(0, 200)}`);
});

// A truncated upload must either fail as clearly as garbage does, or produce output that decodes
// and say on stderr that something was wrong; never crash, never hang.
for (const [label, file] of [['moov at the front', 'videotestdata_1-video-streamable.mp4'], ['moov at the end', 'videotestdata_2-video-unstreamable.mp4']]) {
  test(`bad input: first 40 % of an mp4 with the ${label} (${file})`, { skip: !(Array.isArray(mediaFiles) && mediaFiles.includes(file)) && `${file} not in the media folder` }, async (t) => {
    const dir = makeTempDir('trunc');
    t.after(() => removeDir(dir));
    const input = path.join(dir, `truncated-${file}`);
    writePrefix(path.join(MEDIA_DIR, file), input, 0.4);
    const outdir = path.join(dir, 'out');
    fs.mkdirSync(outdir);
    const result = await transcode(input, outdir);
    assert.equal(result.timedOut, false, `${label}: newsreel ${howItEnded(result)}`);
    assert.equal(result.signal, null, `${label}: newsreel ${howItEnded(result)}; stderr: ${result.stderr.slice(-1500)}`);
    if (result.code !== 0) {
      assertCleanFailure(result, `truncated (${label})`);
      assertNoCompleteOutput(outdir, `truncated (${label})`);
      return;
    }
    // Success is acceptable only with output that decodes and a warning; report every shortfall.
    const problems = [];
    if (stderrLines(result).length === 0) problems.push('no warning on stderr');
    let analysis = null;
    try {
      analysis = await analyzeOutput(outdir);
    } catch (e) {
      problems.push(`output unreadable: ${e.message}`);
    }
    if (analysis && analysis.master.variants.length === 0) problems.push('master.m3u8 has no variants');
    for (const r of analysis ? analysis.renditions : []) {
      const decoded = await decodeFully(r.variant.path);
      if (!decoded.ok) problems.push(`${r.name} does not decode: ${decoded.stderr.slice(0, 500)}`);
    }
    const kept = analysis ? analysis.renditions.map((r) => `${r.name} ${fmt(r.playlistDuration)} s`).join(', ') : '';
    assert.deepEqual(problems, [], `${label}: exit 0 on a truncated file (output: ${kept}), but: ${problems.join('; ')}`);
  });
}

// ---- Inputs generated here with ffmpeg test sources (never committed). ----

// Each: the ffmpeg arguments that make it, and what ffprobe must see in it (so the test knows the
// generator really made the awkward input it means to test).
const GENERATED = [
  {
    name: 'interlaced_1080i25.ts',
    what: 'interlaced 1080i25 (TFF) H.264 + AAC',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=50', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '4', '-vf', 'tinterlace=mode=interleave_top,setfield=tff', '-c:v', 'libx264', '-preset', 'ultrafast', '-flags', '+ildct+ilme',
      '-x264-params', 'tff=1', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k'],
    expect: (v) => ['tt', 'tb'].includes(v.field_order) && v.height === 1080 && Math.abs(rational(v.r_frame_rate) - 25) < 0.01,
  },
  {
    name: 'hevc_10bit.mkv',
    what: '10-bit HEVC 1280x720 + AAC',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=44100',
      '-t', '4', '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-pix_fmt', 'yuv420p10le', '-c:a', 'aac'],
    expect: (v) => v.codec_name === 'hevc' && v.pix_fmt === 'yuv420p10le',
  },
  {
    name: 'h264_444.mp4',
    what: '4:4:4 H.264 (High 4:4:4 Predictive) 1280x720, no audio',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25', '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv444p'],
    expect: (v) => v.codec_name === 'h264' && v.pix_fmt === 'yuv444p',
  },
  {
    name: 'h264_720p60.mp4',
    what: '60 fps 1280x720 H.264 + AAC',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=60', '-f', 'lavfi', '-i', 'sine=frequency=550:sample_rate=48000',
      '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
    expect: (v) => Math.abs(rational(v.r_frame_rate) - 60) < 0.01,
  },
  {
    // H.264 cannot code an odd 4:2:0 size, so this one is MPEG-4 Part 2 (as old cameras made).
    name: 'odd_641x361.mp4',
    what: 'odd-size 641x361 4:2:0 MPEG-4 Part 2 + AAC',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=641x361:rate=30,format=rgb24', '-f', 'lavfi', '-i', 'sine=frequency=660:sample_rate=48000',
      '-t', '4', '-c:v', 'mpeg4', '-q:v', '4', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
    expect: (v) => v.width === 641 && v.height === 361 && v.pix_fmt === 'yuv420p',
  },
  // Clips that end a few frames after a segment cut (6 s): splitmuxsink may let the last GOP join
  // the segment before it in one rung and not in another, depending on thread timing
  // (transcoder/segment_alignment.h). Real footage, and the cellular rung at half the rate.
  {
    name: 'chaplin_3_frames_past_cut.mp4',
    what: 'real footage at 25 fps ending 3 frames after the 6 s cut',
    real: true,  // old film repeats frames: no frame-accuracy check
    args: ['-i', path.join(MEDIA_DIR, 'moviepy_chaplin.mp4'), '-t', '6.1', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'],
    expect: (v) => Math.abs(rational(v.r_frame_rate) - 25) < 0.01 && Math.abs(Number(v.duration) - 6.12) < 0.005,
  },
  {
    name: 'ntsc_2_frames_past_cut.mp4',
    what: '29.97 fps ending 2 frames after the 6.006 s cut',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30000/1001', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-frames:v', '182', '-t', '6.1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
    expect: (v) => Math.abs(rational(v.r_frame_rate) - 30000 / 1001) < 0.01 && Number(v.nb_frames) === 182,
  },
  {
    name: 'pal_1_frame_past_cut.mp4',
    what: '25 fps ending on the IDR frame of the 6 s cut',
    args: ['-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-frames:v', '151', '-t', '6.04', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
    expect: (v) => Math.abs(rational(v.r_frame_rate) - 25) < 0.01 && Number(v.nb_frames) === 151,
  },
];

// For the interlaced source: the top rung must be deinterlaced, i.e. ffmpeg's idet filter
// classifies most of its frames as progressive.
async function checkDeinterlaced(t, source, outdir, analysis) {
  await t.test('interlaced source is deinterlaced (idet on the top rung)', async () => {
    const top = analysis.renditions.filter((r) => r.videoStream).reduce((a, b) => (b.videoStream.height > a.videoStream.height ? b : a));
    const result = await runOk('ffmpeg', ['-nostdin', '-v', 'info', '-i', top.variant.path, '-map', '0:v:0', '-vf', 'idet', '-f', 'null', '-']);
    const m = /Multi frame detection: TFF:\s*(\d+)\s+BFF:\s*(\d+)\s+Progressive:\s*(\d+)/.exec(result.stderr);
    assert.ok(m, `idet printed no summary: ${result.stderr.slice(-500)}`);
    const [tff, bff, progressive] = m.slice(1).map(Number);
    assert.ok(progressive > tff + bff, `${top.name}: idet counts TFF ${tff}, BFF ${bff}, progressive ${progressive}: combing left in the output`);
  });
}

// For synthetic sources, whose consecutive frames all differ: the decoded frames of a rung show the
// source picture of their own instant, one after the other, with no frame dropped, repeated or
// shifted (compared by SSIM against the neighbouring source frames; no absolute threshold).
async function checkFrameAccuracy(t, source, outdir, analysis) {
  await t.test('every frame shows the source picture of its own instant (no drops, repeats, shifts)', async () => {
    const rungs = analysis.renditions.filter((r) => r.videoStream);
    const r = rungs.reduce((a, b) => (Math.abs(b.videoStream.height - 360) < Math.abs(a.videoStream.height - 360) ? b : a));
    const frameRate = rational(r.videoStream.avg_frame_rate) || rational(r.videoStream.r_frame_rate);
    const workDir = makeTempDir('ssim');
    try {
      const { frames, misplaced } = await misplacedFrames(r.variant.path, source.file,
        { width: r.videoStream.width, height: r.videoStream.height, frameRate, workDir });
      assert.equal(misplaced.length, 0, `${path.basename(source.file)} ${r.name}: ${misplaced.length} of ${frames} frames look like a neighbouring source frame, first: ${JSON.stringify(misplaced.slice(0, 5))}`);
    } finally {
      removeDir(workDir);
    }
  });
}

test('generated inputs', async (t) => {
  const dir = makeTempDir('gen');
  t.after(() => removeDir(dir));
  for (const g of GENERATED.filter((x) => selected(x.name))) {
    await t.test(`${g.name}: ${g.what}`, async (gt) => {
      const input = path.join(dir, g.name);
      await runOk('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...g.args, input]);
      const probe = await ffprobeJson(['-select_streams', 'v:0', '-show_streams', input]);
      assert.ok(g.expect(probe.streams[0]), `generator did not make ${g.what}: ${JSON.stringify(probe.streams[0]).slice(0, 400)}`);
      await transcodeAndCheck(withKnownDefects(gt, g.name), input, { extra: g.name.startsWith('interlaced') ? checkDeinterlaced : g.real ? undefined : checkFrameAccuracy });
    });
  }
});
