"""Scrape load: CPU seconds per million samples scraped, mcs vs vmagent vs
prometheus, all three scraping the same targets in the same run.

A target server (bin/tools/target_server, one process, epoll) serves a
node_exporter-like page of ~1,000 series with values that change on every
request, on BENCH_SCRAPE_TARGETS loopback ports (default 2000). One
scrape config (15 s interval) lists them all; each system scrapes it:

  mcs         mcs-launch, 1 collector, 1 aggregator (scrape, route, store)
  vmagent     -promscrape.config, remote write to a local VictoriaMetrics
              (VictoriaMetrics' CPU is not counted: vmagent only forwards)
  prometheus  --storage.tsdb.path in a temporary directory (scrape + store)

After a warm-up (every target scraped at least once, its offset within the
interval passed), CPU time (utime + stime from /proc/<pid>/stat, summed over
each system's processes) and each system's own sample counter are read at
the start and the end of a BENCH_SCRAPE_SECONDS window (default 120):

  mcs         mcs_samples_in_total{stage="collector"} (apiserver /metrics)
  vmagent     vm_promscrape_scraped_samples_sum
  prometheus  prometheus_tsdb_head_samples_appended_total

mcs and prometheus count the 5 synthetic series per scrape as well,
vmagent does not (0.5 % of 1,000 series). Prints CPU s per 1M samples and
the ratios, and mcs' collector alone (the scrape path).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import BIN, Mcs, free_port  # noqa: E402

TARGETS = int(os.environ.get("BENCH_SCRAPE_TARGETS", "2000"))
SECONDS = int(os.environ.get("BENCH_SCRAPE_SECONDS", "120"))
INTERVAL = int(os.environ.get("BENCH_SCRAPE_INTERVAL", "15"))
SERIES = int(os.environ.get("BENCH_SCRAPE_SERIES", "1000"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        return []
    return [int(p) for p in out]


def get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode(errors="replace")


def metric_sum(text, name, must=None):
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and (len(line) > len(name) and line[len(name)] in " {"):
            if must and must not in line:
                continue
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def wait_http(url, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited early (rc=%s)" % (what, proc.returncode))
        try:
            get(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("%s not up within %ds" % (what, timeout))


def main():
    for exe in ("vmagent", "prometheus", "victoria-metrics"):
        if not shutil.which(exe):
            print("SKIP: %s not installed" % exe)
            return 0
    work = tempfile.mkdtemp(prefix="mcs-bench-scrape-")
    procs = []
    m = None
    try:
        port_file = os.path.join(work, "ports")
        ts = subprocess.Popen([os.path.join(BIN, "tools", "target_server"), "--ports", str(TARGETS), "--series",
                               str(SERIES), "--port-file", port_file])
        procs.append(ts)
        deadline = time.time() + 30
        while not os.path.exists(port_file) and time.time() < deadline:
            time.sleep(0.1)
        ports = [int(x) for x in open(port_file).read().split()]
        conf = os.path.join(work, "scrape.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: %ds\n  scrape_timeout: %ds\nscrape_configs:\n"
                    "  - job_name: bench\n    static_configs:\n      - targets:\n" % (INTERVAL, min(10, INTERVAL)))
            for p in ports:
                f.write("          - 127.0.0.1:%d\n" % p)

        vm_port, va_port, pr_port = free_port(), free_port(), free_port()
        vm = subprocess.Popen(["victoria-metrics", "-httpListenAddr=127.0.0.1:%d" % vm_port,
                               "-storageDataPath=" + os.path.join(work, "vm"), "-loggerLevel=ERROR"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(vm)
        wait_http("http://127.0.0.1:%d/health" % vm_port, vm, "victoria-metrics")
        va = subprocess.Popen(["vmagent", "-promscrape.config=" + conf,
                               "-remoteWrite.url=http://127.0.0.1:%d/api/v1/write" % vm_port,
                               "-remoteWrite.tmpDataPath=" + os.path.join(work, "vmagent"),
                               "-httpListenAddr=127.0.0.1:%d" % va_port, "-loggerLevel=ERROR",
                               "-promscrape.suppressScrapeErrors"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(va)
        pr = subprocess.Popen(["prometheus", "--config.file=" + conf,
                               "--storage.tsdb.path=" + os.path.join(work, "prom"),
                               "--web.listen-address=127.0.0.1:%d" % pr_port, "--log.level=error"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(pr)
        m = Mcs(collectors=1, aggregators=1, config={"scrape_config_file": conf,
                                                     "self_scrape": {"enabled": False, "node": False}})
        m.start()
        wait_http("http://127.0.0.1:%d/metrics" % va_port, va, "vmagent")
        wait_http("http://127.0.0.1:%d/-/ready" % pr_port, pr, "prometheus")

        def mcs_pids():
            return [m.proc.pid] + children(m.proc.pid)

        def mcs_collector_pids():
            return m.stage_pids("collector", 0)

        def sample():
            r = {}
            t = get("http://127.0.0.1:%d/metrics" % m.api_port)
            r["mcs"] = (sum(cpu_s(p) for p in mcs_pids()),
                        metric_sum(t, "mcs_samples_in_total", 'stage="collector"'))
            r["mcs collector"] = (sum(cpu_s(p) for p in mcs_collector_pids()), r["mcs"][1])
            t = get("http://127.0.0.1:%d/metrics" % va_port)
            r["vmagent"] = (cpu_s(va.pid), metric_sum(t, "vm_promscrape_scraped_samples_sum"))
            t = get("http://127.0.0.1:%d/metrics" % pr_port)
            r["prometheus"] = (cpu_s(pr.pid), metric_sum(t, "prometheus_tsdb_head_samples_appended_total"))
            return r

        warm = INTERVAL + 10
        print("%d targets x %d series every %ds; warm-up %ds, then a %ds window" %
              (len(ports), SERIES, INTERVAL, warm, SECONDS), flush=True)
        time.sleep(warm)
        t0, a = time.time(), sample()
        time.sleep(SECONDS)
        t1, b = time.time(), sample()
        dt = t1 - t0
        res = {}
        print("%-14s %10s %14s %12s %16s" % ("system", "CPU s", "samples", "samples/s", "CPU s / 1M"))
        for k in ("mcs", "mcs collector", "vmagent", "prometheus"):
            dc = b[k][0] - a[k][0]
            ds = (b[k][1] or 0) - (a[k][1] or 0)
            per = dc / ds * 1e6 if ds > 0 else float("nan")
            res[k] = per
            print("%-14s %10.2f %14d %12.0f %16.3f" % (k, dc, ds, ds / dt, per))
        exp = len(ports) * (SERIES + 5) / INTERVAL
        print("expected ~%.0f samples/s per system" % exp)
        for peer in ("vmagent", "prometheus"):
            if res["mcs"] > 0 and res[peer] == res[peer]:
                print("mcs uses %.2fx less CPU per sample than %s (collector alone: %.2fx)" %
                      (res[peer] / res["mcs"], peer, res[peer] / res["mcs collector"]))
        st, js = m.api.get_json("/api/v1/targets")
        act = js.get("data", {}).get("activeTargets", []) if st == 200 else []
        up = sum(1 for x in act if x.get("health") == "up")
        print("mcs targets: %d listed, %d up" % (len(act), up))
        print(json.dumps({"bench": "scrape", "targets": len(ports), "cpu_s_per_1M": res}))
        return 0
    finally:
        if m:
            m.cleanup()
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(10)
            except Exception:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
