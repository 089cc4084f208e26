// The recordings library (/recordings): every recording, newest first, with a search
// by room or participant, and per recording play, download and delete (confirmed).
// Running recordings show live. A library of thousands draws the newest 100 matches and
// a "Show more" button (#show-more) for the next. DOM hooks (docs/api.md): #search,
// #recordings-list, .recording-row[data-recording-id][data-status], .play, .download,
// .delete, #show-more, #confirm-delete.
import { el, icon, initials, colorFor } from './ui.js';
import { formatDate, formatDay, formatDuration, formatSize, topbar } from './format.js';
import { api, getSession, newLinkAdvice, sharedRecordings, showAccessDenied, showAccessProblem } from './access.js';

const POLL_LIVE_MS = 2000;
/** Rows drawn at first and at each "Show more": 2000 rows took 3 s to draw, and each
 * key typed in the search 1.5 s (docs/benchmarks.md). */
const ROWS_AT_ONCE = 100;

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

  let recordings = [];
  let timer = null;
  // How many of the matches are drawn; a new search starts again from the first.
  let limit = ROWS_AT_ONCE;
  // The last whole-list load failed (its banner is up); the page was replaced by an
  // access notice (nothing more to poll).
  let listFailed = false;
  let stopped = false;
  const showError = (text) => { banner.hidden = !text; banner.textContent = text ?? ''; };

  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = recordings.filter((r) => !q || r.room.toLowerCase().includes(q) || r.participants.some((p) => p.name.toLowerCase().includes(q)));
    // A status: written only when it changes (a poll every 2 s would repeat it).
    const counted = recordings.length ? `${shown.length} of ${recordings.length}` : '';
    if (count.textContent !== counted) count.textContent = counted;
    const moreFocused = document.activeElement === more;
    more.hidden = shown.length <= limit;
    more.textContent = `Show ${Math.min(ROWS_AT_ONCE, shown.length - limit)} more`;
    // A button that goes while it has the focus (a reload found fewer) hands it on.
    if (moreFocused && more.hidden) search.focus();
    if (!recordings.length) {
      list.replaceChildren(el('div', { class: 'empty card-ish' },
        el('h2', {}, 'No recordings yet'),
        el('p', { class: 'muted' }, 'Start a meeting and press Record: the recording shows up here, with who spoke when.'),
        el('a', { href: '/', class: 'button-link primary' }, 'Start a meeting')));
      return;
    }
    if (!shown.length) {
      list.replaceChildren(el('p', { class: 'empty muted' }, `No recording matches “${search.value}”.`));
      return;
    }
    // The rows are drawn anew: a focused control keeps the focus, found again by its
    // recording and its class, so that a poll does not throw a keyboard user out.
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const where = focused && [focused.closest('.recording-row')?.dataset.recordingId, focused.className];
    list.replaceChildren(...shown.slice(0, limit).map((r) => row(r, mayDelete ? () => askDelete(r) : null)));
    if (where) {
      const again = [...list.querySelectorAll('.recording-row')].find((x) => x.dataset.recordingId === where[0]);
      const control = [...(again?.querySelectorAll('a, button') ?? [])].find((x) => x.className === where[1]);
      // Its row gone (deleted elsewhere, or now past the rows drawn): the search.
      (control ?? search).focus();
    }
  };

  const load = async () => {
    const res = await api('/api/recordings');
    if (res.ok) {
      recordings = res.body;
      listFailed = false;
      showError(null);
    } else if (showAccessProblem(app, res, {
      title: 'Only a host can see the recordings',
      text: 'Your link is for joining a meeting, not for its recordings. Ask the host to share a recording with you.',
      link: ownRoom ? { href: `/rooms/${encodeURIComponent(ownRoom)}`, text: `Back to ${ownRoom}` } : null,
    })) {
      window.removeEventListener('focus', load);
      clearTimeout(timer);
      stopped = true;
      return false;
    } else {
      listFailed = true;
      showError(`Cannot load the recordings: ${res.body.error ?? `the server answered ${res.status}`}`);
    }
    render();
    followLive();
  };

  // A running recording's duration and size grow: those are asked for again while one
  // runs, not the whole library (thousands of recordings are megabytes). The whole list
  // (with recordings started since) comes again when the window gets the focus back.
  const followLive = () => {
    clearTimeout(timer);
    if (!stopped && recordings.some((r) => r.status === 'recording')) timer = setTimeout(refreshLive, POLL_LIVE_MS);
  };
  const refreshLive = async () => {
    const live = recordings.filter((r) => r.status === 'recording');
    const answers = await Promise.all(live.map((r) => api(`/api/recordings/${encodeURIComponent(r.id)}`)));
    if (stopped) return;
    // Anything but a recording or its deletion (a lost session, a server error, no
    // network): the whole list's load says what it is. Answers again after a failed
    // load: the whole list, which takes its banner down.
    if (listFailed || answers.some((res) => !res.ok && res.status !== 404)) return load();
    const fresh = new Map(live.map((r, i) => [r.id, answers[i]]));
    recordings = recordings.flatMap((r) => {
      const res = fresh.get(r.id);
      if (!res) return [r];
      return res.ok ? [res.body] : [];
    });
    render();
    followLive();
  };

  more.addEventListener('click', () => {
    const first = limit;
    limit += ROWS_AT_ONCE;
    render();
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
    render();
    const rows = new Map([...list.querySelectorAll('.recording-row')].map((x) => [x.dataset.recordingId, x]));
    const target = neighbours.map((id) => rows.get(id)?.querySelector('.delete:not(:disabled)')).find(Boolean);
    (target ?? search).focus();
  };

  search.addEventListener('input', () => {
    limit = ROWS_AT_ONCE;
    render();
  });
  window.addEventListener('focus', load);
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
