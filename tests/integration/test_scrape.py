"""Scraping end to end: a real prometheus-node-exporter and a small Python
target on free loopback ports, scraped by mcs from a Prometheus YAML
scrape configuration with two jobs.

- up == 1 for both jobs, with job and instance labels, target labels from
  static_configs and relabel_configs, metric_relabel_configs dropping a
  series; the synthetic series scrape_duration_seconds,
  scrape_samples_scraped, scrape_samples_post_metric_relabeling and
  scrape_series_added with known values;
- known values from the Python target, node_exporter's node_load1;
- a series that disappears from the page goes stale (gone from instant
  queries at once, not after 5 minutes);
- /api/v1/targets in Prometheus' shape, health and lastError; a target
  that an `action: drop` relabel rule removes is listed once (by one of
  the two collectors) under droppedTargets with its discovered labels,
  and ?state=active|dropped picks the lists;
- the Python target turned off: up == 0 and its series go stale;
- SIGHUP to mcs-launch reaches the collectors and reloads the file: a job
  added shows up.
Two collectors, so the targets are split between them.
"""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import Mcs, check, fail, free_port, log

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


class Page:
    lines = [
        "# HELP known_value A value the test knows.",
        "# TYPE known_value gauge",
        'known_value{kind="a"} 42',
        'known_value{kind="b"} 7',
        "# TYPE known_counter_total counter",
        "known_counter_total 100",
        "dropme_metric 1",
    ]
    hits = 0
    headers = {}
    off = False  # set when the target is stopped: kept connections are dropped too


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if Page.off:
            self.close_connection = True
            return
        Page.hits += 1
        Page.headers = dict(self.headers)
        body = ("\n".join(Page.lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class PyTarget:
    def __init__(self, port):
        self.port = port
        self.srv = None

    def start(self):
        Page.off = False
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        Page.off = True
        if self.srv:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


def write_config(path, ne_port, py_port, extra_job=False):
    cfg = """global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  external_labels:
    site: lab
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:%d']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'node_(load1|memory_MemTotal_bytes|cpu_seconds_total)'
        action: keep
  - job_name: py
    scrape_interval: 1s
    static_configs:
      - targets: ['127.0.0.1:%d']
        labels:
          env: test
      - targets: ['127.0.0.2:9']
        labels:
          env: gone
    relabel_configs:
      - source_labels: [env]
        regex: gone
        action: drop
      - target_label: team
        replacement: obs
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'dropme_.*'
        action: drop
""" % (ne_port, py_port)
    if extra_job:
        cfg += """  - job_name: py2
    metrics_path: /other
    static_configs:
      - targets: ['127.0.0.1:%d']
""" % py_port
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(cfg)
    os.rename(tmp, path)


def query(m, q):
    st, js = m.api.get_json("/api/v1/query", {"query": q})
    if st != 200 or js.get("status") != "success":
        return None
    return js["data"]["result"]


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    fail("timed out waiting for %s (last: %r)" % (what, last))


def value_of(m, q):
    r = query(m, q)
    if not r or len(r) != 1:
        return None
    return float(r[0]["value"][1])


def main():
    if not os.access(NODE_EXPORTER, os.X_OK):
        log("SKIP: %s not installed" % NODE_EXPORTER)
        raise SystemExit(77)
    ne_port, py_port = free_port(), free_port()
    py = PyTarget(py_port)
    py.start()
    workdir = __import__("tempfile").mkdtemp(prefix="mcs-scrape-")
    ne = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % ne_port,
                           "--collector.disable-defaults", "--collector.loadavg", "--collector.meminfo",
                           "--collector.cpu"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = os.path.join(workdir, "prometheus.yml")
    write_config(conf, ne_port, py_port)
    m = Mcs(collectors=2, aggregators=1, config={"scrape_config_file": conf,
                                                 "self_scrape": {"enabled": False, "node": False}})
    inst_py = "127.0.0.1:%d" % py_port
    inst_ne = "127.0.0.1:%d" % ne_port
    try:
        m.start()
        log("instance %s api :%d node_exporter :%d py :%d" % (m.instance, m.api_port, ne_port, py_port))

        # --- up and labels
        r = wait_for("up for both jobs", lambda: (lambda x: x if x and len(x) == 2 else None)(query(m, "up")))
        by_job = {s["metric"]["job"]: s for s in r}
        check(set(by_job) == {"node", "py"}, "up has jobs node and py (%s)" % sorted(by_job))
        check(all(s["value"][1] == "1" for s in r), "up == 1 for both")
        check(by_job["py"]["metric"] == {"__name__": "up", "job": "py", "instance": inst_py, "env": "test",
                                         "team": "obs", "site": "lab"},
              "py target labels: job, instance, static label, relabeled label, external label (%s)"
              % by_job["py"]["metric"])
        check(by_job["node"]["metric"].get("instance") == inst_ne, "node instance label")

        # --- known values, metric relabeling
        r = wait_for("known_value", lambda: query(m, "known_value"))
        vals = {s["metric"]["kind"]: s for s in r}
        check(vals["a"]["value"][1] == "42" and vals["b"]["value"][1] == "7", "known values scraped")
        check(vals["a"]["metric"] == {"__name__": "known_value", "kind": "a", "job": "py", "instance": inst_py,
                                      "env": "test", "team": "obs", "site": "lab"},
              "sample labels (%s)" % vals["a"]["metric"])
        check(value_of(m, "known_counter_total") == 100.0, "counter value")
        check(query(m, "dropme_metric") == [], "metric_relabel_configs drop: dropme_metric absent")
        check(value_of(m, 'scrape_samples_scraped{job="py"}') == 4.0, "scrape_samples_scraped == 4")
        check(value_of(m, 'scrape_samples_post_metric_relabeling{job="py"}') == 3.0,
              "scrape_samples_post_metric_relabeling == 3")
        d = value_of(m, 'scrape_duration_seconds{job="py"}')
        check(d is not None and 0 < d < 1, "scrape_duration_seconds in (0, 1): %s" % d)
        check(value_of(m, 'scrape_series_added{job="py"}') is not None, "scrape_series_added present")
        check(value_of(m, 'node_load1{job="node"}') is not None, "node_exporter's node_load1 scraped")
        check(query(m, 'node_boot_time_seconds{job="node"}') == [], "node job's keep rule applied")
        hdr = Page.headers
        check("openmetrics-text" in hdr.get("Accept", "") and "gzip" in hdr.get("Accept-Encoding", ""),
              "Accept and Accept-Encoding sent like Prometheus (%s)" % hdr.get("Accept"))

        # --- timestamps on the interval grid (scheduled time, not completion)
        def points():
            st, js = m.api.get_json("/api/v1/query", {"query": 'up{job="py"}[5s]'})
            res = js.get("data", {}).get("result", []) if st == 200 else []
            return res[0]["values"] if res and len(res[0]["values"]) >= 3 else None
        pts = wait_for("three scrapes of py", points, timeout=10)
        steps = [round(float(b[0]) - float(a[0]), 3) for a, b in zip(pts, pts[1:])]
        check(len(steps) >= 2 and all(abs(s - 1.0) < 0.0015 for s in steps),
              "scrape timestamps exactly one interval apart: %s" % steps)

        # --- a series that disappears goes stale at once
        Page.lines = [l for l in Page.lines if 'kind="b"' not in l]
        wait_for("known_value{kind=b} stale", lambda: query(m, 'known_value{kind="b"}') == [] or None, timeout=10)
        check(True, "disappeared series is gone from instant queries (stale marker)")
        check(value_of(m, 'known_value{kind="a"}') == 42.0, "the remaining series stays")

        # --- /api/v1/targets
        st, js = m.api.get_json("/api/v1/targets")
        check(st == 200 and js.get("status") == "success", "/api/v1/targets answers")
        act = js["data"]["activeTargets"]
        check(len(act) == 2, "two active targets (%d)" % len(act))
        want_dropped = [{"discoveredLabels": {"__address__": "127.0.0.2:9", "__metrics_path__": "/metrics",
                                              "__scheme__": "http", "__scrape_interval__": "1s",
                                              "__scrape_timeout__": "900ms", "env": "gone", "job": "py"},
                         "scrapePool": "py"}]
        check(js["data"]["droppedTargets"] == want_dropped,
              "the target relabel_configs drop is listed once with its discovered labels (%s)"
              % js["data"]["droppedTargets"])
        check(js["data"].get("droppedTargetCounts") == {"py": 1},
              "droppedTargetCounts %s" % js["data"].get("droppedTargetCounts"))
        check(all(a["discoveredLabels"].get("env") != "gone" for a in act), "the dropped target is not active")
        t = [a for a in act if a["scrapePool"] == "py"][0]
        keys = {"discoveredLabels", "labels", "scrapePool", "scrapeUrl", "globalUrl", "lastError", "lastScrape",
                "lastScrapeDuration", "health", "scrapeInterval", "scrapeTimeout"}
        check(keys <= set(t), "target has every Prometheus field (%s)" % sorted(set(t)))
        check(t["health"] == "up" and t["lastError"] == "", "py target healthy")
        check(t["scrapeUrl"] == "http://%s/metrics" % inst_py, "scrapeUrl %s" % t["scrapeUrl"])
        check(t["labels"] == {"job": "py", "instance": inst_py, "env": "test", "team": "obs", "site": "lab"},
              "target labels %s" % t["labels"])
        check(t["discoveredLabels"].get("__address__") == inst_py, "discoveredLabels has __address__")
        check(t["scrapeInterval"] == "1s" and t["scrapeTimeout"] == "900ms",
              "interval/timeout %s/%s" % (t["scrapeInterval"], t["scrapeTimeout"]))
        check(isinstance(t["lastScrapeDuration"], float) or isinstance(t["lastScrapeDuration"], int),
              "lastScrapeDuration is a number")
        check(t["lastScrape"].endswith("Z") and t["lastScrape"].startswith("20"), "lastScrape RFC 3339")
        st, js = m.api.get_json("/api/v1/targets", {"state": "dropped"})
        check(js["data"]["activeTargets"] == [] and js["data"]["droppedTargets"] == want_dropped,
              "state=dropped lists only the dropped target")
        st, js = m.api.get_json("/api/v1/targets", {"state": "active"})
        check(len(js["data"]["activeTargets"]) == 2 and js["data"]["droppedTargets"] == [],
              "state=active lists only the active targets")

        # --- target off: up == 0, its series go stale
        py.stop()
        wait_for("up{job=py} == 0", lambda: value_of(m, 'up{job="py"}') == 0.0 or None, timeout=10)
        check(True, "target turned off: up == 0")
        check(query(m, "known_value") == [], "its series are stale (gone from instant queries)")
        check(value_of(m, 'up{job="node"}') == 1.0, "the other job stays up")
        st, js = m.api.get_json("/api/v1/targets")
        t = [a for a in js["data"]["activeTargets"] if a["scrapePool"] == "py"][0]
        check(t["health"] == "down" and "refused" in t["lastError"], "targets API: down, %s" % t["lastError"])

        # --- back on, then SIGHUP reload adding a job
        py.start()
        wait_for("py up again", lambda: value_of(m, 'up{job="py"}') == 1.0 or None, timeout=10)
        write_config(conf, ne_port, py_port, extra_job=True)
        pids = m.stage_pids("collector", 0) + m.stage_pids("collector", 1)
        check(len(pids) == 2, "two collector processes (%s)" % pids)
        before = {p: open("/proc/%d/stat" % p).read().split()[21] for p in pids}
        os.kill(m.proc.pid, signal.SIGHUP)  # the launcher forwards it to the collectors
        wait_for("py2 job after SIGHUP", lambda: value_of(m, 'up{job="py2"}') is not None or None, timeout=10)
        check(True, "SIGHUP reload added job py2")
        check(all(open("/proc/%d/stat" % p).read().split()[21] == before[p] for p in pids),
              "collectors were reloaded, not restarted")
        check(value_of(m, 'up{job="py"}') == 1.0, "existing target unaffected by the reload")
        check(value_of(m, 'up{job="py",site="lab"}') == 1.0, "global external_labels are on scraped series")
        st, js = m.api.get_json("/api/v1/targets")
        check(len(js["data"]["activeTargets"]) == 3, "three targets listed after the reload")
        check(js["data"]["droppedTargets"] == want_dropped, "the dropped target is still listed once after the reload")
        log("PASS")
    finally:
        py.stop()
        ne.terminate()
        try:
            ne.wait(5)
        except subprocess.TimeoutExpired:
            ne.kill()
        if os.environ.get("MCS_KEEP"):
            log("log: " + m.log_path)
        m.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
