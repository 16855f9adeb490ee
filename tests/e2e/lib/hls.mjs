// Parsers for the two kinds of HLS playlists newsreel writes (RFC 8216):
// the multivariant ("master") playlist and media playlists (including I-frame playlists).
// They are deliberately strict about syntax and lenient about unknown tags, so that
// the tests can assert on what is there rather than crash on what is not.

import fs from 'node:fs';
import path from 'node:path';

// Parses an RFC 8216 attribute list (`A=1,B="x,y",C=0x1F`) into an object of strings.
// Quoted values are returned without their quotes.
export function parseAttributes(text) {
  const attributes = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)(?:,|$)/gy;
  let match;
  while (re.lastIndex < text.length && (match = re.exec(text)) !== null) {
    const [, name, raw] = match;
    attributes[name] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
  }
  if (re.lastIndex !== 0 && re.lastIndex < text.length) {
    throw new Error(`unparseable attribute list near ${JSON.stringify(text.slice(re.lastIndex))}`);
  }
  return attributes;
}

function playlistLines(text, file) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines[0] !== '#EXTM3U') throw new Error(`${file}: first line is ${JSON.stringify(lines[0])}, not #EXTM3U`);
  return lines;
}

// Reads a multivariant playlist. Returns
//   { tags: Set of tag names seen, variants: [{attrs, uri, path}], iframeVariants: [{attrs, uri, path}] }
// where `path` is the variant's URI resolved against the playlist's folder.
export function readMasterPlaylist(file) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = playlistLines(text, file);
  const dir = path.dirname(file);
  const master = { text, tags: new Set(), variants: [], iframeVariants: [] };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.startsWith('#')) continue; // URIs are consumed with their EXT-X-STREAM-INF
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    master.tags.add(tag);
    if (tag === '#EXT-X-STREAM-INF') {
      const attrs = parseAttributes(line.slice(colon + 1));
      const uri = lines[i + 1];
      if (uri === undefined || uri.startsWith('#')) throw new Error(`${file}: EXT-X-STREAM-INF without a URI line after it`);
      master.variants.push({ attrs, uri, path: path.join(dir, uri) });
      i++;
    } else if (tag === '#EXT-X-I-FRAME-STREAM-INF') {
      const attrs = parseAttributes(line.slice(colon + 1));
      master.iframeVariants.push({ attrs, uri: attrs.URI, path: attrs.URI && path.join(dir, attrs.URI) });
    }
  }
  return master;
}

// Reads a media playlist. Returns
//   { tags: Map tag -> value string, targetDuration, playlistType, endList, iframesOnly,
//     segments: [{duration, title, uri, path, byteRange: {length, offset}|null}] }
// BYTERANGE offsets that are omitted continue from the previous range of the same URI (RFC 8216 4.3.2.2).
export function readMediaPlaylist(file) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = playlistLines(text, file);
  const dir = path.dirname(file);
  const playlist = { text, tags: new Map(), segments: [], endList: false, iframesOnly: false };
  let pending = null; // EXTINF (and BYTERANGE) waiting for their URI line
  const nextOffset = new Map();
  for (const line of lines.slice(1)) {
    if (line.startsWith('#EXTINF:')) {
      const [duration, title = ''] = line.slice('#EXTINF:'.length).split(',');
      pending = { duration: Number(duration), title, byteRange: null };
      if (!Number.isFinite(pending.duration)) throw new Error(`${file}: bad EXTINF ${line}`);
    } else if (line.startsWith('#EXT-X-BYTERANGE:')) {
      if (!pending) throw new Error(`${file}: EXT-X-BYTERANGE before EXTINF`);
      const [length, offset] = line.slice('#EXT-X-BYTERANGE:'.length).split('@');
      pending.byteRange = { length: Number(length), offset: offset === undefined ? null : Number(offset) };
    } else if (line.startsWith('#')) {
      const colon = line.indexOf(':');
      const tag = colon < 0 ? line : line.slice(0, colon);
      playlist.tags.set(tag, colon < 0 ? '' : line.slice(colon + 1));
      if (tag === '#EXT-X-ENDLIST') playlist.endList = true;
      if (tag === '#EXT-X-I-FRAMES-ONLY') playlist.iframesOnly = true;
    } else {
      if (!pending) throw new Error(`${file}: segment URI ${line} without EXTINF`);
      pending.uri = line;
      pending.path = path.join(dir, line);
      if (pending.byteRange) {
        if (pending.byteRange.offset === null) pending.byteRange.offset = nextOffset.get(line) ?? 0;
        nextOffset.set(line, pending.byteRange.offset + pending.byteRange.length);
      }
      playlist.segments.push(pending);
      pending = null;
    }
  }
  playlist.targetDuration = playlist.tags.has('#EXT-X-TARGETDURATION') ? Number(playlist.tags.get('#EXT-X-TARGETDURATION')) : null;
  playlist.playlistType = playlist.tags.get('#EXT-X-PLAYLIST-TYPE') ?? null;
  return playlist;
}

// RFC 8216 4.3.3.1: "The EXTINF duration of each Media Segment in the Playlist file, when rounded
// to the nearest integer, MUST be less than or equal to the target duration".
export function roundedSegmentDuration(seconds) {
  return Math.round(seconds);
}

// Expected RFC 6381 codec string for an H.264 stream, from the first SPS's
// profile_idc, constraint flags byte and level_idc: avc1.PPCCLL.
export function avc1CodecString(sps) {
  const hex = (n) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(sps.profileIdc)}${hex(sps.constraintFlags)}${hex(sps.levelIdc)}`;
}
