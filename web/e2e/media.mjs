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

/** ffprobe's view: duration (ms), chapters [{ start (ms), title }], stream codecs. */
export function probe(path) {
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_chapters', '-show_format', '-show_streams', '-of', 'json', path]).toString());
  return {
    durationMs: Math.round(Number(out.format.duration) * 1000),
    chapters: out.chapters.map((c) => ({ start: Math.round(Number(c.start_time) * 1000), title: c.tags?.title })),
    codecs: out.streams.map((s) => s.codec_name),
  };
}
