"""The /metrics/sources REST API through real processes: 2 collectors and 2
apiservers (writes from either serialise on the file lock).

- CRUD round trip: POST (id assigned, 201 + Location), GET list and one,
  PUT (replace; 404 when absent), DELETE (204; 404 after), 409 on a taken id.
- Bad input: 400 in Prometheus' error shape naming the field; 415 for a
  body that is not JSON; 413 past the body limit; 405 for other methods.
- A push source with labels {"team":"a"}: text-import pushes made after it
  (to whichever collector takes the connection) get team="a", a sample that
  has its own team keeps it; after DELETE new pushes no longer get it.
- A corrupt sources.json: the collector logs the file and the error and
  keeps the last good labels; the API answers 500 naming the file.
- Persistence across a full restart of the instance: the sources are still
  listed and the labels apply to the first pushes.
"""
import json
import os
import time

from harness import Mcs, check, fail, log

APPLY_S = 2.5  # the collector polls once a second; the brief promises ~2 s


def req(m, method, path, body=None, ctype="application/json"):
    headers = {}
    if body is not None:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if ctype:
            headers["Content-Type"] = ctype
    st, hdrs, data = m.api.request(method, path, body=body, headers=headers)
    try:
        js = json.loads(data) if data else None
    except ValueError:
        js = {"raw": data.decode(errors="replace")}
    return st, hdrs, js


def push(m, text):
    st, _, data = m.push.request("POST", "/api/v1/import/prometheus", body=text.encode())
    if st != 204:
        fail("push answered %d %s" % (st, data[:200]))


def series(m, match, want, timeout=15):
    """Label sets of the series matching `match`, once there are `want`."""
    deadline = time.time() + timeout
    got = []
    while time.time() < deadline:
        st, js = m.api.get_json("/api/v1/series", {"match[]": match})
        if st == 200:
            got = js["data"]
            if len(got) >= want:
                return got
        time.sleep(0.2)
    fail("series %s: wanted %d, got %d: %s" % (match, want, len(got), got[:5]))


def push_batch(m, metric, n, extra=""):
    """n pushes on n connections (spread over the collectors by SO_REUSEPORT)."""
    for i in range(n):
        push(m, '%s{k="%d"%s} %d\n' % (metric, i, extra, i))


def bad(m, method, path, body, field, code=400, ctype="application/json"):
    st, _, js = req(m, method, path, body, ctype)
    ok = (st == code and isinstance(js, dict) and js.get("status") == "error" and
          (code != 400 or js.get("errorType") == "bad_data") and field in js.get("error", ""))
    check(ok, "%s %s %s -> %d naming %s (%d %s)" % (method, path, str(body)[:60], code, field, st, js))


def crud(m):
    st, _, js = req(m, "GET", "/metrics/sources")
    check(st == 200 and js == {"sources": []}, "empty list at first (%d %s)" % (st, js))

    src = {"type": "push", "name": "team a", "labels": {"team": "a"}, "endpoints": ["prometheus"]}
    st, hdrs, js = req(m, "POST", "/metrics/sources", src)
    check(st == 201 and js["id"].startswith("push-") and js["labels"] == {"team": "a"} and js["enabled"] is True,
          "POST push source -> 201 with an assigned id (%d %s)" % (st, js))
    pid = js["id"]
    check(hdrs.get("Location") == "/metrics/sources/" + pid, "Location header names the source")

    st, _, js2 = req(m, "GET", "/metrics/sources/" + pid)
    check(st == 200 and js2 == js, "GET by id returns the stored source")
    st, _, js3 = req(m, "GET", "/metrics/sources")
    check(st == 200 and js3["sources"] == [js], "the list holds it")

    st, _, js = req(m, "POST", "/metrics/sources", dict(src, id=pid, labels={"other": "x"}))
    check(st == 409 and pid in js["error"], "POST with a taken id -> 409 (%d %s)" % (st, js))
    st, _, js = req(m, "POST", "/metrics/sources", dict(src, labels={"team": "b"}))
    check(st == 409 and "labels.team" in js["error"], "a second team label for the same endpoint -> 409")

    scrape = {"id": "self-api", "type": "scrape",
              "job": {"job_name": "mcs_api", "scrape_interval": "5s",
                      "static_configs": [{"targets": ["127.0.0.1:%d" % m.api_port]}]}}
    st, _, js = req(m, "POST", "/metrics/sources", scrape)
    check(st == 201 and js["id"] == "self-api" and js["job"]["job_name"] == "mcs_api",
          "POST scrape source with a client id -> 201 (%d %s)" % (st, js))
    st, _, js = req(m, "POST", "/metrics/sources", {"type": "scrape", "job": {"static_configs": []}})
    check(st == 201 and js["job"]["job_name"] == js["id"], "job_name defaults to the id (%s)" % js)
    st, _, _ = req(m, "DELETE", "/metrics/sources/" + js["id"])
    check(st == 204, "DELETE -> 204")
    st, _, js = req(m, "DELETE", "/metrics/sources/" + js["id"])
    check(st == 404 and js["errorType"] == "not_found", "DELETE again -> 404")

    node = {"id": "node", "type": "node", "collectors": {"filesystem": False}, "interval": "30s"}
    st, _, js = req(m, "POST", "/metrics/sources", node)
    check(st == 201 and js["collectors"]["filesystem"] is False and js["collectors"]["cpu"] is True,
          "POST node source -> 201 with every switch listed (%d %s)" % (st, js))
    st, _, js = req(m, "PUT", "/metrics/sources/node", {"type": "node", "enabled": False})
    check(st == 200 and js["enabled"] is False and js["id"] == "node", "PUT replaces (%d %s)" % (st, js))
    st, _, js = req(m, "PUT", "/metrics/sources/nosuch", {"type": "node"})
    check(st == 404, "PUT of an absent id -> 404 (%d %s)" % (st, js))
    st, _, js = req(m, "GET", "/metrics/sources/nosuch")
    check(st == 404 and js["errorType"] == "not_found", "GET of an absent id -> 404")
    return pid


def bad_input(m):
    p = "/metrics/sources"
    bad(m, "POST", p, "{not json", "not valid JSON")
    bad(m, "POST", p, "", "empty body")
    bad(m, "POST", p, {"labels": {"a": "b"}}, '"type" is required')
    bad(m, "POST", p, {"type": "pull"}, '"type" must be')
    bad(m, "POST", p, {"type": "push", "labels": {"a": "b"}, "colour": 1}, 'unknown key "colour"')
    bad(m, "POST", p, {"type": "push", "labels": {"1a": "b"}}, '"1a" is not a valid label name')
    bad(m, "POST", p, {"type": "push", "labels": {"__name__": "b"}}, '"__name__"')
    bad(m, "POST", p, {"type": "push", "labels": {"team": ""}}, '"labels.team"')
    bad(m, "POST", p, {"type": "push", "labels": {"a": "b"}, "endpoints": ["carbon"]}, '"carbon"')
    bad(m, "POST", p, {"type": "node", "collectors": {"gpu": True}}, '"gpu"')
    bad(m, "POST", p, {"type": "node", "interval": "often"}, '"interval"')
    bad(m, "POST", p, {"id": "Not OK", "type": "node"}, '"id"')
    bad(m, "POST", p, {"type": "scrape"}, '"job" is required')
    bad(m, "POST", p, {"type": "scrape", "job": {"job_name": "x", "scrape_intervall": "5s"}}, "scrape_intervall")
    bad(m, "PUT", p + "/node", {"id": "other", "type": "node"}, "does not match")
    bad(m, "PUT", p + "/Bad!", {"type": "node"}, "invalid source id")
    bad(m, "POST", p, "type=push", "Content-Type", code=415, ctype="application/x-www-form-urlencoded")
    bad(m, "POST", p, {"type": "node"}, "Content-Type", code=415, ctype=None)
    big = {"type": "push", "labels": {"a": "x" * (1 << 20)}}
    bad(m, "POST", p, big, "limit", code=413)
    bad(m, "POST", p + "/node", {"type": "node"}, "method not allowed", code=405)
    bad(m, "DELETE", p, None, "method not allowed", code=405)


def labels_apply(m, pid):
    time.sleep(APPLY_S)
    push_batch(m, "src_it_a", 8)
    push(m, 'src_it_own{team="mine"} 1\n')
    got = series(m, "src_it_a", 8)
    check(all(s.get("team") == "a" for s in got),
          "every push after the source got team=\"a\" (%s)" % [s.get("team") for s in got])
    got = series(m, "src_it_own", 1)
    check(got[0].get("team") == "mine", "a sample with its own team label keeps it (%s)" % got)

    # a corrupt file: logged by the collectors, last good state kept, API 500
    path = os.path.join(m.dir, "sources.json")
    with open(path) as f:
        good = f.read()
    with open(path, "w") as f:
        f.write('{"version":1,"sources":[{"id":"x",')
    time.sleep(APPLY_S)
    st, _, js = req(m, "GET", "/metrics/sources")
    check(st == 500 and path in js.get("error", ""), "a corrupt file: GET -> 500 naming it (%d %s)" % (st, js))
    st, _, js = req(m, "POST", "/metrics/sources", {"type": "node"})
    check(st == 500, "a corrupt file is not overwritten by a write (%d %s)" % (st, js))
    with open(path) as f:
        check(f.read().startswith('{"version":1,"sources":[{"id":"x",'), "the corrupt file is untouched")
    push_batch(m, "src_it_corrupt", 4)
    got = series(m, "src_it_corrupt", 4)
    check(all(s.get("team") == "a" for s in got), "the last good labels stay while the file is corrupt")
    log_text = m.tail_log(400)
    check(path in log_text and "JSON syntax error" in log_text and "keeping the last good state" in log_text,
          "the collector logged the file and the error")
    tmp = path + ".fix"
    with open(tmp, "w") as f:
        f.write(good)
    os.rename(tmp, path)

    # delete: no longer added
    st, _, _ = req(m, "DELETE", "/metrics/sources/" + pid)
    check(st == 204, "DELETE the push source")
    time.sleep(APPLY_S)
    push_batch(m, "src_it_b", 8)
    got = series(m, "src_it_b", 8)
    check(all("team" not in s for s in got), "after DELETE pushes no longer get team (%s)" % got[:3])


def restart(m):
    st, _, js = req(m, "POST", "/metrics/sources",
                    {"id": "restart", "type": "push", "labels": {"team": "r", "env": "it"}})
    check(st == 201, "POST a push source before the restart (%d %s)" % (st, js))
    st, _, before = req(m, "GET", "/metrics/sources")
    took = m.stop()
    check(took < 15, "instance stopped (%.1fs)" % took)
    m.start()
    st, _, after = req(m, "GET", "/metrics/sources")
    check(st == 200 and after == before, "the sources survive a full restart (%d sources)" % len(after["sources"]))
    push_batch(m, "src_it_r", 6)  # no wait: loaded before the collector is ready
    got = series(m, "src_it_r", 6)
    check(all(s.get("team") == "r" and s.get("env") == "it" for s in got),
          "the first pushes after the restart get the labels (%s)" % got[:2])


def scrape_source(m):
    """A scrape source added through the API is scraped without a restart;
    deleting it stops the scrapes and marks its series stale."""
    import http.server
    import threading

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"# TYPE src_scraped gauge\nsrc_scraped{kind=\"x\"} 42\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        job = {"job_name": "srcjob", "scrape_interval": "1s",
               "static_configs": [{"targets": ["127.0.0.1:%d" % srv.server_address[1]]}]}
        st, _, js = req(m, "POST", "/metrics/sources", {"id": "scr1", "type": "scrape", "job": job})
        check(st == 201, "POST a scrape source (%d %s)" % (st, js))
        deadline = time.time() + 15
        vals = []
        while time.time() < deadline:
            st, js = m.api.get_json("/api/v1/query", {"query": 'src_scraped{job="srcjob"}'})
            vals = js["data"]["result"] if st == 200 else []
            if vals:
                break
            time.sleep(0.3)
        check(vals and vals[0]["value"][1] == "42" and vals[0]["metric"].get("kind") == "x",
              "the source's target is scraped without a restart (%s)" % vals)
        st, js = m.api.get_json("/api/v1/query", {"query": 'up{job="srcjob"}'})
        check(js["data"]["result"] and js["data"]["result"][0]["value"][1] == "1", "up is 1 for the source's target")
        st, _, _ = req(m, "DELETE", "/metrics/sources/scr1")
        check(st == 204, "DELETE the scrape source")
        deadline = time.time() + 15
        while time.time() < deadline:
            st, js = m.api.get_json("/api/v1/query", {"query": 'up{job="srcjob"}'})
            if st == 200 and not js["data"]["result"]:
                break
            time.sleep(0.3)
        check(not js["data"]["result"], "after DELETE its series go stale")
    finally:
        srv.shutdown()


def main():
    m = Mcs(collectors=2, aggregators=1, alerters=1, apiservers=2)
    try:
        m.start()
        log("instance %s api :%d push :%d dir %s" % (m.instance, m.api_port, m.push_port, m.dir))
        pid = crud(m)
        bad_input(m)
        labels_apply(m, pid)
        scrape_source(m)
        restart(m)
        log("PASS")
    finally:
        m.cleanup()


if __name__ == "__main__":
    main()
