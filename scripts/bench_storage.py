"""Storage benchmark, mcs side by side with VictoriaMetrics in the same run
(issue 4): realistic node_exporter-like data (bin/tools/nodegen: 10,000
series x 720 samples at 15 s, counters with decimals, integer gauges,
constants, shared scrape jitter), sent to both as Prometheus remote write.

Prints, each as mcs value, VictoriaMetrics value and ratio:
- ingestion with the WAL on: samples/s from the first request to the last
  sample queryable;
- memory: resident bytes per active series after the ingest (all mcs stage
  processes vs the victoria-metrics process);
- bytes per sample on disk after a flush (mcs: POST
  /api/v1/admin/tsdb/flush; VictoriaMetrics: /internal/force_flush, then a
  settle wait), the whole data directory, against the raw 16 bytes/sample;
- replay: seconds for an aggregator killed with SIGKILL to serve again with
  REPLAY_SERIES active series in its head (mcs only: VictoriaMetrics has no
  such step).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import http.client
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Mcs, VictoriaMetrics  # noqa: E402
import bench_push  # noqa: E402

SERIES = int(os.environ.get("BENCH_SERIES", "10000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "720"))
PER_REQ = 2000
REPLAY_SERIES = int(os.environ.get("BENCH_REPLAY_SERIES", "1000000"))
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def gen(series, samples, base_ms):
    d = tempfile.mkdtemp(prefix="nodegen-")
    subprocess.run([os.path.join(BIN, "tools", "nodegen"), d, str(series), str(samples), str(PER_REQ), str(base_ms)],
                   check=True, capture_output=True)
    bodies = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            bodies.append(f.read())
    shutil.rmtree(d, ignore_errors=True)
    return bodies


def count_points(port, t_s):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("GET", "/api/v1/query?" + urllib.parse.urlencode(
        {"query": '{job="node"}[1d]', "time": "%.3f" % t_s}))
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        return -1, -1
    res = json.loads(data)["data"]["result"]
    return len(res), sum(len(x["values"]) for x in res)


def wait_last(port, last_ms, deadline_s=300):
    """Until the last sample of series 0 and of the last series is there."""
    t_end = time.time() + deadline_s
    while time.time() < t_end:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/api/v1/query?" + urllib.parse.urlencode(
            {"query": '{job="node",instance="host0000:9100"}[1s]',
             "time": "%.3f" % ((last_ms + 10) / 1000.0)}))
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status == 200 and len(json.loads(data)["data"]["result"]) >= min(100, SERIES):
            return True
        time.sleep(0.05)
    return False


def rss_bytes(pids):
    """Proportional set size summed over pids: pages shared by several
    processes (mcs's shared-memory rings) count once in all, not once per
    process that touched them."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def anon_bytes(pids):
    """Private anonymous memory (RssAnon): the aggregators' own data, without
    the shared rings and the mapped binaries."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for n in files:
            try:
                total += os.path.getsize(os.path.join(root, n))
            except OSError:
                pass
    return total


def mcs_pids(m):
    out = []
    for stage in ("collector", "aggregator", "alerter", "apiserver"):
        for i in range(4):
            out += m.stage_pids(stage, i)
    return out


def bench_mcs(bodies, last_ms):
    m = Mcs(collectors=1, aggregators=2, config={"self_scrape": {"enabled": False, "node": False}})
    try:
        m.start()
        t0 = time.time()
        errs, _ = bench_push.push_all(m.push_port, "/api/v1/write", HEADERS, bodies)
        ok = wait_last(m.api_port, last_ms)
        ingest = time.time() - t0
        rss = rss_bytes(mcs_pids(m))
        heap = anon_bytes(m.stage_pids("aggregator", 0) + m.stage_pids("aggregator", 1))
        n, pts = count_points(m.api_port, last_ms / 1000.0 + 1)
        st, _, data = m.api.request("POST", "/api/v1/admin/tsdb/flush")
        flushed = st == 200
        time.sleep(1)
        n2, pts2 = count_points(m.api_port, last_ms / 1000.0 + 1)
        disk = du(m.dir) - du(os.path.join(m.dir, "run"))
        st, js = m.api.get_json("/api/v1/status/tsdb")
        tiers = js.get("data", {}).get("mcs", {}).get("tiers") if st == 200 else None
        return {"ingest_s": ingest, "ok": ok and not errs, "rss": rss, "heap": heap, "series": n, "points": pts,
                "points_after_flush": pts2, "flushed": flushed, "flush_reply": data[:300], "disk": disk,
                "tiers": tiers}
    finally:
        m.cleanup()


def bench_vm(bodies, last_ms):
    if not VictoriaMetrics.available():
        return None
    with VictoriaMetrics() as vm:
        t0 = time.time()
        errs, _ = bench_push.push_all(vm.port, "/api/v1/write", HEADERS, bodies)
        ok = wait_last(vm.port, last_ms)
        ingest = time.time() - t0
        rss = rss_bytes([vm.pid])
        n, pts = count_points(vm.port, last_ms / 1000.0 + 1)
        c = http.client.HTTPConnection("127.0.0.1", vm.port, timeout=120)
        c.request("GET", "/internal/force_flush")
        c.getresponse().read()
        time.sleep(10)  # let the background merges of the flushed parts settle
        disk = du(vm.dir)
        return {"ingest_s": ingest, "ok": ok and not errs, "rss": rss, "series": n, "points": pts, "disk": disk}


def bench_replay(base_ms):
    """Head of REPLAY_SERIES series (2 samples each) in one aggregator; kill
    it; seconds until it serves again, and its own replay figure."""
    bodies = gen(REPLAY_SERIES, 2, base_ms)
    m = Mcs(collectors=1, aggregators=1, config={"self_scrape": {"enabled": False, "node": False},
                                                  "rings": {"sample_bytes": 67108864}})
    try:
        m.start()
        errs, _ = bench_push.push_all(m.push_port, "/api/v1/write", HEADERS, bodies)
        time.sleep(2)
        pid = m.stage_pids("aggregator", 0)[0]
        t0 = time.time()
        os.kill(pid, signal.SIGKILL)
        new = m.wait_stage_pid("aggregator", 0, not_pid=pid, timeout=10)
        m.wait_ready(timeout=600)
        took = time.time() - t0
        line = [ln for ln in m.tail_log(400).splitlines() if "WAL replayed" in ln]
        return took, (line[-1].split(": ", 1)[-1] if line else "?"), not errs and new
    finally:
        m.cleanup()


def main():
    base_ms = (int(time.time()) - 4 * 3600) * 1000
    base_ms -= base_ms % 15000
    last_ms = base_ms + (SAMPLES - 1) * 15000
    bodies = gen(SERIES, SAMPLES, base_ms)
    n = SERIES * SAMPLES
    print("storage benchmark: %d series x %d samples = %d samples (node_exporter-like), %d remote-write requests"
          % (SERIES, SAMPLES, n, len(bodies)))
    vm = bench_vm(bodies, last_ms)
    mc = bench_mcs(bodies, last_ms)
    print("checks: mcs %d series %d points (after flush %d), flush %s; VictoriaMetrics %s"
          % (mc["series"], mc["points"], mc["points_after_flush"], "ok" if mc["flushed"] else mc["flush_reply"],
             "%d series %d points" % (vm["series"], vm["points"]) if vm else "not installed"))

    def row(what, a, b, fmt, better):
        line = "%-34s mcs %s" % (what, fmt % a)
        if b is not None:
            line += "   VictoriaMetrics %s   ratio mcs/VM %.2f (%s is better)" % (fmt % b, a / b if b else 0, better)
        print(line)

    row("ingestion, WAL on (samples/s)", n / mc["ingest_s"], n / vm["ingest_s"] if vm else None, "%10.0f", "higher")
    row("memory per active series (bytes)", mc["rss"] / SERIES, vm["rss"] / SERIES if vm else None, "%10.0f", "lower")
    print("  (PSS of every mcs process, shared rings counted once, vs the victoria-metrics process;")
    print("   the mcs aggregators' own heap is %.0f bytes/series: the rest is fixed cost, rings and binaries)"
          % (mc["heap"] / SERIES))
    row("disk bytes per sample after flush", mc["disk"] / n, vm["disk"] / n if vm else None, "%10.3f", "lower")
    print("%-34s mcs %10.3f   vs raw 16 bytes/sample: %.1fx smaller" % ("", mc["disk"] / n, 16 / (mc["disk"] / n)))
    if mc["tiers"]:
        raw = mc["tiers"].get("raw", {}).get("bytes", 0)
        row("raw tier only, bytes per sample", raw / n, vm["disk"] / n if vm else None, "%10.3f", "lower")
        print("  (the whole-directory figure above includes the 5m and 1h downsampling tiers, which")
        print("   VictoriaMetrics' open-source single node does not keep; per tier: %s)" % json.dumps(mc["tiers"]))
    if REPLAY_SERIES > 0:
        took, line, ok = bench_replay(base_ms)
        print("%-34s %.1f s to serve again after SIGKILL with %d active series (%s)%s"
              % ("replay", took, REPLAY_SERIES, line, "" if ok else " [push errors]"))


if __name__ == "__main__":
    main()
