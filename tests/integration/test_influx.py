"""Influx line protocol through the real processes: /write (v1, db label,
precision), /api/v2/write (bucket), /ping, a bad body refused whole with
the line named, and the samples queryable as VictoriaMetrics names them."""
import time

from harness import Mcs, check


def main():
    m = Mcs(collectors=2, aggregators=2, config={"self_scrape": {"enabled": False, "node": False}})
    try:
        m.start()
        st, _, _ = m.push.request("GET", "/ping")
        check(st == 204, "/ping answers 204")
        now = int(time.time())
        body = "".join("disk,host=h%d,path=/data used=%d.5,inodes=%di %d\n" % (i, i, i * 10, now) for i in range(50))
        st, _, data = m.push.request("POST", "/write?db=telegraf&precision=s", body=body.encode())
        check(st == 204, "v1 write accepted (%d %s)" % (st, data[:100]))
        st, _, _ = m.push.request("POST", "/api/v2/write?bucket=b2&org=o&precision=ms",
                                  body=("net,if=eth0 rx=7u %d\n" % (now * 1000)).encode())
        check(st == 204, "v2 write accepted")
        st, _, data = m.push.request("POST", "/write", body=b"ok v=1\nbad,t v=1\n")
        check(st == 400 and b"line 2" in data, "bad body refused naming line 2")
        time.sleep(0.3)
        st, js = m.api.get_json("/api/v1/query", {"query": 'disk_used{db="telegraf"}', "time": str(now)})
        res = js["data"]["result"]
        check(len(res) == 50, "50 disk_used series with the db label")
        h7 = [r for r in res if r["metric"]["host"] == "h7"][0]
        check(h7["value"][1] == "7.5" and h7["metric"]["path"] == "/data", "values and tags kept")
        st, js = m.api.get_json("/api/v1/query", {"query": "disk_inodes{host=\"h3\"}", "time": str(now)})
        check(js["data"]["result"][0]["value"][1] == "30", "integer field")
        st, js = m.api.get_json("/api/v1/query", {"query": 'net_rx{db="b2",if="eth0"}', "time": str(now)})
        check(len(js["data"]["result"]) == 1, "v2 bucket becomes the db label")
        st, js = m.api.get_json("/api/v1/series", {"match[]": "ok_v"})
        check(js["data"] == [], "nothing of the bad body stored")
    finally:
        m.cleanup()


if __name__ == "__main__":
    main()
