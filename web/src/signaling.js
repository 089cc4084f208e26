// The signaling WebSocket (protocol in docs/signaling.md): requests with ids answered
// by `response` messages, and server events dispatched as DOM events by type.
const PROTOCOL_VERSION = 1;
const REQUEST_TIMEOUT_MS = 15_000;

export class SignalingError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Signaling extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
    this.closedByUs = false;
  }

  /** Opens the socket; rejects if the server cannot be reached. */
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => { opened = true; resolve(); };
      ws.onerror = () => { if (!opened) reject(new SignalingError('unreachable', 'The server cannot be reached.')); };
      ws.onclose = (e) => {
        for (const { reject: rej, timer } of this.pending.values()) {
          clearTimeout(timer);
          rej(new SignalingError('disconnected', 'The connection to the server was lost.'));
        }
        this.pending.clear();
        if (opened && !this.closedByUs) this.dispatchEvent(new CustomEvent('disconnected', { detail: { code: e.code } }));
      };
      ws.onmessage = (e) => this.onMessage(e.data);
    });
  }

  onMessage(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.type === 'response') {
      const waiter = this.pending.get(msg.id);
      if (!waiter) {
        if (!msg.ok) console.warn('server error', msg.error);
        return;
      }
      this.pending.delete(msg.id);
      clearTimeout(waiter.timer);
      if (msg.ok) waiter.resolve(msg.data ?? {});
      else waiter.reject(new SignalingError(msg.error?.code ?? 'error', msg.error?.message ?? 'Request failed.'));
      return;
    }
    this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
  }

  request(type, body = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SignalingError('disconnected', 'Not connected to the server.'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalingError('timeout', `The server did not answer "${type}" in time.`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, id, type, ...body }));
    });
  }

  close() {
    this.closedByUs = true;
    this.ws?.close();
  }
}
