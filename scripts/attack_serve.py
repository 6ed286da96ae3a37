"""Hostile-load checks of `facekit serve` on loopback (bounded in count and
time; run by scripts/attack-serve.sh, which starts the server).

attack: 100 concurrent 15 MiB bodies with a key and 100 without, then 200
slow-loris connections at 1 byte/s for 30 s; meanwhile /healthz is timed
and real detect requests are sent. Passes when the server's peak memory
stays under 500 MB, every slow connection is closed by the server, the
/healthz p99 is under 100 ms and real requests get only 200 or 503.

soak MINUTES: detect at concurrency 8; passes when the server's memory at
the end is within 10 % of its memory after the first minute.

Prints one JSON line of figures; exits 1 when a check fails.
"""

import json
import multiprocessing
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

HOST, PORT = sys.argv[1].split(":")
PORT = int(PORT)
PID = int(sys.argv[2])
TOKEN = sys.argv[3]
PHOTO = open(sys.argv[4], "rb").read()
MODE = sys.argv[5]


def rss_mb(field="VmRSS"):
    for line in open(f"/proc/{PID}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def request(path, body=None, token=TOKEN, content_type="image/jpeg", timeout=60):
    req = urllib.request.Request(f"http://{HOST}:{PORT}{path}", data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (ConnectionError, socket.timeout, urllib.error.URLError):
        return "reset"


def _health_loop(stop, results):
    times, failures = [], 0
    while not stop.is_set():
        started = time.monotonic()
        if request("/healthz", token=None, timeout=10) != 200:
            failures += 1
        times.append(time.monotonic() - started)
        if len(times) % 20 == 0:
            results.put((times, failures))
            times = []
        time.sleep(0.05)
    results.put((times, failures))


class Health:
    """Times /healthz every 50 ms in a process of its own (the attack's
    threads would otherwise delay it in this one), until stopped."""

    def __init__(self):
        self.stop, self.results = multiprocessing.Event(), multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_health_loop, args=(self.stop, self.results), daemon=True)
        self.times, self.failures = [], 0

    def start(self):
        self.process.start()

    def collect(self):
        while not self.results.empty():
            times, failures = self.results.get()
            self.times += times
            self.failures = max(self.failures, failures)

    def finish(self):
        self.stop.set()
        self.process.join(timeout=30)
        self.collect()

    def p99_ms(self):
        self.collect()
        t = sorted(self.times)
        return 1000 * t[min(len(t) - 1, int(len(t) * 0.99))] if t else None


def big_body(token, statuses):
    """Sends a 15 MiB body as fast as loopback takes it."""
    body = b"\xff\xd8" + bytes(15 * 1024 * 1024 - 2)
    statuses.append(request("/v1/detect", body, token=token))


def slow_loris(closed, duration):
    """Sends a request's headers at 1 byte/s; records whether the server closed it."""
    s = socket.create_connection((HOST, PORT))
    head = b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n" + b"X-Pad: " + b"a" * 200
    started = time.monotonic()
    try:
        for byte in head:
            if time.monotonic() - started > duration:
                break
            s.sendall(bytes([byte]))
            s.settimeout(1.0)
            try:
                if s.recv(1) == b"":
                    closed.append(time.monotonic() - started)
                    return
            except socket.timeout:
                pass
            except ConnectionError:
                closed.append(time.monotonic() - started)
                return
    except (BrokenPipeError, ConnectionError):
        closed.append(time.monotonic() - started)
        return
    finally:
        s.close()


def attack():
    baseline = rss_mb()
    health = Health()
    health.start()
    real = []
    # Bodies with and without a key, with real requests among them.
    statuses = []
    threads = [threading.Thread(target=big_body, args=(TOKEN if i % 2 == 0 else None, statuses)) for i in range(200)]
    threads += [threading.Thread(target=lambda: real.append(request("/v1/detect", PHOTO))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    bodies_health = health.p99_ms()
    # Slow loris.
    closed = []
    loris = [threading.Thread(target=slow_loris, args=(closed, 30)) for _ in range(200)]
    for t in loris:
        t.start()
    time.sleep(5)
    real += [request("/v1/detect", PHOTO) for _ in range(5)]
    for t in loris:
        t.join(timeout=60)
    health.finish()
    peak = rss_mb("VmHWM")
    figures = {
        "mode": "attack",
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak, 1),
        "big_body_statuses": {str(k): statuses.count(k) for k in set(statuses)},
        "real_statuses": {str(k): real.count(k) for k in set(real)},
        "slow_connections_closed": len(closed),
        "slow_closed_after_s_max": round(max(closed), 1) if closed else None,
        "healthz_p99_ms": round(health.p99_ms(), 1),
        "healthz_p99_ms_during_bodies": round(bodies_health, 1) if bodies_health else None,
        "healthz_probes": len(health.times),
        "healthz_failures": health.failures,
    }
    checks = {
        "peak_under_500_mb": peak < 500,
        "slow_connections_closed": len(closed) == 200,
        "healthz_p99_under_100_ms": health.p99_ms() < 100 and bodies_health < 100 and health.failures == 0,
        "real_requests_200_or_503": all(s in (200, 503) for s in real),
        "no_5xx_but_503": all(s in (200, 401, 413, 422, 503, "reset") for s in statuses),
    }
    return figures, checks


def soak(minutes):
    stop = threading.Event()
    counts = {}

    def worker():
        while not stop.is_set():
            s = request("/v1/detect", PHOTO)
            counts[s] = counts.get(s, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(60)
    after_first = rss_mb()
    time.sleep(max(0, minutes * 60 - 60))
    stop.set()
    for t in threads:
        t.join(timeout=60)
    end = rss_mb()
    figures = {
        "mode": "soak",
        "minutes": minutes,
        "rss_after_1_min_mb": round(after_first, 1),
        "rss_at_end_mb": round(end, 1),
        "growth": round(end / after_first - 1, 3),
        "statuses": {str(k): v for k, v in counts.items()},
    }
    checks = {"memory_within_10_percent": abs(end / after_first - 1) <= 0.10, "only_200": set(counts) == {200}}
    return figures, checks


figures, checks = attack() if MODE == "attack" else soak(float(sys.argv[6]))
figures["checks"] = checks
print(json.dumps(figures))
sys.exit(0 if all(checks.values()) else 1)
