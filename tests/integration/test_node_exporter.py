"""The node agent against the real prometheus-node-exporter on this machine.

Starts mcs (1 collector, self collection every 1 s, node metrics on) and
/usr/bin/prometheus-node-exporter on 127.0.0.1:<free port> with only the
collectors the agent covers (cpu, diskstats, filesystem, loadavg, meminfo,
netdev, pressure, stat, time, uname) and their default flags. Then, for
every node_* family node_exporter serves (less node_exporter_build_info):

- the same family names on both sides, and for each family the same series,
  i.e. the same label names and label values (job and instance, which mcs
  adds, left out; labels with empty values dropped, as Prometheus drops
  them when it scrapes node_exporter);
- values within these tolerances (ours is at most ~1 s older or newer):
    counters in seconds (cpu, disk times, pressure)  2 % or 5 s
    other counters (ops, bytes, packets, interrupts)  2 % or a slack per
        family (see SLACK below: 10,000 events, 64 MiB, 10 MB of network)
    node_memory_*_bytes                               5 % or 64 MiB
    node_memory_* counts (HugePages_*)                5 % or 16
    node_load1/5/15                                   0.5
    node_procs_running/blocked, node_disk_io_now      64
    node_filesystem_size_bytes, _files, _readonly, _device_error  exact
    node_filesystem_free/avail_bytes                  1 % or 256 MiB
    node_filesystem_files_free                        1 % or 10,000
    node_boot_time_seconds                            1 s
    node_time_seconds                                 5 s
    *_info, node_time_zone_offset_seconds, node_scrape_collector_success  exact
    node_scrape_collector_duration_seconds            not compared
A round that differs is retried (three rounds at most), since a burst of
activity between the two reads can exceed a tolerance; the last round's
differences are printed. Exit 0 on success, 1 on failure, 77 when
node_exporter is not installed.
"""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from harness import Mcs, check, fail, free_port, log

NODE_EXPORTER = os.environ.get("NODE_EXPORTER", "/usr/bin/prometheus-node-exporter")
COLLECTORS = ["cpu", "diskstats", "filesystem", "loadavg", "meminfo", "netdev", "pressure", "stat", "time", "uname"]
IGNORED_FAMILIES = {"node_exporter_build_info"}
MIB = 1024 * 1024

# (regex on the metric name, kind, relative tolerance, absolute slack)
TOLERANCES = [
    (r"node_scrape_collector_duration_seconds", "skip", 0, 0),
    (r"node_scrape_collector_success", "exact", 0, 0),
    (r".*_info", "exact", 0, 0),
    (r"node_time_zone_offset_seconds", "exact", 0, 0),
    (r"node_time_seconds", "abs", 0, 5),
    (r"node_boot_time_seconds", "abs", 0, 1),
    (r"node_filesystem_(size_bytes|files|readonly|device_error)", "exact", 0, 0),
    (r"node_filesystem_(free|avail)_bytes", "rel", 0.01, 256 * MIB),
    (r"node_filesystem_files_free", "rel", 0.01, 10000),
    (r"node_load(1|5|15)", "abs", 0, 0.5),
    (r"node_procs_(running|blocked)|node_disk_io_now", "abs", 0, 64),
    (r"node_memory_.*_bytes", "rel", 0.05, 64 * MIB),
    (r"node_memory_.*", "rel", 0.05, 16),
    (r".*_seconds_total", "rel", 0.02, 5),
    (r"node_disk_(read|written)_bytes_total|node_disk_discarded_sectors_total", "rel", 0.02, 64 * MIB),
    (r"node_network_.*_bytes_total", "rel", 0.02, 10e6),
    (r".*_total", "rel", 0.02, 10000),
]

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def unescape(v):
    return v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse_text(text):
    """Prometheus text -> {name: {frozenset(labels.items()): value}}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError("unparsable line: %r" % line)
        name, body, value = m.group(1), m.group(3) or "", m.group(4)
        labels, pos = {}, 0
        while pos < len(body):
            lm = LABEL.match(body, pos)
            if not lm:
                raise ValueError("unparsable labels: %r" % line)
            if lm.group(2):  # an empty label value is no label (Prometheus drops it on ingest too)
                labels[lm.group(1)] = unescape(lm.group(2))
            pos = lm.end()
        out.setdefault(name, {})[frozenset(labels.items())] = float(value)
    return out


def tolerance(name):
    for pat, kind, rel, slack in TOLERANCES:
        if re.fullmatch(pat, name):
            return kind, rel, slack
    return "rel", 0.02, 0


def within(name, ours, theirs):
    kind, rel, slack = tolerance(name)
    if kind == "skip":
        return True
    if kind == "exact":
        return ours == theirs
    if kind == "abs":
        return abs(ours - theirs) <= slack
    return abs(ours - theirs) <= max(rel * abs(theirs), slack)


def scrape_node_exporter(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        fams = parse_text(r.read().decode())
    return {n: s for n, s in fams.items() if n.startswith("node_") and n not in IGNORED_FAMILIES}


def query_mcs(m):
    st, js = m.api.get_json("/api/v1/query", {"query": '{__name__=~"node_.+",job="node"}'})
    if st != 200 or js.get("status") != "success":
        fail("query of node_* failed: %s %s" % (st, js))
    out = {}
    for r in js["data"]["result"]:
        labels = dict(r["metric"])
        name = labels.pop("__name__")
        labels.pop("job", None)
        labels.pop("instance", None)
        out.setdefault(name, {})[frozenset(labels.items())] = float(r["value"][1])
    return out


def fmt_labels(ls):
    return "{" + ",".join('%s="%s"' % kv for kv in sorted(ls)) + "}"


def compare(ours, theirs):
    """Returns a list of differences (empty when equal within tolerance)."""
    diffs = []
    for name in sorted(set(theirs) - set(ours)):
        diffs.append("family missing in mcs: %s (%d series)" % (name, len(theirs[name])))
    for name in sorted(set(ours) - set(theirs)):
        diffs.append("family only in mcs: %s (%d series)" % (name, len(ours[name])))
    for name in sorted(set(ours) & set(theirs)):
        o, t = ours[name], theirs[name]
        for ls in sorted(set(t) - set(o), key=sorted):
            diffs.append("series missing in mcs: %s%s" % (name, fmt_labels(ls)))
        for ls in sorted(set(o) - set(t), key=sorted):
            diffs.append("series only in mcs: %s%s" % (name, fmt_labels(ls)))
        for ls in sorted(set(o) & set(t), key=sorted):
            if not within(name, o[ls], t[ls]):
                kind, rel, slack = tolerance(name)
                diffs.append("value: %s%s mcs=%r node_exporter=%r (%s, %g, %g)" %
                             (name, fmt_labels(ls), o[ls], t[ls], kind, rel, slack))
    return diffs


def main():
    if not os.access(NODE_EXPORTER, os.X_OK):
        print("skip: %s not installed" % NODE_EXPORTER)
        sys.exit(77)
    ne_port = free_port()
    ne_log = open(os.devnull, "w")
    args = [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % ne_port, "--collector.disable-defaults"]
    args += ["--collector.%s" % c for c in COLLECTORS]
    ne = subprocess.Popen(args, stdout=ne_log, stderr=subprocess.STDOUT)
    m = Mcs(collectors=1, aggregators=1, alerters=1, apiservers=1,
            config={"self_scrape": {"enabled": True, "node": True, "interval": "1s"}})
    try:
        m.start()
        log("instance %s api :%d; node_exporter pid %d on :%d" % (m.instance, m.api_port, ne.pid, ne_port))
        deadline = time.time() + 20
        theirs = None
        while time.time() < deadline:
            try:
                theirs = scrape_node_exporter(ne_port)
                break
            except OSError:
                if ne.poll() is not None:
                    fail("node_exporter exited (rc=%s)" % ne.returncode)
                time.sleep(0.2)
        check(theirs is not None, "node_exporter serves /metrics")
        deadline = time.time() + 20
        while time.time() < deadline:
            ours = query_mcs(m)
            if "node_load1" in ours and "node_scrape_collector_success" in ours:
                break
            time.sleep(0.5)
        check("node_load1" in ours, "mcs stored its own node metrics")

        diffs = []
        for attempt in range(3):
            time.sleep(1.2)  # let mcs take a round after the previous read
            theirs = scrape_node_exporter(ne_port)
            ours = query_mcs(m)
            diffs = compare(ours, theirs)
            log("round %d: %d families, %d series from node_exporter; %d differences" %
                (attempt + 1, len(theirs), sum(len(s) for s in theirs.values()), len(diffs)))
            if not diffs:
                break
            for d in diffs[:40]:
                log("  " + d)
        check(len(theirs) >= 40, "node_exporter served the covered families (%d)" % len(theirs))
        for fam in ("node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_load1", "node_context_switches_total",
                    "node_network_receive_bytes_total", "node_filesystem_size_bytes", "node_time_seconds"):
            check(fam in ours and fam in theirs, "%s on both sides" % fam)
        check(not diffs, "same families, same series, values within tolerance")
    except SystemExit:
        log(m.tail_log())
        raise
    finally:
        if ne.poll() is None:
            os.kill(ne.pid, signal.SIGTERM)
            try:
                ne.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(ne.pid, signal.SIGKILL)
                ne.wait()
        ne_log.close()
        m.cleanup()


if __name__ == "__main__":
    main()
