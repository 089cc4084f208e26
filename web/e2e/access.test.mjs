// Access control in a real browser, against a server with a secret (secured mode):
// a host's `podium token` link joins and records (and its token leaves the address
// bar); a guest gets no Record button, still sees the REC badge, and the server
// refuses them anyway; a refused start (503 at the recording capacity) says why in the
// banner; an expired or tampered link says to ask the host for a new one; a host
// shares a recording from its page and revokes it; the library shows Delete to an
// admin only; a stranger's browser plays a recording from its share link alone, and
// once the link is revoked it says so. No page may break the CSP (no inline styles).
// Screenshots go to the folder PODIUM_E2E_SCREENSHOTS names, if it is set.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cameraFile, micFile } from './fixtures.mjs';
import { launchBrowser, mintToken, startServer } from './helpers.mjs';

const SECRET = randomBytes(32).toString('base64url'); // 43 characters
const ROOM = 'board';
const SHOTS = process.env.PODIUM_E2E_SCREENSHOTS;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server;
const cleanup = [];
// What the host's test leaves for the others: their browser page (in the room) and
// token, and the recording they made.
let host = null;
let recordingId = null;

before(async () => {
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  // One recording at a time: a second one is refused with a 503.
  server = await startServer(['--recording-size', '640x360', '--recording-fps', '15', '--max-recordings', '1'], { env: { PODIUM_SECRET: SECRET } });
});
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {});
  await server?.stop();
});

/** A shot of the page, to look at, when PODIUM_E2E_SCREENSHOTS names a folder. */
async function shot(page, name, fullPage = false) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

/** Page errors and CSP violations (the server's CSP has no 'unsafe-inline'), to assert none. */
function watchProblems(page, label) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`${label}: ${m.text()}`);
  });
  return problems;
}

/** A fetch from inside the page (its cookies, its origin): {status, body}. */
function pageFetch(page, url, method = 'GET') {
  return page.evaluate(async ([u, m]) => {
    const r = await fetch(u, { method: m });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, [url, method]);
}

/**
 * Records `ms` from the keyboard, as someone without a mouse would: Enter on Record,
 * the layout changed with the arrow keys while it runs, Space to stop. The focus
 * stays on Record throughout, and a screen reader is told once that it records.
 * Returns the recording's id.
 */
async function record(page, ms) {
  await page.focus('#record');
  await page.keyboard.press('Enter');
  const badge = page.locator('#recording-indicator');
  await badge.waitFor({ state: 'visible', timeout: 15_000 });
  const id = await badge.getAttribute('data-recording-id');
  assert.ok(id, 'the REC badge names its recording');
  const focused = () => page.evaluate(() => document.activeElement?.id);
  assert.equal(await focused(), 'record', 'Record keeps the focus while it starts');
  assert.equal(await badge.getAttribute('role'), null, 'the ticking badge is no live region');
  await page.waitForFunction(() => [...document.querySelectorAll('[role=status]')].some((n) => n.textContent === 'This meeting is being recorded.'), null, { timeout: 5000 });
  // Two steps down the closed list (speaker, speaker-strip, grid): one change sent.
  await page.focus('#recording-layout');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => window.podium.meeting.state.recording?.layout === 'grid', null, { timeout: 5000 });
  await sleep(ms);
  await page.focus('#record');
  await page.keyboard.press('Space');
  await badge.waitFor({ state: 'hidden', timeout: 15_000 });
  await page.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('saved'), null, { timeout: 10_000 });
  return id;
}

test('a host joins through a podium token link, the token leaves the address bar, and they record', { timeout: 120_000 }, async () => {
  const link = await mintToken({ room: ROOM, name: 'Alice', role: 'host', ttl: '1h', url: server.baseUrl, secret: SECRET });
  assert.match(link.url, new RegExp(`^${server.baseUrl}/rooms/${ROOM}\\?token=`));
  // Alice speaks 5 s of every 6 (the file loops), so the recording has a speaker turn.
  const browser = await launchBrowser({ videoFile: cameraFile('Alice'), audioFile: micFile('Alice', [[0.5, 5]], 6) });
  cleanup.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  const problems = watchProblems(page, 'host');

  await page.goto(link.url);
  // The pre-join card, with the name from the token, not editable; the token is gone
  // from the address bar (the path and the page stay).
  const name = page.locator('#name');
  await name.waitFor({ timeout: 10_000 });
  assert.equal(await name.inputValue(), 'Alice');
  assert.equal(await name.evaluate((n) => n.readOnly), true, 'the name from the token is read-only');
  const url = new URL(page.url());
  assert.equal(url.pathname, `/rooms/${ROOM}`);
  assert.equal(url.searchParams.has('token'), false, `the token is still in the address bar: ${page.url()}`);
  assert.doesNotMatch(page.url(), /eyJ/);
  // The session is an HttpOnly cookie: the page's script cannot read it.
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /podium_session/);
  const session = await pageFetch(page, '/api/session');
  assert.equal(session.status, 200);
  assert.deepEqual([session.body.mode, session.body.kind, session.body.role, session.body.name, session.body.room], ['secured', 'access', 'host', 'Alice', ROOM]);

  await shot(page, 'prejoin-token');
  await page.click('#join');
  const recordBtn = page.locator('#record');
  await page.waitForFunction(() => {
    const b = document.querySelector('#record');
    return b && !b.hidden && !b.disabled;
  }, null, { timeout: 20_000 });
  assert.equal(await recordBtn.getAttribute('data-recording'), 'false');
  assert.equal(await page.evaluate(() => window.podium.meeting.role), 'host');
  await page.locator('#stage[data-participant-name="Alice"]').waitFor({ timeout: 10_000 });

  recordingId = await record(page, 5000);
  const rec = await pageFetch(page, `/api/recordings/${recordingId}`);
  assert.equal(rec.status, 200, JSON.stringify(rec.body));
  assert.equal(rec.body.status, 'finished');
  assert.ok(rec.body.duration_ms >= 3000, `the recording is ${rec.body.duration_ms} ms`);
  assert.ok(rec.body.timeline.length >= 1, 'Alice spoke: the timeline has a turn');
  assert.deepEqual(rec.body.layout_changes.map((c) => c.layout), ['grid'], 'the layout the arrow keys settled on, once');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'record', 'Record keeps the focus while it saves');
  assert.deepEqual(problems, []);
  host = { browser, page, token: link.token, problems };
});

test('a guest has no working Record button, sees the REC badge, and the server refuses them too', { timeout: 120_000 }, async (t) => {
  const link = await mintToken({ room: ROOM, name: 'Bob', role: 'guest', url: server.baseUrl, secret: SECRET });
  const browser = await launchBrowser({ videoFile: cameraFile('Bob') });
  cleanup.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const problems = watchProblems(page, 'guest');

  // autojoin without ?name=: the name is the token's.
  await page.goto(`${link.url}&autojoin=1&mic=0`);
  await page.waitForFunction(() => window.podium.meeting?.state.status === 'joined', null, { timeout: 20_000 });
  assert.equal(await page.evaluate(() => window.podium.meeting.role), 'guest');
  assert.doesNotMatch(page.url(), /token=/);
  assert.match(page.url(), /autojoin=1/, 'the other parameters stay');
  await page.locator('#roster li', { hasText: 'Bob (you)' }).waitFor({ timeout: 10_000 });

  const usable = await page.evaluate(() => {
    const b = document.querySelector('#record');
    return !!b && !b.hidden && !b.disabled && b.offsetParent !== null;
  });
  assert.equal(usable, false, 'a guest has no usable Record button');
  assert.equal(await page.locator('#record').getAttribute('title'), 'Only the host can record this meeting');

  await shot(page, 'guest-room');

  // The server refuses the guest whatever the page shows.
  const start = await pageFetch(page, `/api/rooms/${ROOM}/recording`, 'POST');
  assert.equal(start.status, 403, JSON.stringify(start));
  assert.ok(start.body?.error, 'the 403 says why');
  assert.equal((await pageFetch(page, '/api/recordings')).status, 403, 'a guest has no library');

  // The REC badge shows to everyone: the host records while the guest is in.
  if (!host) return t.skip('the host test did not leave a host in the room');
  await host.page.locator('.tile[data-participant-name="Bob"], #stage[data-participant-name="Bob"]').first().waitFor({ timeout: 15_000 });
  await host.page.click('#record');
  await page.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 15_000 });
  assert.equal((await pageFetch(page, `/api/rooms/${ROOM}/recording`, 'DELETE')).status, 403, 'a guest cannot stop it either');
  await host.page.click('#record');
  await page.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 15_000 });
  // Both are told it was saved; only the host is offered to watch it, beside the meeting.
  await page.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('saved'), null, { timeout: 10_000 });
  assert.equal(await page.locator('#banner a').count(), 0, 'a guest cannot watch recordings: no link');
  await host.page.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('saved'), null, { timeout: 10_000 });
  assert.equal(await host.page.locator('#banner a').getAttribute('target'), '_blank', 'the review opens beside the meeting');

  // A guest removes nobody; the host removes the guest from the roster, after asking.
  assert.equal(await page.locator('.remove-participant').count(), 0, 'a guest has no Remove buttons');
  const asked = new Promise((resolve) => host.page.once('dialog', (d) => { resolve(d.message()); d.accept(); }));
  // From the keyboard: the focus stays in the panel when Bob's row (and button) goes.
  await host.page.focus('#roster li[data-participant-name="Bob"] .remove-participant');
  await host.page.keyboard.press('Enter');
  assert.match(await asked, /Remove Bob from the meeting\?/);
  await page.locator('#removed').waitFor({ timeout: 10_000 });
  assert.match(await page.locator('#removed').innerText(), /A host removed you from the meeting/);
  await host.page.locator('#roster li[data-participant-name="Bob"]').waitFor({ state: 'detached', timeout: 10_000 });
  assert.equal(await host.page.evaluate(() => document.activeElement?.className), 'people-close', 'the focus went to the panel, not the page');
  const room = await pageFetch(host.page, `/api/rooms/${ROOM}`);
  assert.deepEqual(room.body.participants.map((p) => p.name), ['Alice'], JSON.stringify(room.body));
  await shot(page, 'guest-removed');

  // The library page says plainly that a guest's link does not open it.
  await page.goto(`${server.baseUrl}/recordings`);
  await page.locator('#access-denied').waitFor({ timeout: 10_000 });
  assert.match(await page.locator('#access-denied').innerText(), /Only a host/);
  await shot(page, 'guest-library');
  assert.deepEqual(problems, []);
});

test('a host refused by the server (at its recording capacity) is told why in the banner', { timeout: 60_000 }, async (t) => {
  if (!host) return t.skip('no host in the room');
  const link = await mintToken({ room: 'annex', name: 'Dave', role: 'host', url: server.baseUrl, secret: SECRET });
  const browser = await launchBrowser({});
  t.after(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  const problems = watchProblems(page, 'second host');
  await page.goto(`${link.url}&autojoin=1&camera=0&mic=0`);
  await page.waitForFunction(() => window.podium.meeting?.state.status === 'joined', null, { timeout: 20_000 });
  // The room "board" records: the server's one recording.
  await host.page.click('#record');
  await host.page.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 15_000 });
  try {
    await page.click('#record');
    await page.waitForFunction(() => /capacity/.test(document.querySelector('#banner')?.textContent ?? ''), null, { timeout: 15_000 });
    assert.match(await page.locator('#banner').innerText(), /Could not start the recording: .*capacity/);
    assert.equal(await page.locator('#recording-indicator').isVisible(), false);
  } finally {
    await host.page.click('#record');
    await host.page.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 15_000 });
  }
  assert.deepEqual(problems, []);
});

test('an expired or tampered link shows #auth-error: ask the host for a new link', { timeout: 60_000 }, async (t) => {
  const expired = await mintToken({ room: ROOM, name: 'Carol', role: 'host', ttl: '1s', url: server.baseUrl, secret: SECRET });
  const browser = await launchBrowser({});
  t.after(() => browser.close());
  await sleep(2000);
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  const problems = watchProblems(page, 'expired');
  await page.goto(expired.url);
  const card = page.locator('#auth-error');
  await card.waitFor({ timeout: 10_000 });
  const text = await card.innerText();
  assert.match(text, /expired or is not valid/);
  assert.match(text, /Ask the host for a new link/);
  assert.equal(await page.locator('#name, #stage').count(), 0, 'no room behind it');
  await shot(page, 'expired');

  // A token with a changed signature, and no token at all.
  const good = await mintToken({ room: ROOM, name: 'Carol', url: server.baseUrl, secret: SECRET });
  const last = good.token.at(-2) === 'A' ? 'B' : 'A';
  await page.goto(`${server.baseUrl}/rooms/${ROOM}?token=${good.token.slice(0, -2)}${last}${good.token.at(-1)}`);
  await card.waitFor({ timeout: 10_000 });
  assert.match(await card.innerText(), /new link/);
  await page.goto(`${server.baseUrl}/rooms/${ROOM}`);
  await card.waitFor({ timeout: 10_000 });
  await page.goto(`${server.baseUrl}/recordings`);
  await card.waitFor({ timeout: 10_000 });
  // The start page offers no form the server would refuse: joining needs a link.
  await page.goto(`${server.baseUrl}/`);
  await page.locator('#needs-link').waitFor({ timeout: 10_000 });
  assert.match(await page.locator('#needs-link').innerText(), /Ask the host of your meeting for one/);
  assert.equal(await page.locator('#name, #room').count(), 0);
  // With a host's link, the start page's name and room are the link's.
  const hostLink = await mintToken({ room: ROOM, name: 'Dana', role: 'host', url: server.baseUrl, secret: SECRET });
  await page.goto(`${server.baseUrl}/?token=${hostLink.token}`);
  await page.locator('#room').waitFor({ timeout: 10_000 });
  assert.deepEqual(await page.evaluate(() => ['#name', '#room'].map((s) => [document.querySelector(s).value, document.querySelector(s).readOnly])), [['Dana', true], [ROOM, true]]);
  assert.deepEqual(problems, []);
});

test('a link that runs out during the meeting is said before and when it does; the meeting goes on', { timeout: 60_000 }, async (t) => {
  const link = await mintToken({ room: 'expiring', name: 'Erin', role: 'guest', ttl: '8s', url: server.baseUrl, secret: SECRET });
  const browser = await launchBrowser({});
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = watchProblems(page, 'expiring');
  await page.goto(`${link.url}&autojoin=1&camera=0&mic=0`);
  await page.waitForFunction(() => window.podium.meeting?.state.status === 'joined', null, { timeout: 20_000 });
  // Under five minutes left: said at once, with whom to ask.
  await page.waitForFunction(() => /Your link expires at/.test(document.querySelector('#banner')?.textContent ?? ''), null, { timeout: 5_000 });
  assert.match(await page.locator('#banner').innerText(), /cannot rejoin if your connection drops: ask the host for a new link/);
  await page.waitForFunction(() => /Your link has expired\. You are still in the meeting/.test(document.querySelector('#banner')?.textContent ?? ''), null, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.podium.meeting.state.status), 'joined', 'still in the meeting');
  assert.deepEqual(problems, []);
});

test('a host shares the recording from its page, and revokes the link', { timeout: 60_000 }, async (t) => {
  if (!host || !recordingId) return t.skip('no recording was made');
  const page = await host.page.context().newPage();
  await page.setViewportSize({ width: 1280, height: 860 });
  const problems = watchProblems(page, 'host review');
  await page.goto(`${server.baseUrl}/recordings/${recordingId}`);
  await page.locator('#share').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('a.back', { hasText: 'Recordings' }).count(), 1, 'a host has the library link');
  await page.click('#share');
  await page.waitForFunction(() => document.querySelector('#share-url')?.value.includes('/s/'), null, { timeout: 10_000 });
  const url = await page.locator('#share-url').inputValue();
  assert.ok(url.startsWith(`${server.baseUrl}/s/`), url);
  assert.equal(await page.locator('#share-url').evaluate((i) => i.readOnly), true);
  const items = page.locator('#shares li[data-share-id]');
  await items.first().waitFor({ timeout: 5000 });
  assert.equal(await items.count(), 1);
  assert.match(await items.first().innerText(), /Expires/);
  const rec = await pageFetch(page, `/api/recordings/${recordingId}`);
  assert.deepEqual(rec.body.shares.map((s) => s.id), [await items.first().getAttribute('data-share-id')]);
  // Seven days.
  const days = (Date.parse(rec.body.shares[0].expires_at) - Date.now()) / 86_400_000;
  assert.ok(days > 6.9 && days <= 7, `the link lasts ${days.toFixed(2)} days`);
  await shot(page, 'review-share', true);

  await items.first().locator('.revoke-share').click();
  await items.first().waitFor({ state: 'detached', timeout: 5000 });
  assert.equal(await page.locator('#share-url').isVisible(), false, 'the revoked link is not offered any more');
  const gone = await fetch(`${server.baseUrl}/api/session`, { method: 'POST', headers: { Authorization: `Bearer ${url.split('/s/')[1]}` } });
  assert.equal(gone.status, 410, 'a revoked share link is gone');
  assert.deepEqual(problems, []);
  await page.close();
});

test("the library: a host sees their room's recordings without Delete; an admin's link sees all, with Delete", { timeout: 60_000 }, async (t) => {
  if (!host || !recordingId) return t.skip('no recording was made');
  const page = await host.page.context().newPage();
  const problems = watchProblems(page, 'host library');
  await page.goto(`${server.baseUrl}/recordings`);
  const row = page.locator(`.recording-row[data-recording-id="${recordingId}"]`);
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('.recording-row .delete').count(), 0, 'only an admin deletes');
  await page.close();

  const admin = await mintToken({ role: 'admin', url: server.baseUrl, secret: SECRET });
  assert.match(admin.url, /\/recordings\?token=/);
  const browser = await launchBrowser({});
  t.after(() => browser.close());
  const adminPage = await (await browser.newContext()).newPage();
  problems.push(...watchProblems(adminPage, 'admin library'));
  await adminPage.goto(admin.url);
  const adminRow = adminPage.locator(`.recording-row[data-recording-id="${recordingId}"]`);
  await adminRow.waitFor({ timeout: 10_000 });
  assert.equal(await adminRow.locator('.delete').count(), 1);
  assert.equal(new URL(adminPage.url()).search, '', 'the token left the address bar');
  assert.deepEqual(problems, []);
});

test('a share link plays the recording in a browser with no login; revoked, it says so', { timeout: 90_000 }, async (t) => {
  if (!host || !recordingId) return t.skip('no recording was made');
  const auth = { Authorization: `Bearer ${host.token}` };
  const made = await fetch(`${server.baseUrl}/api/recordings/${recordingId}/share`, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ expires_in_s: 3600 }),
  });
  assert.equal(made.status, 201);
  const share = await made.json();
  assert.match(share.url, new RegExp(`^${server.baseUrl}/s/`));

  // A stranger: a browser context with no cookies, only the link.
  const browser = await launchBrowser({});
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const problems = watchProblems(page, 'viewer');
  await page.goto(share.url);
  await page.waitForURL(`**/recordings/${recordingId}`, { timeout: 10_000 });
  await page.locator('#player').waitFor({ timeout: 10_000 });
  await page.evaluate(() => { const v = document.querySelector('#player'); v.muted = true; return v.play(); });
  await page.waitForFunction(() => {
    const v = document.querySelector('#player');
    return v.readyState >= 2 && v.duration > 0 && v.currentTime > 0.5;
  }, null, { timeout: 15_000 });
  assert.ok(await page.locator('#timeline .timeline-segment').count() >= 1, 'the speaker timeline');
  const cues = await page.evaluate(async () => {
    const track = document.querySelector('#player').textTracks[0];
    track.mode = 'hidden';
    for (let i = 0; i < 50 && !(track.cues?.length); i++) await new Promise((r) => setTimeout(r, 100));
    return track.cues?.length ?? 0;
  });
  assert.ok(cues >= 1, 'the speaker track (VTT) loads');
  assert.equal(await page.locator('#build-reel, #reel-player').count(), 1, 'the highlight reel is offered');
  // Share mode: no sharing, no deleting, no library.
  assert.equal(await page.locator('#share, #share-panel, .delete, a.back').count(), 0);
  assert.equal(await page.locator('a[href="/recordings"]').count(), 0, 'no link to the library');
  assert.doesNotMatch(page.url(), /\/s\//);
  // The share opens that recording only; the library says so, and leads back.
  assert.equal((await pageFetch(page, '/api/recordings')).status, 401);
  await shot(page, 'share-view', true);
  await page.goto(`${server.baseUrl}/recordings`);
  const denied = page.locator('#access-denied');
  await denied.waitFor({ timeout: 10_000 });
  assert.match(await denied.innerText(), /Your share link opens its recording only/);
  await page.click('#access-denied a');
  await page.locator('#player').waitFor({ timeout: 10_000 });

  const revoked = await fetch(`${server.baseUrl}/api/recordings/${recordingId}/share/${share.id}`, { method: 'DELETE', headers: auth });
  assert.equal(revoked.status, 204);
  // The link, and the recording's page it led to, now say so.
  await page.goto(share.url);
  const card = page.locator('#share-expired');
  await card.waitFor({ timeout: 10_000 });
  assert.match(await card.innerText(), /expired or was revoked/);
  assert.match(await card.innerText(), /Ask whoever shared it for a new one/);
  await shot(page, 'share-expired');
  await page.goto(`${server.baseUrl}/recordings/${recordingId}`);
  await card.waitFor({ timeout: 10_000 });
  assert.deepEqual(problems, []);
});
