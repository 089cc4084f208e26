// `make run` must not rebuild the server when nothing changed: cargo rebuilds it
// whenever a file in web/dist changes (server/build.rs), so bundling an unchanged UI
// again must leave every file in web/dist untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const web = new URL('..', import.meta.url).pathname;
const dist = join(web, 'dist');
const build = () => execFileSync(process.execPath, ['build.mjs'], { cwd: web, stdio: 'inherit' });
const snapshot = () => Object.fromEntries(readdirSync(dist).map((f) => [f, statSync(join(dist, f)).mtimeMs]));

test('bundling an unchanged UI again touches no file in web/dist', () => {
  build();
  const before = snapshot();
  assert.ok(Object.keys(before).includes('app.js') && Object.keys(before).includes('index.html'), JSON.stringify(before));
  build();
  assert.deepEqual(snapshot(), before);
});
