// Benchmark: the server's CPU and memory for a room of N participants, each a real
// chromium sending a 640x360 camera and a microphone. Reports per forwarded stream
// (one consumer of a participant = one forwarded stream; the room's level-tap
// consumers are not counted). Usage (after `make build`):
//   node web/bench/meeting-load.mjs [--processes] [N ...]        default: 2 4 8
// Participants are pages of one chromium (they share its fake 640x360 15 fps camera),
// which halves the client load of one process per participant; --processes gives
// each its own chromium instead.
//
//   node web/bench/meeting-load.mjs --simulcast [N]                default: 4
// Before and after simulcast, side by side in one run (alternating, two rounds): a
// 1280x720 15 fps fake camera, sent as before (`?simulcast=0`: 640x360, one layer)
// and with simulcast (720p in three layers; each page's filmstrip takes the lowest,
// its stage the top): the server's CPU and the video bytes each viewer receives.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, startServer } from '../e2e/helpers.mjs';

const WARMUP_MS = 8000;
const MEASURE_MS = 20000;
const CLK_TCK = 100;

/** A fake camera file: the testsrc2 pattern at `width`x`height`, 15 fps. */
function cameraFile(width, height) {
  const file = join(tmpdir(), `podium-bench-${width}x${height}-15.y4m`);
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=${width}x${height}:r=15`, '-t', '3', '-pix_fmt', 'yuv420p', file]);
  }
  return file;
}

/** Video bytes this page's receive transport got so far (every inbound video stream). */
async function videoBytesIn(page) {
  return page.evaluate(async () => {
    const stats = await window.podium.meeting.recvTransport.getStats();
    let bytes = 0;
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') bytes += s.bytesReceived; });
    return bytes;
  });
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

async function run(n, { simulcast = null } = {}) {
  const server = await startServer(); // one worker: the room's whole load on one core
  const pid = server.child.pid;
  const idleMb = memoryMb(pid).rss;
  const browsers = [];
  const pages = [];
  try {
    for (let i = 0; i < n; i++) {
      const videoFile = simulcast === null ? cameraFile(640, 360) : cameraFile(1280, 720);
      if (PROCESSES || browsers.length === 0) browsers.push(await launchBrowser({ videoFile }));
      const page = await browsers.at(-1).newPage();
      pages.push(page);
      await page.goto(`${server.baseUrl}/rooms/bench?name=P${i + 1}&autojoin=1${simulcast === false ? '&simulcast=0' : ''}`);
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
    const in0 = await Promise.all(pages.map(videoBytesIn));
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const seconds = (Date.now() - t0) / 1000;
    const cpu = (cpuSeconds(pid) - cpu0) / seconds;
    const loopbackMbps = ((loopbackBytes() - lo0) * 8) / seconds / 1e6;
    const in1 = await Promise.all(pages.map(videoBytesIn));
    const viewerKbps = in1.map((b, i) => ((b - in0[i]) * 8) / seconds / 1000);
    const mem = memoryMb(pid);
    return { n, consumers: room.consumers - taps, want, cpuCores: cpu, rssMb: mem.rss, idleMb, loopbackMbps, viewerKbps };
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await server.stop();
  }
}

const PROCESSES = process.argv.includes('--processes');
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
if (process.argv.includes('--simulcast')) {
  const n = sizes[0] ?? 4;
  const rows = [];
  for (let round = 1; round <= 2; round++) {
    for (const simulcast of [false, true]) {
      const r = await run(n, { simulcast });
      console.error(`round ${round} simulcast=${simulcast}: ${JSON.stringify(r)}`);
      rows.push({ round, simulcast, ...r });
    }
  }
  console.log(`machine: ${cpus().length} x ${cpus()[0].model}; date: ${new Date().toISOString().slice(0, 10)}; ${n} participants, pages of one chromium, a 1280x720 15 fps fake camera`);
  console.log('| round | camera | server CPU (cores) | video to each viewer (kbit/s, mean) | per viewer (kbit/s) | loopback traffic (Mbit/s) |');
  console.log('|---|---|---|---|---|---|');
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const r of rows) {
    console.log(`| ${r.round} | ${r.simulcast ? 'simulcast, 720p in 3 layers' : 'before: 360p, one layer'} | ${r.cpuCores.toFixed(3)} | ${mean(r.viewerKbps).toFixed(0)} | ${r.viewerKbps.map((k) => k.toFixed(0)).join(', ')} | ${r.loopbackMbps.toFixed(1)} |`);
  }
  const of = (flag, key) => mean(rows.filter((r) => r.simulcast === flag).map((r) => (key === 'kbps' ? mean(r.viewerKbps) : r[key])));
  console.log(`\nMeans: before ${of(false, 'cpuCores').toFixed(3)} cores, ${of(false, 'kbps').toFixed(0)} kbit/s to each viewer; simulcast ${of(true, 'cpuCores').toFixed(3)} cores (${(of(true, 'cpuCores') / of(false, 'cpuCores')).toFixed(2)}x), ${of(true, 'kbps').toFixed(0)} kbit/s (${(of(true, 'kbps') / of(false, 'kbps')).toFixed(2)}x).`);
  process.exit(0);
}
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
