// Bundles the browser UI into web/dist, which the podium binary embeds at build time.
// Usage: node build.mjs [--watch]
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';

const dist = new URL('./dist/', import.meta.url).pathname;
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
for (const file of ['index.html', 'style.css']) {
  cpSync(new URL(`./src/${file}`, import.meta.url).pathname, dist + file);
}
const options = {
  entryPoints: [new URL('./src/main.js', import.meta.url).pathname],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  sourcemap: true,
  outfile: dist + 'app.js',
  logLevel: 'warning',
};
if (process.argv.includes('--watch')) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
