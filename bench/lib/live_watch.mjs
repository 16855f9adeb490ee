#!/usr/bin/env node
// Watches live HLS media playlists and records, for every segment, the wall-clock time at which
// it was first listed: what a player polling the playlist would see. Used by live_capacity.sh to
// tell whether a live encoder keeps up with a real-time input, the same way for newsreel and for
// ffmpeg.
//
//   node live_watch.mjs OUT.json T0_MS TIMEOUT_S PLAYLIST...
//
// Polls every playlist every 100 ms (a window of 15 segments of 2 s leaves ample time not to
// miss one) until each carries EXT-X-ENDLIST, or TIMEOUT_S seconds after T0_MS (epoch ms), or
// SIGTERM. Writes OUT.json: one array per playlist, in argument order, of
// {uri, seen: ms after T0_MS, duration: EXTINF seconds}, in media order. A playlist that
// never appeared gives an empty array.

import fs from 'node:fs';

const [outFile, t0Arg, timeoutArg, ...playlists] = process.argv.slice(2);
if (playlists.length === 0) {
  process.stderr.write('usage: live_watch.mjs OUT.json T0_MS TIMEOUT_S PLAYLIST...\n');
  process.exit(2);
}
const t0 = Number(t0Arg);
const deadline = t0 + Number(timeoutArg) * 1000;
const seen = playlists.map(() => new Map()); // uri -> {uri, seen, duration}
const ended = playlists.map(() => false);

function poll() {
  const now = Date.now();
  playlists.forEach((file, i) => {
    if (ended[i]) return;
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return; // not written yet
    }
    let duration = null;
    for (const line of text.split('\n')) {
      if (line.startsWith('#EXTINF:')) duration = parseFloat(line.slice(8));
      else if (line.startsWith('#EXT-X-ENDLIST')) ended[i] = true;
      else if (line && !line.startsWith('#')) {
        if (!seen[i].has(line)) seen[i].set(line, { uri: line, seen: now - t0, duration });
        duration = null;
      }
    }
  });
}

function finish() {
  poll();
  const out = seen.map((m) => [...m.values()]);
  fs.writeFileSync(outFile, JSON.stringify(out));
  process.exit(0);
}

process.on('SIGTERM', finish);
const timer = setInterval(() => {
  poll();
  if (ended.every(Boolean) || Date.now() > deadline) {
    clearInterval(timer);
    finish();
  }
}, 100);
