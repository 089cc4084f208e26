// The review page (/recordings/{id}): the player (Range requests, the WebVTT speaker
// track), the speaker timeline under it (a row per participant; hover for who and
// when, click to seek; the playhead follows), the current speaker, the chapters, the
// talk-time summary, and the highlight reel (build with progress, play, its clips seek
// the recording). DOM hooks (docs/api.md): #player, #current-speaker, #timeline,
// .timeline-segment[data-start-ms][data-end-ms][data-participant-name], the "Screen"
// row .timeline-row.screen-row with .screen-segment[data-start-ms][data-end-ms]
// [data-participant-name] per screen share, #playhead,
// #chapters li[data-start-ms], #talk-time .talk-row, #build-reel, #reel-progress,
// #reel-queued, #reel-error, #reel-player, .reel-clip[data-source-start-ms]; for a host or an admin, #share,
// #share-url, #shares li[data-share-id] .revoke-share. A share link's viewer
// (shareViewer) gets the recording only: no library link, no sharing.
import { el, icon, initials, colorFor, onPress } from './ui.js';
import { formatClock, formatDate, formatDay, formatDuration, formatSize, topbar } from './format.js';
import { api, canManage, getSession, newLinkAdvice, openedThroughShare, showAccessProblem, showShareExpired } from './access.js';

const SHARE_SECONDS = 7 * 24 * 3600;

const POLL_MS = 700;

export async function showReview(app, id, { shareViewer = false } = {}) {
  const banner = el('div', { id: 'banner', class: 'banner', role: 'status', hidden: true });
  const say = (kind, text) => { banner.hidden = !text; banner.className = `banner ${kind}`; banner.textContent = text ?? ''; };
  const nav = el('span', { class: 'topbar-nav' });
  app.replaceChildren(el('div', { class: 'page' }, topbar(nav), banner,
    el('main', { class: 'page-main' }, el('p', { class: 'muted' }, 'Loading the recording…'))));

  // A share link's cookie reaches only this recording's API, not /api/session: a page
  // with the recording and no session is a share link's.
  const [session, res] = await Promise.all([getSession(), api(`/api/recordings/${encodeURIComponent(id)}`)]);
  const me = session.ok ? session.body : null;
  if (!res.ok) {
    const forbidden = me?.kind === 'access' && me.role === 'guest'
      ? { title: 'Only a host can watch the recordings', text: 'Your link is for joining the meeting. Ask the host to share the recording with you.' }
      : { title: 'Your link is for another room', text: `Your link does not open this recording${me?.room && me.room !== '*' ? `: it opens the recordings of “${me.room}” only` : ''}. Ask its host to share it with you.` };
    // A share link's viewer whose link expired or was revoked (its cookie gone: a 401).
    if (res.status === 401 && (shareViewer || openedThroughShare(id))) return showShareExpired(app);
    if (showAccessProblem(app, res, forbidden)) return;
    const text = res.status === 404 ? 'There is no such recording: it may have been deleted.' : `This recording cannot be shown: ${res.body.error ?? `the server answered ${res.status}`}`;
    if (!shareViewer) nav.replaceChildren(el('a', { href: '/recordings', class: 'back' }, '← Recordings'));
    app.querySelector('.page-main').replaceChildren(el('div', { class: 'empty card-ish', id: 'review-error' },
      el('h2', {}, res.status === 404 ? 'Not found' : 'Cannot open the recording'), el('p', {}, text),
      shareViewer ? null : el('a', { href: '/recordings', class: 'button-link' }, 'Back to the recordings')));
    return;
  }
  const viewer = shareViewer || session.status === 401 || me?.kind === 'share';
  nav.replaceChildren(viewer
    ? el('span', { class: 'muted shared-label' }, 'Shared recording')
    : el('a', { href: '/recordings', class: 'back' }, '← Recordings'));
  new Review(app, res.body, say, { shareViewer: viewer, mayShare: !viewer && canManage(me), role: me?.role }).render();
}

class Review {
  constructor(app, rec, say, { shareViewer = false, mayShare = false, role = null } = {}) {
    this.app = app;
    this.role = role;
    this.rec = rec;
    this.say = say;
    this.shareViewer = shareViewer; // (nothing to delete or share on this page then)
    this.mayShare = mayShare;
    this.duration = Math.max(1, rec.duration_ms);
    const base = `/api/recordings/${rec.id}`;
    this.player = el('video', { id: 'player', controls: true, preload: 'metadata', playsinline: true, src: `${base}/video` },
      el('track', { kind: 'subtitles', label: 'Speakers', srclang: 'en', src: `${base}/speakers.vtt` }));
    this.player.addEventListener('error', () => this.say('error', `The video cannot be played: ${this.player.error?.message || 'the file is missing or damaged'}.`));
    this.current = el('div', { id: 'current-speaker', class: 'current-speaker', 'aria-live': 'polite' });
    this.playhead = el('div', { id: 'playhead', class: 'playhead' });
    this.tooltip = el('div', { class: 'tooltip', role: 'tooltip', hidden: true });
    // One Tab stop per row, arrow keys between its turns (an hour's meeting has hundreds
    // of bars, which would each be a Tab stop before the chapters).
    this.timeline = el('div', { id: 'timeline', class: 'timeline', role: 'group', 'aria-describedby': 'timeline-keys' });
    this.timeline.addEventListener('keydown', (e) => this.moveInTimeline(e));
    this.chapters = el('ol', { id: 'chapters', class: 'chapters' });
    this.talk = el('div', { id: 'talk-time', class: 'talk-time' });
    this.reel = el('section', { id: 'highlights', class: 'panel' });
    this.expiry = el('div', { id: 'review-expires', class: 'muted small', hidden: true });
    this.player.addEventListener('timeupdate', () => this.follow());
    this.player.addEventListener('seeked', () => this.follow());
    // A running recording's file grows, but the player keeps the length it had when it
    // was loaded: played to that end, it goes on from there with what was recorded since.
    this.loadedFor = rec.duration_ms;
    // A place asked for past what the loaded file holds ({ ms, play }): the file is
    // loaded again as it grows until it holds it. (The sidecar's length runs a second or
    // two ahead of the file's: a turn that just began may not be in it yet.)
    this.target = null;
    this.player.addEventListener('ended', () => {
      if (this.rec.status !== 'recording' && this.rec.duration_ms <= this.loadedFor + 500) return;
      this.target = { ms: this.loadedMs(), play: true };
      if (this.rec.duration_ms > this.loadedFor) this.reloadVideo(this.target.ms, true);
    });
    this.headInfo = el('div', { class: 'muted' });
    // One player at a time: the reel's sound over the recording's is noise.
    this.player.addEventListener('play', () => this.app.querySelector('#reel-player')?.pause());
  }

  /** How much of the recording the player has (ms): what the file held when loaded. */
  loadedMs() {
    return Number.isFinite(this.player.duration) ? this.player.duration * 1000 : this.loadedFor;
  }

  /** Loads the file again, as it is now (a running recording's has grown), and goes on at
   * `atMs`, playing or not. Its last picture stands in while it loads (no black flash). */
  reloadVideo(atMs, play) {
    const version = (this.videoVersion ?? 0) + 1;
    this.videoVersion = version;
    this.target = { ms: atMs, play };
    this.reloading = true;
    try {
      const { videoWidth: w, videoHeight: h } = this.player;
      if (w && h && this.player.readyState >= 2) {
        const canvas = el('canvas', { width: w, height: h });
        canvas.getContext('2d').drawImage(this.player, 0, 0, w, h);
        this.player.poster = canvas.toDataURL('image/jpeg', 0.8);
      }
    } catch {
      // No picture to hold: the player shows black for a moment.
    }
    const base = `/api/recordings/${this.rec.id}`;
    this.loadedFor = this.rec.duration_ms;
    // The speaker track too (it grows with the turns), shown as it was.
    const mode = this.player.textTracks[0]?.mode;
    const track = el('track', { kind: 'subtitles', label: 'Speakers', srclang: 'en', src: `${base}/speakers.vtt?v=${this.loadedFor}` });
    this.player.querySelector('track')?.replaceWith(track);
    if (mode) track.track.mode = mode;
    this.player.src = `${base}/video?v=${this.loadedFor}`;
    this.player.addEventListener('loadedmetadata', () => {
      if (this.videoVersion !== version) return;
      this.reloading = false;
      // The latest place asked for (a seek while it loaded moves it).
      const { ms, play: playing } = this.target;
      if (ms <= this.loadedMs() + 100) {
        this.target = null;
        this.player.currentTime = Math.min(ms, this.loadedMs()) / 1000;
        if (playing) this.player.play().catch(() => {});
      } else {
        // Not in the file yet: its end meanwhile, and the next poll loads it again.
        this.player.currentTime = Math.max(0, this.loadedMs() - 50) / 1000;
      }
    }, { once: true });
    // A load that fails says so (the player's error handler), and seeks work again.
    this.player.addEventListener('error', () => { if (this.videoVersion === version) this.reloading = false; }, { once: true });
  }

  seek(ms, play = true) {
    // A little past the start: the turn's first frame, not the one before it.
    const at = ms + 50;
    if (this.reloading) {
      this.target = { ms: at, play };
      return;
    }
    // Past what the player has of a recording that has grown since: load it again.
    const growing = this.rec.status === 'recording' || this.rec.duration_ms > this.loadedFor + 250;
    if (at > this.loadedMs() - 200 && growing) return this.reloadVideo(at, play);
    this.target = null;
    this.player.currentTime = at / 1000;
    if (play) this.player.play().catch(() => {});
  }

  /** The line under the title: when, how long, how large, who. */
  renderHeadInfo() {
    const { rec } = this;
    const people = rec.participants.map((p) => p.name).join(', ');
    this.headInfo.textContent = `${formatDate(rec.started_at)} · ${formatDuration(rec.duration_ms)} · ${formatSize(rec.size_bytes)}${people ? ` · ${people}` : ''}`;
  }

  render() {
    const { rec } = this;
    const live = rec.status === 'recording';
    const note = {
      recording: ['info', 'This meeting is still being recorded: what is recorded so far plays, and the page keeps up.'],
      failed: ['error', `This recording stopped on an error: ${rec.error ?? 'unknown'}. What was recorded plays.`],
      interrupted: ['error', `${rec.error ?? 'This recording was cut off'}.`],
    }[rec.status];
    if (note) this.say(...note);
    this.renderHeadInfo();
    const main = el('main', { class: 'page-main review' },
      el('div', { class: 'review-head' },
        el('h1', {}, rec.room),
        this.headInfo,
        this.expiry,
        el('div', { class: 'review-actions' },
          el('a', { class: 'button-link download', href: `/api/recordings/${rec.id}/video`, download: `podium-${rec.room}-${rec.id}.mp4` }, icon('download'), 'Download'),
          this.mayShare ? this.shareButton() : null)),
      this.mayShare ? this.sharePanel() : null,
      el('div', { class: 'review-grid' },
        el('div', { class: 'review-main' },
          el('div', { class: 'player-wrap' }, this.player),
          this.current,
          this.qualityNote(),
          el('section', { class: 'panel', 'aria-label': 'Speaker timeline' },
            el('h2', {}, 'Who spoke when'),
            el('p', { id: 'timeline-keys', class: 'visually-hidden' }, 'Tab moves between people; the left and right arrow keys move between turns, up and down to the same moment in the row above or below; Enter plays from the turn.'),
            el('div', { class: 'timeline-wrap' }, this.timeline, this.tooltip))),
        el('aside', { class: 'review-side' },
          el('section', { class: 'panel' }, el('h2', {}, 'Chapters'), this.chapters),
          el('section', { class: 'panel' }, el('h2', {}, 'Talk time'), this.talk),
          this.reel)));
    this.app.querySelector('.page-main').replaceWith(main);
    this.renderTimeline();
    this.renderChapters();
    this.renderTalk();
    this.renderReel(rec.highlights ?? { status: 'none' }, live);
    this.renderExpiry();
    if (this.mayShare) this.renderShares();
    // The chapters and segments are new: marked afresh.
    this.currentStart = undefined;
    this.follow();
    if (live) this.pollLive();
  }

  /** A small note when the recorder had to lower its quality to keep up with real
   * time on a busy server (`quality_steps`): for how long, when, and how far; and how
   * often it fell so far behind that it drew only a few frames a second to catch up
   * (a `catch_up` step, ended by the next step). */
  qualityNote() {
    const steps = this.rec.quality_steps || [];
    if (!steps.length) return null;
    // The stretches below the recording's own settings: the ladder's (from a degraded
    // step to the one that restores them) and the catch-ups', merged where they meet.
    const stretches = [];
    let open = null;
    for (const [i, step] of steps.entries()) {
      if (step.catch_up) {
        stretches.push({ start_ms: step.at_ms, end_ms: steps[i + 1]?.at_ms ?? this.duration });
        continue;
      }
      if (step.degraded && open === null) open = step.at_ms;
      if (!step.degraded && open !== null) {
        stretches.push({ start_ms: open, end_ms: step.at_ms });
        open = null;
      }
    }
    if (open !== null) stretches.push({ start_ms: open, end_ms: this.duration });
    stretches.sort((a, b) => a.start_ms - b.start_ms);
    const spans = [];
    for (const s of stretches) {
      const last = spans.at(-1);
      if (last && s.start_ms <= last.end_ms) last.end_ms = Math.max(last.end_ms, s.end_ms);
      else spans.push({ ...s });
    }
    const total = spans.reduce((sum, s) => sum + (s.end_ms - s.start_ms), 0);
    const when = spans.map((s) => `${formatClock(s.start_ms)}–${formatClock(s.end_ms)}`).join(', ');
    // How far the ladder went (a catch-up's few frames a second last a moment, and are
    // said apart).
    const ladder = steps.filter((s) => s.degraded && !s.catch_up);
    const lowest = ladder.reduce((low, s) => (!low || s.fps < low.fps || (s.fps === low.fps && s.thumbnail_fps && !low.thumbnail_fps) ? s : low), null);
    const how = lowest ? ` (at its lowest: ${lowest.fps} fps, x264 ${lowest.preset}${lowest.thumbnail_fps ? `, thumbnails at ${lowest.thumbnail_fps} fps` : ''})` : '';
    const catchUps = steps.filter((s) => s.catch_up);
    const times = { 1: 'Once', 2: 'Twice' }[catchUps.length] ?? `${catchUps.length} times`;
    const caught = catchUps.length ? ` ${times} it fell more than a second behind and drew ${catchUps[0].fps} frames a second until it caught up.` : '';
    const what = ladder.length ? `the recorder lowered its quality${how} to keep the recording in time.` : 'the recorder fell behind real time.';
    return el('p', { id: 'quality-note', class: 'quality-note muted small', 'data-degraded-ms': total, 'data-catch-ups': catchUps.length },
      `The server was busy while this was recorded: for ${formatDuration(total)} (${when}) ${what}${caught}`);
  }

  /** A row per participant, a bar per turn, to the recording's length; under them a
   * "Screen" row with a bar per screen share. */
  renderTimeline() {
    const rows = this.timelineRows();
    // The same rows and turns as drawn (a live recording's poll: only the last turn and
    // the length grew): the bars are updated where they are. A redraw would give the
    // focus to a new node every 2 s, which a screen reader announces again.
    if (this.patchTimeline(rows)) return;
    const stops = new Map([...this.timeline.querySelectorAll('.track button[tabindex="0"]')].map((b) => [rowOf(b), Number(b.dataset.startMs)]));
    keepFocus(this.timeline, () => this.drawTimeline(rows));
    // One Tab stop per row: the focused bar's, else the one the row had, else its first.
    for (const track of this.timeline.querySelectorAll('.track')) {
      const bars = [...track.querySelectorAll('button')];
      const had = bars.length ? stops.get(rowOf(bars[0])) : undefined;
      const stop = bars.find((b) => b === document.activeElement) ?? bars.find((b) => Number(b.dataset.startMs) === had) ?? bars[0];
      for (const b of bars) b.tabIndex = b === stop ? 0 : -1;
    }
    // A label over a bar drawn away goes with it (a focused bar's new one shows its own).
    if (!this.tooltip.hidden) this.drawTooltip();
  }

  /** What the timeline shows: a row per speaker (in join order), then the "Screen" row. */
  timelineRows() {
    const { rec } = this;
    const turns = rec.timeline;
    const screens = (rec.screen_shares || []).map((s) => ({ ...s, end_ms: s.end_ms ?? this.duration }));
    const order = [...new Set([...rec.participants.map((p) => p.name), ...turns.map((t) => t.name)])].filter((n) => turns.some((t) => t.name === n));
    const rows = order.map((name) => ({ key: name, name, cls: 'timeline-segment', spans: turns.filter((t) => t.name === name).map((t) => ({ ...t, label: name })) }));
    if (screens.length) rows.push({ key: SCREEN_ROW, name: null, cls: 'screen-segment', spans: screens.map((s) => ({ ...s, label: `${s.name}'s screen` })) });
    return rows;
  }

  /** Updates the drawn bars to `rows` when they are the same rows and turns; false when
   * they are not (then the timeline is drawn afresh). */
  patchTimeline(rows) {
    const drawn = [...this.timeline.querySelectorAll('.timeline-row:not(.axis)')];
    if (!rows.length || drawn.length !== rows.length) return false;
    const bars = drawn.map((row) => [...row.querySelectorAll('.track button')]);
    const same = rows.every((row, i) => rowOf(drawn[i]) === row.key && bars[i].length === row.spans.length
      && row.spans.every((span, j) => Number(bars[i][j].dataset.startMs) === span.start_ms));
    if (!same) return false;
    rows.forEach((row, i) => row.spans.forEach((span, j) => this.placeSegment(bars[i][j], span)));
    this.timeline.querySelector('.timeline-row.axis')?.replaceWith(this.axis());
    // A label shown on the growing bar says its new end, and sits over its new place.
    if (!this.tooltip.hidden) this.drawTooltip();
    return true;
  }

  /** Arrow keys within the timeline: along a row, or to the nearest turn in time in
   * the row above or below; Home and End to a row's first and last. */
  moveInTimeline(e) {
    const from = e.target.closest?.('.track button');
    if (!from || e.altKey || e.ctrlKey || e.metaKey) return;
    const bars = [...from.parentElement.querySelectorAll('button')];
    const i = bars.indexOf(from);
    let to = null;
    if (e.key === 'ArrowRight') to = bars[i + 1];
    else if (e.key === 'ArrowLeft') to = bars[i - 1];
    else if (e.key === 'Home') to = bars[0];
    else if (e.key === 'End') to = bars.at(-1);
    else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      const tracks = [...this.timeline.querySelectorAll('.track')].filter((t) => t.querySelector('button'));
      const next = tracks[tracks.indexOf(from.parentElement) + (e.key === 'ArrowUp' ? -1 : 1)];
      const at = Number(from.dataset.startMs);
      const distance = (b) => Math.abs(Number(b.dataset.startMs) - at);
      if (next) to = [...next.querySelectorAll('button')].reduce((best, b) => (!best || distance(b) < distance(best) ? b : best), null);
    } else return;
    e.preventDefault();
    if (!to) return;
    for (const b of to.parentElement.querySelectorAll('button')) b.tabIndex = -1;
    from.tabIndex = -1;
    to.tabIndex = 0;
    // The row's previous stop is now `to`: a row left by Up or Down keeps its own.
    if (to.parentElement !== from.parentElement) from.tabIndex = 0;
    to.focus();
  }

  drawTimeline(rows) {
    if (!rows.length) {
      this.timeline.replaceChildren(el('p', { class: 'muted small' }, 'Nobody spoke in this recording.'));
      return;
    }
    const drawn = rows.map((row) => {
      const track = this.track();
      for (const span of row.spans) track.append(this.segment(row.cls, span, span.name, colorFor(span.name)));
      const head = row.key === SCREEN_ROW
        ? el('span', { class: 'timeline-name' }, el('span', { class: 'avatar tiny screen-icon' }, icon('screen')), 'Screen')
        : el('span', { class: 'timeline-name' }, el('span', { class: 'avatar tiny', style: `background:${colorFor(row.name)}`, 'aria-hidden': 'true' }, initials(row.name)), el('span', { class: 'timeline-label', title: row.name }, row.name));
      return row.key === SCREEN_ROW
        ? el('div', { class: 'timeline-row screen-row' }, head, track)
        : el('div', { class: 'timeline-row', 'data-participant-name': row.name }, head, track);
    });
    this.timeline.replaceChildren(...drawn, this.axis(), this.playhead);
  }

  /** The time axis under the rows: about one label per 90 px of track. */
  axis() {
    const ticks = el('div', { class: 'ticks' });
    const step = niceStep(this.duration, Math.max(2, Math.floor((this.timeline.clientWidth - 130) / 90)));
    for (let t = 0; t <= this.duration; t += step) ticks.append(el('span', { style: `left:${(t / this.duration) * 100}%` }, formatDuration(t)));
    return el('div', { class: 'timeline-row axis' }, el('span', { class: 'timeline-name' }), ticks);
  }

  /** A row's track: a click on it (not on a bar) seeks there. */
  track() {
    const track = el('div', { class: 'track' });
    track.addEventListener('click', (e) => {
      if (e.target !== track) return;
      const box = track.getBoundingClientRect();
      this.seek(((e.clientX - box.left) / box.width) * this.duration - 50);
    });
    return track;
  }

  /** One bar of `span` (start_ms, end_ms, label): seeks to its start; hover says what.
   * Its place and times are read when shown: a live recording's last bar grows. */
  segment(cls, span, name, colour) {
    const seg = el('button', { class: cls, 'data-start-ms': span.start_ms, 'data-participant-name': name });
    seg.style.background = colour;
    this.placeSegment(seg, span);
    const times = () => {
      const [start, end] = [Number(seg.dataset.startMs), Number(seg.dataset.endMs)];
      return { start, end, text: `${seg.dataset.label} · ${formatClock(start)} – ${formatClock(end)}` };
    };
    seg.addEventListener('click', () => this.seek(Number(seg.dataset.startMs)));
    seg.addEventListener('pointerenter', (e) => { this.touched = e.pointerType === 'touch'; });
    seg.addEventListener('mouseenter', () => this.showTooltip(seg, () => { const t = times(); return `${t.text} (${formatDuration(t.end - t.start)})`; }));
    seg.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    seg.addEventListener('focus', () => this.showTooltip(seg, () => times().text));
    seg.addEventListener('blur', () => { this.tooltip.hidden = true; });
    return seg;
  }

  /** A bar's place, length and label for `span`. */
  placeSegment(seg, span) {
    seg.style.left = `${(span.start_ms / this.duration) * 100}%`;
    seg.style.width = `${Math.max(0.4, ((span.end_ms - span.start_ms) / this.duration) * 100)}%`;
    seg.dataset.endMs = span.end_ms;
    seg.dataset.label = span.label;
    seg.setAttribute('aria-label', `${span.label}, ${formatClock(span.start_ms)} to ${formatClock(span.end_ms)}`);
  }

  /** Shows the label `textOf()` over bar `seg`; it is read again when the bar moves. */
  showTooltip(seg, textOf) {
    this.tip = { seg, textOf };
    this.tooltip.hidden = false;
    this.drawTooltip();
    // Without a mouse nothing leaves the bar: a tap's label goes by itself, so that it
    // does not hide the row above it.
    clearTimeout(this.tooltipTimer);
    if (this.touched) this.tooltipTimer = setTimeout(() => { this.tooltip.hidden = true; }, 2500);
  }

  drawTooltip() {
    if (!this.tip?.seg.isConnected) {
      this.tooltip.hidden = true;
      return;
    }
    const { seg, textOf } = this.tip;
    this.tooltip.textContent = textOf();
    const wrap = this.tooltip.parentElement.getBoundingClientRect();
    const box = seg.getBoundingClientRect();
    this.tooltip.style.left = `${Math.min(wrap.width - 200, Math.max(0, box.left - wrap.left))}px`;
    this.tooltip.style.top = `${box.top - wrap.top - 34}px`;
  }

  /** Share: a link anyone can watch this recording with, for 7 days, until revoked. */
  shareButton() {
    const button = el('button', { id: 'share', class: 'button-link primary', type: 'button', title: 'Make a link that plays this recording for 7 days, without signing in' }, icon('link'), 'Share');
    onPress(button, () => this.share());
    return button;
  }

  sharePanel() {
    this.shareUrl = el('input', { id: 'share-url', type: 'text', readonly: true, 'aria-label': 'Share link', spellcheck: 'false' });
    this.shareUrl.addEventListener('focus', () => this.shareUrl.select());
    const copy = el('button', { class: 'button-link', type: 'button', id: 'copy-share' }, 'Copy');
    copy.addEventListener('click', () => this.copy(this.shareUrl.value));
    this.shareStatus = el('span', { id: 'share-status', class: 'small muted', 'aria-live': 'polite' });
    this.shareNew = el('div', { class: 'share-new', hidden: true }, el('div', { class: 'share-url-row' }, this.shareUrl, copy), this.shareStatus);
    this.sharesList = el('ul', { id: 'shares', class: 'shares' });
    this.sharePanelEl = el('section', { id: 'share-panel', class: 'panel share-panel', 'aria-label': 'Share links', hidden: true },
      el('h2', {}, 'Share links'),
      el('p', { class: 'muted small share-explain' }, 'Anyone with a link can watch this recording, its timeline and its highlights, without signing in, until the link expires or you revoke it.'),
      this.shareNew, this.sharesList);
    return this.sharePanelEl;
  }

  async share() {
    const res = await api(`/api/recordings/${this.rec.id}/share`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ expires_in_s: SHARE_SECONDS }),
    });
    if (!res.ok) {
      const why = res.status === 401 ? `your link has expired: ${newLinkAdvice(this.role)}`
        : res.status === 403 ? 'only a host of this room can share its recordings' : res.body.error ?? `the server answered ${res.status}`;
      this.say('error', `Could not make a share link: ${why}.`);
      return;
    }
    this.lastShare = res.body;
    this.shareUrl.value = res.body.url;
    this.shareNew.hidden = false;
    this.sharePanelEl.hidden = false;
    await this.copy(res.body.url);
    await this.refreshShares();
  }

  /** Copies a link; without the clipboard API (plain http), selects it to copy by hand. */
  async copy(text) {
    let copied = false;
    try {
      if (navigator.clipboard?.writeText) {
        await navigator.clipboard.writeText(text);
        copied = true;
      }
    } catch { /* no permission, or no user gesture left */ }
    if (!copied) {
      // Selected, it can be copied by hand if the old way fails too.
      this.shareUrl.focus();
      this.shareUrl.select();
      try { copied = document.execCommand('copy'); } catch { copied = false; }
    }
    this.shareStatus.textContent = copied
      ? `Copied to the clipboard. It works until ${formatDate(this.lastShare?.expires_at)}.`
      : window.matchMedia('(pointer: coarse)').matches ? 'Copy the selected link (touch and hold it).' : 'Press Ctrl+C (⌘C) to copy the selected link.';
  }

  async refreshShares() {
    const res = await api(`/api/recordings/${this.rec.id}`);
    if (res.ok) this.rec.shares = res.body.shares;
    this.renderShares();
  }

  renderShares() {
    const now = Date.now();
    const shares = [...(this.rec.shares ?? [])].sort((a, b) => Date.parse(b.expires_at) - Date.parse(a.expires_at));
    if (this.lastShare && !shares.some((x) => x.id === this.lastShare.id)) {
      // The link just shown was revoked.
      this.shareNew.hidden = true;
      this.lastShare = null;
    }
    this.sharePanelEl.hidden = !shares.length && this.shareNew.hidden;
    this.sharesList.replaceChildren(...shares.map((x) => {
      const expired = Date.parse(x.expires_at) <= now;
      const revoke = el('button', { class: 'button-link danger-outline revoke-share', type: 'button', title: 'The link stops working at once' }, 'Revoke');
      onPress(revoke, async () => {
        const res = await api(`/api/recordings/${this.rec.id}/share/${encodeURIComponent(x.id)}`, { method: 'DELETE' });
        if (!res.ok && res.status !== 404) {
          this.say('error', `Could not revoke the link: ${res.body.error ?? `the server answered ${res.status}`}.`);
          return;
        }
        await this.refreshShares();
        // The row (and its button) went: the keyboard's focus goes to Share.
        if (!document.activeElement || document.activeElement === document.body) this.app.querySelector('#share')?.focus();
      });
      return el('li', { 'data-share-id': x.id, class: expired ? 'expired' : '' },
        icon('link'),
        el('span', { class: 'share-info' },
          el('span', { class: 'share-name' }, this.lastShare?.id === x.id ? 'New link' : `Link ${x.id.slice(0, 4)}…`),
          el('span', { class: 'muted small share-expiry' }, `${expired ? 'Expired' : 'Expires'} ${formatDate(x.expires_at)}`)),
        revoke);
    }));
  }

  renderChapters() {
    // Unchanged turns (a live recording's poll between turns): nothing to redraw, and
    // the focus stays where it is.
    const drawn = [...this.chapters.querySelectorAll('li[data-start-ms]')].map((li) => `${li.dataset.startMs}|${li.dataset.name}`).join();
    if (drawn && drawn === this.rec.timeline.map((t) => `${t.start_ms}|${t.name}`).join()) return;
    keepFocus(this.chapters, () => this.drawChapters());
  }

  drawChapters() {
    const turns = this.rec.timeline;
    this.chapters.replaceChildren(...(turns.length ? turns.map((t) => {
      const li = el('li', { 'data-start-ms': t.start_ms, 'data-name': t.name },
        el('button', { class: 'chapter' }, el('span', { class: 'chapter-time' }, formatClock(t.start_ms)),
          el('span', { class: 'dot', style: `background:${colorFor(t.name)}` }), t.name));
      li.querySelector('button').addEventListener('click', () => this.seek(t.start_ms));
      return li;
    }) : [el('li', { class: 'muted small' }, 'No chapters: nobody spoke.')]));
  }

  /** When the server deletes the recording (its retention), once it has ended. */
  renderExpiry() {
    const at = this.rec.expires_at;
    this.expiry.hidden = !at;
    if (!at) return;
    this.expiry.dataset.expiresAt = at;
    this.expiry.textContent = `This server deletes this recording on ${formatDay(at)}: download it to keep it.`;
  }

  /** Total time, share and turns per participant, as bars. */
  renderTalk() {
    const totals = new Map();
    for (const t of this.rec.timeline) {
      const x = totals.get(t.name) ?? { ms: 0, turns: 0 };
      x.ms += t.end_ms - t.start_ms;
      x.turns += 1;
      totals.set(t.name, x);
    }
    const all = [...totals.values()].reduce((s, x) => s + x.ms, 0);
    const rows = [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms).map(([name, x]) => {
      const share = all ? x.ms / all : 0;
      return el('div', { class: 'talk-row', 'data-participant-name': name },
        el('div', { class: 'talk-label' }, el('span', { class: 'avatar tiny', style: `background:${colorFor(name)}`, 'aria-hidden': 'true' }, initials(name)),
          el('span', { class: 'talk-name' }, name), el('span', { class: 'talk-share' }, `${Math.round(share * 100)} %`)),
        el('div', { class: 'talk-bar' }, el('span', { style: `width:${(share * 100).toFixed(1)}%;background:${colorFor(name)}` })),
        el('div', { class: 'muted small' }, `${formatDuration(x.ms)} · ${x.turns} ${x.turns === 1 ? 'turn' : 'turns'}`));
    });
    this.talk.replaceChildren(...(rows.length ? rows : [el('p', { class: 'muted small' }, 'Nobody spoke in this recording.')]));
  }

  renderReel(state, live) {
    const base = `/api/recordings/${this.rec.id}`;
    // The panel is drawn anew: a keyboard's focus in it goes to its heading, not the page.
    const hadFocus = this.reel.contains(document.activeElement);
    const head = el('h2', { tabindex: '-1' }, 'Highlight reel');
    if (state.status === 'ready') {
      const player = el('video', { id: 'reel-player', controls: true, playsinline: true, preload: 'metadata', src: `${base}/highlights?v=${state.duration_ms}` });
      player.addEventListener('play', () => this.player.pause());
      const clips = el('ol', { class: 'reel-clips' });
      this.reel.replaceChildren(head, player,
        el('div', { class: 'muted small' }, `${state.clips} clips · ${formatDuration(state.duration_ms)}`),
        clips, el('a', { class: 'button-link', href: `${base}/highlights`, download: `podium-${this.rec.room}-highlights.mp4` }, icon('download'), 'Download the reel'));
      if (hadFocus) head.focus();
      fetch(`${base}/highlights.json`).then((r) => (r.ok ? r.json() : [])).then((list) => {
        clips.replaceChildren(...list.map((c) => {
          const b = el('button', { class: 'reel-clip', 'data-source-start-ms': c.source_start_ms, title: `Score ${c.score.toFixed(2)}: see it in the recording` },
            el('span', { class: 'dot', style: `background:${colorFor(c.name)}` }), c.name,
            el('span', { class: 'muted small clip-time' }, `${formatClock(c.source_start_ms)} – ${formatClock(c.source_end_ms)}`));
          b.addEventListener('click', () => {
            this.seek(c.source_start_ms);
            // In one column (a phone) the player is far above the reel: bring it into view.
            const still = window.matchMedia('(prefers-reduced-motion: reduce)').matches;
            this.player.scrollIntoView({ block: 'nearest', behavior: still ? 'auto' : 'smooth' });
          });
          return el('li', {}, b);
        }));
      });
      return;
    }
    const button = el('button', { id: 'build-reel', class: 'primary', disabled: live || state.status === 'building' }, state.status === 'failed' ? 'Try again' : 'Build highlight reel');
    const explain = el('p', { class: 'muted small' }, live
      ? 'Available once the recording ends.'
      : 'Up to a minute of the best moments, at least one of everyone who spoke 10 s or more, cut without re-encoding.');
    const progress = el('div', { id: 'reel-progress', class: 'progress', hidden: state.status !== 'building', role: 'progressbar', 'aria-label': 'Building the highlight reel', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round((state.progress ?? 0) * 100) },
      el('span', { style: `width:${Math.round((state.progress ?? 0) * 100)}%` }));
    // The server builds two reels at a time; the others wait their turn.
    const queued = el('p', { class: 'muted small', id: 'reel-queued', hidden: !(state.status === 'building' && state.queued) }, 'Waiting for other reels to finish building…');
    const error = state.status === 'failed' ? el('p', { class: 'form-error', id: 'reel-error', role: 'alert' }, state.error) : null;
    this.reel.replaceChildren(...[head, explain, progress, queued, error, button].filter(Boolean));
    if (hadFocus) (button.disabled ? head : button).focus();
    onPress(button, async () => {
      const res = await fetch(`${base}/highlights`, { method: 'POST' });
      const body = await res.json().catch(() => ({}));
      if (this.accessLost(res.status, body)) return;
      if (!res.ok) {
        this.renderReel({ status: 'failed', error: body.error ?? res.statusText }, live);
        return;
      }
      this.renderReel(body, live);
      if (body.status === 'building') this.pollReel();
    });
    if (state.status === 'building') this.pollReel();
  }

  /**
   * Whether the page gave way to an access notice: the link expired or was revoked
   * while the page was open (a 401 or 410), said as a reload would.
   */
  accessLost(status, body) {
    if (status === 401 && this.shareViewer) {
      showShareExpired(this.app);
      return true;
    }
    return (status === 401 || status === 410) && showAccessProblem(this.app, { status, body });
  }

  async pollReel() {
    if (this.polling) return;
    this.polling = true;
    try {
      for (;;) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const res = await fetch(`/api/recordings/${this.rec.id}`);
        if ((res.status === 401 || res.status === 410) && this.accessLost(res.status, await res.json().catch(() => ({})))) return;
        if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error ?? res.statusText);
        const state = (await res.json()).highlights ?? { status: 'none' };
        if (state.status === 'building') {
          const bar = this.reel.querySelector('#reel-progress');
          bar.hidden = false;
          bar.setAttribute('aria-valuenow', Math.round(state.progress * 100));
          bar.firstChild.style.width = `${Math.round(state.progress * 100)}%`;
          this.reel.querySelector('#reel-queued').hidden = !state.queued;
          continue;
        }
        this.renderReel(state, false);
        return;
      }
    } catch (err) {
      this.renderReel({ status: 'failed', error: `Lost track of the reel: ${err.message}` }, false);
    } finally {
      this.polling = false;
    }
  }

  /** While it records: the timeline and length grow. */
  async pollLive() {
    // A failed poll (the server restarting, the network gone a moment) is tried again,
    // less often the longer it lasts; only a recording gone or a link no longer valid
    // ends it.
    let wait = 2000;
    for (;;) {
      await new Promise((r) => setTimeout(r, wait));
      const res = await fetch(`/api/recordings/${this.rec.id}`).catch(() => null);
      if (res && [401, 403, 404, 410].includes(res.status)) {
        this.say('error', res.status === 404 ? 'This recording has been deleted.' : 'Your link no longer opens this recording: reload the page to see why.');
        return;
      }
      const rec = res?.ok ? await res.json().catch(() => null) : null;
      if (!rec) {
        wait = Math.min(wait * 2, 16_000);
        this.say('error', 'The server cannot be reached: trying again. What was recorded so far still plays.');
        continue;
      }
      if (wait !== 2000) {
        wait = 2000;
        if (rec.status === 'recording') this.say('info', 'This meeting is still being recorded: what is recorded so far plays, and the page keeps up.');
      }
      const ended = rec.status !== 'recording';
      this.rec = rec;
      this.duration = Math.max(1, rec.duration_ms);
      this.renderHeadInfo();
      // A player that is not playing shows the file as it is now (its scrubber and
      // length); one that plays goes on past its end by itself, and a seek past it
      // loads it again.
      const grown = rec.duration_ms - this.loadedFor;
      if (this.reloading) {
        // One at a time: the next poll sees what this one would have.
      } else if (this.target && grown > 0) {
        this.reloadVideo(this.target.ms, this.target.play);
      } else if ((this.player.paused || this.player.ended) && !this.player.seeking && (ended ? grown > 0 : grown >= 10_000)) {
        this.reloadVideo(this.player.currentTime * 1000, false);
      }
      this.renderTimeline();
      this.renderChapters();
      this.renderTalk();
      // The chapters and segments are new: marked afresh (a paused player sends no
      // timeupdate).
      this.currentStart = undefined;
      this.follow();
      if (ended) {
        if (!this.saidEnded) {
          this.saidEnded = true;
          this.say(rec.status === 'finished' ? null : 'error', rec.status === 'finished' ? null : `${rec.error ?? 'This recording stopped on an error'}. What was recorded plays.`);
          this.renderExpiry();
          this.renderReel(rec.highlights ?? { status: 'none' }, false);
        }
        // A reload still loading took the file before it was final: one more poll.
        if (!this.reloading) return;
      }
    }
  }

  /** The playhead, the current speaker and chapter follow the player. */
  follow() {
    const ms = this.player.currentTime * 1000;
    this.playhead.style.left = `calc(var(--name-col) + (100% - var(--name-col)) * ${Math.min(1, ms / this.duration)})`;
    const turn = this.rec.timeline.find((t) => t.start_ms <= ms && ms < t.end_ms);
    const name = turn?.name ?? null;
    if (this.current.dataset.participantName !== (name ?? '')) {
      this.current.dataset.participantName = name ?? '';
      this.current.replaceChildren(name
        ? el('span', {}, el('span', { class: 'dot', style: `background:${colorFor(name)}` }), 'Speaking: ', el('strong', {}, name))
        : el('span', { class: 'muted' }, 'Nobody speaking'));
    }
    // By the turn, not the name: one person's two turns are two chapters. (A boolean
    // always: toggle's second argument left undefined flips the class.)
    const start = turn ? turn.start_ms : null;
    if (this.currentStart !== start) {
      this.currentStart = start;
      const mark = (node, on) => {
        node.classList.toggle('current', on);
        if (on) node.setAttribute('aria-current', 'true');
        else node.removeAttribute('aria-current');
      };
      for (const li of this.chapters.querySelectorAll('li[data-start-ms]')) mark(li, start !== null && Number(li.dataset.startMs) === start);
      for (const seg of this.timeline.querySelectorAll('.timeline-segment')) mark(seg, start !== null && Number(seg.dataset.startMs) === start);
    }
  }
}

/** The timeline row a bar or row is in, as a key: the speaker's name, or the screen row. */
const SCREEN_ROW = '\u0000screen';
function rowOf(node) {
  const row = node.closest('.timeline-row');
  return row?.classList.contains('screen-row') ? SCREEN_ROW : row?.dataset.participantName;
}

/** Redraws `container` with `draw`, and gives the focus back to what had it: a live
 * recording's timeline and chapters are redrawn every 2 s, which would drop a keyboard
 * user's place to the page's start. The same turn (by its start and row) gets it, else
 * the nearest one drawn, else the container's first button. */
function keepFocus(container, draw) {
  const had = container.contains(document.activeElement) ? document.activeElement : null;
  const key = had && { cls: had.classList[0], start: Number(had.closest('[data-start-ms]')?.dataset.startMs), row: had.closest('.timeline-row')?.dataset.participantName ?? null };
  draw();
  if (!key) return;
  const same = (b) => b.classList[0] === key.cls && (b.closest('.timeline-row')?.dataset.participantName ?? null) === key.row;
  const candidates = [...container.querySelectorAll('button')].filter(same);
  const distance = (b) => Math.abs(Number(b.closest('[data-start-ms]')?.dataset.startMs) - key.start);
  const target = candidates.reduce((best, b) => (!best || distance(b) < distance(best) ? b : best), null) ?? container.querySelector('button');
  target?.focus({ preventScroll: true });
}

/** A tick step for the axis: at most `ticks` ticks, at 5 s, 10 s, 30 s, 1 min, 5 min, … */
function niceStep(ms, ticks) {
  for (const s of [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) if (ms / (s * 1000) <= ticks) return s * 1000;
  return 7200 * 1000;
}
