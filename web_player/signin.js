// Sign in, sign out, change one's own password.
//
// Signed out: the form (POST /api/v1/session); a wrong name or password and a throttled account
// (429: says when to try again) are said in words. Signed in, the page goes to `?next=` (only a
// relative path on this server: anything else is ignored) or to the dashboard. Opened while
// signed in without `?next=`, it is the account page: who, sign out, and a new password (POST
// /api/v1/session/password; the other sessions end, this browser stays signed in).
import { api, errorText, renderNav, sessionUser, setText } from './app.js';

const $ = (name) => document.getElementById(name);
const params = new URLSearchParams(location.search);

// Where to go after signing in: `next` when it is a relative path that stays on this server
// ("dashboard.html", "/watch.html?id=x"), else null. No scheme ("https:", "javascript:"), no
// network-path ("//host", "/\host"), no backslashes or control characters.
function safeNext(next) {
  if (!next || /[\\\u0000-\u001f\u007f]/.test(next) || /^[a-z][a-z0-9+.-]*:/i.test(next) || next.startsWith('//')) return null;
  let url;
  try { url = new URL(next, location.href); } catch { return null; }
  if (url.origin !== location.origin) return null;
  return url.pathname + url.search + url.hash;
}

const next = safeNext(params.get('next'));

// The page's status line; `key` null hides it.
function say(node, key, values, isError = false) {
  if (key) setText(node, key, values); else node.textContent = '';
  node.className = isError ? 'error' : 'notice';
  node.hidden = !key;
}

function showSignedOut() {
  renderNav(null);
  $('account').hidden = true;
  $('signin-form').hidden = false;
  setText($('heading'), 'signin.heading');
  if (params.has('signedout')) say($('message'), 'signin.signedOut');
  else if (next) say($('message'), 'signin.needed');
  else say($('message'), null);
  $('signin-name').focus();
}

function showAccount(user) {
  renderNav(user);
  $('signin-form').hidden = true;
  $('account').hidden = false;
  setText($('heading'), 'signin.accountHeading');
  say($('message'), null);
  $('account-name').textContent = user.display_name || user.name;
  setText($('account-role'), `session.role.${user.role}`);
  $('password-user').value = user.name;  // for password managers
  if (next) $('continue').href = next;
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const error = $('signin-error');
  error.hidden = true;
  $('signin-button').disabled = true;
  try {
    await api('/api/v1/session', {
      method: 'POST', body: { name: $('signin-name').value.trim(), password: $('signin-password').value },
    });
    location.assign(next || 'dashboard.html');
    return;  // the button stays disabled while the next page loads
  } catch (err) {
    $('signin-password').value = '';
    if (err.status === 401) setText(error, 'session.wrongPassword');
    else if (err.status === 429) setText(error, 'signin.throttled', { wait: err.retryAfter || 900 });
    else setText(error, 'session.signInFailed', { reason: errorText(err) });
    error.hidden = false;
    $('signin-password').focus();
  }
  $('signin-button').disabled = false;
});

$('account-signout').addEventListener('click', async () => {
  $('account-signout').disabled = true;
  try {
    await api('/api/v1/session', { method: 'DELETE' });
    location.replace('signin.html?signedout=1');
  } catch (err) {
    say($('message'), 'signin.signOutFailed', { reason: errorText(err) }, true);
    $('account-signout').disabled = false;
  }
});

$('password-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const message = $('password-message');
  const fresh = $('new-password').value;
  if (fresh !== $('repeat-password').value) {
    say(message, 'signin.passwordMismatch', undefined, true);
    return;
  }
  $('password-button').disabled = true;
  try {
    await api('/api/v1/session/password', {
      method: 'POST', body: { current_password: $('current-password').value, new_password: fresh },
    });
    $('password-form').reset();
    say(message, 'signin.passwordChanged');
  } catch (err) {
    if (err.status === 403) say(message, 'signin.currentWrong', undefined, true);
    else if (err.status === 400) say(message, 'signin.passwordTooWeak', undefined, true);
    else if (err.status === 429) say(message, 'signin.throttled', { wait: err.retryAfter || 900 }, true);
    else say(message, 'signin.passwordFailed', { reason: errorText(err) }, true);
  } finally {
    $('password-button').disabled = false;
  }
});

// Who is this? Without an answer (no network, the server restarting) the page keeps asking.
async function start() {
  for (let tries = 0; ; tries++) {
    try {
      const user = await sessionUser({ fresh: tries > 0 });
      if (user && next) location.replace(next);
      else if (user) showAccount(user);
      else showSignedOut();
      return;
    } catch (err) {
      say($('message'), 'signin.unreachable', { reason: errorText(err) }, true);
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
}
start();
