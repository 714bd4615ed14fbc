#!/usr/bin/env python3
"""PromQL over the Prometheus HTTP API, end to end.

Pushes a known data set (counters, a classic histogram, an info-style
metric) through the text import, then checks /api/v1/query and
/api/v1/query_range answers for rate(), sum by, topk, histogram_quantile, a
binary operation with on()/group_left, a subquery, a range query with a
step, /api/v1/format_query, /api/v1/metadata, bad queries (400 with the
position), a query over the samples limit (422 with Prometheus' message)
and the /metrics/* aliases.
"""
import math
import time

from harness import Mcs, check, fail, log

STEP_MS = 15000
N = 41  # points per series: 10 minutes at 15 s


def exposition(t0_ms):
    lines = []
    for i in range(N):
        ts = t0_ms + i * STEP_MS
        for inst, rate in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
            # counter increasing by rate per second
            lines.append('it_req_total{job="api",instance="%s"} %g %d' % (inst, rate * i * 15, ts))
        for le, frac in (("0.1", 0.5), ("0.5", 0.8), ("+Inf", 1.0)):
            lines.append('it_lat_bucket{job="api",le="%s"} %g %d' % (le, frac * 10 * i * 15, ts))
        lines.append('it_info{job="api",instance="a",version="1.2"} 1 %d' % ts)
        lines.append('it_info{job="api",instance="b",version="1.3"} 1 %d' % ts)
    return ("\n".join(lines) + "\n").encode()


def query(m, params, path="/api/v1/query"):
    st, js = m.api.get_json(path, params)
    if st != 200 or js.get("status") != "success":
        fail("%s %s -> %d %s" % (path, params, st, js))
    return js["data"]


def by_instance(result):
    return {r["metric"].get("instance", ""): float(r["value"][1]) for r in result}


def main():
    m = Mcs(collectors=1, aggregators=2, alerters=1, apiservers=1,
            config={"query": {"lookback_delta": "5m", "timeout": "30s", "max_samples": 2000}})
    try:
        m.start()
        now_ms = int(time.time() * 1000)
        t0 = (now_ms - 20 * 60 * 1000) // 60000 * 60000
        end = t0 + (N - 1) * STEP_MS
        st, _, data = m.push.request("POST", "/api/v1/import/prometheus", body=exposition(t0))
        check(st == 204, "data pushed (%d)" % st)
        end_s = "%.3f" % (end / 1000)

        deadline = time.time() + 20
        while True:
            d = query(m, {"query": "count(it_req_total)", "time": end_s})
            if d["result"] and float(d["result"][0]["value"][1]) == 3:
                break
            if time.time() > deadline:
                fail("data not visible: %s" % d)
            time.sleep(0.2)

        d = query(m, {"query": "rate(it_req_total[2m])", "time": end_s})
        check(d["resultType"] == "vector", "rate() is a vector")
        got = by_instance(d["result"])
        check(all(abs(got[k] - v) < 1e-9 for k, v in (("a", 1), ("b", 2), ("c", 3))), "rate() values %s" % got)
        check(all("__name__" not in r["metric"] for r in d["result"]), "rate() drops the metric name")

        d = query(m, {"query": "sum by (job) (rate(it_req_total[2m]))", "time": end_s})
        check(len(d["result"]) == 1 and d["result"][0]["metric"] == {"job": "api"} and
              abs(float(d["result"][0]["value"][1]) - 6) < 1e-9, "sum by (job)")

        d = query(m, {"query": "topk(2, it_req_total)", "time": end_s})
        check([r["metric"]["instance"] for r in d["result"]] == ["c", "b"], "topk(2) in descending order")

        d = query(m, {"query": "histogram_quantile(0.5, rate(it_lat_bucket[2m]))", "time": end_s})
        v = float(d["result"][0]["value"][1])
        check(abs(v - 0.1) < 1e-9, "histogram_quantile(0.5) = %g" % v)
        d = query(m, {"query": "histogram_quantile(0.9, rate(it_lat_bucket[2m]))", "time": end_s})
        v = float(d["result"][0]["value"][1])
        check(abs(v - 0.5) < 1e-9, "histogram_quantile(0.9) = %g" % v)

        d = query(m, {"query": "rate(it_req_total[2m]) * on(instance) group_left(version) it_info", "time": end_s})
        got = {r["metric"]["instance"]: (r["metric"].get("version"), round(float(r["value"][1]), 9))
               for r in d["result"]}
        check(got == {"a": ("1.2", 1.0), "b": ("1.3", 2.0)}, "on()/group_left copies version: %s" % got)

        st, js = m.api.get_json("/api/v1/query", {"query": "it_req_total + on(job) it_info", "time": end_s})
        check(st == 422 and "many-to-many matching not allowed" in js.get("error", ""),
              "cardinality error is 422: %s" % js.get("error"))

        d = query(m, {"query": "max_over_time(rate(it_req_total[1m])[5m:1m])", "time": end_s})
        got = by_instance(d["result"])
        check(abs(got["c"] - 3) < 1e-9, "subquery %s" % got)

        start_s = "%.3f" % ((end - 300000) / 1000)
        d = query(m, {"query": "sum(rate(it_req_total[2m]))", "start": start_s, "end": end_s, "step": "60"},
                  "/api/v1/query_range")
        check(d["resultType"] == "matrix" and len(d["result"]) == 1 and len(d["result"][0]["values"]) == 6,
              "query_range: 6 steps")
        check(all(abs(float(v) - 6) < 1e-9 for _, v in d["result"][0]["values"]), "query_range values")
        check(d["result"][0]["values"][1][0] - d["result"][0]["values"][0][0] == 60, "step 60 s")

        d = query(m, {"query": "sum(it_req_total)by(job)"}, "/api/v1/format_query")
        check(d == "sum by (job) (it_req_total)", "format_query: %s" % d)
        d = query(m, {}, "/api/v1/metadata")
        check(d == {}, "metadata is {}")

        st, js = m.api.get_json("/api/v1/query", {"query": "sum(rate(it_req_total[5m])"})
        check(st == 400 and js.get("errorType") == "bad_data" and "1:" in js.get("error", ""),
              "parse error is 400 with a position: %s" % js.get("error"))
        st, js = m.api.get_json("/api/v1/query_range", {"query": "it_req_total[5m]", "start": start_s,
                                                        "end": end_s, "step": "60"})
        check(st == 400, "range vector in a range query is 400")

        st, js = m.api.get_json("/api/v1/query_range", {"query": "count_over_time({job=\"api\"}[10m])",
                                                        "start": start_s, "end": end_s, "step": "1"})
        check(st == 422 and js.get("error") ==
              "query processing would load too many samples into memory in query execution",
              "samples limit is 422: %s %s" % (st, js.get("error")))

        d = query(m, {"query": "sum(it_req_total)", "time": end_s}, "/metrics/query")
        check(abs(float(d["result"][0]["value"][1]) - 6 * (N - 1) * 15) < 1e-6, "/metrics/query")
        d = query(m, {"query": "sum(it_req_total)", "time": end_s}, "/metrics/instant")
        check(d["resultType"] == "vector", "/metrics/instant")
        d = query(m, {"query": "rate(it_req_total[2m])", "start": start_s, "end": end_s, "step": "60",
                      "aggregation": "max"}, "/metrics/range")
        check(len(d["result"]) == 1 and all(abs(float(v) - 3) < 1e-9 for _, v in d["result"][0]["values"]),
              "/metrics/range with aggregation=max")
        st, js = m.api.get_json("/metrics/range", {"query": "x", "start": start_s, "end": end_s, "step": "60",
                                                   "aggregation": "median"})
        check(st == 400, "bad aggregation is 400")
        d = query(m, {}, "/metrics/labels")
        check("instance" in d and "le" in d, "/metrics/labels")
        log("all PromQL API checks passed")
    finally:
        m.stop()
        m.cleanup()


if __name__ == "__main__":
    main()
