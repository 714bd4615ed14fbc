"""End to end through real processes: 2 collectors, 2 aggregators, an
alerter and an apiserver on free loopback ports.

- 1,000,000 samples over 10,000 series pushed through the text import
  endpoint by several concurrent clients; a collector, the alerter and the
  apiserver are SIGKILLed during the push; the launcher restarts each; the
  clients retry what failed; every sample is then counted exactly (count and
  sum per series, through the query API).
- A threshold rule fires and shows in /alerts/active.
- mcs-ringctl lists every ring.
- Bad bodies get 400 with the line number; nothing of them is stored.
- promtool check metrics accepts /metrics.
"""
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import Mcs, check, fail, gzip_bytes, log

SERIES = 10000
PER_SERIES = 100
CLIENTS = 4
SAN = "san" in os.environ.get("MCS_BIN", "")
if SAN:  # sanitizer build: same paths, a tenth of the volume
    SERIES, PER_SERIES = 2000, 50
PACE = 3.0 * CLIENTS / PER_SERIES  # the push lasts about 3 s whatever the volume


def body_for(chunk, base_ms):
    """Samples chunk*... : each body carries one timestamp for every series."""
    lines = []
    ts = base_ms + chunk * 1000
    for s in range(SERIES):
        v = s * 1000 + chunk
        lines.append('mcs_it_total{series="s%05d",job="it",shard="%d"} %d %d\n' % (s, s % 7, v, ts))
    return "".join(lines).encode()


def main():
    cfg = {"rules": [{"alert": "ItGaugeHigh", "expr": 'mcs_it_gauge{job="it"} > 100', "for": "0s",
                      "labels": {"severity": "page"}, "annotations": {"summary": "gauge above 100"}}],
           "self_scrape": {"enabled": True, "node": True, "interval": "2s"}}
    m = Mcs(collectors=2, aggregators=2, alerters=1, apiservers=1, config=cfg)
    try:
        m.start()
        log("instance %s api :%d push :%d" % (m.instance, m.api_port, m.push_port))
        base_ms = (int(time.time()) - 3600) * 1000

        # --- bad bodies: 400 with the line, nothing stored
        bad = b'good_metric 1\nbad metric{ 2\n'
        st, _, data = m.push.request("POST", "/api/v1/import/prometheus", body=bad)
        check(st == 400 and b"line 2" in data, "bad body answered 400 naming line 2 (%d %s)" % (st, data[:120]))
        st, _, data = m.push.request("POST", "/api/v1/import/prometheus", body=b'x{a="1",a="2"} 1\n')
        check(st == 400 and b"line 1" in data, "duplicate label answered 400 (%d %s)" % (st, data[:120]))
        st, _, data = m.push.request("POST", "/api/v1/import/prometheus", body=b"not gzip",
                                     headers={"Content-Encoding": "gzip"})
        check(st == 400, "broken gzip answered 400")

        # --- concurrent push with kills
        chunks = list(range(PER_SERIES))
        lock = threading.Lock()
        stats = {"retries": 0, "codes": {}}

        def client(my):
            for c in my:
                payload = body_for(c, base_ms)
                use_gzip = c % 2 == 0
                body = gzip_bytes(payload) if use_gzip else payload
                hdr = {"Content-Encoding": "gzip"} if use_gzip else {}
                for attempt in range(200):
                    try:
                        st, _, _ = m.push.request("POST", "/api/v1/import/prometheus", body=body, headers=hdr)
                    except OSError as e:
                        st = "err:%s" % type(e).__name__
                    with lock:
                        stats["codes"][st] = stats["codes"].get(st, 0) + 1
                    if st == 204:
                        time.sleep(PACE)  # paced, so the kills below land mid-push
                        break
                    with lock:
                        stats["retries"] += 1
                    time.sleep(0.1)
                else:
                    fail("chunk %d never accepted" % c)

        threads = [threading.Thread(target=client, args=(chunks[i::CLIENTS],)) for i in range(CLIENTS)]
        t0 = time.time()
        for t in threads:
            t.start()

        killed = {}
        time.sleep(0.5)
        for stage, idx in (("collector", 1), ("alerter", 0), ("apiserver", 0)):
            pids = m.stage_pids(stage, idx)
            check(len(pids) == 1, "found %s[%d] pid %s" % (stage, idx, pids))
            os.kill(pids[0], signal.SIGKILL)
            killed[(stage, idx)] = pids[0]
            time.sleep(0.3)
        check(any(t.is_alive() for t in threads), "the kills landed while clients were still pushing")
        for (stage, idx), old in killed.items():
            new = m.wait_stage_pid(stage, idx, not_pid=old, timeout=5)
            check(new is not None and new != old, "%s[%d] restarted (pid %s -> %s)" % (stage, idx, old, new))
        for t in threads:
            t.join()
        dt = time.time() - t0
        log("pushed %d samples in %.1fs with %d retries; codes %s" %
            (SERIES * PER_SERIES, dt, stats["retries"], stats["codes"]))

        # --- every sample queryable, exactly once
        m.wait_ready()
        end_s = base_ms / 1000 + PER_SERIES + 10
        deadline = time.time() + 30
        while True:
            st, js = m.api.get_json("/api/v1/query", {"query": 'mcs_it_total{job="it"}[2h]', "time": "%.3f" % end_s})
            if st == 200:
                res = js["data"]["result"]
                total = sum(len(r["values"]) for r in res)
                if total == SERIES * PER_SERIES or time.time() > deadline:
                    break
            elif time.time() > deadline:
                fail("range query failed: %s %s" % (st, js))
            time.sleep(0.5)
        check(js["data"]["resultType"] == "matrix", "range selector answers a matrix")
        check(len(res) == SERIES, "all %d series present (got %d)" % (SERIES, len(res)))
        check(total == SERIES * PER_SERIES, "exactly %d samples stored (got %d)" % (SERIES * PER_SERIES, total))
        bad_series = 0
        for r in res:
            s = int(r["metric"]["series"][1:])
            vals = [float(v[1]) for v in r["values"]]
            expect = sum(s * 1000 + c for c in range(PER_SERIES))
            if len(vals) != PER_SERIES or sum(vals) != expect:
                bad_series += 1
        check(bad_series == 0, "count and sum match the sender's record for every series")

        st, js = m.api.get_json("/api/v1/series", {"match[]": 'mcs_it_total{shard="3"}'})
        check(st == 200 and len(js["data"]) == len([s for s in range(SERIES) if s % 7 == 3]),
              "/api/v1/series filters by label")
        st, js = m.api.get_json("/api/v1/label/shard/values")
        check(st == 200 and js["data"] == [str(i) for i in range(7)], "/api/v1/label/shard/values")
        st, js = m.api.get_json("/api/v1/labels")
        check(st == 200 and {"__name__", "job", "series", "shard"} <= set(js["data"]), "/api/v1/labels")
        st, js = m.api.get_json("/api/v1/series", {"match[]": "good_metric"})
        check(st == 200 and js["data"] == [], "nothing of the rejected body was stored")
        st, js = m.api.get_json("/api/v1/query", {"query": "mcs_it_total{"})
        check(st == 400 and js.get("status") == "error" and js.get("errorType") == "bad_data",
              "bad selector gets a Prometheus error body")

        # --- the default collection shows up
        deadline = time.time() + 15
        while time.time() < deadline:
            st, js = m.api.get_json("/api/v1/query", {"query": "node_load1"})
            if st == 200 and js["data"]["result"]:
                break
            time.sleep(0.5)
        check(js["data"]["result"], "node_load1 collected by default")

        # --- an alert fires
        now_ms = int(time.time() * 1000)
        st, _, _ = m.push.request("POST", "/api/v1/import/prometheus",
                                  body=('mcs_it_gauge{job="it",host="a"} 150 %d\nmcs_it_gauge{job="it",host="b"} 5 %d\n'
                                        % (now_ms, now_ms)).encode())
        check(st == 204, "gauge pushed")
        deadline = time.time() + 10
        alerts = []
        while time.time() < deadline:
            st, js = m.api.get_json("/alerts/active")
            alerts = [a for a in js.get("alerts", []) if a.get("name") == "ItGaugeHigh"] if st == 200 else []
            if alerts and alerts[0].get("state") == "firing":
                break
            time.sleep(0.2)
        check(len(alerts) == 1 and alerts[0]["state"] == "firing" and alerts[0]["labels"].get("host") == "a",
              "threshold rule fires for host a only (%s)" % alerts)

        # --- rings
        r = m.ringctl("list")
        names = ["c%d-a%d" % (i, j) for i in range(2) for j in range(2)] + ["a0-r0", "a1-r0", "p0-a0-q", "a0-p0-r"]
        check(r.returncode == 0 and all(n in r.stdout for n in names), "mcs-ringctl lists every ring")
        r = m.ringctl("peek", "c0-a0")
        check(r.returncode == 0, "mcs-ringctl peek decodes a ring without consuming")
        r = m.ringctl("list", "--json")
        check(r.returncode == 0 and r.stdout.strip().startswith(("{", "[")), "mcs-ringctl list --json")

        # --- own metrics pass promtool
        st, _, data = m.api.request("GET", "/metrics")
        check(st == 200 and b"mcs_samples_in_total" in data, "/metrics serves the stage counters")
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True)
            check(p.returncode == 0, "promtool check metrics accepts /metrics (%s)" % p.stderr.decode()[:500])
        else:
            log("skip: promtool not installed")

        took = m.stop()
        check(took < 10, "SIGTERM stops the pipeline in order within 10 s (%.1fs)" % took)
    except SystemExit:
        log(m.tail_log())
        raise
    finally:
        m.cleanup()


if __name__ == "__main__":
    main()
