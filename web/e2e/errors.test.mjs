// What people meet when things go wrong, in a real browser: blocked devices, an
// audio-only participant, a taken name, a bad room name, devices that stop mid-meeting,
// and a lost server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cameraFile, micFile } from './fixtures.mjs';
import { frameColor, launchBrowser, nearestParticipant, pollUntil, startServer, tempDir } from './helpers.mjs';

const text = (page, sel) => page.locator(sel).first().textContent({ timeout: 15_000 });

test('blocked devices, audio-only card, taken and invalid names', { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  // A 720p camera, as real ones are: sent in simulcast layers, whose CNAME
  // mediasoup-client leaves empty (with the microphone off, the server refused it).
  const ok = await launchBrowser({ videoFile: cameraFile('Bob', 4, { width: 1280, height: 720 }) });
  const blocked = await launchBrowser({ denyMedia: true });
  t.after(async () => { await ok.close(); await blocked.close(); await server.stop(); });

  // Ada's browser blocks camera and microphone: she still joins, and is told why.
  const ada = await blocked.newPage();
  await ada.goto(`${server.baseUrl}/rooms/errs?name=Ada&autojoin=1`);
  assert.match(await text(ada, '#banner'), /blocked/i);
  await ada.locator('#roster li').first().waitFor();

  // Bob joins with a camera and no microphone; he sees Ada as a name card.
  const bob = await ok.newPage();
  await bob.goto(`${server.baseUrl}/rooms/errs?name=Bob&autojoin=1&mic=0`);
  const adaTile = bob.locator('[data-participant-name="Ada"]').first();
  await adaTile.waitFor({ timeout: 15_000 });
  const onStage = await bob.evaluate(() => document.querySelector('#stage').dataset.participantName);
  const card = onStage === 'Ada' ? '#stage .name-card' : '.tile[data-participant-name="Ada"] .name-card';
  assert.equal((await text(bob, card)).trim(), 'AD');
  assert.equal(await bob.locator(card).isVisible(), true);
  // Ada has no microphone: said where she is shown (on the stage, her tile is hidden).
  const mutedIcon = onStage === 'Ada' ? '#stage .stage-name .muted-icon' : '.tile[data-participant-name="Ada"] .muted-icon';
  assert.equal(await bob.locator(mutedIcon).isVisible(), true, `${mutedIcon} shows`);
  assert.equal(await bob.evaluate(() => window.podium.meeting.state.banner), null, 'Bob joined without an error');
  // Bob's tile in Ada's browser shows him muted (no microphone).
  await ada.waitForFunction(() => {
    const t = document.querySelector('.tile[data-participant-name="Bob"]');
    return t && !t.querySelector('.muted-icon').hidden;
  }, null, { timeout: 15_000 });

  // A taken name (names compare without case) and an invalid one are refused, clearly.
  const third = await ok.newPage();
  await third.goto(`${server.baseUrl}/rooms/errs?name=ada&autojoin=1&camera=0&mic=0`);
  assert.match(await text(third, '.form-error'), /^The name "ada" is taken in this room: .*\.$/, 'a sentence of its own');
  await third.goto(`${server.baseUrl}/rooms/errs?name=${'x'.repeat(41)}&autojoin=1&camera=0&mic=0`);
  assert.match(await text(third, '.form-error'), /1 to 40/);
  // A look-alike of a name in the room (full-width letters), and one that would show reversed.
  await third.goto(`${server.baseUrl}/rooms/errs?name=${encodeURIComponent('ＡＤＡ')}&autojoin=1&camera=0&mic=0`);
  assert.match(await text(third, '.form-error'), /taken/);
  await third.goto(`${server.baseUrl}/rooms/errs?name=${encodeURIComponent('\u202Enimda')}&autojoin=1&camera=0&mic=0`);
  assert.match(await text(third, '.form-error'), /invisible or text-direction/);
  // A name the room spells otherwise (a decomposed accent, a no-break space) is shown
  // as everyone sees it, to its owner too.
  await third.goto(`${server.baseUrl}/rooms/errs?name=${encodeURIComponent('Zoe\u0301\u00A0Q')}&autojoin=1&camera=0&mic=0`);
  await third.locator('.tile[data-participant-name="Zo\u00E9 Q"]').waitFor({ timeout: 15_000 });
  assert.match(await text(third, '#roster'), /Zo\u00E9 Q \(you\)/);
  await bob.locator('.tile[data-participant-name="Zo\u00E9 Q"]').waitFor({ timeout: 15_000 });
  await third.goto(`${server.baseUrl}/rooms/bad%20room`);
  assert.match(await text(third, '.form-error'), /not a valid room name/);
});

test('a camera and a microphone that stop mid-meeting: off for everyone, not frozen, said so, and their buttons open them again, after a reconnect too', { timeout: 120_000 }, async (t) => {
  const recordingsDir = tempDir();
  let server = await startServer([], { recordingsDir });
  const browsers = await Promise.all([
    launchBrowser({ videoFile: cameraFile('Alice'), audioFile: micFile('Alice', [[0, 30]], 30) }),
    launchBrowser({ videoFile: cameraFile('Bob') }),
  ]);
  t.after(async () => { await Promise.all(browsers.map((b) => b.close())); await server.stop(); });
  const [alice, bob] = await Promise.all(browsers.map((b) => b.newPage()));
  await Promise.all([alice, bob].map((p, i) => p.goto(`${server.baseUrl}/rooms/devices?name=${['Alice', 'Bob'][i]}&autojoin=1${i ? '&mic=0' : ''}`)));
  await Promise.all([alice, bob].map((p) => p.waitForFunction(() => document.querySelectorAll('.tile').length === 2, null, { timeout: 20_000 })));
  // How Bob sees Alice, wherever she is (the stage or her tile): her camera, or her card.
  const aliceAsBobSeesHer = () => bob.evaluate(() => {
    const onStage = document.querySelector('#stage').dataset.participantName === 'Alice';
    const video = document.querySelector(onStage ? '#stage video' : '.tile[data-participant-name="Alice"] video');
    const card = document.querySelector(onStage ? '#stage .name-card' : '.tile[data-participant-name="Alice"] .name-card');
    return { where: onStage ? 'stage' : 'tile', video: !!video?.srcObject && video.videoWidth > 0, card: !!card && !card.hidden };
  });
  assert.ok((await pollUntil(aliceAsBobSeesHer, (s) => s.video, { timeout: 15_000 })).video, 'Bob sees Alice\'s camera at first');

  // Her browser takes both devices away (as withdrawing their permission does; an
  // unplugged camera ends its track the same way).
  await alice.context().grantPermissions([]);
  await alice.waitForFunction(() => /Your camera and microphone stopped/.test(document.querySelector('#banner')?.textContent ?? ''), null, { timeout: 10_000 });
  assert.match(await alice.locator('#banner').textContent(), /the others no longer see or hear you\. Press their buttons to turn them on again/);
  await alice.waitForFunction(() => ['#toggle-camera', '#toggle-mic'].every((s) => document.querySelector(s).classList.contains('off')), null, { timeout: 5000 });
  // Bob sees her card and her microphone off, not a frozen picture.
  const seen = await pollUntil(aliceAsBobSeesHer, (s) => !s.video, { timeout: 15_000 });
  assert.deepEqual([seen.video, seen.card], [false, true], `Bob sees Alice as ${JSON.stringify(seen)}`);
  // The server hears of it (the page says so first, then asks it).
  const herState = async () => {
    const her = (await (await fetch(`${server.baseUrl}/api/rooms/devices`)).json()).participants.find((p) => p.name === 'Alice');
    return [her.audio, her.video];
  };
  const off = (state) => state.every((on) => !on);
  const on = (state) => state.every(Boolean);
  assert.deepEqual(await pollUntil(herState, off, { timeout: 5000 }), [false, false]);

  // The browser may ask again (its fake prompt says yes): each button opens its device anew.
  await alice.context().grantPermissions(['camera', 'microphone']);
  await alice.click('#toggle-camera');
  await alice.waitForFunction(() => !document.querySelector('#toggle-camera').classList.contains('off'), null, { timeout: 10_000 });
  assert.match(await alice.locator('#banner').textContent(), /Your microphone stopped/, 'the banner now names only what is still off');
  await alice.click('#toggle-mic');
  await alice.waitForFunction(() => !document.querySelector('#toggle-mic').classList.contains('off'), null, { timeout: 10_000 });
  await alice.waitForFunction(() => !/stopped/.test(document.querySelector('#banner')?.textContent ?? '') || document.querySelector('#banner').hidden, null, { timeout: 5000 });
  const back = await pollUntil(aliceAsBobSeesHer, (s) => s.video, { timeout: 15_000 });
  assert.ok(back.video, `Bob sees Alice's camera again: ${JSON.stringify(back)}`);
  assert.equal(nearestParticipant(await frameColor(bob, back.where === 'stage' ? '#stage video' : '.tile[data-participant-name="Alice"] video')), 'Alice');
  assert.deepEqual(await pollUntil(herState, on, { timeout: 5000 }), [true, true]);

  // They stop while the server is away (a restart): her page rejoins without them (an
  // ended track cannot be sent: it kept failing to rejoin), says so, and they come back.
  const port = new URL(server.baseUrl).port;
  await server.stop('SIGKILL');
  await alice.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('Connection lost'), null, { timeout: 10_000 });
  // (Chromium here ends a page's tracks on a withdrawn permission once only: these are
  // ended from the page, as a driver that gives up ends them.)
  await alice.evaluate(() => ['audioTrack', 'videoTrack'].forEach((k) => window.podium.meeting.local[k].stop()));
  server = await startServer(['--listen', `127.0.0.1:${port}`], { recordingsDir });
  await alice.waitForFunction(() => /Your camera and microphone stopped/.test(document.querySelector('#banner')?.textContent ?? ''), null, { timeout: 30_000 });
  assert.deepEqual(await pollUntil(herState, off, { timeout: 5000 }), [false, false], 'rejoined, her devices off');
  await alice.context().grantPermissions(['camera', 'microphone']);
  await alice.click('#toggle-camera');
  await alice.click('#toggle-mic');
  assert.deepEqual(await pollUntil(herState, on), [true, true], 'both sent again');
  await alice.waitForFunction(() => document.querySelector('#banner').hidden || !/stopped/.test(document.querySelector('#banner').textContent), null, { timeout: 5000 });
});

test('a lost server: the room says so, retries, rejoins as muted as it was, and tells of the recording it ended', { timeout: 90_000 }, async (t) => {
  const recordingsDir = tempDir();
  let server = await startServer([], { recordingsDir });
  const port = new URL(server.baseUrl).port;
  const browser = await launchBrowser({ videoFile: cameraFile('Carol') });
  t.after(async () => { await browser.close(); await server.stop(); });
  const page = await browser.newPage();
  await page.goto(`${server.baseUrl}/rooms/comeback?name=Carol&autojoin=1`);
  await page.locator('#roster li').first().waitFor({ timeout: 15_000 });
  // She records, then turns her microphone and camera off.
  await page.click('#record');
  const badge = page.locator('#recording-indicator');
  await badge.waitFor({ state: 'visible', timeout: 15_000 });
  const recordingId = await badge.getAttribute('data-recording-id');
  await page.click('#toggle-mic');
  await page.click('#toggle-camera');
  await page.waitForFunction(() => document.querySelector('#toggle-camera').textContent.includes('Camera off'));
  const muted = async () => (await (await fetch(`${server.baseUrl}/api/rooms/comeback`)).json()).participants.map((p) => [p.name, p.audio, p.video]);
  assert.deepEqual(await pollUntil(muted, (m) => JSON.stringify(m) === JSON.stringify([['Carol', false, false]]), { timeout: 5000 }), [['Carol', false, false]]);

  // A restart: the server stops (and saves the recording).
  await server.stop();
  // The page notices the closed socket by itself; wait for it to say so.
  await page.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('Connection lost'), null, { timeout: 10_000 });
  assert.match(await text(page, '#banner'), /Reconnecting in \d+ s/);
  assert.equal(await page.locator('#banner-close').isVisible(), false, 'the reconnecting banner cannot be dismissed');
  server = await startServer(['--listen', `127.0.0.1:${port}`], { recordingsDir });
  await page.waitForFunction(() => document.querySelector('#banner').textContent.includes('Reconnected'), null, { timeout: 30_000 });
  // Nobody sees her live for a moment: her streams come back paused, and her page agrees.
  assert.deepEqual(await muted(), [['Carol', false, false]]);
  assert.equal((await text(page, '#toggle-mic')).trim(), 'Mic off');
  assert.equal((await text(page, '#toggle-camera')).trim(), 'Camera off');
  // The meeting goes on unrecorded: she is told, with the saved file.
  assert.match(await text(page, '#banner'), /The recording stopped when the server restarted/);
  assert.equal(await page.locator('#banner a').getAttribute('href'), `/recordings/${recordingId}`);
  assert.equal(await badge.isVisible(), false);
  const saved = await (await fetch(`${server.baseUrl}/api/recordings/${recordingId}`)).json();
  assert.equal(saved.status, 'finished', JSON.stringify(saved));
  // The message stays until she dismisses it.
  await page.click('#banner-close');
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 5_000 });
  // And she can unmute as before.
  await page.click('#toggle-mic');
  assert.deepEqual(await pollUntil(muted, (m) => m[0][1] === true, { timeout: 5000 }), [['Carol', true, false]]);
});

test('a full room says so, and what to do', { timeout: 60_000 }, async (t) => {
  const server = await startServer(['--max-participants', '1']);
  const browser = await launchBrowser({ videoFile: cameraFile('Alice') });
  t.after(async () => { await browser.close(); await server.stop(); });
  const first = await browser.newPage();
  await first.goto(`${server.baseUrl}/rooms/tiny?name=Alice&autojoin=1`);
  await first.locator('#roster li').first().waitFor({ timeout: 15_000 });
  const second = await browser.newPage();
  await second.goto(`${server.baseUrl}/rooms/tiny?name=Bob&autojoin=1&camera=0&mic=0`);
  const message = await text(second, '.form-error');
  assert.match(message, /^The room is full \(1 participants?\): try again later or use another room\.$/);
  // The pre-join card stays, with the name kept, so trying again is one click.
  assert.equal(await second.locator('#name').inputValue(), 'Bob');
});

test('recordings pages say what is wrong: no such recording, a corrupt sidecar, a missing video', { timeout: 60_000 }, async (t) => {
  const server = await startServer();
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const dir = server.recordingsDir;
  writeFileSync(join(dir, '20261202-090000-broken.json'), '{ "version": 1, "id": ');
  const sidecar = {
    version: 1, id: '20261202-100000-novide', room: 'lost', status: 'finished', started_at: '2026-12-02T10:00:00.000Z',
    duration_ms: 5000, participants: [{ participant_id: 'a', name: 'Ada' }],
    timeline: [{ start_ms: 0, end_ms: 5000, participant_id: 'a', name: 'Ada' }], width: 1280, height: 720, fps: 30,
  };
  writeFileSync(join(dir, `${sidecar.id}.json`), JSON.stringify(sidecar));
  const page = await browser.newPage();

  await page.goto(`${server.baseUrl}/recordings/20261202-090000-zzzzzz`);
  assert.match(await text(page, '#review-error'), /no such recording/i);
  await page.goto(`${server.baseUrl}/recordings/not-an-id`);
  assert.match(await text(page, '#review-error'), /invalid recording id/);
  await page.goto(`${server.baseUrl}/recordings/20261202-090000-broken`);
  const broken = await text(page, '#review-error');
  assert.match(broken, /20261202-090000-broken\.json/);
  assert.match(broken, /not a valid recording sidecar/);
  // The video is gone: the page says so, and the reel cannot be built, with why.
  await page.goto(`${server.baseUrl}/recordings/${sidecar.id}`);
  await page.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('cannot be played'), null, { timeout: 10_000 });
  await page.click('#build-reel');
  assert.match(await text(page, '#reel-error'), /no video file/);
  // The library lists what it can read, and is not broken by the rest.
  await page.goto(`${server.baseUrl}/recordings`);
  await page.locator(`.recording-row[data-recording-id="${sidecar.id}"]`).waitFor();
  assert.equal(await page.locator('.recording-row').count(), 1);
});
