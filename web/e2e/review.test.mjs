// The review page by keyboard (docs/api.md, "Review page"): the speaker timeline is one
// Tab stop per row, with arrow keys between its turns, so that an hour's meeting is not
// hundreds of Tab stops; and a live recording's timeline and chapters, redrawn every 2 s,
// keep the keyboard user's place. The recording is a sidecar written here: what is
// tested is the page, not the recorder. And a real recording watched while it runs: the
// player keeps up with the file as it grows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cameraFile, micFile } from './fixtures.mjs';
import { frameColor, launchBrowser, nearestParticipant, startServer, waitSeeked } from './helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const turn = (name, start, end) => ({ start_ms: start * 1000, end_ms: end * 1000, participant_id: name.toLowerCase(), name });

test('the timeline is a Tab stop per row with arrow keys between turns, and a live recording keeps the focus', { timeout: 60_000 }, async (t) => {
  const server = await startServer(['--recording-retention-days', '30']);
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const id = '20261207-100000-keys01';
  const sidecar = {
    version: 1, id, room: 'keys', status: 'recording', started_at: '2026-12-07T10:00:00.000Z',
    duration_ms: 40_000, width: 1280, height: 720, fps: 30, quality_steps: [],
    participants: ['Ada', 'Ben', 'Cy'].map((name) => ({ participant_id: name.toLowerCase(), name })),
    timeline: [turn('Ada', 0, 5), turn('Ben', 5, 9), turn('Ada', 9, 15), turn('Cy', 15, 20), turn('Ben', 20, 30), turn('Ada', 30, 40)],
    screen_shares: [{ start_ms: 10_000, end_ms: 25_000, participant_id: 'ben', name: 'Ben' }],
  };
  const write = () => writeFileSync(join(server.recordingsDir, `${id}.json`), JSON.stringify(sidecar));
  write();
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/recordings/${id}`);
  await page.locator('#timeline .timeline-segment').first().waitFor();
  const focused = () => page.evaluate(() => {
    const e = document.activeElement;
    return { cls: e.classList[0] ?? e.tagName, row: e.closest('.timeline-row')?.dataset.participantName ?? (e.closest('.screen-row') ? 'Screen' : null), start: Number(e.closest('[data-start-ms]')?.dataset.startMs) };
  });
  const stops = () => page.locator('#timeline button[tabindex="0"]').count();

  assert.equal(await page.locator('#timeline button').count(), 7, 'six turns and a share');
  assert.equal(await stops(), 4, 'one Tab stop per row: Ada, Ben, Cy, Screen');
  await page.locator('#timeline .timeline-segment').first().focus();
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ada', start: 0 });
  await page.keyboard.press('Tab');
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ben', start: 5000 }, 'Tab goes to the next row, not the next bar');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('ArrowRight');
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ada', start: 9000 });
  await page.keyboard.press('End');
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ada', start: 30_000 });
  await page.keyboard.press('ArrowRight');
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ada', start: 30_000 }, 'the row ends there');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ben', start: 5000 }, "Ben's turn nearest to 0:09");
  await page.keyboard.press('ArrowDown');
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Cy', start: 15_000 });
  await page.keyboard.press('ArrowDown');
  assert.deepEqual(await focused(), { cls: 'screen-segment', row: 'Screen', start: 10_000 });
  await page.keyboard.press('ArrowDown');
  assert.deepEqual(await focused(), { cls: 'screen-segment', row: 'Screen', start: 10_000 }, 'no row below');
  assert.equal(await stops(), 4, 'still one stop per row');
  assert.equal(await page.locator('.timeline-row[data-participant-name="Ada"] button[tabindex="0"]').getAttribute('data-start-ms'), '9000', 'a row keeps the turn last visited as its stop');

  // Live: the page polls every 2 s. While only the last turn grows, the bars are
  // updated where they are: the focused one is the very same element.
  await page.locator('.timeline-row[data-participant-name="Ben"] button[data-start-ms="20000"]').focus();
  await page.evaluate(() => { document.activeElement.dataset.marked = 'yes'; document.querySelector('#chapters li[data-start-ms="0"]').dataset.marked = 'yes'; });
  // The mouse over the growing bar: its label says where it ends.
  await page.locator('.timeline-row[data-participant-name="Ada"] button[data-start-ms="30000"]').hover();
  assert.match(await page.locator('.timeline-wrap .tooltip').textContent(), /Ada · 0:30(\.0)? – 0:40/);
  sidecar.timeline.at(-1).end_ms = 42_000;
  sidecar.duration_ms = 42_000;
  write();
  await page.locator('.timeline-row[data-participant-name="Ada"] button[data-start-ms="30000"][data-end-ms="42000"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => document.activeElement.dataset.marked), 'yes', 'the focused bar was updated, not replaced');
  assert.equal(await page.locator('#chapters li[data-start-ms="0"]').getAttribute('data-marked'), 'yes', 'an unchanged chapter is left alone');
  assert.match(await page.locator('.timeline-wrap .tooltip').textContent(), /Ada · 0:30(\.0)? – 0:42/, 'the label follows the bar it is over');
  assert.ok(await page.locator('.timeline-wrap .tooltip').isVisible());
  assert.match(await page.locator('button[data-start-ms="30000"]').getAttribute('aria-label'), /Ada, 0:30(\.0)? to 0:42/);

  // A new turn redraws: the focused turn keeps the focus (a new element), each row
  // keeps its Tab stop, and the chapters keep theirs.
  sidecar.timeline.push(turn('Cy', 42, 45));
  sidecar.duration_ms = 45_000;
  write();
  await page.locator('.timeline-row[data-participant-name="Cy"] button').nth(1).waitFor({ timeout: 10_000 });
  assert.deepEqual(await focused(), { cls: 'timeline-segment', row: 'Ben', start: 20_000 }, 'the redrawn timeline gives the focus back');
  assert.equal(await stops(), 4);
  assert.equal(await page.locator('.timeline-row[data-participant-name="Ada"] button[tabindex="0"]').getAttribute('data-start-ms'), '9000', "Ada's row still stops at the turn last visited");
  await page.locator('#chapters li[data-start-ms="15000"] button').focus();
  sidecar.timeline.push(turn('Ada', 45, 50));
  sidecar.duration_ms = 50_000;
  write();
  await page.locator('#chapters li[data-start-ms="45000"]').waitFor({ timeout: 10_000 });
  assert.deepEqual(await focused(), { cls: 'chapter', row: null, start: 15_000 }, 'the redrawn chapters give the focus back');
});

test('with a retention, the library and the review page say when a recording will be deleted', { timeout: 60_000 }, async (t) => {
  const server = await startServer(['--recording-retention-days', '30']);
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  // Ended a day ago (a minute long): deleted 29 days from now. A running one has no end yet.
  const startedAt = new Date(Date.now() - 86_400_000 - 60_000);
  const ended = { version: 1, id: '20261206-100000-kept01', room: 'kept', status: 'finished', started_at: startedAt.toISOString(), duration_ms: 60_000, width: 1280, height: 720, fps: 30, participants: [{ participant_id: 'a', name: 'Ada' }], timeline: [turn('Ada', 0, 60)] };
  const live = { ...ended, id: '20261207-100000-live01', room: 'live', status: 'recording', started_at: new Date().toISOString() };
  for (const s of [ended, live]) writeFileSync(join(server.recordingsDir, `${s.id}.json`), JSON.stringify(s));
  const expires = new Date(startedAt.getTime() + 60_000 + 30 * 86_400_000);
  const day = expires.toLocaleDateString('en-US', { day: 'numeric', month: 'short', year: 'numeric' });

  const page = await browser.newPage({ locale: 'en-US' });
  await page.goto(`${server.baseUrl}/recordings`);
  const row = page.locator(`[data-recording-id="${ended.id}"] .rec-expires`);
  assert.equal(await row.textContent({ timeout: 10_000 }), ` · deleted on ${day}`);
  assert.ok(Math.abs(new Date(await row.getAttribute('data-expires-at')) - expires) < 1000);
  assert.equal(await page.locator(`[data-recording-id="${live.id}"] .rec-expires`).count(), 0, 'a running recording has no end to age from');

  await page.goto(`${server.baseUrl}/recordings/${ended.id}`);
  assert.equal(await page.locator('#review-expires').textContent({ timeout: 10_000 }), `This server deletes this recording on ${day}: download it to keep it.`);

  // A recording watched live says so once it ends.
  await page.goto(`${server.baseUrl}/recordings/${live.id}`);
  await page.locator('#timeline .timeline-segment').first().waitFor();
  assert.equal(await page.locator('#review-expires').isVisible(), false, 'no end yet');
  const liveStart = new Date(live.started_at);
  writeFileSync(join(server.recordingsDir, `${live.id}.json`), JSON.stringify({ ...live, status: 'finished' }));
  await page.locator('#review-expires').waitFor({ state: 'visible', timeout: 10_000 });
  const liveDay = new Date(liveStart.getTime() + 60_000 + 30 * 86_400_000).toLocaleDateString('en-US', { day: 'numeric', month: 'short', year: 'numeric' });
  assert.match(await page.locator('#review-expires').textContent(), new RegExp(`deletes this recording on ${liveDay}:`));
});

test("a running recording's review page plays what was recorded after it opened: a turn past the loaded end, and the saved file", { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  // Alice speaks from 1 s to 5 s, Bob from 14 s on (each browser's clock from its join:
  // well after the review page opens, however long joining took).
  const browsers = await Promise.all([
    launchBrowser({ videoFile: cameraFile('Alice'), audioFile: `${micFile('Alice', [[1, 4]], 40)}%noloop` }),
    launchBrowser({ videoFile: cameraFile('Bob'), audioFile: `${micFile('Bob', [[14, 20]], 40)}%noloop` }),
  ]);
  t.after(async () => { await Promise.all(browsers.map((b) => b.close())); await server.stop(); });
  const [alice, bob] = await Promise.all(browsers.map((b) => b.newPage()));
  await Promise.all([alice, bob].map((p, i) => p.goto(`${server.baseUrl}/rooms/live?name=${['Alice', 'Bob'][i]}&autojoin=1`)));
  await Promise.all([alice, bob].map((p) => p.waitForFunction(() => document.querySelectorAll('.tile').length === 2, null, { timeout: 20_000 })));
  await alice.click('#record');
  await alice.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 10_000 });
  const { recording } = await (await fetch(`${server.baseUrl}/api/rooms/live`)).json();
  await sleep(3000);

  const page = await browsers[0].newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.baseUrl}/recordings/${recording.id}`);
  await page.waitForFunction(() => document.querySelector('#player')?.readyState >= 1, null, { timeout: 10_000 });
  const loaded = await page.evaluate(() => document.querySelector('#player').duration);
  const head = await page.locator('.review-head .muted').first().textContent();
  // Bob's turn comes into the timeline; his bar starts past what the player loaded.
  const bobsBar = page.locator('.timeline-segment[data-participant-name="Bob"]').first();
  await bobsBar.waitFor({ timeout: 30_000 });
  const bobFrom = Number(await bobsBar.getAttribute('data-start-ms'));
  assert.ok(bobFrom > loaded * 1000 + 1000, `Bob's turn at ${bobFrom} ms, the player loaded ${loaded} s`);
  assert.notEqual(await page.locator('.review-head .muted').first().textContent(), head, 'the length and size under the title keep up');
  await bobsBar.click();
  await waitSeeked(page, bobFrom);
  await page.evaluate(() => document.querySelector('#player').pause());
  assert.equal(nearestParticipant(await frameColor(page, '#player')), 'Bob', "the frame at Bob's turn shows Bob");

  // Saved: the paused player takes the whole file, its length the recording's.
  await alice.click('#record');
  await alice.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 10_000 });
  const saved = await (await fetch(`${server.baseUrl}/api/recordings/${recording.id}`)).json();
  await page.waitForFunction((ms) => Math.abs(document.querySelector('#player').duration * 1000 - ms) < 1500, saved.duration_ms, { timeout: 10_000 });
  assert.ok(await page.locator('#build-reel').isEnabled(), 'the reel can be built once it is saved');
  assert.deepEqual(errors, []);
});
