// Accounts and access control end to end (issue 13): every API operation run as anonymous, a
// reporter who owns the video, a reporter who does not, an editor and an admin, against the real
// server; then signing in and out, CSRF, the sign-in throttle, token revocation and expiry, a
// disabled account, and the first start's one-time admin password.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  BIN, MEDIA, bearer, curl, curlJson, importFile, makeAccount, startServer, tempDataDir, waitFor,
} from './lib/server.mjs';

const execFileP = promisify(execFile);
const SHORT = path.join(MEDIA, 'videotestdata_1-video-streamable.mp4');
const TUS = ['-H', 'Tus-Resumable: 1.0.0'];

const LAN_PASSWORD = 'mật khẩu của Lan, đủ dài';

describe('who may do what: every operation as every kind of caller', () => {
  let server, dataDir;
  const as = {};  // role name -> curl args
  const ids = {};
  before(async () => {
    dataDir = tempDataDir('authz');
    server = await startServer({ dataDir, extraArgs: ['--workers', '0'] });
    as.anon = [];
    as.admin = server.auth;
    as.owner = bearer(await makeAccount(dataDir, 'lan', 'reporter', LAN_PASSWORD)).args;
    as.other = bearer(await makeAccount(dataDir, 'minh', 'reporter')).args;
    as.editor = bearer(await makeAccount(dataDir, 'bich', 'editor')).args;
    // Lan's draft: uploaded by Lan (an upload is a draft until an editor publishes it).
    const made = await curl(`${server.base}/files/`, [...as.owner, ...TUS, '-X', 'POST',
      '-H', `Upload-Length: ${fs.statSync(SHORT).size}`,
      '-H', `Upload-Metadata: filename ${Buffer.from('lan.mp4').toString('base64')}`]);
    assert.equal(made.status, 201, made.body.toString());
    ids.upload = made.headers.location.split('/').pop();
    const sent = await curl(`${server.base}${made.headers.location}`, [...as.owner, ...TUS, '-X', 'PATCH',
      '-H', 'Upload-Offset: 0', '-H', 'Content-Type: application/offset+octet-stream',
      '--data-binary', `@${SHORT}`]);
    assert.equal(sent.status, 204, sent.body.toString());
    ids.draft = ids.upload;
    // A second upload of Lan's that stays unfinished.
    const pending = await curl(`${server.base}/files/`, [...as.owner, ...TUS, '-X', 'POST', '-H', 'Upload-Length: 100']);
    ids.pending = pending.headers.location.split('/').pop();
    ids.published = (await importFile(dataDir, SHORT, ['--title', 'công khai'])).video_id;
    ids.unlisted = (await importFile(dataDir, SHORT, ['--visibility', 'unlisted'])).video_id;
    const jobs = await curlJson(`${server.base}/api/v1/jobs?video_id=${ids.draft}`, as.admin);
    ids.draftJob = jobs.json.jobs[0].id;
    const tokens = await curlJson(`${server.base}/api/v1/tokens`, as.owner);
    ids.ownerToken = tokens.json.tokens[0].id;
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  // [what, method, path, body, {anon, owner, other, editor, admin}] — read-only or idempotent
  // operations, so that the order of callers does not matter.
  const json = ['-H', 'Content-Type: application/json', '-d'];
  const table = () => [
    ['list videos', 'GET', '/api/v1/videos', null, { anon: 200, owner: 200, other: 200, editor: 200, admin: 200 }],
    ['get a draft', 'GET', `/api/v1/videos/${ids.draft}`, null, { anon: 404, owner: 200, other: 404, editor: 200, admin: 200 }],
    ['get an unlisted video by id', 'GET', `/api/v1/videos/${ids.unlisted}`, null, { anon: 200, owner: 200, other: 200, editor: 200, admin: 200 }],
    ['get a published video', 'GET', `/api/v1/videos/${ids.published}`, null, { anon: 200, owner: 200, other: 200, editor: 200, admin: 200 }],
    ['edit a draft', 'PATCH', `/api/v1/videos/${ids.draft}`, '{"title":"Lũ ở Yên Bái"}', { anon: 404, owner: 200, other: 404, editor: 200, admin: 200 }],
    ['edit a published video of nobody', 'PATCH', `/api/v1/videos/${ids.published}`, '{"location":"Yên Bái"}', { anon: 401, owner: 403, other: 403, editor: 200, admin: 200 }],
    ['keep a draft a draft', 'PATCH', `/api/v1/videos/${ids.draft}`, '{"visibility":"draft"}', { anon: 404, owner: 200, other: 404, editor: 200, admin: 200 }],
    ['publish (a no-op on a published video)', 'PATCH', `/api/v1/videos/${ids.published}`, '{"visibility":"published"}', { anon: 401, owner: 403, other: 403, editor: 200, admin: 200 }],
    ['delete a video that does not exist', 'DELETE', '/api/v1/videos/nonexistent', null, { anon: 404, owner: 404, other: 404, editor: 404, admin: 404 }],
    ['list every job', 'GET', '/api/v1/jobs', null, { anon: 401, owner: 403, other: 403, editor: 200, admin: 200 }],
    ['list a draft\'s jobs', 'GET', `/api/v1/jobs?video_id=${ids.draft}`, null, { anon: 404, owner: 200, other: 404, editor: 200, admin: 200 }],
    ['get a draft\'s job', 'GET', `/api/v1/jobs/${ids.draftJob}`, null, { anon: 404, owner: 200, other: 404, editor: 200, admin: 200 }],
    ['list encoders', 'GET', '/api/v1/encoders', null, { anon: 401, owner: [200, 501], other: [200, 501], editor: [200, 501], admin: [200, 501] }],
    ['who am I', 'GET', '/api/v1/session', null, { anon: 200, owner: 200, other: 200, editor: 200, admin: 200 }],
    ['list accounts', 'GET', '/api/v1/users', null, { anon: 401, owner: 403, other: 403, editor: 403, admin: 200 }],
    ['see an account', 'GET', '/api/v1/users/lan', null, { anon: 401, owner: 200, other: 403, editor: 403, admin: 200 }],
    ['change an account', 'PATCH', '/api/v1/users/minh', '{"role":"reporter"}', { anon: 401, owner: 403, other: 403, editor: 403, admin: 200 }],
    ['list own tokens', 'GET', '/api/v1/tokens', null, { anon: 401, owner: 200, other: 200, editor: 200, admin: 200 }],
    ['list Lan\'s tokens', 'GET', '/api/v1/tokens?user=lan', null, { anon: 401, owner: 200, other: 404, editor: 404, admin: 200 }],
    ['revoke a token that does not exist', 'DELETE', '/api/v1/tokens/999999', null, { anon: 401, owner: 404, other: 404, editor: 404, admin: 404 }],
    ['revoke Lan\'s token as someone else', 'DELETE', `/api/v1/tokens/${ids.ownerToken}`, null, { anon: 401, other: 404, editor: 404 }],
    ['resume Lan\'s upload (HEAD)', 'HEAD', `/files/${ids.pending}`, null, { anon: 401, owner: 200, other: 404, editor: 404, admin: 404 }],
    ['upload', 'POST', '/files/', null, { anon: 401, owner: 201, other: 201, editor: 201, admin: 201 }],
    ['list one\'s unfinished uploads', 'GET', '/api/v1/uploads', null, { anon: 401, owner: 200, other: 200, editor: 200, admin: 200 }],
  ];

  test('the table', async () => {
    const failures = [];
    for (const [what, method, p, body, expected] of table()) {
      for (const [who, want] of Object.entries(expected)) {
        const args = [...as[who], '-X', method];
        if (method === 'HEAD') args.splice(args.length - 2, 2, '-I');
        if (p.startsWith('/files')) args.push(...TUS, ...(method === 'POST' ? ['-H', 'Upload-Length: 10'] : []));
        if (body) args.push(...json, body);
        const r = await curlJson(server.base + p, args);
        const ok = Array.isArray(want) ? want.includes(r.status) : r.status === want;
        if (!ok) failures.push(`${what} as ${who}: ${r.status}, want ${want} (${r.body.toString().slice(0, 120)})`);
        // Refusals are JSON errors that say why.
        if (r.status >= 400 && method !== 'HEAD') {
          if (typeof r.json?.error?.message !== 'string') failures.push(`${what} as ${who}: no JSON error`);
          if (r.status === 401 && !p.startsWith('/files') && !/Bearer/.test(r.headers['www-authenticate'] ?? ''))
            failures.push(`${what} as ${who}: 401 without WWW-Authenticate`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  test('unfinished uploads are listed to their creator only', async () => {
    const listed = async (who) => (await curlJson(`${server.base}/api/v1/uploads`, as[who])).json.uploads.map((u) => u.id);
    assert.ok((await listed('owner')).includes(ids.pending), 'Lan sees her unfinished upload');
    for (const who of ['other', 'editor', 'admin']) {
      assert.ok(!(await listed(who)).includes(ids.pending), `${who} does not see Lan's upload`);
    }
    const mine = (await curlJson(`${server.base}/api/v1/uploads`, as.owner)).json.uploads.find((u) => u.id === ids.pending);
    assert.equal(mine.url, `/files/${ids.pending}`);
    assert.equal(typeof mine.offset, 'number');
    const bad = await curlJson(`${server.base}/api/v1/uploads?limit=0`, as.owner);
    assert.equal(bad.status, 400);
  });

  test('lists show each caller what it may see', async () => {
    const seen = async (who, q = '') => (await curlJson(`${server.base}/api/v1/videos${q}`, as[who])).json.videos.map((v) => v.id);
    assert.ok(!(await seen('anon')).includes(ids.draft), 'the public does not list a draft');
    assert.ok(!(await seen('anon')).includes(ids.unlisted), 'nor an unlisted video');
    assert.ok((await seen('anon')).includes(ids.published));
    assert.ok((await seen('owner')).includes(ids.draft), 'Lan lists her draft');
    assert.ok(!(await seen('other')).includes(ids.draft), 'Minh does not');
    assert.ok((await seen('editor')).includes(ids.draft), 'editors list everything');
    assert.deepEqual(await seen('owner', '?mine=1'), [ids.draft], 'mine=1: only her own');
    assert.deepEqual(await seen('anon', '?visibility=draft'), []);
    assert.ok(!(await seen('anon', '?q=video')).includes(ids.draft), 'search hides drafts too');
    assert.equal((await curlJson(`${server.base}/api/v1/videos?mine=1`)).status, 401);
  });

  test('only editors publish; a reporter may share her own draft as unlisted', async () => {
    const patch = (who, body) => curlJson(`${server.base}/api/v1/videos/${ids.draft}`, [...as[who], '-X', 'PATCH', ...json, body]);
    assert.equal((await patch('owner', '{"visibility":"published"}')).status, 403);
    assert.equal((await patch('owner', '{"visibility":"unlisted"}')).status, 200);
    assert.equal((await patch('owner', '{"visibility":"draft"}')).status, 200);
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${ids.draft}`)).status, 404, 'still hidden');
    const published = await patch('editor', '{"visibility":"published"}');
    assert.equal(published.status, 200);
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${ids.draft}`)).status, 200, 'the public sees it now');
    assert.equal((await patch('owner', '{"visibility":"draft"}')).status, 403, 'taking it down is an editor\'s call too');
    assert.equal((await patch('owner', '{"title":"Lũ ở Yên Bái (cập nhật)"}')).status, 200, 'she still edits her words');
    assert.equal((await patch('editor', '{"visibility":"draft"}')).status, 200);
  });

  test('jobs: the owner cancels and retries hers; others cannot', async () => {
    const post = (who, what) => curlJson(`${server.base}/api/v1/jobs/${ids.draftJob}/${what}`, [...as[who], '-X', 'POST']);
    assert.equal((await post('anon', 'cancel')).status, 404);
    assert.equal((await post('other', 'cancel')).status, 404);
    assert.equal((await post('owner', 'cancel')).status, 200);
    assert.equal((await post('owner', 'retry')).status, 200);
    assert.equal((await post('editor', 'cancel')).status, 200);
    assert.equal((await post('admin', 'retry')).status, 200);
  });

  test('deleting: editors and admins only', async () => {
    const victim = (await importFile(dataDir, SHORT)).video_id;
    const del = (who, id) => curl(`${server.base}/api/v1/videos/${id}`, [...as[who], '-X', 'DELETE']);
    assert.equal((await del('anon', victim)).status, 401);
    assert.equal((await del('owner', ids.draft)).status, 403, 'not even her own');
    assert.equal((await del('other', ids.draft)).status, 404, 'a draft she cannot see');
    assert.equal((await del('editor', victim)).status, 204);
    assert.equal((await del('admin', (await importFile(dataDir, SHORT)).video_id)).status, 204);
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${ids.draft}`, as.owner)).status, 200, 'the refused deletes deleted nothing');
  });

  test('events about a draft reach only those who may see it', async () => {
    const { default: WebSocket } = await import('ws');
    const listen = (args, extraHeaders = {}) => {
      const headers = args.length ? { Authorization: args[1].replace(/^Authorization: /, '') } : { ...extraHeaders };
      const ws = new WebSocket(`${server.base.replace('http', 'ws')}/ws`, { headers });
      const got = [];
      const hello = new Promise((resolve, reject) => {
        ws.on('message', (m) => { const e = JSON.parse(m.toString()); if (e.type === 'hello') resolve(); else got.push(e); });
        ws.on('error', reject);
      });
      return { ws, got, hello };
    };
    const clients = Object.fromEntries(['anon', 'owner', 'other', 'editor'].map((who) => [who, listen(as[who])]));
    // Lan's browser session, from this server's page and from another site's page (which the
    // browser may let send her cookie: cross-site WebSocket hijacking).
    const login = await curlJson(`${server.base}/api/v1/session`, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ name: 'lan', password: LAN_PASSWORD })]);
    const cookie = login.headers['set-cookie'].split(';')[0];
    clients.ownPage = listen([], { Cookie: cookie, Origin: server.base });
    clients.evilPage = listen([], { Cookie: cookie, Origin: 'http://evil.example' });
    await Promise.all(Object.values(clients).map((c) => c.hello));
    const title = `sự kiện ${Date.now()}`;
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${ids.draft}`, [...as.owner, '-X', 'PATCH', ...json, JSON.stringify({ title })])).status, 200);
    // The published video's change is public: once everyone heard it, they heard what came before.
    assert.equal((await curlJson(`${server.base}/api/v1/videos/${ids.published}`, [...as.editor, '-X', 'PATCH', ...json, '{"location":"Lào Cai"}'])).status, 200);
    const heard = (c, id) => c.got.some((e) => e.type === 'video.updated' && e.data.id === id);
    await waitFor(() => Object.values(clients).every((c) => heard(c, ids.published)), 'everyone to hear the public change', 10_000);
    assert.equal(heard(clients.owner, ids.draft), true, 'the owner hears of her draft');
    assert.equal(heard(clients.editor, ids.draft), true, 'editors do');
    assert.equal(heard(clients.other, ids.draft), false, 'another reporter does not');
    assert.equal(heard(clients.anon, ids.draft), false, 'the public does not');
    assert.equal(heard(clients.ownPage, ids.draft), true, 'her session from our page does');
    assert.equal(heard(clients.evilPage, ids.draft), false, 'her cookie from another site\'s page does not');
    for (const c of Object.values(clients)) c.ws.close();
    // A WebSocket with a bad token is refused at the handshake.
    const bad = new WebSocket(`${server.base.replace('http', 'ws')}/ws`, { headers: { Authorization: 'Bearer nrt_nope' } });
    const outcome = await new Promise((resolve) => {
      bad.on('open', () => resolve('open'));
      bad.on('unexpected-response', (req, res) => resolve(res.statusCode));
      bad.on('error', () => resolve('error'));
    });
    assert.equal(outcome, 401, 'refused with an answer');
  });
});

describe('signing in and out, CSRF, the throttle, tokens', () => {
  let server, dataDir;
  const password = 'mật khẩu rất dài của Lan';
  before(async () => {
    dataDir = tempDataDir('session');
    server = await startServer({ dataDir, extraArgs: ['--workers', '0'] });
    await makeAccount(dataDir, 'lan', 'reporter', password);
    await makeAccount(dataDir, 'minh', 'reporter', 'mật khẩu của Minh nè');
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  const signIn = (name, pass, extra = []) => curlJson(`${server.base}/api/v1/session`,
    ['-X', 'POST', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ name, password: pass }), ...extra]);
  const cookieOf = (r) => (r.headers['set-cookie'] || '').split(';')[0];

  test('a session cookie: sign in, act same-origin only, sign out', async () => {
    assert.equal((await signIn('lan', 'wrong password')).status, 401);
    assert.equal((await signIn('nobody', 'wrong password')).status, 401, 'the same answer for no such account');
    const r = await signIn('lan', password);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json.user.name, 'lan');
    assert.match(r.headers['set-cookie'], /^newsreel_session=nrt_[a-z2-7]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    const cookie = ['-H', `Cookie: ${cookieOf(r)}`];
    assert.equal((await curlJson(`${server.base}/api/v1/session`, cookie)).json.user.name, 'lan');
    // Changes need this server's own Origin (a page of another site cannot make them).
    const host = new URL(server.base).host;
    const create = (extra) => curl(`${server.base}/files/`, [...cookie, ...TUS, '-X', 'POST', '-H', 'Upload-Length: 5', ...extra]);
    assert.equal((await create([])).status, 403, 'no Origin, no Referer');
    assert.equal((await create(['-H', 'Origin: http://evil.example'])).status, 403);
    assert.equal((await create(['-H', `Origin: http://${host}`])).status, 201);
    assert.equal((await create(['-H', `Referer: http://${host}/upload.html`])).status, 201);
    const token = await curlJson(`${server.base}/api/v1/tokens`, [...cookie, '-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{}']);
    assert.equal(token.status, 403, 'cookie, no Origin');
    // Reads are not changes.
    assert.equal((await curlJson(`${server.base}/api/v1/tokens`, [...cookie, '-H', 'Origin: http://evil.example'])).status, 200);
    // A session is not an API token.
    assert.equal((await curl(`${server.base}/api/v1/tokens`, ['-H', `Authorization: Bearer ${cookieOf(r).split('=')[1]}`])).status, 401);
    const out = await curl(`${server.base}/api/v1/session`, [...cookie, '-X', 'DELETE', '-H', `Origin: http://${host}`]);
    assert.equal(out.status, 204);
    assert.match(out.headers['set-cookie'], /Max-Age=0/);
    assert.equal((await curlJson(`${server.base}/api/v1/session`, cookie)).json.user, null, 'signed out');
    assert.equal((await create(['-H', `Origin: http://${host}`])).status, 401);
  });

  test('failed sign-ins are throttled per account, then per address', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await signIn('minh', `guess ${i}`)).status, 401);
    const locked = await signIn('minh', 'mật khẩu của Minh nè');
    assert.equal(locked.status, 429, 'locked, even with the right password');
    assert.ok(Number(locked.headers['retry-after']) > 0, `Retry-After: ${locked.headers['retry-after']}`);
    assert.equal((await signIn('lan', password)).status, 200, 'another account is not locked');
    // This address has 5 (+2 above) failures; 20 lock the address for every account.
    for (let i = 0; i < 13; i++) await signIn(`someone${i}`, 'guess');
    assert.equal((await signIn('lan', password)).status, 429, 'the address is locked now');
  });
});

describe('tokens: revocation, expiry, disabled accounts, the first admin', () => {
  let server, dataDir;
  before(async () => {
    dataDir = tempDataDir('tokens');
    server = await startServer({ dataDir, accounts: false, extraArgs: ['--workers', '0'] });
  });
  after(async () => { await server?.stop(); fs.rmSync(dataDir, { recursive: true, force: true }); });

  test('first start: an admin with a one-time password, removed once changed', async () => {
    const file = path.join(dataDir, 'admin-password');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.match(server.log.join(''), /first account, "admin".*admin-password/);
    const first = fs.readFileSync(file, 'utf8').trim();
    const login = await curlJson(`${server.base}/api/v1/session`, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ name: 'admin', password: first })]);
    assert.equal(login.status, 200);
    const cookie = ['-H', `Cookie: ${login.headers['set-cookie'].split(';')[0]}`, '-H', `Origin: ${server.base}`];
    const change = (current, next) => curlJson(`${server.base}/api/v1/session/password`, [...cookie, '-X', 'POST',
      '-H', 'Content-Type: application/json', '-d', JSON.stringify({ current_password: current, new_password: next })]);
    assert.equal((await change('wrong one', 'a new admin password')).status, 403);
    assert.equal((await change(first, 'short')).status, 400);
    const changed = await change(first, 'a new admin password');
    assert.equal(changed.status, 200);
    assert.equal(fs.existsSync(file), false, 'the one-time password file is gone');
    const again = await curlJson(`${server.base}/api/v1/session`, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ name: 'admin', password: first })]);
    assert.equal(again.status, 401, 'the old password no longer works');
  });

  test('an API token: created, used, revoked; expiry and disabling take effect while running', async () => {
    const admin = bearer(await makeAccount(dataDir, 'ops', 'admin')).args;
    await makeAccount(dataDir, 'lan', 'reporter');
    const made = await curlJson(`${server.base}/api/v1/tokens`, [...admin, '-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', '{"label":"điện thoại","user":"lan","expires_in_days":30}']);
    assert.equal(made.status, 201, made.body.toString());
    assert.match(made.json.secret, /^nrt_/);
    assert.ok(made.json.expires_at > Date.now());
    const lan = bearer(made.json.secret).args;
    assert.equal((await curlJson(`${server.base}/api/v1/session`, lan)).json.user.name, 'lan');
    // The secret is shown once: listings never carry it, and the catalog keeps only a hash.
    const listed = await curlJson(`${server.base}/api/v1/tokens?user=lan`, admin);
    assert.ok(listed.json.tokens.every((t) => !('secret' in t)));
    for (const f of ['catalog.db', 'catalog.db-wal'].map((n) => path.join(dataDir, n)).filter(fs.existsSync))
      assert.equal(fs.readFileSync(f).includes(Buffer.from(made.json.secret)), false, `the secret is not in ${f}`);
    assert.equal((await curl(`${server.base}/api/v1/tokens/${made.json.id}`, [...admin, '-X', 'DELETE'])).status, 204);
    assert.equal((await curl(`${server.base}/api/v1/session`, lan)).status, 401, 'revoked through the API: at once');

    // Expiry, and the CLI from another process while the server runs: the server notices
    // within its token cache's time (5 s).
    const { stdout } = await execFileP(BIN, ['token', 'create', 'lan', '--data', dataDir]);
    const cli = bearer(stdout.trim()).args;
    assert.equal((await curl(`${server.base}/api/v1/tokens`, cli)).status, 200);
    const id = (await curlJson(`${server.base}/api/v1/tokens?user=lan`, admin)).json.tokens.at(-1).id;
    await execFileP('sqlite3', [path.join(dataDir, 'catalog.db'), `UPDATE tokens SET expires_at = 1 WHERE id = ${id}`]);
    await waitFor(async () => (await curl(`${server.base}/api/v1/tokens`, cli)).status === 401, 'the expired token to be refused', 15_000, 250);
    const fresh = bearer((await execFileP(BIN, ['token', 'create', 'lan', '--data', dataDir])).stdout.trim()).args;
    assert.equal((await curl(`${server.base}/api/v1/tokens`, fresh)).status, 200);
    await execFileP(BIN, ['user', 'disable', 'lan', '--data', dataDir]);
    await waitFor(async () => (await curl(`${server.base}/api/v1/tokens`, fresh)).status === 401, 'the disabled account to be refused', 15_000, 250);
    await execFileP(BIN, ['user', 'enable', 'lan', '--data', dataDir]);
    await waitFor(async () => (await curl(`${server.base}/api/v1/tokens`, fresh)).status === 200, 'the enabled account to work again', 15_000, 250);
  });

  test('admins manage accounts; an admin cannot lock themself out', async () => {
    const admin = bearer(await makeAccount(dataDir, 'root2', 'admin')).args;
    const made = await curlJson(`${server.base}/api/v1/users`, [...admin, '-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', '{"name":"thu","role":"editor","display_name":"Trần Thu"}']);
    assert.equal(made.status, 201, made.body.toString());
    assert.equal(made.json.password.length, 20, 'a generated password, shown once');
    const login = await curlJson(`${server.base}/api/v1/session`, ['-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ name: 'thu', password: made.json.password })]);
    assert.equal(login.status, 200);
    assert.equal((await curlJson(`${server.base}/api/v1/users`, [...admin, '-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', '{"name":"thu","role":"editor"}'])).status, 409, 'names are unique');
    assert.equal((await curlJson(`${server.base}/api/v1/users`, [...admin, '-X', 'POST', '-H', 'Content-Type: application/json',
      '-d', '{"name":"x","role":"viewer"}'])).status, 400, 'viewers need no account');
    assert.equal((await curlJson(`${server.base}/api/v1/users/root2`, [...admin, '-X', 'PATCH', '-H', 'Content-Type: application/json',
      '-d', '{"disabled":true}'])).status, 409);
    const reset = await curlJson(`${server.base}/api/v1/users/thu/password`, [...admin, '-X', 'POST']);
    assert.equal(reset.status, 200);
    assert.equal((await curlJson(`${server.base}/api/v1/session`, ['-H', `Cookie: ${login.headers['set-cookie'].split(';')[0]}`])).json.user, null,
      'a reset password ends the account\'s sessions');
    const { stdout } = await execFileP(BIN, ['user', 'list', '--json', '--data', dataDir]);
    assert.ok(JSON.parse(stdout).some((u) => u.name === 'thu' && u.role === 'editor'));
  });
});
