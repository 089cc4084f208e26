// What happens to a recording when something dies, with real browsers in the meeting:
// the compositor (the meeting goes on, everyone is told, the file plays), the server
// on SIGTERM (the file is finalized first), the server on kill -9 (the compositor
// finishes the file itself), and both at once as in a power cut (the next server lists
// it as interrupted). Each time the file plays and holds all but its last 3 s. And a
// layout the server refuses as Stop is pressed: the file is saved without it, and says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cameraFile, micFile } from './fixtures.mjs';
import { childProcesses, launchBrowser, startServer } from './helpers.mjs';
import { frameColors, patchColors, probe, whoIs } from './media.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Alice (speaking from 2 s) and Bob in room `room`, recording started with the button. */
async function recordedMeeting(t, server, room) {
  const browsers = await Promise.all([
    launchBrowser({ videoFile: cameraFile('Alice'), audioFile: `${micFile('Alice', [[2, 20]], 40)}%noloop` }),
    launchBrowser({ videoFile: cameraFile('Bob') }),
  ]);
  t.after(() => Promise.all(browsers.map((b) => b.close())));
  const pages = await Promise.all(browsers.map((b) => b.newPage()));
  await Promise.all(pages.map((p, i) => p.goto(`${server.baseUrl}/rooms/${room}?name=${['Alice', 'Bob'][i]}&autojoin=1${i ? '&mic=0' : ''}`)));
  await Promise.all(pages.map((p) => p.waitForFunction(() => document.querySelectorAll('.tile').length === 2, null, { timeout: 20_000 })));
  await pages[0].click('#record');
  await Promise.all(pages.map((p) => p.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 10_000 })));
  const { recording } = await (await fetch(`${server.baseUrl}/api/rooms/${room}`)).json();
  return { pages, id: recording.id, startedAt: Date.parse(recording.started_at) };
}

function sidecar(server, id) {
  return JSON.parse(readFileSync(join(server.recordingsDir, `${id}.json`), 'utf8'));
}

/** The file plays: h264 + aac, at least `minMs` long, and Alice's camera on screen. */
function assertPlays(server, id, minMs) {
  const path = join(server.recordingsDir, `${id}.mp4`);
  const info = probe(path);
  assert.deepEqual(info.codecs, ['h264', 'aac']);
  assert.ok(info.durationMs >= minMs, `the file holds ${info.durationMs} ms, at least ${minMs} ms expected`);
  const frames = frameColors(path, 5);
  assert.ok(frames.some((f) => whoIs(f.rgb) === 'Alice'), 'Alice never on screen');
  return info;
}

test('the compositor dies: the meeting goes on, everyone is told, and the file plays', { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const { pages, id, startedAt } = await recordedMeeting(t, server, 'crashy');
  await sleep(6000);
  const [compositor] = childProcesses(server.child.pid, 'compose');
  assert.ok(compositor, 'no compositor process');
  process.kill(compositor, 'SIGKILL');
  const killedAfter = Date.now() - startedAt;
  for (const page of pages) {
    await page.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('The recording stopped'), null, { timeout: 10_000 });
    assert.match(await page.locator('#banner').textContent(), /stopped unexpectedly.*SIGKILL/);
    await page.locator('#recording-indicator').waitFor({ state: 'hidden' });
  }
  const rec = await (await fetch(`${server.baseUrl}/api/recordings/${id}`)).json();
  assert.equal(rec.status, 'failed');
  assertPlays(server, id, killedAfter - 3000);
  // The meeting goes on: everyone still sees the others, and can record again.
  const room = await (await fetch(`${server.baseUrl}/api/rooms/crashy`)).json();
  assert.deepEqual(room.participants.map((p) => p.name).sort(), ['Alice', 'Bob']);
  assert.equal(room.recording, null);
  await pages[1].click('#record');
  await pages[0].locator('#recording-indicator').waitFor({ state: 'visible', timeout: 10_000 });
});

test('SIGTERM: the server finalizes the recording before it exits', { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  const { id, startedAt } = await recordedMeeting(t, server, 'term');
  await sleep(6000);
  const signalled = Date.now();
  await server.stop('SIGTERM');
  const took = Date.now() - signalled;
  assert.ok(took < 5000, `the server took ${took} ms to stop`);
  const s = sidecar(server, id);
  assert.equal(s.status, 'finished', JSON.stringify(s));
  const info = assertPlays(server, id, signalled - startedAt - 1000);
  assert.deepEqual(info.chapters.map((c) => c.title), ['Alice']);
  assert.equal(childProcesses(server.child.pid, 'compose').length, 0, 'a compositor outlived the server');
});

test('kill -9 of the server: the compositor finishes the file, and the next server lists it', { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  const { pages, id, startedAt } = await recordedMeeting(t, server, 'kill');
  await sleep(6000);
  const [compositor] = childProcesses(server.child.pid, 'compose');
  await server.stop('SIGKILL');
  const killedAfter = Date.now() - startedAt;
  // The room cannot know whether it still records: the REC clock stops, dimmed.
  await pages[0].waitForFunction(() => document.querySelector('#banner')?.textContent.includes('Connection lost'), null, { timeout: 10_000 });
  const badge = pages[0].locator('#recording-indicator');
  assert.ok(await badge.evaluate((b) => !b.hidden && b.classList.contains('stale')), 'the REC badge is dimmed');
  const clock = await badge.locator('.rec-time').textContent();
  await sleep(2100);
  assert.equal(await badge.locator('.rec-time').textContent(), clock, 'its clock stands');
  // The compositor notices its control channel close, finishes the file and exits.
  for (let i = 0; i < 50 && alive(compositor); i++) await sleep(100);
  assert.ok(!alive(compositor), 'the compositor outlived its server');
  const again = await startServer([], { recordingsDir: server.recordingsDir });
  t.after(() => again.stop());
  const list = await (await fetch(`${again.baseUrl}/api/recordings`)).json();
  assert.deepEqual(list.map((r) => [r.id, r.status]), [[id, 'interrupted']]);
  const info = assertPlays(again, id, killedAfter - 3000);
  assert.deepEqual(info.chapters.map((c) => c.title), ['Alice']);
});

test('a power cut (server and compositor killed together): the next server lists it as interrupted', { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  const { id, startedAt } = await recordedMeeting(t, server, 'power');
  await sleep(7000);
  const [compositor] = childProcesses(server.child.pid, 'compose');
  process.kill(compositor, 'SIGKILL');
  await server.stop('SIGKILL');
  const killedAfter = Date.now() - startedAt;
  assert.equal(sidecar(server, id).status, 'recording', 'nobody could mark it');
  const again = await startServer([], { recordingsDir: server.recordingsDir });
  t.after(() => again.stop());
  const rec = await (await fetch(`${again.baseUrl}/api/recordings/${id}`)).json();
  assert.equal(rec.status, 'interrupted');
  assert.match(rec.error, /cut off by a crash/);
  const info = assertPlays(again, id, killedAfter - 3000);
  assert.ok(Math.abs(info.durationMs - rec.duration_ms) < 200, `listed ${rec.duration_ms} ms, the file ${info.durationMs} ms`);
  assert.deepEqual(info.chapters.map((c) => c.title), ['Alice'], 'the chapters were mended from the sidecar');
});

test('a layout change refused as Stop is pressed: the recording is saved without it, and the saved notice says so', { timeout: 90_000 }, async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const { pages, id } = await recordedMeeting(t, server, 'refused');
  const [alice, bob] = pages;
  await sleep(2000);
  // Another host's script changes the layout until the server's pace refuses it (a
  // burst of 10, then one a second); at once Alice picks a layout and presses Stop, so
  // her change, sent first, is refused too.
  const { kept, changes } = await alice.evaluate(async (room) => {
    const url = `/api/rooms/${room}/recording`;
    let kept = (await (await fetch(`/api/rooms/${room}`)).json()).recording.layout;
    for (let changes = 0; changes < 40; changes++) {
      const next = kept === 'grid' ? 'speaker' : 'grid';
      const res = await fetch(url, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ layout: next }) });
      // Refused for long enough (its message says when the next would pass; a machine
      // slow to send the burst may be close to it: then it is waited out and taken).
      const wait = res.status === 429 ? Number((await res.json()).error.match(/try again in ([\d.]+) s/)?.[1] ?? 0) : null;
      if (wait !== null && wait < 0.8) {
        await new Promise((r) => setTimeout(r, wait * 1000 + 50));
        continue;
      }
      if (wait !== null) {
        // 0.3 s on, the file has frames after the last change, and the pace (a change
        // a second) has not yet let another through.
        await new Promise((r) => setTimeout(r, 300));
        const picker = document.querySelector('#recording-layout');
        picker.value = next;
        picker.dispatchEvent(new Event('change'));
        document.querySelector('#record').click();
        return { kept, changes };
      }
      if (!res.ok) throw new Error(`PATCH answered ${res.status}`);
      kept = next;
    }
    throw new Error('40 changes at once, none refused for long enough');
  }, 'refused');
  await alice.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 10_000 });
  await alice.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('saved'), null, { timeout: 10_000 });
  assert.match(await alice.locator('#banner').textContent(), /The recording was saved\. Its last layout change is not in it \(the layout is changing too often: try again in \d/);
  assert.equal(await alice.locator('#recording-layout').inputValue(), kept, 'the picker shows the layout the file ends in');
  // The notice is for the one who pressed Stop; everyone else is told it was saved.
  await bob.waitForFunction(() => document.querySelector('#banner')?.textContent.includes('saved'), null, { timeout: 10_000 });
  assert.doesNotMatch(await bob.locator('#banner').textContent(), /layout/);
  const rec = await (await fetch(`${server.baseUrl}/api/recordings/${id}`)).json();
  assert.equal(rec.status, 'finished');
  assert.equal(rec.layout, kept, JSON.stringify(rec.layout_changes));
  // (Changes asked for in the same moment replace each other in the file: only a last
  // one that differs from where they began is listed.)
  assert.ok(changes >= 10, `${changes} changes passed before the refusal`);
  assert.equal(rec.layout_changes.at(-1)?.layout ?? 'speaker', kept, JSON.stringify(rec.layout_changes));
  const info = assertPlays(server, id, 2000);
  // The file ends in the layout kept: one camera filling the frame, or the two side by
  // side.
  const path = join(server.recordingsDir, `${id}.mp4`);
  const lastChange = rec.layout_changes.at(-1)?.at_ms ?? 0;
  const last = patchColors(path, [[0.25, 0.5], [0.75, 0.5]], 30).filter((f) => f.t > lastChange + 100);
  assert.ok(last.length >= 3, `${last.length} frames after the last change, at ${lastChange} ms of ${info.durationMs}`);
  for (const f of last) {
    const seen = f.rgb.map(whoIs);
    if (kept === 'grid') assert.deepEqual([...seen].sort(), ['Alice', 'Bob'], `the grid at ${f.t} ms shows ${seen}`);
    else assert.ok(seen[0] === seen[1] && ['Alice', 'Bob'].includes(seen[0]), `the speaker layout at ${f.t} ms shows ${seen}`);
  }
});

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}
