// The room page: stage (active speaker), filmstrip (everyone else), roster, controls.
// DOM hooks for automation (docs/api.md): #stage[data-participant-name] (the active
// speaker), #stage[data-screen-name] (while a screen share is on stage; absent
// otherwise), #stage-pip, [data-action="share"][aria-pressed], and each tile's
// data-participant-name and data-speaking="true|false".
import { Meeting, openDevices } from './meeting.js';
import { el, icon, initials, colorFor } from './ui.js';
import { topbar } from './format.js';
import { api, getSession, newLinkAdvice, showAccessDenied, showAuthError, showNotice } from './access.js';

/** The recording layouts (docs/api.md), as the picker offers them. */
const LAYOUTS = [['speaker', 'Speaker'], ['speaker-strip', 'Speaker + strip'], ['grid', 'Grid']];

/** The server's words start lower-case, to follow a "Could not …:"; alone, a sentence. */
function sentence(text) {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;
}

export async function showRoom(app, room, params) {
  // Secured mode: the link's token names the person and the room they may join.
  const session = await getSession();
  if (session.status === 401) return showAuthError(app);
  const secured = session.ok && session.body.mode === 'secured';
  if (secured && session.body.kind !== 'access') {
    return showAccessDenied(app, { title: 'This link does not open meetings', text: 'A share link only plays the recording it was made for. Ask the host for a link to the meeting.' });
  }
  if (secured && session.body.room !== '*' && session.body.room !== room) {
    return showAccessDenied(app, {
      title: 'Your link is for another room',
      text: `This link lets you into “${session.body.room}”, not “${room}”. Ask the host for a link to this room.`,
      link: { href: `/rooms/${encodeURIComponent(session.body.room)}`, text: `Go to ${session.body.room}` },
    });
  }
  const lockedName = secured ? session.body.name : null;
  const name = lockedName ?? params.get('name') ?? sessionStorage.getItem('podium.name') ?? '';
  const autojoin = params.get('autojoin') === '1';
  // simulcast=0: the camera as before simulcast (the meeting benchmark's baseline).
  const want = { camera: params.get('camera') !== '0', mic: params.get('mic') !== '0', simulcast: params.get('simulcast') !== '0' };
  const ctx = { app, room, lockedName, expiresAt: secured ? session.body.expires_at : null };
  if (autojoin && name) return enterRoom(ctx, name, want);
  showPreJoin(ctx, name, want);
}

function showPreJoin(ctx, name, want, error) {
  const { app, room, lockedName } = ctx;
  // With a token, the name is the one the host gave: shown, not editable.
  const nameInput = el('input', {
    id: 'name', name: 'name', maxlength: 160, required: true, autocomplete: 'name', placeholder: 'Your name', value: lockedName ?? name,
    readonly: lockedName !== null, title: lockedName !== null ? 'Your name comes from your link' : null,
  });
  const cam = el('input', { type: 'checkbox', id: 'want-camera', checked: want.camera });
  const mic = el('input', { type: 'checkbox', id: 'want-mic', checked: want.mic });
  const form = el('form', { class: 'card join-card' },
    el('div', { class: 'brand' }, el('span', { class: 'logo' }, 'P'), 'Podium'),
    el('h1', {}, `Join ${room}`),
    el('label', { for: 'name' }, 'Your name'), nameInput,
    lockedName !== null ? el('p', { class: 'muted small name-note' }, 'Your name comes from your link.') : null,
    error ? el('p', { class: 'form-error', role: 'alert' }, error) : null,
    el('div', { class: 'checks' },
      el('label', {}, cam, ' Camera'), el('label', {}, mic, ' Microphone')),
    el('button', { id: 'join', class: 'primary', type: 'submit' }, 'Join meeting'),
    lockedName !== null ? null : el('a', { href: '/', class: 'muted small' }, '← Choose another room'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    enterRoom(ctx, lockedName ?? nameInput.value.trim(), { camera: cam.checked, mic: mic.checked });
  });
  app.replaceChildren(el('div', { class: 'center' }, form));
  (lockedName !== null ? form.querySelector('#join') : nameInput).focus();
}

async function enterRoom(ctx, name, want) {
  const { app, room } = ctx;
  if (ctx.lockedName === null) sessionStorage.setItem('podium.name', name);
  app.replaceChildren(el('div', { class: 'center' }, el('div', { class: 'card' }, el('p', { class: 'muted' }, 'Opening your camera and microphone…'))));
  const devices = await openDevices(want);
  window.podium.mediaStartedAt = Date.now();
  const meeting = new Meeting({ room, name, videoTrack: devices.videoTrack, audioTrack: devices.audioTrack, simulcast: want.simulcast !== false });
  window.podium.meeting = meeting;
  const stopDevices = () => {
    meeting.closeMedia();
    devices.videoTrack?.stop();
    devices.audioTrack?.stop();
  };
  // A host removed this person (even while the join was still being set up): the
  // meeting is over for them.
  let removed = false;
  meeting.addEventListener('removed', () => {
    removed = true;
    stopDevices();
    showNotice(app, {
      id: 'removed', iconName: 'leave', tone: 'warn', title: 'A host removed you from the meeting',
      text: 'Your camera and microphone are off, and nobody in the meeting sees or hears you.',
      actions: [el('a', { href: '/', class: 'button-link' }, 'Back to the start')],
    });
  });
  try {
    await meeting.join();
  } catch (err) {
    stopDevices();
    if (removed) return;
    // A socket refused before it opens looks unreachable: the session says if it was the link.
    if (err.code === 'unreachable' && await showIfNoAccess(app, room)) return;
    const text = {
      unreachable: 'The server cannot be reached. Check your connection and try again.',
      name_taken: sentence(err.message),
      invalid_name: `That name cannot be used: ${err.message}.`,
      room_full: sentence(err.message),
    }[err.code] ?? `Could not join: ${err.message}`;
    showPreJoin(ctx, name, want, text);
    return;
  }
  // The link expired (or was replaced) while the meeting ran and the connection dropped.
  meeting.addEventListener('unauthorized', () => {
    stopDevices();
    showAuthError(app);
  });
  new RoomView(app, meeting, devices.problems).render();
  warnBeforeExpiry(meeting, ctx.expiresAt);
}

/** How long before a link expires the room says so. */
const EXPIRY_WARNING_MS = 5 * 60 * 1000;

/**
 * A link that expires ends nothing at once (the meeting goes on), but from then on its
 * holder cannot rejoin after a lost connection, nor record or stop: said five minutes
 * before, and again when it happens, with whom to ask for a new one.
 */
function warnBeforeExpiry(meeting, expiresAt) {
  const at = Date.parse(expiresAt ?? '');
  if (!Number.isFinite(at)) return;
  const what = meeting.mayRemove() ? 'record, remove people or rejoin if your connection drops' : 'rejoin if your connection drops';
  const clock = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const say = (text) => { if (!meeting.left) meeting.setBanner('info', text, undefined, 'expiry'); };
  // (Timers beyond a day are left alone: a page is rarely open that long, and
  // setTimeout's delay overflows past 24.8 days.)
  const schedule = (delay, fn) => { if (delay < 24 * 3600 * 1000) setTimeout(fn, Math.max(0, delay)); };
  schedule(at - EXPIRY_WARNING_MS - Date.now(), () => say(`Your link expires at ${clock}. You stay in the meeting, but after that you cannot ${what}: ${newLinkAdvice(meeting.role)}.`));
  schedule(at - Date.now(), () => say(`Your link has expired. You are still in the meeting, but you cannot ${what}: ${newLinkAdvice(meeting.role)}.`));
}

/** After a failed join: the access page if the link is why (401, or 403 for this room). */
async function showIfNoAccess(app, room) {
  const session = await getSession({ fresh: true });
  if (session.status === 401) { showAuthError(app); return true; }
  const probe = await api(`/api/rooms/${encodeURIComponent(room)}`);
  if (probe.status === 401) { showAuthError(app); return true; }
  if (probe.status === 403) {
    showAccessDenied(app, { title: 'Your link is for another room', text: probe.body.error ?? 'This link does not let you into this room. Ask the host for a new link.' });
    return true;
  }
  return false;
}

/** How long a layout chosen while recording is held before it is sent. */
const LAYOUT_SETTLE_MS = 800;

/** A screen with no room for the People panel beside the stage (style.css's query). */
const NARROW = '(max-width: 800px), (max-height: 500px)';

class RoomView {
  constructor(app, meeting, problems) {
    this.meeting = meeting;
    this.tiles = new Map(); // participant id -> { tile, video, card }
    this.stageId = undefined;
    this.audioSinks = el('div', { id: 'audio-sinks', hidden: true });
    this.audioEls = new Map();

    this.stageVideo = el('video', { autoplay: true, playsinline: true, muted: true });
    this.stageCard = el('div', { class: 'name-card big', 'aria-hidden': 'true' });
    // Who is on the stage, and whether they can be heard: their own tile (where the
    // filmstrip shows mute icons) is hidden while they are on the stage.
    this.stageLabel = el('span', {});
    this.stageMuted = el('span', { class: 'muted-icon', title: 'Microphone off', role: 'img', 'aria-label': 'Microphone off', hidden: true }, icon('mic-off'));
    this.stageName = el('div', { class: 'stage-name' }, this.stageMuted, this.stageLabel);
    // The picture-in-picture: the speaker over a share, or (for the sharer) their own
    // share, small, so that they do not see their screen inside their screen.
    this.pipVideo = el('video', { autoplay: true, playsinline: true, muted: true });
    // Not a .name-card: `#stage .name-card` stays the stage's own card.
    this.pipCard = el('div', { class: 'pip-card', 'aria-hidden': 'true' });
    this.pipName = el('div', { class: 'tile-name' });
    this.pipMuted = el('span', { class: 'muted-icon', title: 'Microphone off', role: 'img', 'aria-label': 'Microphone off', hidden: true }, icon('mic-off'));
    this.pip = el('div', { id: 'stage-pip', class: 'stage-pip', hidden: true }, this.pipVideo, this.pipCard, el('div', { class: 'tile-bar' }, this.pipMuted, this.pipName));
    // Not a live region: it is drawn for every level report, and who speaks is heard.
    this.stage = el('section', { id: 'stage', class: 'stage', 'aria-label': 'Stage' }, this.stageVideo, this.stageCard, this.stageName, this.pip);
    this.filmstrip = el('section', { id: 'filmstrip', class: 'filmstrip', 'aria-label': 'Participants' });
    this.roster = el('ul', { id: 'roster', class: 'roster' });
    this.banner = el('div', { id: 'banner', class: 'banner', role: 'status', hidden: true });
    this.bannerClose = el('button', { id: 'banner-close', class: 'banner-close', type: 'button', title: 'Dismiss', 'aria-label': 'Dismiss this message' }, icon('close'));
    this.bannerClose.addEventListener('click', () => this.meeting.setBanner(null, null));

    this.micBtn = el('button', { id: 'toggle-mic', class: 'control' });
    this.camBtn = el('button', { id: 'toggle-camera', class: 'control' });
    this.shareBtn = el('button', { id: 'share-screen', class: 'control', 'data-action': 'share', 'aria-pressed': 'false' });
    this.shareBtn.addEventListener('click', () => (meeting.share ? meeting.stopShare() : meeting.startShare()));
    this.recordBtn = el('button', { id: 'record', class: 'control record' });
    // A layout still settling when Stop is pressed goes into the file first.
    this.recordBtn.addEventListener('click', () => meeting.toggleRecording(undefined, () => this.sendLayout()));
    // How the recording frames the meeting: chosen before Record, or changed while it runs.
    this.layoutPicker = el('select', { id: 'recording-layout', class: 'control layout-picker', 'aria-label': 'Recording layout', title: 'How the recording frames the meeting' },
      ...LAYOUTS.map(([value, label]) => el('option', { value }, label)));
    // While a recording runs each change is written into the file: arrow keys on the
    // closed list step through the layouts, so the last one held for 0.8 s is sent,
    // saying when it was chosen (the file changes there, not 0.8 s later).
    this.layoutPicker.addEventListener('change', () => {
      clearTimeout(this.layoutTimer);
      if (!meeting.state.recording) {
        this.pendingLayout = null;
        return meeting.setRecordingLayout(this.layoutPicker.value);
      }
      this.pendingLayout = this.layoutPicker.value;
      this.layoutChosenAt = performance.now();
      this.layoutTimer = setTimeout(() => this.sendLayout(), LAYOUT_SETTLE_MS);
    });
    // Everyone sees that the meeting is recorded, and for how long.
    // Not a status itself (its clock ticks every second): `announcer` says once that the
    // recording started; the banner says when it is saved.
    this.recIndicator = el('span', { id: 'recording-indicator', class: 'rec-indicator', hidden: true },
      el('span', { class: 'rec-dot' }), el('span', { class: 'rec-label' }, 'REC'), el('span', { class: 'rec-time', 'aria-hidden': 'true' }));
    this.announcer = el('div', { class: 'visually-hidden', role: 'status' });
    this.recTimer = setInterval(() => this.renderRecording(), 1000);
    this.leaveBtn = el('button', { id: 'leave', class: 'control leave', title: 'Leave the meeting', 'aria-label': 'Leave the meeting' }, icon('leave'), el('span', {}, 'Leave'));
    this.micBtn.addEventListener('click', () => meeting.toggle('audio'));
    this.camBtn.addEventListener('click', () => meeting.toggle('video'));
    this.leaveBtn.addEventListener('click', async () => {
      await meeting.leave();
      location.href = '/';
    });
    // Who is in the meeting, and the People panel's switch: beside the stage on a wide
    // screen (pressed: hidden, for a bigger stage), over it on a phone or a tablet
    // (pressed: shown), so that a host there can still see everyone and remove someone.
    this.countNumber = el('span', {});
    this.countWord = el('span', { class: 'count-word' });
    this.count = el('button', { id: 'people-toggle', class: 'count', type: 'button', 'aria-controls': 'people', title: 'Show or hide the people in the meeting' },
      icon('people'), this.countNumber, this.countWord);
    this.count.addEventListener('click', () => this.togglePeople(!this.peopleShown()));
    this.peopleClose = el('button', { class: 'people-close', type: 'button', title: 'Close', 'aria-label': 'Close the people list' }, icon('close'));
    this.peopleClose.addEventListener('click', () => this.togglePeople(false));
    this.narrow = window.matchMedia(NARROW);
    this.narrow.addEventListener('change', () => this.togglePeople(!this.narrow.matches));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.narrow.matches && this.peopleShown()) this.togglePeople(false);
    });
    // Over the stage, a tap beside the panel closes it, as a phone's sheets do.
    document.addEventListener('pointerdown', (e) => {
      if (this.narrow.matches && this.peopleShown() && !this.side.contains(e.target) && !this.count.contains(e.target)) this.togglePeople(false);
    });

    app.replaceChildren(el('div', { class: 'room' },
      topbar(el('h1', { class: 'room-name' }, meeting.room), this.recIndicator, this.count),
      this.banner,
      el('main', { class: 'room-main' },
        el('div', { class: 'stage-wrap' }, this.stage, this.filmstrip),
        this.side = el('aside', { id: 'people', class: 'side', 'aria-label': 'People' }, el('div', { class: 'side-head' }, el('h2', {}, 'People'), this.peopleClose), this.roster)),
      el('footer', { class: 'controls' }, this.micBtn, this.camBtn, this.shareBtn, this.recordBtn, this.layoutPicker, this.leaveBtn),
      this.audioSinks, this.announcer));

    this.main = this.side.parentElement;
    this.togglePeople(!this.narrow.matches);
    if (problems.length) meeting.setBanner('error', problems.join(' '));
    meeting.addEventListener('change', () => this.render());
    window.addEventListener('beforeunload', () => meeting.closeMedia());
  }

  /** Whether the People panel shows: by default beside the stage, not over it. */
  peopleShown() {
    return this.main.classList.contains('people-toggled') === this.narrow.matches;
  }

  /** Shows or hides the People panel; a change of screen width starts from its default. */
  togglePeople(shown) {
    // Focus in a panel that goes would fall to the page: it goes back to the switch.
    const hadFocus = !shown && this.side.contains(document.activeElement);
    this.main.classList.toggle('people-toggled', shown === this.narrow.matches);
    this.count.setAttribute('aria-expanded', String(shown));
    if (hadFocus) this.count.focus();
  }

  /** Who is on the stage: the active speaker, else the first to have joined. */
  stageParticipant() {
    const { participants, activeSpeaker } = this.meeting.state;
    return participants.get(activeSpeaker) ?? participants.values().next().value ?? null;
  }

  /** Sends the layout waiting to settle, if any, with how long ago it was chosen. Shown
   * as chosen until the server answers (then the recording has it, or the refusal puts
   * the picker back); a later choice meanwhile starts its own wait. */
  async sendLayout() {
    clearTimeout(this.layoutTimer);
    // One at a time: a send under way answers first (a refusal puts the picker back).
    while (this.layoutSending) await this.layoutSending;
    const layout = this.pendingLayout;
    if (!layout) return null;
    const chosenAt = this.layoutChosenAt;
    // Resolves to why the recording refused it, or null.
    this.layoutSending = (async () => {
      try {
        return await this.meeting.setRecordingLayout(layout, performance.now() - chosenAt);
      } finally {
        if (this.pendingLayout === layout) this.pendingLayout = null;
        this.layoutSending = null;
        this.render();
      }
    })();
    return this.layoutSending;
  }

  render() {
    const { state } = this.meeting;
    const people = [...state.participants.values()];
    this.countNumber.textContent = String(people.length);
    this.countWord.textContent = people.length === 1 ? ' person' : ' people';
    this.count.setAttribute('aria-label', `${people.length} ${people.length === 1 ? 'person' : 'people'} in the meeting`);

    // Drawn when it changes (render runs for every level report): the dismiss button
    // must stay the same element between a press and its release.
    if (state.banner !== this.shownBanner) {
      this.shownBanner = state.banner;
      if (state.banner) {
        this.banner.hidden = false;
        this.banner.className = `banner ${state.banner.kind}`;
        const { link: l } = state.banner;
        let link = '';
        if (l?.action) {
          // An offer to act on what the banner says (record at a smaller size).
          link = el('button', { type: 'button', class: 'banner-link banner-action', id: l.id ?? null }, l.text);
          // The banner goes once the action succeeds: the keyboard's focus goes to Record.
          link.addEventListener('click', () => { this.recordBtn.focus(); l.action(); });
        } else if (l) {
          link = el('a', { href: l.href, class: 'banner-link', target: l.newTab ? '_blank' : null, rel: l.newTab ? 'noopener' : null }, l.text);
        }
        this.banner.replaceChildren(state.banner.text, link, this.bannerClose);
      } else {
        this.banner.hidden = true;
      }
    }
    // While reconnecting the banner is the only word of what goes on: it stays.
    this.bannerClose.hidden = state.status === 'reconnecting';

    const onStage = this.stageParticipant();
    this.renderStage(onStage, this.sharer(people));

    for (const [id, t] of this.tiles) {
      if (!state.participants.has(id)) { t.tile.remove(); this.tiles.delete(id); }
    }
    for (const p of people) this.renderTile(p, p === onStage);
    this.renderAudio(people);
    this.renderRoster(people, onStage);
    this.renderControls();
    this.renderRecording();
  }

  renderRecording() {
    const rec = this.meeting.state.recording;
    this.recIndicator.hidden = !rec;
    if ((rec?.id ?? null) !== (this.announced ?? null)) {
      // Emptied when it stops, so that the next start is news again.
      this.announcer.textContent = rec ? 'This meeting is being recorded.' : '';
      this.announced = rec?.id ?? null;
    }
    // Without the server (reconnecting) nobody knows whether it still records: the clock
    // stops, dimmed, until the server says (it saves its recordings when it stops).
    const known = this.meeting.state.status === 'joined';
    this.recIndicator.classList.toggle('stale', !!rec && !known);
    if (rec && !known) {
      this.recIndicator.title = 'The connection to the server is lost: whether it still records is not known until it is back';
    } else if (rec) {
      this.recIndicator.dataset.recordingId = rec.id;
      const secs = Math.max(0, Math.floor((Date.now() - Date.parse(rec.started_at)) / 1000));
      const hh = Math.floor(secs / 3600);
      const mm = String(Math.floor(secs / 60) % 60).padStart(2, '0');
      const ss = String(secs % 60).padStart(2, '0');
      this.recIndicator.querySelector('.rec-time').textContent = hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
      this.recIndicator.title = 'This meeting is being recorded';
    } else {
      delete this.recIndicator.dataset.recordingId;
    }
    const busy = this.meeting.recordingBusy;
    const btn = this.recordBtn;
    // Only a host (or an admin) records: a guest has no Record button (the REC badge stays).
    if (this.meeting.role === 'guest') {
      btn.hidden = true;
      btn.disabled = true;
      btn.title = 'Only the host can record this meeting';
      this.layoutPicker.hidden = true;
      return;
    }
    this.layoutPicker.hidden = false;
    this.layoutPicker.disabled = !!busy || this.meeting.state.status !== 'joined';
    // While a recording runs, its layout (whoever set it); else this tab's choice.
    const layout = rec?.layout ?? this.meeting.recordingLayout;
    if (this.pendingLayout == null && this.layoutPicker.value !== layout) this.layoutPicker.value = layout;
    btn.hidden = false;
    // Busy, it stays focusable (a disabled button drops the keyboard's focus to the
    // page): aria-disabled, and the meeting ignores a press meanwhile.
    btn.disabled = this.meeting.state.status !== 'joined';
    btn.setAttribute('aria-disabled', String(!!busy));
    btn.dataset.recording = String(!!rec);
    btn.classList.toggle('on', !!rec);
    const label = busy === 'starting' ? 'Starting…' : busy === 'stopping' ? 'Saving…' : rec ? 'Stop recording' : 'Record';
    btn.title = rec ? 'Stop recording and save the file' : 'Record this meeting into one video';
    setButton(btn, rec ? 'stop' : 'record', label);
  }

  /** Whose screen share is on stage: one whose picture this tab has (or this tab's own). */
  sharer(people) {
    return people.find((p) => p.screen && p.screenTrack) ?? null;
  }

  /**
   * The stage: the active speaker; or, while someone shares, their screen fitted to
   * the stage with the speaker small in the corner. The sharer keeps the speaker on
   * their stage and sees their own share in the corner.
   */
  renderStage(p, sharer) {
    const stageId = p?.id ?? null;
    const camera = p?.video ? p.videoTrack : null;
    this.stage.dataset.participantName = p?.name ?? '';
    this.stage.dataset.participantId = stageId ?? '';
    if (sharer) this.stage.dataset.screenName = sharer.name;
    else delete this.stage.dataset.screenName;
    const remoteShare = sharer && !sharer.isMe;
    const you = (x) => (x.isMe ? `${x.name} (you)` : x.name);
    // The big picture.
    const track = remoteShare ? sharer.screenTrack : camera;
    this.stage.classList.toggle('sharing', !!remoteShare);
    this.stageLabel.textContent = remoteShare ? `${sharer.name}'s screen` : p ? you(p) : 'Waiting for others…';
    this.stageMuted.hidden = !(p && !remoteShare && !p.audio);
    setVideo(this.stageVideo, track, !remoteShare && p?.isMe);
    this.stageCard.hidden = !!track;
    this.stageCard.textContent = p ? initials(p.name) : '';
    this.stageCard.style.background = p ? colorFor(p.name) : '';
    // The small one.
    this.pip.hidden = !sharer;
    if (sharer) {
      const small = remoteShare ? camera : sharer.screenTrack;
      setVideo(this.pipVideo, small, remoteShare && p?.isMe);
      this.pipVideo.classList.toggle('screen', !remoteShare);
      this.pipCard.hidden = !!small;
      this.pipCard.textContent = p ? initials(p.name) : '';
      this.pipCard.style.background = p ? colorFor(p.name) : '';
      this.pipName.textContent = remoteShare ? (p ? you(p) : '') : 'Your screen';
      // Over another's share the speaker is here, and their tile is hidden: their mute too.
      this.pipMuted.hidden = !(remoteShare && p && !p.audio);
      this.pip.dataset.participantName = remoteShare ? (p?.name ?? '') : sharer.name;
    } else {
      setVideo(this.pipVideo, null, false);
    }
    if (stageId !== this.stageId) {
      this.stageId = stageId;
      window.podium.stageLog.push({ t: Date.now(), name: p?.name ?? null });
    }
  }

  renderTile(p, onStage) {
    let t = this.tiles.get(p.id);
    if (!t) {
      const video = el('video', { autoplay: true, playsinline: true, muted: true });
      const card = el('div', { class: 'name-card' });
      const label = el('div', { class: 'tile-name' });
      const muted = el('span', { class: 'muted-icon', title: 'Microphone off', role: 'img', 'aria-label': 'Microphone off' }, icon('mic-off'));
      const tile = el('div', { class: 'tile' }, video, card, el('div', { class: 'tile-bar' }, muted, label));
      t = { tile, video, card, label, muted };
      this.tiles.set(p.id, t);
      this.filmstrip.append(tile);
    }
    t.tile.hidden = onStage;
    t.tile.dataset.participantName = p.name;
    t.tile.dataset.participantId = p.id;
    t.tile.dataset.speaking = String(!!p.speaking);
    // The ring grows with the level: -127 dBov (silent) .. -20 dBov (loud).
    const strength = Math.max(0, Math.min(1, (p.level + 65) / 45));
    t.tile.style.setProperty('--level', strength.toFixed(2));
    t.label.textContent = p.isMe ? `${p.name} (you)` : p.name;
    t.muted.hidden = p.audio;
    const track = p.video ? p.videoTrack : null;
    setVideo(t.video, onStage ? null : track, p.isMe);
    t.tile.classList.toggle('sharing', !!p.screen);
    t.card.hidden = !!track;
    t.card.textContent = initials(p.name);
    t.card.style.background = colorFor(p.name);
  }

  renderAudio(people) {
    // Everyone's microphone, and a shared screen's sound.
    const wanted = new Map(people.filter((p) => !p.isMe && p.audioTrack).map((p) => [p.id, p.audioTrack]));
    for (const p of people.filter((x) => !x.isMe && x.screenAudioTrack)) wanted.set(`${p.id}:screen`, p.screenAudioTrack);
    for (const [id, audio] of this.audioEls) {
      if (wanted.get(id) !== audio.srcObject?.getAudioTracks()[0]) { audio.remove(); this.audioEls.delete(id); }
    }
    for (const [id, track] of wanted) {
      if (this.audioEls.has(id)) continue;
      const audio = el('audio', { autoplay: true });
      audio.dataset.participantId = id;
      audio.srcObject = new MediaStream([track]);
      audio.play().catch(() => this.meeting.setBanner('info', 'Click anywhere to hear the others (the browser blocked autoplay).'));
      this.audioSinks.append(audio);
      this.audioEls.set(id, audio);
    }
  }

  renderRoster(people, onStage) {
    const mayRemove = this.meeting.mayRemove() && this.meeting.state.status === 'joined';
    // The rows are made anew only when who is there, their names, mute icons or the
    // Remove permission change: render runs for every level report, and a Remove
    // button must stay the same element between a press and its release (and keep
    // the keyboard's focus). Who speaks and who is on stage change in place.
    const key = JSON.stringify([mayRemove, people.map((p) => [p.id, p.name, p.audio, p.video])]);
    if (key !== this.rosterKey) {
      this.rosterKey = key;
      // A Remove button with the keyboard's focus is made anew: the focus goes to the
      // same person's new one, or (they left) the next person's, or the panel's close.
      const focusedRow = this.roster.contains(document.activeElement) ? [...this.rosterRows?.entries() ?? []].find(([, r]) => r.li.contains(document.activeElement)) : null;
      const order = [...(this.rosterRows?.keys() ?? [])];
      this.rosterRows = new Map();
      this.roster.replaceChildren(...people.map((p) => {
        const dot = el('span', { class: 'speaking-dot', title: 'Speaking', hidden: true });
        const li = el('li', { 'data-participant-name': p.name },
          el('span', { class: 'avatar', style: `background:${colorFor(p.name)}`, 'aria-hidden': 'true' }, initials(p.name)),
          el('span', { class: 'roster-name' }, p.isMe ? `${p.name} (you)` : p.name),
          dot,
          p.audio ? null : el('span', { class: 'muted-icon', title: 'Microphone off', role: 'img', 'aria-label': 'Microphone off' }, icon('mic-off')),
          p.video ? null : el('span', { class: 'muted-icon', title: 'Camera off', role: 'img', 'aria-label': 'Camera off' }, icon('cam-off')),
          mayRemove && !p.isMe ? this.removeButton(p) : null);
        this.rosterRows.set(p.id, { li, dot });
        return li;
      }));
      if (focusedRow) {
        const after = order.slice(order.indexOf(focusedRow[0])).find((id) => this.rosterRows.get(id)?.li.querySelector('.remove-participant'));
        (this.rosterRows.get(after)?.li.querySelector('.remove-participant') ?? this.peopleClose).focus();
      }
    }
    for (const p of people) {
      const row = this.rosterRows.get(p.id);
      row.li.classList.toggle('on-stage', p === onStage);
      row.dot.hidden = !p.speaking;
    }
  }

  /** A host's button to remove `p` from the meeting, after asking. */
  removeButton(p) {
    const button = el('button', { class: 'remove-participant', type: 'button', title: `Remove ${p.name} from the meeting`, 'aria-label': `Remove ${p.name} from the meeting` }, icon('close'));
    button.addEventListener('click', () => {
      // They can come back with their link while it is valid (docs/security.md).
      if (window.confirm(`Remove ${p.name} from the meeting? Their camera, microphone and screen stop reaching everyone at once.`)) this.meeting.remove(p.id);
    });
    return button;
  }

  renderControls() {
    const m = this.meeting;
    const set = (btn, kind, on, off, label) => {
      const has = m.hasDevice(kind);
      const muted = m.isMuted(kind);
      btn.disabled = !has;
      btn.classList.toggle('off', muted);
      btn.title = has ? (muted ? `Turn ${label} on` : `Turn ${label} off`) : `No ${label}`;
      setButton(btn, muted ? off : on, muted ? `${label[0].toUpperCase()}${label.slice(1)} off` : `${label[0].toUpperCase()}${label.slice(1)} on`);
    };
    set(this.micBtn, 'audio', 'mic', 'mic-off', 'mic');
    set(this.camBtn, 'video', 'cam', 'cam-off', 'camera');
    const sharing = !!m.share;
    this.shareBtn.hidden = !Meeting.canShare();
    this.shareBtn.disabled = !!m.sharing || m.state.status !== 'joined';
    this.shareBtn.setAttribute('aria-pressed', String(sharing));
    this.shareBtn.classList.toggle('on', sharing);
    this.shareBtn.title = sharing ? 'Stop sharing your screen' : 'Share your screen (it takes over the stage from any other share)';
    setButton(this.shareBtn, 'screen', sharing ? 'Stop sharing' : 'Share screen');
  }
}

/**
 * Sets a control's icon and label, touching the DOM only when they change: the room
 * renders several times a second, and a click whose target is replaced between press
 * and release is lost.
 */
function setButton(btn, iconName, label) {
  if (btn.dataset.icon === iconName && btn.dataset.label === label) return;
  btn.dataset.icon = iconName;
  btn.dataset.label = label;
  // Its name whatever the width: on a phone the label is hidden, and the title alone
  // would not say "Starting…" or "Mic off".
  btn.setAttribute('aria-label', label);
  btn.replaceChildren(icon(iconName), el('span', {}, label));
}

function setVideo(video, track, mirror) {
  const current = video.srcObject?.getVideoTracks()[0] ?? null;
  if (current !== track) {
    video.srcObject = track ? new MediaStream([track]) : null;
    if (track) video.play().catch(() => {});
  }
  video.hidden = !track;
  video.classList.toggle('mirror', !!mirror);
}
