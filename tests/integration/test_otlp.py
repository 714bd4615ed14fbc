"""OTLP/HTTP metrics through real processes, sent by the real OpenTelemetry
JS SDK exporters from npm (tests/integration/otlp_client).

- `npm ci` in otlp_client (versions pinned by package-lock.json; skipped
  when node_modules already matches the lock). No node/npm, or no registry:
  the test says why and exits 77 (skip).
- mcs with one collector; the client records a counter, an up-down counter,
  two observable gauges, an explicit histogram and an exponential histogram
  and exports them once with @opentelemetry/exporter-metrics-otlp-http
  (http/json) and once with -otlp-proto (http/protobuf, gzip), each under
  its own service.instance.id; then a delta-temporality run exports twice.
- Every translated name, label and value is checked through the query API:
  unit and type suffixes, job/instance from the resource, target_info,
  cumulative buckets, exponential buckets converted to le buckets, delta
  sums and histograms turned into running totals.
- Bad requests: 415 for another content type, 400 with a Status message for
  a malformed body.
"""
import json
import os
import shutil
import subprocess
import sys
import time

from harness import Mcs, check, fail, log

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "otlp_client")


def skip(why):
    log("SKIP: " + why)
    sys.exit(77)


def npm_install():
    """Installs the client's packages unless node_modules matches the lock."""
    if not shutil.which("node") or not shutil.which("npm"):
        skip("node or npm not installed")
    lock = os.path.join(CLIENT, "package-lock.json")
    stamp = os.path.join(CLIENT, "node_modules", ".package-lock.json")
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(lock) and \
            os.path.isdir(os.path.join(CLIENT, "node_modules", "@opentelemetry", "sdk-metrics")):
        log("node_modules up to date")
        return
    t0 = time.time()
    try:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT,
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        skip("npm ci timed out after 300 s (registry unreachable?)")
    if r.returncode != 0:
        lines = [l for l in r.stderr.strip().splitlines() if "complete log" not in l] or ["?"]
        skip("npm ci failed (registry unreachable?): %s" % " / ".join(lines[:3]))
    log("npm ci took %.1fs" % (time.time() - t0))


def export(m, kind, instance, mode=None):
    url = "http://127.0.0.1:%d/v1/metrics" % m.push_port
    args = ["node", os.path.join(CLIENT, "export.js"), url, kind, instance] + ([mode] if mode else [])
    r = subprocess.run(args, cwd=CLIENT, capture_output=True, text=True, timeout=60)
    log("client %s %s: rc=%d %s %s" % (kind, instance, r.returncode, r.stdout.strip(), r.stderr.strip()[-500:]))
    check(r.returncode == 0, "the %s exporter (%s) exported successfully" % (kind, instance))


def query(m, q):
    st, js = m.api.get_json("/api/v1/query", {"query": q})
    if st != 200:
        fail("query %s: %s %s" % (q, st, js))
    return js["data"]["result"]


def value(m, q, want, timeout=15):
    """Polls until the instant query q gives one series with value want."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        res = query(m, q)
        if len(res) == 1:
            got = float(res[0]["value"][1])
            if got == want:
                break
        else:
            got = [(r["metric"], r["value"][1]) for r in res]
        time.sleep(0.3)
    check(got == want, "%s = %s (got %s)" % (q, want, got))


def main():
    npm_install()
    m = Mcs(collectors=1, aggregators=1, alerters=1, apiservers=1)
    try:
        m.start()
        log("instance %s api :%d push :%d" % (m.instance, m.api_port, m.push_port))

        # --- bad requests
        st, hdr, data = m.push.request("POST", "/v1/metrics", body=b"a 1\n", headers={"Content-Type": "text/plain"})
        check(st == 415, "text/plain answered 415 (%d)" % st)
        st, hdr, data = m.push.request("POST", "/v1/metrics", body=b"{oops",
                                       headers={"Content-Type": "application/json"})
        check(st == 400 and json.loads(data).get("code") == 3 and json.loads(data).get("message"),
              "malformed JSON answered 400 with a Status (%d %s)" % (st, data[:120]))
        st, hdr, data = m.push.request("POST", "/v1/metrics", body=b"\x0a\x09\x01",
                                       headers={"Content-Type": "application/x-protobuf"})
        check(st == 400, "truncated protobuf answered 400 (%d)" % st)

        # --- the SDK, both exporters, cumulative
        export(m, "json", "it-json")
        export(m, "proto", "it-proto")

        for inst in ("it-json", "it-proto"):
            sel = 'job="mcs/otlp-it",instance="%s"' % inst
            value(m, 'my_requests_total{%s,route="/a"}' % sel, 5)
            value(m, 'my_requests_total{%s,route="/b"}' % sel, 7)
            value(m, 'my_sent_bytes_total{%s}' % sel, 1024)
            value(m, 'my_queue_size{%s}' % sel, 7)
            value(m, 'my_temperature_celsius{%s,room="lab"}' % sel, 21.5)
            value(m, 'my_cpu_utilization_ratio{%s}' % sel, 0.25)
            for le, n in (("10", 1), ("50", 3), ("100", 4), ("500", 4), ("+Inf", 5)):
                value(m, 'my_latency_milliseconds_bucket{%s,le="%s"}' % (sel, le), n)
            value(m, 'my_latency_milliseconds_sum{%s}' % sel, 825)
            value(m, 'my_latency_milliseconds_count{%s}' % sel, 5)
            # exponential histogram of 1, 2, 4, 1000 -> le buckets; 4 is a
            # bucket boundary at every scale, 1000 is past the second one
            value(m, 'my_size_bytes_bucket{%s,le="4"}' % sel, 3)
            value(m, 'my_size_bytes_bucket{%s,le="+Inf"}' % sel, 4)
            value(m, 'my_size_bytes_count{%s}' % sel, 4)
            value(m, 'my_size_bytes_sum{%s}' % sel, 1007)
            res = query(m, 'my_size_bytes_bucket{%s}' % sel)
            buckets = sorted((float(r["metric"]["le"]), float(r["value"][1])) for r in res)
            check(len(buckets) > 10 and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
                  and any(le >= 1000 and n == 4 for le, n in buckets[:-1])
                  and all(n == 3 for le, n in buckets if 4 <= le < 1000),
                  "%d exponential buckets, cumulative, 1000 in the last finite one" % len(buckets))
            res = query(m, 'target_info{%s}' % sel)
            check(len(res) == 1 and res[0]["metric"].get("deployment_environment") == "test"
                  and res[0]["metric"].get("telemetry_sdk_language") == "nodejs"
                  and "service_name" not in res[0]["metric"],
                  "target_info carries the other resource attributes (%s)" % (res[0]["metric"] if res else res))
            check(float(res[0]["value"][1]) == 1, "target_info is 1")
            res = query(m, '{__name__=~"my_.*",%s}' % sel)
            names = sorted({r["metric"]["__name__"] for r in res})
            check(names == ["my_cpu_utilization_ratio", "my_latency_milliseconds_bucket",
                            "my_latency_milliseconds_count", "my_latency_milliseconds_sum", "my_queue_size",
                            "my_requests_total", "my_sent_bytes_total", "my_size_bytes_bucket",
                            "my_size_bytes_count", "my_size_bytes_sum", "my_temperature_celsius"],
                  "exactly the expected metric names for %s (%s)" % (inst, names))

        # --- delta temporality: two exports become running totals
        export(m, "proto", "it-delta", "delta")
        sel = 'job="mcs/otlp-it",instance="it-delta"'
        value(m, 'my_delta_requests_total{%s}' % sel, 8)
        value(m, 'my_delta_latency_milliseconds_bucket{%s,le="10"}' % sel, 1)
        value(m, 'my_delta_latency_milliseconds_bucket{%s,le="50"}' % sel, 3)
        value(m, 'my_delta_latency_milliseconds_bucket{%s,le="+Inf"}' % sel, 3)
        value(m, 'my_delta_latency_milliseconds_count{%s}' % sel, 3)
        value(m, 'my_delta_latency_milliseconds_sum{%s}' % sel, 55)
        log("PASS")
    finally:
        m.cleanup()


if __name__ == "__main__":
    main()
