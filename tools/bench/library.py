#!/usr/bin/env python3
"""The library's list at scale: N hour-long recordings (sidecars as the recorder writes
them: a turn every 2-30 s, a loudness and a voice count per second), served by a real
`podium serve`; GET /api/recordings timed and weighed with and without gzip, whole and
a page at a time (the library page asks for 100, and searches on the server); with
--page, the library page itself in Chromium (tools/bench/library-page.mjs).

    python3 tools/bench/library.py [--count 2000] [--bin target/release/podium] [--page]
"""
import argparse, json, os, random, shutil, socket, subprocess, tempfile, time, urllib.parse, urllib.request

def sidecars(dir, count):
    random.seed(1)
    names = ['Ada', 'Ben', 'Cy', 'Dee', 'Eve', 'Fay']
    places = []
    for i in range(count):
        day = i // 24
        rid = f"2026{1 + day // 28 % 12:02d}{1 + day % 28:02d}-{i % 24:02d}0000-l{i:05d}"
        t, turns = 0, []
        while t < 3_600_000:
            dur, who = random.randint(2000, 30000), random.choice(names)
            turns.append({"start_ms": t, "end_ms": min(t + dur, 3_600_000), "participant_id": who.lower(), "name": who})
            t += dur
        sidecar = {"version": 1, "id": rid, "room": f"room{i % 20}", "status": "finished",
                   "started_at": f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{i % 24:02d}:00:00.000Z",
                   "duration_ms": 3_600_000, "width": 1280, "height": 720, "fps": 30,
                   "participants": [{"participant_id": n.lower(), "name": n} for n in names], "timeline": turns,
                   "loudness_db": [round(random.uniform(-60, -10), 1) for _ in range(3600)],
                   "voices": [random.randint(0, 2) for _ in range(3600)],
                   "layout": "speaker", "layout_changes": [], "screen_shares": [], "quality_steps": []}
        # As the recorder writes them: pretty, with a newline at the end.
        with open(os.path.join(dir, f"{rid}.json"), "w") as f:
            json.dump(sidecar, f, indent=2)
            f.write('\n')
        places.append((sidecar["started_at"], rid))
    # Each recording's place in the library's order (newest first), as a page's cursor.
    return [f"{t}~{rid}" for t, rid in sorted(places, reverse=True)]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--count', type=int, default=2000)
    ap.add_argument('--bin', default=os.environ.get('PODIUM_BIN', 'target/release/podium'))
    ap.add_argument('--page', action='store_true', help='also time the library page in Chromium')
    args = ap.parse_args()
    # A free port, asked of the system.
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        args.port = probe.getsockname()[1]
    dir = tempfile.mkdtemp(prefix='podium-library-')
    try:
        places = sidecars(dir, args.count)
        server = subprocess.Popen([args.bin, 'serve', '--listen', f'127.0.0.1:{args.port}', '--rtc-port', '0', '--recordings-dir', dir], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            url = f'http://127.0.0.1:{args.port}/api/recordings'
            for _ in range(100):
                if server.poll() is not None:
                    raise SystemExit(f"podium serve exited with {server.returncode}: run it by hand to see why")
                try:
                    urllib.request.urlopen(f'http://127.0.0.1:{args.port}/api/health'); break
                except OSError:
                    time.sleep(0.1)
            else:
                raise SystemExit("podium serve did not answer /api/health within 10 s")
            def rss_mb():
                with open(f'/proc/{server.pid}/status') as f:
                    return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024
            print(f"{args.count} hour-long recordings; GET /api/recordings (server RSS before: {rss_mb():.0f} MB); pages first, on a fresh server, then the whole list:")
            # A page at a time, as the library page asks: the first, one from the middle
            # (after the 1000th), and a search (one room of 20, then a name in every one).
            def timed(query, encoding='gzip'):
                runs = []
                for _ in range(5):
                    start = time.monotonic()
                    with urllib.request.urlopen(urllib.request.Request(f"{url}?{query}", headers={'Accept-Encoding': encoding})) as r:
                        body, headers = r.read(), r.headers
                    runs.append(time.monotonic() - start)
                return sorted(runs)[2], len(body), headers
            _, _, headers = timed('limit=100')
            # A build from before paging answers the whole list to every query.
            pages = [] if headers.get('Link') is None else [
                ('first 100', 'limit=100'),
                ('100 after the 1000th', 'limit=100&' + urllib.parse.urlencode({'after': places[min(999, len(places) - 1)]})),
                ('search: a room', 'q=room3&limit=100'), ('search: a name', 'q=eve&limit=100')]
            print("  a page (gzip), median of 5:" if pages else "  this build does not page (no next link)")
            for label, query in pages:
                took, size, headers = timed(query)
                print(f"    {label:22} {size / 1e3:7.1f} kB in {took * 1000:5.0f} ms (matches {headers['X-Total-Count']} of {headers['X-Library-Count']}), server RSS after: {rss_mb():.0f} MB")
            print(f"  the whole list (no query), median of 5:")
            for encoding in ['identity', 'gzip']:
                runs = []
                for n in range(5):
                    start = time.monotonic()
                    with urllib.request.urlopen(urllib.request.Request(url, headers={'Accept-Encoding': encoding})) as r:
                        body = r.read()
                        got = r.headers.get('Content-Encoding', 'identity')
                    runs.append(time.monotonic() - start)
                    if encoding == 'identity' and n == 0:
                        runs_first = runs[0]
                runs.sort()
                print(f"  {encoding:8} -> {got:8} {len(body) / 1e6:6.1f} MB in {runs[2]:.2f} s (first {runs_first:.2f} s), server RSS after: {rss_mb():.0f} MB" if encoding == 'identity' else f"  {encoding:8} -> {got:8} {len(body) / 1e6:6.1f} MB in {runs[2]:.2f} s, server RSS after: {rss_mb():.0f} MB")
            if args.page:
                page = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'library-page.mjs')
                subprocess.run(['node', page, f'http://127.0.0.1:{args.port}'], check=True)
        finally:
            server.terminate(); server.wait()
    finally:
        shutil.rmtree(dir)

if __name__ == '__main__':
    main()
