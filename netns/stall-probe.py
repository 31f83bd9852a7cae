#!/usr/bin/env python3
"""UDP echo probe for the stall benchmark (netns/bench-stall.sh).

  stall-probe.py server PORT...
      echoes every datagram on each PORT back to its sender (one thread, select).
  stall-probe.py client --target NAME=ADDR:PORT ... --rate R --seconds S --out FILE
      sends R datagrams per second to every target for S seconds (one datagram to each
      target per tick, against an absolute clock, so the targets share the client's own
      delays), waits 1 s more for late echoes, then writes one CSV line per datagram:
      target,seq,sent_ms,recv_ms,rtt_ms (recv_ms and rtt_ms -1 when no echo came).
  stall-probe.py conns --dst ADDR --dport P --src-base ADDR --sources N --ports-from P0
                       --count C --rate R
      C synthetic TCP connections: a SYN and then an ACK per (source, port), from N source
      addresses starting at --src-base, R packets per second, through a raw socket. A
      director that follows IPVS's state table (ACK after SYN from the client: ESTABLISHED)
      holds an entry for each; nothing answers them (the real server drops them).
Run only inside the benchmark's namespaces: every address is RFC 2544 benchmarking space.
"""
import argparse
import select
import socket
import struct
import sys
import time


def server(ports):
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind(("0.0.0.0", p))
        s.setblocking(False)
        socks.append(s)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            for _ in range(64):
                try:
                    data, peer = s.recvfrom(2048)
                except BlockingIOError:
                    break
                try:
                    s.sendto(data, peer)
                except OSError:
                    pass


def client(args):
    targets = []
    for t in args.target:
        name, hostport = t.split("=", 1)
        host, port = hostport.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect((host, int(port)))
        s.setblocking(False)
        targets.append((name, s))
    n = int(args.rate * args.seconds)
    interval = 1.0 / args.rate
    sent = [[-1.0] * n for _ in targets]
    recv = [[-1.0] * n for _ in targets]
    by_fd = {s.fileno(): k for k, (_, s) in enumerate(targets)}
    socks = [s for _, s in targets]
    t0 = time.monotonic()
    i = 0
    end = t0 + args.seconds + 1.0
    while True:
        now = time.monotonic()
        while i < n and t0 + i * interval <= now:
            for k, s in enumerate(socks):
                sent[k][i] = time.monotonic() - t0
                try:
                    s.send(struct.pack("!II", k, i))
                except OSError:
                    pass
            i += 1
        if i >= n and now >= end:
            break
        wait = (t0 + i * interval - time.monotonic()) if i < n else min(0.05, end - now)
        ready, _, _ = select.select(socks, [], [], max(0.0, wait))
        for s in ready:
            k = by_fd[s.fileno()]
            for _ in range(256):
                try:
                    data = s.recv(64)
                except BlockingIOError:
                    break
                except OSError:  # ICMP error reported on the connected socket
                    break
                if len(data) < 8:
                    continue
                kk, seq = struct.unpack("!II", data[:8])
                if kk == k and 0 <= seq < n and recv[k][seq] < 0:
                    recv[k][seq] = time.monotonic() - t0
    with open(args.out, "w") as f:
        f.write("target,seq,sent_ms,recv_ms,rtt_ms\n")
        for k, (name, _) in enumerate(targets):
            for seq in range(n):
                st, rt = sent[k][seq], recv[k][seq]
                if rt >= 0:
                    f.write(f"{name},{seq},{st * 1000:.3f},{rt * 1000:.3f},{(rt - st) * 1000:.3f}\n")
                else:
                    f.write(f"{name},{seq},{st * 1000:.3f},-1,-1\n")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp_segment(src, dst, sport, dport, seq, ack, flags):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, socket.IPPROTO_TCP, len(hdr))
    c = csum(pseudo + hdr)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(hdr), 0, 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst)
    return ip + hdr


def conns(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    dst = socket.inet_aton(args.dst)
    base = struct.unpack("!I", socket.inet_aton(args.src_base))[0]
    per_src = (args.count + args.sources - 1) // args.sources
    if args.ports_from + per_src > 65536:
        sys.exit("conns: not enough source ports: raise --sources")
    interval = 2.0 / args.rate  # two segments per connection
    t0 = time.monotonic()
    made = 0
    for c in range(args.count):
        src = socket.inet_aton(socket.inet_ntoa(struct.pack("!I", base + c % args.sources)))
        sport = args.ports_from + c // args.sources
        iss = (c * 2654435761) & 0xFFFFFFFF
        for pkt in (tcp_segment(src, dst, sport, args.dport, iss, 0, 0x02),
                    tcp_segment(src, dst, sport, args.dport, (iss + 1) & 0xFFFFFFFF, 1, 0x10)):
            while True:
                try:
                    s.sendto(pkt, (args.dst, 0))
                    break
                except BlockingIOError:
                    time.sleep(0.001)
        made += 1
        ahead = t0 + made * interval - time.monotonic()
        if ahead > 0.002:
            time.sleep(ahead)
    print(f"conns: {made} SYN+ACK pairs in {time.monotonic() - t0:.1f} s")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    ps = sub.add_parser("server")
    ps.add_argument("ports", type=int, nargs="+")
    pc = sub.add_parser("client")
    pc.add_argument("--target", action="append", required=True)
    pc.add_argument("--rate", type=float, default=1000.0)
    pc.add_argument("--seconds", type=float, default=30.0)
    pc.add_argument("--out", required=True)
    pn = sub.add_parser("conns")
    pn.add_argument("--dst", required=True)
    pn.add_argument("--dport", type=int, required=True)
    pn.add_argument("--src-base", required=True)
    pn.add_argument("--sources", type=int, default=4)
    pn.add_argument("--ports-from", type=int, default=10000)
    pn.add_argument("--count", type=int, required=True)
    pn.add_argument("--rate", type=float, default=50000.0)
    a = p.parse_args()
    if a.mode == "server":
        server(a.ports)
    elif a.mode == "client":
        if not (1 <= a.rate <= 10000 and 1 <= a.seconds <= 600):
            sys.exit("client: rate 1..10000, seconds 1..600")
        client(a)
    else:
        if not (1 <= a.count <= 1000000 and 1 <= a.sources <= 256):
            sys.exit("conns: count 1..1000000, sources 1..256")
        conns(a)


if __name__ == "__main__":
    main()
