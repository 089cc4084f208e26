// A participant's side of the meeting: local devices, the mediasoup-client Device and
// transports, consumers of everyone else, and the room's state as the server tells it.
// The UI (room.js) listens for 'change' and reads `meeting.state`.
import { Device } from 'mediasoup-client';
import { Signaling, SignalingError } from './signaling.js';
import { api, newLinkAdvice } from './access.js';

const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 10000];
// Each tab keeps one id across reconnects, so the server replaces its old session.
const CLIENT_ID_KEY = 'podium.client_id';

function clientId() {
  let id = sessionStorage.getItem(CLIENT_ID_KEY);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(CLIENT_ID_KEY, id);
  }
  return id;
}

/**
 * A camera's simulcast layers for its capture width: each half the width of the next,
 * the lowest about 320 px (server/src/simulcast.rs assumes as much). The filmstrip
 * gets the lowest, the stage the highest the viewer's bandwidth allows, and a
 * recording what its tiles need. A camera too small for layers is sent as it is.
 */
export function cameraEncodings(width) {
  if (width >= 960) {
    return [
      { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
      { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
      { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
    ];
  }
  if (width >= 480) {
    return [
      { rid: 'r0', scaleResolutionDownBy: 2, maxBitrate: 150_000 },
      { rid: 'r1', scaleResolutionDownBy: 1, maxBitrate: 500_000 },
    ];
  }
  return undefined;
}

/**
 * getUserMedia for each wanted device on its own, so one failing keeps the other.
 * The camera is asked for 720p (sent in simulcast layers); with `simulcast: false`
 * (a benchmark's baseline), 360p in one layer, as before simulcast.
 */
export async function openDevices({ camera, mic, simulcast = true, again = false }) {
  const result = { videoTrack: null, audioTrack: null, problems: [] };
  // `again`: reopened from its button in the meeting (it stopped), not while joining.
  const explain = (what, err) => {
    if (err?.name === 'NotAllowedError') return again ? `${what} access is blocked: allow it in the browser's site settings, then press its button again.` : `${what} access was blocked. You joined without it; allow it in the browser's site settings and rejoin to use it.`;
    const tail = again ? '' : ' You joined without it.';
    if (err?.name === 'NotFoundError' || err?.name === 'OverconstrainedError') return `No ${what.toLowerCase()} was found.${tail}`;
    if (err?.name === 'NotReadableError') return `The ${what.toLowerCase()} is busy in another application.${tail}`;
    return `The ${what.toLowerCase()} could not be opened (${err?.message ?? err}).${tail}`;
  };
  if (!navigator.mediaDevices?.getUserMedia) {
    if (camera || mic) result.problems.push('This page cannot use the camera or microphone: open it over https or on localhost.');
    return result;
  }
  if (camera) {
    try {
      const size = simulcast ? { width: { ideal: 1280 }, height: { ideal: 720 } } : { width: { ideal: 640 }, height: { ideal: 360 } };
      const s = await navigator.mediaDevices.getUserMedia({ video: { ...size, frameRate: { ideal: 24 } } });
      result.videoTrack = s.getVideoTracks()[0];
    } catch (err) { result.problems.push(explain('Camera', err)); }
  }
  if (mic) {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
      result.audioTrack = s.getAudioTracks()[0];
      // Diagnostics: a fake microphone file starts playing here.
      window.podium.audioStartedAt = Date.now();
    } catch (err) { result.problems.push(explain('Microphone', err)); }
  }
  return result;
}

/** Where a participant keeps a consumer's track, by its kind and source. */
function trackField(kind, source) {
  if (source === 'screen') return kind === 'video' ? 'screenTrack' : 'screenAudioTrack';
  return kind === 'video' ? 'videoTrack' : 'audioTrack';
}

export class Meeting extends EventTarget {
  constructor({ room, name, videoTrack, audioTrack, simulcast = true }) {
    super();
    this.simulcast = simulcast;
    this.room = room;
    this.name = name;
    this.local = { videoTrack, audioTrack };
    this.state = {
      status: 'connecting', // connecting | joined | reconnecting | ended
      me: null,
      // id -> { id, name, audio, video, screen, speaking, level, videoTrack, audioTrack, screenTrack, screenAudioTrack }
      participants: new Map(),
      activeSpeaker: null,
      recording: null, // { id, started_at, layout } while the room is recorded
      banner: null, // { kind: 'error'|'info', text, link?, topic? }
    };
    this.producers = new Map(); // kind -> Producer (microphone, camera)
    /** What this person muted: kept across a reconnect, whose producers are made anew. */
    this.muted = { audio: false, video: false };
    /** Devices whose track ended with no producer to send a new one in (see produceLocal). */
    this.stopped = new Set();
    /** Devices being opened again from their button: one request at a time each. */
    this.reopening = new Set();
    this.consumers = new Map(); // consumerId -> { consumer, participantId, source }
    /** This tab's screen share while it runs: { video, audio } producers and their tracks. */
    this.share = null;
    this.retry = 0;
    this.left = false;
    /** The layout Record starts with (a running recording's is `state.recording.layout`). */
    this.recordingLayout = 'speaker';
  }

  changed() {
    this.dispatchEvent(new Event('change'));
  }

  /**
   * A banner's link to a recording's review page, for those who may watch it (a guest
   * may not); it opens beside the meeting, which goes on.
   */
  watchLink(id) {
    return this.role === 'guest' ? undefined : { href: `/recordings/${id}`, text: 'Watch it', newTab: true };
  }

  /** `topic` names what the banner is about, so that a later success can clear it. */
  setBanner(kind, text, link, topic) {
    this.state.banner = text ? { kind, text, link, topic } : null;
    this.changed();
  }

  /** Clears the banner if it is about `topic` (an error that no longer holds). */
  clearBanner(topic) {
    if (this.state.banner?.topic === topic) this.setBanner(null, null);
  }

  /** Joins; rejects with a SignalingError for name, room and reachability problems. */
  async join() {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const signaling = new Signaling(`${proto}://${location.host}/api/rooms/${encodeURIComponent(this.room)}/ws`);
    this.signaling = signaling;
    await signaling.connect();
    this.listen(signaling);
    this.ready = false;
    this.pendingProducers = [];
    const joined = await signaling.request('join', { name: this.name, client_id: clientId() });
    this.state.me = joined.participant_id;
    // The room's spelling of our name (normalised, or the token's in secured mode).
    this.name = joined.name ?? this.name;
    // What this participant may do: guest, host or admin (open mode: admin).
    this.role = joined.role ?? 'admin';
    this.state.participants.clear();
    // In join order: the others were here first.
    for (const p of joined.participants) this.upsertParticipant(p);
    this.state.participants.set(joined.participant_id, {
      id: joined.participant_id, name: this.name, audio: !!this.local.audioTrack && !this.muted.audio, video: !!this.local.videoTrack && !this.muted.video, screen: false,
      speaking: false, level: -127, videoTrack: this.local.videoTrack, audioTrack: null, screenTrack: null, screenAudioTrack: null, isMe: true,
    });
    this.state.activeSpeaker = joined.active_speaker;
    this.state.recording = joined.recording ?? null;

    this.device = new Device();
    await this.device.load({ routerRtpCapabilities: joined.rtp_capabilities });
    await signaling.request('set_rtp_capabilities', { rtp_capabilities: this.device.rtpCapabilities });
    await this.createTransports();
    await this.produceLocal();
    // Producers announced while the device and transports were being set up waited.
    this.ready = true;
    for (const id of [...joined.producers.map((p) => p.producer_id), ...this.pendingProducers]) this.consume(id);
    this.pendingProducers = [];
    this.state.status = 'joined';
    this.retry = 0;
    this.changed();
  }

  listen(signaling) {
    const on = (type, fn) => signaling.addEventListener(type, (e) => { fn(e.detail); this.changed(); });
    on('participant_joined', (m) => this.upsertParticipant(m.participant));
    on('participant_updated', (m) => this.upsertParticipant(m.participant));
    on('participant_left', (m) => this.state.participants.delete(m.participant_id));
    on('new_producer', (m) => {
      if (this.ready) this.consume(m.producer.producer_id);
      else this.pendingProducers.push(m.producer.producer_id);
    });
    on('consumer_closed', (m) => this.dropConsumer(m.consumer_id));
    // The server closed our share: someone else's took over the stage.
    on('producer_closed', (m) => {
      if (!this.share || ![this.share.video?.id, this.share.audio?.id].includes(m.producer_id)) return;
      this.stopShare();
      this.setBanner('info', `Your screen share stopped: ${m.reason}.`);
    });
    on('active_speaker', (m) => { this.state.activeSpeaker = m.participant_id; });
    on('speaking', (m) => {
      const p = this.state.participants.get(m.participant_id);
      if (p) p.speaking = m.speaking;
    });
    on('levels', (m) => {
      for (const l of m.levels) {
        const p = this.state.participants.get(l.participant_id);
        if (p) { p.level = l.dbov; p.speaking = l.speaking; }
      }
    });
    on('recording', (m) => {
      const was = this.state.recording;
      this.state.recording = m.recording;
      // Someone started it: a refusal to start this page showed no longer holds.
      if (!was && m.recording) this.clearBanner('recording');
      if (was && !m.recording) this.lastEnded = { id: was.id, at: Date.now() };
      if (m.error) this.setBanner('error', m.error);
      else if (was && !m.recording) {
        const note = this.stopNote?.id === was.id ? ` ${this.stopNote.text}` : '';
        this.stopNote = null;
        this.setBanner('info', `The recording was saved.${note}`, this.watchLink(was.id));
      }
    });
    on('bye', (m) => {
      // The server is stopping (a restart): it saves its recordings as it goes.
      if (m.code === 'shutdown') this.serverStopped = true;
      // A newer connection of this tab took over: do not fight it. Otherwise (server
      // restart, too slow) the socket closes next and we reconnect.
      if (m.code === 'replaced') {
        this.left = true;
        this.state.status = 'ended';
        this.closeMedia();
        this.setBanner('error', `Disconnected: ${m.reason}.`);
      } else if (m.code === 'removed') {
        // A host removed us: no rejoining.
        this.left = true;
        this.state.status = 'ended';
        this.closeMedia();
        this.local.videoTrack?.stop();
        this.local.audioTrack?.stop();
        this.setBanner('error', 'A host removed you from the meeting.');
        // The room page gives way to a notice: nothing of the meeting is live any more.
        this.dispatchEvent(new Event('removed'));
      }
    });
    signaling.addEventListener('disconnected', () => this.reconnect());
  }

  upsertParticipant(view) {
    const p = this.state.participants.get(view.id);
    if (p) Object.assign(p, { name: view.name, audio: view.audio, video: view.video, screen: view.screen });
    else this.state.participants.set(view.id, { ...view, speaking: false, level: -127, videoTrack: null, audioTrack: null, screenTrack: null, screenAudioTrack: null });
  }

  async createTransports() {
    const s = this.signaling;
    const send = await s.request('create_transport', { direction: 'send' });
    this.sendTransport = this.device.createSendTransport({
      id: send.transport_id, iceParameters: send.ice_parameters, iceCandidates: send.ice_candidates, dtlsParameters: send.dtls_parameters,
    });
    this.sendTransport.on('connect', ({ dtlsParameters }, ok, fail) => {
      s.request('connect_transport', { transport_id: send.transport_id, dtls_parameters: dtlsParameters }).then(ok, fail);
    });
    // appData.source says what a producer sends ('screen' for a share; else by kind).
    this.sendTransport.on('produce', ({ kind, rtpParameters, appData }, ok, fail) => {
      const source = appData?.source ? { source: appData.source } : {};
      // A stream muted before a reconnect is made paused: nobody sees it live meanwhile.
      const paused = appData?.paused ? { paused: true } : {};
      s.request('produce', { transport_id: send.transport_id, kind, rtp_parameters: rtpParameters, ...source, ...paused })
        .then((r) => ok({ id: r.producer_id }), fail);
    });
    const recv = await s.request('create_transport', { direction: 'recv' });
    this.recvTransport = this.device.createRecvTransport({
      id: recv.transport_id, iceParameters: recv.ice_parameters, iceCandidates: recv.ice_candidates, dtlsParameters: recv.dtls_parameters,
    });
    this.recvTransport.on('connect', ({ dtlsParameters }, ok, fail) => {
      s.request('connect_transport', { transport_id: recv.transport_id, dtls_parameters: dtlsParameters }).then(ok, fail);
    });
  }

  async produceLocal() {
    for (const kind of ['audio', 'video']) {
      const track = kind === 'audio' ? this.local.audioTrack : this.local.videoTrack;
      if (!track || !this.device.canProduce(kind)) continue;
      // A device that stopped while the connection was down (or before it dropped, not
      // turned on again) cannot be sent: its button opens it anew.
      if (track.readyState === 'ended') {
        this.stopped.add(kind);
        this.muted[kind] = true;
        const me = this.state.participants.get(this.state.me);
        if (me) me[kind] = false;
        continue;
      }
      await this.produceTrack(kind, track, this.muted[kind]);
    }
    this.sayStoppedDevices();
  }

  /** Sends the microphone ('audio') or the camera ('video'), paused or not. */
  async produceTrack(kind, track, paused) {
    // As chosen, whatever a mute cut short by the lost connection left the track at.
    track.enabled = !paused;
    // stopTracks: false keeps the devices open across a reconnect (producers are re-made).
    const p = kind === 'audio'
      ? await this.sendTransport.produce({ track, stopTracks: false, codecOptions: { opusStereo: false, opusDtx: false }, appData: { paused } })
      : await this.sendTransport.produce({ track, stopTracks: false, encodings: this.simulcast ? cameraEncodings(track.getSettings().width ?? 0) : undefined, appData: { source: 'camera', paused } });
    if (paused) p.pause();
    p.on('trackended', () => this.deviceLost(kind, p));
    this.producers.set(kind, p);
    this.stopped.delete(kind);
    return p;
  }

  async consume(producerId) {
    try {
      const c = await this.signaling.request('consume', { producer_id: producerId });
      const consumer = await this.recvTransport.consume({
        id: c.consumer_id, producerId: c.producer_id, kind: c.kind, rtpParameters: c.rtp_parameters,
      });
      const source = c.source ?? (c.kind === 'video' ? 'camera' : 'mic');
      this.consumers.set(c.consumer_id, { consumer, participantId: c.participant_id, source });
      const p = this.state.participants.get(c.participant_id);
      if (p) p[trackField(c.kind, source)] = consumer.track;
      await this.signaling.request('resume_consumer', { consumer_id: c.consumer_id });
      this.changed();
    } catch (err) {
      // The producer may have closed meanwhile (its owner left): nothing to show.
      if (err.code !== 'not_found') console.warn('consume failed', err);
    }
  }

  dropConsumer(consumerId) {
    const entry = this.consumers.get(consumerId);
    if (!entry) return;
    this.consumers.delete(consumerId);
    entry.consumer.close();
    const p = this.state.participants.get(entry.participantId);
    const field = trackField(entry.consumer.kind, entry.source);
    if (p && p[field] === entry.consumer.track) p[field] = null;
  }

  /** Whether this browser can share a screen at all. */
  static canShare() {
    return !!navigator.mediaDevices?.getDisplayMedia;
  }

  /**
   * Shares a screen (the browser asks which): a second video producer with
   * appData.source 'screen', and its audio when the browser offers it. It takes the
   * stage from any other share. The browser's own "Stop sharing" ends it too.
   */
  async startShare() {
    if (this.share || this.sharing) return;
    this.sharing = true;
    this.changed();
    let stream;
    try {
      // A few pictures a second are plenty for slides and code, and cost little;
      // up to 1080p keeps text sharp.
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 5, max: 15 }, width: { max: 1920 }, height: { max: 1080 } }, audio: true });
    } catch (err) {
      this.sharing = false;
      // Cancelled in the browser's picker: nothing to say.
      if (err?.name !== 'NotAllowedError' && err?.name !== 'AbortError') this.setBanner('error', `Could not share your screen: ${err?.message ?? err}`);
      else this.changed();
      return;
    }
    const [track] = stream.getVideoTracks();
    const [audioTrack] = stream.getAudioTracks();
    // Text and lines over motion: the encoder keeps detail rather than frame rate.
    if ('contentHint' in track) track.contentHint = 'detail';
    const share = { video: null, audio: null, track, audioTrack: audioTrack ?? null };
    this.share = share;
    track.addEventListener('ended', () => { if (this.share === share) this.stopShare(); });
    // The share may stop while its producers are being made (the browser's Stop
    // sharing, another's share, a lost connection): what is made after that is closed.
    const produce = async (t, field) => {
      const producer = await this.sendTransport.produce({ track: t, stopTracks: false, appData: { source: 'screen' } });
      if (this.share === share) share[field] = producer;
      else this.closeProducer(producer);
    };
    try {
      await produce(track, 'video');
      if (audioTrack && this.share === share) await produce(audioTrack, 'audio');
    } catch (err) {
      if (this.share === share) this.stopShare();
      this.sharing = false;
      this.setBanner('error', `Could not share your screen: ${err?.message ?? err}`);
      return;
    }
    this.sharing = false;
    const me = this.state.participants.get(this.state.me);
    if (me && this.share === share) Object.assign(me, { screen: true, screenTrack: track });
    this.changed();
  }

  /** Closes one of this tab's producers, here and on the server. */
  closeProducer(producer) {
    producer.close();
    this.signaling?.request('close_producer', { producer_id: producer.id }).catch(() => { /* closed already */ });
  }

  /** Stops this tab's share (from the button, the browser, or the server's word). */
  stopShare() {
    const share = this.share;
    if (!share) return;
    this.share = null;
    for (const producer of [share.video, share.audio]) {
      if (producer) this.closeProducer(producer);
    }
    share.track.stop();
    share.audioTrack?.stop();
    const me = this.state.participants.get(this.state.me);
    if (me) Object.assign(me, { screen: false, screenTrack: null });
    this.changed();
  }

  isMuted(kind) {
    const producer = this.producers.get(kind);
    if (producer) return producer.paused;
    // Joined with no producer: this browser cannot send it.
    if (this.state.status === 'joined') return true;
    // Between connections (no producer yet): what this person chose.
    const track = kind === 'audio' ? this.local.audioTrack : this.local.videoTrack;
    return !track || this.muted[kind];
  }

  hasDevice(kind) {
    return this.producers.has(kind) || this.stopped.has(kind);
  }

  /**
   * The browser ended a device's track (unplugged, its permission withdrawn, the driver
   * gone): it is turned off for everyone, as if muted, rather than left frozen on their
   * screens, and this person is told; its button opens it again.
   */
  deviceLost(kind, producer) {
    if (this.producers.get(kind) !== producer || producer.closed) return;
    this.sayStoppedDevices();
    if (!producer.paused) this.toggle(kind);
  }

  /** The banner about the devices that stopped (both at once when a permission is
   * withdrawn), or none once they are all back. */
  sayStoppedDevices() {
    const stopped = ['video', 'audio'].filter((k) => this.stopped.has(k) || this.producers.get(k)?.track?.readyState === 'ended');
    if (!stopped.length) return this.clearBanner('devices');
    const what = stopped.map((k) => (k === 'audio' ? 'microphone' : 'camera')).join(' and ');
    const others = stopped.length === 2 ? 'see or hear' : stopped[0] === 'audio' ? 'hear' : 'see';
    const buttons = stopped.length === 2 ? 'their buttons to turn them' : `the ${what} button to turn it`;
    this.setBanner('error', `Your ${what} stopped (unplugged, or permission was withdrawn): the others no longer ${others} you. Press ${buttons} on again.`, undefined, 'devices');
  }

  /** Opens a stopped device again and sends it, unpaused; the banner says if it cannot. */
  async turnOnAgain(kind, producer) {
    if (this.reopening.has(kind)) return;
    this.reopening.add(kind);
    let track = null;
    try {
      track = await this.reopen(kind);
      if (!track) return;
      // A reconnect meanwhile re-made (or is re-making) the producers: the new track goes
      // to whichever sends this device now.
      const now = this.producers.get(kind);
      if (this.state.status !== 'joined' || (producer && now !== producer) || (!producer && now)) {
        track.stop();
        return;
      }
      this.local[kind === 'audio' ? 'audioTrack' : 'videoTrack'] = track;
      if (producer) {
        // (The producer watches the new track's end as it did the old one's.)
        await producer.replaceTrack({ track });
        producer.resume();
        await this.signaling.request('resume_producer', { producer_id: producer.id });
      } else {
        await this.produceTrack(kind, track, false);
      }
      this.muted[kind] = false;
      const me = this.state.participants.get(this.state.me);
      if (me) {
        me[kind] = true;
        if (kind === 'video') me.videoTrack = track;
      }
      track = null;
      this.sayStoppedDevices();
      this.changed();
    } catch (err) {
      // The server kept it paused: so does this page.
      if (producer && !producer.closed && !producer.paused) producer.pause();
      this.setBanner('error', `Could not turn the ${kind === 'audio' ? 'microphone' : 'camera'} on again: ${err.message}`, undefined, 'devices');
    } finally {
      // Not sent (refused, or a reconnect came between): the device is let go.
      track?.stop();
      this.reopening.delete(kind);
    }
  }

  /** A new track for a device whose track ended, or null (the banner says why). */
  async reopen(kind) {
    const opened = await openDevices({ camera: kind === 'video', mic: kind === 'audio', simulcast: this.simulcast, again: true });
    const track = kind === 'audio' ? opened.audioTrack : opened.videoTrack;
    if (!track) this.setBanner('error', opened.problems[0] ?? `The ${kind === 'audio' ? 'microphone' : 'camera'} could not be opened.`, undefined, 'devices');
    return track;
  }

  /** Mutes or unmutes the mic ('audio') or the camera ('video'). */
  async toggle(kind) {
    const producer = this.producers.get(kind);
    // Its device stopped: turned on again with a new track, sent in the old one's place
    // (or, after a reconnect that could not send the ended one, as a new producer).
    if (producer ? producer.paused && producer.track?.readyState === 'ended' : this.stopped.has(kind)) {
      return this.turnOnAgain(kind, producer);
    }
    if (!producer) return;
    const pause = !producer.paused;
    if (pause) producer.pause(); else producer.resume();
    this.muted[kind] = pause;
    const me = this.state.participants.get(this.state.me);
    if (me) me[kind] = !pause;
    this.changed();
    try {
      await this.signaling.request(pause ? 'pause_producer' : 'resume_producer', { producer_id: producer.id });
    } catch (err) {
      // The connection went meanwhile: the choice stands, and the producers made on
      // rejoining follow it.
      if (producer.closed) return;
      // The server kept the old state (paced, or gone): show and send what it has.
      if (pause) producer.resume(); else producer.pause();
      this.muted[kind] = !pause;
      if (me) me[kind] = pause;
      this.changed();
      this.setBanner('error', `Could not ${pause ? 'mute' : 'unmute'}: ${err.message}`);
    }
  }

  /**
   * The layout of the next recording, or (while one runs) of this one from now on. A
   * failed change says why and puts the picker back.
   */
  /** Chooses the layout (for the next recording, or the one running): resolves to why
   * a running recording refused it, or null. */
  async setRecordingLayout(layout, chosenMsAgo = 0) {
    const previous = this.recordingLayout;
    this.recordingLayout = layout;
    if (!this.state.recording) {
      this.changed();
      return null;
    }
    let refused = null;
    const url = `/api/rooms/${encodeURIComponent(this.room)}/recording`;
    // The file changes when it was chosen (the server takes up to 1 s back).
    const body = { layout, ...(chosenMsAgo > 0 ? { chosen_ms_ago: Math.min(1000, Math.round(chosenMsAgo)) } : {}) };
    try {
      const res = await fetch(url, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        this.recordingLayout = previous;
        // 404: the recording ended meanwhile; the choice stays for the next one.
        if (res.status === 404) this.recordingLayout = layout;
        else refused = body.error ?? res.statusText;
      } else {
        // The room's `recording` event says it to everyone; this tab knows already
        // (unless the recording ended while the change was on its way).
        if (this.state.recording) this.state.recording = { ...this.state.recording, layout };
      }
    } catch {
      this.recordingLayout = previous;
      refused = 'the server cannot be reached.';
    }
    if (refused) this.setBanner('error', `Could not change the recording's layout: ${refused}`);
    this.changed();
    return refused;
  }

  /** Whether this person may remove others (a host of the room, or an admin; open mode is admin). */
  mayRemove() {
    return this.role === 'host' || this.role === 'admin';
  }

  /** Removes someone from the meeting (HTTP API); a refusal goes to the banner. */
  async remove(participantId) {
    const who = this.state.participants.get(participantId)?.name ?? 'them';
    const res = await api(`/api/rooms/${encodeURIComponent(this.room)}/participants/${encodeURIComponent(participantId)}`, { method: 'DELETE' });
    // 404: they left meanwhile, which is what was wanted.
    if (res.ok || res.status === 404) return;
    const why = res.status === 401 ? `your link has expired: ${newLinkAdvice(this.role)}` : res.body.error ?? `the server answered ${res.status}`;
    this.setBanner('error', `Could not remove ${who}: ${why}`);
  }

  /**
   * Starts (in the chosen layout) or stops recording the room (HTTP API); errors go to
   * the banner. `size` (`WIDTHxHEIGHT`) asks for a picture smaller than the server's:
   * what a server at its recording capacity may still have room for.
   */
  async toggleRecording(size, beforeStop = null) {
    if (this.recordingBusy) return;
    const recording = !!this.state.recording;
    const url = `/api/rooms/${encodeURIComponent(this.room)}/recording`;
    this.recordingBusy = recording ? 'stopping' : 'starting';
    this.changed();
    try {
      if (recording && beforeStop) {
        const { id } = this.state.recording;
        // A layout refused now would be said only until "saved" replaces it: the saved
        // notice says it too.
        const refused = await beforeStop();
        this.stopNote = refused ? { id, text: `Its last layout change is not in it (${refused}).` } : null;
        // It ended meanwhile (another host, the last one leaving): a Stop press never
        // starts a recording.
        if (this.state.recording?.id !== id) return;
      }
      const start = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ layout: this.recordingLayout, ...(size ? { size } : {}) }) };
      const res = await fetch(url, recording ? { method: 'DELETE' } : start);
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        // 409: someone else started it meanwhile; 404 on stop: it already ended.
        if (res.status === 401) {
          this.setBanner('error', `Your link has expired or is not valid: ${newLinkAdvice(this.role)}.`);
        } else if (!(res.status === 409 && !recording) && !(res.status === 404 && recording)) {
          // 403 (not a host of this room) and 503 (the server's recording capacity) say
          // why. A smaller size the server would admit now is offered at once.
          const smaller = !recording && res.status === 503 && /^\d{3,4}x\d{2,4}$/.test(body.smaller_size ?? '') ? body.smaller_size : null;
          // A start only: were a recording running by the time it is pressed, nothing.
          const offer = smaller ? { id: 'record-smaller', text: `Record at ${smaller} instead`, action: () => { if (!this.state.recording) this.toggleRecording(smaller); } } : undefined;
          this.setBanner('error', `Could not ${recording ? 'stop' : 'start'} the recording: ${body.error ?? res.statusText}`, offer, 'recording');
        }
      } else {
        // An earlier refusal (capacity, a lost server) no longer holds.
        this.clearBanner('recording');
        if (!recording) this.state.recording = { id: body.id, started_at: body.started_at, layout: body.layout };
      }
    } catch (err) {
      this.setBanner('error', `Could not ${recording ? 'stop' : 'start'} the recording: the server cannot be reached.`, undefined, 'recording');
    } finally {
      this.recordingBusy = null;
      this.changed();
    }
  }

  async reconnect() {
    if (this.left) return;
    // What was recorded when the connection went, to say after rejoining whether it
    // ended meanwhile. A server that stops saves its recordings and may say so just
    // before it goes: that word is about to be replaced by "Connection lost", so it is
    // said again after.
    const lostAt = Date.now();
    const recordingAtLoss = this.state.recording;
    const endedJustBefore = this.lastEnded && this.lastEnded.at <= lostAt && lostAt - this.lastEnded.at < 5000 ? this.lastEnded : null;
    this.closeMedia();
    this.state.status = 'reconnecting';
    while (!this.left) {
      const delay = RECONNECT_DELAYS_MS[Math.min(this.retry, RECONNECT_DELAYS_MS.length - 1)];
      this.retry += 1;
      this.setBanner('error', `Connection lost. Reconnecting in ${Math.round(delay / 1000)} s… (attempt ${this.retry})`);
      await new Promise((r) => setTimeout(r, delay));
      try {
        this.closeMedia();
        await this.join();
        // Only while nothing is recorded now: a recording running says so (REC).
        const ended = this.state.recording ? null : (recordingAtLoss ?? endedJustBefore);
        const restarted = this.serverStopped;
        this.serverStopped = false;
        if (ended) {
          // Kept until dismissed: the meeting goes on unrecorded unless someone starts again.
          const what = restarted ? 'The recording stopped when the server restarted; it was saved up to then.' : 'The recording ended while you were disconnected.';
          this.setBanner('info', `Reconnected. ${what}`, this.watchLink(ended.id));
          return;
        }
        // A device that stopped while it was away matters more than the news.
        if (this.stopped.size) return this.sayStoppedDevices();
        this.setBanner('info', 'Reconnected.');
        setTimeout(() => { if (this.state.banner?.text === 'Reconnected.') this.setBanner(null, null); }, 3000);
        return;
      } catch (err) {
        if (err instanceof SignalingError && ['name_taken', 'room_full', 'invalid_name'].includes(err.code)) {
          this.state.status = 'ended';
          this.setBanner('error', err.message);
          return;
        }
        // A refused socket looks unreachable: if the link expired meanwhile, stop here.
        if (err instanceof SignalingError && err.code === 'unreachable' && await this.sessionGone()) {
          this.left = true;
          this.state.status = 'ended';
          this.closeMedia();
          this.dispatchEvent(new Event('unauthorized'));
          return;
        }
      }
    }
  }

  /** Whether the server is up and says this page has no session any more (401). */
  async sessionGone() {
    try {
      return (await fetch('/api/session')).status === 401;
    } catch {
      return false; // unreachable: keep trying
    }
  }

  closeMedia() {
    // Leaving, or a lost connection, ends a share (its producers go with the transport).
    if (this.share) {
      this.share.track.stop();
      this.share.audioTrack?.stop();
      this.share = null;
      const me = this.state.participants.get(this.state.me);
      if (me) Object.assign(me, { screen: false, screenTrack: null });
    }
    for (const { consumer } of this.consumers.values()) consumer.close();
    this.consumers.clear();
    // Their pictures ended with the consumers: each shows as a name card until the
    // room is back (an ended track would draw black).
    for (const p of this.state.participants.values()) {
      if (!p.isMe) Object.assign(p, { videoTrack: null, audioTrack: null, screenTrack: null, screenAudioTrack: null });
    }
    for (const p of this.producers.values()) p.close();
    this.producers.clear();
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.sendTransport = this.recvTransport = null;
    if (this.signaling) {
      this.signaling.close();
      this.signaling = null;
    }
  }

  async leave() {
    this.left = true;
    try { await this.signaling?.request('leave'); } catch { /* leaving anyway */ }
    this.closeMedia();
    this.local.videoTrack?.stop();
    this.local.audioTrack?.stop();
    this.state.status = 'ended';
    this.changed();
  }
}
