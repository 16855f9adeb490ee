// A strict reader of Low-Latency HLS media playlists (RFC 8216bis section 4.4.4.9 and on: parts,
// preload hints, rendition reports) as `newsreel live --low-latency` writes them in OUTDIR/ll/,
// and the rules a test checks on one. Every line must be understood: an unknown tag is an error.

import fs from 'node:fs';
import path from 'node:path';

import { parseAttributes } from './hls.mjs';

const KNOWN = new Set(['#EXT-X-VERSION', '#EXT-X-INDEPENDENT-SEGMENTS', '#EXT-X-TARGETDURATION',
  '#EXT-X-PART-INF', '#EXT-X-SERVER-CONTROL', '#EXT-X-MEDIA-SEQUENCE', '#EXT-X-DISCONTINUITY-SEQUENCE',
  '#EXT-X-MAP', '#EXT-X-DISCONTINUITY', '#EXT-X-PART', '#EXTINF', '#EXT-X-PRELOAD-HINT',
  '#EXT-X-RENDITION-REPORT', '#EXT-X-ENDLIST']);

// Reads ll/<rung>/index.m3u8. Returns { text, version, targetDuration, partTarget, partHoldBack,
// canBlockReload, mediaSequence, map, segments: [{msn, duration, uri, path, discontinuity, parts}],
// partsInProgress, preloadHint, renditionReports, endList }, parts being
// [{duration, uri, path, independent}].
export function readLowLatencyPlaylist(file) {
  const text = fs.readFileSync(file, 'utf8');
  const dir = path.dirname(file);
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines[0] !== '#EXTM3U') throw new Error(`${file}: no #EXTM3U`);
  const pl = { text, segments: [], partsInProgress: [], renditionReports: [], preloadHint: null, endList: false };
  let parts = [];
  let extinf = null;
  let discontinuity = false;
  for (const line of lines.slice(1)) {
    if (!line.startsWith('#')) {
      if (extinf === null) throw new Error(`${file}: URI ${line} without EXTINF`);
      pl.segments.push({ duration: extinf, uri: line, path: path.join(dir, line), discontinuity, parts });
      parts = [];
      extinf = null;
      discontinuity = false;
      continue;
    }
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    if (!KNOWN.has(tag)) throw new Error(`${file}: unknown tag ${line}`);
    const attrs = () => parseAttributes(value);
    switch (tag) {
      case '#EXT-X-VERSION': pl.version = Number(value); break;
      case '#EXT-X-TARGETDURATION': pl.targetDuration = Number(value); break;
      case '#EXT-X-PART-INF': pl.partTarget = Number(attrs()['PART-TARGET']); break;
      case '#EXT-X-SERVER-CONTROL': {
        const a = attrs();
        pl.canBlockReload = a['CAN-BLOCK-RELOAD'] === 'YES';
        pl.partHoldBack = Number(a['PART-HOLD-BACK']);
        break;
      }
      case '#EXT-X-MEDIA-SEQUENCE': pl.mediaSequence = Number(value); break;
      case '#EXT-X-MAP': pl.map = attrs().URI; break;
      case '#EXT-X-DISCONTINUITY': discontinuity = true; break;
      case '#EXT-X-PART': {
        const a = attrs();
        parts.push({ duration: Number(a.DURATION), uri: a.URI, path: path.join(dir, a.URI), independent: a.INDEPENDENT === 'YES' });
        break;
      }
      case '#EXTINF': extinf = Number(value.split(',')[0]); break;
      case '#EXT-X-PRELOAD-HINT': pl.preloadHint = attrs(); break;
      case '#EXT-X-RENDITION-REPORT': {
        const a = attrs();
        pl.renditionReports.push({ uri: a.URI, lastMsn: Number(a['LAST-MSN']), lastPart: Number(a['LAST-PART']) });
        break;
      }
      case '#EXT-X-ENDLIST': pl.endList = true; break;
      default: break;
    }
  }
  pl.partsInProgress = parts;
  pl.segments.forEach((s, i) => { s.msn = pl.mediaSequence + i; });
  return pl;
}

// The rules of RFC 8216bis and the worker's contract, as a list of broken ones (empty: valid).
export function lowLatencyProblems(pl) {
  const problems = [];
  const fail = (what) => problems.push(what);
  if (!(pl.version >= 6)) fail(`EXT-X-VERSION ${pl.version}: EXT-X-MAP needs 6`);
  if (!(pl.targetDuration >= 1)) fail('no EXT-X-TARGETDURATION');
  if (!(pl.partTarget > 0)) fail('no EXT-X-PART-INF:PART-TARGET');
  // Parts of about 200-333 ms (issue 15), in whole frames: a 12.5 fps rung's 200 ms are 2 frames.
  else if (pl.partTarget < 0.15 || pl.partTarget > 0.34) fail(`PART-TARGET ${pl.partTarget}: not about 0.2-0.33 s`);
  if (!pl.canBlockReload) fail('no CAN-BLOCK-RELOAD=YES');
  if (!(pl.partHoldBack >= 3 * pl.partTarget - 1e-9)) fail(`PART-HOLD-BACK ${pl.partHoldBack} < 3 x ${pl.partTarget}`);
  if (pl.map !== 'init.mp4') fail(`EXT-X-MAP ${pl.map}`);
  if (!Number.isInteger(pl.mediaSequence)) fail('no EXT-X-MEDIA-SEQUENCE');
  const checkParts = (msn, parts, complete) => {
    parts.forEach((p, k) => {
      if (p.uri !== `p${msn}.${k}.m4s`) fail(`part ${k} of ${msn} is ${p.uri}`);
      if (p.duration > pl.partTarget + 1e-9) fail(`${p.uri} lasts ${p.duration} > PART-TARGET ${pl.partTarget}`);
      if ((k === 0) !== p.independent) fail(`${p.uri}: INDEPENDENT=${p.independent} (only a segment's first part starts with an IDR)`);
      const last = complete && k === parts.length - 1;
      if (!last && p.duration < pl.partTarget / 2 - 1e-9) fail(`${p.uri} lasts ${p.duration}, less than half the PART-TARGET ${pl.partTarget}`);
    });
  };
  for (const s of pl.segments) {
    if (s.uri !== `s${s.msn}.m4s`) fail(`segment ${s.msn} is ${s.uri}`);
    if (Math.round(s.duration) > pl.targetDuration) fail(`${s.uri} lasts ${s.duration} > target ${pl.targetDuration}`);
    checkParts(s.msn, s.parts, true);
    if (s.parts.length > 0) {
      const sum = s.parts.reduce((a, p) => a + p.duration, 0);
      if (Math.abs(sum - s.duration) > 0.001) fail(`${s.uri}: parts add up to ${sum}, EXTINF ${s.duration}`);
    }
  }
  const nextMsn = pl.mediaSequence + pl.segments.length;
  checkParts(nextMsn, pl.partsInProgress, false);
  // Parts listed for at least the last three target durations (or all there is).
  let withParts = pl.partsInProgress.reduce((a, p) => a + p.duration, 0);
  for (let i = pl.segments.length - 1; i >= 0 && withParts < 3 * pl.targetDuration - 0.001; i--) {
    if (pl.segments[i].parts.length === 0) { fail(`${pl.segments[i].uri} lists no parts within three target durations of the edge`); break; }
    withParts += pl.segments[i].duration;
  }
  if (!pl.endList) {
    const hint = pl.preloadHint;
    const want = `p${nextMsn}.${pl.partsInProgress.length}.m4s`;
    if (!hint) fail('no EXT-X-PRELOAD-HINT');
    else if (hint.TYPE !== 'PART' || hint.URI !== want) fail(`preload hint ${JSON.stringify(hint)}, not the next part ${want}`);
  }
  for (const r of pl.renditionReports) {
    if (!/^\.\.\/[0-9]+p\/index\.m3u8$/.test(r.uri)) fail(`rendition report ${r.uri}`);
    if (!Number.isInteger(r.lastMsn) || !Number.isInteger(r.lastPart)) fail(`rendition report ${JSON.stringify(r)}`);
  }
  return problems;
}
