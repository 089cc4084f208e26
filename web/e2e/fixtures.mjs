// Fake camera and microphone files for browser tests: a y4m of a flat colour with the
// participant's name, and a wav of espeak-ng speech placed in given time slots
// (silence elsewhere), made with the ffmpeg, espeak-ng and sox CLIs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';
const CACHE = join(tmpdir(), 'podium-e2e-fixtures');

/** RGB of each test participant's camera: far apart, so a frame's colour names them. */
export const COLORS = {
  Alice: [200, 40, 40],
  Bob: [40, 160, 60],
  Carol: [50, 80, 210],
  Dave: [200, 160, 30],
};

const hex = ([r, g, b]) => '0x' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');

function cached(name, key, make) {
  mkdirSync(CACHE, { recursive: true });
  const hash = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 12);
  const file = join(CACHE, `${hash}-${name}`);
  if (!existsSync(file)) {
    const tmp = `${file}.tmp${process.pid}${name.slice(name.lastIndexOf('.'))}`;
    make(tmp);
    renameSync(tmp, file);
  }
  return file;
}

/** A looping camera: 320x180 (or the size given) at 15 fps, the participant's colour and name. */
export function cameraFile(name, seconds = 4, { width = 320, height = 180 } = {}) {
  const color = COLORS[name];
  const size = width === 320 ? [] : [width, height];
  return cached(`${name}${size.length ? `-${width}x${height}` : ''}.y4m`, ['camera', name, color, seconds, ...size], (out) => {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${hex(color)}:s=${width}x${height}:r=15`,
      '-vf', `drawtext=fontfile=${FONT}:text=${name}:fontsize=${Math.round(height * 0.22)}:fontcolor=white:x=(w-tw)/2:y=(h-th)/2`,
      '-t', String(seconds), '-pix_fmt', 'yuv420p', out]);
  });
}

/**
 * A microphone: speech in each slot [startSeconds, durationSeconds], silence elsewhere,
 * `total` seconds long, 48 kHz mono 16-bit.
 */
export function micFile(name, slots, total) {
  return cached(`${name}.wav`, ['mic', name, slots, total], (out) => {
    const dir = `${out}.parts`;
    mkdirSync(dir, { recursive: true });
    const parts = slots.map(([start, duration], i) => {
      const raw = join(dir, `say${i}.wav`);
      // Enough words to fill the slot; trimmed to its exact length.
      // A turn opens with a phrase that flows for its first second (the first comma
      // comes later); docs/speaker-detection.md
      // says what a short first sentence followed by a full stop costs.
      const words = duration < 1 ? 'mm hmm, yes.' :
        `${name} here with the numbers for this quarter and what we plan next, point by point, in detail.`;
      execFileSync('espeak-ng', ['-s', '170', '-a', '120', '-w', raw, words]);
      const placed = join(dir, `part${i}.wav`);
      execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', placed, 'trim', '0', String(duration), 'pad', String(start), '0']);
      return placed;
    });
    const silence = join(dir, 'silence.wav');
    execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', silence, 'trim', '0', String(total)]);
    // Mix (parts never overlap) without sox's default halving of each input; no
    // slots: a silent microphone.
    if (parts.length) execFileSync('sox', ['-m', '-v', '1', silence, ...parts.flatMap((p) => ['-v', '1', p]), out, 'trim', '0', String(total)]);
    else execFileSync('sox', [silence, out]);
    // Only the mix is kept in the cache (the parts were a third of its size).
    rmSync(dir, { recursive: true, force: true });
  });
}
