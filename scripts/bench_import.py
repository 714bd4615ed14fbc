"""End-to-end import benchmark: samples/s from the text import endpoint to
queryable, mcs (1 and 2 collectors) against VictoriaMetrics' own
/api/v1/import/prometheus on the same payload in the same run.

The payload: node_exporter-like series (SERIES series, BODIES bodies, each
body one timestamp for every series). Both systems get the same bodies from
the same number of concurrent keep-alive clients. The clock stops when every
push was acknowledged and the last body's samples answer a query.

Prints one line per system and the ratio mcs/VictoriaMetrics.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import Mcs, VictoriaMetrics  # noqa: E402
import bench_push  # noqa: E402

SERIES = int(os.environ.get("BENCH_SERIES", "20000"))
BODIES = int(os.environ.get("BENCH_BODIES", "100"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "4"))
MODES = ["cpu_seconds_total", "memory_bytes", "network_receive_bytes_total", "disk_read_bytes_total"]


def make_bodies(base_ms):
    bodies = []
    for b in range(BODIES):
        ts = base_ms + b * 15000
        out = []
        for s in range(SERIES):
            fam = MODES[s % len(MODES)]
            v = (s * 7 + b * 13) % 100000 / 10.0
            out.append('node_%s{instance="host%03d:9100",job="node",cpu="%d",mode="m%d"} %s %d\n'
                       % (fam, s // 200, s % 16, s % 200 // 16, v, ts))
        bodies.append("".join(out).encode())
    return bodies


def push_all(port, path, bodies):
    """Every body pushed until acknowledged (bench_push's client pool);
    returns the bodies never acknowledged."""
    errors, _ = bench_push.push_all(port, path, {}, bodies)
    return errors


def query_points(port, q, t):
    """(series, points) of a range-selector query at time t."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": "%.3f" % t}))
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        return -1, -1
    res = json.loads(data)["data"]["result"]
    return len(res), sum(len(x.get("values", [])) for x in res)


CPU_SERIES = len([s for s in range(SERIES) if s % len(MODES) == 0])


def wait_visible(port, last_ts_ms, deadline_s=120):
    # Every series of the family has its sample of the last body, exactly at last_ts.
    q = 'node_cpu_seconds_total{job="node"}[1s]'
    t_end = time.time() + deadline_s
    while time.time() < t_end:
        n, _ = query_points(port, q, last_ts_ms / 1000.0)
        if n >= CPU_SERIES:
            return True
        time.sleep(0.02)
    return False


def verify_all(name, port, last_ts_ms):
    """Untimed: every sample of the family is stored, exactly once."""
    n, pts = query_points(port, 'node_cpu_seconds_total{job="node"}[2h]', last_ts_ms / 1000.0 + 1)
    want = CPU_SERIES * BODIES
    print("%s: verification %d series, %d points (want %d, %d) %s"
          % (name, n, pts, CPU_SERIES, want, "OK" if (n, pts) == (CPU_SERIES, want) else "MISMATCH"))


def bench_mcs(bodies, base_ms, collectors):
    m = Mcs(collectors=collectors, aggregators=2, alerters=1, apiservers=1,
            config={"self_scrape": {"enabled": False, "node": False}, "rings": {"sample_bytes": 67108864}})
    try:
        m.start()
        t0 = time.time()
        errs = push_all(m.push_port, "/api/v1/import/prometheus", bodies)
        ok = wait_visible(m.api_port, base_ms + (BODIES - 1) * 15000)
        dt = time.time() - t0
        if errs or not ok:
            print("mcs: push errors %s visible %s" % (errs[:5], ok))
        verify_all("mcs(%d)" % collectors, m.api_port, base_ms + (BODIES - 1) * 15000)
        return dt
    finally:
        m.cleanup()


def bench_vm(bodies, base_ms):
    if not VictoriaMetrics.available():
        return None
    with VictoriaMetrics() as vm:
        t0 = time.time()
        errs = push_all(vm.port, "/api/v1/import/prometheus", bodies)
        ok = wait_visible(vm.port, base_ms + (BODIES - 1) * 15000)
        dt = time.time() - t0
        if errs or not ok:
            print("victoria-metrics: push errors %s visible %s" % (errs[:5], ok))
        verify_all("victoria-metrics", vm.port, base_ms + (BODIES - 1) * 15000)
        return dt


def main():
    base_ms = (int(time.time()) - 7200) * 1000
    base_ms -= base_ms % 15000
    bodies = make_bodies(base_ms)
    n = SERIES * BODIES
    print("import benchmark: %d series x %d bodies = %d samples, %d clients, %.1f MB of text"
          % (SERIES, BODIES, n, CLIENTS, sum(len(b) for b in bodies) / 1e6))
    vm = bench_vm(bodies, base_ms)
    res = {}
    for coll in (1, 2):
        res[coll] = bench_mcs(bodies, base_ms, coll)
    if vm:
        print("victoria-metrics          : %10.0f samples/s (%.2fs)" % (n / vm, vm))
    for coll, dt in res.items():
        line = "mcs, %d collector(s)      : %10.0f samples/s (%.2fs)" % (coll, n / dt, dt)
        if vm:
            line += "   ratio mcs/VictoriaMetrics = %.2f" % (vm / dt)
        print(line)


if __name__ == "__main__":
    main()
