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
