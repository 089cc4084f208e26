// Access control on the browser side (docs/api.md, "Access"): a link's token is traded
// for an HttpOnly session cookie (POST /api/session) and leaves the address bar; pages
// ask who they are (GET /api/session) to offer what the role allows; and the API's
// 401, 403 and 410 become pages that say what to do.
// DOM hooks: #auth-error (no valid session: ask the host for a new link),
// #share-expired (a share link expired or was revoked), #access-denied (the link does
// not open this page).
import { el, icon } from './ui.js';

/** fetch, with the JSON body (or {}) read: { status, ok, body, headers }; status 0 when unreachable. */
export async function api(url, options = {}) {
  let res;
  try {
    res = await fetch(url, options);
  } catch (err) {
    return { status: 0, ok: false, body: { error: 'the server cannot be reached' }, headers: new Headers() };
  }
  const body = res.status === 204 ? {} : await res.json().catch(() => ({}));
  return { status: res.status, ok: res.ok, body, headers: res.headers };
}

/** Trades a link's token for a session cookie: { status, ok, body } of POST /api/session. */
export function startSession(token) {
  return api('/api/session', { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
}

let sessionPromise = null;

/**
 * Who this page is, from GET /api/session (once per page unless `fresh`):
 * { status, ok, body } where body is {mode, kind, role, room, name, …} on 200.
 */
export function getSession({ fresh = false } = {}) {
  if (fresh || !sessionPromise) sessionPromise = api('/api/session', { credentials: 'same-origin' });
  return sessionPromise;
}

/**
 * Who gives a new link to someone whose link expired: a guest's host, a host's admin;
 * an admin mints their own (`podium token`).
 */
export function newLinkAdvice(role) {
  if (role === 'admin') return 'mint a new one with podium token --role admin';
  if (role === 'host') return "ask the server's admin for a new link";
  return 'ask the host for a new link';
}

/** Whether a session may start and share recordings (a host or an admin; open mode is admin). */
export function canManage(session) {
  return !!session && (session.kind === 'open' || (session.kind === 'access' && (session.role === 'host' || session.role === 'admin')));
}

// The recordings this browser opened through a share link. Its cookie is gone once
// the link expires, and then the recording's API can only answer 401: the page still
// knows to say that the share link expired.
const SHARED_KEY = 'podium.shared-recordings';

export function rememberShare(recording) {
  try {
    const ids = new Set(JSON.parse(localStorage.getItem(SHARED_KEY) ?? '[]'));
    // The latest opened last: the start page leads back to it.
    ids.delete(recording);
    ids.add(recording);
    localStorage.setItem(SHARED_KEY, JSON.stringify([...ids].slice(-50)));
  } catch { /* storage disabled: the generic message then */ }
}

export function openedThroughShare(recording) {
  return sharedRecordings().includes(recording);
}

/** The recordings this browser opened through share links, oldest first. */
export function sharedRecordings() {
  try {
    const ids = JSON.parse(localStorage.getItem(SHARED_KEY) ?? '[]');
    return Array.isArray(ids) ? ids.filter((id) => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

/** Removes `token` from the address bar (history and bookmarks), keeping the rest. */
export function dropTokenFromUrl() {
  const url = new URL(location.href);
  url.searchParams.delete('token');
  history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
}

/** A full-page card: a title, what to do, and perhaps links. */
export function showNotice(app, { id, iconName = 'lock', tone = 'danger', title, text, actions = [] }) {
  document.title = `${title} · Podium`;
  app.replaceChildren(el('div', { class: 'center' },
    el('section', { class: 'card notice-card', id, role: 'alert' },
      el('div', { class: 'brand' }, el('span', { class: 'logo' }, 'P'), 'Podium'),
      el('div', { class: `notice-icon ${tone}` }, icon(iconName)),
      el('h1', {}, title),
      ...[text].flat().map((t) => el('p', { class: 'muted' }, t)),
      actions.length ? el('div', { class: 'notice-actions' }, ...actions) : null)));
}

/** No valid session (a 401): the link is expired, tampered with, or missing. */
export function showAuthError(app, detail) {
  // The server's reason, without its own "ask the host" (said above it).
  const why = detail?.replace(/:\s*ask the host.*$/i, '').trim();
  detail = why ? `Why: ${why}.` : null;
  showNotice(app, {
    id: 'auth-error',
    iconName: 'lock',
    title: 'This link has expired or is not valid',
    text: ['Ask the host for a new link.', detail ? el('span', { class: 'small notice-detail' }, detail) : null].filter(Boolean),
  });
}

/** A share link that expired or was revoked (a 410). */
export function showShareExpired(app) {
  showNotice(app, {
    id: 'share-expired',
    iconName: 'link-off',
    title: 'This share link has expired or was revoked',
    // A deleted recording takes its links with it: the server cannot tell them apart.
    text: 'Or the recording was deleted. Ask whoever shared it for a new one.',
  });
}

/** A valid link that does not open this page (a 403). */
export function showAccessDenied(app, { title, text, link }) {
  showNotice(app, {
    id: 'access-denied',
    iconName: 'lock',
    tone: 'warn',
    title,
    text,
    actions: link ? [el('a', { href: link.href, class: 'button-link primary' }, link.text)] : [],
  });
}

/**
 * The page for a failed data API answer, if it is about access: 401, 403 (with
 * `forbidden` saying what this link does not open) or 410. Returns whether it showed one.
 */
export function showAccessProblem(app, { status, body }, forbidden = {}) {
  if (status === 401) { showAuthError(app); return true; }
  if (status === 410) { showShareExpired(app); return true; }
  if (status === 403) {
    showAccessDenied(app, { title: 'Your link does not open this page', ...forbidden, text: forbidden.text ?? body.error });
    return true;
  }
  return false;
}
