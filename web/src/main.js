// Podium's browser UI: routes on the URL (the server serves this page for all of them).
import { el } from './ui.js';
import { showRoom } from './room.js';
import { showLibrary } from './recordings.js';
import { showReview } from './review.js';
import { dropTokenFromUrl, getSession, rememberShare, sharedRecordings, showAuthError, showNotice, showShareExpired, startSession } from './access.js';

// Diagnostics for people and automation: when the devices opened, and every change of
// who is on the stage (time in ms since the epoch, and the name).
window.podium = { mediaStartedAt: null, audioStartedAt: null, stageLog: [], meeting: null };

const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const app = document.getElementById('app');

start();

/**
 * A link's token first becomes a session cookie (and leaves the address bar); a share
 * link (/s/TOKEN) opens its recording. Then the page for the URL.
 */
async function start() {
  const share = location.pathname.match(/^\/s\/([^/]+)\/?$/);
  if (share) return openShare(decodeURIComponent(share[1]));
  const token = new URLSearchParams(location.search).get('token');
  if (token) {
    const session = await startSession(token);
    if (!session.ok && session.status < 500 && session.status !== 0 && !(await openModeAnyway())) {
      if (session.status === 410) return showShareExpired(app);
      return showAuthError(app, session.body.error);
    }
    // (Unreachable or failing server: the link stays, so that a reload tries again.)
    if (session.ok) dropTokenFromUrl();
  }
  route();
}

/** Whether the server is in open mode (where a link's token is not needed). */
async function openModeAnyway() {
  const current = await getSession({ fresh: true });
  return current.ok && current.body.mode === 'open';
}

/** A share link: the recording it opens, in share mode (no library, share or delete). */
async function openShare(token) {
  document.title = 'Recording · Podium';
  const session = await startSession(token);
  if (session.status === 410) return showShareExpired(app);
  if (session.status === 0 || session.status >= 500) {
    return showNotice(app, { id: 'link-error', title: 'This link cannot be opened now', text: `The server answered: ${session.body.error ?? session.status}. Try again in a moment.` });
  }
  if (!session.ok || session.body.kind !== 'share' || !session.body.recording) return showAuthError(app, session.body.error);
  rememberShare(session.body.recording);
  history.replaceState(null, '', `/recordings/${encodeURIComponent(session.body.recording)}`);
  return showReview(app, session.body.recording, { shareViewer: true });
}

function route() {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  const roomMatch = path.match(/^\/rooms\/([^/]+)\/?$/);
  if (roomMatch) {
    const room = decodeURIComponent(roomMatch[1]);
    if (ROOM_ID.test(room)) showRoom(app, room, params);
    else showLobby(`"${room}" is not a valid room name: use 1 to 64 letters, digits, '-' or '_'.`);
  } else if (/^\/recordings\/?$/.test(path)) {
    document.title = 'Recordings · Podium';
    showLibrary(app);
  } else if (path.startsWith('/recordings/')) {
    document.title = 'Recording · Podium';
    showReview(app, decodeURIComponent(path.slice('/recordings/'.length).replace(/\/$/, '')));
  } else {
    showLobby();
  }
}

/**
 * The lobby: a name and a room. A secured server lets in only people with a link, so
 * without one the page says so (rather than offer a form the server will refuse); with
 * one, the name (and a host's or guest's room) are the link's.
 */
async function showLobby(error) {
  const session = await getSession();
  if (session.status === 401) {
    const shared = sharedRecordings();
    return showNotice(app, {
      id: 'needs-link', iconName: 'lock', tone: 'warn', title: 'Joining needs a link',
      text: shared.length
        ? 'This Podium server lets people in with a link from a host. Your share link opens its recording only.'
        : 'This Podium server lets people in with a link from a host. Ask the host of your meeting for one: it opens the room.',
      actions: shared.length ? [el('a', { href: `/recordings/${encodeURIComponent(shared.at(-1))}`, class: 'button-link' }, 'Back to the shared recording')] : [],
    });
  }
  const me = session.ok ? session.body : null;
  // A link's name (and, but for an admin's, its room) decide: shown, not editable.
  const lockedName = me?.kind === 'access' ? me.name : null;
  const lockedRoom = me?.kind === 'access' && me.room && me.room !== '*' ? me.room : null;
  // maxlength counts UTF-16 units, 2 for an emoji: the 40 characters are checked on submit.
  const name = el('input', { id: 'name', name: 'name', maxlength: 160, required: true, autocomplete: 'name', placeholder: 'Ada Lovelace', value: lockedName ?? sessionStorage.getItem('podium.name') ?? '', readonly: lockedName !== null });
  const room = el('input', { id: 'room', name: 'room', maxlength: 64, required: true, pattern: '[A-Za-z0-9_\\-]{1,64}', placeholder: 'weekly-sync', title: "Letters, digits, '-' and '_'", autocapitalize: 'none', autocorrect: 'off', spellcheck: 'false', value: lockedRoom ?? '', readonly: lockedRoom !== null });
  const problem = el('p', { id: 'lobby-error', class: 'form-error', role: 'alert', hidden: !error }, error ?? '');
  const join = el('button', { class: 'primary', type: 'submit' }, 'Join');
  const form = el('form', { class: 'card join-card' },
    el('div', { class: 'brand' }, el('span', { class: 'logo' }, 'P'), 'Podium'),
    el('h1', {}, 'Meet, and keep the meeting'),
    el('p', { class: 'muted' }, 'Video meetings that follow whoever speaks, and one recording of the whole thing.'),
    el('label', { for: 'name' }, 'Your name'), name,
    el('label', { for: 'room' }, 'Room'), room,
    lockedName !== null ? el('p', { class: 'muted small name-note' }, lockedRoom !== null ? 'Your name and room come from your link.' : 'Your name comes from your link.') : null,
    problem,
    join,
    el('a', { href: '/recordings', class: 'muted small lobby-link' }, 'Recordings →'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const n = name.value.trim();
    // Characters as the server counts them (NFC code points), not UTF-16 units.
    // The message is tied to its field, which gets the focus to mend it.
    const refuse = (field, text) => {
      problem.hidden = false;
      problem.textContent = text;
      for (const f of [name, room]) {
        if (f === field) { f.setAttribute('aria-invalid', 'true'); f.setAttribute('aria-describedby', 'lobby-error'); } else { f.removeAttribute('aria-invalid'); f.removeAttribute('aria-describedby'); }
      }
      field.focus();
    };
    if (!n || [...n.normalize('NFC')].length > 40) return refuse(name, 'Enter a name of 1 to 40 characters.');
    if (!ROOM_ID.test(room.value)) return refuse(room, "A room name is 1 to 64 letters, digits, '-' or '_'.");
    if (lockedName === null) sessionStorage.setItem('podium.name', n);
    // A link's name is the server's to give: not put in the address.
    location.href = `/rooms/${encodeURIComponent(room.value)}?${lockedName === null ? `name=${encodeURIComponent(n)}&` : ''}autojoin=1`;
  });
  app.replaceChildren(el('div', { class: 'center' }, form));
  (lockedRoom !== null ? join : name.value ? room : name).focus();
}
