"""Crash test at scale (issue 4): import 10 M samples through the pipeline
while SIGKILLing an aggregator every 2-4 s; after the final restart every
acknowledged sample is queryable exactly once.

Shape: SERIES series x PER samples (10,000 x 1,000; 1,000 x 500 under the
sanitizer build, MCS_BIN containing "bin-san"), pushed as Prometheus text
to /api/v1/import/prometheus with explicit timestamps by CLIENTS
concurrent clients. Client k owns the series s with s % CLIENTS == k and
sends them in time order, STEPS timestamps of all its series per body, so
each series only ever sees its own timestamps ascending (plus re-sent
duplicates). A body counts as acknowledged only on 204; anything else
(503 while an aggregator is down, a reset connection) is retried with the
same bytes until it is. Sample j of series s has timestamp BASE + j*15 s
and value (s % 97) + j, so the sender's record per series is exactly
PER samples summing to PER*(s%97) + PER*(PER-1)/2, and every sum is an
exact integer in a double.

The push is paced over at least PACE_S seconds (unpaced it takes a few
seconds). Meanwhile a killer thread SIGKILLs a random running aggregator
every 2-4 s (collectors=2, aggregators=2, 2 MiB rings so that a shard
that is down fills them and pushes are refused and retried), and POST
/api/v1/admin/tsdb/flush is sent at one third and at two thirds of the
push, each first attempt with one shard killed while it writes its block,
so kills land across flushes (block writes, WAL checkpoints) as well; the
timestamps lie hours back, so the aggregators' own automatic flushes and
rollups run during the push too.

After the push both aggregators are killed once more and the check runs
after that final restart: count_over_time and sum_over_time over a range
covering every sample, at one instant, for every series, must equal the
sender's record (no sample lost, none counted twice).

Prints samples, kills, retries, flushes and times. Must finish in under
3 minutes on the 2-core test machine.
"""
import os
import random
import signal
import sys
import threading
import time

from harness import BIN, Mcs, check, fail, log

SAN = "bin-san" in BIN
SERIES = int(os.environ.get("MCS_CRASH_SERIES", 1000 if SAN else 10000))
PER = int(os.environ.get("MCS_CRASH_PER", 500 if SAN else 1000))
CLIENTS = 4
STEPS = 4                 # timestamps per body: SERIES/CLIENTS*STEPS samples
PACE_S = 40 if SAN else 60  # the push is spread over at least this long
INTERVAL_MS = 15000
METRIC = "crash10m"
PUSH_DEADLINE_S = 150     # the push must be acknowledged within this
SETTLE_S = 60             # after the final restart, the data must be back within this


def expected(s):
    """The sender's record for series s: (count, sum)."""
    return PER, PER * (s % 97) + PER * (PER - 1) // 2


class Run:
    def __init__(self, m, base_ms, t0):
        self.m = m
        self.t0 = t0
        self.base = base_ms
        self.lock = threading.Lock()
        self.acked_samples = 0
        self.acked = {}           # series -> [count, sum] acknowledged
        self.retries = 0
        self.bodies = 0
        self.errors = []
        self.push_done = threading.Event()
        self.stop_killer = threading.Event()
        self.kills = 0
        self.flushes = []         # (t, status, seconds, killed shard or None)
        self.prefix = ['%s{s="%d"} ' % (METRIC, s) for s in range(SERIES)]
        self.ts = [" %d\n" % (base_ms + j * INTERVAL_MS) for j in range(PER)]

    def body(self, k, j0):
        """Client k's body for timestamps j0 .. j0+STEPS-1."""
        pre, ts = self.prefix, self.ts
        j1 = min(j0 + STEPS, PER)
        return "".join(pre[s] + str(s % 97 + j) + ts[j]
                       for j in range(j0, j1) for s in range(k, SERIES, CLIENTS)).encode()

    def client(self, k, t_end):
        try:
            nb = (PER + STEPS - 1) // STEPS
            for i, j0 in enumerate(range(0, PER, STEPS)):
                # Unpaced, the pipeline takes 10 M samples in a few
                # seconds, too fast for kills every 2-4 s to land in it.
                wait = self.t0 + PACE_S * i / nb - time.time()
                if wait > 0:
                    time.sleep(wait)
                b = self.body(k, j0)
                while True:
                    if time.time() > t_end:
                        self.errors.append("client %d: body at j=%d never acknowledged" % (k, j0))
                        return
                    try:
                        st, _, data = self.m.push.request("POST", "/api/v1/import/prometheus", body=b)
                    except OSError:
                        st, data = 0, b""
                    if st == 204:
                        break
                    if st not in (0, 503):
                        # 400/413 would mean the test is wrong; no point retrying.
                        self.errors.append("client %d: status %d: %s" % (k, st, data[:200]))
                        return
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.2)
                j1 = min(j0 + STEPS, PER)
                with self.lock:
                    self.bodies += 1
                    for s in range(k, SERIES, CLIENTS):
                        r = self.acked.setdefault(s, [0, 0])
                        for j in range(j0, j1):
                            r[0] += 1
                            r[1] += s % 97 + j
                    self.acked_samples += (j1 - j0) * len(range(k, SERIES, CLIENTS))
        except Exception as e:  # a bug in the test itself: report, do not hang
            self.errors.append("client %d: %r" % (k, e))

    def kill_one(self, j):
        """SIGKILLs aggregator j if it runs; 1 when it did."""
        pids = self.m.stage_pids("aggregator", j)
        if not pids:
            return 0  # still restarting: that one is down already
        try:
            os.kill(pids[0], signal.SIGKILL)
        except OSError:
            return 0
        with self.lock:
            self.kills += 1
        return 1

    def killer(self):
        rnd = random.Random(4)
        while not self.stop_killer.wait(rnd.uniform(2.0, 4.0)):
            self.kill_one(rnd.randrange(2))

    def flusher(self):
        """Two flushes; each first attempt has one shard killed 0.3 s in,
        while it writes its block, and is retried until it succeeds."""
        total = SERIES * PER
        rnd = random.Random(5)
        for frac in (1 / 3, 2 / 3):
            while not self.push_done.is_set() and self.acked_samples < total * frac:
                time.sleep(0.2)
            if self.push_done.is_set():
                return
            for attempt in range(60):
                victim = rnd.randrange(2) if attempt == 0 else None
                if victim is not None:
                    # Into the block write: it takes ~1 s at full scale, a
                    # few tens of ms at the sanitizer scale.
                    threading.Timer(0.02 if SAN else 0.3, self.kill_one, args=(victim,)).start()
                t1 = time.time()
                try:
                    st, _, _ = self.m.api.request("POST", "/api/v1/admin/tsdb/flush")
                except OSError:
                    st = 0
                self.flushes.append((round(t1 - self.t0, 1), st, round(time.time() - t1, 2), victim))
                if 200 <= st < 300 or self.push_done.is_set():
                    break
                time.sleep(0.5)


def query_vec(m, expr, at):
    """{series index: value} of an instant query, or None on an error."""
    try:
        st, js = m.api.get_json("/api/v1/query", {"query": expr, "time": "%.3f" % at})
    except OSError:
        return None
    if st != 200 or js.get("status") != "success":
        return None
    out = {}
    for r in js["data"]["result"]:
        out[int(r["metric"]["s"])] = float(r["value"][1])
    return out


def test_crash_10m():
    # Rings of 2 MiB hold about a second of the push: while an aggregator
    # is down they fill, and pushes are refused (503) and retried.
    m = Mcs(collectors=2, aggregators=2, config={"self_scrape": {"enabled": False, "node": False},
                                                 "rings": {"sample_bytes": 2097152, "push_wait": "1s"}})
    # Timestamps end ten minutes ago, on the 15 s grid: hours old, so the
    # head is due for flushing (blocks older than 2 h) while the push runs.
    now = int(time.time() * 1000) // INTERVAL_MS * INTERVAL_MS
    base = now - PER * INTERVAL_MS - 600000
    last = base + (PER - 1) * INTERVAL_MS
    at = (last + 1000) / 1000.0
    rng = "%ds" % ((last - base) // 1000 + 60)
    try:
        m.start()
        t0 = time.time()
        run = Run(m, base, t0)
        clients = [threading.Thread(target=run.client, args=(k, t0 + PUSH_DEADLINE_S)) for k in range(CLIENTS)]
        kt = threading.Thread(target=run.killer)
        ft = threading.Thread(target=run.flusher)
        for t in clients + [kt, ft]:
            t.start()
        for t in clients:
            t.join()
        run.push_done.set()
        run.stop_killer.set()
        kt.join()
        ft.join()
        t_push = time.time() - t0
        log("push: %d samples in %d bodies acknowledged in %.1f s (%.0f samples/s), %d retries, %d kills, flushes %s"
            % (run.acked_samples, run.bodies, t_push, run.acked_samples / t_push, run.retries, run.kills, run.flushes))
        if run.errors:
            fail("push failed: %s" % "; ".join(run.errors[:5]))
        check(run.acked_samples == SERIES * PER, "every body acknowledged in the end (%d samples)" % run.acked_samples)
        check(run.kills >= 3, "aggregators SIGKILLed %d times during the push" % run.kills)
        check(any(200 <= f[1] < 300 for f in run.flushes), "a flush succeeded during the push")

        # Wait until both shards have consumed the rings, then the final
        # restart: kill both and check what they bring back.
        total_expr = "sum(count_over_time(%s[%s]))" % (METRIC, rng)
        t1 = time.time()
        got = None
        while time.time() - t1 < SETTLE_S:
            try:
                st, js = m.api.get_json("/api/v1/query", {"query": total_expr, "time": "%.3f" % at})
                res = js["data"]["result"] if st == 200 else []
                got = float(res[0]["value"][1]) if res else None
            except (OSError, KeyError, ValueError):
                got = None
            if got == SERIES * PER:
                break
            time.sleep(0.5)
        log("before the final restart: %s samples queryable (%.1f s after the push)" % (got, time.time() - t1))
        old = [m.stage_pids("aggregator", j) for j in (0, 1)]
        for pids in old:
            for p in pids:
                os.kill(p, signal.SIGKILL)
        run.kills += sum(len(p) for p in old)
        t2 = time.time()
        for j in (0, 1):
            new = m.wait_stage_pid("aggregator", j, not_pid=old[j][0] if old[j] else None, timeout=30)
            if new is None:
                fail("aggregator %d not restarted after the final kill; log:\n%s" % (j, m.tail_log()))

        # After the final restart: per series count and sum at one instant.
        cnt = sm = None
        while time.time() - t2 < SETTLE_S:
            cnt = query_vec(m, "count_over_time(%s[%s])" % (METRIC, rng), at)
            if cnt is not None and len(cnt) == SERIES and sum(cnt.values()) == SERIES * PER:
                break
            time.sleep(0.5)
        t_back = time.time() - t2
        sm = query_vec(m, "sum_over_time(%s[%s])" % (METRIC, rng), at)
        check(cnt is not None and sm is not None, "count_over_time and sum_over_time answer after the final restart")
        bad = []
        for s in range(SERIES):
            want = expected(s)
            rec = tuple(run.acked.get(s, (0, 0)))
            if rec != want:
                bad.append("series %d: sender's record %s, expected %s" % (s, rec, want))
            elif (cnt.get(s), sm.get(s)) != (float(want[0]), float(want[1])):
                bad.append("series %d: count %s sum %s, sent %d and %d" % (s, cnt.get(s), sm.get(s), want[0], want[1]))
        extra = set(cnt) - set(range(SERIES))
        log("after the final restart: %d series, %d samples queryable (%.1f s to come back)"
            % (len(cnt), sum(cnt.values()), t_back))
        check(not extra, "no series beyond the sent ones (%d extra)" % len(extra))
        check(not bad, "every series has exactly its acknowledged count and sum (%d of %d wrong%s)"
              % (len(bad), SERIES, ": " + "; ".join(bad[:5]) if bad else ""))
        with open(m.log_path, errors="replace") as f:
            reports = [l for l in f if "Sanitizer" in l or "runtime error:" in l]
        check(not reports, "no sanitizer reports in the stages' log%s" % (": " + reports[0] if reports else ""))
        log("crash test: %d samples (%d series x %d), %d kills, %d retries, %d flushes (%d ok), "
            "push %.1f s, total %.1f s"
            % (SERIES * PER, SERIES, PER, run.kills, run.retries, len(run.flushes),
               sum(1 for f in run.flushes if 200 <= f[1] < 300), t_push, time.time() - t0))
    finally:
        m.cleanup()


if __name__ == "__main__":
    log("== test_crash_10m (%s)" % ("sanitizer scale" if SAN else "full scale"))
    test_crash_10m()
    sys.exit(0)
