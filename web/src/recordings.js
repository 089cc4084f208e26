// The recordings library (/recordings): every recording, newest first, with a search
// by room or participant, and per recording play, download and delete (confirmed).
// Running recordings show live. The server pages and searches (GET /api/recordings?q=
// &limit=&after=): the page asks for the newest 100 matches, and a "Show more" button
// (#show-more) follows the answer's next link, so a library of thousands opens as fast
// as one of ten. DOM hooks (docs/api.md): #search, #recordings-list,
// .recording-row[data-recording-id][data-status], .play, .download, .delete,
// #show-more, #confirm-delete.
import { el, icon, initials, colorFor } from './ui.js';
import { formatDate, formatDay, formatDuration, formatSize, topbar } from './format.js';
import { api, getSession, newLinkAdvice, sharedRecordings, showAccessDenied, showAccessProblem } from './access.js';

const POLL_LIVE_MS = 2000;
/** Rows asked for at first and at each "Show more": a library of 2000 hour-long
 * recordings is 34 MB of JSON whole (docs/benchmarks.md). */
const ROWS_AT_ONCE = 100;
/** The most one answer holds (the server's limit): a reload keeps up to this many rows. */
const MAX_PAGE = 1000;
/** A search is asked for once typing pauses this long, not at every key. */
const SEARCH_PAUSE_MS = 150;

/** The URL of a `Link: <URL>; rel="next"` header, if there is one. */
function nextLink(header) {
  return header?.match(/<([^>]*)>\s*;\s*rel="next"/)?.[1] ?? null;
}

export async function showLibrary(app) {
  // Who is looking: an admin (or open mode) sees and deletes every recording, a host
  // sees their room's, a guest none.
  const session = await getSession();
  if (session.status === 401) {
    // A share link's cookie opens its recording only (it is scoped to it): such a
    // viewer is told that, and led back, not that their link expired.
    const shared = sharedRecordings();
    if (shared.length) {
      return showAccessDenied(app, {
        title: 'Only a host can see the recordings',
        text: 'Your share link opens its recording only.',
        link: { href: `/recordings/${encodeURIComponent(shared.at(-1))}`, text: 'Back to the shared recording' },
      });
    }
    return showAccessProblem(app, session);
  }
  const me = session.ok ? session.body : { kind: 'open', role: 'admin', room: '*' };
  const mayDelete = me.kind === 'open' || me.role === 'admin';
  const ownRoom = me.kind === 'access' && me.room !== '*' ? me.room : null;
  const banner = el('div', { id: 'banner', class: 'banner error', role: 'alert', hidden: true });
  const search = el('input', { id: 'search', type: 'search', placeholder: 'Search by room or participant', 'aria-label': 'Search recordings', autocomplete: 'off' });
  // Not a live region: a running recording's row is redrawn every 2 s, and the whole
  // list would be read again each time. The count says what a search found.
  const list = el('div', { id: 'recordings-list', class: 'rec-list' });
  const count = el('span', { class: 'muted small', role: 'status' });
  const more = el('button', { id: 'show-more', class: 'button-link show-more', type: 'button', hidden: true });
  const dialog = confirmDialog();
  app.replaceChildren(el('div', { class: 'page' },
    topbar(el('span', { class: 'room-name' }, 'Recordings'), ownRoom
      ? el('a', { href: `/rooms/${encodeURIComponent(ownRoom)}`, class: 'button-link' }, `Join ${ownRoom}`)
      : el('a', { href: '/', class: 'button-link' }, 'New meeting')),
    banner,
    el('main', { class: 'page-main' },
      el('div', { class: 'library-head' }, el('h1', {}, 'Recordings'), count, search),
      list, more),
    dialog));

  // The rows loaded so far (each page's, in order), the search's and the library's
  // counts, and where the next page is (null on the last).
  let recordings = [];
  let matched = 0;
  let libraryCount = 0;
  let next = null;
  let timer = null;
  let searchTimer = null;
  // Each load of the first rows is numbered: an answer to an older one (a search typed
  // since, a reload) is dropped, and so is a "Show more" begun before it.
  let loads = 0;
  // The load under way (or the last): a "Show more" waits for it, so that it asks for
  // the page after the rows that load draws.
  let pending = Promise.resolve();
  // The search the rows drawn are of: a "Show more" begun on another is given up.
  let shownQuery = '';
  let fetchingMore = false;
  // The last load failed (its banner is up); the page was replaced by an access notice
  // (nothing more to poll).
  let listFailed = false;
  let stopped = false;
  const showError = (text) => { banner.hidden = !text; banner.textContent = text ?? ''; };
  const takeCounts = (res) => {
    matched = Number(res.headers.get('x-total-count') ?? recordings.length);
    libraryCount = Number(res.headers.get('x-library-count') ?? recordings.length);
    next = nextLink(res.headers.get('link'));
  };

  /** Draws the page from the rows loaded; `added`: only rows from this index on are
   * new (a "Show more"), and those are appended to the rows drawn. */
  const render = (added = null) => {
    // A status: written only when it changes (a poll every 2 s would repeat it).
    const counted = libraryCount ? `${matched} of ${libraryCount}` : '';
    if (count.textContent !== counted) count.textContent = counted;
    const moreFocused = document.activeElement === more;
    more.hidden = !next;
    more.textContent = fetchingMore ? 'Loading…' : `Show ${Math.max(1, Math.min(ROWS_AT_ONCE, matched - recordings.length))} more`;
    // A button that goes while it has the focus (a reload found fewer) hands it on.
    if (moreFocused && more.hidden) search.focus();
    if (!libraryCount && !recordings.length) {
      list.replaceChildren(el('div', { class: 'empty card-ish' },
        el('h2', {}, 'No recordings yet'),
        el('p', { class: 'muted' }, 'Start a meeting and press Record: the recording shows up here, with who spoke when.'),
        el('a', { href: '/', class: 'button-link primary' }, 'Start a meeting')));
      return;
    }
    if (!recordings.length) {
      list.replaceChildren(el('p', { class: 'empty muted' }, `No recording matches “${search.value.trim()}”.`));
      return;
    }
    if (added !== null && list.querySelectorAll('.recording-row').length === added) {
      list.append(...recordings.slice(added).map((r) => row(r, mayDelete ? () => askDelete(r) : null)));
      return;
    }
    // The rows are drawn anew: a focused control keeps the focus, found again by its
    // recording and its class, so that a poll does not throw a keyboard user out.
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const where = focused && [focused.closest('.recording-row')?.dataset.recordingId, focused.className];
    list.replaceChildren(...recordings.map((r) => row(r, mayDelete ? () => askDelete(r) : null)));
    if (where) {
      const again = [...list.querySelectorAll('.recording-row')].find((x) => x.dataset.recordingId === where[0]);
      const control = [...(again?.querySelectorAll('a, button') ?? [])].find((x) => x.className === where[1]);
      // Its row gone (deleted elsewhere, or no longer loaded): the search.
      (control ?? search).focus();
    }
  };

  /** The first `rows` matches of the search (a page at least, at most what the
   * server gives at once): at the start, at each search, and again, keeping the rows
   * shown, when the window gets the focus back. */
  const load = (rows = ROWS_AT_ONCE) => (pending = loadFirst(rows));
  const loadFirst = async (rows) => {
    const mine = ++loads;
    const q = search.value.trim();
    const limit = Math.min(Math.max(rows, ROWS_AT_ONCE), MAX_PAGE);
    const res = await api(`/api/recordings?${new URLSearchParams(q ? { q, limit } : { limit })}`);
    if (mine !== loads || stopped) return;
    if (res.ok) {
      recordings = res.body;
      shownQuery = q;
      takeCounts(res);
      listFailed = false;
      showError(null);
    } else if (showAccessProblem(app, res, {
      title: 'Only a host can see the recordings',
      text: 'Your link is for joining a meeting, not for its recordings. Ask the host to share a recording with you.',
      link: ownRoom ? { href: `/rooms/${encodeURIComponent(ownRoom)}`, text: `Back to ${ownRoom}` } : null,
    })) {
      window.removeEventListener('focus', reload);
      clearTimeout(timer);
      clearTimeout(searchTimer);
      stopped = true;
      return false;
    } else {
      listFailed = true;
      showError(`Cannot load the recordings: ${res.body.error ?? `the server answered ${res.status}`}`);
    }
    render();
    followLive();
  };
  const reload = () => load(recordings.length);

  // A running recording's duration and size grow: those are asked for again while one
  // runs, not the library. The first rows again (with recordings started since) when
  // the window gets the focus back.
  const followLive = () => {
    clearTimeout(timer);
    if (!stopped && recordings.some((r) => r.status === 'recording')) timer = setTimeout(refreshLive, POLL_LIVE_MS);
  };
  const refreshLive = async () => {
    const mine = loads;
    const live = recordings.filter((r) => r.status === 'recording');
    const answers = await Promise.all(live.map((r) => api(`/api/recordings/${encodeURIComponent(r.id)}`)));
    // A load since (a search) drew other rows, and follows their live ones itself.
    if (stopped || mine !== loads) return;
    // Anything but a recording or its deletion (a lost session, a server error, no
    // network): the list's load says what it is. Answers again after a failed load:
    // the list, which takes its banner down.
    if (listFailed || answers.some((res) => !res.ok && res.status !== 404)) return reload();
    const fresh = new Map(live.map((r, i) => [r.id, answers[i]]));
    const had = recordings.length;
    recordings = recordings.flatMap((r) => {
      const res = fresh.get(r.id);
      if (!res) return [r];
      return res.ok ? [res.body] : [];
    });
    // Deleted meanwhile: counted out too.
    matched = Math.max(0, matched - (had - recordings.length));
    libraryCount = Math.max(0, libraryCount - (had - recordings.length));
    render();
    followLive();
  };

  more.addEventListener('click', async () => {
    if (fetchingMore) return;
    // Not disabled while it waits: a disabled button drops the keyboard's focus.
    fetchingMore = true;
    more.setAttribute('aria-busy', 'true');
    render();
    const forQuery = shownQuery;
    let res = null;
    // A load under way (a search, the reload when the window gets the focus back, which
    // a click into it starts) draws its rows first; the next page is the one after
    // those. A load that begins while the page is fetched makes it ask again.
    for (;;) {
      await pending;
      if (stopped) return;
      if (shownQuery !== forQuery || !next) break;
      const mine = loads;
      const answer = await api(next);
      if (stopped) return;
      if (mine === loads) { res = answer; break; }
    }
    fetchingMore = false;
    more.removeAttribute('aria-busy');
    if (!res) return render();
    if (!res.ok) {
      showError(`Cannot load more recordings: ${res.body.error ?? `the server answered ${res.status}`}`);
      render();
      return;
    }
    showError(null);
    const first = recordings.length;
    const have = new Set(recordings.map((r) => r.id));
    recordings = recordings.concat(res.body.filter((r) => !have.has(r.id)));
    takeCounts(res);
    render(first);
    followLive();
    // The keyboard goes on at the first new row (the button is below them all).
    list.querySelectorAll('.recording-row')[first]?.querySelector('a')?.focus();
  });

  const askDelete = async (r) => {
    if (!(await dialog.ask(r))) return;
    const res = await api(`/api/recordings/${r.id}`, { method: 'DELETE' });
    if (!res.ok && res.status !== 404) {
      const why = res.status === 403 ? 'only an admin can delete recordings' : res.status === 401 ? `your link has expired: ${newLinkAdvice(me.role)}` : res.body.error ?? `the server answered ${res.status}`;
      showError(`Could not delete the recording: ${why}`);
      return;
    }
    // Its row goes: the keyboard's focus goes to a neighbour's Delete (the next shown,
    // else the one before), or the search.
    const shownIds = [...list.querySelectorAll('.recording-row')].map((x) => x.dataset.recordingId);
    const at = shownIds.indexOf(r.id);
    const neighbours = [...shownIds.slice(at + 1), ...shownIds.slice(0, Math.max(0, at)).reverse()];
    recordings = recordings.filter((x) => x.id !== r.id);
    matched = Math.max(0, matched - 1);
    libraryCount = Math.max(0, libraryCount - 1);
    // The last row drawn went and more match: the next ones, not an empty list.
    if (!recordings.length && next) {
      await load();
      search.focus();
      return;
    }
    render();
    const rows = new Map([...list.querySelectorAll('.recording-row')].map((x) => [x.dataset.recordingId, x]));
    const target = neighbours.map((id) => rows.get(id)?.querySelector('.delete:not(:disabled)')).find(Boolean);
    (target ?? search).focus();
  };

  // Each search starts again from its newest 100, asked for once typing pauses.
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => load(), SEARCH_PAUSE_MS);
  });
  window.addEventListener('focus', reload);
  if (await load() === false) return;
  if (recordings.length) search.focus();
}

function row(r, onDelete) {
  const live = r.status === 'recording';
  const status = {
    recording: el('span', { class: 'status live' }, el('span', { class: 'rec-dot' }), 'Recording'),
    failed: el('span', { class: 'status bad', title: r.error ?? '' }, 'Failed'),
    interrupted: el('span', { class: 'status warn', title: r.error ?? '' }, 'Interrupted'),
  }[r.status] ?? null;
  const people = el('div', { class: 'people' }, ...r.participants.slice(0, 6).map((p) =>
    el('span', { class: 'avatar', style: `background:${colorFor(p.name)}`, title: p.name, 'aria-hidden': 'true' }, initials(p.name))),
  r.participants.length > 6 ? el('span', { class: 'muted small' }, `+${r.participants.length - 6}`) : null);
  const names = r.participants.map((p) => p.name).join(', ') || 'nobody joined';
  // Only an admin deletes: others get no Delete button.
  const del = onDelete ? el('button', { class: 'icon-button delete', title: live ? 'Stop the recording before deleting it' : 'Delete', 'aria-label': `Delete the recording of ${r.room}`, disabled: live }, icon('trash')) : null;
  del?.addEventListener('click', onDelete);
  return el('article', { class: 'recording-row', 'data-recording-id': r.id, 'data-status': r.status },
    el('a', { class: 'thumb', href: `/recordings/${r.id}`, 'aria-label': `Play the recording of ${r.room}` }, icon('play')),
    el('div', { class: 'rec-info' },
      el('div', { class: 'rec-title' }, el('a', { href: `/recordings/${r.id}` }, r.room), status),
      el('div', { class: 'muted small' }, `${formatDate(r.started_at)} · ${formatDuration(r.duration_ms)} · ${formatSize(r.size_bytes)}`,
        // The server's retention (`--recording-retention-days`): said before it happens.
        r.expires_at ? el('span', { class: 'rec-expires', 'data-expires-at': r.expires_at, title: 'This server deletes recordings a set time after they end' }, ` · deleted on ${formatDay(r.expires_at)}`) : null),
      el('div', { class: 'rec-people' }, people, el('span', { class: 'small names' }, names)),
      r.error && r.status !== 'recording' ? el('div', { class: 'small rec-error' }, r.error) : null),
    el('div', { class: 'rec-actions' },
      el('a', { class: 'button-link play', href: `/recordings/${r.id}` }, 'Play'),
      el('a', { class: 'icon-button download', href: `/api/recordings/${r.id}/video`, download: `podium-${r.room}-${r.id}.mp4`, title: 'Download the mp4', 'aria-label': 'Download' }, icon('download')),
      del));
}

/** A modal that asks before deleting; `ask(recording)` resolves true to go ahead. */
function confirmDialog() {
  const text = el('p', { id: 'confirm-delete-text' });
  const cancel = el('button', { class: 'button-link', value: 'cancel' }, 'Cancel');
  const ok = el('button', { class: 'button-link danger', value: 'delete', id: 'confirm-delete-ok' }, 'Delete');
  const dialog = el('dialog', { id: 'confirm-delete', class: 'dialog', 'aria-labelledby': 'confirm-delete-title', 'aria-describedby': 'confirm-delete-text' },
    el('form', { method: 'dialog' }, el('h2', { id: 'confirm-delete-title' }, 'Delete this recording?'), text,
      el('div', { class: 'dialog-actions' }, cancel, ok)));
  dialog.ask = (r) => new Promise((resolve) => {
    text.textContent = `The recording of ${r.room} from ${formatDate(r.started_at)} (${formatDuration(r.duration_ms)}) and its timeline and highlights will be removed for good.`;
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), { once: true });
    dialog.showModal();
    cancel.focus();
  });
  return dialog;
}
