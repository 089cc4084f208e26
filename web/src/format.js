// Formatting shared by the recordings pages, and their top bar.
import { el } from './ui.js';

// One formatter each, made once: `toLocaleString` with options builds a new one at
// every call, and the library draws a date per row (docs/benchmarks.md).
const DATE_TIME = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
const DAY = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });

/** "2 Dec 2026, 16:08" in the viewer's time zone. */
export function formatDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso ?? '';
  return DATE_TIME.format(d);
}

/** When the server deletes a recording (`expires_at`), as a day: "14 Dec 2026". */
export function formatDay(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso ?? '';
  return DAY.format(d);
}

/** "1:02:05", "12:04", "0:42". */
export function formatDuration(ms) {
  const s = Math.max(0, Math.floor((ms ?? 0) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A position in a video, with tenths: "1:02.5". */
export function formatClock(ms) {
  const s = Math.max(0, ms / 1000);
  const m = Math.floor(s / 60);
  return `${m}:${(s % 60).toFixed(1).padStart(4, '0')}`;
}

export function formatSize(bytes) {
  if (!bytes) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
}

/** The pages' top bar: the brand, then what is given. */
export function topbar(...children) {
  return el('header', { class: 'topbar' }, el('a', { href: '/', class: 'brand' }, el('span', { class: 'logo' }, 'P'), 'Podium'), ...children);
}
