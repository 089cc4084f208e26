// Shared pieces of the browser end-to-end tests: the real podium binary on free ports
// and Debian's chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const PODIUM_BIN = process.env.PODIUM_BIN ?? new URL('../../target/release/podium', import.meta.url).pathname;

/** Starts `podium serve` on free ports; resolves once it prints its address. */
export async function startServer(args = []) {
  const recordingsDir = mkdtempSync(join(tmpdir(), 'podium-e2e-'));
  const defaults = args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0'];
  const child = spawn(PODIUM_BIN, ['serve', ...defaults, '--rtc-port', '0',
    '--workers', '1', '--recordings-dir', recordingsDir, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn,podium=info' },
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
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
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
