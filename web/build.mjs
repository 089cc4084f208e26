// Bundles the browser UI into web/dist, which the podium binary embeds at build time.
// Usage: node build.mjs [--watch]
//
// A file in web/dist is written only when its bytes change, and files that are no
// longer made are removed: cargo rebuilds the server whenever anything in web/dist
// changes (server/build.rs), so an unchanged UI must leave it exactly as it was.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const src = new URL('./src/', import.meta.url).pathname;
const dist = new URL('./dist/', import.meta.url).pathname;
const STATIC = ['index.html', 'style.css'];
const watching = process.argv.includes('--watch');

/** Writes `bytes` to `file` unless it already holds them; returns whether it wrote. */
function writeIfChanged(file, bytes) {
  try {
    const old = readFileSync(file);
    if (Buffer.compare(old, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) === 0) return false;
  } catch { /* missing: write it */ }
  writeFileSync(file, bytes);
  return true;
}

/** Makes web/dist hold exactly `files` (name -> bytes), touching only what differs. */
function sync(files) {
  mkdirSync(dist, { recursive: true });
  const changed = [];
  for (const [name, bytes] of files) if (writeIfChanged(join(dist, name), bytes)) changed.push(name);
  for (const name of readdirSync(dist)) {
    if (files.has(name)) continue;
    rmSync(join(dist, name), { recursive: true, force: true });
    changed.push(`-${name}`);
  }
  return changed;
}

function staticFiles() {
  return STATIC.map((name) => [name, readFileSync(join(src, name))]);
}

const options = {
  entryPoints: [join(src, 'main.js')],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  outfile: join(dist, 'app.js'),
  logLevel: 'warning',
  // Kept in memory, then synced into web/dist.
  write: false,
};

/** The bundle's outputs and the static files, synced into web/dist. */
function publish(outputFiles) {
  const files = new Map(staticFiles());
  for (const out of outputFiles) {
    const rel = out.path.startsWith(dist) ? out.path.slice(dist.length) : null;
    if (!rel || rel.includes('/')) throw new Error(`esbuild wrote outside web/dist: ${out.path}`);
    files.set(rel, out.contents);
  }
  return sync(files);
}

if (watching) {
  let last = [];
  const report = (changed) => {
    if (changed.length) console.log(`web/dist: ${changed.join(', ')}`);
  };
  const ctx = await esbuild.context({
    ...options,
    plugins: [{
      name: 'sync-dist',
      setup(build) {
        build.onEnd((result) => {
          if (result.errors.length || !result.outputFiles) return;
          last = result.outputFiles;
          report(publish(last));
        });
      },
    }],
  });
  await ctx.watch();
  // esbuild watches the bundle's sources; the static files are copied as they change.
  let timer = null;
  watch(src, (event, name) => {
    if (!STATIC.includes(name)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (STATIC.every((f) => existsSync(join(src, f)) && statSync(join(src, f)).isFile())) report(publish(last));
    }, 50);
  });
} else {
  const result = await esbuild.build(options);
  publish(result.outputFiles);
}
