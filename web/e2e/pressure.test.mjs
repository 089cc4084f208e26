// A recording made on an overloaded server: its review page says the recorder lowered
// its quality, for how long and how far (docs/api.md, `quality_steps`, `#quality-note`).
// The recorder's own steps are tested against a real compositor in
// server/tests/compose.rs; here, what a reviewer reads of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, startServer } from './helpers.mjs';

const text = (page, selector) => page.locator(selector).textContent({ timeout: 10_000 });

test('a recording that spent time degraded says so on its review page; one that did not, does not', { timeout: 60_000 }, async (t) => {
  const server = await startServer();
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const base = {
    version: 1, room: 'busy', status: 'finished', started_at: '2026-12-03T10:00:00.000Z',
    duration_ms: 60_000, participants: [{ participant_id: 'a', name: 'Ada' }],
    timeline: [{ start_ms: 0, end_ms: 60_000, participant_id: 'a', name: 'Ada' }], width: 1280, height: 720, fps: 30,
  };
  // Down at 0:12 (the preset), further at 0:15 (half the rate), back up at 0:30 and
  // 0:40: degraded for 28 s, at its lowest 15 fps.
  const degraded = {
    ...base, id: '20261203-100000-busy01',
    quality_steps: [
      { at_ms: 12_000, preset: 'ultrafast', fps: 30, thumbnail_fps: null, degraded: true },
      { at_ms: 15_000, preset: 'ultrafast', fps: 15, thumbnail_fps: null, degraded: true },
      { at_ms: 30_000, preset: 'ultrafast', fps: 30, thumbnail_fps: null, degraded: true },
      { at_ms: 40_000, preset: 'superfast', fps: 30, thumbnail_fps: null, degraded: false },
    ],
  };
  // Fell more than a second behind at 0:05 (caught up at 5 fps by 0:06), stepped down
  // at 0:06.3 and again at 0:06.6 after a second catch-up (inside the first step's
  // stretch), back up at 0:20 and 0:30: 0:05–0:06 and 0:06.3–0:30; the ladder's lowest
  // is 15 fps, not the catch-ups' 5.
  const caughtUp = {
    ...base, id: '20261203-100000-catch1',
    quality_steps: [
      { at_ms: 5_000, preset: 'superfast', fps: 5, thumbnail_fps: null, degraded: true, catch_up: true },
      { at_ms: 6_000, preset: 'superfast', fps: 30, thumbnail_fps: null, degraded: false, catch_up: false },
      { at_ms: 6_300, preset: 'ultrafast', fps: 30, thumbnail_fps: null, degraded: true, catch_up: false },
      { at_ms: 6_300, preset: 'ultrafast', fps: 5, thumbnail_fps: null, degraded: true, catch_up: true },
      { at_ms: 6_500, preset: 'ultrafast', fps: 30, thumbnail_fps: null, degraded: true, catch_up: false },
      { at_ms: 6_600, preset: 'ultrafast', fps: 15, thumbnail_fps: null, degraded: true, catch_up: false },
      { at_ms: 20_000, preset: 'ultrafast', fps: 30, thumbnail_fps: null, degraded: true, catch_up: false },
      { at_ms: 30_000, preset: 'superfast', fps: 30, thumbnail_fps: null, degraded: false, catch_up: false },
    ],
  };
  const calm = { ...base, id: '20261203-100000-calm01', quality_steps: [] };
  for (const s of [degraded, caughtUp, calm]) writeFileSync(join(server.recordingsDir, `${s.id}.json`), JSON.stringify(s));
  const page = await browser.newPage();

  await page.goto(`${server.baseUrl}/recordings/${degraded.id}`);
  const note = await text(page, '#quality-note');
  assert.match(note, /server was busy/);
  assert.match(note, /0:12\.0–0:40\.0/);
  assert.match(note, /15 fps, x264 ultrafast/);
  assert.equal(await page.locator('#quality-note').getAttribute('data-degraded-ms'), '28000');
  assert.doesNotMatch(note, /caught up/);

  await page.goto(`${server.baseUrl}/recordings/${caughtUp.id}`);
  const caught = await text(page, '#quality-note');
  assert.match(caught, /\(0:05\.0–0:06\.0, 0:06\.3–0:30\.0\)/);
  assert.match(caught, /at its lowest: 15 fps, x264 ultrafast/);
  assert.match(caught, /Twice it fell more than a second behind and drew 5 frames a second until it caught up/);
  assert.equal(await page.locator('#quality-note').getAttribute('data-degraded-ms'), '24700');
  assert.equal(await page.locator('#quality-note').getAttribute('data-catch-ups'), '2');

  await page.goto(`${server.baseUrl}/recordings/${calm.id}`);
  await page.locator('#current-speaker').waitFor({ state: 'attached' });
  assert.equal(await page.locator('#quality-note').count(), 0, 'no note for a recording that kept its quality');
});
