// Playback on a weak link (issue 17 point 6): watch.html in Chromium whose network is throttled
// to 300 kb/s with a 300 ms round trip (lib/weak_link.mjs), against a real `newsreel serve`
// that transcoded two real clips (each with a cellular 144p rung under a taller one):
//   * the first video segment the page fetches is from the lowest video rung;
//   * playback starts, and plays to the end without one `waiting` stall after it started;
//   * hls.js never moves above the rungs the link can carry (every segment fetched is from a
//     rung whose BANDWIDTH is under the link's rate), and neither it nor the page reports an error;
//   * on a phone, the list's cards load the 640-wide posters, never poster.jpg, except for a video
//     without them (transcoded before they existed), whose card falls back to poster.jpg.
// The time to the first frame and the bytes are printed, never asserted (bench/weak_link.sh
// measures them).
//
//   cd tests/e2e && NEWSREEL_BIN=../../build/app/newsreel node --test weak_link.test.mjs

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { WAIT_MS, startNewsroom } from './lib/newsroom.mjs';
import { WEAK_LINK, emulateWeakLink, meterNetwork, recordPlayback, segmentRung, stallsAfterStart } from './lib/weak_link.mjs';

const CLIPS = [
  { file: 'moviepy_chaplin.mp4', title: 'Chaplin trên đường yếu' },  // 9.6 s 360p: grainy film, the heavier 144p
  { file: 'nomexif_webm_480.webm', title: 'Phố đêm trên đường yếu' },  // 30.5 s 270p
];
const LINK_BITS_PER_SECOND = WEAK_LINK.downloadThroughput * 8;

let room;
before(async () => {
  room = await startNewsroom({ prefix: 'weak' });
  for (const clip of CLIPS) clip.id = await room.importClip(clip);
  for (const clip of CLIPS) clip.video = await room.waitUntilReady(clip.id);
});
after(async () => { await room?.stop(); });

for (const clip of CLIPS) {
  test(`${clip.file}: starts on the cellular rung and plays to the end without a stall at 300 kb/s`, { timeout: WAIT_MS + 120_000 }, async () => {
    const rungs = clip.video.renditions.filter((r) => r.height > 0).sort((a, b) => a.height - b.height);
    assert.ok(rungs.length >= 2, `the ladder has several video rungs: ${JSON.stringify(clip.video.renditions)}`);
    const lowest = rungs[0];
    assert.ok(lowest.bandwidth < LINK_BITS_PER_SECOND, `the lowest rung (${lowest.name}, ${lowest.bandwidth} b/s) fits the link`);
    assert.ok(rungs[1].bandwidth > LINK_BITS_PER_SECOND, 'the next rung does not fit: the test can tell them apart');

    const segments = [];
    let meter;
    const { page, problems } = await room.openPage(`/watch.html?id=${clip.id}`, {
      setUp: async (p) => {
        await emulateWeakLink(p);
        meter = await meterNetwork(p);
        await recordPlayback(p);
        p.on('request', (r) => { const rung = segmentRung(r.url()); if (rung) segments.push(rung); });
      },
    });
    await page.waitForFunction(() => window.__playback.events.some((e) => e.type === 'ended'), null, { timeout: WAIT_MS, polling: 250 });
    const rec = await page.evaluate(() => window.__playback);
    const player = await page.evaluate(() => ({
      errors: window.newsreel.errors, currentTime: document.getElementById('video').currentTime,
      duration: document.getElementById('video').duration,
    }));
    const firstPlaying = rec.events.find((e) => e.type === 'playing');
    console.log(`${clip.file}: first frame at ${Math.round(rec.firstFrameAt)} ms, playing at ${Math.round(firstPlaying?.at)} ms; ` +
      `segments ${segments.join(' ')}; ${meter.bytes()} bytes received; events ` +
      rec.events.map((e) => `${e.type}@${e.t.toFixed(1)}`).join(' '));

    assert.equal(segments[0], lowest.name, `the first video segment is from the lowest rung (fetched: ${segments.join(' ')})`);
    const fitting = new Set(rungs.filter((r) => r.bandwidth < LINK_BITS_PER_SECOND).map((r) => r.name));
    assert.deepEqual(segments.filter((s) => !fitting.has(s)), [], 'no segment from a rung the link cannot carry');
    assert.ok(firstPlaying, 'playback started');
    assert.deepEqual(stallsAfterStart(rec.events), [], 'no `waiting` after playback started');
    assert.ok(player.currentTime >= clip.video.duration_seconds - 1, `played to the end (${player.currentTime} of ${clip.video.duration_seconds} s)`);
    assert.deepEqual(player.errors, [], 'hls.js reported no error');
    assert.deepEqual(problems, [], 'no page errors');
    await page.context().close();
  });
}

test('index.html on a phone: cards take the 640-wide posters; poster.jpg only for a video without them', { timeout: WAIT_MS }, async () => {
  const [withSizes, older] = CLIPS;
  for (const w of [320, 640]) fs.rmSync(path.join(room.dataDir, 'media', older.id, `poster-${w}.jpg`));
  const context = await room.browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  const images = [];
  const { page, problems } = await room.openPage('/', {
    context,
    setUp: async (p) => {
      await emulateWeakLink(p);
      p.on('response', (r) => { if (r.request().resourceType() === 'image') images.push(`${new URL(r.url()).pathname} ${r.status()}`); });
    },
  });
  for (const clip of CLIPS) {
    await page.waitForFunction((id) => document.querySelector(`.card[data-id="${id}"] img`)?.naturalWidth > 0, clip.id, { timeout: WAIT_MS, polling: 100 });
  }
  const shown = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.card')].map((c) => [c.dataset.id, new URL(c.querySelector('img').currentSrc).pathname])));
  // Distinct requests: the list is read twice (at once, and after the socket's hello), and a card
  // drawn again while its first 404 was in flight may ask once more.
  const posters = (clip) => [...new Set(images.filter((i) => i.includes(`/media/${clip.id}/`)))].sort();
  assert.deepEqual(posters(withSizes), [`/media/${withSizes.id}/poster-640.jpg 200`], 'the card of a video with poster sizes');
  assert.equal(shown[withSizes.id], `/media/${withSizes.id}/poster-640.jpg`, 'the card shows it');
  assert.deepEqual(posters(older), [`/media/${older.id}/poster-640.jpg 404`, `/media/${older.id}/poster.jpg 200`], 'the card of a video without them');
  assert.equal(shown[older.id], `/media/${older.id}/poster.jpg`, 'the card shows poster.jpg');
  assert.deepEqual(problems.filter((p) => !p.includes('404')), [], 'no page errors but the expected 404');
  await context.close();
});
