// Recording a real meeting: three participants in their own Chromium, with coloured
// cameras and espeak-ng speech in scripted turns. One presses Record, everyone sees
// the indicator, and the mp4 that comes out is read back frame by frame: it shows each
// turn's speaker (from within 1.5 s of their first word, through at least 80 % of the
// turn), never flickers nor follows a 0.6 s backchannel, holds everyone's speech, and
// has one chapter per turn. Prints the switch latency from speech onset to the
// speaker's first frame in the file.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cameraFile, micFile } from './fixtures.mjs';
import { findOnset, frameColor, joinAll, launchBrowser, nearestParticipant, startServer } from './helpers.mjs';
import { audioSamples, frameColors, probe, rms, runs, whoIs } from './media.mjs';

// Seconds from each participant's microphone start.
const TURNS = [
  { name: 'Alice', start: 8, duration: 4 },
  { name: 'Bob', start: 14, duration: 4 },
  { name: 'Carol', start: 20, duration: 4 },
  { name: 'Alice', start: 29, duration: 4 },
];
const BACKCHANNEL = { name: 'Bob', start: 26, duration: 0.6 };
const RECORD_AT = 4; // seconds after Alice's microphone started
const TOTAL = 35;
const MAX_SWITCH_MS = 1500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const slotsOf = (name) => [...TURNS.filter((t) => t.name === name), ...(BACKCHANNEL.name === name ? [BACKCHANNEL] : [])]
  .map((t) => [t.start, t.duration]).sort((a, b) => a[0] - b[0]);

// The recorded meeting, for the review test that follows.
let recorded = null;
const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

test('recording a meeting: one mp4 that follows the speaker, with everyone heard and a chapter per turn', { timeout: 180_000 }, async () => {
  const server = await startServer();
  cleanup.push(() => server.stop());
  const names = ['Alice', 'Bob', 'Carol'];
  const browsers = await Promise.all(names.map((name) => launchBrowser({
    videoFile: cameraFile(name),
    audioFile: `${micFile(name, slotsOf(name), TOTAL)}%noloop`,
  })));
  cleanup.push(() => Promise.all(browsers.map((b) => b.close())));
  const pages = await Promise.all(browsers.map((b) => b.newPage({ viewport: { width: 1000, height: 640 } })));
  const errors = [];
  pages.forEach((p, i) => p.on('pageerror', (e) => errors.push(`${names[i]}: ${e.message}`)));
  const audioStart = await joinAll(server, 'standup', pages, names);
  const [alice] = pages;

  // Alice presses Record before the first turn; everyone sees it, with the time.
  await sleep(Math.max(0, audioStart.Alice + RECORD_AT * 1000 - Date.now()));
  assert.equal(await alice.locator('#record').getAttribute('data-recording'), 'false');
  await alice.click('#record');
  for (const page of pages) {
    await page.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 10_000 });
  }
  const room = await (await fetch(`${server.baseUrl}/api/rooms/standup`)).json();
  assert.ok(room.recording?.id, `the room shows no recording: ${JSON.stringify(room)}`);
  const { id, started_at: startedAt } = room.recording;
  const again = await fetch(`${server.baseUrl}/api/rooms/standup/recording`, { method: 'POST' });
  assert.equal(again.status, 409, 'a second start is a conflict');
  await sleep(2500);
  for (const page of pages) {
    assert.match(await page.locator('#recording-indicator .rec-time').textContent(), /^00:0[1-9]$/);
  }

  // The script plays out; then Alice stops the recording.
  await sleep(Math.max(0, audioStart.Alice + TOTAL * 1000 - Date.now()));
  const stopClicked = Date.now();
  await alice.click('#record');
  for (const page of pages) {
    await page.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 10_000 });
  }
  await alice.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('saved'), null, { timeout: 10_000 });
  console.log(`stop clicked to indicator gone in all pages: ${Date.now() - stopClicked} ms`);
  const rec = await (await fetch(`${server.baseUrl}/api/recordings/${id}`)).json();
  assert.equal(rec.status, 'finished', JSON.stringify(rec));
  assert.deepEqual(rec.participants.map((p) => p.name), room.participants.map((p) => p.name), 'everyone, in join order');
  const list = await (await fetch(`${server.baseUrl}/api/recordings`)).json();
  assert.deepEqual(list.map((r) => r.id), [id]);

  // The file, through the API, with Range requests.
  const head = await fetch(`${server.baseUrl}/api/recordings/${id}/video`, { headers: { Range: 'bytes=0-99' } });
  assert.equal(head.status, 206);
  assert.equal((await head.arrayBuffer()).byteLength, 100);
  assert.equal(head.headers.get('content-type'), 'video/mp4');

  // Ground truth: each turn starts at its speaker's own measured onset, in file time.
  const onsets = Object.fromEntries(await Promise.all(pages.map(async (p, i) => [names[i], await p.evaluate(() => window.__onsets)])));
  const t0 = Date.parse(startedAt);
  const turns = TURNS.map((turn) => {
    const onset = findOnset(onsets[turn.name], audioStart[turn.name] + turn.start * 1000);
    assert.ok(onset, `no speech onset measured for ${turn.name} at ${turn.start} s`);
    return { ...turn, from: onset - t0, to: onset - t0 + turn.duration * 1000 };
  });
  const path = join(server.recordingsDir, `${id}.mp4`);
  const info = probe(path);
  assert.deepEqual(info.codecs, ['h264', 'aac']);
  const frames = frameColors(path);
  const shown = runs(frames);
  console.log(`the recording shows: ${shown.map((r) => `${r.who}@${r.from}-${r.to}`).join(' ')}`);

  // Who is on screen, turn by turn.
  const latencies = [];
  for (const [k, turn] of turns.entries()) {
    const next = turns[k + 1]?.from ?? info.durationMs;
    const first = frames.find((f) => f.t >= turn.from - 500 && whoIs(f.rgb) === turn.name);
    assert.ok(first, `${turn.name}'s turn ${k + 1} never shows ${turn.name}`);
    const latency = first.t - turn.from;
    latencies.push(latency);
    assert.ok(latency <= MAX_SWITCH_MS, `${turn.name} is on screen ${latency} ms after their turn began`);
    const span = frames.filter((f) => f.t >= turn.from && f.t < Math.min(next, turn.to + 1500));
    const share = span.filter((f) => whoIs(f.rgb) === turn.name).length / span.length;
    assert.ok(share >= 0.8, `${turn.name}'s turn ${k + 1} shows them ${(share * 100).toFixed(0)} % of the time`);
  }
  // No flicker: the speakers follow each other once each, and the backchannel (Bob, in
  // Carol's afterglow) never shows. Before the first turn: the waiting card.
  const sequence = shown.map((r) => r.who);
  assert.deepEqual(sequence, ['waiting', 'Alice', 'Bob', 'Carol', 'Alice'], `shown: ${JSON.stringify(shown)}`);

  // Everyone's speech is in the audio, and the pauses between turns are quiet.
  const audio = audioSamples(path);
  for (const [k, turn] of turns.entries()) {
    const speech = rms(audio, turn.from + 300, turn.to - 300);
    // The pause: just before the first turn, else just after the previous one ended.
    const pause = k === 0 ? rms(audio, turn.from - 1200, turn.from - 200) : rms(audio, turns[k - 1].to + 300, turns[k - 1].to + 900);
    assert.ok(speech > 0.02 && speech > 4 * pause, `${turn.name}'s speech at ${turn.from} ms: rms ${speech.toFixed(4)}, the pause before ${pause.toFixed(4)}`);
  }

  // A chapter per turn, titled with the name, where the face changes; the sidecar's
  // timeline says the same.
  assert.deepEqual(info.chapters.map((c) => c.title), TURNS.map((t) => t.name));
  assert.deepEqual(rec.timeline.map((e) => e.name), TURNS.map((t) => t.name));
  for (const [k, c] of info.chapters.entries()) {
    assert.ok(Math.abs(c.start - rec.timeline[k].start_ms) <= 1, `chapter ${k} at ${c.start}, timeline at ${rec.timeline[k].start_ms}`);
    const changed = shown.find((r) => r.who === TURNS[k].name && r.from >= turns[k].from - 500);
    assert.ok(Math.abs(c.start - changed.from) <= 100, `chapter ${k} at ${c.start} ms, the face changes at ${changed.from} ms`);
  }
  assert.deepEqual(errors, []);

  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`recording switch latency from speech onset to the speaker's first frame in the mp4 (ms): ${latencies.join(', ')}; median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted.at(-1)}`);
  recorded = { server, browser: browsers[0], id, timeline: rec.timeline, names };
});

/** Shots of a page when PODIUM_E2E_SCREENSHOTS names a folder (to look at). */
async function shot(page, name) {
  if (process.env.PODIUM_E2E_SCREENSHOTS) await page.screenshot({ path: join(process.env.PODIUM_E2E_SCREENSHOTS, `${name}.png`), fullPage: true });
}

test('reviewing it: the library lists it, the timeline seeks to each speaker, the reel plays, delete asks first', { timeout: 120_000 }, async (t) => {
  if (!recorded) return t.skip('no recording was made');
  const { server, browser, id, timeline, names } = recorded;
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // The library: the recording, its room, duration, people; the search finds it by
  // participant and not by nonsense.
  await page.goto(`${server.baseUrl}/recordings`);
  const row = page.locator(`.recording-row[data-recording-id="${id}"]`);
  await row.waitFor({ timeout: 10_000 });
  const text = await row.textContent();
  assert.match(text, /standup/);
  for (const n of names) assert.match(text, new RegExp(n));
  assert.equal(await row.getAttribute('data-status'), 'finished');
  await shot(page, 'library');
  await page.fill('#search', 'caro');
  assert.equal(await page.locator('.recording-row').count(), 1);
  await page.fill('#search', 'zzzz');
  assert.equal(await page.locator('.recording-row').count(), 0);
  assert.match(await page.locator('#recordings-list').textContent(), /No recording matches/);
  await page.fill('#search', '');

  // The review page: one segment per turn, in one row per speaker.
  await row.locator('a.play').click();
  await page.waitForURL(`**/recordings/${id}`);
  await page.waitForFunction(() => document.querySelector('#player')?.readyState >= 1, null, { timeout: 10_000 });
  const segments = page.locator('.timeline-segment');
  assert.equal(await segments.count(), timeline.length, 'one segment per turn');
  assert.equal(await page.locator('.timeline-row[data-participant-name]').count(), new Set(timeline.map((e) => e.name)).size);
  assert.equal(await page.locator('#chapters li[data-start-ms]').count(), timeline.length);
  const shares = await page.locator('#talk-time .talk-share').allTextContents();
  const sum = shares.reduce((s, x) => s + Number.parseInt(x, 10), 0);
  assert.ok(sum >= 98 && sum <= 102, `talk shares add up to ${sum} %`);

  // Clicking a segment seeks there: the frame shows that speaker, and says so.
  for (let k = 0; k < timeline.length; k++) {
    const seg = segments.nth(k);
    const who = await seg.getAttribute('data-participant-name');
    const start = Number(await seg.getAttribute('data-start-ms'));
    await seg.hover();
    assert.match(await page.locator('.tooltip').textContent(), new RegExp(who));
    await seg.click();
    await page.waitForFunction((s) => {
      const v = document.querySelector('#player');
      return v.currentTime * 1000 >= s && !v.seeking && v.readyState >= 2;
    }, start, { timeout: 10_000 });
    await page.evaluate(() => document.querySelector('#player').pause());
    const rgb = await frameColor(page, '#player');
    assert.equal(nearestParticipant(rgb), who, `segment ${k} (${who} at ${start} ms) shows ${JSON.stringify(rgb)}`);
    await page.waitForFunction((w) => document.querySelector('#current-speaker').dataset.participantName === w, who, { timeout: 5000 });
  }
  await shot(page, 'review');

  // The speaker track is attached: its cues are the turns.
  const cues = await page.evaluate(async () => {
    const track = document.querySelector('#player').textTracks[0];
    track.mode = 'hidden';
    for (let i = 0; i < 50 && !(track.cues?.length); i++) await new Promise((r) => setTimeout(r, 100));
    return [...(track.cues ?? [])].map((c) => [Math.round(c.startTime * 1000), c.text]);
  });
  assert.deepEqual(cues.map(([, text]) => text.replace(/<[^>]+>/g, '')), timeline.map((e) => e.name));

  // The highlight reel: built with progress, it plays, and its clips seek the recording.
  await page.click('#build-reel');
  await page.locator('#reel-player').waitFor({ timeout: 30_000 });
  await page.evaluate(() => { const v = document.querySelector('#reel-player'); v.muted = true; return v.play(); });
  await page.waitForFunction(() => document.querySelector('#reel-player').currentTime > 1, null, { timeout: 15_000 });
  const clips = page.locator('.reel-clip');
  assert.ok(await clips.count() >= 1);
  const clipStart = Number(await clips.first().getAttribute('data-source-start-ms'));
  await clips.first().click();
  await page.waitForFunction((s) => Math.abs(document.querySelector('#player').currentTime * 1000 - s) < 1500, clipStart, { timeout: 5000 });
  await shot(page, 'review-reel');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, 'review-phone');

  // Delete asks, and then the recording is gone, from the list and the disk's API.
  await page.goto(`${server.baseUrl}/recordings`);
  await row.locator('.delete').click();
  const dialog = page.locator('#confirm-delete');
  await dialog.waitFor({ state: 'visible' });
  assert.match(await dialog.textContent(), /removed for good/);
  await dialog.locator('button[value=cancel]').click();
  assert.equal(await row.count(), 1, 'cancel keeps it');
  await row.locator('.delete').click();
  await page.click('#confirm-delete-ok');
  await row.waitFor({ state: 'detached', timeout: 5000 });
  assert.equal((await fetch(`${server.baseUrl}/api/recordings/${id}`)).status, 404);
  assert.deepEqual(errors, []);
});
