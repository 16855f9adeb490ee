// Signed media URLs end to end (docs/serving.md, "Signed URLs"): the real `newsreel serve`, real
// transcodes (`newsreel import` + the server's worker), URLs from `newsreel sign` and the API,
// curl as the client. Drafts and unlisted videos play only through a valid signature; every
// wrong one is refused on the master playlist, a rung playlist and a segment alike; published
// videos are served as before; a signed answer is never replayed to anyone else.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BIN, MEDIA, curl, curlJson, eventClient, execFileP, freePort, importFile, startServer, tempDataDir,
  waitFor,
} from './lib/server.mjs';

const CLIP = path.join(MEDIA, 'moviepy_big_buck_bunny_432_433.webm');  // 1 s: quick to transcode
const TTL = 3600;  // --signed-url-ttl

// Every API call goes through here: once accounts exist, the credentials go in these arguments.
// The API as the server's admin (startServer's account): drafts are visible to it.
let API_ARGS = [];
const api = (base, p, extra = []) => curlJson(base + p, [...API_ARGS, ...extra]);

// `newsreel sign --json`, with its options.
async function sign(dataDir, id, { address, expiresAt, expiresIn } = {}) {
  const args = ['sign', '--data', dataDir, id, '--json'];
  if (address) args.push('--address', address);
  if (expiresAt !== undefined) args.push('--expires-at', String(expiresAt));
  if (expiresIn !== undefined) args.push('--expires-in', String(expiresIn));
  const { stdout } = await execFileP(BIN, args);
  return JSON.parse(stdout);
}

// The parts of a prefix "/media/<id>/~<mode>.<expires>.<sig>/".
function partsOf(prefix) {
  const m = /^\/media\/([A-Za-z0-9_-]+)\/~([sa])\.(\d+)\.([0-9a-f]{64})\/$/.exec(prefix);
  assert.ok(m, `not a signed prefix: ${prefix}`);
  return { id: m[1], mode: m[2], expires: Number(m[3]), sig: m[4] };
}
const prefixOf = ({ id, mode, expires, sig }) => `/media/${id}/~${mode}.${expires}.${sig}/`;

// The documented recipe, computed here with Node's crypto from the key file: what a CMS that
// holds the key would do.
function recipePrefix(dataDir, id, expires) {
  const key = fs.readFileSync(path.join(dataDir, 'signing-key'));
  const sig = crypto.createHmac('sha256', key)
    .update(`newsreel-url-v1\n/media/${id}/\ns\n${expires}\n`).digest('hex');
  return `/media/${id}/~s.${expires}.${sig}/`;
}

// The files of a transcoded video, relative to its folder: the master playlist, the first rung
// playlist and its first segment, the poster and the storyboard.
function filesOf(dataDir, id) {
  const dir = path.join(dataDir, 'media', id);
  const master = fs.readFileSync(path.join(dir, 'master.m3u8'), 'utf8');
  const rung = master.split('\n').find((l) => l && !l.startsWith('#'));
  const rungText = fs.readFileSync(path.join(dir, rung), 'utf8');
  const segment = path.posix.join(path.posix.dirname(rung), rungText.split('\n').find((l) => l && !l.startsWith('#')));
  return { dir, master: 'master.m3u8', rung, segment, poster: 'poster.jpg', sprite: 'storyboard.jpg', vtt: 'storyboard.vtt' };
}

describe('signed URLs for drafts and unlisted videos', () => {
  let server, dataDir;
  const videos = {};  // draft, unlisted, published: {id, files}

  before(async () => {
    dataDir = tempDataDir('signed');
    server = await startServer({ dataDir, extraArgs: ['--workers', '1', '--signed-url-ttl', String(TTL)] });
    API_ARGS = server.auth;
    for (const visibility of ['draft', 'unlisted', 'published']) {
      const { video_id: id } = await importFile(dataDir, CLIP, ['--visibility', visibility, '--title', visibility]);
      videos[visibility] = { id };
    }
    for (const v of Object.values(videos)) {
      await waitFor(async () => {
        const r = await api(server.base, `/api/v1/videos/${v.id}`);
        if (r.json?.status === 'failed') throw new Error(`transcode failed: ${r.json.failure_reason}`);
        return r.json?.status === 'ready';
      }, `video ${v.id} ready`, 180_000);
      v.files = filesOf(dataDir, v.id);
    }
  });

  after(async () => {
    const exit = await server?.stop();
    assert.equal(exit?.code, 0, `clean exit on SIGTERM; log:\n${server?.log.join('')}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // Fetches `prefix + file` from 127.0.0.1, or from `from` (curl --interface).
  const fetchAs = (prefix, file, from) =>
    curlJson(server.base + prefix + file, from ? ['--interface', from] : []);

  function assertServed(r, v, file, what) {
    assert.equal(r.status, 200, `${what} ${file}: ${r.status} ${r.body.toString().slice(0, 200)}`);
    assert.ok(r.body.equals(fs.readFileSync(path.join(v.files.dir, file))), `${what} ${file}: the file's bytes`);
    assert.match(r.headers['cache-control'], /^private, max-age=\d+$/, `${what} ${file}`);
  }

  test('the key is 32 bytes, mode 0600, in the data directory', () => {
    const st = fs.statSync(path.join(dataDir, 'signing-key'));
    assert.equal(st.size, 32);
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('every wrong signature is refused on master, rung playlist and segment', async () => {
    const draft = videos.draft, other = videos.unlisted;
    const now = Math.floor(Date.now() / 1000);
    const valid = (await sign(dataDir, draft.id, { expiresIn: 600 })).prefix;
    const bound = (await sign(dataDir, draft.id, { address: '127.0.0.2' })).prefix;
    const expired = (await sign(dataDir, draft.id, { expiresAt: now - 60 })).prefix;
    const p = partsOf(valid), b = partsOf(bound);
    const flipped = p.sig.slice(0, -1) + (p.sig.endsWith('0') ? '1' : '0');
    // [what, prefix, video whose files are asked for, client address, status, error code]
    const cases = [
      ['valid', valid, draft, null, 200],
      ['valid, by the documented recipe', recipePrefix(dataDir, draft.id, p.expires), draft, null, 200],
      ['valid, bound to the client address', bound, draft, '127.0.0.2', 200],
      ['expired', expired, draft, null, 410, 'expired'],
      ['tampered signature', prefixOf({ ...p, sig: flipped }), draft, null, 403, 'permission_denied'],
      ['tampered expiry', prefixOf({ ...p, expires: p.expires + 3600 }), draft, null, 403, 'permission_denied'],
      ['expired, expiry pushed forward', prefixOf({ ...partsOf(expired), expires: now + 3600 }), draft, null, 403, 'permission_denied'],
      ["another video's path", prefixOf({ ...p, id: other.id }), other, null, 403, 'permission_denied'],
      ['wrong address', bound, draft, '127.0.0.1', 403, 'permission_denied'],
      ['address binding dropped', prefixOf({ ...b, mode: 's' }), draft, '127.0.0.2', 403, 'permission_denied'],
      ['malformed: not a number', `/media/${draft.id}/~s.12x4.${p.sig}/`, draft, null, 403, 'permission_denied'],
      ['malformed: overflowing expiry', `/media/${draft.id}/~s.99999999999999999999.${p.sig}/`, draft, null, 403, 'permission_denied'],
      ['malformed: upper-case hex', prefixOf({ ...p, sig: p.sig.toUpperCase() }), draft, null, 403, 'permission_denied'],
      ['malformed: short signature', prefixOf({ ...p, sig: p.sig.slice(2) }), draft, null, 403, 'permission_denied'],
      ['no signature', `/media/${draft.id}/`, draft, null, 404, 'not_found'],
    ];
    assert.notEqual(p.sig.toUpperCase(), p.sig, 'the signature has letters to upper-case');
    for (const [what, prefix, v, from, status, code] of cases) {
      for (const file of [v.files.master, v.files.rung, v.files.segment]) {
        const r = await fetchAs(prefix, file, from);
        if (status === 200) {
          assertServed(r, v, file, what);
        } else {
          assert.equal(r.status, status, `${what}: ${prefix}${file} from ${from || '127.0.0.1'}: ${r.body}`);
          assert.equal(r.json?.error?.code, code, `${what} ${file}: ${r.body}`);
          assert.equal(r.headers['cache-control'], 'no-store', `${what} ${file}`);
        }
      }
    }
    // The log says who was refused (the path carries the refused signature).
    await waitFor(() => server.log.join('').includes(`-> 403`), 'a log line for a refusal', 5_000);
  });

  test('one signature covers every file of the video: playlists, segments, poster, storyboard', async () => {
    for (const v of [videos.draft, videos.unlisted]) {
      const { prefix, master } = await sign(dataDir, v.id);
      assert.equal(master, `${prefix}master.m3u8`);
      // As a player does: resolve the URIs inside each playlist against the URL it came from.
      const seen = new Set();
      const walk = async (url) => {
        const pathname = new URL(url).pathname;
        if (seen.has(pathname)) return;
        seen.add(pathname);
        const r = await curl(url);
        const file = pathname.slice(prefix.length);
        assertServed(r, v, file, 'resolved');
        if (!file.endsWith('.m3u8')) return;
        for (const line of r.body.toString().split('\n')) {
          const uri = line.startsWith('#') ? /URI="([^"]+)"/.exec(line)?.[1] : line.trim();
          if (uri) await walk(new URL(uri, url).href);
        }
      };
      await walk(server.base + master);
      assert.ok([...seen].some((s) => s.endsWith('.ts') || s.endsWith('.m4s')), `segments reached: ${[...seen].join(' ')}`);
      assert.ok([...seen].some((s) => s.endsWith('iframes.m3u8')), 'I-frame playlists reached');
      for (const file of [v.files.poster, v.files.sprite, v.files.vtt]) {
        assertServed(await fetchAs(prefix, file), v, file, 'asset');
        assert.equal((await fetchAs(`/media/${v.id}/`, file)).status, 404, `${file} without a signature`);
      }
      // The storyboard's cues point at the sprite relative to the VTT: under the same prefix.
      const vttUrl = server.base + prefix + v.files.vtt;
      const cue = (await curl(vttUrl)).body.toString().split('\n').find((l) => l.includes('#xywh='));
      const sprite = new URL(cue.trim(), vttUrl);
      sprite.hash = '';
      assertServed(await curl(sprite.href), v, v.files.sprite, 'storyboard cue');
    }
  });

  test('the expiry bounds Cache-Control; HEAD, Range and gzip work through a signature', async () => {
    const v = videos.draft;
    const { prefix } = await sign(dataDir, v.id, { expiresIn: 120 });
    const seg = await fetchAs(prefix, v.files.segment);
    const maxAge = Number(/max-age=(\d+)/.exec(seg.headers['cache-control'])[1]);
    assert.ok(maxAge <= 120 && maxAge > 0, `segment max-age ${maxAge} within the URL's 120 s`);
    const master = await fetchAs(prefix, v.files.master);
    assert.ok(Number(/max-age=(\d+)/.exec(master.headers['cache-control'])[1]) <= 120);
    const head = await curl(server.base + prefix + v.files.segment, ['-I']);
    assert.equal(head.status, 200);
    assert.match(head.headers['cache-control'], /^private, max-age=\d+$/);
    const range = await curl(server.base + prefix + v.files.segment, ['-r', '0-187']);
    assert.equal(range.status, 206);
    assert.equal(range.body.length, 188);
    const gz = await curl(server.base + prefix + v.files.master, ['-H', 'Accept-Encoding: gzip']);
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(gz.headers['cache-control'], /^private, max-age=\d+$/);
    assert.equal((await curl(server.base + prefix + v.files.master, ['-X', 'POST'])).status, 405);
  });

  test('unlisted: 404 without a signature, played with one', async () => {
    const v = videos.unlisted;
    for (const file of [v.files.master, v.files.rung, v.files.segment])
      assert.equal((await fetchAs(`/media/${v.id}/`, file)).status, 404, file);
    const { prefix } = await sign(dataDir, v.id);
    for (const file of [v.files.master, v.files.rung, v.files.segment]) assertServed(await fetchAs(prefix, file), v, file, 'unlisted');
  });

  test('published videos are served as before, without a signature', async () => {
    const v = videos.published;
    const expected = {
      [v.files.master]: 'public, max-age=300', [v.files.rung]: 'public, max-age=300',
      [v.files.segment]: 'public, max-age=31536000, immutable', [v.files.poster]: 'public, max-age=3600',
      [v.files.vtt]: 'public, max-age=3600',
    };
    for (const [file, cacheControl] of Object.entries(expected)) {
      for (let i = 0; i < 2; i++) {  // the second answer of a small file comes from the response cache
        const r = await fetchAs(`/media/${v.id}/`, file);
        assert.equal(r.status, 200, file);
        assert.equal(r.headers['cache-control'], cacheControl, file);
        assert.ok(r.body.equals(fs.readFileSync(path.join(v.files.dir, file))), file);
      }
    }
    const video = await api(server.base, `/api/v1/videos/${v.id}`);
    assert.deepEqual(video.json.playback, {
      master: `/media/${v.id}/master.m3u8`, hls: `/media/${v.id}/master.m3u8`,
      poster: `/media/${v.id}/poster.jpg`, expires_at: null,
    });
    assert.equal(video.json.poster_url, `/media/${v.id}/poster.jpg`);
  });

  test('a signed answer is never replayed to another request, nor an unsigned one to a signed', async () => {
    // Enough requests that both service threads answer some (new connection each time).
    const pub = videos.published, draft = videos.draft;
    const pubPrefix = (await sign(dataDir, pub.id)).prefix;
    const draftPrefix = (await sign(dataDir, draft.id)).prefix;
    for (let i = 0; i < 8; i++) {
      assert.equal((await fetchAs(`/media/${pub.id}/`, pub.files.master)).headers['cache-control'], 'public, max-age=300');
      assert.match((await fetchAs(pubPrefix, pub.files.master)).headers['cache-control'], /^private, /);
      assertServed(await fetchAs(draftPrefix, draft.files.master), draft, draft.files.master, 'draft');
      assert.equal((await fetchAs(`/media/${draft.id}/`, draft.files.master)).status, 404, 'the draft, unsigned, after a signed answer');
    }
  });

  test('the API hands out signed playback URLs for drafts and unlisted videos', async () => {
    for (const name of ['draft', 'unlisted']) {
      const v = videos[name];
      const before = Math.floor(Date.now() / 1000);
      const r = await api(server.base, `/api/v1/videos/${v.id}`);
      const after = Math.floor(Date.now() / 1000);
      assert.equal(r.status, 200);
      const { playback } = r.json;
      const prefix = playback.master.slice(0, -'master.m3u8'.length);
      const p = partsOf(prefix);
      assert.equal(p.id, v.id);
      assert.equal(p.mode, 's');
      assert.equal(playback.expires_at, p.expires);
      assert.ok(p.expires >= before + TTL && p.expires < after + TTL + 300, `expires_at ${p.expires}: --signed-url-ttl ${TTL}, rounded up to 5 min`);
      assert.equal(p.expires % 300, 0);
      assert.equal(playback.hls, playback.master);
      assert.equal(playback.poster, `${prefix}poster.jpg`);
      assert.equal(r.json.poster_url, playback.poster);
      assert.equal(r.json.storyboard.vtt_url, `${prefix}storyboard.vtt`);
      for (const url of [playback.master, playback.poster, r.json.storyboard.image_url, r.json.storyboard.vtt_url,
        ...r.json.renditions.map((x) => x.playlist_url)]) {
        const got = await curl(server.base + url);
        assert.equal(got.status, 200, url);
      }
      // The list carries them too.
      const list = await api(server.base, `/api/v1/videos?visibility=${name}`);
      const listed = list.json.videos.find((x) => x.id === v.id);
      assert.equal(partsOf(listed.playback.master.slice(0, -'master.m3u8'.length)).id, v.id);
    }
  });

  test('PATCH: a video made draft is hidden at its plain path, and its event carries no signed URL', async () => {
    const v = videos.published;
    const events = eventClient(server.base, server.authHeaders);
    await events.hello;
    try {
      const r = await api(server.base, `/api/v1/videos/${v.id}`, ['-X', 'PATCH', '-H', 'Content-Type: application/json',
        '-d', '{"visibility":"draft"}']);
      assert.equal(r.status, 200);
      assert.equal(partsOf(r.json.playback.master.slice(0, -'master.m3u8'.length)).id, v.id);
      assert.equal((await fetchAs(`/media/${v.id}/`, v.files.master)).status, 404);
      assertServed(await curl(server.base + r.json.playback.master), v, v.files.master, 'now a draft');
      const updated = await events.next((e) => e.type === 'video.updated' && e.data.id === v.id, 'video.updated', 10_000);
      assert.equal(updated.data.playback, null);
      assert.equal(updated.data.poster_url, null);
      assert.ok(!JSON.stringify(updated).includes('~'), `no signed URL in the event: ${JSON.stringify(updated)}`);
      await api(server.base, `/api/v1/videos/${v.id}`, ['-X', 'PATCH', '-d', '{"visibility":"published"}']);
      assert.equal((await fetchAs(`/media/${v.id}/`, v.files.master)).status, 200);
    } finally {
      events.close();
    }
  });

  test('newsreel sign refuses what it cannot sign', async () => {
    const run = (args) => execFileP(BIN, ['sign', ...args]).then(() => ({ code: 0 }), (e) => ({ code: e.code, stderr: e.stderr }));
    let r = await run(['--data', dataDir, 'nosuchvideo000']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no video nosuchvideo000/);
    r = await run(['--data', dataDir, videos.draft.id, '--address', 'not-an-ip']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not an IP address/);
    const empty = tempDataDir('signed-empty');
    r = await run(['--data', empty, videos.draft.id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no catalog/);
    assert.ok(!fs.existsSync(path.join(empty, 'signing-key')), 'no key made for a folder without a catalog');
    fs.rmSync(empty, { recursive: true, force: true });
    // The plain output is the master playlist's path.
    const { stdout } = await execFileP(BIN, ['sign', '--data', dataDir, videos.draft.id, '--expires-in', '60']);
    assert.match(stdout.trim(), new RegExp(`^/media/${videos.draft.id}/~s\\.\\d+\\.[0-9a-f]{64}/master\\.m3u8$`));
    assert.equal((await curl(server.base + stdout.trim())).status, 200);
  });

  test('the key survives a restart: URLs signed before still play', async () => {
    const v = videos.draft;
    const { prefix } = await sign(dataDir, v.id);
    const key = fs.readFileSync(path.join(dataDir, 'signing-key'));
    const exit = await server.stop();
    assert.equal(exit.code, 0);
    server = await startServer({ dataDir, token: server.token, extraArgs: ['--workers', '1'] });
    assert.ok(fs.readFileSync(path.join(dataDir, 'signing-key')).equals(key), 'the same key');
    for (const file of [v.files.master, v.files.rung, v.files.segment]) assertServed(await fetchAs(prefix, file), v, file, 'after a restart');
  });

  test('a key others may read stops the server at start, with a reason', async () => {
    const exit = await server.stop();
    assert.equal(exit.code, 0);
    const keyFile = path.join(dataDir, 'signing-key');
    fs.chmodSync(keyFile, 0o644);
    // Were the key accepted, the server would run until the timeout kills it: not exit 1.
    const port = String(await freePort());
    const r = await execFileP(BIN, ['serve', '--data', dataDir, '--srt-port', '0', '--host', '127.0.0.1', '--port', port],
      { timeout: 20_000 }).then(() => ({ code: 0 }), (e) => e);
    assert.equal(r.code, 1, `exit: ${r.code} ${r.signal}`);
    assert.match(r.stderr, /signing key .* mode 644: others may read it; chmod 600 it/);
    fs.chmodSync(keyFile, 0o600);
    server = await startServer({ dataDir, token: server.token, extraArgs: ['--workers', '1'] });
  });
});
