"""The measuring side of scripts/soak-monitors.sh (standard library only).

Creates one monitor per publisher port, reads each monitor's event stream
on a thread, samples the server's resident memory (/proc) and each
monitor's lag (/metrics) every 10 s, and prints a JSON summary: lag (max
and 99th percentile of the samples) against the analysis period, memory
at the end against the first sample after the first minute, and events
stored but never received live (dropped).
"""
import json
import sys
import threading
import time
import urllib.request

url, token, pid, minutes, fps = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
ports = sys.argv[6:]
auth = {"Authorization": f"Bearer {token}"}


def call(method, path, body=None):
    data, headers = None, dict(auth)
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


received = {}


def listen(monitor):
    req = urllib.request.Request(f"{url}/v1/monitors/{monitor}/events/stream?after=0", headers=auth)
    with urllib.request.urlopen(req, timeout=60) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("data:"):
                event = json.loads(line[5:])
                received[monitor].add(event["seq"])


def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def lags():
    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    return [float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("facekit_monitor_lag_seconds{")]


monitors = []
for i, port in enumerate(ports):
    view = call("POST", "/v1/monitors", {
        "name": f"soak {i}", "source": f"http://127.0.0.1:{port}/cam", "collection": "staff",
        "analysis_fps": fps,
        "policy": {"confirm_frames": 2, "absence_secs": 2, "cooldown_secs": 0, "unknown_events": True},
    })
    monitors.append(view["id"])
    received[view["id"]] = set()
    threading.Thread(target=listen, args=(view["id"],), daemon=True).start()

started = time.time()
samples = []
while time.time() - started < minutes * 60:
    time.sleep(10)
    samples.append({"t": round(time.time() - started), "rss_mib": round(rss_mib(), 1), "lag_s": lags()})
    print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
time.sleep(3)  # the last events reach the listeners

stored, dropped, per_kind = 0, 0, {}
for monitor in monitors:
    after, seqs = 0, []
    while True:
        page = call("GET", f"/v1/monitors/{monitor}/events?after={after}&limit=1000")["events"]
        if not page:
            break
        for e in page:
            per_kind[e["kind"]] = per_kind.get(e["kind"], 0) + 1
        seqs += [e["seq"] for e in page]
        after = page[-1]["seq"]
    stored += len(seqs)
    dropped += len(set(seqs) - received[monitor])
status = call("GET", "/v1/monitors")["monitors"]
period = 1 / fps
all_lags = sorted(l for s in samples for l in s["lag_s"])
baseline = next((s["rss_mib"] for s in samples if s["t"] >= 60), samples[0]["rss_mib"])
print(json.dumps({
    "monitors": len(monitors), "fps": fps, "minutes": minutes,
    "analysis_period_s": period,
    "lag_max_s": max(all_lags), "lag_p99_s": all_lags[int(0.99 * (len(all_lags) - 1))],
    "lag_under_one_period": max(all_lags) < period,
    "rss_after_1_min_mib": baseline, "rss_end_mib": samples[-1]["rss_mib"],
    "rss_change": round(samples[-1]["rss_mib"] / baseline - 1, 3),
    "events_stored": stored, "events_dropped": dropped, "events_by_kind": per_kind,
    "frames_analysed": sum(m["status"]["frames_analysed"] for m in status),
    "frames_dropped_before_analysis": sum(m["status"]["frames_dropped"] for m in status),
    "reconnects": sum(m["status"]["reconnects"] for m in status),
}))
