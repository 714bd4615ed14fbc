"""Push benchmark: samples/s through a push protocol into mcs (1 and 2
collectors), against VictoriaMetrics' endpoint for the same protocol on the
same payload, in the same run.

Protocols (PAYLOADS below; each entry is a name, the path, the request
headers, a function that makes the bodies and the VictoriaMetrics peer):
- remote write 1.0: snappy'd prometheus.WriteRequest bodies made by
  bin/tools/rw_gen (C, real snappy compression, exactly what Prometheus
  sends), POSTed to /api/v1/write.
- OTLP protobuf: the same samples as uncompressed OTLP/HTTP
  ExportMetricsServiceRequest bodies made by bin/tools/otlp_gen (gauges,
  one resource per instance with service.name="node" -> job and
  service.instance.id -> instance, attributes cpu and mode), POSTed to
  mcs's /v1/metrics. VictoriaMetrics 1.79 has no OTLP receiver, so its
  peer is VictoriaMetrics' remote-write figure from the same run (the
  PAYLOADS entry names the payload whose VictoriaMetrics run it borrows).

The payload: SERIES node_exporter-like series x SAMPLES samples (15 s
apart), in requests of SERIES_PER_REQ series x SAMPLES_PER_REQ samples,
time-block major. CLIENTS concurrent keep-alive clients share the requests.
The clock starts at the first request and stops when every request was
acknowledged (2xx; 503/429 are retried) and the last block's samples answer
a query. Then, untimed, every sample is counted.

Prints one line per system and protocol and the ratio mcs/VictoriaMetrics.
Environment: BENCH_SERIES, BENCH_SAMPLES, BENCH_CLIENTS, BENCH_SERIES_PER_REQ,
BENCH_SAMPLES_PER_REQ.
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from harness import BIN, Mcs, VictoriaMetrics  # noqa: E402

SERIES = int(os.environ.get("BENCH_SERIES", "20000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "100"))
SERIES_PER_REQ = int(os.environ.get("BENCH_SERIES_PER_REQ", "1000"))
SAMPLES_PER_REQ = int(os.environ.get("BENCH_SAMPLES_PER_REQ", "10"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
STEP_MS = 15000
CPU_SERIES = len([s for s in range(SERIES) if s % 4 == 0])  # node_cpu_seconds_total, as rw_gen names them


def gen_bodies(tool, base_ms, tmp):
    """Bodies written by bin/tools/<tool> (rw_gen's arguments), in send order."""
    d = os.path.join(tmp, tool)
    os.makedirs(d)
    out = subprocess.run([os.path.join(BIN, "tools", tool), d, str(SERIES), str(SAMPLES), str(SERIES_PER_REQ),
                          str(SAMPLES_PER_REQ), str(base_ms), str(STEP_MS)],
                         capture_output=True, text=True, check=True).stdout.strip()
    bodies = []
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            bodies.append(f.read())
    return bodies, out


def rw_bodies(base_ms, tmp):
    """Remote write 1.0 bodies from bin/tools/rw_gen."""
    return gen_bodies("rw_gen", base_ms, tmp)


def otlp_bodies(base_ms, tmp):
    """OTLP/HTTP protobuf bodies from bin/tools/otlp_gen."""
    return gen_bodies("otlp_gen", base_ms, tmp)


# (name, path, headers, body maker, VictoriaMetrics peer): the peer is None
# when VictoriaMetrics takes the same payload at the same path, else the
# name of an earlier entry whose VictoriaMetrics figure is the reference.
PAYLOADS = [
    ("remote write 1.0", "/api/v1/write",
     {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
      "X-Prometheus-Remote-Write-Version": "0.1.0"}, rw_bodies, None),
    ("OTLP protobuf", "/v1/metrics", {"Content-Type": "application/x-protobuf"}, otlp_bodies,
     "remote write 1.0"),
]


def push_all(port, path, headers, bodies):
    """Sends every body once acknowledged; returns (indexes never acknowledged,
    status counts)."""
    errors = []
    codes = {}
    idx = {"next": 0}
    lock = threading.Lock()

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                i = idx["next"]
                idx["next"] += 1
            if i >= len(bodies):
                break
            for _ in range(200):
                try:
                    c.request("POST", path, body=bodies[i], headers=headers)
                    r = c.getresponse()
                    r.read()
                    with lock:
                        codes[r.status] = codes.get(r.status, 0) + 1
                    if r.status in (200, 204):
                        break
                    if r.status not in (429, 503):
                        errors.append((i, r.status))
                        break
                    time.sleep(0.05)
                except OSError:
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            else:
                errors.append((i, "gave up"))
        c.close()

    ts = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors, codes


def query_points(port, q, t):
    """(series, points) of a range-selector query at time t."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": "%.3f" % t}))
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        if not query_points.complained:
            print("query %s answered %d: %s" % (q, r.status, data[:300]))
            query_points.complained = True
        return -1, -1
    res = json.loads(data)["data"]["result"]
    return len(res), sum(len(x.get("values", [])) for x in res)


query_points.complained = False


def wait_visible(port, last_ts_ms, deadline_s=120):
    """Every series of the cpu family has its sample of the last block."""
    q = 'node_cpu_seconds_total{job="node"}[1s]'
    t_end = time.time() + deadline_s
    while time.time() < t_end:
        n, _ = query_points(port, q, last_ts_ms / 1000.0)
        if n >= CPU_SERIES:
            return True
        time.sleep(0.02)
    return False


def verify_all(name, port, last_ts_ms):
    n, pts = query_points(port, 'node_cpu_seconds_total{job="node"}[%ds]' % (SAMPLES * STEP_MS // 1000 + 60),
                          last_ts_ms / 1000.0 + 1)
    want = CPU_SERIES * SAMPLES
    ok = (n, pts) == (CPU_SERIES, want)
    print("%s: verification %d series, %d points (want %d, %d) %s"
          % (name, n, pts, CPU_SERIES, want, "OK" if ok else "MISMATCH"))
    return ok


def run_one(name, push_port, query_port, path, headers, bodies, last_ts_ms):
    t0 = time.time()
    errs, codes = push_all(push_port, path, headers, bodies)
    t_acked = time.time() - t0
    ok = wait_visible(query_port, last_ts_ms)
    dt = time.time() - t0
    print("%s: all acknowledged after %.2fs, last block queryable after %.2fs (responses %s)"
          % (name, t_acked, dt, codes))
    if errs or not ok:
        print("%s: push errors %s visible %s codes %s" % (name, errs[:5], ok, codes))
    verify_all(name, query_port, last_ts_ms)
    return dt


def bench_mcs(name, path, headers, bodies, last_ts_ms, collectors):
    m = Mcs(collectors=collectors, aggregators=2, alerters=1, apiservers=1,
            config={"self_scrape": {"enabled": False, "node": False}, "rings": {"sample_bytes": 67108864}})
    try:
        m.start()
        return run_one("mcs(%d) %s" % (collectors, name), m.push_port, m.api_port, path, headers, bodies, last_ts_ms)
    finally:
        m.cleanup()


def bench_vm(name, path, headers, bodies, last_ts_ms):
    if not VictoriaMetrics.available():
        return None
    with VictoriaMetrics() as vm:
        return run_one("victoria-metrics %s" % name, vm.port, vm.port, path, headers, bodies, last_ts_ms)


def main():
    base_ms = (int(time.time()) - 7200) * 1000
    base_ms -= base_ms % STEP_MS
    last_ts_ms = base_ms + (SAMPLES - 1) * STEP_MS
    n = SERIES * SAMPLES
    lines = []
    vm_times = {}
    tmp = tempfile.mkdtemp(prefix="bench-push-")
    try:
        for name, path, headers, make, peer in PAYLOADS:
            bodies, desc = make(base_ms, tmp)
            print("push benchmark, %s: %d series x %d samples = %d samples in %d requests (%s), %d clients"
                  % (name, SERIES, SAMPLES, n, len(bodies), desc, CLIENTS))
            if peer is None:
                vm = vm_times[name] = bench_vm(name, path, headers, bodies, last_ts_ms)
                if vm:
                    lines.append("%-18s victoria-metrics     : %10.0f samples/s (%.2fs)" % (name, n / vm, vm))
            else:
                vm = vm_times.get(peer)
            res = {coll: bench_mcs(name, path, headers, bodies, last_ts_ms, coll) for coll in (1, 2)}
            for coll, dt in res.items():
                line = "%-18s mcs, %d collector(s) : %10.0f samples/s (%.2fs)" % (name, coll, n / dt, dt)
                if vm:
                    line += "   ratio mcs/VictoriaMetrics%s = %.2f" % (" " + peer if peer else "", vm / dt)
                lines.append(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
