// Measures a newsreel output folder with the independent verifiers (ffprobe, ffmpeg), once,
// so that the many assertions in conformance.test.mjs can share the numbers.

import fs from 'node:fs';
import path from 'node:path';
import { readMasterPlaylist, readMediaPlaylist } from './hls.mjs';
import { ffprobeJson, firstH264AccessUnit, rational, run } from './tools.mjs';

const STREAM_FIELDS = 'index,codec_type,codec_name,profile,level,pix_fmt,width,height,sample_aspect_ratio,r_frame_rate,avg_frame_rate,'
  + 'sample_rate,channels,bits_per_raw_sample,field_order,time_base,color_range,color_space,color_transfer,color_primaries';

// One transport-stream segment: its streams, and per elementary stream its packets (decode order).
// A segment ffprobe cannot read is recorded with `error` (and no streams) instead of aborting the
// analysis, so that the checks report which segment is broken.
async function analyzeSegment(file) {
  let info;
  try {
    info = await ffprobeJson(['-show_entries', `packet=stream_index,pts,dts,duration,flags,size:stream=${STREAM_FIELDS}`, file]);
  } catch (e) {
    const bytes = fs.existsSync(file) ? fs.statSync(file).size : 0;
    return { file, bytes, error: e.message, streams: [], video: null, audio: null, videoPackets: [], audioPackets: [], firstAccessUnit: null };
  }
  const streams = info.streams || [];
  const byIndex = new Map(streams.map((s) => [s.index, s]));
  const packetsOf = (type) => (info.packets || [])
    .filter((p) => byIndex.get(p.stream_index)?.codec_type === type)
    .map((p) => ({ pts: Number(p.pts), dts: Number(p.dts), duration: Number(p.duration), key: String(p.flags).includes('K'), size: Number(p.size) }));
  const video = streams.find((s) => s.codec_type === 'video') || null;
  const audio = streams.find((s) => s.codec_type === 'audio') || null;
  return {
    file,
    bytes: fs.statSync(file).size,
    streams,
    video,
    audio,
    videoPackets: packetsOf('video'),
    audioPackets: packetsOf('audio'),
    // The first access unit in decode order (NAL types and SPS), for the IDR and CODECS checks.
    firstAccessUnit: video && video.codec_name === 'h264' ? await firstH264AccessUnit(file).catch(() => null) : null,
    error: null,
  };
}

// Seconds per tick of a stream's time base ("1/90000").
const tickSeconds = (stream) => rational(stream?.time_base || '1/90000');

// Summarises one rendition (a variant's media playlist and its segments).
export async function analyzeRendition(variant) {
  const playlist = readMediaPlaylist(variant.path);
  const segments = [];
  for (const segment of playlist.segments) {
    const measured = await analyzeSegment(segment.path);
    measured.extinf = segment.duration;
    measured.uri = segment.uri;
    // Start of the segment on the presentation timeline: the earliest PTS of the stream that
    // defines the cut (video when there is video, else audio).
    const cutPackets = measured.videoPackets.length ? measured.videoPackets : measured.audioPackets;
    measured.startPts = cutPackets.length ? Math.min(...cutPackets.map((p) => p.pts)) : NaN;
    measured.bitrate = (measured.bytes * 8) / segment.duration;
    segments.push(measured);
  }
  const videoStream = segments.find((s) => s.video)?.video || null;
  const audioStream = segments.find((s) => s.audio)?.audio || null;
  const allVideo = segments.flatMap((s) => s.videoPackets);
  const allAudio = segments.flatMap((s) => s.audioPackets);
  const span = (packets, stream) => packets.length
    ? (Math.max(...packets.map((p) => p.pts + (p.duration || 0))) - Math.min(...packets.map((p) => p.pts))) * tickSeconds(stream)
    : 0;
  // Discontinuities of one elementary stream at the segment boundaries: for each pair of
  // consecutive segments, the next segment's first presentation time minus the previous segment's
  // last presentation end (pts + duration). Positive: a hole; negative: an overlap.
  const boundaryGaps = (packetsKey, stream) => {
    const gaps = [];
    for (let i = 1; i < segments.length; i++) {
      const before = segments[i - 1][packetsKey];
      const after = segments[i][packetsKey];
      if (!before.length || !after.length) continue;
      const end = Math.max(...before.map((p) => p.pts + (p.duration || 0)));
      const start = Math.min(...after.map((p) => p.pts));
      gaps.push({ between: `${segments[i - 1].uri}|${segments[i].uri}`, seconds: (start - end) * tickSeconds(stream) });
    }
    return gaps;
  };
  return {
    name: path.basename(path.dirname(variant.path)),
    videoBoundaryGaps: boundaryGaps('videoPackets', videoStream),
    audioBoundaryGaps: boundaryGaps('audioPackets', audioStream),
    variant,
    playlist,
    segments,
    videoStream,
    audioStream,
    playlistDuration: playlist.segments.reduce((sum, s) => sum + s.duration, 0),
    videoDuration: span(allVideo, videoStream),
    audioDuration: span(allAudio, audioStream),
    // Presentation times (seconds) of every keyframe, in presentation order.
    keyframeTimes: allVideo.filter((p) => p.key).map((p) => p.pts * tickSeconds(videoStream)).sort((a, b) => a - b),
    videoTickSeconds: tickSeconds(videoStream),
    audioTickSeconds: tickSeconds(audioStream),
    totalBytes: segments.reduce((sum, s) => sum + s.bytes, 0),
  };
}

// Decodes a playlist (all its segments) with ffmpeg, discarding the pictures and sound.
// Returns { ok, code, stderr }; ok means exit 0 and nothing on stderr at -v error.
export async function decodeFully(playlistFile, timeoutMs = 120_000) {
  const result = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', playlistFile, '-map', '0', '-f', 'null', '-'], { timeoutMs });
  return { ok: result.code === 0 && result.stderr.trim() === '', code: result.code, signal: result.signal, timedOut: result.timedOut, stderr: result.stderr.trim() };
}

// The leading PSI packets (PAT, PMT, SDT...) of a transport stream file: what a player already
// knows from the segment when it fetches an I-frame byte range from the middle of it.
export function leadingTablePackets(bytes) {
  let end = 0;
  while (end + 188 <= bytes.length && bytes[end] === 0x47) {
    const payloadUnitStart = (bytes[end + 1] & 0x40) !== 0;
    const afc = (bytes[end + 3] >> 4) & 0x3;
    let payload = end + 4 + (afc & 0x2 ? 1 + bytes[end + 4] : 0);
    // A PES packet starts with 00 00 01; sections (PAT/PMT/SDT) start with a pointer field.
    if (payloadUnitStart && bytes[payload] === 0 && bytes[payload + 1] === 0 && bytes[payload + 2] === 1) break;
    end += 188;
  }
  return bytes.subarray(0, end);
}

// The PID of the transport-stream packet at `offset`.
export const tsPid = (bytes, offset) => ((bytes[offset + 1] & 0x1f) << 8) | bytes[offset + 2];

// Output folder as a whole: master playlist plus one analysis per rendition.
export async function analyzeOutput(outdir) {
  const master = readMasterPlaylist(path.join(outdir, 'master.m3u8'));
  const renditions = [];
  for (const variant of master.variants) renditions.push(await analyzeRendition(variant));
  return { outdir, master, renditions };
}

// Per-frame SSIM (dB) of a decoded rendition against the source brought to the same frame rate
// and size, with the source shifted by `sourceShift` frames (negative: the rendition is shifted).
// Frames are paired by index, which is what a viewer sees against the audio clock. The source is
// brought to the frame grid from time 0 (ffmpeg starts the input's earliest stream there), so a
// video that starts after its audio is compared slot by slot with what a player shows then.
async function perFrameSsim(renditionPlaylist, source, { width, height, frameRate, sourceShift = 0, statsFile }) {
  const outTrim = sourceShift < 0 ? `trim=start_frame=${-sourceShift},` : '';
  const srcTrim = sourceShift > 0 ? `trim=start_frame=${sourceShift},` : '';
  const graph = `[0:v:0]${outTrim}setpts=round(N/(${frameRate}*TB)),format=yuv420p[d];`
    + `[1:v:0]fps=${frameRate}:start_time=0,${srcTrim}scale=${width}:${height}:flags=bicubic,setsar=1,format=yuv420p,setpts=round(N/(${frameRate}*TB))[r];`
    + `[d][r]ssim=shortest=1:stats_file=${statsFile}`;
  const result = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', renditionPlaylist, '-i', source, '-filter_complex', graph, '-f', 'null', '-']);
  if (result.code !== 0) throw new Error(`ssim failed: ${result.stderr.slice(-500)}`);
  return fs.readFileSync(statsFile, 'utf8').trim().split('\n').map((line) => Number(/\(([-\d.inf]+)\)\s*$/.exec(line)?.[1] ?? NaN));
}

// Which source frame each decoded frame of a rendition shows, relative to the one it should show
// (same index at the rendition's frame rate): for every frame, the shift among -1, 0, +1 whose
// source frame it resembles most. Returns [{frame, shift}] for the frames where that is not 0.
// Meant for synthetic sources (testsrc2) whose consecutive frames all differ.
export async function misplacedFrames(renditionPlaylist, source, { width, height, frameRate, workDir }) {
  const at = async (shift) => perFrameSsim(renditionPlaylist, source, { width, height, frameRate, sourceShift: shift, statsFile: path.join(workDir, `ssim${shift}.log`) });
  const same = await at(0);
  const ahead = await at(1); // rendition frame j vs source frame j+1
  const behind = await at(-1); // rendition frame j+1 vs source frame j
  const misplaced = [];
  same.forEach((db, j) => {
    const plus = ahead[j] ?? -Infinity;
    const minus = j > 0 ? (behind[j - 1] ?? -Infinity) : -Infinity;
    if (plus > db) misplaced.push({ frame: j, shift: +1, db: { same: db, other: plus } });
    else if (minus > db) misplaced.push({ frame: j, shift: -1, db: { same: db, other: minus } });
  });
  return { frames: same.length, misplaced };
}
