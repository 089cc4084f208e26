// The highlight reel's queue on the review page (docs/api.md, `highlights`): the server
// builds two reels at a time, so a reel asked for while two others build waits its
// turn, and its page says so (#reel-queued) until the build starts, then shows the reel.
//
// A build takes a few tens of ms on a small recording: too quick to catch two of them
// running by timing alone. So the test holds them: a Linux write lease on a recording's
// mp4 (fcntl F_SETLEASE, taken by a python3 helper) makes every other open() of the
// file wait until the lease is let go, and a build starts by opening the recording. The
// builds stay running, at their very start, for exactly as long as the test says. (The
// kernel breaks a lease itself /proc/sys/fs/lease-break-time after the first open that
// waits on it, 45 s by default; the test lets every lease go well within that.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { launchBrowser, startServer } from './helpers.mjs';

const SECONDS = 40;

// Takes a write lease on each file named, says "held", then lets one go per line read
// (its path), saying "released". The kernel signals the holder (SIGIO) when someone
// waits on a lease; ignored, it waits on.
const LEASE_SCRIPT = `
import fcntl, os, signal, sys
signal.signal(signal.SIGIO, signal.SIG_IGN)
fds = {p: os.open(p, os.O_RDONLY) for p in sys.argv[1:]}
for fd in fds.values():
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print('held', flush=True)
for line in sys.stdin:
    os.close(fds.pop(line.strip()))
    print('released', flush=True)
`;

/** Holds every open() of `paths` until `release(path)`; `close()` lets all go. */
async function holdOpens(paths) {
  const child = spawn('python3', ['-c', LEASE_SCRIPT, ...paths], { stdio: ['pipe', 'pipe', 'inherit'] });
  let spawnError = null;
  const exited = new Promise((resolve) => {
    child.once('exit', resolve);
    child.once('error', (e) => { spawnError = e; resolve(); });
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const expect = async (word) => {
    const { value, done } = await lines.next();
    if (spawnError) throw new Error(`the test holds builds with python3, which did not start: ${spawnError.message}`);
    if (done || value !== word) throw new Error(`the lease helper said ${done ? 'nothing (it exited)' : value}, not ${word}`);
  };
  await expect('held');
  return {
    async release(path) {
      child.stdin.write(`${path}\n`);
      await expect('released');
    },
    async close() {
      if (!spawnError) child.stdin.end();
      await exited;
    },
  };
}

/**
 * A finished recording as the recorder leaves it: a fragmented mp4 (H.264 with a
 * keyframe every second, the first at 0 and the rest 21 ms on, after the AAC priming,
 * as the recorder's; AAC of a steady tone) and its sidecar. Ada speaks the first half
 * and Ben the second; the per-second loudness is the tone's, so every second of each
 * turn is speech to the reel's selection.
 */
function writeRecording(dir, ids) {
  const [first, ...others] = ids;
  const mp4 = join(dir, `${first}.mp4`);
  execFileSync('ffmpeg', ['-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=160x90:rate=15:duration=${SECONDS}`,
    '-f', 'lavfi', '-i', `sine=frequency=220:sample_rate=48000:duration=${SECONDS}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-g', '15', '-keyint_min', '15', '-sc_threshold', '0', '-force_key_frames', 'expr:gte(t,n_forced)',
    '-c:a', 'aac', '-b:a', '48k', '-ac', '1',
    '-movflags', 'frag_keyframe+empty_moov+default_base_moof', mp4]);
  for (const id of others) copyFileSync(mp4, join(dir, `${id}.mp4`));
  const half = SECONDS / 2;
  for (const [i, id] of ids.entries()) {
    const sidecar = {
      version: 1, id, room: `standup${i + 1}`, status: 'finished', started_at: `2026-12-08T09:0${i}:00.000Z`,
      duration_ms: SECONDS * 1000, width: 160, height: 90, fps: 15, max_lag_ms: 0,
      participants: [{ participant_id: 'ada', name: 'Ada' }, { participant_id: 'ben', name: 'Ben' }],
      timeline: [
        { start_ms: 0, end_ms: half * 1000, participant_id: 'ada', name: 'Ada' },
        { start_ms: half * 1000, end_ms: SECONDS * 1000, participant_id: 'ben', name: 'Ben' },
      ],
      // A sine of amplitude 1/8 (lavfi's): -21 dBFS.
      loudness_db: Array(SECONDS).fill(-21.1), voices: Array(SECONDS).fill(1),
      layout: 'speaker', layout_changes: [], screen_shares: [], quality_steps: [],
    };
    writeFileSync(join(dir, `${id}.json`), JSON.stringify(sidecar));
  }
  return ids.map((id) => join(dir, `${id}.mp4`));
}

test('a reel asked for while two others build says it waits, then builds and plays', { timeout: 60_000 }, async (t) => {
  // The kernel lets a waiting open through after this long: the holds below need about
  // 15 s on a slow machine. A machine set shorter says so here, not as a reel that
  // "is not building".
  const leaseBreak = Number(readFileSync('/proc/sys/fs/lease-break-time', 'utf8'));
  assert.ok(leaseBreak >= 30, `/proc/sys/fs/lease-break-time is ${leaseBreak} s here: this test holds reel builds on file leases for up to ~15 s and needs at least 30 (the default is 45)`);
  const server = await startServer();
  const browser = await launchBrowser({});
  const ids = ['20261208-090000-queue1', '20261208-090100-queue2', '20261208-090200-queue3'];
  let hold = null;
  // The leases go first: a server stopping waits for the builds stuck on them.
  t.after(async () => { await hold?.close(); await browser.close(); await server.stop(); });
  const [mp4First, mp4Second, mp4Third] = writeRecording(server.recordingsDir, ids);
  // Held before anything opens them (a lease is refused on a file open elsewhere).
  hold = await holdOpens([mp4First, mp4Second, mp4Third]);
  const api = (path, init) => fetch(`${server.baseUrl}/api/recordings/${path}`, init).then(async (r) => ({ status: r.status, body: await r.json() }));

  // Two reels take both turns: each build starts at once, and waits on its file.
  for (const id of ids.slice(0, 2)) {
    const { status, body } = await api(`${id}/highlights`, { method: 'POST' });
    assert.equal(status, 202, JSON.stringify(body));
    assert.deepEqual(body, { status: 'building', progress: 0 }, 'its turn taken, not queued');
  }
  for (const id of ids.slice(0, 2)) {
    const { body } = await api(id);
    assert.equal(body.highlights.status, 'building', `${id} is still building: the lease holds it`);
    assert.equal(body.highlights.queued, undefined);
  }

  // A reel building in its turn does not say it waits.
  const first = await browser.newPage();
  await first.goto(`${server.baseUrl}/recordings/${ids[0]}`);
  await first.locator('#reel-progress').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await first.locator('#reel-queued').isVisible(), false, 'a running build is not waiting');
  assert.equal(await first.locator('#build-reel').isDisabled(), true);
  await first.close();

  // The third recording's page: its reel is asked for while the two build.
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/recordings/${ids[2]}`);
  const button = page.locator('#build-reel');
  await button.waitFor({ timeout: 10_000 });
  assert.equal(await button.isDisabled(), false);
  assert.equal(await page.locator('#reel-queued').isVisible(), false, 'nothing waits before the button is pressed');
  const answered = page.waitForResponse((r) => r.url().endsWith(`/api/recordings/${ids[2]}/highlights`) && r.request().method() === 'POST');
  await button.click();
  const answer = await (await answered).json();
  assert.deepEqual(answer, { status: 'building', progress: 0, queued: true }, 'the server queued it');
  const queued = page.locator('#reel-queued');
  await queued.waitFor({ state: 'visible', timeout: 5000 });
  assert.equal((await queued.textContent()).trim(), 'Waiting for other reels to finish building…');
  assert.equal(await page.locator('#reel-progress').isVisible(), true);
  assert.equal(await button.isDisabled(), true, 'no second request while it waits');
  // Still waiting after the page has asked again (it polls): the note stays. Two
  // answers: the page reads one before it asks for the next.
  const polled = () => page.waitForResponse((r) => r.url().endsWith(`/api/recordings/${ids[2]}`) && r.request().method() === 'GET', { timeout: 5000 });
  await polled();
  await polled();
  assert.equal(await queued.isVisible(), true, 'still waiting, still said');

  // The two builds go on and end: the third gets its turn, and starts (held on its own
  // file, so that the page is seen building): the note goes, the progress stays.
  await hold.release(mp4First);
  await hold.release(mp4Second);
  await page.waitForFunction(() => {
    const note = document.querySelector('#reel-queued');
    return note?.hidden === true && document.querySelector('#reel-progress')?.hidden === false;
  }, null, { timeout: 10_000 });
  assert.equal(await queued.isVisible(), false, 'building now, not waiting');
  assert.equal(await page.locator('#reel-player').count(), 0, 'not built yet');
  const { body: building } = await api(ids[2]);
  assert.equal(building.highlights.status, 'building');
  assert.equal(building.highlights.queued, undefined, 'the server agrees: its turn came');

  // Let it finish: the reel is shown, ready to play and to download, and nothing says it waits.
  await hold.release(mp4Third);
  const player = page.locator('#reel-player');
  await player.waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await queued.count(), 0, 'the waiting note is gone');
  await page.waitForFunction(() => document.querySelector('#reel-player').readyState >= 1, null, { timeout: 10_000 });
  const { body: done } = await api(ids[2]);
  assert.equal(done.highlights.status, 'ready');
  await page.locator('.reel-clip').first().waitFor({ timeout: 5000 });
  assert.deepEqual(await page.locator('.reel-clip').evaluateAll((bs) => bs.map((b) => b.firstChild.nextSibling.textContent)), ['Ada', 'Ben'], 'a clip of each speaker, in order');
  const download = page.locator('#highlights a[download]');
  assert.equal(await download.getAttribute('href'), `/api/recordings/${ids[2]}/highlights`);
  assert.match(await download.textContent(), /Download the reel/);
  // The two that held the turns were built too.
  for (const id of ids.slice(0, 2)) assert.equal((await api(id)).body.highlights.status, 'ready', id);
});
