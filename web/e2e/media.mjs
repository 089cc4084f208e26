// Reading a recording back in browser tests, with the ffmpeg and ffprobe CLIs: the
// colour of every frame (who is on screen), the audio (who is heard), the chapters.
import { execFileSync } from 'node:child_process';
import { COLORS } from './fixtures.mjs';

const MAX = 1 << 30;

/**
 * Every frame at `fps` (resampled from the start), as { t (ms), rgb }: the mean colour
 * of a patch in the upper left, away from the camera's own name in the middle and from
 * the recording's name label at the bottom.
 */
export function frameColors(path, fps = 30) {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-an', '-vf',
    `fps=${fps},crop=iw/5:ih/5:iw/10:ih/10,scale=1:1:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: MAX });
  const frames = [];
  for (let i = 0; i + 3 <= raw.length; i += 3) frames.push({ t: Math.round((i / 3) * 1000 / fps), rgb: [raw[i], raw[i + 1], raw[i + 2]] });
  return frames;
}

/**
 * Every frame at `fps`, as { t (ms), rgb: [...] }: the mean colour of a patch (a
 * twentieth of the picture each way) at each of `points`, given as fractions of the
 * width and height of the patch's top-left corner: what a layout's tiles show.
 */
export function patchColors(path, points, fps = 10) {
  const perPoint = points.map(([fx, fy]) => {
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-an', '-vf',
      `fps=${fps},crop=iw/20:ih/20:iw*${fx}:ih*${fy},scale=1:1:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: MAX });
    const colours = [];
    for (let i = 0; i + 3 <= raw.length; i += 3) colours.push([raw[i], raw[i + 1], raw[i + 2]]);
    return colours;
  });
  const n = Math.min(...perPoint.map((c) => c.length));
  return Array.from({ length: n }, (_, k) => ({ t: Math.round((k * 1000) / fps), rgb: perPoint.map((c) => c[k]) }));
}

/** Who a colour is: the nearest camera colour, 'waiting' for the dark card, else null. */
export function whoIs(rgb) {
  if (Math.max(...rgb) < 40) return 'waiting';
  let best = null;
  let bestDist = 60;
  for (const [name, c] of Object.entries(COLORS)) {
    const d = Math.hypot(rgb[0] - c[0], rgb[1] - c[1], rgb[2] - c[2]);
    if (d < bestDist) { best = name; bestDist = d; }
  }
  return best;
}

/** Runs of the same shown participant: [{ who, from, to }] (ms). */
export function runs(frames) {
  const out = [];
  for (const f of frames) {
    const who = whoIs(f.rgb);
    const last = out.at(-1);
    if (last && last.who === who) last.to = f.t;
    else out.push({ who, from: f.t, to: f.t });
  }
  return out;
}

/** The audio as mono samples at `rate` Hz. */
export function audioSamples(path, rate = 16000) {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-vn', '-ac', '1', '-ar', String(rate), '-f', 'f32le', '-'], { maxBuffer: MAX });
  return { rate, samples: new Float32Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 4)) };
}

/** RMS of the audio between two times (ms). */
export function rms({ rate, samples }, from, to) {
  const a = Math.max(0, Math.floor((from * rate) / 1000));
  const b = Math.min(samples.length, Math.floor((to * rate) / 1000));
  let sum = 0;
  for (let i = a; i < b; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, b - a));
}

/**
 * Where speech starts between `fromMs` and `toMs` in the audio (ms, to 10 ms), or null:
 * the start of the first 10 ms window louder than the threshold that is followed by
 * sustained sound. The caller gives a range that opens in a pause (at least a fifth of
 * the range), with one speaker's first word somewhere after; only that speaker talks
 * then, so in the mix of everyone the first rise out of the pause is their word.
 *
 * - Level: RMS over 10 ms windows, fine enough for a cut measured to ±150 ms and long
 *   enough to hold a couple of pitch periods, so a voiced onset reads as loud at once.
 * - Noise floor: the 20th percentile of the windows' levels. The range opens in a pause,
 *   so at least that share of it is quiet, wherever in the range the word falls; a
 *   percentile is not thrown by the loud windows as a mean would be.
 * - Threshold: 4x the floor (+12 dB), and never under 0.01 (−40 dBFS). Chrome's noise
 *   suppression leaves the pauses near digital silence (about −90 dBFS in the mp4),
 *   where 4x the floor alone would trigger on codec noise; the first 10 ms of a word
 *   reads −4 to −27 dBFS, so it crosses −40 dBFS in its first window (checked against
 *   the fixtures' wavs by envelope cross-correlation: within 10 ms). A noisier pause
 *   raises the bar with it.
 * - Sustain: at least 6 of the 10 windows (100 ms) from the candidate on are above the
 *   threshold, so a click or a lone blip is not a word, while a plosive's burst
 *   followed by its vowel ("Bob", "Carol") is.
 */
export function speechOnset({ rate, samples }, fromMs, toMs) {
  const WINDOW = 10;
  const SUSTAIN = 10;
  const NEEDED = 6;
  const perWindow = Math.round((rate * WINDOW) / 1000);
  const first = Math.max(0, Math.round((fromMs * rate) / 1000));
  const count = Math.floor((Math.min(samples.length, Math.round((toMs * rate) / 1000)) - first) / perWindow);
  if (count <= 0) return null;
  // The levels run SUSTAIN windows past the range, so that a word starting at its end is judged too.
  const levels = [];
  for (let w = 0; w < count + SUSTAIN; w++) {
    const a = first + w * perWindow;
    const b = Math.min(samples.length, a + perWindow);
    if (b <= a) break;
    let sum = 0;
    for (let i = a; i < b; i++) sum += samples[i] * samples[i];
    levels.push(Math.sqrt(sum / (b - a)));
  }
  const sorted = levels.slice(0, count).sort((x, y) => x - y);
  const floor = sorted[Math.floor(sorted.length * 0.2)];
  const threshold = Math.max(0.01, 4 * floor);
  for (let w = 0; w < count; w++) {
    if (levels[w] <= threshold) continue;
    const ahead = levels.slice(w, w + SUSTAIN).filter((l) => l > threshold).length;
    if (ahead >= NEEDED) return Math.round(((first + w * perWindow) * 1000) / rate);
  }
  return null;
}

/** ffprobe's view: duration (ms), chapters [{ start (ms), title }], stream codecs. */
export function probe(path) {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_chapters', '-show_format', '-show_streams', '-of', 'json', path]).toString());
  return {
    durationMs: Math.round(Number(out.format.duration) * 1000),
    chapters: out.chapters.map((c) => ({ start: Math.round(Number(c.start_time) * 1000), title: c.tags?.title })),
    codecs: out.streams.map((s) => s.codec_name),
  };
}
