"""Failure and load behaviour of the real processes:

- idle: a started pipeline with nothing to do uses under 1% of a CPU;
- back-pressure: with the aggregator stopped (SIGSTOP) and small rings, a
  push is refused with 503 + Retry-After and a JSON error once the rings
  stay full; nothing acknowledged is lost; after SIGCONT the retried push
  succeeds and every acknowledged sample is stored exactly once;
- hang: a stage that stops heartbeating (SIGSTOP) is killed and restarted
  by the launcher after the hang timeout;
- --only: `mcs-launch --only collector --index 0` runs a single stage
  against an instance's segments.
"""
import os
import signal
import subprocess
import time

from harness import BIN, Mcs, check, log


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def stage_pids(m):
    pids = []
    for stage in ("collector", "aggregator", "alerter", "apiserver"):
        pids += m.stage_pids(stage, 0)
    return pids


def test_idle():
    m = Mcs(config={"self_scrape": {"enabled": True, "node": True, "interval": "15s"}})
    try:
        m.start()
        time.sleep(2)  # past the first collection round
        pids = stage_pids(m) + [m.proc.pid]
        check(len(pids) == 5, "four stages and the launcher running")
        before = sum(cpu_ticks(p) for p in pids)
        t0 = time.time()
        time.sleep(5)
        used = (sum(cpu_ticks(p) for p in pids) - before) / os.sysconf("SC_CLK_TCK")
        frac = used / (time.time() - t0)
        check(frac < 0.01, "idle pipeline uses under 1%% of a CPU (%.2f%%)" % (frac * 100))
    finally:
        m.cleanup()


def test_backpressure():
    m = Mcs(config={"rings": {"sample_bytes": 65536, "push_wait": "1s"},
                    "launcher": {"hang_timeout": "60s"},
                    "self_scrape": {"enabled": False, "node": False}})
    try:
        m.start()
        agg = m.stage_pids("aggregator", 0)[0]
        os.kill(agg, signal.SIGSTOP)
        accepted, refused = [], None
        for i in range(400):
            body = "".join('bp_metric{i="%d",k="%d"} %d %d\n' % (i, k, k, 1700000000000 + i) for k in range(20))
            st, hdr, data = m.push.request("POST", "/api/v1/import/prometheus", body=body.encode())
            if st == 204:
                accepted.append(i)
                continue
            refused = (i, st, hdr, data, body)
            break
        check(refused is not None and refused[1] == 503, "full rings answer 503 (after %d bodies)" % len(accepted))
        check(refused[2].get("Retry-After") == "1", "503 carries Retry-After")
        check(b'"status":"error"' in refused[3], "503 carries a JSON error")
        os.kill(agg, signal.SIGCONT)
        i, _, _, _, body = refused
        for _ in range(50):
            st, _, _ = m.push.request("POST", "/api/v1/import/prometheus", body=body.encode())
            if st == 204:
                break
            time.sleep(0.1)
        check(st == 204, "the retried push succeeds once the aggregator runs again")
        accepted.append(i)
        want = len(accepted) * 20
        deadline = time.time() + 10
        while time.time() < deadline:
            st, js = m.api.get_json("/api/v1/query", {"query": "bp_metric[1y]", "time": "1700000100"})
            got = sum(len(r["values"]) for r in js["data"]["result"]) if st == 200 else -1
            if got == want:
                break
            time.sleep(0.2)
        check(got == want, "every acknowledged sample stored exactly once (%d of %d)" % (got, want))
        st, _, data = m.api.request("GET", "/metrics")
        full = [l for l in data.decode().splitlines() if l.startswith("mcs_ring_full_waits_total") and "c0-a0" in l]
        check(full and float(full[0].split()[-1]) > 0, "full waits counted in /metrics (%s)" % full)
    finally:
        m.cleanup()


def test_hang():
    m = Mcs(config={"launcher": {"hang_timeout": "2s"}, "self_scrape": {"enabled": False, "node": False}})
    try:
        m.start()
        old = m.stage_pids("alerter", 0)[0]
        os.kill(old, signal.SIGSTOP)
        new = m.wait_stage_pid("alerter", 0, not_pid=old, timeout=8)
        check(new is not None, "a hung alerter (SIGSTOP) is killed and restarted (%s -> %s)" % (old, new))
        check("hung" in m.tail_log(200), "the launcher logs why it killed it")
    finally:
        m.cleanup()


def test_aggregator_crash():
    """SIGKILL the aggregators mid-push: the WAL and the ring replay make
    every acknowledged sample come back exactly once."""
    m = Mcs(collectors=1, aggregators=2, config={"self_scrape": {"enabled": False, "node": False}})
    try:
        m.start()
        import threading
        acked = []
        done = threading.Event()

        def pusher():
            for b in range(60):
                body = "".join('crash_metric{s="%d"} %d %d\n' % (s, b, 1700000000000 + b * 1000)
                               for s in range(500)).encode()
                for _ in range(300):
                    try:
                        st, _, _ = m.push.request("POST", "/api/v1/import/prometheus", body=body)
                    except OSError:
                        st = 0
                    if st == 204:
                        acked.append(b)
                        break
                    time.sleep(0.05)
                time.sleep(0.05)
            done.set()

        t = threading.Thread(target=pusher)
        t.start()
        kills = 0
        while not done.is_set() and kills < 4:
            time.sleep(0.6)
            for j in (0, 1):
                pids = m.stage_pids("aggregator", j)
                if pids and not done.is_set():
                    os.kill(pids[0], signal.SIGKILL)
                    kills += 1
        t.join()
        check(kills >= 2, "aggregators SIGKILLed %d times during the push" % kills)
        want = len(acked) * 500
        deadline = time.time() + 20
        got = -1
        while time.time() < deadline:
            try:
                st, js = m.api.get_json("/api/v1/query", {"query": "crash_metric[1y]", "time": "1700000100"})
            except OSError:
                st = 0
            if st == 200:
                res = js["data"]["result"]
                got = sum(len(r["values"]) for r in res)
                if got == want:
                    break
            time.sleep(0.3)
        check(len(acked) == 60, "every push acknowledged in the end (%d)" % len(acked))
        check(got == want, "every acknowledged sample stored exactly once after the crashes (%d of %d)" % (got, want))
    finally:
        m.cleanup()


def test_only():
    m = Mcs(config={"self_scrape": {"enabled": False, "node": False}})
    try:
        m.start()
        m.stop()  # segments stay; run one stage alone against them
        p = subprocess.Popen([os.path.join(BIN, "mcs-launch"), "--config", m.config_path,
                              "--only", "collector", "--index", "0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            st = None
            while time.time() < deadline:
                try:
                    st, _, _ = m.push.request("GET", "/-/ready")
                    if st == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            check(st == 200, "--only collector serves pushes alone")
            check(len(m.stage_pids("aggregator", 0)) == 0, "and starts nothing else")
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=15)
    finally:
        m.cleanup()


if __name__ == "__main__":
    for t in (test_idle, test_backpressure, test_hang, test_aggregator_crash, test_only):
        log("== " + t.__name__)
        t()
