// The library page (/recordings) against a running server's library, in Debian's
// Chromium (headless): how long until its first rows show, a search's answer is drawn,
// and "Show more" draws the next 100. Median of 3 fresh pages. Run by
// `python3 tools/bench/library.py --page`, which makes the library and the server:
//
//     node tools/bench/library-page.mjs http://127.0.0.1:PORT
import { launchBrowser } from '../../web/e2e/helpers.mjs';

const base = process.argv[2];
if (!base) throw new Error('usage: node tools/bench/library-page.mjs http://127.0.0.1:PORT');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rowsAre = (page, n) => page.waitForFunction((n) => document.querySelectorAll('#recordings-list .recording-row').length === n, n, { timeout: 60_000, polling: 10 });
const statusIs = (page, text) => page.waitForFunction((t) => document.querySelector('.library-head [role=status]')?.textContent === t, text, { timeout: 60_000, polling: 10 });

const browser = await launchBrowser({});
const figures = { 'first rows': [], 'search (a room)': [], 'search (nothing)': [], 'search (a name in all)': [], 'show more': [] };
try {
  for (let run = 0; run < 3; run++) {
    const page = await browser.newPage();
    let t = performance.now();
    await page.goto(`${base}/recordings`);
    await page.waitForSelector('#recordings-list .recording-row', { timeout: 60_000 });
    figures['first rows'].push(performance.now() - t);
    const total = (await page.locator('.library-head [role=status]').textContent()).split(' of ')[1];
    for (const [label, q, expect] of [['search (a room)', 'room3', null], ['search (nothing)', 'zzz', `0 of ${total}`], ['search (a name in all)', 'eve', `${total} of ${total}`]]) {
      t = performance.now();
      await page.fill('#search', q);
      if (expect) await statusIs(page, expect);
      else await page.waitForFunction(() => /^\d+ of \d+$/.test(document.querySelector('.library-head [role=status]').textContent) && [...document.querySelectorAll('.recording-row .rec-title a')].every((a) => a.textContent === 'room3'), null, { timeout: 60_000, polling: 10 });
      figures[label].push(performance.now() - t);
    }
    const before = await page.locator('#recordings-list .recording-row').count();
    t = performance.now();
    await page.click('#show-more');
    await rowsAre(page, before + 100);
    figures['show more'].push(performance.now() - t);
    await page.close();
  }
} finally {
  await browser.close();
}
console.log('  the library page in Chromium, median of 3 fresh pages (a search includes its 0.15 s typing pause):');
for (const [label, xs] of Object.entries(figures)) console.log(`    ${label.padEnd(24)} ${median(xs).toFixed(0).padStart(5)} ms  (${xs.map((x) => x.toFixed(0)).join(', ')})`);
