"""PromQL benchmark, mcs side by side with a real Prometheus in the same run
(issue 5, "Benchmarks").

Data: bin/tools/nodegen -H -p, 10,000 node_exporter-like series plus one
classic histogram per host (100 hosts x 14 series), one sample every 15 s
for BENCH_HOURS hours (default 24: 5,760 samples per series). Each host
scrapes at its own phase within the 15 s (never a whole second) and one
scrape in five is 1-5 ms late, so the whole-second query grid below never
meets a sample: Prometheus 2.42's left-closed range windows and the
left-open ones of Prometheus 3 and mcs select the same samples.

The same samples go
- to mcs as Prometheus remote write 1.0 (POST /api/v1/write), then
  POST /api/v1/admin/tsdb/flush, and
- to Prometheus as OpenMetrics text, one file per 2 h window, through
  `promtool tsdb create-blocks-from openmetrics`; then `prometheus` serves
  that directory (no scrape jobs). Its compaction of the 2 h blocks is left
  to run as in production and the queries start once it is idle.

Then a fixed set of dashboard queries (query_range over the whole data at
1 m step, some at 5 m; instant queries at the end) runs against both:
1. agreement: every series and every value, within 1e-9 relative (NaN
   equals NaN); each disagreement is counted and the first ones printed;
2. latency: BENCH_RUNS rounds (default 5), each query once against each
   system per round, alternating; the median per query, the ratio
   mcs/Prometheus per query, and the median of the ratios against the bar
   (ratio <= 0.5: mcs at least 2x faster).

Environment: BENCH_SERIES (default 10000), BENCH_HOURS (24), BENCH_RUNS (5),
BENCH_KEEP=1 keeps the temporary directories. Exit status 0 whether or not
the bar is met (make bench prints, it does not gate); 1 if a system could not
be loaded or queried.
"""
import http.client
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Mcs, free_port  # noqa: E402
import bench_push  # noqa: E402

SERIES = int(os.environ.get("BENCH_SERIES", "10000"))
HOURS = int(os.environ.get("BENCH_HOURS", "24"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
PER_REQ = 5000
HIST_SERIES = (SERIES + 99) // 100 * 14
REL = 1e-9
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
T_START = time.time()


def say(*a):
    print("[%6.1fs]" % (time.time() - T_START), *a, flush=True)


def queries(start, end):
    """(name, kind, params): the fixed dashboard set. Range queries cover the
    whole data; instant ones run at its end."""
    rng = lambda q, step=60: {"query": q, "start": str(start), "end": str(end), "step": str(step)}  # noqa: E731
    inst = lambda q: {"query": q, "time": str(end)}  # noqa: E731
    return [
        ("cpu_by_instance", "range", rng('sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))')),
        ("topk_net_rx", "range", rng('topk(5, rate(node_network_receive_bytes_total[5m]))')),
        ("hist_p90", "range", rng('histogram_quantile(0.9, sum by (le) '
                                  '(rate(node_http_request_duration_seconds_bucket[5m])))')),
        ("hist_mean", "range", rng('sum(rate(node_http_request_duration_seconds_sum[5m])) / '
                                   'sum(rate(node_http_request_duration_seconds_count[5m]))')),
        ("fs_avail_ratio", "range", rng('node_filesystem_avail_bytes{mountpoint=~"/mnt/d[0-3]"} / '
                                        'node_filesystem_size_bytes')),
        ("load1_avg_1h", "range", rng('avg_over_time(node_load1[1h])')),
        ("count_up", "range", rng('count by (job) (node_network_up)')),
        ("temp_max_6h", "range", rng('max by (instance) (max_over_time(node_hwmon_temp_celsius[6h]))', 300)),
        ("disk_regex_rate", "range", rng('sum by (device) (rate({__name__=~"node_disk_.*"}[5m]))')),
        ("mem_avg", "range", rng('avg by (instance) (node_memory_numa_MemFree_bytes)')),
        ("count_series", "instant", inst('count by (job) ({job="node"})')),
        ("disk_regex", "instant", inst('{__name__=~"node_disk_.*"}')),
        ("load1_max_1d_topk", "instant", inst('topk(10, max_over_time(node_load1[1d]))')),
        ("cpu_increase_1d", "instant", inst('sum by (instance) (increase(node_cpu_seconds_total[1d]))')),
        ("cpu_rate_q99_1h", "instant", inst('quantile(0.99, rate(node_cpu_seconds_total[1h]))')),
    ]


class LazyBodies:
    """The request files in send order, read when push_all asks for one, so
    a day of requests never sits in memory at once."""

    def __init__(self, d):
        self.paths = [os.path.join(d, n) for n in sorted(os.listdir(d))]

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            return f.read()


def http_get(port, path, params, timeout=600):
    """(status, body bytes, seconds until the whole body was read)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        c.request("GET", path + "?" + urllib.parse.urlencode(params))
        r = c.getresponse()
        data = r.read()
        return r.status, data, time.perf_counter() - t0
    finally:
        c.close()


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def wait_idle(pids_fn, label, min_s=0.0, max_s=240.0):
    """Until the processes use under 10% of a core over 2 s (after min_s)."""
    t0 = time.time()
    hz = os.sysconf("SC_CLK_TCK")
    while time.time() - t0 < max_s:
        if time.time() - t0 < min_s:
            time.sleep(1)
            continue
        a = cpu_ticks(pids_fn())
        time.sleep(2)
        b = cpu_ticks(pids_fn())
        if (b - a) / hz < 0.2:
            say("%s idle after %.0fs" % (label, time.time() - t0))
            return True
    say("%s still busy after %.0fs; timing anyway" % (label, max_s))
    return False


def load_mcs(m, req_dir, last_ms):
    m.start()
    t0 = time.time()
    bodies = LazyBodies(req_dir)
    errs, codes = bench_push.push_all(m.push_port, "/api/v1/write", HEADERS, bodies)
    say("mcs: %d requests acknowledged in %.1fs (responses %s)" % (len(bodies), time.time() - t0, codes))
    if errs:
        say("mcs: push errors %s" % errs[:5])
        return False
    last_host = "host%04d:9100" % ((SERIES + 99) // 100 - 1)
    q = '{job="node",instance="%s"}[1m]' % last_host
    want = min(100, SERIES - (SERIES + 99) // 100 * 100 + 100) + 14
    deadline = time.time() + 300
    while time.time() < deadline:
        st, data, _ = http_get(m.api_port, "/api/v1/query", {"query": q, "time": "%.3f" % (last_ms / 1000.0 + 1)})
        if st == 200 and len(json.loads(data)["data"]["result"]) >= want:
            break
        time.sleep(0.1)
    else:
        say("mcs: the last samples never became queryable")
        return False
    t1 = time.time()
    st, _, data = m.api.request("POST", "/api/v1/admin/tsdb/flush")
    say("mcs: queryable after %.1fs, flush %d in %.1fs" % (t1 - t0, st, time.time() - t1))
    return st == 200


def mcs_pids(m):
    out = []
    for stage in ("collector", "aggregator", "alerter", "apiserver"):
        for i in range(4):
            out += m.stage_pids(stage, i)
    return out


def promtool_all(om_dir, blocks_dir, gen_done, out):
    """Converts each OpenMetrics file to blocks as soon as nodegen has
    renamed it complete (.txt), deleting it after, until nodegen has exited
    (gen_done set) and no file is left."""
    t0 = time.time()
    n = 0
    while True:
        finished = gen_done.is_set()
        names = sorted(x for x in os.listdir(om_dir) if x.endswith(".txt"))
        if not names:
            if finished:
                break
            time.sleep(0.2)
            continue
        for name in names:
            path = os.path.join(om_dir, name)
            r = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", path, blocks_dir],
                               capture_output=True, text=True)
            os.unlink(path)
            n += 1
            if r.returncode != 0:
                out["error"] = "promtool on %s: %s" % (name, (r.stderr or r.stdout)[-500:])
                return
    out["seconds"] = time.time() - t0
    out["files"] = n


def start_prometheus(work, blocks_dir):
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    port = free_port()
    logf = open(os.path.join(work, "prometheus.log"), "w")
    p = subprocess.Popen(["prometheus", "--storage.tsdb.path", blocks_dir, "--config.file", cfg,
                          "--web.listen-address", "127.0.0.1:%d" % port,
                          "--storage.tsdb.retention.time", "30d"],
                         stdout=logf, stderr=subprocess.STDOUT)
    for _ in range(600):
        if p.poll() is not None:
            break
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/-/ready")
            if c.getresponse().status == 200:
                return p, port
        except OSError:
            pass
        time.sleep(0.1)
    return p, None


def stop_prometheus(p):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def prom_blocks(blocks_dir):
    return sorted(n for n in os.listdir(blocks_dir) if os.path.exists(os.path.join(blocks_dir, n, "meta.json")))


# ---- agreement ----

def as_float(s):
    return float(s)  # "NaN", "+Inf", "-Inf" included


def close(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= REL * max(abs(a), abs(b))


def series_map(js):
    d = js["data"]
    if d["resultType"] == "scalar" or d["resultType"] == "string":
        return {"": [d["result"]]}
    out = {}
    for s in d["result"]:
        key = ",".join("%s=%s" % kv for kv in sorted(s["metric"].items()))
        out[key] = s["values"] if "values" in s else [s["value"]]
    return out


def compare(name, a_body, b_body, details):
    """(points compared, disagreements); details gets the first few."""
    try:
        a, b = json.loads(a_body), json.loads(b_body)
    except ValueError as e:
        details.append("%s: unparsable reply: %s" % (name, e))
        return 0, 1
    if a.get("status") != "success" or b.get("status") != "success":
        details.append("%s: mcs %s / prometheus %s" % (name, a_body[:300], b_body[:300]))
        return 0, 1
    if a["data"]["resultType"] != b["data"]["resultType"]:
        details.append("%s: resultType %s vs %s" % (name, a["data"]["resultType"], b["data"]["resultType"]))
        return 0, 1
    ma, mb = series_map(a), series_map(b)
    bad = 0
    for k in sorted(set(ma) - set(mb)):
        bad += 1
        if len(details) < 20:
            details.append("%s: series only in mcs: {%s} (%d points)" % (name, k, len(ma[k])))
    for k in sorted(set(mb) - set(ma)):
        bad += 1
        if len(details) < 20:
            details.append("%s: series only in prometheus: {%s} (%d points)" % (name, k, len(mb[k])))
    n = 0
    for k in sorted(set(ma) & set(mb)):
        pa = {float(t): v for t, v in ma[k]}
        pb = {float(t): v for t, v in mb[k]}
        for t in sorted(set(pa) | set(pb)):
            n += 1
            if t not in pa or t not in pb:
                bad += 1
                if len(details) < 20:
                    details.append("%s: {%s} t=%.3f only in %s (%s)" % (name, k, t, "mcs" if t in pa else
                                                                         "prometheus", pa.get(t, pb.get(t))))
            elif not close(as_float(pa[t]), as_float(pb[t])):
                bad += 1
                if len(details) < 20:
                    details.append("%s: {%s} t=%.3f mcs=%s prometheus=%s" % (name, k, t, pa[t], pb[t]))
    return n, bad


def main():
    work = tempfile.mkdtemp(prefix="bench-promql-")
    req_dir, om_dir, blocks_dir = (os.path.join(work, d) for d in ("req", "om", "prom"))
    for d in (req_dir, om_dir, blocks_dir):
        os.makedirs(d)
    samples = HOURS * 240
    now = int(time.time())
    base_s = now - now % 7200 - (HOURS + 2) * 3600
    start_s, end_s = base_s, base_s + HOURS * 3600
    last_ms = (base_s + (samples - 1) * 15) * 1000 + 15000
    total_series = SERIES + HIST_SERIES
    print("PromQL benchmark: %d series (%d node_exporter-like + %d histogram) x %d samples at 15 s (%d h) = %d "
          "samples, per-host scrape phase, 1 in 5 scrapes 1-5 ms late; %d timed runs per query"
          % (total_series, SERIES, HIST_SERIES, samples, HOURS, total_series * samples, RUNS), flush=True)
    m = None
    prom = None
    rc = 0
    try:
        t0 = time.time()
        conv = {}
        gen_done = threading.Event()
        th = threading.Thread(target=promtool_all, args=(om_dir, blocks_dir, gen_done, conv))
        th.start()
        try:
            out = subprocess.run([os.path.join(BIN, "tools", "nodegen"), "-H", "-p", "-o", om_dir, req_dir,
                                  str(SERIES), str(samples), str(PER_REQ), str(base_s * 1000)],
                                 capture_output=True, text=True)
        finally:
            gen_done.set()
        if out.returncode != 0:
            th.join()
            print("nodegen failed: %s" % out.stderr)
            return 1
        say("nodegen: %s (requests samples bytes) in %.1fs; promtool converts each 2 h file as it is done"
            % (out.stdout.strip(), time.time() - t0))
        m = Mcs(collectors=1, aggregators=2, config={"self_scrape": {"enabled": False, "node": False},
                                                     "rings": {"sample_bytes": 67108864}})
        ok = load_mcs(m, req_dir, last_ms)
        shutil.rmtree(req_dir, ignore_errors=True)
        th.join()
        if "error" in conv:
            print(conv["error"])
            return 1
        say("promtool: %d files to %d blocks in %.1fs (alongside nodegen and the mcs load)"
            % (conv["files"], len(prom_blocks(blocks_dir)), conv["seconds"]))
        if not ok:
            print("mcs could not be loaded; log:\n" + m.tail_log())
            return 1
        t_prom = time.time()
        prom, pport = start_prometheus(work, blocks_dir)
        if not pport:
            print("prometheus did not start; see %s/prometheus.log" % work)
            return 1
        say("prometheus ready on port %d" % pport)
        wait_idle(lambda: mcs_pids(m), "mcs")
        # Prometheus first compacts a minute after start; let it finish.
        wait_idle(lambda: [prom.pid], "prometheus", min_s=max(0.0, 75 - (time.time() - t_prom)))
        say("prometheus blocks after compaction: %d" % len(prom_blocks(blocks_dir)))

        qs = queries(start_s, end_s)
        # 1. agreement (also the warm-up run)
        details = []
        agree = {}
        for name, kind, params in qs:
            path = "/api/v1/query_range" if kind == "range" else "/api/v1/query"
            sa, ba, ta = http_get(m.api_port, path, params)
            sb, bb, tb = http_get(pport, path, params)
            n, bad = compare(name, ba, bb, details)
            nser = len(json.loads(bb).get("data", {}).get("result", [])) if sb == 200 else -1
            agree[name] = (n, bad, nser)
            say("%-18s %d series, %d points compared, %d disagree (mcs %.0f ms, prometheus %.0f ms)"
                % (name, nser, n, bad, ta * 1e3, tb * 1e3))
        # 2. latency
        times = {name: ([], []) for name, _, _ in qs}
        for r in range(RUNS):
            for name, kind, params in qs:
                path = "/api/v1/query_range" if kind == "range" else "/api/v1/query"
                for i, port in ((0, m.api_port), (1, pport)) if r % 2 == 0 else ((1, pport), (0, m.api_port)):
                    st, _, dt = http_get(port, path, params)
                    times[name][i].append(dt if st == 200 else float("nan"))
        say("timed %d runs" % RUNS)

        print()
        print("%-18s %-7s %8s %10s %9s %12s %14s %8s" % ("query", "kind", "series", "points", "disagree", "mcs_ms",
                                                          "prometheus_ms", "ratio"))
        ratios = []
        tot_n = tot_bad = 0
        for name, kind, params in qs:
            n, bad, nser = agree[name]
            tot_n += n
            tot_bad += bad
            a = statistics.median(times[name][0])
            b = statistics.median(times[name][1])
            ratio = a / b if b > 0 else float("nan")
            ratios.append(ratio)
            print("%-18s %-7s %8d %10d %9d %12.1f %14.1f %8.2f" % (name, kind, nser, n, bad, a * 1e3, b * 1e3,
                                                                     ratio))
        for name, kind, params in qs:
            print("  %-18s %s" % (name, params["query"]))
        print()
        print("agreement: %d points compared, %d disagreements (values within %g relative)" % (tot_n, tot_bad, REL))
        for d in details:
            print("  " + d)
        med = statistics.median(ratios)
        print("median ratio mcs/Prometheus = %.2f; bar: <= 0.50 (mcs at least 2x faster): %s"
              % (med, "MET" if med <= 0.5 else "NOT MET"))
        print("total benchmark time %.0fs" % (time.time() - T_START))
    finally:
        stop_prometheus(prom)
        if m is not None:
            m.cleanup()
        if os.environ.get("BENCH_KEEP"):
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
