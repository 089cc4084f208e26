// Benchmark: the server's CPU and memory for a room of N participants, each a real
// chromium sending a 640x360 camera and a microphone. Reports per forwarded stream
// (one consumer of a participant = one forwarded stream; the room's level-tap
// consumers are not counted). Usage (after `make build`):
//   node web/bench/meeting-load.mjs [--processes] [N ...]        default: 2 4 8
// Participants are pages of one chromium (they share its fake 640x360 15 fps camera),
// which halves the client load of one process per participant; --processes gives
// each its own chromium instead.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, startServer } from '../e2e/helpers.mjs';

const WARMUP_MS = 8000;
const MEASURE_MS = 20000;
const CLK_TCK = 100;

function camera640() {
  const file = join(tmpdir(), 'podium-bench-640x360-15.y4m');
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=15', '-t', '3', '-pix_fmt', 'yuv420p', file]);
  }
  return file;
}

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
}

/** Bytes through the loopback interface: media both ways between browsers and server. */
function loopbackBytes() {
  const line = readFileSync('/proc/net/dev', 'utf8').split('\n').find((l) => l.trim().startsWith('lo:'));
  return Number(line.split(':')[1].trim().split(/\s+/)[0]); // received on lo = sent on lo
}

function memoryMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function run(n) {
  const server = await startServer(); // one worker: the room's whole load on one core
  const pid = server.child.pid;
  const idleMb = memoryMb(pid).rss;
  const browsers = [];
  try {
    for (let i = 0; i < n; i++) {
      if (PROCESSES || browsers.length === 0) browsers.push(await launchBrowser({ videoFile: camera640() }));
      const page = await browsers.at(-1).newPage();
      await page.goto(`${server.baseUrl}/rooms/bench?name=P${i + 1}&autojoin=1`);
    }
    // Until every participant receives every other's audio and video (or 60 s). The
    // room's level tap adds one consumer per microphone: not a forwarded stream.
    const taps = n;
    const want = 2 * n * (n - 1);
    const deadline = Date.now() + 60_000;
    let room;
    do {
      await new Promise((r) => setTimeout(r, 1000));
      room = (await (await fetch(`${server.baseUrl}/api/debug/dump`)).json()).rooms[0];
    } while (room.consumers - taps < want && Date.now() < deadline);
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const cpu0 = cpuSeconds(pid);
    const lo0 = loopbackBytes();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const seconds = (Date.now() - t0) / 1000;
    const cpu = (cpuSeconds(pid) - cpu0) / seconds;
    const loopbackMbps = ((loopbackBytes() - lo0) * 8) / seconds / 1e6;
    const mem = memoryMb(pid);
    return { n, consumers: room.consumers - taps, want, cpuCores: cpu, rssMb: mem.rss, idleMb, loopbackMbps };
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await server.stop();
  }
}

const PROCESSES = process.argv.includes('--processes');
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const results = [];
for (const n of sizes.length ? sizes : [2, 4, 8]) {
  const r = await run(n);
  results.push(r);
  console.error(`N=${n}: ${JSON.stringify(r)}`);
}
console.log(`machine: ${cpus().length} x ${cpus()[0].model}; date: ${new Date().toISOString().slice(0, 10)}; clients: ${PROCESSES ? 'one chromium each' : 'pages of one chromium'}`);
console.log('| participants | forwarded streams (consumers, of full mesh) | loopback traffic (Mbit/s) | server CPU (cores) | CPU per stream (% of a core) | server RSS (MB) | RSS above idle per stream (MB) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results) {
  const perStream = r.consumers ? (100 * r.cpuCores / r.consumers).toFixed(2) : '-';
  const memPer = r.consumers ? ((r.rssMb - r.idleMb) / r.consumers).toFixed(2) : '-';
  console.log(`| ${r.n} | ${r.consumers} of ${r.want} | ${r.loopbackMbps.toFixed(1)} | ${r.cpuCores.toFixed(3)} | ${perStream} | ${r.rssMb.toFixed(1)} | ${memPer} |`);
}
