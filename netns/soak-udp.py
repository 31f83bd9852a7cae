#!/usr/bin/env python3
"""UDP request/response for the soak test (netns/soak.sh).

  soak-udp.py serve ADDR PORT
      Echo server: every datagram is sent back to its source unchanged.

  soak-udp.py client ADDR PORT SECONDS OUT.json [FLOWS] [RATE] [PER_FLOW]
      FLOWS sockets (default 4) each send RATE requests per second (default 20) to ADDR:PORT
      for SECONDS; a socket is replaced by a fresh one (a new source port, so a new
      connection entry in the director) every PER_FLOW requests (default 100). A request is
      answered when its exact bytes come back within 1 s; otherwise it is lost. Writes
      {"sent", "answered", "lost", "bad", "late", "lost_at": [epoch seconds of each loss]}.

Bounded: SECONDS <= 3600, FLOWS <= 64, RATE <= 200. Only the addresses given are contacted.
"""
import json
import os
import select
import socket
import sys
import time

TIMEOUT = 1.0


def serve(addr: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)


class Flow:
    def __init__(self, idx: int, target):
        self.idx = idx
        self.target = target
        self.sock = None
        self.count = 0
        self.pending = {}  # payload -> deadline
        self.renew()

    def renew(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(self.target)
        self.count = 0


def client(addr: str, port: int, seconds: float, out: str, flows: int, rate: int, per_flow: int) -> None:
    if not (0 < seconds <= 3600 and 0 < flows <= 64 and 0 < rate <= 200 and per_flow > 0):
        sys.exit("soak-udp: SECONDS 1..3600, FLOWS 1..64, RATE 1..200")
    target = (addr, port)
    fl = [Flow(i, target) for i in range(flows)]
    stats = {"sent": 0, "answered": 0, "lost": 0, "bad": 0, "late": 0, "lost_at": []}
    interval = 1.0 / rate
    start = time.monotonic()
    end = start + seconds
    nxt = start
    seq = 0
    retired = []  # (sock, pending) of replaced flows, kept until their requests time out
    while True:
        now = time.monotonic()
        sending = now < end
        if sending and now >= nxt:
            nxt += interval
            for f in fl:
                if f.count >= per_flow and not f.pending:
                    f.renew()
                elif f.count >= per_flow:
                    retired.append((f.sock, f.pending))
                    f.sock = None
                    f.pending = {}
                    f.renew()
                seq += 1
                payload = b"soak %d %d %s" % (f.idx, seq, os.urandom(8).hex().encode())
                try:
                    f.sock.send(payload)
                except OSError:
                    pass  # counted as lost at its deadline
                f.pending[payload] = now + TIMEOUT
                f.count += 1
                stats["sent"] += 1
        socks = [(f.sock, f.pending) for f in fl] + retired
        if not sending and not any(p for _, p in socks):
            break
        wait = max(0.0, min(nxt - time.monotonic(), 0.05)) if sending else 0.05
        r, _, _ = select.select([s for s, _ in socks], [], [], wait)
        for s, pending in socks:
            if s not in r:
                continue
            while True:
                try:
                    data = s.recv(2048)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break  # ICMP error reported on the socket; the request is lost at its deadline
                if data in pending:
                    del pending[data]
                    stats["answered"] += 1
                elif data.startswith(b"soak "):
                    stats["late"] += 1
                else:
                    stats["bad"] += 1
        now = time.monotonic()
        wall = time.time()
        for s, pending in socks:
            for p in [p for p, dl in pending.items() if dl <= now]:
                del pending[p]
                stats["lost"] += 1
                stats["lost_at"].append(round(wall - TIMEOUT, 3))
        keep = []
        for s, pending in retired:
            if pending:
                keep.append((s, pending))
            else:
                s.close()
        retired = keep
    with open(out, "w") as fh:
        json.dump(stats, fh)


def main() -> None:
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "serve":
        serve(a[1], int(a[2]))
    elif len(a) >= 5 and a[0] == "client":
        opt = [int(x) for x in a[5:8]]
        flows, rate, per_flow = (opt + [4, 20, 100][len(opt):])[:3]
        client(a[1], int(a[2]), float(a[3]), a[4], flows, rate, per_flow)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
