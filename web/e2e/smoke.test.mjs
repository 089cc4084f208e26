// The built UI loads in a real browser from the binary's embedded assets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startServer } from './helpers.mjs';

test('the home page loads in chromium and reaches the API', async () => {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.baseUrl + '/');
    await page.getByText(/Server ok/).waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
