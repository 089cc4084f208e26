// Shared pieces of the browser end-to-end tests: the real podium binary on free ports
// and Debian's chromium driven by playwright-core.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { COLORS } from './fixtures.mjs';

export const PODIUM_BIN = process.env.PODIUM_BIN ?? new URL('../../target/release/podium', import.meta.url).pathname;

const madeDirs = [];
// A test file that passes leaves nothing in /tmp (`make test` again and again must not
// fill the machine); one that fails keeps its recordings folders to look into.
process.on('exit', (code) => {
  if (code !== 0 || process.exitCode) {
    for (const dir of madeDirs) console.error(`kept for a look: ${dir}`);
    return;
  }
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

/** A new folder for this test file, removed when it ends if all its tests passed. */
export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'podium-e2e-'));
  madeDirs.push(dir);
  return dir;
}

/**
 * Starts `podium serve` on free ports; resolves once it prints its address. Its
 * recordings go to a new folder, or to `recordingsDir` (to restart over one). `env`
 * adds environment variables (e.g. { PODIUM_SECRET } for secured mode). Recording
 * admission is off unless `args` or `env` turn it on: the browsers of a test share the
 * server's cores, which a real meeting's do not.
 */
export async function startServer(args = [], { recordingsDir = tempDir(), env = {} } = {}) {
  const defaults = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const child = spawn(PODIUM_BIN, ['serve', ...defaults, '--rtc-port', '0',
    '--workers', '1', '--recordings-dir', recordingsDir, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn,podium=info', PODIUM_RECORDING_ADMISSION: 'off', ...env },
  });
  const baseUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('podium did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`podium exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/^Podium is running on (\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  return {
    baseUrl,
    recordingsDir,
    child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * Mints an access link with `podium token … --json`: resolves to {url, token,
 * expires_at}. `secret` is the server's PODIUM_SECRET; `url` its address (the link's
 * base); `ttl` like "24h", "30s"; `role` guest, host or admin (then no room).
 */
export function mintToken({ room, name, role, ttl, url, secret }) {
  const args = ['token', '--json'];
  if (room !== undefined) args.push('--room', room);
  if (name !== undefined) args.push('--name', name);
  if (role !== undefined) args.push('--role', role);
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  if (url !== undefined) args.push('--url', url);
  return new Promise((resolve, reject) => {
    execFile(PODIUM_BIN, args, { env: { ...process.env, PODIUM_SECRET: secret } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`podium ${args.join(' ')} failed: ${stderr || err.message}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`podium token printed no JSON: ${stdout}`));
      }
    });
  });
}

/**
 * One chromium process. Fake-device files are per process, so each participant of a
 * meeting gets a browser of their own.
 */
export async function launchBrowser({ videoFile, audioFile, denyMedia = false } = {}) {
  const args = [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required',
  ];
  // Without the fake permission UI, headless chromium denies camera and microphone.
  if (!denyMedia) args.push('--use-fake-ui-for-media-stream');
  if (videoFile) args.push(`--use-file-for-fake-video-capture=${videoFile}`);
  if (audioFile) args.push(`--use-file-for-fake-audio-capture=${audioFile}`);
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
}

/** Mean colour of a video element's current frame, and which participant it is. */
export async function frameColor(page, selector) {
  return page.evaluate((sel) => {
    const v = document.querySelector(sel);
    if (!v || !v.videoWidth) return null;
    const c = document.createElement('canvas');
    c.width = 32; c.height = 18;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 32, 18);
    const d = g.getImageData(0, 0, 32, 18).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; }
    return sum.map((s) => Math.round(s / (d.length / 4)));
  }, selector);
}

/**
 * Asks `read` again (every `every` ms, for at most `timeout` ms) until `done` holds for
 * its answer; resolves to the last answer, for the test to assert on.
 */
export async function pollUntil(read, done, { timeout = 10_000, every = 100 } = {}) {
  const until = Date.now() + timeout;
  let value = await read();
  while (!done(value) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, every));
    value = await read();
  }
  return value;
}

/** Waits until `#player` (or `selector`) has a frame to show at `ms` or later. */
export function waitSeeked(page, ms, selector = '#player') {
  return page.waitForFunction(([sel, from]) => {
    const v = document.querySelector(sel);
    return v.currentTime * 1000 >= from && !v.seeking && v.readyState >= 2;
  }, [selector, ms], { timeout: 10_000 });
}

export function nearestParticipant(rgb) {
  let best = null;
  let bestDist = Infinity;
  for (const [name, c] of Object.entries(COLORS)) {
    const dist = Math.hypot(rgb[0] - c[0], rgb[1] - c[1], rgb[2] - c[2]);
    if (dist < bestDist) { best = name; bestDist = dist; }
  }
  return best;
}

/**
 * Samples each remote <audio> element's level through WebAudio, keeping the peak, and
 * the local microphone's, noting each speech onset (sound after 400 ms of silence):
 * the ground truth a switch latency is measured from.
 */
export async function startAudioMeter(page) {
  await page.evaluate(() => {
    window.__peaks = {};
    window.__onsets = [];
    const ctx = new AudioContext();
    const meters = new Map();
    const local = ctx.createAnalyser();
    local.fftSize = 512;
    ctx.createMediaStreamSource(new MediaStream([window.podium.meeting.local.audioTrack])).connect(local);
    const localBuf = new Float32Array(512);
    let lastLoud = 0;
    setInterval(() => {
      local.getFloatTimeDomainData(localBuf);
      const rms = Math.sqrt(localBuf.reduce((s, x) => s + x * x, 0) / localBuf.length);
      const now = Date.now();
      if (rms > 0.01) {
        if (now - lastLoud > 400) window.__onsets.push(now);
        lastLoud = now;
      }
    }, 10);
    setInterval(() => {
      for (const audio of document.querySelectorAll('#audio-sinks audio')) {
        const id = audio.dataset.participantId;
        if (!meters.has(audio) && audio.srcObject) {
          const analyser = ctx.createAnalyser();
          analyser.fftSize = 1024;
          ctx.createMediaStreamSource(audio.srcObject).connect(analyser);
          meters.set(audio, { id, analyser, buf: new Float32Array(1024) });
        }
      }
      for (const { id, analyser, buf } of meters.values()) {
        analyser.getFloatTimeDomainData(buf);
        const rms = Math.sqrt(buf.reduce((s, x) => s + x * x, 0) / buf.length);
        window.__peaks[id] = Math.max(window.__peaks[id] ?? 0, rms);
      }
    }, 50);
    ctx.resume();
  });
}

/**
 * The speech onset measured in a speaker's own browser nearest a scripted time
 * (`scriptedAt`, ms since the epoch): the ground truth of when a turn began.
 */
export function findOnset(onsets, scriptedAt) {
  return onsets.find((t) => t > scriptedAt - 1000 && t < scriptedAt + 1500);
}

/** The pids of the processes whose parent is `pid` and whose command line has `needle`. */
export function childProcesses(pid, needle) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (ppid === pid && cmdline.includes(needle)) found.push(Number(entry));
    } catch { /* the process ended meanwhile */ }
  }
  return found;
}

/**
 * Joins `room` with each page as its participant, at once (so that their fake
 * microphones, which start at getUserMedia, line up), waits until everyone sees
 * everyone, and starts the audio meters. Returns when each microphone started (ms since
 * the epoch), by name.
 */
export async function joinAll(server, room, pages, names) {
  await Promise.all(pages.map((p, i) => p.goto(`${server.baseUrl}/rooms/${room}?name=${names[i]}&autojoin=1`)));
  await Promise.all(pages.map((p) => p.waitForFunction((n) => document.querySelectorAll('.tile').length === n, names.length, { timeout: 20_000 })));
  await Promise.all(pages.map(startAudioMeter));
  return Object.fromEntries(await Promise.all(pages.map(async (p, i) => [names[i], await p.evaluate(() => window.podium.audioStartedAt)])));
}
