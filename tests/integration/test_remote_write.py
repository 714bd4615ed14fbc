"""Prometheus remote write 1.0 into mcs (/api/v1/write on the push port),
with real senders from the Debian packages, all on loopback:

(c) exact: 1,000 series x 10 samples built in Python (tests/integration/
    rwproto.py: protobuf + literal-only snappy) are answered 204 and then
    every sample is queryable, count and sum exact per series; a malformed
    protobuf, an invalid label name and non-snappy garbage answer 400 with
    the reason, remote write 2.0 answers 415, and nothing of them is stored.
(a) prometheus (/usr/bin/prometheus) scraping itself every second with
    remote_write to mcs: its series arrive with job="prometheus", and the
    samples mcs holds equal, timestamp for timestamp, the ones prometheus
    answers through its own /api/v1/query for the same range.
(b) vmagent (/usr/bin/vmagent) scraping itself with -remoteWrite.url to mcs:
    its series arrive with job="vmagent", `up` for its instance is 1, and
    vmagent's own counters show blocks sent, every request answered 2xx,
    nothing dropped (vmagent stores nothing to compare samples with).

Senders are stopped by PID. A sender that is not installed is reported and
skipped; if none is, the test exits 77 after (c).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Http, Mcs, check, free_port, log  # noqa: E402
import rwproto  # noqa: E402

SERIES = 1000
PER_SERIES = 10


def post_rw(m, body, headers=None):
    return m.push.request("POST", "/api/v1/write", body=body, headers=headers or rwproto.HEADERS)


def matrix(api, query, t):
    st, js = api.get_json("/api/v1/query", {"query": query, "time": "%.3f" % t})
    if st != 200 or js.get("status") != "success":
        return None
    return js["data"]["result"]


def exact_check(m):
    base_ms = (int(time.time()) - 1800) * 1000
    series = []
    for s in range(SERIES):
        labels = {"__name__": "rw_exact_total", "job": "rwtest", "series": "s%04d" % s, "shard": str(s % 5)}
        series.append((labels, [(base_ms + i * 1000, float(s * 100 + i)) for i in range(PER_SERIES)]))
    # Split over 4 requests, as a sender batches.
    for part in range(4):
        body = rwproto.snappy_literal(rwproto.write_request(series[part::4]))
        st, _, data = post_rw(m, body)
        check(st == 204, "remote write of %d series answered 204 (%d %s)" % (len(series[part::4]), st, data[:200]))

    end_s = base_ms / 1000 + PER_SERIES + 5
    deadline = time.time() + 20
    while True:
        res = matrix(m.api, 'rw_exact_total{job="rwtest"}[1h]', end_s)
        total = sum(len(r["values"]) for r in res) if res else 0
        if total >= SERIES * PER_SERIES or time.time() > deadline:
            break
        time.sleep(0.3)
    check(res is not None and len(res) == SERIES, "all %d series queryable (got %s)" % (SERIES, res and len(res)))
    check(total == SERIES * PER_SERIES, "exactly %d samples stored (got %d)" % (SERIES * PER_SERIES, total))
    bad = 0
    for r in res:
        s = int(r["metric"]["series"][1:])
        want = [[(base_ms + i * 1000) / 1000.0, float(s * 100 + i)] for i in range(PER_SERIES)]
        got = [[float(t), float(v)] for t, v in r["values"]]
        if got != want:
            bad += 1
    check(bad == 0, "every series has its 10 samples with exact timestamps and values")

    # --- bad requests: 400/415 with the reason, nothing stored
    good = ({"__name__": "rw_bad_total", "job": "rwtest"}, [(base_ms, 1.0)])
    bad_label = rwproto.timeseries({"__name__": "rw_bad_total", "1abc": "x"}, [(base_ms, 2.0)])
    body = rwproto.snappy_literal(rwproto.write_request([good]) + bad_label)
    st, _, data = post_rw(m, body)
    check(st == 400 and b'timeseries 1: label 0: invalid label name \\"1abc\\"' in data,
          "invalid label name answered 400 naming series and label (%d %s)" % (st, data[:200]))
    st, _, data = post_rw(m, rwproto.snappy_literal(rwproto.write_request([good]) + b"\x0a\x80"))
    check(st == 400 and b"malformed protobuf" in data, "truncated protobuf answered 400 (%d %s)" % (st, data[:200]))
    st, _, data = post_rw(m, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage, not snappy")
    check(st == 400 and b"snappy" in data, "non-snappy body answered 400 (%d %s)" % (st, data[:200]))
    hdr = dict(rwproto.HEADERS)
    hdr["Content-Type"] = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
    hdr["X-Prometheus-Remote-Write-Version"] = "2.0.0"
    st, _, data = post_rw(m, rwproto.snappy_literal(rwproto.write_request([good])), hdr)
    check(st == 415 and b"remote write 2.0" in data, "remote write 2.0 answered 415 (%d %s)" % (st, data[:200]))
    st, js = m.api.get_json("/api/v1/series", {"match[]": "rw_bad_total"})
    check(st == 200 and js["data"] == [], "nothing of the refused requests was stored")


def wait_http(port, path, timeout=30, proc=None):
    h = Http(port, timeout=2)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            st, _, _ = h.request("GET", path)
            if st == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def stop_pid(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def wait_series(m, match, timeout=60):
    deadline = time.time() + timeout
    data = []
    while time.time() < deadline:
        st, js = m.api.get_json("/api/v1/series", {"match[]": match})
        if st == 200 and js.get("data"):
            return js["data"]
        time.sleep(0.5)
    return data


def key(metric):
    return tuple(sorted(metric.items()))


def compare_ranges(m, peer_api, query, t, what):
    """Samples of `query` (a range selector) at time t from the peer and from
    mcs: every series and sample the peer has must be in mcs, equal."""
    peer = matrix(peer_api, query, t)
    mine = matrix(m.api, query, t)
    if not peer or mine is None:
        return False, "no data (peer %s, mcs %s)" % (peer and len(peer), mine and len(mine))
    mine_by = {key(r["metric"]): r["values"] for r in mine}
    for r in peer:
        got = mine_by.get(key(r["metric"]))
        want = [[float(a), float(b)] for a, b in r["values"]]
        have = [[float(a), float(b)] for a, b in (got or [])]
        if want != have:
            return False, "%s %s: peer %s mcs %s" % (what, r["metric"], want[-3:], have[-3:])
    return (len(peer), sum(len(r["values"]) for r in peer)), ""


def prometheus_check(m, tmp):
    exe = shutil.which("prometheus")
    if not exe:
        log("skip: prometheus not installed")
        return False
    port = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:%d"]
remote_write:
  - url: http://127.0.0.1:%d/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
""" % (port, m.push_port))
    logf = open(os.path.join(tmp, "prometheus.log"), "w")
    p = subprocess.Popen([exe, "--config.file", cfg, "--storage.tsdb.path", os.path.join(tmp, "prom-data"),
                          "--web.listen-address", "127.0.0.1:%d" % port], stdout=logf, stderr=subprocess.STDOUT)
    try:
        check(wait_http(port, "/-/ready", 60, p), "prometheus %d ready on :%d" % (p.pid, port))
        got = wait_series(m, '{job="prometheus"}', 60)
        check(len(got) > 100, "mcs holds %d series with job=\"prometheus\" from prometheus' remote write" % len(got))
        prom = Http(port)
        st, js = prom.get_json("/api/v1/query", {"query": "prometheus_build_info"})
        want = js["data"]["result"][0]["metric"] if st == 200 and js["data"]["result"] else None
        st, js = m.api.get_json("/api/v1/query", {"query": "prometheus_build_info"})
        mine = js["data"]["result"][0]["metric"] if st == 200 and js["data"]["result"] else None
        check(want is not None and want == mine, "prometheus_build_info labels equal (%s)" % mine)
        # Compare whole sample ranges, a few seconds in the past so that the
        # last batch has been sent; wait until prometheus has 15 s of them.
        queries = ('up{job="prometheus"}[20s]', 'scrape_samples_scraped{job="prometheus"}[20s]',
                   'scrape_duration_seconds{job="prometheus"}[20s]',
                   'prometheus_tsdb_head_series{job="prometheus"}[20s]',
                   'process_start_time_seconds{job="prometheus"}[20s]',
                   'go_memstats_alloc_bytes_total{job="prometheus"}[20s]',
                   'prometheus_http_requests_total{job="prometheus"}[20s]')
        ok, why = False, ""
        deadline = time.time() + 45
        while time.time() < deadline:
            t = time.time() - 4
            nser = nsamp = 0
            for q in queries:
                ok, why = compare_ranges(m, prom, q, t, q)
                if not ok:
                    break
                nser += ok[0]
                nsamp += ok[1]
            if ok and nsamp >= 15 * len(queries):
                why = "%d series, %d samples over %d selectors" % (nser, nsamp, len(queries))
                break
            ok = False
            time.sleep(1)
        check(ok, "samples in mcs equal prometheus' own, timestamp for timestamp (%s)" % why)
        # Prometheus reports no failed sends.
        st, js = prom.get_json("/api/v1/query", {"query": "sum(prometheus_remote_storage_samples_failed_total)"})
        failed = float(js["data"]["result"][0]["value"][1]) if st == 200 and js["data"]["result"] else 0.0
        check(failed == 0, "prometheus counts no failed remote-write samples (%g)" % failed)
        return True
    finally:
        stop_pid(p)
        logf.close()


def vmagent_check(m, tmp):
    exe = shutil.which("vmagent")
    if not exe:
        log("skip: vmagent not installed")
        return False
    port = free_port()
    cfg = os.path.join(tmp, "vmagent.yml")
    with open(cfg, "w") as f:
        f.write("""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: vmagent
    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % port)
    logf = open(os.path.join(tmp, "vmagent.log"), "w")
    p = subprocess.Popen([exe, "-promscrape.config", cfg, "-httpListenAddr", "127.0.0.1:%d" % port,
                          "-remoteWrite.url", "http://127.0.0.1:%d/api/v1/write" % m.push_port,
                          "-remoteWrite.tmpDataPath", os.path.join(tmp, "vmagent-data"),
                          "-remoteWrite.flushInterval", "500ms"], stdout=logf, stderr=subprocess.STDOUT)
    try:
        check(wait_http(port, "/health", 60, p), "vmagent %d up on :%d" % (p.pid, port))
        got = wait_series(m, '{job="vmagent"}', 60)
        check(len(got) > 50, "mcs holds %d series with job=\"vmagent\" from vmagent's remote write" % len(got))
        st, js = m.api.get_json("/api/v1/query", {"query": 'up{job="vmagent"}'})
        res = js["data"]["result"] if st == 200 else []
        check(len(res) == 1 and res[0]["value"][1] == "1" and res[0]["metric"].get("instance") == "127.0.0.1:%d" % port,
              "up{job=\"vmagent\",instance=\"127.0.0.1:%d\"} is 1 in mcs (%s)" % (port, res))
        # vmagent's own remote-write counters: blocks sent, every request
        # answered 2xx, nothing dropped, no errors.
        def metric_sum(text, name, pred=lambda l: True):
            return sum(float(l.split()[-1]) for l in text.splitlines()
                       if (l.startswith(name + "{") or l.startswith(name + " ")) and pred(l))
        deadline = time.time() + 20
        while True:
            st, _, data = Http(port).request("GET", "/metrics")
            text = data.decode()
            sent = metric_sum(text, "vmagent_remotewrite_blocks_sent_total")
            ok2xx = metric_sum(text, "vmagent_remotewrite_requests_total", lambda l: 'status_code="2XX"' in l)
            other = metric_sum(text, "vmagent_remotewrite_requests_total", lambda l: 'status_code="2XX"' not in l)
            errors = metric_sum(text, "vmagent_remotewrite_errors_total") + \
                metric_sum(text, "vmagent_remotewrite_packets_dropped_total")
            if sent >= 3 or time.time() > deadline:
                break
            time.sleep(0.5)
        check(sent >= 3 and ok2xx >= sent and other == 0 and errors == 0,
              "vmagent sent %g block(s), %g request(s) answered 2xx, %g otherwise, %g errors/drops"
              % (sent, ok2xx, other, errors))
        return True
    finally:
        stop_pid(p)
        logf.close()


def main():
    m = Mcs(collectors=1, aggregators=2, alerters=1, apiservers=1,
            config={"self_scrape": {"enabled": False, "node": False}})
    tmp = tempfile.mkdtemp(prefix="mcs-rw-")
    try:
        m.start()
        log("instance %s api :%d push :%d" % (m.instance, m.api_port, m.push_port))
        exact_check(m)
        ran = prometheus_check(m, tmp)
        ran = vmagent_check(m, tmp) or ran
        if not ran:
            log("no real sender installed: (a) and (b) skipped")
            sys.exit(77)
    except SystemExit:
        log(m.tail_log())
        for n in ("prometheus.log", "vmagent.log"):
            pth = os.path.join(tmp, n)
            if os.path.exists(pth):
                with open(pth) as f:
                    log("--- %s (last lines)\n%s" % (n, "".join(f.readlines()[-15:])))
        raise
    finally:
        m.cleanup()
        if os.environ.get("MCS_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
