"""Shared pieces of the integration tests and benchmarks: free ports, a
running mcs instance (mcs-launch in the foreground of a child process),
HTTP helpers, and clean shutdown by PID.

Everything runs on 127.0.0.1 with ports the kernel hands out, and each test
uses its own instance name and data directory, so tests can run side by
side with a real instance.
"""
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

TOP = os.environ.get("MCS_TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("MCS_BIN", os.path.join(TOP, "bin"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(*a):
    print(*a, flush=True)


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    log("ok: " + msg)


class Http:
    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def get_json(self, path, params=None):
        if params:
            path += "?" + urllib.parse.urlencode(params, doseq=True)
        status, _, data = self.request("GET", path)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"raw": data.decode(errors="replace")}


class Mcs:
    """One mcs instance under mcs-launch, stopped by PID."""

    def __init__(self, collectors=1, aggregators=1, alerters=1, apiservers=1, config=None, name=None):
        self.instance = name or "t%d_%d" % (os.getpid(), int(time.time() * 1000) % 100000)
        self.dir = tempfile.mkdtemp(prefix="mcs-test-")
        self.api_port = free_port()
        self.push_port = free_port()
        cfg = {"instance": self.instance, "data_dir": self.dir,
               "api_listen": "127.0.0.1:%d" % self.api_port,
               "push_listen": "127.0.0.1:%d" % self.push_port,
               "collectors": collectors, "aggregators": aggregators,
               "alerters": alerters, "apiservers": apiservers}
        cfg.update(config or {})
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.log_path = os.path.join(self.dir, "launch.log")
        self.proc = None
        self.api = Http(self.api_port)
        self.push = Http(self.push_port)

    def start(self, wait_ready=True):
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(BIN, "mcs-launch"), "--config", self.config_path],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail("mcs-launch exited early (rc=%s); log:\n%s" % (self.proc.returncode, self.tail_log()))
            try:
                st, _, _ = self.api.request("GET", "/-/ready")
                st2, _, _ = self.push.request("GET", "/-/healthy")
                if st == 200 and st2 == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        fail("instance not ready within %ds; log:\n%s" % (timeout, self.tail_log()))

    def tail_log(self, n=60):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stage_pids(self, stage, index):
        """PIDs of a stage process of this instance (matched by its argv)."""
        out = subprocess.run(["pgrep", "-f", "mcs-%s --config .*%s.* --index %d$" % (stage, self.instance, index)],
                             capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]

    def wait_stage_pid(self, stage, index, not_pid=None, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pids = [p for p in self.stage_pids(stage, index) if p != not_pid]
            if pids:
                return pids[0]
            time.sleep(0.05)
        return None

    def ringctl(self, *args):
        return subprocess.run([os.path.join(BIN, "mcs-ringctl"), "--instance", self.instance] + list(args),
                              capture_output=True, text=True, timeout=30)

    def stop(self, timeout=15):
        """SIGTERM the launcher; returns seconds it took to exit."""
        if not self.proc or self.proc.poll() is not None:
            return 0.0
        t0 = time.time()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return float("inf")
        return time.time() - t0

    def cleanup(self):
        self.stop()
        subprocess.run([os.path.join(BIN, "mcs-launch"), "--instance", self.instance, "--cleanup"],
                       capture_output=True)
        for stage in ("collector", "aggregator", "alerter", "apiserver"):
            for i in range(64):
                for p in self.stage_pids(stage, i):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
        if os.environ.get("MCS_KEEP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)


def gzip_bytes(b):
    return gzip.compress(b, compresslevel=1)


class VictoriaMetrics:
    """A real victoria-metrics (Debian package) on a free loopback port with
    a temporary data dir, stopped by PID: the peer of the benchmarks.
    `with VictoriaMetrics() as vm:` gives vm.port, vm.dir and vm.pid; it is
    None-safe: VictoriaMetrics.available() tells whether it is installed."""

    def __init__(self):
        self.exe = shutil.which("victoria-metrics")
        self.dir = tempfile.mkdtemp(prefix="vm-bench-")
        self.port = free_port()
        self.proc = None

    @staticmethod
    def available():
        return shutil.which("victoria-metrics") is not None

    @property
    def pid(self):
        return self.proc.pid

    def __enter__(self):
        self.proc = subprocess.Popen([self.exe, "-storageDataPath", self.dir,
                                      "-httpListenAddr", "127.0.0.1:%d" % self.port,
                                      "-retentionPeriod", "100y", "-search.latencyOffset", "0s",
                                      "-search.disableCache"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                if Http(self.port, timeout=2).request("GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False
