#!/usr/bin/env python3
"""Helpers of netns/tests/metrics.sh: compares a /metrics scrape with lvsadm's listings, and
plays misbehaving HTTP clients against the metrics listener.

  metrics-check.py exact STATS LIST SCRAPE        scrape == `lvsadm -L -n --stats --exact` and `-L -n`
  metrics-check.py bounds STATS1 SCRAPE STATS2    STATS1 <= scrape <= STATS2 for every counter
  metrics-check.py count SCRAPE                   number of series (sample lines)
  metrics-check.py bighdr HOST PORT BYTES         one request with BYTES of headers; prints the status line
  metrics-check.py slow HOST PORT                 trickles header bytes; prints seconds until the server closed
  metrics-check.py idle HOST PORT N SECONDS       holds N idle connections for SECONDS; prints how many it opened
Exit status 0 when the check holds; differences are printed on stderr.
"""
import re
import resource
import socket
import sys
import time

FIELDS = ["connections", "incoming_packets", "outgoing_packets", "incoming_bytes", "outgoing_bytes"]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def parse_scrape(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line.rstrip("\n"))
            if not m:
                continue
            labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def svc_labels(proto, where):
    """Labels of a service line of lvsadm -L -n as node_exporter builds them."""
    if proto == "FWM":
        return {"proto": "FWM", "local_address": "", "local_port": "0", "local_mark": "%08X" % int(where)}
    addr, port = where.rsplit(":", 1)
    return {"proto": proto, "local_address": addr, "local_port": port, "local_mark": ""}


def key(labels):
    return tuple(sorted(labels.items()))


def parse_listing(path, stats):
    """{service labels: values} and {backend labels: values} of an lvsadm listing."""
    svcs, dests, cur = {}, {}, None
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] in ("TCP", "UDP", "FWM"):
                cur = svc_labels(w[0], w[1])
                if stats:
                    svcs[key(cur)] = [float(x) for x in w[2:7]]
            elif w[0] == "->" and cur is not None and w[1] != "RemoteAddress:Port":
                addr, port = w[1].rsplit(":", 1)
                d = dict(cur, remote_address=addr, remote_port=port)
                # stats: Conns InPkts OutPkts InBytes OutBytes; list: Forward Weight ActiveConn InActConn
                dests[key(d)] = [float(x) for x in w[2:7]] if stats else [float(x) for x in w[3:6]]
    return svcs, dests


def expected(stats_path, list_path):
    svcs, dests = parse_listing(stats_path, True)
    want = {}
    for k, v in svcs.items():
        for i, f in enumerate(FIELDS):
            want[("lvsd_service_%s_total" % f, k)] = v[i]
    for k, v in dests.items():
        for i, f in enumerate(FIELDS):
            want[("lvsd_backend_%s_total" % f, k)] = v[i]
    for i, f in enumerate(FIELDS):
        want[("node_ipvs_%s_total" % f, ())] = sum(v[i] for v in svcs.values())
    if list_path:
        _, lst = parse_listing(list_path, False)
        for k, (weight, active, inactive) in lst.items():
            want[("node_ipvs_backend_weight", k)] = weight
            want[("node_ipvs_backend_connections_active", k)] = active
            want[("node_ipvs_backend_connections_inactive", k)] = inactive
    return want


def families(got, names):
    return {k: v for k, v in got.items() if k[0] in names}


def cmd_exact(stats, lst, scrape):
    want = expected(stats, lst)
    got = parse_scrape(scrape)
    names = {k[0] for k in want}
    have = families(got, names)
    bad = [(k, want.get(k), have.get(k)) for k in set(want) | set(have) if want.get(k) != have.get(k)]
    for k, w, h in sorted(bad, key=str):
        print("differs: %s %s: lvsadm %s, metrics %s" % (k[0], dict(k[1]), w, h), file=sys.stderr)
    if not want:
        print("nothing to compare", file=sys.stderr)
        return 1
    return 1 if bad else 0


def cmd_bounds(stats1, scrape, stats2):
    lo, hi = expected(stats1, None), expected(stats2, None)
    got = parse_scrape(scrape)
    bad = 0
    for k in lo:
        v = got.get(k)
        if v is None or not (lo[k] <= v <= hi.get(k, -1)):
            print("out of bounds: %s %s: %s <= %s <= %s" % (k[0], dict(k[1]), lo[k], v, hi.get(k)), file=sys.stderr)
            bad += 1
    return 1 if bad or not lo else 0


def cmd_count(scrape):
    print(len(parse_scrape(scrape)))
    return 0


def cmd_bighdr(host, port, size):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    try:
        s.sendall(b"X-Big: " + b"a" * int(size) + b"\r\n\r\n")
    except OSError:
        pass  # the server may close before reading it all
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    print(data.split(b"\r\n", 1)[0].decode(errors="replace"))
    return 0


def cmd_slow(host, port):
    s = socket.create_connection((host, int(port)), timeout=30)
    t0 = time.monotonic()
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(0.5)
    while time.monotonic() - t0 < 30:
        try:
            s.sendall(b"X")
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    print("%.1f" % (time.monotonic() - t0))
    return 0


def cmd_idle(host, port, n, secs):
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(n) + 64, int(n) + 64))
    socks = []
    for _ in range(int(n)):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            pass
    print(len(socks), flush=True)
    time.sleep(float(secs))
    return 0


def main(argv):
    cmds = {"exact": cmd_exact, "bounds": cmd_bounds, "count": cmd_count, "bighdr": cmd_bighdr, "slow": cmd_slow, "idle": cmd_idle}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
