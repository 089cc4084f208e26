// The recordings library with many recordings (docs/api.md, "Recordings library"): it
// asks the server for the newest 100 matches and a "Show more" button follows the next
// page's link, so that a library of thousands opens and searches quickly; and while a
// recording runs it asks for that recording again every 2 s, not for the list. The recordings are sidecars
// written here: what is tested is the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, startServer } from './helpers.mjs';

const pad = (n, w) => String(n).padStart(w, '0');

function sidecar(i, { status = 'finished', room = `room${i % 5}` } = {}) {
  // Newest first in the library: recording i started i minutes after midnight.
  const id = `20261201-${pad(Math.floor(i / 60), 2)}${pad(i % 60, 2)}00-lib${pad(i, 3)}`;
  return {
    version: 1, id, room, status, started_at: `2026-12-01T${pad(Math.floor(i / 60), 2)}:${pad(i % 60, 2)}:00.000Z`,
    duration_ms: 60_000, width: 1280, height: 720, fps: 30, quality_steps: [], layout: 'speaker', layout_changes: [], screen_shares: [],
    participants: [{ participant_id: 'ada', name: 'Ada' }],
    timeline: [{ start_ms: 0, end_ms: 60_000, participant_id: 'ada', name: 'Ada' }],
  };
}

/** A server whose library holds `count` recordings (sidecars only), and a browser;
 * both go when test `t` ends. */
async function library(t, count) {
  const server = await startServer();
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const all = Array.from({ length: count }, (_, i) => sidecar(i));
  for (const s of all) writeFileSync(join(server.recordingsDir, `${s.id}.json`), JSON.stringify(s));
  return { server, browser, all, newestFirst: all.map((s) => s.id).reverse() };
}

test('a library of 250 is asked for 100 at a time, and a search is the server\'s, from its newest 100', { timeout: 60_000 }, async (t) => {
  const { server, browser, all, newestFirst } = await library(t, 250);

  const page = await browser.newPage();
  // What the page asks for, and how much comes back.
  const lists = [];
  page.on('response', async (r) => {
    const url = new URL(r.url());
    if (url.pathname === '/api/recordings') lists.push({ query: Object.fromEntries(url.searchParams), rows: (await r.json().catch(() => [])).length });
  });
  await page.goto(`${server.baseUrl}/recordings`);
  const rows = page.locator('#recordings-list .recording-row');
  const more = page.locator('#show-more');
  const status = page.locator('.library-head [role=status]');
  await more.waitFor({ timeout: 10_000 });
  const ids = () => rows.evaluateAll((r) => r.map((x) => x.dataset.recordingId));
  const rowCount = async (n) => { await page.waitForFunction((n) => document.querySelectorAll('#recordings-list .recording-row').length === n, n, { timeout: 5000 }); };
  assert.deepEqual(await ids(), newestFirst.slice(0, 100), 'the newest 100');
  assert.deepEqual(lists, [{ query: { limit: '100' }, rows: 100 }], 'one page asked for, not the library');
  assert.equal(await status.textContent(), '250 of 250');
  assert.equal(await more.textContent(), 'Show 100 more');
  await more.click();
  await rowCount(200);
  assert.deepEqual(await ids(), newestFirst.slice(0, 200));
  assert.equal(await page.evaluate(() => document.activeElement.closest('.recording-row')?.dataset.recordingId), newestFirst[100], 'the keyboard goes on at the first new row');
  assert.equal(lists[1].rows, 100);
  assert.equal(lists[1].query.after?.split('~')[1], newestFirst[99], 'the next page starts after the last row');
  assert.equal(await more.textContent(), 'Show 50 more');
  await more.focus();
  await page.keyboard.press('Enter');
  await rowCount(250);
  assert.deepEqual(await ids(), newestFirst, 'each once, in order');
  assert.equal(await more.isVisible(), false, 'all drawn: no button');
  assert.equal(await page.evaluate(() => document.activeElement.closest('.recording-row')?.dataset.recordingId), newestFirst[200], 'the keyboard goes on at the first new row');

  // room1 is 50 of them: all drawn, no button; the server searched (one request once
  // typing paused, not one a key); a broader search draws its newest 100 again.
  const before = lists.length;
  await page.locator('#search').pressSequentially('room1', { delay: 30 });
  await rowCount(50);
  assert.equal(await more.isVisible(), false);
  await page.waitForFunction(() => document.querySelector('.library-head [role=status]').textContent === '50 of 250', null, { timeout: 5000 });
  const searches = lists.slice(before);
  assert.deepEqual(searches.at(-1), { query: { q: 'room1', limit: '100' }, rows: 50 });
  assert.ok(searches.length <= 2, `asked once typing paused, not at each key: ${JSON.stringify(searches)}`);
  assert.ok((await ids()).every((id) => all.find((s) => s.id === id).room === 'room1'));
  await page.fill('#search', 'ada');
  await page.waitForFunction(() => document.querySelector('.library-head [role=status]').textContent === '250 of 250', null, { timeout: 5000 });
  await rowCount(100);
  assert.equal(await more.textContent(), 'Show 100 more');
  await page.fill('#search', 'nobody');
  await page.locator('#recordings-list .empty').filter({ hasText: 'No recording matches “nobody”' }).waitFor({ timeout: 5000 });
  assert.equal(await more.isVisible(), false);
});

test('while a recording runs the library asks for it again, not for the whole list', { timeout: 60_000 }, async (t) => {
  const server = await startServer();
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const done = sidecar(1);
  const live = sidecar(2, { status: 'recording', room: 'live' });
  for (const s of [done, live]) writeFileSync(join(server.recordingsDir, `${s.id}.json`), JSON.stringify(s));

  const page = await browser.newPage();
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/recordings')) asked.push(new URL(r.url()).pathname); });
  await page.goto(`${server.baseUrl}/recordings`);
  const liveRow = page.locator(`.recording-row[data-recording-id="${live.id}"]`);
  await liveRow.waitFor({ timeout: 10_000 });
  assert.equal(await liveRow.getAttribute('data-status'), 'recording');
  // It ends (the compositor rewrites its sidecar, beside and renamed, as here: a poll
  // never reads half a file): the row follows within a poll or two.
  const sidecarPath = join(server.recordingsDir, `${live.id}.json`);
  writeFileSync(`${sidecarPath}.tmp`, JSON.stringify({ ...live, status: 'finished', duration_ms: 90_000 }));
  renameSync(`${sidecarPath}.tmp`, sidecarPath);
  await page.locator(`.recording-row[data-recording-id="${live.id}"][data-status="finished"]`).waitFor({ timeout: 10_000 });
  const lists = asked.filter((p) => p === '/api/recordings').length;
  const polls = asked.filter((p) => p === `/api/recordings/${live.id}`).length;
  assert.equal(lists, 1, `the list once, at load: ${JSON.stringify(asked)}`);
  assert.ok(polls >= 1, `the running recording asked again: ${JSON.stringify(asked)}`);
  assert.ok(!asked.includes(`/api/recordings/${done.id}`), 'a finished one is not asked again');
  // Ended: no more polls.
  const before = asked.length;
  await page.waitForTimeout(4500);
  assert.equal(asked.length, before, `nothing runs, nothing asked: ${JSON.stringify(asked.slice(before))}`);
});

test('Show more clicked while a search or a reload is on its way adds the right rows, none twice, none skipped', { timeout: 90_000 }, async (t) => {
  const { server, browser, all, newestFirst } = await library(t, 250);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Each list request held as `delay(url)` says, once armed (the first load is not).
  const open = async (delay) => {
    const page = await browser.newPage();
    let armed = false;
    await page.route('**/api/recordings?**', async (route) => {
      const ms = armed ? delay(new URL(route.request().url())) : 0;
      if (ms) await sleep(ms);
      await route.continue();
    });
    await page.goto(`${server.baseUrl}/recordings`);
    await page.locator('#show-more').waitFor({ timeout: 10_000 });
    armed = true;
    return page;
  };
  const settled = (page) => page.waitForFunction(() => document.querySelector('#show-more').getAttribute('aria-busy') !== 'true', null, { timeout: 10_000 });
  const ids = (page) => page.locator('#recordings-list .recording-row').evaluateAll((r) => r.map((x) => x.dataset.recordingId));

  // A search on its way (slow), then Show more on the old rows (slower): the search's
  // rows only, not the old search's next page under them.
  let page = await open((u) => (u.searchParams.has('after') ? 1500 : u.searchParams.has('q') ? 500 : 0));
  await page.fill('#search', 'room1');
  await sleep(250);
  await page.click('#show-more');
  await page.waitForFunction(() => document.querySelector('.library-head [role=status]').textContent === '50 of 250', null, { timeout: 10_000 });
  await settled(page);
  await sleep(1600);
  const rows = await ids(page);
  assert.equal(rows.length, 50, 'room1 is 50');
  assert.ok(rows.every((id) => all.find((s) => s.id === id).room === 'room1'), 'no other room under the search');
  assert.equal(await page.locator('#show-more').isVisible(), false);
  await page.close();

  // The window gets the focus back (a reload, slow) as Show more is clicked, and a
  // recording started meanwhile: the click waits for the reload's rows and adds the page
  // after them, so the row the new one pushed down is not skipped.
  page = await open((u) => (u.searchParams.has('after') ? 100 : 800));
  const fresh = { ...sidecar(300), id: '20261201-060000-new001', started_at: '2026-12-01T06:00:00.000Z' };
  writeFileSync(join(server.recordingsDir, `${fresh.id}.json`), JSON.stringify(fresh));
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
  await page.click('#show-more');
  await page.waitForFunction(() => document.querySelectorAll('#recordings-list .recording-row').length === 200, null, { timeout: 10_000 });
  await settled(page);
  assert.deepEqual(await ids(page), [fresh.id, ...newestFirst.slice(0, 199)]);
  assert.equal(await page.evaluate(() => document.activeElement.closest('.recording-row')?.dataset.recordingId), newestFirst[99], 'the keyboard goes on at the first new row');
  assert.equal(await page.locator('.library-head [role=status]').textContent(), '251 of 251');
  await page.close();
});
