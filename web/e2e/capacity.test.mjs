// Admission control as a person meets it: a recording the server estimates would not
// run in real time is refused, and the room's banner says why and what to do. The
// server counts on cores to spare (--recording-cores), so only its admission rule about
// lag can refuse: the running recording's compositor is frozen (SIGSTOP), as a machine
// already full leaves it behind real time. The running recording is never touched: it
// goes on once thawed, and finishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childProcesses, launchBrowser, startServer } from './helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a refused recording shows the capacity message in the banner; the running one goes on', { timeout: 90_000 }, async (t) => {
  const server = await startServer(['--recording-admission', 'on', '--recording-cores', '64',
    '--recording-size', '640x360', '--recording-fps', '15', '--recording-preset', 'ultrafast']);
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const [ada, bob] = await Promise.all([browser.newContext(), browser.newContext()].map(async (c) => (await c).newPage()));
  const problems = [];
  for (const page of [ada, bob]) page.on('pageerror', (e) => problems.push(e.message));
  await ada.goto(`${server.baseUrl}/rooms/first?name=Ada&autojoin=1`);
  await bob.goto(`${server.baseUrl}/rooms/second?name=Bob&autojoin=1&camera=0`);
  for (const page of [ada, bob]) {
    await page.waitForFunction(() => window.podium.meeting?.state.status === 'joined', null, { timeout: 20_000 });
  }

  await ada.click('#record');
  await ada.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 15_000 });
  const recordingId = await ada.locator('#recording-indicator').getAttribute('data-recording-id');
  await sleep(1500);
  const [compositor] = childProcesses(server.child.pid, 'compose');
  assert.ok(compositor, 'no compositor process');
  process.kill(compositor, 'SIGSTOP');
  try {
    // Silent for 2.5 s: at least 1.5 s behind real time, beyond admission's 500 ms.
    await sleep(2500);
    await bob.click('#record');
    await bob.waitForFunction(() => /recording capacity/.test(document.querySelector('#banner')?.textContent ?? ''), null, { timeout: 15_000 });
    assert.equal((await bob.locator('#banner').innerText()).trim(),
      'Could not start the recording: this server is at its recording capacity: 1 recording running; try a smaller size or stop one');
    assert.equal(await bob.locator('#recording-indicator').isVisible(), false);
    assert.equal(await bob.locator('#record').getAttribute('data-recording'), 'false');
  } finally {
    process.kill(compositor, 'SIGCONT');
  }

  // Ada's recording went on, and finishes when she stops it.
  assert.equal(await ada.locator('#recording-indicator').isVisible(), true);
  await sleep(1000);
  await ada.click('#record');
  await ada.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 15_000 });
  const rec = await (await fetch(`${server.baseUrl}/api/recordings/${recordingId}`)).json();
  assert.equal(rec.status, 'finished', JSON.stringify(rec));
  assert.ok(rec.duration_ms >= 4000, `${rec.duration_ms} ms`);
  // Room now: Bob's try again starts it, and the refusal he was shown goes away.
  assert.match(await bob.locator('#banner').innerText(), /recording capacity/);
  await bob.click('#record');
  await bob.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 15_000 });
  await bob.locator('#banner').waitFor({ state: 'hidden', timeout: 5_000 });
  await bob.click('#record');
  await bob.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 15_000 });
  assert.deepEqual(problems, []);
});

test('refused for its size, a recording is offered at a smaller one that fits, and starts there', { timeout: 60_000 }, async (t) => {
  // A server set to record 3840x2160 at 60 fps with 1.5 cores to count on: admission
  // prices that at more than the cores (docs/benchmarks.md's table, scaled by pixels),
  // and half of it (1920x1080) at well under.
  const server = await startServer(['--recording-admission', 'on', '--recording-cores', '1.5',
    '--recording-size', '3840x2160', '--recording-fps', '60', '--recording-preset', 'veryfast']);
  const browser = await launchBrowser({});
  t.after(async () => { await browser.close(); await server.stop(); });
  const page = await (await browser.newContext()).newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${server.baseUrl}/rooms/big?name=Ada&autojoin=1`);
  await page.waitForFunction(() => window.podium.meeting?.state.status === 'joined', null, { timeout: 20_000 });

  await page.click('#record');
  const offer = page.locator('#banner #record-smaller');
  await offer.waitFor({ timeout: 15_000 });
  assert.match(await page.locator('#banner').innerText(), /recording capacity: a recording of this size needs more CPU than it has; try a smaller size/);
  assert.equal((await offer.innerText()).trim(), 'Record at 1920x1080 instead');
  assert.equal(await page.locator('#recording-indicator').isVisible(), false, 'nothing started on the refusal');
  await offer.click();
  await page.locator('#recording-indicator').waitFor({ state: 'visible', timeout: 15_000 });
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: 5_000 });
  const id = await page.locator('#recording-indicator').getAttribute('data-recording-id');
  await sleep(1500);
  await page.click('#record');
  await page.locator('#recording-indicator').waitFor({ state: 'hidden', timeout: 20_000 });
  const rec = await (await fetch(`${server.baseUrl}/api/recordings/${id}`)).json();
  assert.deepEqual([rec.width, rec.height, rec.status], [1920, 1080, 'finished'], JSON.stringify(rec));
  assert.deepEqual(problems, []);
});
