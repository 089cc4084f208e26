#!/usr/bin/env python3
"""What one host of a room can do to the library, on a real secured `podium serve`:
11 recordings in their room, 5000 in another (and one there with a 3.6 MB sidecar).
Times `GET /api/recordings?limit=1` as the host alone, and as an admin while the host
loops on it 32 at a time; and the host's 404 for the other room's big recording
against one for no recording (they must not tell the two apart). Each BIN in turn.

    python3 tools/bench/library-host.py BIN [BIN ...]
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, threading, time, urllib.request, socket

def main(bin):
    d = tempfile.mkdtemp(prefix='podium-probe-')
    def write(rid, room, turns=2):
        s = {"version": 1, "id": rid, "room": room, "status": "finished", "started_at": f"2026-12-01T{int(rid[9:11]):02d}:00:00.000Z",
             "duration_ms": 9000, "width": 1280, "height": 720, "fps": 30, "participants": [{"participant_id": "a", "name": "Ada"}],
             "timeline": [{"start_ms": i * 10, "end_ms": i * 10 + 10, "participant_id": "a", "name": "Ada"} for i in range(turns)],
             "layout": "speaker", "layout_changes": [], "screen_shares": [], "quality_steps": []}
        with open(os.path.join(d, f"{rid}.json"), "w") as f: json.dump(s, f)
    for i in range(11): write(f"20261201-{i:02d}0000-a{i:05d}", "rooma")
    for i in range(5000): write(f"20261130-{i % 24:02d}0000-b{i:05d}", "roomb")
    write("20261201-120000-bigbig", "roomb", turns=40000)
    with socket.socket() as p:
        p.bind(('127.0.0.1', 0)); port = p.getsockname()[1]
    env = dict(os.environ, PODIUM_SECRET="x" * 48)
    srv = subprocess.Popen([bin, 'serve', '--listen', f'127.0.0.1:{port}', '--rtc-port', '0', '--recordings-dir', d], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tok = lambda *a: json.loads(subprocess.check_output([bin, 'token', '--json', *a], env=env))['token']
    host, admin = tok('--room', 'rooma', '--role', 'host', '--name', 'H'), tok('--role', 'admin')
    base = f'http://127.0.0.1:{port}'
    for _ in range(200):
        try: urllib.request.urlopen(base + '/api/health'); break
        except OSError: time.sleep(0.1)
    def get(path, token):
        t = time.perf_counter()
        try: urllib.request.urlopen(urllib.request.Request(base + path, headers={'Authorization': f'Bearer {token}'})).read()
        except urllib.error.HTTPError as e: e.read()
        return (time.perf_counter() - t) * 1000
    # The folder's time is trusted once 2.1 s old (server/src/recording/store.rs).
    time.sleep(2.5)
    get('/api/recordings?limit=1', admin)
    alone = statistics.median(get('/api/recordings?limit=1', host) for _ in range(50))
    big = statistics.median(get('/api/recordings/20261201-120000-bigbig', host) for _ in range(30))
    missing = statistics.median(get('/api/recordings/20261201-120000-nonono', host) for _ in range(30))
    stop = False
    def loop():
        while not stop: get('/api/recordings?limit=1', host)
    threads = [threading.Thread(target=loop) for _ in range(32)]
    for t in threads: t.start()
    time.sleep(1)
    loaded = statistics.median(get('/api/recordings?limit=1', admin) for _ in range(10))
    stop = True
    for t in threads: t.join()
    srv.terminate(); srv.wait(); shutil.rmtree(d)
    print(f"{bin}: host ?limit=1 alone {alone:.1f} ms; admin ?limit=1 while a host loops 32 at once {loaded:.1f} ms; host's 404: another room's big recording {big:.2f} ms, no recording {missing:.2f} ms")

for b in sys.argv[1:]: main(b)
